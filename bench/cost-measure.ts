// The counts behind the cost model (bench/cost.ts), taken from the real thing: the ingest and
// retry handlers with the real adapters and SDK clients against dynalite, the local Secrets
// Manager + SQS endpoint and the OPS-COM sandbox over HTTP; Powertools logging and metrics as
// deployed. Middleware on each SDK client counts what AWS would bill: DynamoDB write and read
// units from the item before and after every write (the byReference index included), SQS
// requests per 64 KB chunk, GetSecretValue calls. stdout is taken while a handler runs, so the
// log bytes are the lines it really prints. What the stack deploys (memory sizes, architecture,
// the access-log format, cache TTL, ledger TTL) is read from the synthesized template.
//
// Why ~520 lines in one file: it is one measurement read top to bottom (what is deployed, the
// meters on each SDK client, the paths run through them, the idle floor) and no part has a
// second user; the meters are the seam to cut along if another bench needs them.
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import { createOpscomHttpClient } from "../lambda/adapters/opscom-http";
import { createSecretsManagerSource } from "../lambda/adapters/secrets-manager";
import { createSqsQueue } from "../lambda/adapters/sqs-queue";
import { loadConfig } from "../lambda/config";
import { createIngestHandler } from "../lambda/ingest-core";
import { systemClock } from "../lambda/ports";
import { createRetryWorker } from "../lambda/retry-core";
import { createPowertoolsTelemetry } from "../lambda/telemetry";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../lib/permit-delete-relay";
import { startAwsEndpoint } from "../local/aws/server";
import { pollOnce } from "../local/event-source";
import { type OpscomSandbox, startOpscomSandbox } from "../local/opscom-sandbox";
import { generateSigningSecret } from "../local/vendor-kit";
import { buildStack } from "../testkit/cdk";
import { createLedgerTable, startDynalite, useLocalAws } from "../testkit/dynalite";
import {
  type FloorPaths,
  type IndexKey,
  type Item,
  itemBytes,
  type PathUsage,
  type RelayPaths,
  readUnits,
  sqsRequests,
  writeUnits,
} from "./cost";
import { median } from "./stats";
import { standardSigner, webhookEvent } from "./webhooks";

const VENDOR = "acme";
const CLIENT_CODE = "OC-TOMA";
const TOKEN = "BENCH-COST-TOKEN-0123456789abcdef";
const TABLE = "bench-cost-ledger";
/** The ledger's indexes as the stack declares them: every write is priced against each. */
const INDEXES: readonly IndexKey[] = [
  { partitionKey: "referenceId", sortKey: "createdAt" },
  { partitionKey: "createdHour", sortKey: "createdAt", projection: "KEYS_ONLY" },
];
const INDEX = INDEXES[0] as IndexKey;
/** CloudWatch Logs counts each event as its UTF-8 message plus 26 bytes. */
export const LOG_EVENT_OVERHEAD_BYTES = 26;
/** DynamoDB bills storage per item as its size plus 100 bytes. */
const ITEM_STORAGE_OVERHEAD_BYTES = 100;
const TRACE_ID = "1-6870c5a1-0123456789abcdef01234567";

// ---- What the stack deploys ---------------------------------------------------------------------

export interface Deployed {
  readonly ingestMemoryMb: number;
  readonly workerMemoryMb: number;
  readonly architecture: "arm64" | "x86_64";
  readonly accessLogFormat: string;
  readonly gatewayTracing: boolean;
  readonly secretCacheTtlSeconds: number;
  readonly ledgerTtlDays: number;
}

/** Synthesizes the deployable stack (no bundling) and reads what the cost depends on. */
export function readDeployed(): Deployed {
  // The vendors and client code change nothing the cost depends on; given, they keep synth quiet.
  const { template } = buildStack({ clientCode: CLIENT_CODE, vendors: [{ id: VENDOR }] });
  const functions = Object.values(template.findResources("AWS::Lambda::Function")).map(
    (r) =>
      r.Properties as {
        Description?: string;
        MemorySize: number;
        Architectures?: string[];
        Environment?: { Variables?: Record<string, unknown> };
      },
  );
  const find = (words: string) => {
    const fn = functions.find((f) => f.Description?.includes(words));
    if (!fn) throw new Error(`cost model: no function described "${words}" in the template`);
    return fn;
  };
  const ingest = find("verifies vendor webhooks");
  const worker = find("retries parked");
  const stage = Object.values(template.findResources("AWS::ApiGateway::Stage"))[0]?.Properties as
    | { AccessLogSetting?: { Format?: string }; TracingEnabled?: boolean }
    | undefined;
  const format = stage?.AccessLogSetting?.Format;
  if (!format) throw new Error("cost model: the stage has no access-log format");
  const env = ingest.Environment?.Variables ?? {};
  return {
    ingestMemoryMb: ingest.MemorySize,
    workerMemoryMb: worker.MemorySize,
    architecture: ingest.Architectures?.[0] === "arm64" ? "arm64" : "x86_64",
    accessLogFormat: format,
    gatewayTracing: stage?.TracingEnabled === true,
    secretCacheTtlSeconds: Number(env.SECRET_CACHE_TTL_SECONDS),
    ledgerTtlDays: Number(env.LEDGER_TTL_DAYS),
  };
}

