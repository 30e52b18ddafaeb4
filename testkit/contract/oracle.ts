// The contract oracle: what the relay must answer to an event, written from the vendor contract
// (README, docs/openapi.yaml) rather than from the handler's code, and what it must have sent
// OPS-COM. It keeps its own ledger of first deliveries, so a duplicate or a reused id is judged
// too. It depends only on the fuzz world, so tests can use it without the runner.

import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from "aws-lambda";
import type { IngestEvent } from "../../lambda/http";
import type { Programmed } from "./opscom";
import {
  CLIENT_CODE,
  type FuzzSecrets,
  HUB_HEADER,
  hubSignature,
  INSIDE_FENCE,
  MAX_BODY_BYTES,
  sha256hex,
  standardSignature,
  TOLERANCE_SECONDS,
  VENDOR_IDS,
  type VendorId,
} from "./world";

/** The relay's first answer to a delete, by what OPS-COM said. */
const FIRST_ANSWER: Record<Programmed, readonly [number, string]> = {
  deleted: [200, "deleted"],
  not_found: [200, "not_found"],
  rejected: [422, "rejected"],
  transient: [202, "queued"],
  token_rejected: [202, "queued"],
};

export interface Expected {
  readonly statusCode: number;
  readonly status: string;
  /** The check that decided. */
  readonly step: string;
  readonly webhookId?: string;
  readonly referenceID?: string;
  readonly duplicate?: true;
  readonly field?: string;
  /** Present when this request must reach OPS-COM: a correctly signed, valid, first delete. */
  readonly forward?: {
    readonly key: string;
    readonly referenceId: string;
    readonly clientCode: string;
    readonly bodyHash: string;
    readonly webhookId: string;
  };
}

interface LedgerEntry {
  readonly bodyHash: string;
  readonly webhookId: string;
  readonly referenceID: string;
  readonly statusCode: number;
  readonly status: string;
}

/** What the relay sees of an event, read the way the contract describes (not via lambda/http.ts). */
export function view(event: IngestEvent) {
  const v2 = (event as APIGatewayProxyEventV2).version === "2.0";
  const method = v2
    ? (event as APIGatewayProxyEventV2).requestContext.http.method
    : (event as APIGatewayProxyEvent).httpMethod;
  const path = v2 ? (event as APIGatewayProxyEventV2).rawPath : (event as APIGatewayProxyEvent).path;
  const parameter = event.pathParameters?.vendorId;
  let vendorId: string | undefined = parameter;
  if (vendorId === undefined) {
    const match = /^\/webhooks\/([^/]+)\/?$/.exec(path ?? "");
    if (match) {
      try {
        vendorId = decodeURIComponent(match[1] as string);
      } catch {
        vendorId = match[1];
      }
    }
  }
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (typeof value !== "string") continue;
    const key = name.toLowerCase();
    const before = headers.get(key);
    headers.set(key, before === undefined ? value : `${before}, ${value}`);
  }
  const body = event.body ?? "";
  const raw = event.isBase64Encoded ? Buffer.from(body, "base64") : Buffer.from(body, "utf8");
  const sourceIp = v2
    ? (event as APIGatewayProxyEventV2).requestContext.http.sourceIp
    : ((event as APIGatewayProxyEvent).requestContext?.identity?.sourceIp ?? "");
  return { method: (method ?? "").toUpperCase(), vendorId, headers, raw, sourceIp };
}

function isJsonMediaType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const type = (value.split(";")[0] ?? "").trim().toLowerCase();
  return type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

interface SignatureVerdict {
  /** Valid: an HMAC over `id.timestamp.` and the raw bytes as received. */
  readonly ok: boolean;
  readonly webhookId?: string;
}

function standardVerdict(
  headers: Map<string, string>,
  raw: Buffer,
  secret: string,
  nowSeconds: number,
): SignatureVerdict {
  const prefix =
    headers.get("webhook-signature") !== undefined || headers.get("svix-signature") === undefined
      ? "webhook"
      : "svix";
  const id = headers.get(`${prefix}-id`);
  const timestamp = headers.get(`${prefix}-timestamp`);
  const signature = headers.get(`${prefix}-signature`);
  if (!id || !timestamp || !signature) return { ok: false };
  const text = timestamp.trim();
  if (!/^\d{1,12}$/.test(text)) return { ok: false };
  if (Math.abs(nowSeconds - Number(text)) > TOLERANCE_SECONDS) return { ok: false };
  const offered = signature
    .split(" ")
    .filter((part) => part.startsWith("v1,"))
    .map((part) => part.slice(3));
  // The timestamp is signed as sent (trimmed, as HTTP trims header values).
  return { ok: offered.includes(standardSignature(secret, id, text, raw).slice(3)), webhookId: id };
}

function hubVerdict(headers: Map<string, string>, raw: Buffer, secret: string): SignatureVerdict {
  const header = headers.get(HUB_HEADER);
  if (!header) return { ok: false };
  const trimmed = header.trim();
  const hasPrefix = trimmed.slice(0, 7).toLowerCase() === "sha256=";
  const text = hasPrefix ? trimmed.slice(7) : "";
  const ok =
    /^(?:[0-9a-fA-F]{2})+$/.test(text) && text.toLowerCase() === hubSignature(secret, raw).toLowerCase();
  return { ok, webhookId: sha256hex(raw) };
}

