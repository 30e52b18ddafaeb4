// The ingest flow: admission (lambda/admission.ts: route, size, media type, vendor,
// allow-list, signature, webhook id, body) decides whether a request may be acted on; this
// file delivers an admitted one: the ping and ignored answers, the idempotency claim, the
// duplicate answer, OPS-COM, and recording the outcome. Every branch ends in one of the vendor
// contract's answers (the README's table), whose HTTP status lambda/http.ts derives. Built from
// a factory that receives its dependencies, so tests pass in-memory or local-server versions
// and production passes the AWS ones.
import { createHash, randomUUID } from "node:crypto";
import type { APIGatewayProxyResult } from "aws-lambda";
import { version as RELAY_VERSION } from "../package.json";
import { type Admitted, createAdmission } from "./admission";
import { ANSWER_BUDGET, ANSWER_CEILING_MS, type AnswerBudget } from "./budget";
import { type DeliveryDeps, deliver, errorName, type Route, routeFor } from "./delivery";
import { type Answer, type Handled, type IngestEvent, type Reply, requestIdOf, toResult } from "./http";
import { readOutcome, recordFinalOutcome, recordOutcome, type Settled } from "./outcome";
import type { Ledger, LedgerKey, LedgerRecord, RelayDeps, RetryMessage } from "./ports";
import { initialRetryDelaySeconds } from "./retry-schedule";
import { parseTokenSecret, SecretCache } from "./secret-cache";
import { type LogFields, type Telemetry, withRequestId } from "./telemetry";

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

/** Priming reads this many vendors' secrets at start-up; the rest are read on first use. */
const PRIMED_VENDORS = 10;

type DeliveryLog = LogFields & { readonly webhookId: string; readonly referenceId: string };

