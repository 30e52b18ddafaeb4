// The edge of the ingest handler: one shape for API Gateway REST (payload v1), HTTP API (v2)
// and Lambda function URL events, and the vendor contract's answers (the README's table, docs/openapi.yaml).
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult } from "aws-lambda";
import type { LogFields } from "./telemetry";

export type IngestEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

export interface InboundRequest {
  readonly method: string;
  readonly path: string;
  /** `undefined` when the path is not `/webhooks/{vendorId}`. */
  readonly vendorId: string | undefined;
  /** Lower-case header names; repeated headers joined by `, `. */
  readonly headers: Record<string, string>;
  /** The bytes as the vendor sent them (base64-decoded when the event says so). */
  readonly rawBody: Buffer;
  readonly sourceIp: string;
}

const WEBHOOK_PATH = /^\/webhooks\/([^/]+)\/?$/;

/**
 * @param keep when given, only these (lower-case) headers are kept: the handler reads a
 *   handful of the twenty-odd headers API Gateway passes, and copying the rest costs time.
 */
export function normalizeEvent(event: IngestEvent, keep?: ReadonlySet<string>): InboundRequest {
  const v2 = (event as APIGatewayProxyEventV2).version === "2.0";
  const method = v2
    ? (event as APIGatewayProxyEventV2).requestContext.http.method
    : (event as APIGatewayProxyEvent).httpMethod;
  const path = v2 ? (event as APIGatewayProxyEventV2).rawPath : (event as APIGatewayProxyEvent).path;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value === undefined || value === null) continue;
    const key = name.toLowerCase();
    if (keep !== undefined && !keep.has(key)) continue;
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  const body = event.body ?? "";
  const rawBody = event.isBase64Encoded ? Buffer.from(body, "base64") : Buffer.from(body, "utf8");
  const sourceIp = v2
    ? (event as APIGatewayProxyEventV2).requestContext.http.sourceIp
    : (event as APIGatewayProxyEvent).requestContext?.identity?.sourceIp;
  return {
    method: (method ?? "").toUpperCase(),
    path: path ?? "",
    vendorId: vendorFrom(event.pathParameters?.vendorId, path),
    headers,
    rawBody,
    sourceIp: sourceIp ?? "",
  };
}

function vendorFrom(parameter: string | undefined, path: string | undefined): string | undefined {
  if (parameter !== undefined) return parameter;
  const match = WEBHOOK_PATH.exec(path ?? "");
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1] as string);
  } catch {
    return match[1];
  }
}

/**
 * Each answer's HTTP status, read from its `status` so that no call site can make the two
 * disagree (the README's contract table; docs/openapi.yaml documents every pair but the last
 * two, which only a function URL or a catch-all route can reach).
 */
export const HTTP_STATUS = {
  deleted: 200,
  not_found: 200,
  ignored: 200,
  pong: 200,
  queued: 202,
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  in_progress: 409,
  too_large: 413,
  unsupported_media_type: 415,
  rejected: 422,
  error: 500,
  unavailable: 503,
  no_route: 404,
  method_not_allowed: 405,
} as const satisfies Record<string, number>;

export type AnswerStatus = keyof typeof HTTP_STATUS;

/** The wait a 503 asks for: long enough for a brief AWS fault to pass. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 30;

export interface Answer {
  readonly status: AnswerStatus;
  readonly webhookId?: string;
  readonly referenceID?: string;
  /** `pong` only: who the relay took the sender for, and which relay answered. */
  readonly vendorId?: string;
  readonly version?: string;
  readonly duplicate?: true;
  readonly field?: string;
  readonly reason?: string;
  readonly opscom?: { readonly errorCode?: number; readonly errorMessage: string };
}

export interface Reply {
  readonly answer: Answer;
  /** `in_progress` only: how long the delivery in flight can still take. */
  readonly retryAfterSeconds?: number;
}

/** An answer and the fields of the log line that reports it. */
export interface Handled {
  readonly reply: Reply;
  readonly log: LogFields;
}

/**
 * API Gateway's id for this request (REST and HTTP APIs, function URLs alike): the access log's
 * `requestId`, so a vendor who quotes it leads on-call to the access log entry and every log line.
 */
export function requestIdOf(event: IngestEvent): string | undefined {
  const id: unknown = event.requestContext?.requestId;
  return typeof id === "string" && id !== "" ? id : undefined;
}

/** @param requestId echoed as `x-request-id`, the id a vendor quotes when asking about this answer. */
export function toResult(reply: Reply, requestId?: string): APIGatewayProxyResult {
  const { status } = reply.answer;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  if (requestId !== undefined) headers["x-request-id"] = requestId;
  const retryAfter =
    reply.retryAfterSeconds ?? (status === "unavailable" ? UNAVAILABLE_RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  if (status === "method_not_allowed") headers.allow = "POST";
  return { statusCode: HTTP_STATUS[status], headers, body: JSON.stringify(reply.answer) };
}

/** `application/json`, `application/cloudevents+json` and friends, with or without parameters. */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const type = value.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}
