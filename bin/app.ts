#!/usr/bin/env node
// The CDK app: one stack, checked by cdk-nag's AWS Solutions rules on every synth.
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { PermitRelayStack } from "../lib/permit-relay-stack";

const app = new App();
new PermitRelayStack(app, "OpscomPermitRelay");
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
