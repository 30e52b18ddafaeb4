// The relay on your machine: an HTTP server that turns requests into API Gateway REST events
// and calls the same ingest handler the Lambda runs, a worker loop that drains the in-memory
// retry queue through the same retry worker, and the OPS-COM sandbox behind both.
import { isUtf8 } from "node:buffer";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../lambda/adapters/memory";
import { createOpscomHttpClient } from "../lambda/adapters/opscom-http";
import { loadConfig, type RelayConfig } from "../lambda/config";
import { createIngestHandler, type IngestHandler } from "../lambda/ingest-core";
import { type Clock, type SecretSource, systemClock } from "../lambda/ports";
import { createRetryWorker, type RetryWorkerHandler } from "../lambda/retry-core";
import { parseTokenSecret, SecretCache } from "../lambda/secret-cache";
import { createPowertoolsTelemetry, type Telemetry } from "../lambda/telemetry";
import { type OpscomSandbox, startOpscomSandbox } from "./opscom-sandbox";
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
  /** The ledger's bound on records kept; runs lower it to exercise the pruning. */
  readonly ledgerRecords?: number;
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
  const ledger = new MemoryLedger(options.ledgerRecords ?? LOCAL_LEDGER_RECORDS);
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

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      ingest(toRestEvent(req, Buffer.concat(chunks)))
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
