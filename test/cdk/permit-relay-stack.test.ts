import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { CONTEXT_KEYS, SETTINGS, type SettingSpec } from "../../lambda/facts";
import { PermitRelayStack, readRelayContext } from "../../lib/permit-relay-stack";
import { buildStack, flat, testApp } from "../../testkit/cdk";

const TOKEN_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops/opscom-token-AbC123";

// No context at all: what a fresh clone's `npx cdk synth` builds.
const bare = buildStack();
// Every key, as strings, the way `cdk synth -c key=value` passes them.
const configured = buildStack({
  clientCode: "OC-ACME",
  opscomBaseUrl: "https://controller.operationscommander.io",
  tokenSecretId: TOKEN_ARN,
  vendors: '[{"id":"acme"},{"id":"parkco","allowedSourceCidrs":["198.51.100.7/32"]}]',
  vendorSecretPrefix: "relay/signing/",
  alarmEmail: "oncall@example.com",
  waf: "false",
  wafRateLimit: "500",
  throttleRate: "20",
  throttleBurst: "40",
  retryMaxAttempts: "4",
  dualStack: "true",
  logRetentionDays: "30",
  retryWorkerMaxConcurrency: "5",
  ingestReservedConcurrency: "100",
});

const ingestEnv = (template: typeof bare.template): Record<string, unknown> => {
  const fns = template.findResources("AWS::Lambda::Function", {
    Properties: { Description: Match.stringLikeRegexp("verifies vendor webhooks") },
  });
  return Object.values(fns)[0]?.Properties.Environment.Variables;
};

describe("with no context", () => {
  it("synthesizes with the documented placeholders: client code OC-TOMA and vendor demo-vendor", () => {
    const env = ingestEnv(bare.template);
    expect(env.OPSCOM_CLIENT_CODE).toBe("OC-TOMA");
    expect(env.VENDORS).toBe('[{"id":"demo-vendor"}]');
  });

  it("warns once per placeholder so nobody deploys one unknowingly", () => {
    const annotations = Annotations.fromStack(bare.stack);
    annotations.hasWarning("/OpscomPermitRelay", Match.stringLikeRegexp('No "clientCode" context given'));
    annotations.hasWarning("/OpscomPermitRelay", Match.stringLikeRegexp('No "vendors" context given'));
    Annotations.fromStack(configured.stack).hasNoWarning("*", Match.stringLikeRegexp("context given"));
  });

  it("warns that the alarms reach nobody when no alarmEmail is given", () => {
    Annotations.fromStack(bare.stack).hasWarning(
      "/OpscomPermitRelay",
      Match.stringLikeRegexp(
        'No "alarmEmail" context given: the alarms notify an SNS topic nobody is subscribed to',
      ),
    );
  });

  it("creates the token secret, turns WAF on and subscribes no e-mail", () => {
    bare.template.resourceCountIs("AWS::SecretsManager::Secret", 1);
    bare.template.resourceCountIs("AWS::WAFv2::WebACL", 1);
    bare.template.resourceCountIs("AWS::SNS::Subscription", 0);
  });

  it("outputs what an operator needs", () => {
    for (const name of [
      "WebhookUrl",
      "ApiUrl",
      "TokenSecretArn",
      "LedgerTableName",
      "RetryQueueUrl",
      "RetryQueueArn",
      "DeadLetterQueueUrl",
      "DeadLetterQueueArn",
      "IngestLogGroup",
      "RetryWorkerLogGroup",
      "ApiAccessLogGroup",
      "AlarmTopicArn",
      "DashboardUrl",
    ]) {
      bare.template.hasOutput(name, { Value: Match.anyValue(), Description: Match.anyValue() });
    }
    expect(flat(bare.template.findOutputs("WebhookUrl").WebhookUrl?.Value)).toMatch(
      /\/webhooks\/\{vendorId\}$/,
    );
  });
});