type Parsed =
  | { kind: "invalid"; field: string }
  | { kind: "ignored" }
  | { kind: "delete"; referenceId: string };

export const ALIASES = ["referenceID", "referenceid", "reference_id"] as const;

function parseDelete(raw: Buffer): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    return { kind: "invalid", field: "body" };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return { kind: "invalid", field: "body" };
  const record = body as Record<string, unknown>;
  const type = Object.hasOwn(record, "type") ? record.type : undefined;
  if (typeof type !== "string" || type === "") return { kind: "invalid", field: "type" };
  if (type !== "permit.deleted") return { kind: "ignored" };
  let value: unknown;
  let field = "data.referenceID";
  search: for (const [scope, prefix] of [
    [record.data, "data."],
    [record, ""],
  ] as const) {
    if (typeof scope !== "object" || scope === null || Array.isArray(scope)) continue;
    for (const alias of ALIASES) {
      if (Object.hasOwn(scope, alias)) {
        value = (scope as Record<string, unknown>)[alias];
        field = `${prefix}${alias}`;
        break search;
      }
    }
  }
  const ref = typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? String(value) : value;
  if (typeof ref !== "string" || !/^[A-Za-z0-9-]{1,50}$/.test(ref)) return { kind: "invalid", field };
  return { kind: "delete", referenceId: ref };
}

/** The contract as a function of (event, what the relay has already seen). */
export class Oracle {
  readonly ledger = new Map<string, LedgerEntry>();

  constructor(
    private readonly secrets: FuzzSecrets,
    private readonly nowSeconds: () => number,
    private readonly outcome: (referenceId: string, clientCode: string) => Programmed,
  ) {}

  predict(event: IngestEvent): Expected {
    const req = view(event);
    if (req.vendorId === undefined) return { statusCode: 404, status: "no_route", step: "route" };
    if (req.method !== "POST") return { statusCode: 405, status: "method_not_allowed", step: "method" };
    if (req.raw.length > MAX_BODY_BYTES) return { statusCode: 413, status: "too_large", step: "size" };
    if (!isJsonMediaType(req.headers.get("content-type")))
      return { statusCode: 415, status: "unsupported_media_type", step: "media type" };
    if (!VENDOR_IDS.has(req.vendorId)) return { statusCode: 401, status: "unauthorized", step: "vendor" };
    const vendor = req.vendorId as VendorId;
    if (vendor === "fenced" && INSIDE_FENCE.get(req.sourceIp) !== true)
      return { statusCode: 403, status: "forbidden", step: "source" };
    const secret = this.secrets.vendor[vendor];
    const verdict =
      vendor === "hubco"
        ? hubVerdict(req.headers, req.raw, secret)
        : standardVerdict(req.headers, req.raw, secret, this.nowSeconds());
    if (!verdict.ok || verdict.webhookId === undefined)
      return { statusCode: 401, status: "unauthorized", step: "signature" };
    const webhookId = verdict.webhookId;
    // Checked after the signature: an id the ledger could not key on is the sender's mistake.
    if (!/^[\x21-\x7e]{1,256}$/.test(webhookId))
      return { statusCode: 400, status: "invalid", step: "webhook id", field: "webhook-id" };
    const parsed = parseDelete(req.raw);
    if (parsed.kind === "invalid")
      return { statusCode: 400, status: "invalid", step: "body", webhookId, field: parsed.field };
    if (parsed.kind === "ignored") return { statusCode: 200, status: "ignored", step: "type", webhookId };
    const key = `${vendor}#${webhookId}`;
    const bodyHash = sha256hex(req.raw);
    const existing = this.ledger.get(key);
    if (existing) {
      if (existing.bodyHash !== bodyHash)
        return { statusCode: 422, status: "rejected", step: "reused id", webhookId: existing.webhookId };
      return {
        statusCode: existing.statusCode,
        status: existing.status,
        step: "duplicate",
        webhookId: existing.webhookId,
        referenceID: existing.referenceID,
        duplicate: true,
      };
    }
    const clientCode = CLIENT_CODE[vendor];
    const [statusCode, status] = FIRST_ANSWER[this.outcome(parsed.referenceId, clientCode)];
    return {
      statusCode,
      status,
      step: "OPS-COM",
      webhookId,
      referenceID: parsed.referenceId,
      forward: { key, referenceId: parsed.referenceId, clientCode, bodyHash, webhookId },
    };
  }

  /** Records what the relay now knows; call once the case ran. */
  commit(expected: Expected): void {
    const f = expected.forward;
    if (!f) return;
    this.ledger.set(f.key, {
      bodyHash: f.bodyHash,
      webhookId: f.webhookId,
      referenceID: f.referenceId,
      statusCode: expected.statusCode,
      status: expected.status,
    });
  }
}
