// The ingest flow, top to bottom: route, size, media type, vendor, allow-list, signature,
// event, idempotency claim, OPS-COM, outcome. Every branch ends in one of the vendor
// contract's answers (the README's table). Built from a factory that receives its dependencies, so
// tests pass in-memory or local-server versions and production passes the AWS ones.
import { createHash, randomUUID } from "node:crypto";
import type { APIGatewayProxyResult } from "aws-lambda";
import { version as RELAY_VERSION } from "../package.json";
import { ANSWER_BUDGET, ANSWER_CEILING_MS, type AnswerBudget } from "./budget";
import { type DeliveryDeps, deliver, errorName, routeFor } from "./delivery";
import { parseWebhookBody } from "./event";
import { type IngestEvent, isJsonContentType, normalizeEvent, type Reply, toResult } from "./http";
import { readOutcome, recordFinalOutcome, recordOutcome, type Settled } from "./outcome";
import type { Ledger, LedgerKey, LedgerRecord, RelayDeps, RetryMessage } from "./ports";
import { initialRetryDelaySeconds } from "./retry-schedule";
import { parseSigningSecrets, parseTokenSecret, SecretCache } from "./secret-cache";
import { type PreparedSecrets, prepareSecrets, STANDARD_WEBHOOK_HEADERS, verifySignature } from "./signature";
import type { LogFields } from "./telemetry";
import { sourceMatcher, type VendorConfig } from "./vendors";

export interface IngestDeps extends RelayDeps {
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Start reading the secrets and open the ledger's connection while the environment
   * initialises, so a cold start's first webhook does not wait for them in turn.
   */
  readonly prime?: boolean;
  /** The deadlines an answer is held to; ANSWER_BUDGET unless a test shrinks them. */
  readonly budget?: AnswerBudget;
}

export type IngestHandler = (event: IngestEvent) => Promise<APIGatewayProxyResult>;

/** A vendor whose signatures all fail may have rotated its secret: refetch, but not more often than this. */
const SIGNING_SECRET_REFRESH_MS = 60_000;
const UNAVAILABLE_RETRY_AFTER_SECONDS = 30;
/** Standard Webhooks ids look like `msg_2KWPBgLlAfxdpx2AI54pPJ85f4W`; anything printable up to 256 is taken. */
export const WEBHOOK_ID_PATTERN = /^[\x21-\x7e]{1,256}$/;
/** Priming reads this many vendors' secrets at start-up; the rest are read on first use. */
const PRIMED_VENDORS = 10;

