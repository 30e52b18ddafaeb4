/**
 * A small local stand-in for AWS Secrets Manager and SQS, speaking the same JSON wire protocols as
 * the real services so the real SDK v3 clients work against it unchanged: point
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL_SQS` at `url` (any credentials; signatures
 * are not checked). It implements what the relay, the CLIs, the console, the harness and the runs
 * call, no more (see `secrets-manager.ts` and `sqs.ts`).
 *
 * Time is virtual: every delay, visibility timeout and retention period is measured against
 * `Date.now() + offset`, and `advanceClock` moves the offset so a test can skip minutes without
 * sleeping.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AwsError, type Clock, isObject, type Json } from "./protocol";
import { SECRETS_MANAGER_OPERATIONS, SecretsManagerService } from "./secrets-manager";
import { SQS_OPERATIONS, SQS_QUERY_ERRORS, SqsService } from "./sqs";

export interface AwsEndpoint {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;

  /** Creates the secret, or makes `secretString` its new AWSCURRENT value; returns its ARN. */
  putSecret(name: string, secretString: string): string;
  /** Deletes the secret (name or ARN) immediately; does nothing if there is none. */
  deleteSecret(name: string): void;
  /** GetSecretValue requests received (failed ones included), for one secret by name or ARN, or all. */
  getSecretValueCalls(name?: string): number;

  /** Creates the queue (as CreateQueue would) and returns its URL `${url}/000000000000/${name}`. */
  createQueue(name: string, attributes?: Record<string, string>): string;
  queueStats(nameOrUrl: string): { visible: number; inFlight: number; delayed: number; total: number };
  /** When the next message not visible now becomes visible (on `now()`'s clock); undefined if none waits. */
  nextVisibleAt(nameOrUrl: string): number | undefined;
  /** Every message the queue holds, in any state, in arrival order; receives nothing. */
  peekMessages(nameOrUrl: string): Array<{ messageId: string; body: string; receiveCount: number }>;
  /**
   * The next `count` requests for `operation` (e.g. "SendMessage", "GetSecretValue") fail with
   * `errorType` (default: a 500 `InternalError` for SQS, `InternalServiceError` for Secrets Manager).
   * The SDK retries 5xx and throttling errors (3 attempts by default), and each attempt uses one.
   */
  failNext(operation: string, count?: number, errorType?: string): void;
  /**
   * The next request for `operation` is read and never answered, as from an endpoint that
   * accepts and stalls; its connection is reset after `holdMs` of wall time (the SDK's own
   * timeouts are wall time) or on close.
   */
  stallNext(operation: string, holdMs: number): void;
  /** Requests received per operation name (failed ones included). */
  callCounts(): Record<string, number>;
  /** Moves the virtual clock forward. */
  advanceClock(ms: number): void;
  /** The virtual clock: `Date.now()` plus every `advanceClock` so far. */
  now(): number;
  close(): Promise<void>;
}

type ServiceName = "secretsmanager" | "sqs";

