// The edge of the ingest handler: one shape for API Gateway REST (payload v1), HTTP API (v2)
// and Lambda function URL events, and the vendor contract's answers (the README's table, docs/openapi.yaml).
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult } from "aws-lambda";

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

export type AnswerStatus =
  | "deleted"
  | "not_found"
  | "ignored"
  | "pong"
  | "in_progress"
  | "queued"
  | "unauthorized"
  | "forbidden"
  | "rejected"
  | "invalid"
  | "too_large"
  | "unsupported_media_type"
  | "unavailable"
  | "no_route"
  | "method_not_allowed"
  | "error";

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
  readonly statusCode: number;
  readonly answer: Answer;
  readonly retryAfterSeconds?: number;
}

export function toResult(reply: Reply): APIGatewayProxyResult {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  if (reply.retryAfterSeconds !== undefined) headers["retry-after"] = String(reply.retryAfterSeconds);
  if (reply.statusCode === 405) headers.allow = "POST";
  return { statusCode: reply.statusCode, headers, body: JSON.stringify(reply.answer) };
}

/** `application/json`, `application/cloudevents+json` and friends, with or without parameters. */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const type = value.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}
