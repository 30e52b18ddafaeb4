// IAM proven against the calls the code really makes. The integration run of the deployed entry
// points (aws-wiring.test.ts) and the short chaos run (chaos.test.ts) run here again, unchanged,
// with a recording proxy in front of dynalite and the local Secrets Manager/SQS endpoint; each
// function's invocations are tagged with its role (the chaos run's synthesized bundles by
// local/function-context.ts, which the recorder reads; the TypeScript entry points of the
// wiring run by the module mocks below). Then every recorded call is evaluated against
// the synthesized stack's role policies, and every granted action must have been used. The
// on-call engineer's tools — `npm run ledger` and the runbook's redrive, as docs/deploy.md writes
// them — are recorded the same way and evaluated against the on-call policy in that runbook.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as sqsCommands from "@aws-sdk/client-sqs";
import type { CfnElement } from "aws-cdk-lib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import type { AwsEndpoint } from "../local/aws/server";
import { startConsole } from "../local/console-server";
import { buildStack } from "../testkit/cdk";
import type { LocalDynamo } from "../testkit/dynalite";
import {
  ACCOUNT,
  HARNESS,
  REGION,
  type RecordedCall,
  recordedCalls,
  startRecordingProxy,
  unmappedRequests,
} from "./support/aws-recorder";
import { type AwsCall, evaluate, parsePolicy, type Statement, statementMatches } from "./support/iam-policy";
import { type Bindings, roleStatements } from "./support/iam-template";

// The stand-ins as every run starts them, each behind a recording proxy.
vi.mock("../testkit/dynalite", async (importOriginal) => {
  const real = await importOriginal<typeof import("../testkit/dynalite")>();
  const { startRecordingProxy } = await import("./support/aws-recorder");
  return {
    ...real,
    async startDynalite(): Promise<LocalDynamo> {
      const dynamo = await real.startDynalite();
      const proxy = await startRecordingProxy(dynamo.endpoint);
      return {
        endpoint: proxy.url,
        close: async () => {
          await proxy.close();
          await dynamo.close();
        },
      };
    },
  };
});
vi.mock("../local/aws/server", async (importOriginal) => {
  const real = await importOriginal<typeof import("../local/aws/server")>();
  const { startRecordingProxy } = await import("./support/aws-recorder");
  return {
    ...real,
    async startAwsEndpoint(options?: { port?: number }): Promise<AwsEndpoint> {
      const aws = await real.startAwsEndpoint(options);
      const proxy = await startRecordingProxy(aws.url);
      return {
        ...aws,
        url: proxy.url,
        port: proxy.port,
        // The SDK sends SQS calls to the queue URL's host, so queue URLs name the proxy.
        createQueue: (name, attributes) => aws.createQueue(name, attributes).replace(aws.url, proxy.url),
        close: async () => {
          await proxy.close();
          await aws.close();
        },
      };
    },
  };
});
// Each function's calls are its role's; the event source mapping polls with the worker's role.
// The handler mocks reach the wiring run's TypeScript entry points; the chaos run's bundles run
// as their function by themselves (local/deployed-functions.ts).
vi.mock("../lambda/ingest-core", async (importOriginal) => {
  const real = await importOriginal<typeof import("../lambda/ingest-core")>();
  const { asPrincipal } = await import("./support/aws-recorder");
  return {
    ...real,
    createIngestHandler: (...args: Parameters<typeof real.createIngestHandler>) => {
      const handler = asPrincipal("ingest", () => real.createIngestHandler(...args));
      return (...call: Parameters<typeof handler>) => asPrincipal("ingest", () => handler(...call));
    },
  };
});
vi.mock("../lambda/retry-core", async (importOriginal) => {
  const real = await importOriginal<typeof import("../lambda/retry-core")>();
  const { asPrincipal } = await import("./support/aws-recorder");
  return {
    ...real,
    createRetryWorker: (...args: Parameters<typeof real.createRetryWorker>) => {
      const worker = real.createRetryWorker(...args);
      return (...call: Parameters<typeof worker>) => asPrincipal("retryWorker", () => worker(...call));
    },
  };
});
vi.mock("../local/event-source", async (importOriginal) => {
  const real = await importOriginal<typeof import("../local/event-source")>();
  const { asPrincipal } = await import("./support/aws-recorder");
  return {
    ...real,
    pollOnce: (...args: Parameters<typeof real.pollOnce>) =>
      asPrincipal("retryWorker", () => real.pollOnce(...args)),
  };
});

