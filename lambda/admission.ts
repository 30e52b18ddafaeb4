// Admission: whether a request may be acted on at all. Route, size, media type, vendor,
// allow-list, signature, webhook id and body, in that order: each check answers a refusal
// (or, for an unreadable signing secret, `unavailable`), and a request that passes them all is
// admitted. Nothing here reads or writes the ledger or calls OPS-COM; that is delivery's part
// (lambda/ingest-core.ts).
import type { AnswerBudget } from "./budget";
import type { RelayConfig } from "./config";
import { errorName, routeFor } from "./delivery";
import { type ParsedBody, parseWebhookBody } from "./event";
import { type Answer, type Handled, type IngestEvent, isJsonContentType, normalizeEvent } from "./http";
import type { Clock, SecretSource } from "./ports";
import { parseSigningSecrets, SecretCache } from "./secret-cache";
import { type PreparedSecrets, prepareSecrets, STANDARD_WEBHOOK_HEADERS, verifySignature } from "./signature";
import type { Telemetry } from "./telemetry";
import { sourceMatcher, type VendorConfig } from "./vendors";

/** Standard Webhooks ids look like `msg_2KWPBgLlAfxdpx2AI54pPJ85f4W`; anything printable up to 256 is taken. */
export const WEBHOOK_ID_PATTERN = /^[\x21-\x7e]{1,256}$/;
/** A vendor whose signatures all fail may have rotated its secret: refetch, but not more often than this. */
const SIGNING_SECRET_REFRESH_MS = 60_000;

/** A signed request from a configured vendor whose body the relay can act on. */
export interface Admitted {
  readonly kind: "admitted";
  readonly vendor: VendorConfig;
  readonly webhookId: string;
  /** An `hmac` vendor's unsigned id header, present only in the shape a webhook id may take. */
  readonly senderId?: string;
  readonly rawBody: Buffer;
  readonly body: Exclude<ParsedBody, { kind: "invalid" }>;
}

/** Any answer given before the ledger: a refusal, or `unavailable` when the signing secret cannot be read. */
export type Refused = { readonly kind: "refused" } & Handled;

export interface AdmissionDeps {
  readonly config: RelayConfig;
  readonly clock: Clock;
  readonly secrets: SecretSource;
  /** Warmed for an admitted delete's OPS-COM target while the signature is checked. */
  readonly tokens: SecretCache<string>;
  readonly budget: AnswerBudget;
}

export interface Admission {
  admit(event: IngestEvent, telemetry: Telemetry): Promise<Admitted | Refused>;
  /** Starts reading the first `count` vendors' signing secrets (a cold start's warm-up). */
  prime(count: number): void;
}