export function createIngestHandler(deps: IngestDeps): IngestHandler {
  const { config, clock, ledger, queue, telemetry } = deps;
  const budget = deps.budget ?? ANSWER_BUDGET;
  const cache = <T>(parse: (raw: string, id: string) => T) =>
    new SecretCache(deps.secrets, clock, config.secretCacheTtlMs, parse, budget.secretReadMs);
  const tokens = deps.tokens ?? cache(parseTokenSecret);
  const signingSecrets = cache(parseSigningSecrets);
  const delivery: DeliveryDeps = {
    opscom: deps.opscom,
    tokens,
    clock,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    random: deps.random ?? Math.random,
  };
  // Decoded secrets keyed by the cached array, so a cache refill re-decodes and nothing else does.
  const prepared = new WeakMap<readonly string[], PreparedSecrets>();
  const allowLists = new Map<string, (ip: string) => boolean>();
  for (const vendor of config.vendors.values()) {
    if (vendor.allowedSourceCidrs) allowLists.set(vendor.id, sourceMatcher(vendor.allowedSourceCidrs));
  }
  // The only headers the flow reads: the media type and each configured scheme's own.
  const wantedHeaders = new Set(["content-type", ...STANDARD_WEBHOOK_HEADERS]);
  for (const vendor of config.vendors.values()) {
    const scheme = vendor.signature;
    if (scheme.scheme !== "hmac") continue;
    for (const name of [scheme.header, scheme.idHeader, scheme.timestampHeader])
      if (name) wantedHeaders.add(name);
  }
  if (deps.prime) {
    tokens.warm(config.opscomTokenSecretId);
    for (const vendor of [...config.vendors.values()].slice(0, PRIMED_VENDORS)) {
      signingSecrets.warm(config.vendorSecretPrefix + vendor.id);
      if (vendor.opscom.tokenSecretId) tokens.warm(vendor.opscom.tokenSecretId);
    }
    // A read of a key that never exists: it pays the ledger client's first-call costs now.
    ledger.get({ vendorId: "~prime", webhookId: "~prime" }).catch(() => undefined);
  }

  async function vendorSecrets(vendor: VendorConfig, refresh: boolean): Promise<PreparedSecrets | undefined> {
    const secretId = config.vendorSecretPrefix + vendor.id;
    const raw = refresh
      ? await signingSecrets.refresh(secretId, SIGNING_SECRET_REFRESH_MS)
      : await signingSecrets.get(secretId);
    if (raw === undefined) return undefined;
    let ready = prepared.get(raw);
    if (!ready) {
      ready = prepareSecrets(vendor.signature, raw);
      prepared.set(raw, ready);
    }
    return ready;
  }

  async function handle(event: IngestEvent): Promise<{ reply: Reply; log: LogFields }> {
    const request = normalizeEvent(event, wantedHeaders);
    if (request.vendorId === undefined)
      return plain(404, { status: "no_route", reason: "POST /webhooks/{vendorId}" });
    if (request.method !== "POST") return plain(405, { status: "method_not_allowed" });
    telemetry.count("WebhookReceived");
    // The path is the sender's text: it reaches a log line only when it names a configured vendor.
    const vendorId = config.vendors.has(request.vendorId) ? request.vendorId : undefined;
    if (request.rawBody.length > config.maxBodyBytes) {
      return refused(
        413,
        { status: "too_large", reason: `the body is over ${config.maxBodyBytes} bytes` },
        vendorId,
      );
    }
    if (!isJsonContentType(request.headers["content-type"])) {
      return refused(
        415,
        { status: "unsupported_media_type", reason: "send Content-Type: application/json" },
        vendorId,
      );
    }
    const vendor = vendorId === undefined ? undefined : config.vendors.get(vendorId);
    // One answer for every authentication failure: nothing tells a prober which part failed.
    if (!vendor) return refused(401, { status: "unauthorized" }, undefined, "unknown vendor");
    const allowed = allowLists.get(vendor.id);
    if (allowed && !allowed(request.sourceIp)) {
      return refused(
        403,
        { status: "forbidden" },
        vendor.id,
        "source address not in the vendor's allow-list",
      );
    }

    // The token is needed only after the signature checks out, but reading it alongside the
    // signing secret saves a cold start one Secrets Manager round trip. The body is parsed this
    // early only to spare a ping that read; nothing acts on it before the signature checks out.
    const parsed = parseWebhookBody(request.rawBody, vendor.event);
    if (parsed.kind !== "ping") tokens.warm(routeFor(vendor, config).tokenSecretId);
    let secrets: PreparedSecrets | undefined;
    try {
      secrets = await vendorSecrets(vendor, false);
    } catch (error) {
      telemetry.count("SecretUnavailable");
      telemetry.error("signing secret unavailable", { vendorId: vendor.id, reason: errorName(error) });
      return unavailable(
        { status: "unavailable" },
        { vendorId: vendor.id, reason: "signing secret unavailable" },
      );
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
    let verified = verifyWith(secrets as PreparedSecrets);
    if (!verified.ok && verified.reason === "no_match") {
      const fresh = await vendorSecrets(vendor, true).catch(() => undefined);
      if (fresh) verified = verifyWith(fresh);
    }
    if (!verified.ok)
      return refused(401, { status: "unauthorized" }, vendor.id, `signature ${verified.reason}`);
    const webhookId = verified.webhookId;
    if (!WEBHOOK_ID_PATTERN.test(webhookId)) {
      // Checked after the signature, so only a genuine sender learns the rule. The ledger key
      // must stay well inside DynamoDB's 2 KB limit, or the vendor would get 503s forever.
      return refused(
        400,
        {
          status: "invalid",
          field: "webhook-id",
          reason: "the webhook id must be 1-256 printable ASCII characters",
        },
        vendor.id,
        "invalid webhook-id",
      );
    }

    if (parsed.kind === "ping") {
      // Admission passed: answer before the ledger, the token and OPS-COM, which a ping must not touch.
      return {
        reply: {
          statusCode: 200,
          answer: { status: "pong", vendorId: vendor.id, version: RELAY_VERSION, webhookId },
        },
        log: { vendorId: vendor.id, webhookId, outcome: "pong" },
      };
    }
    if (parsed.kind === "invalid") {
      return refused(
        400,
        { status: "invalid", webhookId, field: parsed.field, reason: parsed.reason },
        vendor.id,
        `invalid ${parsed.field}`,
        webhookId,
      );
    }
    if (parsed.kind === "ignored") {
      telemetry.count("EventIgnored");
      return {
        reply: {
          statusCode: 200,
          answer: {
            status: "ignored",
            webhookId,
            reason: `event type ${JSON.stringify(parsed.type.slice(0, 100))} is not a delete`,
          },
        },
        log: { vendorId: vendor.id, webhookId, outcome: "ignored" },
      };
    }

    const referenceId = parsed.referenceId;
    const key: LedgerKey = { vendorId: vendor.id, webhookId };
    // Unsigned, so logged only in the shape a webhook id may take.
    const sender = WEBHOOK_ID_PATTERN.test(verified.senderId ?? "") ? { senderId: verified.senderId } : {};
    const log = { vendorId: vendor.id, webhookId, ...sender, referenceId };
    const now = clock.now();
    const claimId = randomUUID();
    const bodyHash = createHash("sha256").update(request.rawBody).digest("hex");
    let claim: Awaited<ReturnType<Ledger["claim"]>>;
    try {
      claim = await ledger.claim({
        ...key,
        referenceId,
        bodyHash,
        claimId,
        now,
        leaseMs: config.claimLeaseSeconds * 1000,
        expiresAt: Math.floor(now / 1000) + config.ledgerTtlDays * 86_400,
      });
    } catch (error) {
      telemetry.error("ledger unavailable", { ...log, reason: errorName(error) });
      return unavailable(
        { status: "unavailable", webhookId, referenceID: referenceId },
        { ...log, reason: "ledger unavailable" },
      );
    }
    if (!claim.claimed) return duplicate(claim.existing, bodyHash, now, log);

    try {
      return await forward(vendor, key, claimId, referenceId, log);
    } catch (error) {
      // Only a failure before OPS-COM was reached gets here (`forward` records every outcome
      // itself): let the vendor's retry start afresh rather than be taken for a duplicate.
      await ledger.release(key, claimId).catch(() => undefined);
      throw error;
    }
  }

  async function forward(
    vendor: VendorConfig,
    key: LedgerKey,
    claimId: string,
    referenceId: string,
    log: LogFields & { webhookId: string; referenceId: string },
  ): Promise<{ reply: Reply; log: LogFields }> {
    const { webhookId } = key;
    const ids = { webhookId, referenceID: referenceId };
    const result = await deliver(delivery, routeFor(vendor, config), referenceId, {
      inlineRetry: true,
      budget: { totalMs: budget.inlineDeliveryMs, minAttemptMs: budget.minInlineAttemptMs },
    });
    const { outcome, attempts, latencyMs } = result;
    if (attempts > 0) telemetry.latency(latencyMs);
    const done = { ...log, attempts, opscomLatencyMs: latencyMs };
    const reading = readOutcome(result, attempts);
    for (const metric of reading.metrics) telemetry.count(metric);
    // From here on OPS-COM has answered (or been tried): the claim is never released again, so
    // a failed ledger write cannot turn a resend into a second delete or orphan a parked one.
    const message: RetryMessage = {
      vendorId: vendor.id,
      webhookId,
      referenceId,
      attempt: attempts,
      firstSeenAt: new Date(clock.now()).toISOString(),
      claimId,
    };
    const expect = { from: ["in_progress"] as const, claimId };
    const settle = (state: Settled) =>
      recordFinalOutcome(
        { ledger, queue, telemetry },
        key,
        expect,
        { state, now: clock.now(), attempts, ...reading.details },
        { message, delaySeconds: initialRetryDelaySeconds(delivery.random) },
        done,
      );
    switch (reading.state) {
      case "deleted":
        await settle("deleted");
        return {
          reply: { statusCode: 200, answer: { status: "deleted", ...ids } },
          log: { ...done, ...reading.log },
        };
      case "not_found":
        await settle("not_found");
        return {
          reply: { statusCode: 200, answer: { status: "not_found", ...ids } },
          log: { ...done, ...reading.log },
        };
      case "rejected":
        await settle("rejected");
        return {
          reply: rejectedByOpscom(ids, reading.details.opscomErrorCode, reading.details.lastError ?? ""),
          log: { ...done, ...reading.log },
        };
      case "parked": {
        if (outcome.kind === "token_rejected") {
          telemetry.error("OPS-COM rejected the API token after a refetch; check the token secret", {
            ...done,
            opscomErrorCode: outcome.code,
          });
        }
        const delay = initialRetryDelaySeconds(delivery.random);
        try {
          await queue.enqueue(message, delay);
        } catch (error) {
          // Nothing was parked: free the claim so the vendor's retry starts afresh.
          await ledger.release(key, claimId).catch(() => undefined);
          telemetry.count("QueueUnavailable");
          telemetry.error("retry queue unavailable", {
            ...done,
            reason: `${reading.log.reason}; queue: ${errorName(error)}`,
          });
          return unavailable(
            { status: "unavailable", ...ids },
            { ...done, reason: "retry queue unavailable" },
          );
        }
        await recordOutcome(
          { ledger, telemetry },
          key,
          expect,
          { state: "queued", now: clock.now(), attempts, ...reading.details },
          done,
        );
        telemetry.count("DeliveryQueued");
        return {
          reply: { statusCode: 202, answer: { status: "queued", ...ids } },
          log: { ...done, ...reading.log, retryInSeconds: delay },
        };
      }
    }
  }

  function duplicate(
    existing: LedgerRecord,
    bodyHash: string,
    now: number,
    log: LogFields,
  ): { reply: Reply; log: LogFields } {
    const ids = { webhookId: existing.webhookId, referenceID: existing.referenceId };
    if (existing.bodyHash !== bodyHash) {
      telemetry.count("WebhookRejected");
      return {
        reply: {
          statusCode: 422,
          answer: {
            status: "rejected",
            webhookId: existing.webhookId,
            reason: "this webhook id was already received with a different body; send a new webhook id",
          },
        },
        log: { ...log, outcome: "rejected", reason: "webhook id reused with a different body" },
      };
    }
    telemetry.count("DuplicateWebhook");
    const reply = replyFor(existing, now);
    return {
      reply: {
        ...reply,
        answer: reply.statusCode === 409 ? reply.answer : { ...reply.answer, duplicate: true },
      },
      log: { ...log, outcome: `duplicate ${existing.state}` },
    };

    function replyFor(record: LedgerRecord, at: number): Reply {
      switch (record.state) {
        case "in_progress":
          return {
            statusCode: 409,
            answer: { status: "in_progress", ...ids },
            retryAfterSeconds: Math.max(1, Math.ceil((inFlightUntil(record, at) - at) / 1000)),
          };
        case "deleted":
          return { statusCode: 200, answer: { status: "deleted", ...ids } };
        case "not_found":
          return { statusCode: 200, answer: { status: "not_found", ...ids } };
        case "rejected":
          return rejectedByOpscom(ids, record.opscomErrorCode, record.lastError ?? "");
        case "queued":
        case "dead_lettered":
          return { statusCode: 202, answer: { status: "queued", ...ids } };
      }
    }
  }

  /**
   * When a resend can first find the in-flight delivery finished: the claim's start plus the
   * longest an inline delivery takes. Past that the holder has crashed, and only the lease's
   * end frees the claim.
   */
  function inFlightUntil(record: LedgerRecord, at: number): number {
    const claimedAt = record.leaseUntil - config.claimLeaseSeconds * 1000;
    const done = Math.min(claimedAt + ANSWER_CEILING_MS, record.leaseUntil);
    return at < done ? done : record.leaseUntil;
  }

  function plain(statusCode: number, answer: Reply["answer"]): { reply: Reply; log: LogFields } {
    return { reply: { statusCode, answer }, log: { outcome: answer.status } };
  }

  function refused(
    statusCode: number,
    answer: Reply["answer"],
    vendorId: string | undefined,
    reason?: string,
    webhookId?: string,
  ): { reply: Reply; log: LogFields } {
    telemetry.count("WebhookRejected");
    return {
      reply: { statusCode, answer },
      log: {
        ...(vendorId === undefined ? {} : { vendorId }),
        ...(webhookId === undefined ? {} : { webhookId }),
        outcome: answer.status,
        ...(reason === undefined ? {} : { reason }),
      },
    };
  }

  function unavailable(answer: Reply["answer"], log: LogFields): { reply: Reply; log: LogFields } {
    return {
      reply: { statusCode: 503, answer, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS },
      log: { ...log, outcome: "unavailable" },
    };
  }

  return async (event) => {
    let result: { reply: Reply; log: LogFields };
    try {
      result = await handle(event);
    } catch (error) {
      // No internals in the answer; the log line carries the error's name only, never its payload.
      result = {
        reply: { statusCode: 500, answer: { status: "error" } },
        log: { outcome: "error", reason: errorName(error) },
      };
      // The handler answers instead of throwing, so Lambda's Errors metric never sees this.
      telemetry.count("HandlerError");
      telemetry.error("webhook failed", result.log);
    }
    telemetry.info("webhook handled", { ...result.log, httpStatus: result.reply.statusCode });
    telemetry.flush();
    return toResult(result.reply);
  };
}

/** 422 with OPS-COM's own code and message: the same answer first time and for a duplicate. */
function rejectedByOpscom(
  ids: { webhookId: string; referenceID: string },
  code: number | undefined,
  message: string,
): Reply {
  return {
    statusCode: 422,
    answer: {
      status: "rejected",
      ...ids,
      reason: "OPS-COM rejected the delete",
      opscom: { ...(code === undefined ? {} : { errorCode: code }), errorMessage: message },
    },
  };
}
