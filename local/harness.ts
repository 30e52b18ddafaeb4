// The relay on your machine, two ways. `startDeployedRelay` (`npm start`) is the deployed
// shape: the synthesized stack's bundles, loaded with the environment its template gives them,
// over dynalite and the local SQS and Secrets Manager endpoint, behind a gateway that throttles
// as the stage does, with the retry queue and event source mapping the template declares.
// `startLocalRelay` wires the TypeScript handlers to in-memory twins for the tests and runs
// that reach into the ledger and queue; it is never the deployed path.
import { isUtf8 } from "node:buffer";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../lambda/adapters/memory";
import { createOpscomHttpClient } from "../lambda/adapters/opscom-http";
import { loadConfig, type RelayConfig } from "../lambda/config";
import { createIngestHandler, type IngestHandler } from "../lambda/ingest-core";
import { type Clock, type SecretSource, systemClock } from "../lambda/ports";
import { createRetryWorker, type RetryWorkerHandler } from "../lambda/retry-core";
import { parseTokenSecret, SecretCache } from "../lambda/secret-cache";
import { createPowertoolsTelemetry, type Telemetry } from "../lambda/telemetry";
import { startDynalite, useLocalAws } from "../testkit/dynalite";
import { type AwsEndpoint, startAwsEndpoint } from "./aws/server";
import { loadDeployedFunctions } from "./deployed-functions";
import { pollOnce } from "./event-source";
import { type OpscomSandbox, startOpscomSandbox } from "./opscom-sandbox";
import { type Assembly, readStackShape, type StackShape, synthesizeStack } from "./template-config";
import { generateSigningSecret } from "./vendor-kit";

export const DEMO_VENDOR = "demo-vendor";
export const DEMO_CLIENT_CODE = "OC-TOMA";
const TOKEN_SECRET_ID = "opscom-permit-relay/opscom-token";
/** The local ledger forgets the oldest settled webhooks past this many (DynamoDB's TTL in AWS). */
const LOCAL_LEDGER_RECORDS = 10_000;

/** What `npm start` keeps between runs (in .relay/, ignored by git): the demo secrets. */
export interface LocalSecrets {
  readonly opscomToken: string;
  readonly vendorSecret: string;
}

