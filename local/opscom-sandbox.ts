// A local stand-in for the OPS-COM controller API (see shared/reference/opscom-api.md).
//
// It is a real HTTP server rather than a mock so the relay's HTTP client, keep-alive
// pooling, timeouts and error classification are exercised exactly as in production.
// Tests, the local harness, chaos runs and benchmarks all share it; processes that did
// not start it drive it through the /__sandbox/* admin endpoints.
//
// This file is the OPS-COM API and the in-process handle; the fault modes, the admin endpoints
// and the HTTP plumbing live beside it in local/sandbox/.
//
// Standalone: `npx tsx local/opscom-sandbox.ts` (see main() at the bottom).

import { randomBytes, randomInt, randomUUID } from "node:crypto";
import http from "node:http";
import { mulberry32 } from "../testkit/random";
import { handleAdmin } from "./sandbox/admin";
import {
  DEFAULT_FAULT_MODES,
  DEFAULT_LATENCY_FAULT_MS,
  type FaultConfig,
  type FaultMode,
  faultLabel,
  injectFault,
  parseFaultConfig,
  parseFaultMode,
} from "./sandbox/faults";
import {
  copyHeaders,
  decodeSegment,
  parseJsonObject,
  readBody,
  SandboxInputError,
  sendJson,
} from "./sandbox/wire";

export { DEFAULT_FAULT_MODES, type FaultConfig, type FaultMode, SandboxInputError };

export interface SandboxOptions {
  /** Port to listen on; the host is always 127.0.0.1. @default 0 (ephemeral) */
  port?: number;
  /** clientCode -> accepted API tokens. @default { "OC-TOMA": { tokens: [<generated 40-char token>] } } */
  clients?: Record<string, { tokens: string[] }>;
  /** HTTP status that carries an ErrorCode body; OPS-COM does not document it. @default 400 */
  errorHttpStatus?: number;
  /** Seeds the RNG behind `failureRate`, so a run can be replayed. @default random */
  seed?: number;
  /**
   * Delete requests in flight above this many get `429` with Retry-After, as a rate-limited
   * API would (the burst test's stampede detector). @default unlimited
   */
  maxConcurrentDeletes?: number;
}

export interface SandboxStats {
  /** Every request to .../permits/delete, faulted or not. */
  deleteRequests: number;
  deletesSucceeded: number;
  /** Successful deletes per reference ID, to prove "exactly once". */
  deletesByReference: Record<string, number>;
  /** ErrorCode answers the sandbox's own validation gave to delete requests (injected ones are in faultsInjected). */
  errorsByCode: Record<string, number>;
  /** Faults chosen for delete requests, keyed by mode ("http503", "errorCode:9002", ...). */
  faultsInjected: Record<string, number>;
  /** Requests to .../permits/push. */
  pushRequests: number;
  /** New TCP connections accepted since start or the last reset (proves keep-alive reuse). */
  connections: number;
  /** Most delete requests in flight at once. */
  peakConcurrentDeletes: number;
  /** Delete requests answered 429 for going over `maxConcurrentDeletes`. */
  concurrencyRejections: number;
  /** Headers of the last delete request, lower-case names, credentials-style headers redacted. */
  lastRequestHeaders?: Record<string, string>;
}

