// The retry worker: drains the SQS retry queue, one OPS-COM attempt per receive, backing off
// by changing the message's visibility, and reporting partial batch failures so one bad
// delivery does not hold back the rest. After the last attempt SQS moves the message to the
// dead-letter queue and the ledger says `dead_lettered`.
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { type DeliveryDeps, deliver, errorName, routeFor } from "./delivery";
import { readOutcome, recordFinalOutcome, recordOutcome } from "./outcome";
import type { DeliveryState, KnownOutcome, LedgerKey, RelayDeps, RetryMessage } from "./ports";
import { nextRetryDelaySeconds } from "./retry-schedule";
import { parseTokenSecret, SecretCache } from "./secret-cache";
import type { LogFields } from "./telemetry";

export type RetryWorkerDeps = RelayDeps;

export type RetryWorkerHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/**
 * Records of one batch delivered at a time. With the event source mapping's maximum
 * concurrency it bounds the worker's concurrent OPS-COM calls (this times that), so the
 * backlog an outage leaves does not meet OPS-COM's recovery all at once.
 */
export const RECORD_CONCURRENCY = 5;

/** States a queued delivery can be found in; anything else means it is already settled. */
const OPEN: readonly DeliveryState[] = ["in_progress", "queued", "dead_lettered"];