// The runs themselves, registered here so they run under the recorder.
import "./aws-wiring.test";
import "./chaos.test";

const ROOT = path.join(__dirname, "..");
const DEPLOY_MD = readFileSync(path.join(ROOT, "docs/deploy.md"), "utf8");

/** The names each recorded run gave the stack's resources. */
const RUNS = [
  { table: "wiring-ledger", retry: "wiring-retry", dlq: "wiring-dlq", tokenSecret: "relay/token" },
  { table: "chaos-ledger", retry: "chaos-retry", dlq: "chaos-dlq", tokenSecret: "chaos/token" },
  { table: "oncall-ledger", retry: "oncall-retry", dlq: "oncall-dlq", tokenSecret: "oncall/token" },
];
type Run = (typeof RUNS)[number];
const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
const tableArn = (name: string) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;
const logGroupArn = (name: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}:*`;
const LOG_GROUPS = {
  ingest: "/aws/lambda/ingest",
  retryWorker: "/aws/lambda/retry-worker",
  api: "api-access",
};

/** The run whose resources a call names; none for a vendor's signing secret, platform calls. */
const runOf = (call: AwsCall): Run | undefined =>
  RUNS.find((r) => [r.table, r.retry, r.dlq, r.tokenSecret].some((n) => call.resource.includes(n)));

/**
 * Calls the Lambda service makes with a function's role on the function's behalf, which no
 * local run can record: logs written by the runtime, trace segments sent by the X-Ray daemon
 * (active tracing), and the event source mapping's queue check (Lambda Developer Guide, "Using
 * Lambda with Amazon SQS": ReceiveMessage, DeleteMessage, GetQueueAttributes).
 */
function platformCalls(role: "ingest" | "retryWorker"): AwsCall[] {
  const stream = `${logGroupArn(LOG_GROUPS[role]).slice(0, -1)}log-stream:2026/01/01/[$LATEST]0123`;
  return [
    { action: "logs:CreateLogStream", resource: stream },
    { action: "logs:PutLogEvents", resource: stream },
    { action: "xray:PutTraceSegments", resource: "*" },
    { action: "xray:PutTelemetryRecords", resource: "*" },
    ...(role === "retryWorker"
      ? [{ action: "sqs:GetQueueAttributes", resource: queueArn("wiring-retry") }]
      : []),
  ].map((c) => ({ ...c, context: { "aws:SecureTransport": "true" } }));
}

/** The deployable stack's roles, and the template resolved to one run's resources. */
function deployedRoles() {
  const { stack, template } = buildStack({ vendors: [{ id: "acme" }], clientCode: "OC-TOMA" });
  const relay = stack.relay;
  const id = (c: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(c.node.defaultChild as CfnElement);
  const bindingsFor = (run: Run, tokenSecretArn: string): Bindings => ({
    refs: { [id(relay.tokenSecret)]: tokenSecretArn },
    getAtts: {
      [`${id(relay.ledgerTable)}.Arn`]: tableArn(run.table),
      [`${id(relay.retryQueue)}.Arn`]: queueArn(run.retry),
      [`${id(relay.deadLetterQueue)}.Arn`]: queueArn(run.dlq),
      [`${id(relay.ingestLogGroup)}.Arn`]: logGroupArn(LOG_GROUPS.ingest),
      [`${id(relay.retryWorkerLogGroup)}.Arn`]: logGroupArn(LOG_GROUPS.retryWorker),
    },
  });
  const roleIds = {
    ingest: id(relay.ingestFunction.role as never),
    retryWorker: id(relay.retryWorkerFunction.role as never),
  };
  return { json: template.toJSON() as never, roleIds, bindingsFor };
}

/** Denied calls, and the Allow statements' actions no call used ("Sid: action"). */
function audit(calls: readonly AwsCall[], statementsFor: (run: Run, call?: AwsCall) => Statement[]) {
  const denied = calls
    .map((call) => ({
      call,
      decision: evaluate(statementsFor(runOf(call) ?? (RUNS[0] as Run), call), call).decision,
    }))
    .filter((r) => r.decision !== "allow")
    .map((r) => `${r.decision}: ${r.call.action} on ${r.call.resource}`);
  // An action is used if, in some run, a call of that run (or of none) is allowed by it.
  const unusedIn = (run: Run) =>
    statementsFor(run)
      .filter((s) => s.Effect === "Allow")
      .flatMap((s) =>
        (s.Action ?? ["<NotAction>"])
          .filter(
            (action) =>
              !calls.some(
                (call) => (runOf(call) ?? run) === run && statementMatches({ ...s, Action: [action] }, call),
              ),
          )
          .map((action) => `${s.Sid ?? "(no Sid)"}: ${action}`),
      );
  const perRun = RUNS.map(unusedIn);
  const unused = (perRun[0] ?? []).filter((a) => perRun.every((u) => u.includes(a)));
  return { denied: [...new Set(denied)], unused };
}

const HARNESS_ACTIONS = [
  "dynamodb:CreateTable",
  "dynamodb:DescribeTable",
  "dynamodb:GetItem",
  "dynamodb:Query",
  "sqs:StartMessageMoveTask",
  "sqs:ReceiveMessage",
  "sqs:DeleteMessage",
  "sqs:GetQueueAttributes",
  "sqs:SendMessage",
];

/**
 * A run's token secret ARN as the recording saw it (Secrets Manager's answer names it). A run
 * made twice (two local endpoints) has one random suffix each: a call is bound to its own.
 */
const tokenSecretArn = (run: Run, calls: readonly RecordedCall[], call?: AwsCall) =>
  (call?.resource.includes(`:secret:${run.tokenSecret}-`) ? call.resource : undefined) ??
  calls.find((c) => c.resource.includes(`:secret:${run.tokenSecret}-`))?.resource ??
  `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${run.tokenSecret}-unused`;

describe("the functions' roles, against every call the runs made", () => {
  it("recorded calls from both functions, all of them mapped to IAM actions", () => {
    // The harness's own calls are not evaluated (a redrive without a destination cannot be mapped).
    expect(unmappedRequests().filter((u) => !u.startsWith(`${HARNESS}:`))).toEqual([]);
    const principals = new Set(recordedCalls().map((c) => c.principal));
    expect([...principals].sort()).toEqual([HARNESS, "ingest", "retryWorker"]);
    // The chaos run's bundles are recorded as their functions, each on the chaos run's ledger.
    for (const role of ["ingest", "retryWorker"]) {
      const chaosCalls = recordedCalls().filter((c) => c.principal === role && runOf(c) === RUNS[1]);
      expect(chaosCalls.map((c) => c.action)).toContain("dynamodb:UpdateItem");
    }
    // The harness only sets up and reads back (and redrives in the chaos run, as on-call would).
    const harness = new Set(
      recordedCalls()
        .filter((c) => c.principal === HARNESS)
        .map((c) => c.action),
    );
    expect([...harness].filter((a) => !HARNESS_ACTIONS.includes(a))).toEqual([]);
  });

  for (const role of ["ingest", "retryWorker"] as const) {
    it(`${role}: every call is allowed, and every granted action is used`, () => {
      const { json, roleIds, bindingsFor } = deployedRoles();
      const recorded = recordedCalls().filter((c) => c.principal === role);
      expect(recorded.length).toBeGreaterThan(0);
      const { denied, unused } = audit([...recorded, ...platformCalls(role)], (run, call) =>
        roleStatements(json, roleIds[role], bindingsFor(run, tokenSecretArn(run, recordedCalls(), call))),
      );
      expect(denied).toEqual([]);
      expect(unused).toEqual([]);
    });
  }
});

/** The fenced block of `kind` that follows a heading of docs/deploy.md. */
function runbookBlock(heading: string, kind: "json" | "sh"): string {
  const after = DEPLOY_MD.split(`\n## ${heading}\n`)[1] ?? "";
  const block = after.split("\n## ")[0]?.match(new RegExp(`\`\`\`${kind}\\n([\\s\\S]*?)\`\`\``))?.[1];
  if (block === undefined) throw new Error(`docs/deploy.md: no ${kind} block under "## ${heading}"`);
  return block;
}

