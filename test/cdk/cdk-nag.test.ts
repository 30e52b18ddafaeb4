import { type App, type Stack, Validations } from "aws-cdk-lib";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { PermitRelayStack } from "../../lib/permit-relay-stack";
import { testApp } from "../../testkit/cdk";

// The app exactly as bin/app.ts builds it, with the given context.
function naggedApp(context: Record<string, unknown> = {}): App {
  const app = testApp(context);
  new PermitRelayStack(app, "OpscomPermitRelay");
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

const findings = (app: App) =>
  new AwsSolutionsChecks().validateScope(app).violations.map((v) => ({
    rule: v.ruleName,
    severity: v.severity,
    at: v.violatingResources.map((r) => r.constructPath),
  }));

/** Every `Validations.of(x).acknowledge()` in the app: rule id → reason. */
function acknowledgements(app: App): Map<string, string> {
  const found = new Map<string, string>();
  for (const construct of app.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.set(`${construct.node.path} ${id.replace(/^annotation::/i, "")}`, reason);
      }
    }
  }
  return found;
}

describe("cdk-nag AwsSolutions checks", () => {
  const variants: [string, Record<string, unknown>][] = [
    ["no context (placeholders)", {}],
    [
      "WAF off, source allow-lists, per-vendor tokens, token secret imported by name",
      {
        waf: false,
        tokenSecretId: "ops/opscom-token",
        vendors: [
          { id: "acme", allowedSourceCidrs: ["203.0.113.0/24"] },
          { id: "parkco", opscom: { clientCode: "OC-PARK", tokenSecretId: "ops/tokens/parkco" } },
        ],
        alarmEmail: "oncall@example.com",
      },
    ],
    [
      "a stage, a custom domain, the account's own CloudWatch role",
      {
        stage: "staging",
        domainName: "webhooks.example.com",
        certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/1f2e3d4c-5b6a-7988-a1b2-c3d4e5f60718",
        cloudWatchRole: false,
      },
    ],
  ];

  it.each(variants)("report no unacknowledged finding, error or warning: %s", (_name, context) => {
    const app = naggedApp(context);
    expect(findings(app)).toEqual([]);
    // The same plugin inside synth: an in-memory synth throws on any unacknowledged finding.
    expect(() => app.synth()).not.toThrow();
  });

  it("would report a finding that nobody acknowledged (the checks really run)", () => {
    const app = naggedApp();
    const stack = app.node.findChild("OpscomPermitRelay") as Stack;
    new sqs.Queue(stack, "Unencrypted", { encryption: sqs.QueueEncryption.UNENCRYPTED });
    expect(findings(app).map((f) => f.rule)).toEqual(
      expect.arrayContaining(["AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"]),
    );
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });

  it("acknowledges exactly these rules, each with a reason a security review can check", () => {
    const acks = acknowledgements(naggedApp());
    expect([...acks.keys()].sort()).toEqual(
      [
        "OpscomPermitRelay/Relay/Api AwsSolutions-APIG2",
        "OpscomPermitRelay/Relay/Api/CloudWatchRole AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        "OpscomPermitRelay/Relay/Api/Default/webhooks/{vendorId}/POST AwsSolutions-APIG4",
        "OpscomPermitRelay/Relay/Api/Default/webhooks/{vendorId}/POST AwsSolutions-COG4",
        "OpscomPermitRelay/Relay/IngestRole AwsSolutions-IAM5[Resource::*]",
        "OpscomPermitRelay/Relay/OpscomTokenSecret AwsSolutions-SMG4",
        "OpscomPermitRelay/Relay/RetryWorkerRole AwsSolutions-IAM5[Resource::*]",
      ].sort(),
    );
    for (const reason of acks.values()) expect(reason.length).toBeGreaterThan(100);
  });

  it("acknowledges the missing WAF only when WAF is switched off", () => {
    const apig3 = (app: App) =>
      [...acknowledgements(app).keys()].filter((k) => k.endsWith("AwsSolutions-APIG3"));
    expect(apig3(naggedApp())).toEqual([]);
    expect(apig3(naggedApp({ waf: false }))).toEqual([
      "OpscomPermitRelay/Relay/Api/DeploymentStage.prod AwsSolutions-APIG3",
    ]);
  });
});