export function createRetryWorker(deps: RetryWorkerDeps): RetryWorkerHandler {
  const { config, clock, ledger, queue, telemetry } = deps;
  const random = deps.random ?? Math.random;
  const delivery: DeliveryDeps = {
    opscom: deps.opscom,
    tokens: deps.tokens ?? new SecretCache(deps.secrets, clock, config.secretCacheTtlMs, parseTokenSecret),
    clock,
    sleep: async () => undefined,
    random,
  };

  /** Answers true when the message is done with (delete it), false to keep it for a later attempt. */
  async function attemptDelivery(record: SQSRecord): Promise<boolean> {
    const message = parseMessage(record.body);
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1;
    if (!message) {
      // Not ours or corrupted: keep it, so it ends in the dead-letter queue for a person to read.
      telemetry.error("unreadable retry message", { reason: "malformed body", attempts: receiveCount });
      return false;
    }
    const key: LedgerKey = { vendorId: message.vendorId, webhookId: message.webhookId };
    const log: LogFields = {
      vendorId: key.vendorId,
      webhookId: key.webhookId,
      referenceId: message.referenceId,
    };
    const existing = await ledger.get(key);
    if (!existing || existing.referenceId !== message.referenceId) {
      // Only what the ingest handler parked is delivered: a message without its signed ledger
      // record is not trusted to delete anything. It stays for the dead-letter queue (and its
      // alarm), so a person sees it.
      telemetry.count("RetryRejected");
      telemetry.error("retry message matches no ledger record; kept for the dead-letter queue", {
        ...log,
        reason: existing ? "reference ID differs from the ledger's" : "no ledger record",
        attempts: receiveCount,
      });
      return false;
    }
    if (!OPEN.includes(existing.state)) {
      telemetry.info("retry skipped: already settled", { ...log, outcome: existing.state });
      return true;
    }
    const now = clock.now();
    if (
      existing.state === "in_progress" &&
      existing.claimId !== message.claimId &&
      existing.leaseUntil > now
    ) {
      // Another delivery of this webhook holds a live claim (a vendor's resend took over a
      // lapsed one): let it finish, and look again when its lease ends, without calling OPS-COM.
      const delay = Math.ceil((existing.leaseUntil - now) / 1000) + 1;
      await queue.retryLater(record.receiptHandle, delay);
      telemetry.info("retry postponed: another delivery holds the claim", {
        ...log,
        outcome: "in_progress",
        retryInSeconds: delay,
      });
      return false;
    }
    if (message.known) {
      // OPS-COM answered earlier and only the ledger write failed: record it, call nobody.
      const { state, attempts, ...details } = message.known;
      const recorded = await recordOutcome(
        { ledger, telemetry },
        key,
        { from: OPEN },
        { state, now, attempts, ...details },
        { ...log, attempts },
      );
      if (recorded !== "failed") {
        telemetry.info("known outcome recorded", { ...log, attempts, outcome: state });
        return true;
      }
      await queue.retryLater(record.receiptHandle, nextRetryDelaySeconds(receiveCount, random));
      return false;
    }
    const vendor = config.vendors.get(message.vendorId);
    if (!vendor) {
      telemetry.error("retry for a vendor no longer configured", { ...log, attempts: receiveCount });
      return giveUpOrWait(key, log, receiveCount, record, "vendor no longer configured", existing.attempts);
    }
    const result = await deliver(delivery, routeFor(vendor, config), message.referenceId, {
      inlineRetry: false,
    });
    // The message knows the ingest's attempts even when the ledger could not record them.
    const attempts = Math.max(existing.attempts, message.attempt) + result.attempts;
    if (result.attempts > 0) telemetry.latency(result.latencyMs);
    const done = { ...log, attempts, opscomLatencyMs: result.latencyMs };
    const reading = readOutcome(result, attempts);
    for (const metric of reading.metrics) telemetry.count(metric);
    if (reading.state === "parked") {
      const reason = reading.log.reason ?? "transient";
      return giveUpOrWait(key, done, receiveCount, record, reason, attempts, reading.details.opscomErrorCode);
    }
    // OPS-COM has answered for good: the message is done with. If the ledger write fails, the
    // answer goes back to the queue to be recorded later, never as another OPS-COM call.
    await recordFinalOutcome(
      { ledger, queue, telemetry },
      key,
      { from: OPEN },
      { state: reading.state, now: clock.now(), attempts, ...reading.details },
      { message, delaySeconds: nextRetryDelaySeconds(1, random) },
      done,
    );
    const line = { ...done, ...reading.log };
    if (reading.state === "rejected") telemetry.warn("retry rejected by OPS-COM", line);
    else telemetry.info("retry delivered", line);
    return true;
  }

  async function giveUpOrWait(
    key: LedgerKey,
    log: LogFields,
    receiveCount: number,
    record: SQSRecord,
    reason: string,
    attempts: number,
    opscomErrorCode?: number,
  ): Promise<boolean> {
    // Measured only when an attempt failed, so a backlog delivered after OPS-COM recovers does
    // not raise the alarm again; the second failed retry (about 5 minutes in) crosses it.
    const firstSeen = Date.parse(parseMessage(record.body)?.firstSeenAt ?? "");
    if (Number.isFinite(firstSeen))
      telemetry.gauge("ParkedDeliveryAge", Math.max(0, (clock.now() - firstSeen) / 1000));
    const patch = {
      now: clock.now(),
      attempts,
      lastError: reason,
      ...(opscomErrorCode === undefined ? {} : { opscomErrorCode }),
    };
    if (receiveCount >= config.retryMaxAttempts) {
      // SQS moves it to the dead-letter queue on its next receive; the ledger says so now.
      await recordOutcome(
        { ledger, telemetry },
        key,
        { from: OPEN },
        { state: "dead_lettered", ...patch },
        log,
      );
      telemetry.count("DeadLettered");
      telemetry.error("delivery dead-lettered", { ...log, outcome: "dead_lettered", reason });
      await queue.retryLater(record.receiptHandle, 0).catch(() => undefined);
      return false;
    }
    const delay = nextRetryDelaySeconds(receiveCount, random);
    await recordOutcome({ ledger, telemetry }, key, { from: OPEN }, { state: "queued", ...patch }, log);
    await queue.retryLater(record.receiptHandle, delay);
    telemetry.count("DeliveryQueued");
    telemetry.info("retry postponed", { ...log, outcome: "queued", reason, retryInSeconds: delay });
    return false;
  }

  return async (event) => {
    const results = await mapBounded(event.Records, RECORD_CONCURRENCY, async (record) => {
      try {
        return { record, done: await attemptDelivery(record) };
      } catch (error) {
        telemetry.error("retry attempt failed", { reason: errorName(error) });
        return { record, done: false };
      }
    });
    telemetry.flush();
    return {
      batchItemFailures: results.filter((r) => !r.done).map((r) => ({ itemIdentifier: r.record.messageId })),
    };
  };
}

/** `Promise.all` over `items` with at most `limit` calls in flight; results in input order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

export function parseMessage(body: string): RetryMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const m = value as Partial<RetryMessage> | null;
  if (
    !m ||
    typeof m.vendorId !== "string" ||
    typeof m.webhookId !== "string" ||
    typeof m.referenceId !== "string" ||
    typeof m.attempt !== "number" ||
    typeof m.firstSeenAt !== "string" ||
    (m.claimId !== undefined && typeof m.claimId !== "string") ||
    (m.known !== undefined && !isKnownOutcome(m.known))
  ) {
    return undefined;
  }
  return m as RetryMessage;
}

function isKnownOutcome(value: unknown): value is KnownOutcome {
  const k = value as Partial<KnownOutcome> | null;
  return (
    typeof k === "object" &&
    k !== null &&
    (k.state === "deleted" || k.state === "not_found" || k.state === "rejected") &&
    typeof k.attempts === "number" &&
    (k.lastError === undefined || typeof k.lastError === "string") &&
    (k.opscomErrorCode === undefined || typeof k.opscomErrorCode === "number")
  );
}
