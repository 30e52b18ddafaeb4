// OPS-COM Permit Delete over HTTP. One keep-alive agent per client, created at module scope
// by the handler, so warm invocations reuse the TLS connection instead of paying a handshake.
// node:http(s) rather than fetch: it is already loaded at start-up and lets us own the pool.
import http from "node:http";
import https from "node:https";
import type { AttemptOptions, DeleteRequest, OpscomClient, OpscomOutcome } from "../ports";

const TOKEN_CODES = new Set([9000, 9001, 9002]);
const NOT_FOUND = 9009;
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface OpscomHttpOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxSockets?: number;
}

export function createOpscomHttpClient(options: OpscomHttpOptions): OpscomClient & { close(): void } {
  const base = new URL(options.baseUrl);
  const secure = base.protocol === "https:";
  const transport = secure ? https : http;
  const agent = new transport.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 64,
    keepAliveMsecs: 1000,
  });
  const basePath = base.pathname.replace(/\/+$/, "");

  function deletePermit(request: DeleteRequest, attempt: AttemptOptions = {}): Promise<OpscomOutcome> {
    const timeoutMs = Math.min(options.timeoutMs, attempt.timeoutMs ?? options.timeoutMs);
    const payload = JSON.stringify({ apiToken: request.token, referenceID: request.referenceId });
    return new Promise<OpscomOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: OpscomOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = transport.request(
        {
          agent,
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
          res.on("end", () => finish(classify(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"))));
          res.on("error", () => finish({ kind: "transient", reason: "response aborted" }));
        },
      );
      // A hard deadline for the whole exchange, not only socket inactivity.
      const timer = setTimeout(() => {
        finish({ kind: "transient", reason: `timeout after ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      req.on("error", (error: NodeJS.ErrnoException) =>
        finish({ kind: "transient", reason: `network error ${error.code ?? error.name}` }),
      );
      req.end(payload);
    });
  }

  return { deletePermit, close: () => agent.destroy() };
}

/**
 * Classifies an OPS-COM answer: by the body's ErrorCode first (it can arrive on a 200 as
 * well as on a 4xx/5xx), by the HTTP status only when there is none.
 */
export function classify(httpStatus: number, text: string): OpscomOutcome {
  const body = parseObject(text);
  const code = body ? errorCode(body.ErrorCode) : undefined;
  if (code !== undefined) {
    const message = typeof body?.ErrorMessage === "string" ? body.ErrorMessage.slice(0, 300) : "";
    if (code === NOT_FOUND) return { kind: "not_found", code, message };
    if (TOKEN_CODES.has(code)) return { kind: "token_rejected", code, message };
    return { kind: "rejected", code, message, httpStatus };
  }
  if (httpStatus === 429 || httpStatus === 408 || httpStatus >= 500) {
    return { kind: "transient", reason: `HTTP ${httpStatus}`, httpStatus };
  }
  if (httpStatus >= 200 && httpStatus < 300) {
    if (body && typeof body.status === "string" && body.status.toLowerCase() === "success") {
      return { kind: "deleted", httpStatus };
    }
    // A 2xx we cannot read (a proxy page, an empty body) proves nothing: try again later;
    // if the delete did happen, the retry will learn so from 9009.
    return { kind: "transient", reason: `unrecognised HTTP ${httpStatus} answer`, httpStatus };
  }
  return { kind: "rejected", message: `HTTP ${httpStatus} without an OPS-COM error code`, httpStatus };
}

function errorCode(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && /^\d{1,6}$/.test(value)) return Number(value);
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