describe("with every context key given", () => {
  it("passes client code, base URL, vendors and secret prefix to the functions", () => {
    expect(ingestEnv(configured.template)).toMatchObject({
      OPSCOM_CLIENT_CODE: "OC-ACME",
      OPSCOM_BASE_URL: "https://controller.operationscommander.io",
      OPSCOM_TOKEN_SECRET_ID: TOKEN_ARN,
      VENDOR_SECRET_PREFIX: "relay/signing/",
      RETRY_MAX_ATTEMPTS: "4",
    });
    expect(
      JSON.parse(ingestEnv(configured.template).VENDORS as string).map((v: { id: string }) => v.id),
    ).toEqual(["acme", "parkco"]);
  });

  it("imports the token secret by its ARN instead of creating one", () => {
    configured.template.resourceCountIs("AWS::SecretsManager::Secret", 0);
    configured.template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: "secretsmanager:GetSecretValue", Resource: TOKEN_ARN }),
        ]),
      },
    });
  });

  it("imports the token secret by name", () => {
    const { template } = buildStack({ tokenSecretId: "ops/opscom-token" });
    template.resourceCountIs("AWS::SecretsManager::Secret", 0);
    expect(ingestEnv(template).OPSCOM_TOKEN_SECRET_ID).toBe("ops/opscom-token");
  });

  it("switches WAF off, sets throttling, retries, dual stack and log retention", () => {
    configured.template.resourceCountIs("AWS::WAFv2::WebACL", 0);
    configured.template.hasResourceProperties("AWS::ApiGateway::Stage", {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 })],
    });
    configured.template.hasResourceProperties("AWS::SQS::Queue", {
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 4 }),
    });
    configured.template.hasResourceProperties("AWS::ApiGateway::RestApi", {
      EndpointConfiguration: Match.objectLike({ IpAddressType: "dualstack" }),
    });
    configured.template.resourcePropertiesCountIs("AWS::Logs::LogGroup", { RetentionInDays: 30 }, 4);
  });

  it("takes the WAF rate limit from context", () => {
    const { template } = buildStack({ wafRateLimit: 500 });
    template.hasResourceProperties("AWS::WAFv2::WebACL", {
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ Limit: 500 }) } })],
    });
  });

  it("subscribes the alarm e-mail to the alarm topic", () => {
    configured.template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "oncall@example.com",
      TopicArn: { Ref: Match.stringLikeRegexp("^RelayMonitoringAlarmTopic") },
    });
  });

  it("passes the retry worker's maximum concurrency and the ingest's reserved concurrency", () => {
    configured.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    configured.template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("verifies vendor webhooks"),
      ReservedConcurrentExecutions: 100,
    });
  });

  it("puts a vendor's allow-list into the API's resource policy", () => {
    configured.template.hasResourceProperties("AWS::ApiGateway::RestApi", {
      Policy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Resource: "execute-api:/*/POST/webhooks/parkco",
            Condition: { NotIpAddress: { "aws:SourceIp": ["198.51.100.7/32"] } },
          }),
        ]),
      },
    });
  });

  it("accepts JSON values from cdk.json as well as strings from the command line", () => {
    const { template } = buildStack({ vendors: [{ id: "acme" }], waf: false, retryMaxAttempts: 5 });
    template.resourceCountIs("AWS::WAFv2::WebACL", 0);
    template.hasResourceProperties("AWS::SQS::Queue", {
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 5 }),
    });
  });
});

describe("the runbook (docs/deploy.md)", () => {
  const runbook = readFileSync(join(__dirname, "..", "..", "docs", "deploy.md"), "utf8");

  it("documents every context key the stack reads", () => {
    const keys = Object.keys(readRelayContext(testApp().node)).filter((k) => k !== "placeholders");
    for (const key of keys) {
      expect(runbook).toContain(`| \`${key}\` |`);
    }
  });

  it("lists exactly the context keys of the settings description, each with its default", () => {
    const section = runbook.slice(runbook.indexOf("## Context values"));
    const table = section.slice(
      section.indexOf("| key |"),
      section.indexOf("\n\n", section.indexOf("| key |")),
    );
    const rows = table
      .split("\n")
      .slice(2)
      .map((line) => line.split(" | "));
    const documented = rows.map(([key]) => /^\| `(\w+)`$/.exec(key ?? "")?.[1]);
    expect([...documented].sort()).toEqual([...CONTEXT_KEYS].sort());
    for (const spec of Object.values(SETTINGS) as SettingSpec[]) {
      if (spec.context === undefined || spec.default === undefined) continue;
      const row = rows.find(([key]) => key === `| \`${spec.context}\``);
      expect(row?.at(-1), spec.context).toContain(`\`${spec.default}\``);
    }
  });

  it("has a section for every alarm, as each alarm's description promises", () => {
    const alarms = bare.template.findResources("AWS::CloudWatch::Alarm");
    // Twelve for the relay and one per vendor (the placeholder's, here).
    expect(Object.keys(alarms)).toHaveLength(13);
    for (const alarm of Object.values(alarms)) {
      const [, id] = /"Answer an alarm", (\w+)\.$/.exec(alarm.Properties.AlarmDescription) ?? [];
      expect(runbook).toContain(`### ${id}\n`);
    }
  });
});