/** The runbook's `aws sqs …` commands as SDK commands (kebab-case → PascalCase). */
function sqsCommandsOf(
  script: string,
  outputs: Record<string, string>,
): Array<{ operation: string; input: Record<string, unknown> }> {
  const lines = script
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line.startsWith("aws "));
  const pascal = (kebab: string) => kebab.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
  return lines.map((line) => {
    const words = (line.match(/"[^"]*"|\S+/g) ?? []).map((w) =>
      w.replace(/^"|"$/g, "").replace(/\$\(out (\w+)\)/g, (_, name: string) => {
        const value = outputs[name];
        if (value === undefined)
          throw new Error(`the runbook uses output ${name}, which this test does not bind`);
        return value;
      }),
    );
    const [, service, command, ...options] = words;
    if (service !== "sqs" || command === undefined) throw new Error(`not an SQS command: ${line}`);
    const input: Record<string, unknown> = {};
    for (let i = 0; i < options.length; i += 2) {
      const value = options[i + 1] as string;
      input[pascal(String(options[i]).replace(/^--/, ""))] = /^\d+$/.test(value) ? Number(value) : value;
    }
    return { operation: pascal(command), input };
  });
}

describe("the on-call policy in docs/deploy.md, against npm run ledger and the runbook's redrive", () => {
  const names = RUNS[2] as Run;
  const outputs: Record<string, string> = {
    StackName: "OpscomPermitRelay",
    LedgerTableName: names.table,
    DeadLetterQueueArn: queueArn(names.dlq),
    RetryQueueArn: queueArn(names.retry),
    IngestLogGroup: LOG_GROUPS.ingest,
    RetryWorkerLogGroup: LOG_GROUPS.retryWorker,
    ApiAccessLogGroup: LOG_GROUPS.api,
  };
  const local = { region: REGION, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
  const stops: Array<() => Promise<void>> = [];
  let dynamoUrl: string;
  let sqsUrl: string;
  let deadLetterQueueUrl: string;

  beforeAll(async () => {
    // The stand-ins themselves; only the on-call engineer's calls go through a recorder.
    const realDynamo = await vi.importActual<typeof import("../testkit/dynalite")>("../testkit/dynalite");
    const realAws = await vi.importActual<typeof import("../local/aws/server")>("../local/aws/server");
    const dynamo = await realDynamo.startDynalite();
    const aws = await realAws.startAwsEndpoint();
    const dynamoProxy = await startRecordingProxy(dynamo.endpoint, "operator");
    const awsProxy = await startRecordingProxy(aws.url, "operator");
    stops.push(dynamoProxy.close, awsProxy.close, aws.close, dynamo.close);
    dynamoUrl = dynamoProxy.url;
    sqsUrl = awsProxy.url;
    const client = new DynamoDBClient({ ...local, endpoint: dynamo.endpoint });
    await realDynamo.createLedgerTable(client, names.table);
    const now = Date.now();
    await createDynamoLedger(names.table, client).claim({
      vendorId: "acme",
      webhookId: "msg_oncall",
      referenceId: "ref-oncall",
      bodyHash: "0".repeat(64),
      claimId: "claim-1",
      now,
      leaseMs: 60_000,
      expiresAt: Math.floor(now / 1000) + 86_400,
    });
    client.destroy();
    deadLetterQueueUrl = aws.createQueue(names.dlq).replace(aws.url, awsProxy.url);
    aws.createQueue(names.retry, {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: queueArn(names.dlq), maxReceiveCount: 3 }),
    });
  });

  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it.each([
    ["--webhook", "acme/msg_oncall"],
    ["--reference", "ref-oncall"],
  ])("npm run ledger %s finds the record", async (flag, value) => {
    const { stdout } = await promisify(execFile)(
      path.join(ROOT, "node_modules/.bin/tsx"),
      ["bin/ledger.ts", "--table", names.table, flag, value, "--json"],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          AWS_REGION: REGION,
          AWS_ACCESS_KEY_ID: "test",
          AWS_SECRET_ACCESS_KEY: "test",
          AWS_ENDPOINT_URL_DYNAMODB: dynamoUrl,
        },
      },
    );
    expect(JSON.parse(stdout)).toMatchObject([{ webhookId: "msg_oncall", referenceId: "ref-oncall" }]);
  });

  it("the runbook's redrive commands run as written", async () => {
    const commands = sqsCommandsOf(runbookBlock("Redrive the dead-letter queue", "sh"), outputs);
    expect(commands.map((c) => c.operation)).toEqual(["StartMessageMoveTask", "ListMessageMoveTasks"]);
    const sqs = new sqsCommands.SQSClient({ ...local, endpoint: sqsUrl });
    for (const { operation, input } of commands) {
      const Command = (sqsCommands as unknown as Record<string, new (i: unknown) => never>)[
        `${operation}Command`
      ];
      if (!Command) throw new Error(`the SDK has no ${operation}Command`);
      await sqs.send(new Command(input));
    }
    sqs.destroy();
  });

  it("the delivery console reads and redrives through the same stand-ins", async () => {
    // The console as bin/console.ts builds it for a stack, its clients on the recorded endpoints.
    const dynamo = new DynamoDBClient({ ...local, endpoint: dynamoUrl });
    const sqs = new sqsCommands.SQSClient({ ...local, endpoint: sqsUrl });
    const running = await startConsole({
      ledger: createDynamoLedger(names.table, dynamo),
      sqs,
      deadLetterQueueUrl,
      deadLetterQueueArn: queueArn(names.dlq),
      retryQueueArn: queueArn(names.retry),
      clock: { now: () => Date.now() },
      label: "stack OpscomPermitRelay",
    });
    try {
      const page = async (pathAndQuery: string, init?: RequestInit) => {
        const response = await fetch(`${running.url}${pathAndQuery}`, { redirect: "manual", ...init });
        return { status: response.status, text: await response.text() };
      };
      // The day's list (byHour), a search by webhook and by reference, a webhook's history.
      expect((await page("/")).text).toContain("msg_oncall");
      expect((await page("/search?q=acme/msg_oncall")).status).toBe(200);
      expect((await page("/search?q=ref-oncall")).text).toContain("msg_oncall");
      expect((await page("/webhook?vendor=acme&id=msg_oncall")).status).toBe(200);
      expect((await page("/dlq")).status).toBe(200);
      const confirm = await page("/dlq/redrive");
      const csrf = /name="csrf" value="([^"]+)"/.exec(confirm.text)?.[1] ?? "";
      const redrive = await page("/dlq/redrive", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, expected: "0" }).toString(),
      });
      expect(redrive.status).toBe(303);
      expect(unmappedRequests().filter((u) => u.startsWith("operator:"))).toEqual([]);
    } finally {
      await running.close();
      dynamo.destroy();
      sqs.destroy();
    }
  });

  it("allows every call on-call makes, and every action it grants is used", () => {
    const policyText = runbookBlock("On-call permissions", "json").replace(/<(\w+)>/g, (_, name: string) => {
      const value = name === "Region" ? REGION : name === "Account" ? ACCOUNT : outputs[name];
      if (value === undefined)
        throw new Error(`the on-call policy names <${name}>, which is not a stack output`);
      return value;
    });
    const statements = parsePolicy(JSON.parse(policyText));
    const recorded = recordedCalls().filter((c) => c.principal === "operator");
    expect(new Set(recorded.map((c) => c.action))).toEqual(
      new Set([
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "sqs:StartMessageMoveTask",
        "sqs:ListMessageMoveTasks",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
      ]),
    );
    // Logs Insights runs in the console (no local stand-in): the runbook's queries, as calls.
    const logsInsights: AwsCall[] = [
      ...Object.values(LOG_GROUPS).map((group) => ({
        action: "logs:StartQuery",
        resource: logGroupArn(group),
      })),
      { action: "logs:GetQueryResults", resource: "*" },
    ];
    // bin/console.ts reads the table and queue names from the stack (no local stand-in).
    const stackOutputs: AwsCall = {
      action: "cloudformation:DescribeStacks",
      resource: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/OpscomPermitRelay/0f0e0d0c-0000-4000-8000-000000000000`,
    };
    const { denied, unused } = audit([...recorded, ...logsInsights, stackOutputs], () => statements);
    expect(denied).toEqual([]);
    expect(unused).toEqual([]);
  });
});

/**
 * What CloudFormation does with each resource type this stack declares, as IAM actions: create,
 * read back, update in place, tag, delete (CloudFormation resource-provider schemas, "handlers").
 * A type missing here fails the test, so a new kind of resource cannot slip past the policy.
 */
const PROVISIONING: Record<string, readonly string[]> = {
  "AWS::CDK::Metadata": [],
  "AWS::SecretsManager::Secret": [
    "secretsmanager:CreateSecret",
    "secretsmanager:DescribeSecret",
    "secretsmanager:UpdateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:DeleteSecret",
  ],
  "AWS::DynamoDB::Table": [
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTable",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:TagResource",
  ],
  "AWS::SQS::Queue": [
    "sqs:CreateQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:TagQueue",
    "sqs:DeleteQueue",
  ],
  "AWS::SQS::QueuePolicy": ["sqs:SetQueueAttributes"],
  "AWS::Logs::LogGroup": [
    "logs:CreateLogGroup",
    "logs:DescribeLogGroups",
    "logs:PutRetentionPolicy",
    "logs:TagResource",
    "logs:DeleteLogGroup",
  ],
  "AWS::IAM::Role": [
    "iam:CreateRole",
    "iam:GetRole",
    "iam:TagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:DeleteRole",
  ],
  "AWS::IAM::Policy": ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"],
  "AWS::Lambda::Function": [
    "lambda:CreateFunction",
    "lambda:GetFunction",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
    "lambda:TagResource",
    "lambda:DeleteFunction",
    "iam:PassRole",
  ],
  "AWS::Lambda::Permission": ["lambda:AddPermission", "lambda:RemovePermission"],
  "AWS::Lambda::EventSourceMapping": [
    "lambda:CreateEventSourceMapping",
    "lambda:GetEventSourceMapping",
    "lambda:UpdateEventSourceMapping",
    "lambda:DeleteEventSourceMapping",
  ],
  // API Gateway authorizes its control plane by HTTP verb on the resource's path.
  ...Object.fromEntries(
    ["RestApi", "Deployment", "Stage", "Resource", "Method", "GatewayResponse", "RequestValidator"].map(
      (t) => [
        `AWS::ApiGateway::${t}`,
        ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"],
      ],
    ),
  ),
  "AWS::ApiGateway::Account": ["apigateway:GET", "apigateway:PATCH", "iam:PassRole"],
  "AWS::WAFv2::WebACL": [
    "wafv2:CreateWebACL",
    "wafv2:GetWebACL",
    "wafv2:UpdateWebACL",
    "wafv2:TagResource",
    "wafv2:DeleteWebACL",
  ],
  "AWS::WAFv2::WebACLAssociation": [
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "wafv2:GetWebACLForResource",
    "apigateway:SetWebACL",
  ],
  "AWS::KMS::Key": [
    "kms:CreateKey",
    "kms:DescribeKey",
    "kms:PutKeyPolicy",
    "kms:EnableKeyRotation",
    "kms:TagResource",
    "kms:ScheduleKeyDeletion",
  ],
  "AWS::SNS::Topic": [
    "sns:CreateTopic",
    "sns:GetTopicAttributes",
    "sns:SetTopicAttributes",
    "sns:TagResource",
    "sns:DeleteTopic",
  ],
  "AWS::SNS::TopicPolicy": ["sns:SetTopicAttributes"],
  "AWS::SNS::Subscription": ["sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes"],
  "AWS::CloudWatch::Alarm": [
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:TagResource",
    "cloudwatch:DeleteAlarms",
  ],
  "AWS::CloudWatch::Dashboard": [
    "cloudwatch:PutDashboard",
    "cloudwatch:GetDashboard",
    "cloudwatch:DeleteDashboards",
  ],
};

/** Every fenced json block under a heading of docs/deploy.md, with the runbook's placeholders bound. */
function runbookPolicies(heading: string, bindings: Record<string, string>): Statement[][] {
  const after = DEPLOY_MD.split(`\n## ${heading}\n`)[1]?.split("\n## ")[0] ?? "";
  return [...after.matchAll(/```json\n([\s\S]*?)```/g)].map((m) =>
    parsePolicy(
      JSON.parse(
        (m[1] as string).replace(/<(\w+)>/g, (_, name: string) => {
          const value = bindings[name];
          if (value === undefined)
            throw new Error(`the ${heading} policy names <${name}>, which this test does not bind`);
          return value;
        }),
      ),
    ),
  );
}

describe("the deploy permissions in docs/deploy.md, against what cdk deploy needs", () => {
  const stackName = "OpscomPermitRelay";
  const [deployer, execution] = runbookPolicies("Deploy permissions", {
    Account: ACCOUNT,
    Region: REGION,
    StackName: stackName,
  });
  // Every optional part on: the e-mail subscription, WAF, an allow-list, reserved concurrency.
  const { template } = buildStack({
    clientCode: "OC-TOMA",
    alarmEmail: "oncall@example.com",
    vendors: [{ id: "acme", allowedSourceCidrs: ["203.0.113.0/24"] }],
    ingestReservedConcurrency: 5,
  });
  const types = [
    ...new Set(
      Object.values(template.toJSON().Resources as Record<string, { Type: string }>).map((r) => r.Type),
    ),
  ];
  // IAM sees the stack's roles by the names CloudFormation gives them: the stack's name first.
  const resourceFor = (action: string) =>
    action.startsWith("iam:")
      ? `arn:aws:iam::${ACCOUNT}:role/${stackName}-RelayIngestServiceRole-ABC123`
      : "*";

  it("the CloudFormation execution policy covers every resource type of the stack, and nothing more", () => {
    expect(types.filter((t) => PROVISIONING[t] === undefined)).toEqual([]);
    const calls: AwsCall[] = types.flatMap((t) =>
      (PROVISIONING[t] ?? []).map((action) => ({ action, resource: resourceFor(action) })),
    );
    const { denied, unused } = audit(calls, () => execution ?? []);
    expect(denied).toEqual([]);
    expect(unused).toEqual([]);
  });

  it("the deploying identity only assumes the bootstrap roles and reads the stack's outputs", () => {
    const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-${name}-${ACCOUNT}-${REGION}`;
    const calls: AwsCall[] = [
      { action: "sts:AssumeRole", resource: role("deploy-role") },
      { action: "sts:AssumeRole", resource: role("file-publishing-role") },
      { action: "sts:AssumeRole", resource: role("lookup-role") },
      {
        action: "cloudformation:DescribeStacks",
        resource: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${stackName}/0f0e0d0c-0000-4000-8000-000000000000`,
      },
    ];
    const { denied, unused } = audit(calls, () => deployer ?? []);
    expect(denied).toEqual([]);
    expect(unused).toEqual([]);
    // Nothing that creates resources directly: that is the execution role's job.
    expect(evaluate(deployer ?? [], { action: "lambda:CreateFunction", resource: "*" }).decision).toBe(
      "implicitDeny",
    );
  });
});