export function createAdmission(deps: AdmissionDeps): Admission {
  const { config, clock, tokens } = deps;
  const signingSecrets = new SecretCache(
    deps.secrets,
    clock,
    config.secretCacheTtlMs,
    parseSigningSecrets,
    deps.budget.secretReadMs,
  );
  // Decoded secrets keyed by the cached array, so a cache refill re-decodes and nothing else does.
  const prepared = new WeakMap<readonly string[], PreparedSecrets>();
  const allowLists = new Map<string, (ip: string) => boolean>();
  for (const vendor of config.vendors.values()) {
    if (vendor.allowedSourceCidrs) allowLists.set(vendor.id, sourceMatcher(vendor.allowedSourceCidrs));
  }
  // The only headers admission reads: the media type and each configured scheme's own.
  const wantedHeaders = new Set(["content-type", ...STANDARD_WEBHOOK_HEADERS]);
  for (const vendor of config.vendors.values()) {
    const scheme = vendor.signature;
    if (scheme.scheme !== "hmac") continue;
    for (const name of [scheme.header, scheme.idHeader, scheme.timestampHeader])
      if (name) wantedHeaders.add(name);
  }

  const secretIdOf = (vendor: VendorConfig) => config.vendorSecretPrefix + vendor.id;
  const decoded = (vendor: VendorConfig, raw: readonly string[]): PreparedSecrets => {
    let ready = prepared.get(raw);
    if (!ready) {
      ready = prepareSecrets(vendor.signature, raw);
      prepared.set(raw, ready);
    }
    return ready;
  };
  const secretsOf = async (vendor: VendorConfig) =>
    decoded(vendor, await signingSecrets.get(secretIdOf(vendor)));
  /** `undefined` when a refetch was made too recently to try again. */
  const refreshedSecretsOf = async (vendor: VendorConfig) => {
    const raw = await signingSecrets.refresh(secretIdOf(vendor), SIGNING_SECRET_REFRESH_MS);
    return raw === undefined ? undefined : decoded(vendor, raw);
  };

  async function admit(event: IngestEvent, telemetry: Telemetry): Promise<Admitted | Refused> {
    const refused = (
      answer: Answer,
      vendorId: string | undefined,
      reason?: string,
      webhookId?: string,
    ): Refused => {
      telemetry.count("WebhookRejected");
      return {
        kind: "refused",
        reply: { answer },
        log: {
          ...(vendorId === undefined ? {} : { vendorId }),
          ...(webhookId === undefined ? {} : { webhookId }),
          outcome: answer.status,
          ...(reason === undefined ? {} : { reason }),
        },
      };
    };

    const request = normalizeEvent(event, wantedHeaders);
    if (request.vendorId === undefined) {
      const answer: Answer = { status: "no_route", reason: "POST /webhooks/{vendorId}" };
      return { kind: "refused", reply: { answer }, log: { outcome: answer.status } };
    }
    if (request.method !== "POST") {
      return {
        kind: "refused",
        reply: { answer: { status: "method_not_allowed" } },
        log: { outcome: "method_not_allowed" },
      };
    }
    telemetry.count("WebhookReceived");
    // The path is the sender's text: it reaches a log line only when it names a configured vendor.
    const vendorId = config.vendors.has(request.vendorId) ? request.vendorId : undefined;
    if (request.rawBody.length > config.maxBodyBytes) {
      return refused(
        { status: "too_large", reason: `the body is over ${config.maxBodyBytes} bytes` },
        vendorId,
      );
    }
    if (!isJsonContentType(request.headers["content-type"])) {
      return refused(
        { status: "unsupported_media_type", reason: "send Content-Type: application/json" },
        vendorId,
      );
    }
    const vendor = vendorId === undefined ? undefined : config.vendors.get(vendorId);
    // One answer for every authentication failure: nothing tells a prober which part failed.
    if (!vendor) return refused({ status: "unauthorized" }, undefined, "unknown vendor");
    const allowed = allowLists.get(vendor.id);
    if (allowed && !allowed(request.sourceIp)) {
      return refused({ status: "forbidden" }, vendor.id, "source address not in the vendor's allow-list");
    }

    // The token is needed only after the signature checks out, but reading it alongside the
    // signing secret saves a cold start one Secrets Manager round trip. The body is parsed this
    // early only to spare a ping that read; nothing acts on it before the signature checks out.
    const body = parseWebhookBody(request.rawBody, vendor.event);
    if (body.kind !== "ping") tokens.warm(routeFor(vendor, config).tokenSecretId);
    let secrets: PreparedSecrets;
    try {
      secrets = await secretsOf(vendor);
    } catch (error) {
      telemetry.count("SecretUnavailable");
      telemetry.error("signing secret unavailable", { vendorId: vendor.id, reason: errorName(error) });
      return {
        kind: "refused",
        reply: { answer: { status: "unavailable" } },
        log: { vendorId: vendor.id, reason: "signing secret unavailable", outcome: "unavailable" },
      };
    }
    const verifyWith = (list: PreparedSecrets) =>
      verifySignature({
        scheme: vendor.signature,
        secrets: list,
        headers: request.headers,
        rawBody: request.rawBody,
        nowSeconds: Math.floor(clock.now() / 1000),
        toleranceSeconds: config.signatureToleranceSeconds,
      });
    let verified = verifyWith(secrets);
    if (!verified.ok && verified.reason === "no_match") {
      const fresh = await refreshedSecretsOf(vendor).catch(() => undefined);
      if (fresh) verified = verifyWith(fresh);
    }
    if (!verified.ok) {
      // Per vendor, so a botched rotation shows on its own alarm.
      telemetry.countFor("SignatureFailed", { vendorId: vendor.id });
      return refused({ status: "unauthorized" }, vendor.id, `signature ${verified.reason}`);
    }
    const webhookId = verified.webhookId;
    if (!WEBHOOK_ID_PATTERN.test(webhookId)) {
      // Checked after the signature, so only a genuine sender learns the rule. The ledger key
      // must stay well inside DynamoDB's 2 KB limit, or the vendor would get 503s forever.
      return refused(
        {
          status: "invalid",
          field: "webhook-id",
          reason: "the webhook id must be 1-256 printable ASCII characters",
        },
        vendor.id,
        "invalid webhook-id",
      );
    }
    if (body.kind === "invalid") {
      return refused(
        { status: "invalid", webhookId, field: body.field, reason: body.reason },
        vendor.id,
        `invalid ${body.field}`,
        webhookId,
      );
    }
    // Unsigned, so passed on only in the shape a webhook id may take.
    const senderId = verified.senderId;
    return {
      kind: "admitted",
      vendor,
      webhookId,
      ...(senderId !== undefined && WEBHOOK_ID_PATTERN.test(senderId) ? { senderId } : {}),
      rawBody: request.rawBody,
      body,
    };
  }

  return {
    admit,
    prime(count) {
      for (const vendor of [...config.vendors.values()].slice(0, count))
        signingSecrets.warm(secretIdOf(vendor));
    },
  };
}