describe("context validation", () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      "a client code with a slash",
      { clientCode: "OC/TOMA" },
      'Context "clientCode" must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA; got "OC/TOMA"',
    ],
    [
      "a base URL over plain HTTP",
      { opscomBaseUrl: "http://controller.operationscommander.com" },
      'Context "opscomBaseUrl" must be an https:// URL without query or fragment; got "http://controller.operationscommander.com"',
    ],
    [
      "a partial token secret ARN",
      { tokenSecretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tok" },
      'Context "tokenSecretId" must be a secret name or a complete secret ARN (with the 6-character suffix); got "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tok"',
    ],
    [
      "an empty vendor list",
      { vendors: "[]" },
      'Context "vendors" must be a non-empty JSON array of vendors, e.g. [{"id":"acme"}]',
    ],
    [
      "a vendor with a bad id",
      { vendors: '[{"id":"ACME"}]' },
      'Context "vendors"[0]: field "id" must be 1-64 of [a-z0-9-], got "ACME"',
    ],
    [
      "a vendor with an unknown signature scheme",
      { vendors: '[{"id":"acme","signature":{"scheme":"rsa"}}]' },
      'Context "vendors": vendor "acme": field "signature.scheme" must be "standard-webhooks" or "hmac", got "rsa"',
    ],
    [
      "a vendor with a bad CIDR",
      { vendors: '[{"id":"acme","allowedSourceCidrs":["10.0.0.0/40"]}]' },
      'Context "vendors": vendor "acme": field "allowedSourceCidrs[0]" is not an IPv4 or IPv6 CIDR block: "10.0.0.0/40"',
    ],
    [
      "a wildcard secret prefix",
      { vendorSecretPrefix: "vendors/*" },
      'Context "vendorSecretPrefix" must be 1-256 of [A-Za-z0-9/_+=.@-]; got "vendors/*"',
    ],
    [
      "a retry worker concurrency under Lambda's minimum",
      { retryWorkerMaxConcurrency: "1" },
      'Context "retryWorkerMaxConcurrency" must be a whole number from 2 to 1000; got "1"',
    ],
    [
      "an alarm e-mail without a domain",
      { alarmEmail: "oncall" },
      'Context "alarmEmail" must be an e-mail address; got "oncall"',
    ],
    ["waf given as yes", { waf: "yes" }, 'Context "waf" must be true or false; got "yes"'],
    ["dualStack given as 1", { dualStack: 1 }, 'Context "dualStack" must be true or false; got 1'],
    [
      "a fractional throttle rate",
      { throttleRate: "2.5" },
      'Context "throttleRate" must be a whole number from 1 to 1000000; got "2.5"',
    ],
    [
      "a throttle burst of zero",
      { throttleBurst: 0 },
      'Context "throttleBurst" must be a whole number from 1 to 1000000; got 0',
    ],
    [
      "a WAF limit below WAF's minimum",
      { wafRateLimit: "5" },
      'Context "wafRateLimit" must be a whole number from 10 to 2000000000; got "5"',
    ],
    [
      "retryMaxAttempts above SQS's maximum",
      { retryMaxAttempts: "1001" },
      'Context "retryMaxAttempts" must be a whole number from 1 to 1000; got "1001"',
    ],
    [
      "retryMaxAttempts whose retries outlast the retry queue's retention",
      { retryMaxAttempts: "40" },
      'Context "retryMaxAttempts" 40 makes the last attempt end up to 17.6 days after the webhook is parked, ' +
        "past the retry queue's 14-day retention: the message would expire before reaching the dead-letter queue; at most 18",
    ],
    [
      "retryMaxAttempts that leaves under a week to redrive",
      { retryMaxAttempts: 19 },
      'Context "retryMaxAttempts" 19 makes the last attempt end up to 7.3 days after the webhook is parked, ' +
        "leaving 6.7 of the dead-letter queue's 14 days (counted from the parking) to redrive it; 7 are kept: at most 18",
    ],
    [
      "a log retention CloudWatch does not offer",
      { logRetentionDays: "31" },
      'Context "logRetentionDays" must be a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653); got "31"',
    ],
  ])("rejects %s with an exact message", (_name, context, message) => {
    expect(() => new PermitRelayStack(testApp(context), "Invalid")).toThrow(new Error(message));
  });
});

describe("context keys", () => {
  it.each([
    ["alarmEmial", "alarmEmail"],
    ["wafRatelimit", "wafRateLimit"],
    ["retryMaxAttempt", "retryMaxAttempts"],
    ["clientcode", "clientCode"],
  ])("refuses the misspelled key %s and names %s", (typo, meant) => {
    expect(() => new PermitRelayStack(testApp({ [typo]: "x" }), "Typo")).toThrow(
      new Error(
        `Context "${typo}" is not a setting of this stack; did you mean ${meant}? (known keys: docs/deploy.md, "Context values")`,
      ),
    );
  });

  it("refuses an unknown key that resembles none without guessing", () => {
    expect(() => new PermitRelayStack(testApp({ colour: "blue" }), "Typo")).toThrow(
      new Error(
        'Context "colour" is not a setting of this stack (known keys: docs/deploy.md, "Context values")',
      ),
    );
  });

  it("leaves CDK's own keys alone: feature flags, aws:cdk:… and lookup results", () => {
    const context = {
      "aws:cdk:enable-path-metadata": true,
      "availability-zones:account=123456789012:region=eu-west-1": ["eu-west-1a"],
      "@aws-cdk/core:newStyleStackSynthesis": true,
    };
    expect(() => new PermitRelayStack(testApp(context), "Cdk")).not.toThrow();
  });

  it("reports where the vendors JSON stops parsing", () => {
    expect(() => new PermitRelayStack(testApp({ vendors: "[{id:acme}]" }), "Invalid")).toThrow(
      /^Context "vendors" must be a JSON array of vendors; it is not valid JSON: .* at position 2\b/,
    );
  });
});
