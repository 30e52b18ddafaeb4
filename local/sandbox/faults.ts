// The sandbox's fault modes: what each one looks like on the wire, and how a fault config
// (from a test or from the admin endpoint) is checked before it can silently disable a run.

import type http from "node:http";
import { isObject, SandboxInputError, send, sendJson } from "./wire";

export type FaultMode =
  | "latency"
  | "http500"
  | "http502"
  | "http503"
  | "http429"
  | "reset"
  | "hang"
  | "html502"
  // A 403 or 404 page that OPS-COM did not write: a WAF challenge, a wrong base URL or path prefix.
  | "html403"
  | "html404"
  // A NAT or load balancer that forgot an idle kept-alive connection: a request arriving on a
  // reused socket is reset before it is read, so the client fails before any answer byte. A
  // request on a fresh connection cannot meet a forgotten one and is answered as normal.
  | "staleSocket"
  | { errorCode: number; message?: string };

export interface FaultConfig {
  /** Added to every permits/* request. */
  latencyMs?: number;
  /** Extra delay of the "latency" fault mode, on top of `latencyMs`. @default 1000 */
  latencyFaultMs?: number;
  /** 0..1, probability that a delete request gets a fault from `modes`. */
  failureRate?: number;
  /** Picked uniformly when `failureRate` hits. @default DEFAULT_FAULT_MODES */
  modes?: FaultMode[];
}
/** The transient modes `failureRate` picks from when `modes` is not given. */
export const DEFAULT_FAULT_MODES: readonly FaultMode[] = Object.freeze([
  "http500",
  "http502",
  "http503",
  "http429",
  "reset",
  "hang",
  "html502",
]);

export const DEFAULT_LATENCY_FAULT_MS = 1000;

/** Every mode named by a string: the default transient ones, and those a caller picks on purpose. */
const STRING_MODES = new Set<string>([
  ...DEFAULT_FAULT_MODES.flatMap((mode) => (typeof mode === "string" ? [mode] : [])),
  "latency",
  "html403",
  "html404",
  "staleSocket",
]);
const HTML_502 =
  "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>" +
  "<hr><center>nginx</center></body></html>\n";

const HTML_403 =
  "<!DOCTYPE html><html><head><title>Attention Required</title></head><body><h1>Sorry, you have been blocked</h1>" +
  "<p>This request was blocked by the security service protecting this site.</p></body></html>\n";

const HTML_404 =
  "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center>" +
  "<hr><center>nginx</center></body></html>\n";
export function injectFault(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  fault: Exclude<FaultMode, "latency">,
  errorReply: (code: number, message?: string) => { status: number; body: unknown },
): void {
  switch (fault) {
    case "http500":
      sendJson(res, 500, { message: "Internal Server Error" });
      break;
    case "http502":
      sendJson(res, 502, { message: "Bad Gateway" });
      break;
    case "http503":
      sendJson(res, 503, { message: "Service Unavailable" });
      break;
    case "http429":
      sendJson(res, 429, { message: "Too Many Requests" }, { "retry-after": "1" });
      break;
    case "html502":
      send(res, 502, "text/html; charset=utf-8", HTML_502);
      break;
    case "html403":
      send(res, 403, "text/html; charset=utf-8", HTML_403);
      break;
    case "html404":
      send(res, 404, "text/html; charset=utf-8", HTML_404);
      break;
    case "reset":
    case "staleSocket":
      // An RST rather than a FIN, so the client sees ECONNRESET as from a dropped load balancer.
      req.socket.resetAndDestroy();
      break;
    case "hang":
      // Never answered; close() destroys the socket.
      break;
    default: {
      const reply = errorReply(fault.errorCode, fault.message);
      sendJson(res, reply.status, reply.body);
    }
  }
}

export function parseFaultConfig(input: unknown): FaultConfig {
  if (!isObject(input)) throw new SandboxInputError("fault config must be an object");
  const { latencyMs, latencyFaultMs, failureRate, modes, ...rest } = input;
  // A typo such as "failurerate" would otherwise silently disable a chaos run.
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new SandboxInputError(`unknown fault config field(s): ${extra.join(", ")}`);

  const config: FaultConfig = {};
  if (latencyMs !== undefined) config.latencyMs = checkMs(latencyMs, "latencyMs");
  if (latencyFaultMs !== undefined) config.latencyFaultMs = checkMs(latencyFaultMs, "latencyFaultMs");
  if (failureRate !== undefined) {
    if (typeof failureRate !== "number" || !(failureRate >= 0 && failureRate <= 1)) {
      throw new SandboxInputError("failureRate must be a number 0..1");
    }
    config.failureRate = failureRate;
  }
  if (modes !== undefined) {
    if (!Array.isArray(modes) || modes.length === 0)
      throw new SandboxInputError("modes must be a non-empty array");
    config.modes = modes.map((mode, i) => parseFaultMode(mode, `modes[${i}]`));
  }
  return config;
}

export function parseFaultMode(input: unknown, name: string): FaultMode {
  if (typeof input === "string" && STRING_MODES.has(input)) return input as FaultMode;
  if (isObject(input) && Number.isInteger(input.errorCode)) {
    const { errorCode, message } = input;
    if (message !== undefined && typeof message !== "string") {
      throw new SandboxInputError(`${name}.message must be a string`);
    }
    return message === undefined
      ? { errorCode: errorCode as number }
      : { errorCode: errorCode as number, message };
  }
  throw new SandboxInputError(
    `${name} must be one of ${[...STRING_MODES].join(", ")} or { errorCode: <integer> }`,
  );
}

function checkMs(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new SandboxInputError(`${name} must be a non-negative number`);
  }
  return value;
}

export function faultLabel(fault: FaultMode): string {
  return typeof fault === "string" ? fault : `errorCode:${fault.errorCode}`;
}