export function loadOrCreateLocalSecrets(file: string): LocalSecrets {
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as LocalSecrets;
  const secrets: LocalSecrets = {
    opscomToken: `LOCAL-${Buffer.from(generateSigningSecret()).toString("hex").slice(0, 40)}`,
    vendorSecret: generateSigningSecret(),
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

export interface LocalRelayOptions {
  readonly relayPort?: number;
  readonly sandboxPort?: number;
  readonly secrets: LocalSecrets;
  /** An already-running sandbox (tests, benchmarks); otherwise one is started. */
  readonly sandbox?: OpscomSandbox;
  readonly telemetry?: Telemetry;
  readonly clock?: Clock;
  /** Extra runtime variables (e.g. FORWARD_TIMEOUT_MS); VENDORS defaults to the demo vendor. */
  readonly env?: Record<string, string>;
  /** How often the worker loop looks at the retry queue. */
  readonly workerIntervalMs?: number;
  readonly secretSource?: SecretSource;
}

export interface LocalRelay {
  readonly url: string;
  readonly sandbox: OpscomSandbox;
  readonly config: RelayConfig;
  readonly ledger: MemoryLedger;
  readonly queue: MemoryQueue;
  readonly secrets: SecretSource;
  readonly ingest: IngestHandler;
  readonly worker: RetryWorkerHandler;
  /** Runs the worker over every visible message once; answers how many it handled. */
  drainOnce(): Promise<number>;
  close(): Promise<void>;
}

export async function startLocalRelay(options: LocalRelayOptions): Promise<LocalRelay> {
  const clock = options.clock ?? systemClock;
  const sandbox =
    options.sandbox ??
    (await startOpscomSandbox({
      port: options.sandboxPort ?? 0,
      clients: { [DEMO_CLIENT_CODE]: { tokens: [options.secrets.opscomToken] } },
    }));
  const env: Record<string, string> = {
    OPSCOM_BASE_URL: sandbox.url,
    OPSCOM_CLIENT_CODE: DEMO_CLIENT_CODE,
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET_ID,
    VENDORS: JSON.stringify([{ id: DEMO_VENDOR }]),
    ...options.env,
  };
  const config = loadConfig(env);
  const secrets =
    options.secretSource ??
    new MemorySecrets({
      [TOKEN_SECRET_ID]: options.secrets.opscomToken,
      ...Object.fromEntries(
        [...config.vendors.keys()].map((id) => [
          config.vendorSecretPrefix + id,
          JSON.stringify({ signingSecrets: [options.secrets.vendorSecret] }),
        ]),
      ),
    });
  const ledger = new MemoryLedger(LOCAL_LEDGER_RECORDS);
  const queue = new MemoryQueue(clock, config.retryMaxAttempts);
  const opscom = createOpscomHttpClient({
    baseUrl: config.opscomBaseUrl,
    timeoutMs: config.forwardTimeoutMs,
  });
  // A server, not a Lambda: metrics go out once a second rather than once per request.
  const ownTelemetry = options.telemetry ? undefined : createPowertoolsTelemetry({ publishEveryMs: 1000 });
  const telemetry = options.telemetry ?? (ownTelemetry as Telemetry);
  // One token cache for both handlers, as if they shared a Lambda environment.
  const tokens = new SecretCache(secrets, clock, config.secretCacheTtlMs, parseTokenSecret);
  const shared = { config, clock, secrets, ledger, queue, opscom, telemetry, tokens };
  const ingest = createIngestHandler(shared);
  const worker = createRetryWorker(shared);

  const server = serve(async (event) => (await ingest(event)) as APIGatewayProxyResult);
  await new Promise<void>((resolve) => server.listen(options.relayPort ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  async function drainOnce(): Promise<number> {
    const records = queue.receive(10);
    if (records.length === 0) return 0;
    const { batchItemFailures } = await worker({ Records: records });
    const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
    for (const record of records) if (!failed.has(record.messageId)) queue.delete(record.receiptHandle);
    return records.length;
  }
  let stopped = false;
  let draining = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    draining = draining.then(() => drainOnce().then(() => undefined)).catch(() => undefined);
  }, options.workerIntervalMs ?? 250);
  timer.unref();

  return {
    url: `http://127.0.0.1:${port}`,
    sandbox,
    config,
    ledger,
    queue,
    secrets,
    ingest,
    worker,
    drainOnce,
    async close() {
      stopped = true;
      clearInterval(timer);
      await draining;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      opscom.close();
      ownTelemetry?.close();
      if (!options.sandbox) await sandbox.close();
    },
  };
}

export interface DeployedRelayOptions {
  readonly relayPort?: number;
  readonly sandboxPort?: number;
  readonly secrets: LocalSecrets;
  /** Stack context, as `cdk synth -c key=value` takes it (e.g. `{ retryMaxAttempts: 3 }`). */
  readonly context?: Record<string, unknown>;
  /** How often the event source mapping polls the retry queue; 0 polls only on `drainOnce`. */
  readonly workerIntervalMs?: number;
  /** The gateway's throttle clock; the bundles run on the real one, as in Lambda. */
  readonly clock?: Clock;
  /**
   * A DynamoDB endpoint already running (the load run keeps dynalite in a process of its own,
   * so this process's heap is the relay's); otherwise dynalite starts in this process.
   */
  readonly dynamodbEndpoint?: string;
  /** Seeds the sandbox's fault draws, so a run's faults repeat. */
  readonly sandboxSeed?: number;
}

export interface DeployedRelay {
  readonly url: string;
  readonly sandbox: OpscomSandbox;
  readonly aws: AwsEndpoint;
  readonly assembly: Assembly;
  readonly shape: StackShape;
  /** The ingest function's configuration, as its bundle read it from the template's environment. */
  readonly config: RelayConfig;
  /** The local names the template's references resolved to. */
  readonly ledgerTableName: string;
  readonly retryQueueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** One poll by each of the mapping's concurrent pollers; answers how many messages they handled. */
  drainOnce(): Promise<number>;
  /**
   * Stops the mapping's own polling and waits for the round in flight, so a caller that moves
   * the SQS clock and drains by hand never meets a poll still holding messages.
   */
  stopPolling(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `npm start`: the relay as the template deploys it, its functions built by
 * local/deployed-functions.ts. The SDK clients find the local endpoints through the process's
 * environment (`useLocalAws`), so one deployed relay runs per process.
 */
export async function startDeployedRelay(options: DeployedRelayOptions): Promise<DeployedRelay> {
  const clock = options.clock ?? systemClock;
  const assembly = await synthesizeStack(options.context);
  const shape = readStackShape(assembly.template, assembly.directory);
  const literal = (name: string) => {
    const value = shape.ingest.environment[name];
    if (typeof value !== "string") throw new Error(`template: ${name} is not a literal`);
    return value;
  };
  const sandbox = await startOpscomSandbox({
    clients: { [literal("OPSCOM_CLIENT_CODE")]: { tokens: [options.secrets.opscomToken] } },
    ...(options.sandboxPort === undefined ? {} : { port: options.sandboxPort }),
    ...(options.sandboxSeed === undefined ? {} : { seed: options.sandboxSeed }),
  });
  const aws = await startAwsEndpoint();
  const dynamo = options.dynamodbEndpoint === undefined ? await startDynalite() : undefined;
  useLocalAws({
    dynamodb: options.dynamodbEndpoint ?? dynamo?.endpoint,
    sqs: aws.url,
    secretsManager: aws.url,
  });
  const dynamoClient = new DynamoDBClient({});
  const functions = await loadDeployedFunctions({
    shape,
    aws,
    dynamodb: dynamoClient,
    opscomBaseUrl: sandbox.url,
    opscomToken: options.secrets.opscomToken,
    vendorSecret: options.secrets.vendorSecret,
  });
  dynamoClient.destroy();
  const { ingest, retryWorker: worker, ledgerTableName, retryQueueUrl, deadLetterQueueUrl } = functions;

  const throttle = tokenBucket(shape.gateway.rateLimit, shape.gateway.burstLimit, clock);
  const server = serve(async (event) => {
    if (!throttle()) {
      // API Gateway answers before the function; the body and header are the stack's gateway response.
      return {
        statusCode: 429,
        headers: { "content-type": "application/json", "Retry-After": "1" },
        body: '{"status":"throttled"}',
      };
    }
    const result = await withTimeout(ingest(event), shape.ingest.timeoutMs);
    // A function cut off by its timeout reaches the vendor as API Gateway's 502.
    return (
      result ?? {
        statusCode: 502,
        headers: { "content-type": "application/json" },
        body: '{"message": "Internal server error"}',
      }
    );
  });
  await new Promise<void>((done) => server.listen(options.relayPort ?? 0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;

  const sqs = new SQSClient({});
  const timedWorker = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const result = await withTimeout(worker(event), shape.retryWorker.timeoutMs);
    // Timed out: Lambda deletes nothing; the batch comes back after the visibility timeout.
    return result ?? { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
  };
  const poll = {
    batchSize: shape.eventSource.batchSize,
    reportBatchItemFailures: shape.eventSource.reportBatchItemFailures,
  };
  async function drainOnce(): Promise<number> {
    const pollers = Array.from({ length: shape.eventSource.maxConcurrency }, () =>
      pollOnce(sqs, retryQueueUrl, timedWorker, poll),
    );
    return (await Promise.all(pollers)).reduce((a, b) => a + b, 0);
  }
  let stopped = false;
  let draining = Promise.resolve();
  const interval = options.workerIntervalMs ?? 1000;
  const timer =
    interval > 0
      ? setInterval(() => {
          if (stopped) return;
          draining = draining.then(() => drainOnce().then(() => undefined)).catch(() => undefined);
        }, interval)
      : undefined;
  timer?.unref();
  async function stopPolling(): Promise<void> {
    stopped = true;
    if (timer) clearInterval(timer);
    await draining;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    sandbox,
    aws,
    assembly,
    shape,
    config: functions.config,
    ledgerTableName,
    retryQueueUrl,
    deadLetterQueueUrl,
    drainOnce,
    stopPolling,
    async close() {
      await stopPolling();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
      sqs.destroy();
      await sandbox.close();
      await aws.close();
      await dynamo?.close();
    },
  };
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((done) => {
    timer = setTimeout(() => done(undefined), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The stage's throttle: `burst` requests at once, refilled at `rate` a second. */
function tokenBucket(rate: number, burst: number, clock: Clock): () => boolean {
  let tokens = burst;
  let last = clock.now();
  return () => {
    const now = clock.now();
    tokens = Math.min(burst, tokens + ((now - last) / 1000) * rate);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

/** The HTTP side of API Gateway's REST proxy integration: request in, event to the handler, answer out. */
function serve(handle: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      handle(toRestEvent(req, Buffer.concat(chunks)))
        .then((result) => {
          res.writeHead(result.statusCode, result.headers as http.OutgoingHttpHeaders);
          res.end(result.body);
        })
        .catch(() => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end('{"status":"error"}');
        });
    });
  });
}

/** What API Gateway's REST proxy integration would hand the function (payload v1). */
export function toRestEvent(req: http.IncomingMessage, body: Buffer): APIGatewayProxyEvent {
  // A request target that is not a URL (`POST //`) still gets an answer: the handler's 404.
  let pathname = "/";
  try {
    pathname = new URL(req.url ?? "/", "http://localhost").pathname;
  } catch {
    pathname = req.url ?? "/";
  }
  const headers: Record<string, string> = {};
  // rawHeaders keeps the sender's case, as REST APIs do.
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    headers[req.rawHeaders[i] as string] = req.rawHeaders[i + 1] as string;
  const match = /^\/webhooks\/([^/]+)\/?$/.exec(pathname);
  return {
    resource: "/webhooks/{vendorId}",
    path: pathname,
    httpMethod: req.method ?? "GET",
    headers,
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: match ? { vendorId: safeDecode(match[1] as string) } : null,
    stageVariables: null,
    // As API Gateway does for text: the body as a string when it is UTF-8, base64 otherwise.
    ...(isUtf8(body)
      ? { body: body.toString("utf8"), isBase64Encoded: false }
      : { body: body.toString("base64"), isBase64Encoded: true }),
    requestContext: {
      identity: { sourceIp: req.socket.remoteAddress ?? "" },
    } as APIGatewayProxyEvent["requestContext"],
  };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
