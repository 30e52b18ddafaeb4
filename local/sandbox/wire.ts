// The sandbox's HTTP plumbing: bodies in, JSON and pages out, headers copied without credentials.
// Shared by the OPS-COM routes and the admin routes, so both answer and fail the same way.

import type http from "node:http";

/** Thrown for invalid options, fault configs and admin bodies; admin endpoints map it to 400. */
export class SandboxInputError extends Error {
  override readonly name = "SandboxInputError";
}

// Far above anything the relay sends; only here so a runaway client cannot eat memory.
const MAX_BODY_BYTES = 1024 * 1024;
// Tokens travel in the body, but a relay bug could put one in a header; stats are served over HTTP.
const REDACTED_HEADERS = new Set(["authorization", "proxy-authorization", "cookie", "x-api-key"]);

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function parseJsonObject(raw: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function copyHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    copy[name] = REDACTED_HEADERS.has(name) ? "[redacted]" : Array.isArray(value) ? value.join(", ") : value;
  }
  return copy;
}

/** Resolves to the body text, or undefined when it is over MAX_BODY_BYTES (the rest is drained, not kept). */
export function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString("utf8") : undefined));
    req.on("error", reject);
  });
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body), headers);
}

export function send(
  res: http.ServerResponse,
  status: number,
  contentType: string,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  res.writeHead(status, {
    ...headers,
    "content-type": contentType,
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}
