// Where the stack goes and what it leaves in the account: stage names, account/region pinning,
// a custom domain, the account-wide API Gateway logging role and the execution-log group.
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { readDeployTarget } from "../../lib/context";
import { PermitRelayStack } from "../../lib/permit-relay-stack";
import { buildStack, testApp } from "../../testkit/cdk";

const CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/1f2e3d4c-5b6a-7988-a1b2-c3d4e5f60718";

describe("stage, account and region", () => {
  it("names the stack OpscomPermitRelay without a stage and leaves it environment-agnostic", () => {
    expect(readDeployTarget(testApp().node)).toEqual({ stackName: "OpscomPermitRelay" });
  });

  it("appends the stage to the stack name and pins the account and region when given", () => {
    const node = testApp({ stage: "staging", account: "123456789012", region: "eu-west-1" }).node;
    expect(readDeployTarget(node)).toEqual({
      stackName: "OpscomPermitRelay-staging",
      stage: "staging",
      env: { account: "123456789012", region: "eu-west-1" },
    });
  });

  it.each([
    [
      { stage: "Prod" },
      'Context "stage" must be 1-24 of [a-z0-9-] starting with a letter, e.g. staging or prod; got "Prod"',
    ],
    [
      { stage: "prod_1" },
      'Context "stage" must be 1-24 of [a-z0-9-] starting with a letter, e.g. staging or prod; got "prod_1"',
    ],
    [{ account: "12345" }, 'Context "account" must be a 12-digit AWS account ID; got "12345"'],
    [{ region: "Ireland" }, 'Context "region" must be an AWS region, e.g. eu-west-1; got "Ireland"'],
    [
      { stag: "prod" },
      'Context "stag" is not a setting of this stack; did you mean stage? (known keys: docs/deploy.md, "Context values")',
    ],
  ])("refuses %j with an exact message", (context, message) => {
    expect(() => readDeployTarget(testApp(context).node)).toThrow(new Error(message));
  });

  it("lets two stages sit side by side in one account: distinct stack and resource names", () => {
    const app = testApp();
    const stacks = ["staging", "prod"].map(
      (stage) => new PermitRelayStack(app, readDeployTarget(testApp({ stage }).node).stackName),
    );
    const names = stacks.map((stack) => {
      const api = Object.values(Template.fromStack(stack).findResources("AWS::ApiGateway::RestApi"))[0];
      return { stack: stack.stackName, api: api?.Properties.Name as string };
    });
    expect(names.map((n) => n.stack)).toEqual(["OpscomPermitRelay-staging", "OpscomPermitRelay-prod"]);
    expect(names[0]?.api).toContain("staging");
    expect(names[1]?.api).toContain("prod");
    expect(names[0]?.api).not.toBe(names[1]?.api);
  });

  it("deploys a pinned stack only to its account and region", () => {
    const stack = new PermitRelayStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Pinned", {
      env: { account: "123456789012", region: "eu-west-1" },
    });
    expect([stack.account, stack.region]).toEqual(["123456789012", "eu-west-1"]);
  });
});

describe("custom domain", () => {
  const { template } = buildStack({ domainName: "webhooks.example.com", certificateArn: CERTIFICATE });

  it("puts a regional TLS 1.2 domain name with the certificate in front of the stage", () => {
    template.hasResourceProperties("AWS::ApiGateway::DomainName", {
      DomainName: "webhooks.example.com",
      RegionalCertificateArn: CERTIFICATE,
      EndpointConfiguration: { Types: ["REGIONAL"] },
      SecurityPolicy: "TLS_1_2",
    });
    template.hasResourceProperties("AWS::ApiGateway::BasePathMapping", {
      DomainName: { Ref: Match.stringLikeRegexp("CustomDomain") },
      Stage: { Ref: Match.stringLikeRegexp("DeploymentStageprod") },
    });
  });

  it("gives vendors the domain's URL and DNS the domain's target", () => {
    template.hasOutput("WebhookUrl", { Value: "https://webhooks.example.com/webhooks/{vendorId}" });
    template.hasOutput("CustomDomainTarget", {
      Value: { "Fn::GetAtt": [Match.stringLikeRegexp("CustomDomain"), "RegionalDomainName"] },
    });
  });

  it("has no domain and no DNS target without the context", () => {
    const bare = buildStack().template;
    bare.resourceCountIs("AWS::ApiGateway::DomainName", 0);
    expect(Object.keys(bare.findOutputs("CustomDomainTarget"))).toEqual([]);
  });

  it.each([[{ domainName: "webhooks.example.com" }], [{ certificateArn: CERTIFICATE }]])(
    "refuses half a custom domain: %j",
    (context) => {
      expect(() => buildStack(context)).toThrow(
        new Error(
          'Context "domainName" and "certificateArn" go together: a custom domain needs the ACM certificate that covers it',
        ),
      );
    },
  );

  it("refuses a domain name that is not a DNS name", () => {
    expect(() =>
      buildStack({ domainName: "https://webhooks.example.com", certificateArn: CERTIFICATE }),
    ).toThrow(
      'Context "domainName" must be a lower-case DNS name, e.g. webhooks.example.com; got "https://webhooks.example.com"',
    );
  });
});

describe("what the stack leaves in the account", () => {
  it("creates API Gateway's account-wide CloudWatch role by default", () => {
    const { template } = buildStack();
    template.resourceCountIs("AWS::ApiGateway::Account", 1);
  });

  it("leaves an account's existing CloudWatch role alone with cloudWatchRole false", () => {
    const { template } = buildStack({ cloudWatchRole: "false" });
    template.resourceCountIs("AWS::ApiGateway::Account", 0);
    const roles = Object.values(template.findResources("AWS::IAM::Role"));
    expect(JSON.stringify(roles)).not.toContain("AmazonAPIGatewayPushToCloudWatchLogs");
  });

  it("creates the stage's execution-log group with the configured retention, deleted with the stack", () => {
    const { template } = buildStack({ logRetentionDays: "30" });
    const groups = template.findResources("AWS::Logs::LogGroup", {
      Properties: {
        LogGroupName: {
          "Fn::Join": ["", ["API-Gateway-Execution-Logs_", { Ref: Match.stringLikeRegexp("Api") }, "/prod"]],
        },
      },
    });
    const [id, group] = Object.entries(groups)[0] ?? [];
    expect(group?.Properties.RetentionInDays).toBe(30);
    expect(group?.DeletionPolicy).toBe("Delete");
    // Created before the stage, so API Gateway never creates it first without a retention.
    const stages = Object.values(template.findResources("AWS::ApiGateway::Stage"));
    expect(stages[0]?.DependsOn).toContain(id);
  });
});