/** Sample values of the access log's variables, as long as API Gateway's real ones. */
const ACCESS_LOG_SAMPLE: Record<string, string> = {
  requestId: "0f6d3b52-4c1e-4a9b-9f35-6c2d8e1a7b40",
  extendedRequestId: "Nc2v8FQsIAMEbXw=",
  requestTime: "07/Jul/2026:14:03:27 +0000",
  "identity.sourceIp": "198.51.100.7",
  httpMethod: "POST",
  path: "/prod/webhooks/acme",
  status: "200",
  responseLatency: "212",
  integrationStatus: "200",
  integrationLatency: "209",
  wafResponseCode: "WAF_ALLOW",
  xrayTraceId: TRACE_ID,
  "error.messageString": '"-"',
};

/** One access-log event: the stage's format with sample values, the answer's real length. */
export function accessLogEventBytes(format: string, responseLength: number): number {
  const line = format.replace(/\$context\.([A-Za-z.]+)/g, (_, name: string) =>
    name === "responseLength" ? String(responseLength) : (ACCESS_LOG_SAMPLE[name] ?? "-"),
  );
  return Buffer.byteLength(line) + LOG_EVENT_OVERHEAD_BYTES;
}

/** Lambda's START, END and REPORT events for one invocation (text format, X-Ray on). */
export function platformLogBytes(durationMs: number, memoryMb: number): number {
  const id = "8f507cfc-5a3e-4c79-b7a8-3f1d2a9c6e01";
  const events = [
    `START RequestId: ${id} Version: $LATEST`,
    `END RequestId: ${id}`,
    `REPORT RequestId: ${id}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\t` +
      `Memory Size: ${memoryMb} MB\tMax Memory Used: 96 MB\t\nXRAY TraceId: ${TRACE_ID}\tSegmentId: 3f1d2a9c6e014b7a\tSampled: true\t`,
  ];
  return events.reduce((sum, e) => sum + Buffer.byteLength(e) + LOG_EVENT_OVERHEAD_BYTES, 0);
}

// ---- Counting at the SDK -----------------------------------------------------------------------

interface Tally {
  writeUnits: number;
  readUnits: number;
  tableBytes: number;
  indexBytes: number;
  sqsRequests: number;
  secretsCalls: number;
}
const emptyTally = (): Tally => ({
  writeUnits: 0,
  readUnits: 0,
  tableBytes: 0,
  indexBytes: 0,
  sqsRequests: 0,
  secretsCalls: 0,
});

type Next = (args: { input: unknown }) => Promise<{ output: unknown }>;
/** The one middleware shape used here (the SDK's own types for it live in a transitive package). */
type Counter = (next: Next, context: { commandName?: string }) => Next;

/** Adds `counter` at the initialize step: once per command, before the SDK's own retries. */
function addCounter(client: { middlewareStack: unknown }, counter: Counter): void {
  (client.middlewareStack as { add(m: Counter, o: { step: "initialize"; name: string }): void }).add(
    counter,
    {
      step: "initialize",
      name: "benchCostCounter",
    },
  );
}