const INTERNAL_ERRORS: Record<string, number> = {
  InternalError: 500,
  InternalFailure: 500,
  InternalServiceError: 500,
  ServiceUnavailable: 503,
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function contentType(service: ServiceName): string {
  return service === "sqs" ? "application/x-amz-json-1.0" : "application/x-amz-json-1.1";
}

function sendJson(res: ServerResponse, service: ServiceName, body: Json): void {
  if (res.destroyed) return;
  res.writeHead(200, { "content-type": contentType(service), "x-amzn-requestid": randomUUID() });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, service: ServiceName, error: AwsError): void {
  if (res.destroyed) return;
  const headers: Record<string, string> = {
    "content-type": contentType(service),
    "x-amzn-requestid": randomUUID(),
  };
  let status = INTERNAL_ERRORS[error.code] ?? error.status;
  let body: Json;
  if (service === "sqs") {
    const [queryCode, queryStatus] = SQS_QUERY_ERRORS[error.code] ?? [error.code, status];
    status = queryStatus;
    headers["x-amzn-query-error"] = `${queryCode};${status >= 500 ? "Receiver" : "Sender"}`;
    body = { __type: `com.amazonaws.sqs#${error.code}`, message: error.message };
  } else {
    body = { __type: error.code, Message: error.message };
  }
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

/** Starts the endpoint on 127.0.0.1 (`port` 0, the default, picks a free one). */
export async function startAwsEndpoint(options: { port?: number } = {}): Promise<AwsEndpoint> {
  let clockOffset = 0;
  const now: Clock = () => Date.now() + clockOffset;
  const counts: Record<string, number> = {};
  const failures = new Map<string, string[]>();
  const stalls = new Map<string, number[]>();
  const stallTimers = new Set<NodeJS.Timeout>();

  const server = createServer();
  // Longer than the SDK keeps an idle socket, so a reused connection is never closed under it.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const secretsManager = new SecretsManagerService(now);
  const sqs = new SqsService(now, url);

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = String(req.headers["x-amz-target"] ?? "");
    const [prefix = "", operation = ""] = target.split(".", 2);
    const service: ServiceName = prefix === "AmazonSQS" ? "sqs" : "secretsmanager";
    const raw = await readBody(req);
    if (prefix !== "AmazonSQS" && prefix !== "secretsmanager") {
      sendError(res, service, new AwsError("UnknownOperationException", `Unknown X-Amz-Target "${target}".`));
      return;
    }
    counts[operation] = (counts[operation] ?? 0) + 1;
    let input: unknown;
    try {
      input = raw === "" ? {} : JSON.parse(raw);
    } catch {
      input = undefined;
    }
    if (!isObject(input)) {
      sendError(
        res,
        service,
        new AwsError("SerializationException", "The request body is not a JSON object."),
      );
      return;
    }
    // Counted even when it is about to fail or stall, as the real service would have seen the call.
    const injected = failures.get(operation)?.shift();
    const holdMs = injected === undefined ? stalls.get(operation)?.shift() : undefined;
    const faulted = injected !== undefined || holdMs !== undefined;
    if (faulted && service === "secretsmanager" && operation === "GetSecretValue")
      secretsManager.recordGetSecretValue(input);
    if (holdMs !== undefined) {
      const timer = setTimeout(() => {
        stallTimers.delete(timer);
        req.socket.resetAndDestroy();
      }, holdMs);
      stallTimers.add(timer);
      return;
    }
    if (injected !== undefined) {
      sendError(res, service, new AwsError(injected, `Injected failure for ${operation}.`));
      return;
    }
    try {
      const output =
        service === "sqs" ? sqs.handle(operation, input) : secretsManager.handle(operation, input);
      sendJson(res, service, output);
    } catch (error) {
      const known =
        error instanceof AwsError
          ? error
          : new AwsError(service === "sqs" ? "InternalError" : "InternalServiceError", String(error), 500);
      sendError(res, service, known);
    }
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    handleRequest(req, res).catch(() => {
      // Only reading the request body can fail here; the client has gone or sent garbage.
      res.destroy();
    });
  });

  const known = (operation: string) =>
    [...SQS_OPERATIONS, ...SECRETS_MANAGER_OPERATIONS].some((name) => name === operation);

  return {
    url,
    port,
    putSecret: (name, secretString) => secretsManager.putSecret(name, secretString),
    deleteSecret: (name) => secretsManager.deleteSecret(name),
    getSecretValueCalls: (name) => secretsManager.getSecretValueCalls(name),
    createQueue: (name, attributes) => sqs.createQueue(name, attributes),
    queueStats: (nameOrUrl) => sqs.queueStats(nameOrUrl),
    nextVisibleAt: (nameOrUrl) => sqs.nextVisibleAt(nameOrUrl),
    peekMessages: (nameOrUrl) => sqs.peekMessages(nameOrUrl),
    failNext(operation, count = 1, errorType) {
      if (!known(operation)) throw new Error(`failNext: unknown operation "${operation}"`);
      const isSqs = SQS_OPERATIONS.some((name) => name === operation);
      const type = errorType ?? (isSqs ? "InternalError" : "InternalServiceError");
      failures.set(operation, [...(failures.get(operation) ?? []), ...Array<string>(count).fill(type)]);
    },
    stallNext(operation, holdMs) {
      if (!known(operation)) throw new Error(`stallNext: unknown operation "${operation}"`);
      stalls.set(operation, [...(stalls.get(operation) ?? []), holdMs]);
    },
    callCounts: () => ({ ...counts }),
    advanceClock(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error("advanceClock: ms must be a non-negative number");
      clockOffset += ms;
    },
    now,
    async close() {
      for (const timer of stallTimers) clearTimeout(timer);
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
