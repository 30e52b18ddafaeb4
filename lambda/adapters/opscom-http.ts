// OPS-COM Permit Delete over HTTP. One keep-alive agent per client, created at module scope
// by the handler, so warm invocations reuse the TLS connection instead of paying a handshake.
// node:http(s) rather than fetch: it is already loaded at start-up and lets us own the pool.
import http from "node:http";
import https from "node:https";
import type { AttemptOptions, DeleteRequest, OpscomClient, OpscomOutcome } from "../ports";

const TOKEN_CODES = new Set([9000, 9001, 9002]);
const NOT_FOUND = 9009;
const MAX_RESPONSE_BYTES = 64 * 1024;
const MESSAGE_CHARS = 300;
const EXCERPT_CHARS = 80;
const REDACTED = "[redacted]";

/**
 * How long a pooled socket may sit idle before the agent closes it. An AWS NAT gateway forgets
 * an idle flow after 350 s, many firewalls and load balancers sooner (60 s is common), and a
 * forgotten flow answers the next write with a reset; 30 s stays under all of those while
 * still sparing a steady trickle of webhooks a TLS handshake each. A frozen Lambda cannot run
 * this timer, so the reused-socket retry below covers what it misses.
 */
export const IDLE_SOCKET_TIMEOUT_MS = 30_000;

/** What a write to a socket the peer no longer knows fails with; "socket hang up" is ECONNRESET. */
const FORGOTTEN_SOCKET_CODES = new Set(["ECONNRESET", "EPIPE"]);

export interface OpscomHttpOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxSockets?: number;
  /** @default IDLE_SOCKET_TIMEOUT_MS */
  readonly idleSocketTimeoutMs?: number;
}