export function createIngestHandler(deps: IngestDeps): IngestHandler {
  const { config, clock, ledger, queue } = deps;
  const budget = deps.budget ?? ANSWER_BUDGET;
  const tokens =
    deps.tokens ??
    new SecretCache(deps.secrets, clock, config.secretCacheTtlMs, parseTokenSecret, budget.secretReadMs);
  const admission = createAdmission({ config, clock, secrets: deps.secrets, tokens, budget });
  const delivery: DeliveryDeps = {
    opscom: deps.opscom,
    tokens,
    clock,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    random: deps.random ?? Math.random,
  };
  if (deps.prime) {
    tokens.warm(config.opscomTokenSecretId);
    admission.prime(PRIMED_VENDORS);
    for (const vendor of [...config.vendors.values()].slice(0, PRIMED_VENDORS)) {
      if (vendor.opscom.tokenSecretId) tokens.warm(vendor.opscom.tokenSecretId);
    }
    // A read of a key that never exists: it pays the ledger client's first-call costs now.
    ledger.get({ vendorId: "~prime", webhookId: "~prime" }).catch(() => undefined);
  }

  async function handle(event: IngestEvent, telemetry: Telemetry): Promise<Handled> {
    const admitted = await admission.admit(event, telemetry);
    if (admitted.kind === "refused") return admitted;
    const { vendor, webhookId, body } = admitted;
    if (body.kind === "ping") {
      // Admitted: answer before the ledger, the token and OPS-COM, which a ping must not touch.
      return {
        reply: { answer: { status: "pong", vendorId: vendor.id, version: RELAY_VERSION, webhookId } },
        log: { vendorId: vendor.id, webhookId, outcome: "pong" },
      };
    }
    if (body.kind === "ignored") {
      telemetry.count("EventIgnored");
      return {
        reply: {
          answer: {
            status: "ignored",
            webhookId,
            reason: `event type ${JSON.stringify(body.type.slice(0, 100))} is not a delete`,
          },
        },
        log: { vendorId: vendor.id, webhookId, outcome: "ignored" },
      };
    }
    return claimAndForward(admitted, body.referenceId, telemetry);
  }

  async function claimAndForward(
    { vendor, webhookId, senderId, rawBody }: Admitted,
    referenceId: string,
    telemetry: Telemetry,
  ): Promise<Handled> {
    const key: LedgerKey = { vendorId: vendor.id, webhookId };
    const log: DeliveryLog = {
      vendorId: vendor.id,
      webhookId,
      ...(senderId === undefined ? {} : { senderId }),
      referenceId,
    };
    const now = clock.now();
    const claimId = randomUUID();
    const bodyHash = createHash("sha256").update(rawBody).digest("hex");
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
    if (!claim.claimed) return duplicate(claim.existing, bodyHash, now, log, telemetry);

    try {
      return await forward(vendor.id, routeFor(vendor, config), key, claimId, log, telemetry);
    } catch (error) {
      // Only a failure before OPS-COM was reached gets here (`forward` records every outcome
      // itself): let the vendor's retry start afresh rather than be taken for a duplicate.
      await ledger.release(key, claimId).catch(() => undefined);
      throw error;
    }
  }

  async function forward(
    vendorId: string,
    route: Route,
    key: LedgerKey,
    claimId: string,
    log: DeliveryLog,
    telemetry: Telemetry,
  ): Promise<Handled> {
    const { webhookId, referenceId } = log;
    const ids = { webhookId, referenceID: referenceId };
    const result = await deliver(delivery, route, referenceId, {
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
      vendorId,
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
      case "not_found":
        await settle(reading.state);
        return { reply: { answer: { status: reading.state, ...ids } }, log: { ...done, ...reading.log } };
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
          reply: { answer: { status: "queued", ...ids } },
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
    telemetry: Telemetry,
  ): Handled {
    if (existing.bodyHash !== bodyHash) {
      telemetry.count("WebhookRejected");
      return {
        reply: {
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
    const reply = standing(existing, now);
    return {
      reply: {
        ...reply,
        answer: reply.answer.status === "in_progress" ? reply.answer : { ...reply.answer, duplicate: true },
      },
      log: { ...log, outcome: `duplicate ${existing.state}` },
    };
  }

  /** Where a recorded delivery stands now, as the answer its duplicate gets. */
  function standing(record: LedgerRecord, at: number): Reply {
    const ids = { webhookId: record.webhookId, referenceID: record.referenceId };
    switch (record.state) {
      case "in_progress":
        return {
          answer: { status: "in_progress", ...ids },
          retryAfterSeconds: Math.max(1, Math.ceil((inFlightUntil(record, at) - at) / 1000)),
        };
      case "deleted":
      case "not_found":
        return { answer: { status: record.state, ...ids } };
      case "rejected":
        return rejectedByOpscom(ids, record.opscomErrorCode, record.lastError ?? "");
      case "queued":
      case "dead_lettered":
        return { answer: { status: "queued", ...ids } };
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

  return async (event) => {
    const requestId = requestIdOf(event);
    const telemetry = requestId === undefined ? deps.telemetry : withRequestId(deps.telemetry, requestId);
    let result: Handled;
    try {
      result = await handle(event, telemetry);
    } catch (error) {
      // No internals in the answer; the log line carries the error's name only, never its payload.
      result = {
        reply: { answer: { status: "error" } },
        log: { outcome: "error", reason: errorName(error) },
      };
      // The handler answers instead of throwing, so Lambda's Errors metric never sees this.
      telemetry.count("HandlerError");
      telemetry.error("webhook failed", result.log);
    }
    const answered = toResult(result.reply, requestId);
    telemetry.info("webhook handled", { ...result.log, httpStatus: answered.statusCode });
    telemetry.flush();
    return answered;
  };
}

/** 503: the vendor retries after `Retry-After`, and nothing was recorded. */
function unavailable(answer: Answer, log: LogFields): Handled {
  return { reply: { answer }, log: { ...log, outcome: "unavailable" } };
}

/** 422 with OPS-COM's own code and message: the same answer first time and for a duplicate. */
function rejectedByOpscom(
  ids: { webhookId: string; referenceID: string },
  code: number | undefined,
  message: string,
): Reply {
  return {
    answer: {
      status: "rejected",
      ...ids,
      reason: "OPS-COM rejected the delete",
      opscom: { ...(code === undefined ? {} : { errorCode: code }), errorMessage: message },
    },
  };
}
