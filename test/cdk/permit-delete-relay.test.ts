import { Duration, Stack } from "aws-cdk-lib";
import { Capture, Match, type Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lambda/config";
import * as telemetry from "../../lambda/telemetry";
import { sourceMatcher } from "../../lambda/vendors";
import {
  LAMBDA_RUNTIME,
  METRICS_NAMESPACE,
  PermitDeleteRelay,
  type PermitDeleteRelayProps,
  SERVICE_NAME,
} from "../../lib/permit-delete-relay";
import { asList, buildRelay, flat, relayProps, roleStatements, testApp } from "../../testkit/cdk";

interface PolicyStatement {
  readonly Effect: "Allow" | "Deny";
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

/**
 * IAM's answer for execute-api:Invoke on `resource` from `sourceIp`: some Allow applies and no
 * Deny does. Conditions other than IpAddress / NotIpAddress on aws:SourceIp are not modelled.
 */
function invokeAllowed(statements: readonly PolicyStatement[], resource: string, sourceIp: string): boolean {
  const applies = (statement: PolicyStatement) =>
    [statement.Resource].flat().some((pattern) => globMatches(pattern, resource)) &&
    Object.entries(statement.Condition ?? {}).every(([operator, keys]) => {
      const blocks = [keys["aws:SourceIp"] ?? []].flat();
      if (Object.keys(keys).length !== 1 || blocks.length === 0) throw new Error(`unmodelled ${operator}`);
      const inside = blocks.some((block) => inCidr(sourceIp, block));
      if (operator === "IpAddress") return inside;
      if (operator === "NotIpAddress") return !inside;
      throw new Error(`unmodelled condition operator ${operator}`);
    });
  return (
    statements.some((s) => s.Effect === "Allow" && applies(s)) &&
    !statements.some((s) => s.Effect === "Deny" && applies(s))
  );
}

function globMatches(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${regex}$`).test(value);
}

/** IAM's IP matching: same family, the block's leading bits equal. */
function inCidr(ip: string, cidr: string): boolean {
  const [network = "", prefix] = cidr.split("/");
  const address = addressBits(ip);
  const block = addressBits(network);
  if (address === undefined || block === undefined || address.length !== block.length) return false;
  const bits = prefix === undefined ? block.length : Number(prefix);
  return address.slice(0, bits) === block.slice(0, bits);
}

/**
 * An address as a string of 32 or 128 bits, parsed by the WHATWG URL parser so the model
 * shares no code with lambda/vendors.ts; undefined for anything IAM would not take as an
 * address (zone indexes, ports, IPv4 shorthands).
 */
function addressBits(ip: string): string | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    const octets = ip.split(".").map(Number);
    if (octets.some((o) => o > 255)) return undefined;
    return octets.map((o) => o.toString(2).padStart(8, "0")).join("");
  }
  if (!ip.includes(":")) return undefined;
  let host: string;
  try {
    host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = "", tail] = host.split("::");
  const groups = (text: string) => (text === "" ? [] : text.split(":"));
  const all =
    tail === undefined
      ? groups(head)
      : [...groups(head), ...Array(8 - groups(head).length - groups(tail).length).fill("0"), ...groups(tail)];
  return all.map((g) => Number.parseInt(g, 16).toString(2).padStart(16, "0")).join("");
}

// Two synthesized variants shared by the whole file (each synth costs about a second).
// `full`: defaults, two vendors, one with its own OPS-COM route and a source allow-list.
const full = buildRelay();
// `lean`: WAF off, token secret imported by name, no allow-lists, tuned limits.
const lean = buildRelay((stack) => ({
  vendors: [{ id: "acme" }],
  waf: false,
  dualStack: true,
  retryMaxAttempts: 3,
  throttlingRateLimit: 7,
  throttlingBurstLimit: 11,
  logRetention: logs.RetentionDays.ONE_YEAR,
  tokenSecret: secretsmanager.Secret.fromSecretNameV2(stack, "Token", "ops/opscom-token"),
}));

const CONTRACT_VARIABLES = [
  "OPSCOM_BASE_URL",
  "OPSCOM_CLIENT_CODE",
  "OPSCOM_TOKEN_SECRET_ID",
  "VENDORS",
  "VENDOR_SECRET_PREFIX",
  "LEDGER_TABLE_NAME",
  "RETRY_QUEUE_URL",
  "SECRET_CACHE_TTL_SECONDS",
  "SIGNATURE_TOLERANCE_SECONDS",
  "FORWARD_TIMEOUT_MS",
  "MAX_BODY_BYTES",
  "LEDGER_TTL_DAYS",
  "RETRY_MAX_ATTEMPTS",
  "CLAIM_LEASE_SECONDS",
  "POWERTOOLS_SERVICE_NAME",
  "POWERTOOLS_METRICS_NAMESPACE",
  "POWERTOOLS_LOG_LEVEL",
  "NODE_OPTIONS",
];

interface FunctionProperties {
  readonly Timeout: number;
  readonly Environment: { readonly Variables: Record<string, unknown> };
  readonly LoggingConfig: { readonly LogGroup: { readonly Ref: string } };
}

function functionProps(template: Template, logicalIdPrefix: string): FunctionProperties {
  const [match] = Object.entries(template.findResources("AWS::Lambda::Function")).filter(([id]) =>
    id.startsWith(logicalIdPrefix),
  );
  if (!match) throw new Error(`no function ${logicalIdPrefix}`);
  return match[1].Properties as FunctionProperties;
}
const ingest = (t: Template) => functionProps(t, "RelayIngest");
const worker = (t: Template) => functionProps(t, "RelayRetryWorker");

function actionsOf(template: Template, rolePrefix: string): string[] {
  return roleStatements(template, rolePrefix)
    .flatMap((s) => asList(s.Action))
    .sort();
}

describe("functions", () => {
  it("run the newest Node.js runtime aws-cdk-lib offers, on arm64, with active tracing", () => {
    const newest = lambda.Runtime.ALL.filter((r) => /^nodejs\d/.test(r.name)).sort(
      (a, b) => Number.parseInt(a.name.slice(6), 10) - Number.parseInt(b.name.slice(6), 10),
    );
    expect(LAMBDA_RUNTIME.name).toBe(newest.at(-1)?.name);
    full.template.resourcePropertiesCountIs(
      "AWS::Lambda::Function",
      { Runtime: LAMBDA_RUNTIME.name, Architectures: ["arm64"], TracingConfig: { Mode: "Active" } },
      2,
    );
  });

  it.each([
    ["ingest", ingest],
    ["retry worker", worker],
  ])("the %s gets exactly the variables of the configuration contract", (_name, props) => {
    expect(Object.keys(props(full.template).Environment.Variables).sort()).toEqual(
      [...CONTRACT_VARIABLES].sort(),
    );
  });

  it("passes the documented defaults and the validated vendors", () => {
    const env = ingest(full.template).Environment.Variables;
    expect(env).toMatchObject({
      OPSCOM_BASE_URL: "https://controller.operationscommander.com",
      OPSCOM_CLIENT_CODE: "OC-TEST",
      VENDOR_SECRET_PREFIX: "opscom-permit-relay/vendors/",
      SECRET_CACHE_TTL_SECONDS: "300",
      SIGNATURE_TOLERANCE_SECONDS: "300",
      FORWARD_TIMEOUT_MS: "5000",
      MAX_BODY_BYTES: "65536",
      LEDGER_TTL_DAYS: "30",
      RETRY_MAX_ATTEMPTS: "7",
      CLAIM_LEASE_SECONDS: "60",
      POWERTOOLS_SERVICE_NAME: "opscom-permit-relay",
      POWERTOOLS_METRICS_NAMESPACE: "OpscomPermitRelay",
      POWERTOOLS_LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
    });
    expect(JSON.parse(env.VENDORS as string).map((v: { id: string }) => v.id)).toEqual(["acme", "parkco"]);
    expect(env.LEDGER_TABLE_NAME).toEqual({ Ref: expect.stringMatching(/^RelayLedger/) });
    expect(env.RETRY_QUEUE_URL).toEqual({ Ref: expect.stringMatching(/^RelayRetryQueue/) });
    expect(env.OPSCOM_TOKEN_SECRET_ID).toEqual({ Ref: expect.stringMatching(/^RelayOpscomTokenSecret/) });
  });

  it("passes an imported token secret by name", () => {
    expect(ingest(lean.template).Environment.Variables.OPSCOM_TOKEN_SECRET_ID).toBe("ops/opscom-token");
  });

  it.each([
    ["ingest", ingest],
    ["retry worker", worker],
  ])("the %s environment passes the runtime's own start-up validation", (_name, props) => {
    // Stand-ins for the CloudFormation references, shaped like the real values.
    const standIns: Record<string, string> = {
      LEDGER_TABLE_NAME: "Relay-Ledger-ABC",
      RETRY_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/Relay-RetryQueue",
      OPSCOM_TOKEN_SECRET_ID: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:token-AbCdEf",
    };
    const env = Object.fromEntries(
      Object.entries(props(full.template).Environment.Variables).map(([k, v]) => [
        k,
        typeof v === "string" ? v : standIns[k],
      ]),
    );
    const config = loadConfig(env);
    expect(config.retryMaxAttempts).toBe(7);
    expect([...config.vendors.keys()]).toEqual(["acme", "parkco"]);
  });

  it("sets RETRY_MAX_ATTEMPTS and the dead-letter maxReceiveCount from the same prop", () => {
    for (const { template, expected } of [
      { template: full.template, expected: 7 },
      { template: lean.template, expected: 3 },
    ]) {
      expect(worker(template).Environment.Variables.RETRY_MAX_ATTEMPTS).toBe(String(expected));
      expect(ingest(template).Environment.Variables.RETRY_MAX_ATTEMPTS).toBe(String(expected));
      template.hasResourceProperties("AWS::SQS::Queue", {
        RedrivePolicy: Match.objectLike({ maxReceiveCount: expected }),
      });
    }
  });

  it("answer before API Gateway's 29 s cut-off, and a claim lease outlives the ingest invocation", () => {
    const ingestTimeout = ingest(full.template).Timeout;
    expect(ingestTimeout).toBe(15);
    expect(ingestTimeout).toBeLessThan(29);
    expect(Number(ingest(full.template).Environment.Variables.CLAIM_LEASE_SECONDS)).toBeGreaterThan(
      ingestTimeout,
    );
    expect(worker(full.template).Timeout).toBe(60);
  });

  it("each write to their own log group, which has a retention", () => {
    for (const props of [ingest(full.template), worker(full.template)]) {
      expect(props.LoggingConfig.LogGroup.Ref).toMatch(/^Relay(Ingest|RetryWorker)Logs/);
    }
    // The functions', the API's access logs and the API's execution logs.
    full.template.resourcePropertiesCountIs("AWS::Logs::LogGroup", { RetentionInDays: 90 }, 4);
    lean.template.resourcePropertiesCountIs("AWS::Logs::LogGroup", { RetentionInDays: 365 }, 4);
  });
});

describe("IAM", () => {
  const secretResources = (template: Template, rolePrefix: string) =>
    roleStatements(template, rolePrefix)
      .filter((s) => asList(s.Action).includes("secretsmanager:GetSecretValue"))
      .flatMap((s) => asList(s.Resource).map(flat));
  const prefix = "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:";

  it("the ingest function may read the token secret, each vendor's signing secret and per-vendor tokens", () => {
    expect(secretResources(full.template, "RelayIngestRole").sort()).toEqual(
      [
        "<RelayOpscomTokenSecret65DBAC87>",
        `${prefix}opscom-permit-relay/tokens/parkco-??????`,
        `${prefix}opscom-permit-relay/vendors/acme-??????`,
        `${prefix}opscom-permit-relay/vendors/parkco-??????`,
      ].sort(),
    );
  });

  it("the retry worker may read the token secrets only, not the vendors' signing secrets", () => {
    expect(secretResources(full.template, "RelayRetryWorkerRole").sort()).toEqual(
      ["<RelayOpscomTokenSecret65DBAC87>", `${prefix}opscom-permit-relay/tokens/parkco-??????`].sort(),
    );
    expect(secretResources(lean.template, "RelayRetryWorkerRole")).toEqual([
      `${prefix}ops/opscom-token-??????`,
    ]);
  });

  it("no statement that reads secrets has a wildcard resource; a name match ends in the 6-character suffix", () => {
    for (const { template } of [full, lean]) {
      for (const role of ["RelayIngestRole", "RelayRetryWorkerRole"]) {
        for (const resource of secretResources(template, role)) {
          expect(resource).not.toContain("*");
          if (resource.startsWith("arn:")) expect(resource).toMatch(/:secret:[A-Za-z0-9/_+=.@-]+-\?{6}$/);
        }
      }
    }
  });

  it("the ingest function gets exactly its ledger, queue, log and tracing actions", () => {
    expect(actionsOf(full.template, "RelayIngestRole")).toEqual(
      [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        "secretsmanager:GetSecretValue",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
      ].sort(),
    );
  });

  it("the retry worker gets exactly its ledger, queue, log and tracing actions", () => {
    expect(actionsOf(full.template, "RelayRetryWorkerRole")).toEqual(
      [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
      ].sort(),
    );
  });

  it("table and queue actions name the table and the retry queue, never an index or a wildcard", () => {
    for (const role of ["RelayIngestRole", "RelayRetryWorkerRole"]) {
      for (const statement of roleStatements(full.template, role)) {
        const resources = asList(statement.Resource).map(flat);
        if (asList(statement.Action).some((a) => a.startsWith("dynamodb:"))) {
          expect(resources).toEqual([expect.stringMatching(/^<RelayLedger[0-9A-F]+\.Arn>$/)]);
        }
        if (asList(statement.Action).some((a) => a.startsWith("sqs:"))) {
          expect(resources).toEqual([expect.stringMatching(/^<RelayRetryQueue[0-9A-F]+\.Arn>$/)]);
        }
        if (asList(statement.Action).some((a) => a.startsWith("logs:"))) {
          expect(resources).toEqual([
            expect.stringMatching(/^<Relay(Ingest|RetryWorker)Logs[0-9A-F]+\.Arn>$/),
          ]);
        }
      }
    }
  });

  it("the only wildcard resource is for X-Ray, which has no resource-level permissions", () => {
    const wildcards = ["RelayIngestRole", "RelayRetryWorkerRole"]
      .flatMap((role) => roleStatements(full.template, role))
      .filter((s) => asList(s.Resource).some((r) => flat(r).includes("*")));
    expect(wildcards.flatMap((s) => asList(s.Action)).every((a) => a.startsWith("xray:"))).toBe(true);
  });

  it("function roles carry no managed policies", () => {
    const roles = full.template.findResources("AWS::IAM::Role", {
      Properties: {
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Principal: { Service: "lambda.amazonaws.com" } })],
        }),
      },
    });
    expect(Object.keys(roles)).toHaveLength(2);
    for (const role of Object.values(roles)) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });
});

describe("retry queue and dead-letter queue", () => {
  it("the retry queue redrives to the dead-letter queue after RETRY_MAX_ATTEMPTS receives", () => {
    const dlq = new Capture();
    full.template.hasResourceProperties("AWS::SQS::Queue", {
      RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": [dlq, "Arn"] }, maxReceiveCount: 7 },
    });
    expect(dlq.asString()).toMatch(/^RelayDeadLetterQueue/);
  });

  it("the retry queue's visibility timeout is six times the worker timeout", () => {
    full.template.hasResourceProperties("AWS::SQS::Queue", {
      RedrivePolicy: Match.anyValue(),
      VisibilityTimeout: 6 * worker(full.template).Timeout,
    });
  });

  it("both queues keep messages 14 days, encrypted", () => {
    full.template.resourcePropertiesCountIs(
      "AWS::SQS::Queue",
      { MessageRetentionPeriod: 14 * 86_400, SqsManagedSseEnabled: true },
      2,
    );
  });

  it("both queues refuse requests without TLS", () => {
    full.template.resourcePropertiesCountIs(
      "AWS::SQS::QueuePolicy",
      {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          ]),
        },
      },
      2,
    );
  });

  it("the retry worker takes batches of 10 and reports partial batch failures", () => {
    full.template.resourceCountIs("AWS::Lambda::EventSourceMapping", 1);
    full.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      EventSourceArn: { "Fn::GetAtt": [Match.stringLikeRegexp("^RelayRetryQueue"), "Arn"] },
      FunctionName: { Ref: Match.stringLikeRegexp("^RelayRetryWorker") },
    });
  });

  it("runs at most 2 retry worker invocations at once unless told otherwise, so a recovery is gentle", () => {
    full.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    buildRelay({ retryWorkerMaxConcurrency: 25 }).template.hasResourceProperties(
      "AWS::Lambda::EventSourceMapping",
      { ScalingConfig: { MaximumConcurrency: 25 } },
    );
  });

  it("reserves ingest concurrency only when asked", () => {
    const ingest = { Description: Match.stringLikeRegexp("verifies vendor webhooks") };
    full.template.hasResourceProperties("AWS::Lambda::Function", {
      ...ingest,
      ReservedConcurrentExecutions: Match.absent(),
    });
    buildRelay({ ingestReservedConcurrency: 50 }).template.hasResourceProperties("AWS::Lambda::Function", {
      ...ingest,
      ReservedConcurrentExecutions: 50,
    });
  });
});

describe("ledger table", () => {
  it("is keyed by pk with byReference and keys-only byHour indexes, on demand, with PITR, encryption and TTL", () => {
    full.template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "referenceId", AttributeType: "S" },
        { AttributeName: "createdAt", AttributeType: "S" },
        { AttributeName: "createdHour", AttributeType: "S" },
      ]),
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: "byReference",
          KeySchema: [
            { AttributeName: "referenceId", KeyType: "HASH" },
            { AttributeName: "createdAt", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: "byHour",
          KeySchema: [
            { AttributeName: "createdHour", KeyType: "HASH" },
            { AttributeName: "createdAt", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "KEYS_ONLY" },
        },
      ],
    });
  });

  it("is retained when the stack is deleted or the table replaced", () => {
    full.template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
  });
});

describe("tear-down", () => {
  it("retains the ledger, the created token secret and the log groups; deletes the queues and the execution logs", () => {
    const policies = Object.values(
      full.template.toJSON().Resources as Record<string, { Type: string; DeletionPolicy?: string }>,
    )
      .map((r) => `${r.Type} ${r.DeletionPolicy ?? "Delete"}`)
      .filter((line) => /DynamoDB::Table|SecretsManager|Logs::LogGroup|SQS::Queue |KMS::Key/.test(line))
      .sort();
    expect(policies).toEqual(
      [
        "AWS::DynamoDB::Table Retain",
        "AWS::KMS::Key Delete",
        "AWS::Logs::LogGroup Delete",
        "AWS::Logs::LogGroup Retain",
        "AWS::Logs::LogGroup Retain",
        "AWS::Logs::LogGroup Retain",
        "AWS::SQS::Queue Delete",
        "AWS::SQS::Queue Delete",
        "AWS::SecretsManager::Secret Retain",
      ].sort(),
    );
  });
});

describe("token secret", () => {
  it("is created empty, with a description that says how to fill it, and retained", () => {
    full.template.hasResource("AWS::SecretsManager::Secret", {
      DeletionPolicy: "Retain",
      Properties: {
        Description: Match.stringLikeRegexp("aws secretsmanager put-secret-value"),
        GenerateSecretString: Match.absent(),
        SecretString: Match.absent(),
      },
    });
  });

  it("is not created when one is given", () => {
    lean.template.resourceCountIs("AWS::SecretsManager::Secret", 0);
  });
});

describe("API", () => {
  it("has exactly one route: POST /webhooks/{vendorId}, integrated with the ingest function", () => {
    full.template.resourceCountIs("AWS::ApiGateway::Method", 1);
    full.template.resourceCountIs("AWS::ApiGateway::Resource", 2);
    full.template.hasResourceProperties("AWS::ApiGateway::Resource", { PathPart: "webhooks" });
    full.template.hasResourceProperties("AWS::ApiGateway::Resource", { PathPart: "{vendorId}" });
    full.template.hasResourceProperties("AWS::ApiGateway::Method", {
      HttpMethod: "POST",
      AuthorizationType: "NONE",
      RequestParameters: { "method.request.path.vendorId": true },
      RequestValidatorId: { Ref: Match.stringLikeRegexp("^RelayPathValidator") },
      Integration: Match.objectLike({
        Type: "AWS_PROXY",
        Uri: Match.objectLike({
          "Fn::Join": [
            "",
            Match.arrayWith([{ "Fn::GetAtt": [Match.stringLikeRegexp("^RelayIngest"), "Arn"] }]),
          ],
        }),
      }),
    });
  });

  it("validates request parameters, not bodies (the function checks bodies after the signature)", () => {
    full.template.hasResourceProperties("AWS::ApiGateway::RequestValidator", {
      ValidateRequestParameters: true,
      ValidateRequestBody: false,
    });
  });

  it("the stage throttles by props, traces with X-Ray, logs errors and never data", () => {
    full.template.hasResourceProperties("AWS::ApiGateway::Stage", {
      TracingEnabled: true,
      MethodSettings: [
        Match.objectLike({
          HttpMethod: "*",
          ResourcePath: "/*",
          DataTraceEnabled: false,
          LoggingLevel: "ERROR",
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        }),
      ],
    });
    lean.template.hasResourceProperties("AWS::ApiGateway::Stage", {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 7, ThrottlingBurstLimit: 11 })],
    });
  });

  it("writes one JSON access-log line per request to a log group with retention", () => {
    const format = new Capture();
    const destination = new Capture();
    full.template.hasResourceProperties("AWS::ApiGateway::Stage", {
      AccessLogSetting: { Format: format, DestinationArn: destination },
    });
    const sample = format
      .asString()
      .replace(/"\$context\.[A-Za-z.]+"/g, '"x"')
      .replace(/\$context\.error\.messageString/, '"quoted by API Gateway"');
    expect(Object.keys(JSON.parse(sample))).toEqual(
      expect.arrayContaining([
        "requestId",
        "sourceIp",
        "path",
        "status",
        "integrationLatency",
        "errorMessage",
      ]),
    );
    expect(flat(destination.asObject())).toMatch(/:log-group:<RelayApiAccessLogs/);
  });

  it("is a regional endpoint, dual-stack only when asked", () => {
    full.template.hasResourceProperties("AWS::ApiGateway::RestApi", {
      EndpointConfiguration: { Types: ["REGIONAL"], IpAddressType: "ipv4" },
    });
    lean.template.hasResourceProperties("AWS::ApiGateway::RestApi", {
      EndpointConfiguration: { Types: ["REGIONAL"], IpAddressType: "dualstack" },
    });
  });

  it.each([
    ["ACCESS_DENIED", "403", '{"status":"forbidden"}'],
    ["THROTTLED", "429", '{"status":"throttled"}'],
    ["REQUEST_TOO_LARGE", "413", '{"status":"too_large"}'],
    ["MISSING_AUTHENTICATION_TOKEN", "404", '{"status":"no_route","reason":"POST /webhooks/{vendorId}"}'],
    ["DEFAULT_4XX", Match.absent(), '{"status":"refused","message":$context.error.messageString}'],
    ["DEFAULT_5XX", Match.absent(), '{"status":"error"}'],
    // A throttled ingest function is an integration failure: retryable, never a bare 500/504.
    ["INTEGRATION_FAILURE", "503", '{"status":"unavailable"}'],
    ["INTEGRATION_TIMEOUT", "503", '{"status":"unavailable"}'],
  ])("answers %s itself in the JSON contract", (type, statusCode, body) => {
    full.template.hasResourceProperties("AWS::ApiGateway::GatewayResponse", {
      ResponseType: type,
      StatusCode: statusCode,
      ResponseTemplates: { "application/json": body },
    });
  });

  it("denies a vendor's path to sources outside its allowedSourceCidrs and allows everything else", () => {
    full.template.hasResourceProperties("AWS::ApiGateway::RestApi", {
      Policy: {
        Statement: [
          {
            Effect: "Allow",
            Principal: { AWS: "*" },
            Action: "execute-api:Invoke",
            Resource: "execute-api:/*",
            Sid: "AllowInvoke",
          },
          {
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "execute-api:Invoke",
            Resource: "execute-api:/*/POST/webhooks/parkco",
            Condition: { NotIpAddress: { "aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"] } },
            Sid: Match.anyValue(),
          },
        ],
        Version: "2012-10-17",
      },
    });
  });

  // The resource policy is evaluated the way IAM evaluates IpAddress: an address matches a
  // block of its own family bit for bit; anything that is not a plain IPv4 or IPv6 address
  // (a zone index, a port) matches nothing, so NotIpAddress holds and the Deny applies.
  describe("the gateway's resource policy and the function's allow-list agree", () => {
    const vendor = full.relay.vendors.find((v) => v.id === "parkco");
    const functionAllows = sourceMatcher(vendor?.allowedSourceCidrs ?? []);
    const policy = full.template.findResources("AWS::ApiGateway::RestApi");
    const statements = (Object.values(policy)[0]?.Properties.Policy.Statement ?? []) as PolicyStatement[];
    const gatewayAllows = (ip: string) =>
      invokeAllowed(statements, "execute-api:/prod/POST/webhooks/parkco", ip);

    it.each([
      ["the first address of the IPv4 block", "203.0.113.0", true],
      ["the last address of the IPv4 block", "203.0.113.255", true],
      ["the address just below the IPv4 block", "203.0.112.255", false],
      ["the address just above the IPv4 block", "203.0.114.0", false],
      ["the first address of the IPv6 block", "2001:db8::", true],
      ["the last address of the IPv6 block", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true],
      ["the address just below the IPv6 block", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false],
      ["the address just above the IPv6 block", "2001:db9::", false],
      ["a compressed IPv6 address inside", "2001:db8::5", true],
      ["an IPv6 address written out with leading zeros", "2001:0db8:0000:0000:0000:0000:0000:0005", true],
      ["an IPv6 address in capitals", "2001:DB8::A", true],
      ["an IPv4-mapped IPv6 address of an allowed IPv4 host", "::ffff:203.0.113.7", false],
      ["the same mapped address in hex", "::ffff:cb00:7107", false],
      ["the same mapped address written out", "0:0:0:0:0:ffff:cb00:7107", false],
      ["an IPv4-mapped address outside every block", "::ffff:192.0.2.1", false],
      ["an IPv6 address inside with a zone index", "2001:db8::5%eth0", false],
      ["a link-local address with a numeric zone index", "fe80::1%1", false],
      ["an IPv4 address with a port", "203.0.113.9:443", false],
      ["an empty source", "", false],
    ])("%s (%s): allowed %s", (_what, ip, allowed) => {
      expect({ gateway: gatewayAllows(ip), function: functionAllows(ip) }).toEqual({
        gateway: allowed,
        function: allowed,
      });
    });
  });

  it("has no resource policy when no vendor restricts its sources", () => {
    lean.template.hasResourceProperties("AWS::ApiGateway::RestApi", { Policy: Match.absent() });
  });

  // API Gateway applies a changed resource policy only with a new deployment.
  it("redeploys the stage when a vendor's allow-list changes", () => {
    const deploymentId = (cidr: string) => {
      const { template } = buildRelay({ vendors: [{ id: "acme", allowedSourceCidrs: [cidr] }] });
      return Object.keys(template.findResources("AWS::ApiGateway::Deployment"))[0];
    };
    expect(deploymentId("198.51.100.0/24")).not.toBe(deploymentId("198.51.100.0/25"));
  });
});

describe("WAF", () => {
  it("blocks a source IP above the rate limit with a JSON 429, and guards the stage", () => {
    full.template.hasResourceProperties("AWS::WAFv2::WebACL", {
      Scope: "REGIONAL",
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Name: "RateLimitPerSourceIp",
          Statement: {
            RateBasedStatement: { Limit: 2000, AggregateKeyType: "IP", EvaluationWindowSec: 300 },
          },
          Action: {
            Block: {
              CustomResponse: {
                ResponseCode: 429,
                CustomResponseBodyKey: "throttled",
                ResponseHeaders: [{ Name: "Retry-After", Value: "60" }],
              },
            },
          },
        }),
      ],
      CustomResponseBodies: {
        throttled: { ContentType: "APPLICATION_JSON", Content: '{"status":"throttled"}' },
      },
    });
    const stageArn = new Capture();
    full.template.hasResourceProperties("AWS::WAFv2::WebACLAssociation", {
      ResourceArn: stageArn,
      WebACLArn: { "Fn::GetAtt": [Match.stringLikeRegexp("^RelayWebAcl"), "Arn"] },
    });
    expect(flat(stageArn.asObject())).toMatch(
      /:apigateway:<AWS::Region>::\/restapis\/<RelayApi[0-9A-F]+>\/stages\/<RelayApiDeploymentStageprod[0-9A-F]+>$/,
    );
  });

  it("builds no web ACL when switched off", () => {
    lean.template.resourceCountIs("AWS::WAFv2::WebACL", 0);
    lean.template.resourceCountIs("AWS::WAFv2::WebACLAssociation", 0);
    expect(lean.relay.webAcl).toBeUndefined();
  });
});

describe("alarms and dashboard", () => {
  const relayMetric = (name: string) => ({
    Namespace: "OpscomPermitRelay",
    MetricName: name,
    Dimensions: [{ Name: "service", Value: "opscom-permit-relay" }],
  });

  it("use the namespace and service dimension the functions' EMF metrics are written with", () => {
    expect(METRICS_NAMESPACE).toBe(telemetry.METRICS_NAMESPACE);
    expect(SERVICE_NAME).toBe(telemetry.SERVICE_NAME);
  });

  it.each<[string, Record<string, unknown>]>([
    [
      "any message in the dead-letter queue",
      {
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [
          {
            Name: "QueueName",
            Value: { "Fn::GetAtt": [Match.stringLikeRegexp("^RelayDeadLetterQueue"), "QueueName"] },
          },
        ],
        Threshold: 1,
      },
    ],
    [
      "age of the oldest retry message",
      {
        Namespace: "AWS/SQS",
        MetricName: "ApproximateAgeOfOldestMessage",
        Dimensions: [
          {
            Name: "QueueName",
            Value: { "Fn::GetAtt": [Match.stringLikeRegexp("^RelayRetryQueue"), "QueueName"] },
          },
        ],
        Threshold: 3600,
      },
    ],
    [
      "ingest errors",
      {
        Namespace: "AWS/Lambda",
        MetricName: "Errors",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: Match.stringLikeRegexp("^RelayIngest") } }],
        Threshold: 1,
      },
    ],
    [
      "ingest throttles",
      {
        Namespace: "AWS/Lambda",
        MetricName: "Throttles",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: Match.stringLikeRegexp("^RelayIngest") } }],
        Threshold: 1,
      },
    ],
    ["OPS-COM token rejections (9002)", { ...relayMetric("TokenRejected"), Statistic: "Sum", Threshold: 1 }],
  ])("alarm: %s, notifying the alarm topic", (_name, properties) => {
    full.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      ...properties,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      AlarmActions: [{ Ref: Match.stringLikeRegexp("^RelayMonitoringAlarmTopic") }],
      OKActions: [{ Ref: Match.stringLikeRegexp("^RelayMonitoringAlarmTopic") }],
      TreatMissingData: "notBreaching",
    });
  });

  it("alarm: API 5xx rate as a percentage of requests", () => {
    full.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Threshold: 5,
      AlarmActions: [{ Ref: Match.stringLikeRegexp("^RelayMonitoringAlarmTopic") }],
      Metrics: Match.arrayWith([
        // Fewer than 20 requests in 5 minutes is no rate: one 5xx at 3 a.m. does not page.
        Match.objectLike({ Expression: "IF(requests >= 20, 100 * errors / requests, 0)" }),
        Match.objectLike({
          Id: "errors",
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: "5XXError" }) }),
        }),
        Match.objectLike({
          Id: "requests",
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: "Count" }) }),
        }),
      ]),
    });
  });

  it.each<[string, Record<string, unknown>]>([
    [
      "a delivery still parked after 4 minutes, held for 15",
      {
        ...relayMetric("ParkedDeliveryAge"),
        Statistic: "Maximum",
        Period: 60,
        Threshold: 240,
        EvaluationPeriods: 15,
        DatapointsToAlarm: 1,
      },
    ],
    ...(["OpscomUnrecognised", "SecretUnavailable"] as const).map(
      (name): [string, Record<string, unknown>] => [
        `${name} in 2 minutes of the last 15`,
        {
          ...relayMetric(name),
          Statistic: "Sum",
          Period: 60,
          Threshold: 1,
          EvaluationPeriods: 15,
          DatapointsToAlarm: 2,
        },
      ],
    ),
    ...(["LedgerWriteFailed", "HandlerError"] as const).map((name): [string, Record<string, unknown>] => [
      `any ${name} in 5 minutes`,
      { ...relayMetric(name), Statistic: "Sum", Period: 300, Threshold: 1, EvaluationPeriods: 1 },
    ]),
    [
      "retry worker errors",
      {
        Namespace: "AWS/Lambda",
        MetricName: "Errors",
        Dimensions: [{ Name: "FunctionName", Value: { Ref: Match.stringLikeRegexp("^RelayRetryWorker") } }],
        Threshold: 1,
      },
    ],
  ])("alarm: %s", (_name, properties) => {
    full.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      ...properties,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      AlarmActions: [{ Ref: Match.stringLikeRegexp("^RelayMonitoringAlarmTopic") }],
      TreatMissingData: "notBreaching",
    });
  });

  it("has exactly the twelve alarms and one per vendor, all wired to the topic", () => {
    const vendorIds = full.relay.vendors.map((v) => v.id);
    expect(Object.keys(full.relay.monitoring.signatureFailureAlarms)).toEqual(vendorIds);
    full.template.resourceCountIs("AWS::CloudWatch::Alarm", 12 + vendorIds.length);
    expect(Object.keys(full.relay.alarms).sort()).toEqual(
      [
        "api5xxRate",
        "deadLetters",
        "ingestErrors",
        "ingestHandledErrors",
        "ingestThrottles",
        "ledgerWriteFailed",
        "opscomUnrecognised",
        "parkedDeliveryAge",
        "retryBacklogAge",
        "retryWorkerErrors",
        "secretUnavailable",
        "tokenRejected",
      ].sort(),
    );
    expect(full.relay.alarmTopic).toBe(full.relay.monitoring.alarmTopic);
    expect(full.relay.dashboard).toBe(full.relay.monitoring.dashboard);
  });

  it("the alarm topic is encrypted with a rotating key CloudWatch may use, and requires TLS", () => {
    full.template.hasResourceProperties("AWS::SNS::Topic", {
      KmsMasterKeyId: { "Fn::GetAtt": [Match.stringLikeRegexp("^RelayMonitoringAlarmTopicKey"), "Arn"] },
    });
    full.template.hasResourceProperties("AWS::KMS::Key", {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
          }),
        ]),
      },
    });
    full.template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          Match.objectLike({
            Effect: "Allow",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: "sns:Publish",
            Condition: Match.objectLike({ StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } }),
          }),
        ]),
      },
    });
  });

  it("the dashboard shows delivery outcomes, OPS-COM latency p50/p99 and queue depth", () => {
    const body = new Capture();
    full.template.hasResourceProperties("AWS::CloudWatch::Dashboard", { DashboardBody: body });
    const text = flat(body.asObject());
    for (const metric of [
      "WebhookReceived",
      "WebhookRejected",
      "PermitDeleted",
      "PermitNotFound",
      "DeliveryQueued",
      "DeliveryFailed",
      "TokenRejected",
      "DeadLettered",
      "QueueUnavailable",
      "EventIgnored",
      "DuplicateWebhook",
      "OpscomLatency",
      "ApproximateNumberOfMessagesVisible",
      "ApproximateAgeOfOldestMessage",
    ]) {
      expect(text).toContain(`"${metric}"`);
    }
    expect(text).toContain('"stat":"p50"');
    expect(text).toContain('"stat":"p99"');
  });
});

describe("props validation", () => {
  const cases: [string, Partial<PermitDeleteRelayProps>, string][] = [
    [
      "a client code with a space",
      { clientCode: "OC TOMA" },
      'PermitDeleteRelay: clientCode must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA; got "OC TOMA"',
    ],
    [
      "a plain-HTTP OPS-COM URL",
      { opscomBaseUrl: "http://controller.operationscommander.com" },
      'PermitDeleteRelay: opscomBaseUrl must be an https:// URL without query or fragment; got "http://controller.operationscommander.com"',
    ],
    [
      "no vendors",
      { vendors: [] },
      'PermitDeleteRelay: vendors must be a non-empty JSON array of vendors, e.g. [{"id":"acme"}]',
    ],
    [
      "a vendor id with capitals",
      { vendors: [{ id: "Acme" }] },
      'PermitDeleteRelay: vendors[0]: field "id" must be 1-64 of [a-z0-9-], got "Acme"',
    ],
    [
      "a duplicate vendor",
      { vendors: [{ id: "acme" }, { id: "acme" }] },
      'PermitDeleteRelay: vendors: vendor "acme" is listed twice (field "id")',
    ],
    [
      "a bad CIDR",
      { vendors: [{ id: "acme", allowedSourceCidrs: ["203.0.113.0/33"] }] },
      'PermitDeleteRelay: vendor "acme": field "allowedSourceCidrs[0]" is not an IPv4 or IPv6 CIDR block: "203.0.113.0/33"',
    ],
    [
      "a partial token secret ARN",
      {
        vendors: [
          {
            id: "acme",
            opscom: { tokenSecretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tok" },
          },
        ],
      },
      'PermitDeleteRelay: vendor "acme": field "opscom.tokenSecretId" must be a secret name or a complete secret ARN (ending in the 6-character suffix Secrets Manager adds); got "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tok"',
    ],
    [
      "a wildcard in the vendor secret prefix",
      { vendorSecretPrefix: "vendors/*" },
      'PermitDeleteRelay: vendorSecretPrefix must be 1-256 of the characters allowed in secret names ([A-Za-z0-9/_+=.@-]); got "vendors/*"',
    ],
    [
      "an empty vendor secret prefix",
      { vendorSecretPrefix: "" },
      'PermitDeleteRelay: vendorSecretPrefix must be 1-256 of the characters allowed in secret names ([A-Za-z0-9/_+=.@-]); got ""',
    ],
    [
      "zero retries",
      { retryMaxAttempts: 0 },
      "PermitDeleteRelay: retryMaxAttempts must be a whole number from 1 to 1000; got 0",
    ],
    [
      "a negative rate",
      { throttlingRateLimit: -1 },
      "PermitDeleteRelay: throttlingRateLimit must be a positive number of requests per second; got -1",
    ],
    [
      "a fractional burst",
      { throttlingBurstLimit: 2.5 },
      "PermitDeleteRelay: throttlingBurstLimit must be a whole number from 1 to 1000000; got 2.5",
    ],
    [
      "a WAF limit below WAF's minimum",
      { wafRateLimit: 5 },
      "PermitDeleteRelay: wafRateLimit must be a whole number from 10 to 2000000000; got 5",
    ],
    [
      "a ledger TTL of zero days",
      { ledgerTtlDays: 0 },
      "PermitDeleteRelay: ledgerTtlDays must be a whole number from 1 to 3650; got 0",
    ],
    [
      "a body limit above Lambda's payload limit",
      { maxBodyBytes: 7_000_000 },
      "PermitDeleteRelay: maxBodyBytes must be a whole number from 256 to 6000000; got 7000000",
    ],
    [
      "an ingest timeout API Gateway would cut off",
      { ingestTimeout: Duration.seconds(29) },
      "PermitDeleteRelay: ingestTimeout must be whole seconds from 1 to 28; got 29 seconds",
    ],
    [
      "an ingest timeout that does not leave room for the answer ceiling",
      { ingestTimeout: Duration.seconds(8), forwardTimeout: Duration.seconds(1) },
      "PermitDeleteRelay: ingestTimeout (8 seconds) must be longer than the ingest answer ceiling (8000 ms, lambda/budget.ts)",
    ],
    [
      "a forward timeout above 25 s",
      { forwardTimeout: Duration.seconds(26) },
      "PermitDeleteRelay: forwardTimeout must be from 100 ms to 25 seconds; got 26 seconds",
    ],
    [
      "a retry worker concurrency under Lambda's minimum of 2",
      { retryWorkerMaxConcurrency: 1 },
      "PermitDeleteRelay: retryWorkerMaxConcurrency must be a whole number from 2 to 1000; got 1",
    ],
    [
      "a reserved ingest concurrency of 0 (the function could never run)",
      { ingestReservedConcurrency: 0 },
      "PermitDeleteRelay: ingestReservedConcurrency must be a whole number from 1 to 10000; got 0",
    ],
    [
      "a 5xx-rate minimum of no requests",
      { api5xxMinimumRequests: 0 },
      "PermitDeleteRelay: api5xxMinimumRequests must be a whole number from 1 to 1000000; got 0",
    ],
    [
      "a retry worker timeout above Lambda's maximum",
      { retryWorkerTimeout: Duration.minutes(16) },
      "PermitDeleteRelay: retryWorkerTimeout must be whole seconds from 1 to 900; got 16 minutes",
    ],
    [
      "a claim lease no longer than the ingest timeout",
      { claimLease: Duration.seconds(15) },
      "PermitDeleteRelay: claimLease 15 s must be longer than ingestTimeout 15 s, or a live claim could be taken over",
    ],
    [
      "retries that outlast the retry queue's retention",
      { retryMaxAttempts: 40, ledgerTtlDays: 3650 },
      "PermitDeleteRelay: retryMaxAttempts 40 makes the last attempt end up to 17.6 days after the webhook is " +
        "parked, past the retry queue's 14-day retention: the message would expire before reaching the dead-letter " +
        "queue; at most 18",
    ],
    [
      "retries that leave under a week to redrive",
      { retryMaxAttempts: 19 },
      "PermitDeleteRelay: retryMaxAttempts 19 makes the last attempt end up to 7.3 days after the webhook is " +
        "parked, leaving 6.7 of the dead-letter queue's 14 days (counted from the parking) to redrive it; 7 are " +
        "kept: at most 18",
    ],
    [
      "a ledger TTL shorter than the retry schedule and its redrive window",
      { ledgerTtlDays: 1 },
      "PermitDeleteRelay: ledgerTtlDays 1 lets a ledger record expire while its delivery may still be attempted " +
        "(a dead-lettered delivery may be redriven up to 14 days after it was parked, then retried for up to 1.4 " +
        "days): at least 17",
    ],
    [
      "a ledger TTL too short for the most retries",
      { retryMaxAttempts: 18, ledgerTtlDays: 21 },
      "PermitDeleteRelay: ledgerTtlDays 21 lets a ledger record expire while its delivery may still be attempted " +
        "(a dead-lettered delivery may be redriven up to 14 days after it was parked, then retried for up to 6.8 " +
        "days): at least 22",
    ],
    [
      "a fractional secret cache TTL",
      { secretCacheTtl: Duration.millis(1500) },
      "PermitDeleteRelay: secretCacheTtl must be whole seconds from 0 to 86400; got 1 second 500 millis",
    ],
    [
      "a 5xx threshold above 100%",
      { api5xxRateThresholdPercent: 150 },
      "PermitDeleteRelay: api5xxRateThresholdPercent must be more than 0 and at most 100; got 150",
    ],
    [
      "a backlog alarm threshold under a minute",
      { retryBacklogAgeThreshold: Duration.seconds(30) },
      "PermitDeleteRelay: retryBacklogAgeThreshold must be whole seconds from 60 to 1209600; got 30 seconds",
    ],
  ];

  it("rejects a vendor list that would overflow Lambda's 4 KB environment", () => {
    const vendors = Array.from({ length: 60 }, (_, i) => ({
      id: `vendor-${i}`,
      allowedSourceCidrs: ["203.0.113.0/24"],
    }));
    const stack = new Stack(testApp(), "Invalid");
    expect(() => new PermitDeleteRelay(stack, "Relay", relayProps({ vendors }))).toThrow(
      /^PermitDeleteRelay: the functions' environment would take up to \d+ bytes, over Lambda's 4096-byte limit; VENDORS alone is 3531 bytes\. Leave defaults out of the vendor entries, or split the vendors over two relays\.$/,
    );
  });

  it.each(cases)("rejects %s with an exact message", (_name, overrides, message) => {
    const stack = new Stack(testApp(), "Invalid");
    expect(() => new PermitDeleteRelay(stack, "Relay", relayProps(overrides))).toThrow(new Error(message));
  });
});
