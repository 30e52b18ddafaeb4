#!/usr/bin/env node
// The CDK app: one stack, named for its stage and pinned to an account and region when the
// context gives them (lib/context.ts), checked by cdk-nag's AWS Solutions rules on every synth.
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { readDeployTarget } from "../lib/context";
import { PermitRelayStack } from "../lib/permit-relay-stack";

const app = new App();
const target = readDeployTarget(app.node);
new PermitRelayStack(app, target.stackName, target.env === undefined ? {} : { env: target.env });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