export function createOpscomHttpClient(options: OpscomHttpOptions): OpscomClient & { close(): void } {
  const base = new URL(options.baseUrl);
  const secure = base.protocol === "https:";
  const transport = secure ? https : http;
  const agent = new transport.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 64,
    keepAliveMsecs: 1000,
    timeout: options.idleSocketTimeoutMs ?? IDLE_SOCKET_TIMEOUT_MS,
  });
  const basePath = base.pathname.replace(/\/+$/, "");

  function deletePermit(request: DeleteRequest, attempt: AttemptOptions = {}): Promise<OpscomOutcome> {
    const timeoutMs = Math.min(options.timeoutMs, attempt.timeoutMs ?? options.timeoutMs);
    const payload = JSON.stringify({ apiToken: request.token, referenceID: request.referenceId });
    return new Promise<OpscomOutcome>((resolve) => {
      let settled = false;
      let current: http.ClientRequest | undefined;
      const finish = (outcome: OpscomOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      // A hard deadline for the whole exchange, the fresh-connection retry included, not only
      // socket inactivity.
      const timer = setTimeout(() => {
        finish({ kind: "transient", reason: `timeout after ${timeoutMs} ms` });
        current?.destroy();
      }, timeoutMs);

      const send = (fresh: boolean) => {
        const req = transport.request(
          {
            // `false` opens a one-off connection, so the retry cannot draw another stale socket.
            agent: fresh ? false : agent,
            protocol: base.protocol,
            hostname: base.hostname,
            port: base.port || undefined,
            method: "POST",
            path: `${basePath}/api/${encodeURIComponent(request.clientCode)}/v1/permits/delete`,
            headers: {
              "content-type": "application/json",
              accept: "application/json",
              "cache-control": "no-cache",
              "content-length": Buffer.byteLength(payload),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (chunk: Buffer) => {
              size += chunk.length;
              if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
            });
            res.on("end", () =>
              finish(classify(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"), request.token)),
            );
            res.on("error", () => finish({ kind: "transient", reason: "response aborted" }));
          },
        );
        current = req;
        // Bytes the socket had read before this request (earlier answers on a reused socket):
        // any more by the time it fails means OPS-COM began to answer, and may have acted.
        let socket: { readonly bytesRead: number } | undefined;
        let bytesBefore = 0;
        req.on("socket", (s) => {
          socket = s;
          bytesBefore = s.bytesRead;
        });
        req.on("error", (error: NodeJS.ErrnoException) => {
          // A pooled socket the peer or a NAT forgot fails on its first write. Nothing of the
          // answer arrived, so trying once more, at once, on a new connection is safe (a delete
          // that did happen answers 9009) and saves the worker a whole backoff step.
          const forgotten =
            !fresh &&
            req.reusedSocket &&
            FORGOTTEN_SOCKET_CODES.has(error.code ?? "") &&
            (socket?.bytesRead ?? bytesBefore) === bytesBefore;
          if (forgotten && !settled) return send(true);
          finish({ kind: "transient", reason: `network error ${error.code ?? error.name}` });
        });
        req.end(payload);
      };
      send(false);
    });
  }

  return { deletePermit, close: () => agent.destroy() };
}

/**
 * Classifies an OPS-COM answer. A success body on a 2xx is a delete whatever else it carries;
 * otherwise the body's ErrorCode decides (it can arrive on a 200 as well as on a 4xx/5xx).
 * Without either, nothing proves OPS-COM wrote the answer: a WAF or maintenance page, a wrong
 * base URL or path prefix. Rejecting on that would mark the delete done and tell the vendor
 * never to retry, so it is parked like any transient fault and flagged `unrecognised` for its
 * own metric; 5xx, 429 and 408 are ordinary transient faults whoever wrote them.
 *
 * Text taken from the answer reaches the vendor, the log and the ledger, and an answer may
 * echo the request, so the request's `token` is redacted from it before it is cut to length
 * (a cut must not leave half a token behind).
 */
export function classify(httpStatus: number, text: string, token = ""): OpscomOutcome {
  const body = parseObject(text);
  const success = typeof body?.status === "string" && body.status.toLowerCase() === "success";
  if (success && httpStatus >= 200 && httpStatus < 300) return { kind: "deleted", httpStatus };
  const code = body ? errorCode(body.ErrorCode) : undefined;
  if (code !== undefined) {
    const message =
      typeof body?.ErrorMessage === "string" ? redact(body.ErrorMessage, token).slice(0, MESSAGE_CHARS) : "";
    if (code === NOT_FOUND) return { kind: "not_found", code, message };
    if (TOKEN_CODES.has(code)) return { kind: "token_rejected", code, message };
    return { kind: "rejected", code, message, httpStatus };
  }
  if (httpStatus === 429 || httpStatus === 408 || httpStatus >= 500) {
    return { kind: "transient", reason: `HTTP ${httpStatus}`, httpStatus };
  }
  // If a parked delete did happen after all, the retry learns so from 9009. The excerpt tells
  // on-call whose page it was (a WAF, a maintenance page, a wrong host).
  const hint = excerpt(text, token);
  return {
    kind: "transient",
    reason: `HTTP ${httpStatus} answer OPS-COM did not write${hint ? `: ${JSON.stringify(hint)}` : ""}`,
    httpStatus,
    unrecognised: true,
  };
}

/** One line of a foreign answer: an HTML page's title, else its first characters. */
function excerpt(text: string, token: string): string {
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text)?.[1];
  return redact(title ?? text, token)
    .replace(/[\s\p{Cc}]+/gu, " ")
    .trim()
    .slice(0, EXCERPT_CHARS);
}

/** Case-insensitive, in case an echo changes the token's case. */
function redact(text: string, token: string): string {
  if (!token) return text;
  const pattern = new RegExp(token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
  return text.replace(pattern, REDACTED);
}

/** OPS-COM's error codes are positive integers; 0 (or a sign) is no error code at all. */
function errorCode(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value > 0) return value;
  if (typeof value === "string" && /^\d{1,6}$/.test(value) && Number(value) > 0) return Number(value);
  return undefined;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