export interface OpscomSandbox {
  /** e.g. http://127.0.0.1:4010 */
  readonly url: string;
  readonly port: number;
  /** The first configured client code; the default for the methods below. */
  readonly defaultClientCode: string;
  /** Creates a permit and returns its reference ID (uuid v4 format). */
  createPermit(clientCode?: string): string;
  hasPermit(referenceId: string, clientCode?: string): boolean;
  /** Replaces a client's tokens (rotation: the old ones then get 9002); adds the client if new. */
  setTokens(clientCode: string, tokens: string[]): void;
  tokensFor(clientCode: string): string[];
  /** Replaces the standing fault config. */
  setFaults(config: FaultConfig): void;
  /** The next delete requests get these, in order, before any standing fault. */
  queueFaults(...modes: FaultMode[]): void;
  /** Clears the standing config and the queue. */
  clearFaults(): void;
  stats(): SandboxStats;
  resetStats(): void;
  /** Closes the server and every open socket, hung ones included. */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const DEFAULT_CLIENT_CODE = "OC-TOMA";
const MAX_REFERENCE_LENGTH = 50;
const REFERENCE_PATTERN = /^[A-Za-z0-9-]+$/;
const PERMITS_PATH = /^\/api\/([^/]*)\/v1\/permits\/([^/]+)$/;

// Messages for 9001, 9003 and 9009 are OPS-COM's own; the others are paraphrased from its table.
const ERROR_MESSAGES: Record<number, string> = {
  9000: "Client code is missing from the request.",
  9001: "API Token is missing from the request.",
  9002: "API Token does not have permission for this request.",
  9003: "The request could not be parsed.",
  9008: "Reference ID is required.",
  9009: "Record not found.",
  9030: "Reference ID exceeds the maximum length of 50 characters.",
  9031: "A required field is missing.",
  9032: "A field is below its minimum length.",
  9033: "Reference ID is invalid.",
};

interface ClientState {
  tokens: string[];
  permits: Set<string>;
}

type Reply = { status: number; body: Record<string, unknown>; errorCode?: number };

export async function startOpscomSandbox(options: SandboxOptions = {}): Promise<OpscomSandbox> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SandboxInputError(`port must be an integer 0..65535, got ${port}`);
  }
  const errorHttpStatus = options.errorHttpStatus ?? 400;
  if (!Number.isInteger(errorHttpStatus) || errorHttpStatus < 200 || errorHttpStatus > 599) {
    throw new SandboxInputError(`errorHttpStatus must be an integer 200..599, got ${errorHttpStatus}`);
  }
  if (options.seed !== undefined && !Number.isFinite(options.seed)) {
    throw new SandboxInputError("seed must be a finite number");
  }

  const clients = new Map<string, ClientState>();
  for (const [code, client] of Object.entries(
    options.clients ?? { [DEFAULT_CLIENT_CODE]: { tokens: [generateToken()] } },
  )) {
    if (code === "") throw new SandboxInputError("client codes must not be empty");
    clients.set(code, { tokens: checkTokens(client?.tokens), permits: new Set() });
  }
  const [defaultClientCode] = clients.keys();
  if (defaultClientCode === undefined)
    throw new SandboxInputError("clients must name at least one client code");

  // Re-seeding on setFaults makes "same seed + same config + same requests" give the same faults,
  // even when one sandbox serves several runs. Unseeded sandboxes just keep drawing.
  const seed = options.seed ?? randomInt(2 ** 32);
  let rng = mulberry32(seed);
  let standing: FaultConfig = {};
  let queued: FaultMode[] = [];
  let stats = emptyStats();
  // Requests each keep-alive socket has carried, so staleSocket can tell a reused one.
  const served = new WeakMap<object, number>();
  const timers = new Set<NodeJS.Timeout>();
  let closing: Promise<void> | undefined;

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { message: "Internal Server Error" });
    });
  });
  server.on("connection", () => {
    stats.connections += 1;
  });

  let deletesInFlight = 0;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Not `new URL(...)`: it would normalise away the empty client code in /api//v1/...
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const permits = PERMITS_PATH.exec(path);
    if (permits) return handlePermits(req, res, decodeSegment(permits[1] ?? ""), permits[2] ?? "");
    if (path.startsWith("/__sandbox/")) return handleAdmin(req, res, path, sandbox, state);
    sendJson(res, 404, { message: "Not Found" });
  }

  // ---- the OPS-COM API ------------------------------------------------------------------------

  async function handlePermits(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    clientCode: string,
    action: string,
  ): Promise<void> {
    if (action !== "delete" && action !== "push") return sendJson(res, 404, { message: "Not Found" });
    if (req.method !== "POST")
      return sendJson(res, 405, { message: "Method Not Allowed" }, { allow: "POST" });

    // The fault is chosen on arrival so queued faults follow request order, not body-arrival order.
    const reused = (served.get(req.socket) ?? 0) > 0;
    served.set(req.socket, (served.get(req.socket) ?? 0) + 1);
    let fault: FaultMode | undefined;
    if (action === "delete") {
      deletesInFlight += 1;
      res.once("close", () => {
        deletesInFlight -= 1;
      });
      stats.peakConcurrentDeletes = Math.max(stats.peakConcurrentDeletes, deletesInFlight);
      if (deletesInFlight > (options.maxConcurrentDeletes ?? Number.POSITIVE_INFINITY)) {
        stats.concurrencyRejections += 1;
        return sendJson(res, 429, { message: "Too Many Requests" }, { "retry-after": "1" });
      }
      stats.deleteRequests += 1;
      stats.lastRequestHeaders = copyHeaders(req.headers);
      fault = nextFault();
      if (fault === "staleSocket" && !reused) fault = undefined;
      if (fault !== undefined) increment(stats.faultsInjected, faultLabel(fault));
    } else {
      stats.pushRequests += 1;
    }
    // Before the body is read: the request never reached anything that could act on it.
    if (fault === "staleSocket") {
      req.socket.resetAndDestroy();
      return;
    }

    const raw = await readBody(req);
    const delay =
      (standing.latencyMs ?? 0) +
      (fault === "latency" ? (standing.latencyFaultMs ?? DEFAULT_LATENCY_FAULT_MS) : 0);
    // A client that gives up during the delay does not stop the work: the real API would still
    // delete the permit, and that ambiguous outcome is exactly what exactly-once tests need.
    if (delay > 0) await sleep(delay);

    if (raw === undefined) return sendJson(res, 413, { message: "Payload Too Large" });
    if (fault !== undefined && fault !== "latency") return injectFault(req, res, fault, errorReply);

    const reply = action === "delete" ? deletePermit(clientCode, raw) : pushPermit(clientCode, raw);
    if (action === "delete") {
      if (reply.errorCode !== undefined) increment(stats.errorsByCode, String(reply.errorCode));
      else stats.deletesSucceeded += 1;
    }
    sendJson(res, reply.status, reply.body);
  }

  function deletePermit(clientCode: string, raw: string): Reply {
    const checked = authorize(clientCode, raw);
    if ("status" in checked) return checked;
    const { client, body } = checked;

    const ref = body.referenceID ?? body.referenceid ?? body.reference_id;
    if (ref === undefined || ref === null || ref === "") return errorReply(9008);
    if (typeof ref !== "string") return errorReply(9033);
    if (ref.length > MAX_REFERENCE_LENGTH) return errorReply(9030);
    if (!REFERENCE_PATTERN.test(ref)) return errorReply(9033);
    if (!client.permits.delete(ref)) return errorReply(9009);

    increment(stats.deletesByReference, ref);
    return successReply(ref);
  }

  function pushPermit(clientCode: string, raw: string): Reply {
    const checked = authorize(clientCode, raw);
    if ("status" in checked) return checked;
    const ref = randomUUID();
    checked.client.permits.add(ref);
    return successReply(ref);
  }

  // The order matters and is part of the contract: parse, client code, token presence, token validity.
  function authorize(
    clientCode: string,
    raw: string,
  ): Reply | { client: ClientState; body: Record<string, unknown> } {
    const body = parseJsonObject(raw);
    if (body === undefined) return errorReply(9003);
    if (clientCode === "") return errorReply(9000);
    const token = body.apiToken;
    if (token === undefined || token === null || token === "") return errorReply(9001);
    const client = clients.get(clientCode);
    if (client === undefined || typeof token !== "string" || !client.tokens.includes(token))
      return errorReply(9002);
    return { client, body };
  }

  function errorReply(code: number, message?: string): Reply {
    return {
      status: errorHttpStatus,
      body: { ErrorCode: code, ErrorMessage: message ?? ERROR_MESSAGES[code] ?? "Injected error." },
      errorCode: code,
    };
  }

  // ---- faults -----------------------------------------------------------------------------------

  function nextFault(): FaultMode | undefined {
    const next = queued.shift();
    if (next !== undefined) return next;
    const rate = standing.failureRate ?? 0;
    if (rate <= 0 || rng() >= rate) return undefined;
    const modes = standing.modes ?? DEFAULT_FAULT_MODES;
    return modes[Math.floor(rng() * modes.length)];
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  }

  // ---- admin endpoints (for processes that did not start the sandbox) ----------------------------

  function state() {
    let permitCount = 0;
    for (const client of clients.values()) permitCount += client.permits.size;
    return {
      stats: sandbox.stats(),
      permitCount,
      clientCodes: [...clients.keys()],
      faults: { standing: structuredClone(standing), queued: structuredClone(queued) },
    };
  }

  // ---- lifecycle and the in-process API ----------------------------------------------------------

  let boundPort = 0;
  const sandbox: OpscomSandbox = {
    get url() {
      return `http://${HOST}:${boundPort}`;
    },
    get port() {
      return boundPort;
    },
    defaultClientCode,

    createPermit(clientCode = defaultClientCode) {
      const client = clients.get(clientCode);
      if (client === undefined) throw new SandboxInputError(`unknown client code: ${clientCode}`);
      const ref = randomUUID();
      client.permits.add(ref);
      return ref;
    },

    hasPermit(referenceId, clientCode = defaultClientCode) {
      return clients.get(clientCode)?.permits.has(referenceId) ?? false;
    },

    setTokens(clientCode, tokens) {
      if (typeof clientCode !== "string" || clientCode === "") {
        throw new SandboxInputError("client code must be a non-empty string");
      }
      const checked = checkTokens(tokens);
      const client = clients.get(clientCode);
      if (client) client.tokens = checked;
      else clients.set(clientCode, { tokens: checked, permits: new Set() });
    },

    tokensFor(clientCode) {
      return [...(clients.get(clientCode)?.tokens ?? [])];
    },

    setFaults(config) {
      standing = parseFaultConfig(config);
      if (options.seed !== undefined) rng = mulberry32(seed);
    },

    queueFaults(...modes) {
      queued.push(...modes.map((mode, i) => parseFaultMode(mode, `modes[${i}]`)));
    },

    clearFaults() {
      standing = {};
      queued = [];
    },

    stats() {
      return structuredClone(stats);
    },

    resetStats() {
      stats = emptyStats();
    },

    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        // Hung and keep-alive sockets would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("sandbox did not bind a TCP port");
  boundPort = address.port;
  return sandbox;
}

