// Sender verification: Standard Webhooks (and Svix's `svix-*` twins), and a configurable
// HMAC scheme for vendors that sign like GitHub. Always over the raw bytes as received,
// always compared in constant time, and never with a clock of its own: `nowSeconds` is
// passed in.
//
// Why node:crypto and not the `standardwebhooks` package's verifier: the package turns the
// payload into a UTF-8 string before signing, so a body with bytes that are not valid UTF-8
// would be checked over other bytes than were sent (and two bodies differing only there
// would share a signature); its clock and tolerance are fixed too. The tests prove that
// signatures made by that package and by Svix's are accepted.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { HmacScheme, SignatureScheme } from "./vendors";

export type Headers = Readonly<Record<string, string | undefined>>;

export type VerifyFailure = "missing_header" | "bad_timestamp" | "stale" | "future" | "no_match";

export type VerifyResult =
  | {
      readonly ok: true;
      readonly webhookId: string;
      readonly secretIndex: number;
      /** The `hmac` id header's value when the signature does not cover it (for logs only). */
      readonly senderId?: string;
    }
  | {
      readonly ok: false;
      readonly reason: VerifyFailure;
      readonly detail: string;
      readonly webhookId?: string;
    };

export interface VerifyInput {
  readonly scheme: SignatureScheme;
  /** The vendor's prepared secrets, newest first (see `prepareSecrets`). */
  readonly secrets: PreparedSecrets;
  /** Header names in lower case. */
  readonly headers: Headers;
  readonly rawBody: Buffer;
  readonly nowSeconds: number;
  readonly toleranceSeconds: number;
}

/** HMAC keys, decoded once per cache fill rather than once per request. */
export type PreparedSecrets = readonly Buffer[];

const STANDARD_SECRET_PREFIX = "whsec_";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A Standard Webhooks secret is `whsec_` + the base64 of the key (the prefix is optional, as
 * in the reference libraries); an `hmac` scheme's key is the secret's bytes as given.
 */
export function prepareSecrets(scheme: SignatureScheme, secrets: readonly string[]): PreparedSecrets {
  return secrets.map((secret, index) => {
    if (scheme.scheme !== "standard-webhooks") return Buffer.from(secret);
    const encoded = secret.startsWith(STANDARD_SECRET_PREFIX)
      ? secret.slice(STANDARD_SECRET_PREFIX.length)
      : secret;
    if (encoded.length === 0 || !BASE64.test(encoded)) {
      // Names the position, never the value.
      throw new Error(`signing secret #${index + 1} is not whsec_ followed by base64`);
    }
    return Buffer.from(encoded, "base64");
  });
}

/** The headers the Standard Webhooks scheme reads, under both of its names. */
export const STANDARD_WEBHOOK_HEADERS = [
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
  "svix-id",
  "svix-timestamp",
  "svix-signature",
] as const;

export function verifySignature(input: VerifyInput): VerifyResult {
  return input.scheme.scheme === "standard-webhooks"
    ? verifyStandard(input)
    : verifyHmac(input, input.scheme);
}

function verifyStandard(input: VerifyInput): VerifyResult {
  const { headers } = input;
  // Svix-powered senders use the same scheme under svix-* names.
  const prefix =
    headers["webhook-signature"] !== undefined || headers["svix-signature"] === undefined
      ? "webhook"
      : "svix";
  const id = headers[`${prefix}-id`];
  const timestamp = headers[`${prefix}-timestamp`];
  const signature = headers[`${prefix}-signature`];
  for (const [name, value] of [
    ["id", id],
    ["timestamp", timestamp],
    ["signature", signature],
  ] as const) {
    if (!value) return { ok: false, reason: "missing_header", detail: `header ${prefix}-${name} is missing` };
  }
  const webhookId = id as string;
  const checked = checkTimestamp(timestamp as string, `${prefix}-timestamp`, input);
  if (checked !== undefined) return { ...checked, webhookId };
  // Compared as base64 text, as the reference libraries do: decoding first would let lenient
  // base64 (trailing junk, missing padding) stand in for the exact signature.
  const offered = (signature as string)
    .split(" ")
    .filter((part) => part.startsWith("v1,"))
    .map((part) => Buffer.from(part.slice(3), "utf8"));
  const signedPrefix = Buffer.from(`${webhookId}.${(timestamp as string).trim()}.`, "utf8");
  for (let i = 0; i < input.secrets.length; i++) {
    const expected = Buffer.from(
      createHmac("sha256", input.secrets[i] as Buffer)
        .update(signedPrefix)
        .update(input.rawBody)
        .digest("base64"),
      "utf8",
    );
    if (
      offered.some(
        (candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected),
      )
    ) {
      return { ok: true, webhookId, secretIndex: i };
    }
  }
  return {
    ok: false,
    reason: "no_match",
    webhookId,
    detail:
      offered.length === 0
        ? `header ${prefix}-signature has no v1 signature`
        : `none of ${offered.length} v1 signature(s) matches any of ${input.secrets.length} secret(s)`,
  };
}