function countDynamo(
  client: DynamoDBClient,
  peek: (key: Item) => Promise<Item | undefined>,
  tally: () => Tally,
) {
  addCounter(client, (next, context) => async (args) => {
    const command = context.commandName ?? "";
    const input = args.input as { Key?: Item; ConsistentRead?: boolean };
    if (/^(Put|Update|Delete)ItemCommand$/.test(command) && input.Key) {
      const before = await peek(input.Key);
      try {
        return await next(args);
      } finally {
        const after = await peek(input.Key);
        const t = tally();
        t.writeUnits += writeUnits(before, after, INDEX).table;
        for (const index of INDEXES) t.writeUnits += writeUnits(before, after, index).index;
        const stored = (item: Item | undefined) => (item ? itemBytes(item) + ITEM_STORAGE_OVERHEAD_BYTES : 0);
        const indexed = (item: Item | undefined) => (item && INDEX.partitionKey in item ? stored(item) : 0);
        t.tableBytes += stored(after) - stored(before);
        t.indexBytes += indexed(after) - indexed(before);
      }
    }
    const result = await next(args);
    const output = result.output as { Item?: Item; Items?: Item[] };
    if (command === "GetItemCommand") {
      tally().readUnits += readUnits(output.Item ? itemBytes(output.Item) : 0, input.ConsistentRead === true);
    } else if (command === "QueryCommand") {
      const bytes = (output.Items ?? []).reduce((sum, item) => sum + itemBytes(item), 0);
      tally().readUnits += readUnits(bytes, false);
    }
    return result;
  });
}

function countSqs(client: SQSClient, tally: () => Tally) {
  addCounter(client, (next, context) => async (args) => {
    const command = context.commandName ?? "";
    const input = args.input as { MessageBody?: string };
    const result = await next(args);
    if (command === "SendMessageCommand") {
      tally().sqsRequests += sqsRequests(Buffer.byteLength(input.MessageBody ?? ""));
    } else if (command === "ReceiveMessageCommand") {
      const messages = (result.output as { Messages?: Array<{ Body?: string }> }).Messages ?? [];
      tally().sqsRequests += sqsRequests(messages.reduce((s, m) => s + Buffer.byteLength(m.Body ?? ""), 0));
    } else {
      tally().sqsRequests += 1;
    }
    return result;
  });
}

function countSecrets(client: SecretsManagerClient, tally: () => Tally) {
  addCounter(client, (next) => async (args) => {
    tally().secretsCalls += 1;
    return next(args);
  });
}

/** Runs `fn` with stdout taken: the bytes of the log events it printed, each with its overhead. */
async function capturingLogs<T>(fn: () => Promise<T>): Promise<{ value: T; logBytes: number }> {
  const original = process.stdout.write;
  let logBytes = 0;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    for (const line of chunk.toString().split("\n")) {
      if (line.length > 0) logBytes += Buffer.byteLength(line) + LOG_EVENT_OVERHEAD_BYTES;
    }
    return true;
  }) as typeof process.stdout.write;
  try {
    return { value: await fn(), logBytes };
  } finally {
    process.stdout.write = original;
  }
}

// ---- The passes --------------------------------------------------------------------------------

export interface CostMeasurement {
  readonly deployed: Deployed;
  readonly relay: RelayPaths;
  readonly floor: FloorPaths;
  /** GetSecretValue calls a fresh ingest environment made before and during its first webhook. */
  readonly secretsCallsPerEnvironment: number;
  readonly accessLogEventBytes: number;
  readonly passesPerPath: number;
}

/** Sample per pass: a median duration and mean counts over `passes` webhooks. */
interface Pass {
  ms: number;
  tally: Tally;
  logBytes: number;
  opscomCalls: number;
}