// ---- helpers ---------------------------------------------------------------------------------------

function emptyStats(): SandboxStats {
  return {
    deleteRequests: 0,
    deletesSucceeded: 0,
    deletesByReference: {},
    errorsByCode: {},
    faultsInjected: {},
    pushRequests: 0,
    connections: 0,
    peakConcurrentDeletes: 0,
    concurrencyRejections: 0,
  };
}

function successReply(ref: string): Reply {
  return { status: 200, body: { status: "success", reference_id: ref, InternalReferenceID: ref } };
}

/** 40 hex characters: inside OPS-COM's "50-character alphanumeric including dashes". */
export function generateToken(): string {
  return randomBytes(20).toString("hex");
}

function checkTokens(tokens: unknown): string[] {
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string" && t !== "")) {
    throw new SandboxInputError("tokens must be an array of non-empty strings");
  }
  return [...tokens];
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

// ---- standalone --------------------------------------------------------------------------------------

// Env: OPSCOM_SANDBOX_PORT (default 4010), OPSCOM_CLIENT_CODE (default OC-TOMA),
// OPSCOM_SANDBOX_TOKEN (default generated; pin it so a running relay survives a restart),
// OPSCOM_SANDBOX_SEED (replayable failureRate faults set through the admin endpoints).
async function main(): Promise<void> {
  const port = envInteger("OPSCOM_SANDBOX_PORT", 4010);
  const seed = process.env.OPSCOM_SANDBOX_SEED ? envInteger("OPSCOM_SANDBOX_SEED", 0) : undefined;
  const clientCode = process.env.OPSCOM_CLIENT_CODE || DEFAULT_CLIENT_CODE;
  const token = process.env.OPSCOM_SANDBOX_TOKEN || generateToken();
  const sandbox = await startOpscomSandbox({ port, seed, clients: { [clientCode]: { tokens: [token] } } });
  // A dev tool: printing the sandbox's own throwaway token is the point.
  process.stdout.write(
    `OPS-COM sandbox listening on ${sandbox.url}\n` +
      `  client code: ${clientCode}\n` +
      `  API token:   ${token}\n` +
      `  state:       GET ${sandbox.url}/__sandbox/state\n`,
  );
  const stop = () => {
    void sandbox.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function envInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new SandboxInputError(`${name} must be an integer, got "${raw}"`);
  return value;
}

// `typeof` guards: vitest loads this file without CommonJS globals.
// Run as a script only when this very file is the entry point: inside an esbuild bundle
// `require.main === module` is true for whatever the bundle's entry is.
if (
  typeof require !== "undefined" &&
  typeof module !== "undefined" &&
  require.main === module &&
  /opscom-sandbox\.[cm]?[jt]s$/.test(process.argv[1] ?? "")
) {
  main().catch((error: unknown) => {
    process.stderr.write(`opscom-sandbox: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