function verifyHmac(input: VerifyInput, scheme: HmacScheme): VerifyResult {
  const { headers, rawBody } = input;
  const header = headers[scheme.header];
  if (!header) return { ok: false, reason: "missing_header", detail: `header ${scheme.header} is missing` };
  const headerId = scheme.idHeader ? headers[scheme.idHeader] : undefined;
  if (scheme.idHeader && !headerId)
    return { ok: false, reason: "missing_header", detail: `header ${scheme.idHeader} is missing` };
  // An id outside the signature can be swapped for a fresh one on a captured request, which
  // would make a replay look like a new webhook: only a signed id keys idempotency, otherwise
  // the signed body does.
  const idSigned = scheme.signedContent.includes("{id}");
  const webhookId = idSigned ? (headerId as string) : createHash("sha256").update(rawBody).digest("hex");
  const senderId = !idSigned && headerId !== undefined ? { senderId: headerId } : {};
  let timestamp = "";
  if (scheme.timestampHeader) {
    const value = headers[scheme.timestampHeader];
    if (!value)
      return { ok: false, reason: "missing_header", detail: `header ${scheme.timestampHeader} is missing` };
    const checked = checkTimestamp(value, scheme.timestampHeader, input);
    if (checked !== undefined) return { ...checked, webhookId };
    timestamp = value;
  }
  const trimmed = header.trim();
  const hasPrefix = trimmed.slice(0, scheme.prefix.length).toLowerCase() === scheme.prefix.toLowerCase();
  const text = hasPrefix ? trimmed.slice(scheme.prefix.length) : "";
  const offered = decode(text, scheme.encoding);
  const content = signedContent(scheme.signedContent, headerId ?? "", timestamp, rawBody);
  for (let i = 0; i < input.secrets.length; i++) {
    const expected = createHmac(scheme.algorithm, input.secrets[i] as Buffer)
      .update(content)
      .digest();
    if (offered !== undefined && offered.length === expected.length && timingSafeEqual(offered, expected)) {
      return { ok: true, webhookId, ...senderId, secretIndex: i };
    }
  }
  const why = !hasPrefix
    ? `header ${scheme.header} does not start with "${scheme.prefix}"`
    : offered === undefined
      ? `header ${scheme.header} is not ${scheme.encoding}`
      : `the signature matches none of ${input.secrets.length} secret(s)`;
  return { ok: false, reason: "no_match", webhookId, detail: why };
}

/** Builds the bytes an HMAC scheme signs from its template, keeping the body's bytes intact. */
export function signedContent(template: string, id: string, timestamp: string, body: Buffer): Buffer {
  const parts = template.split(/(\{id\}|\{timestamp\}|\{body\})/);
  return Buffer.concat(
    parts.map((part) =>
      part === "{body}"
        ? body
        : Buffer.from(part === "{id}" ? id : part === "{timestamp}" ? timestamp : part, "utf8"),
    ),
  );
}

function checkTimestamp(
  value: string,
  header: string,
  input: VerifyInput,
): { ok: false; reason: VerifyFailure; detail: string } | undefined {
  if (!/^\d{1,12}$/.test(value.trim())) {
    return { ok: false, reason: "bad_timestamp", detail: `header ${header} is not Unix seconds` };
  }
  const skew = input.nowSeconds - Number(value);
  if (skew > input.toleranceSeconds) {
    return {
      ok: false,
      reason: "stale",
      detail: `${header} is ${skew} s old (tolerance ${input.toleranceSeconds} s)`,
    };
  }
  if (-skew > input.toleranceSeconds) {
    return {
      ok: false,
      reason: "future",
      detail: `${header} is ${-skew} s in the future (tolerance ${input.toleranceSeconds} s)`,
    };
  }
  return undefined;
}

function decode(text: string, encoding: "hex" | "base64"): Buffer | undefined {
  if (encoding === "hex") return /^(?:[0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, "hex") : undefined;
  return /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, "base64") : undefined;
}