export async function measureCostPaths(passes: number): Promise<CostMeasurement> {
  const deployed = readDeployed();
  const savedEnv = { ...process.env };
  const dynamo = await startDynalite();
  const aws = await startAwsEndpoint();
  useLocalAws({ dynamodb: dynamo.endpoint, sqs: aws.url, secretsManager: aws.url });
  // What Lambda and the stack put in the environment that changes what the handlers print.
  Object.assign(process.env, {
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: "INFO",
    AWS_LAMBDA_FUNCTION_NAME: "OpscomPermitRelay-RelayIngest1A2B3C4D-AbCdEfGhIjKl",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(deployed.ingestMemoryMb),
    _X_AMZN_TRACE_ID: `Root=${TRACE_ID};Parent=3f1d2a9c6e014b7a;Sampled=1`,
  });
  const sandbox = await startOpscomSandbox({ clients: { [CLIENT_CODE]: { tokens: [TOKEN] } } });
  let tally = emptyTally();
  const current = () => tally;
  try {
    const vendorSecret = generateSigningSecret();
    aws.putSecret("bench/opscom-token", TOKEN);
    aws.putSecret(
      `opscom-permit-relay/vendors/${VENDOR}`,
      JSON.stringify({ signingSecrets: [vendorSecret] }),
    );
    const queueUrl = aws.createQueue("bench-cost-retry");
    const plain = new DynamoDBClient({});
    await createLedgerTable(plain, TABLE);
    const peek = async (key: Item) =>
      (await plain.send(new GetItemCommand({ TableName: TABLE, Key: key, ConsistentRead: true }))).Item as
        | Item
        | undefined;
    const dynamoClient = new DynamoDBClient({});
    countDynamo(dynamoClient, peek, current);
    const sqs = new SQSClient({});
    countSqs(sqs, current);
    const secretsClient = new SecretsManagerClient({});
    countSecrets(secretsClient, current);

    // Only the SQS endpoint's clock moves, so a parked delivery comes due at once while webhooks
    // are still signed and answered in real time.
    const advance = (ms: number) => aws.advanceClock(ms);
    const config = loadConfig({
      OPSCOM_BASE_URL: sandbox.url,
      OPSCOM_CLIENT_CODE: CLIENT_CODE,
      OPSCOM_TOKEN_SECRET_ID: "bench/opscom-token",
      VENDORS: JSON.stringify([{ id: VENDOR }]),
      LEDGER_TABLE_NAME: TABLE,
      RETRY_QUEUE_URL: queueUrl,
      SECRET_CACHE_TTL_SECONDS: String(deployed.secretCacheTtlSeconds),
      LEDGER_TTL_DAYS: String(deployed.ledgerTtlDays),
    });
    const realOpscom = createOpscomHttpClient({ baseUrl: sandbox.url, timeoutMs: config.forwardTimeoutMs });
    // The sandbox's faults are switched between calls: on for a pass's first `failCalls` calls.
    let failCalls = 0;
    const setFaults = () =>
      sandbox.setFaults(failCalls > 0 ? { failureRate: 1, modes: ["http503"] } : { failureRate: 0 });
    const opscom = {
      async deletePermit(request: Parameters<typeof realOpscom.deletePermit>[0]) {
        setFaults();
        const outcome = await realOpscom.deletePermit(request);
        if (failCalls > 0) failCalls--;
        return outcome;
      },
    };
    // The inline retry's pause is billed time: recorded and added, not slept.
    let sleptMs = 0;
    const sleep = async (ms: number) => {
      sleptMs += ms;
    };
    const telemetry = createPowertoolsTelemetry();
    const deps = {
      config,
      clock: systemClock,
      secrets: createSecretsManagerSource(secretsClient),
      ledger: createDynamoLedger(TABLE, dynamoClient),
      queue: createSqsQueue(queueUrl, sqs),
      opscom,
      telemetry,
    };

    const pass = async (fails: number, run: () => Promise<unknown>): Promise<Pass> => {
      tally = emptyTally();
      failCalls = fails;
      sleptMs = 0;
      const requestsBefore = sandbox.stats().deleteRequests;
      const started = performance.now();
      const { logBytes } = await capturingLogs(run);
      const ms = performance.now() - started + sleptMs;
      return { ms, tally, logBytes, opscomCalls: sandbox.stats().deleteRequests - requestsBefore };
    };

    const sign = standardSigner(vendorSecret);
    const send = (handler: (e: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>, expect: number) => {
      const event = webhookEvent(sign, VENDOR, sandbox.createPermit());
      return async () => {
        const answer = await handler(event);
        if (answer.statusCode !== expect) {
          throw new Error(
            `cost model: expected ${expect}, the relay answered ${answer.statusCode} ${answer.body}`,
          );
        }
        return answer;
      };
    };

    // A fresh environment: priming and its first webhook read the secrets; counted, then discarded.
    const priming = emptyTally();
    tally = priming;
    const ingest = createIngestHandler({ ...deps, sleep, prime: true });
    const first = await pass(0, send(ingest, 200));
    const secretsCallsPerEnvironment = priming.secretsCalls + first.tally.secretsCalls;
    let responseLength = 0;
    await pass(0, async () => {
      responseLength = Buffer.byteLength((await send(ingest, 200)()).body);
    });

    const repeat = async (count: number, one: () => Promise<Pass>) => {
      const samples: Pass[] = [];
      for (let i = 0; i < count; i++) samples.push(await one());
      return samples;
    };
    const delivered = await repeat(passes, () => pass(0, send(ingest, 200)));
    const retriedInline = await repeat(passes, () => pass(1, send(ingest, 200)));

    // Parked one at a time, so each of the retry worker's batches holds that one message, driven
    // as Lambda's event source would: receive, invoke, delete what did not fail.
    const worker = createRetryWorker(deps);
    const workerPass = (fails: number) =>
      pass(fails, async () => {
        advance(13 * 3600 * 1000);
        const handled = await pollOnce(sqs, queueUrl, worker);
        if (handled !== 1) throw new Error(`cost model: the retry queue held ${handled} due messages, not 1`);
      });
    const parked: Pass[] = [];
    const workerFailed: Pass[] = [];
    const workerDelivered: Pass[] = [];
    for (let i = 0; i < passes; i++) {
      parked.push(await pass(2, send(ingest, 202)));
      workerFailed.push(await workerPass(1));
      workerDelivered.push(await workerPass(0));
    }
    const left = aws.queueStats(queueUrl).total;
    if (left !== 0) throw new Error(`cost model: ${left} messages left on the retry queue`);

    const floor = await measureFloor(sandbox, passes, (fails) => {
      failCalls = fails;
      setFaults();
    });

    const gatewayPath = (samples: Pass[]) => usage(samples, deployed.ingestMemoryMb, 1);
    const queuePath = (samples: Pass[]) => usage(samples, deployed.workerMemoryMb, 0);
    return {
      deployed,
      relay: {
        delivered: gatewayPath(delivered),
        retriedInline: gatewayPath(retriedInline),
        parked: gatewayPath(parked),
        workerFailed: queuePath(workerFailed),
        workerDelivered: queuePath(workerDelivered),
      },
      floor,
      secretsCallsPerEnvironment,
      accessLogEventBytes: accessLogEventBytes(deployed.accessLogFormat, responseLength),
      passesPerPath: passes,
    };
  } finally {
    await sandbox.close();
    await aws.close();
    await dynamo.close();
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  }
}

const mean = (samples: Pass[], pick: (p: Pass) => number) =>
  samples.reduce((sum, p) => sum + pick(p), 0) / samples.length;

/** Secrets calls are left out: they follow environments, not passes (CostParams). */
function usage(samples: Pass[], memoryMb: number, gatewayRequests: number): PathUsage {
  const ms = median(samples.map((p) => p.ms));
  return {
    gatewayRequests,
    lambdaInvocations: 1,
    lambdaMs: ms,
    memoryMb,
    opscomCalls: mean(samples, (p) => p.opscomCalls),
    dynamoWriteUnits: mean(samples, (p) => p.tally.writeUnits),
    dynamoReadUnits: mean(samples, (p) => p.tally.readUnits),
    dynamoTableBytes: mean(samples, (p) => p.tally.tableBytes),
    dynamoIndexBytes: mean(samples, (p) => p.tally.indexBytes),
    sqsRequests: mean(samples, (p) => p.tally.sqsRequests),
    logBytes: mean(samples, (p) => p.logBytes) + platformLogBytes(ms, memoryMb),
    traceRoots: 1,
  };
}

/** The least Lambda allows: what the floor's function is given. */
export const FLOOR_MEMORY_MB = 128;

/**
 * The floor's handler (bench/children/floor-handler.ts) timed on the same sandbox. It reads the
 * token on every call; a floor would cache it, so its Secrets Manager calls are not priced.
 */
async function measureFloor(
  sandbox: OpscomSandbox,
  passes: number,
  faults: (fails: number) => void,
): Promise<FloorPaths> {
  Object.assign(process.env, {
    OPSCOM_BASE_URL: sandbox.url,
    OPSCOM_CLIENT_CODE: CLIENT_CODE,
    OPSCOM_TOKEN_SECRET_ID: "bench/opscom-token",
  });
  const { handler } = await import("./children/floor-handler");
  const secret = generateSigningSecret();
  const sign = standardSigner(secret);
  const time = async (fails: number, status: number) => {
    faults(fails);
    const event = webhookEvent(sign, VENDOR, sandbox.createPermit());
    const started = performance.now();
    const answer = await handler(event);
    const ms = performance.now() - started;
    if (answer.statusCode !== status)
      throw new Error(`cost model: the floor answered ${answer.statusCode}, expected ${status}`);
    return ms;
  };
  await time(0, 200); // the first fetch loads undici; not a warm invocation
  const path = async (fails: number, status: number): Promise<PathUsage> => {
    const samples: number[] = [];
    for (let i = 0; i < passes; i++) samples.push(await time(fails, status));
    const ms = median(samples);
    return {
      gatewayRequests: 1,
      lambdaInvocations: 1,
      lambdaMs: ms,
      memoryMb: FLOOR_MEMORY_MB,
      opscomCalls: 1,
      dynamoWriteUnits: 0,
      dynamoReadUnits: 0,
      dynamoTableBytes: 0,
      dynamoIndexBytes: 0,
      sqsRequests: 0,
      logBytes: platformLogBytes(ms, FLOOR_MEMORY_MB),
      traceRoots: 1,
    };
  };
  return { delivered: await path(0, 200), failed: await path(1, 502) };
}
