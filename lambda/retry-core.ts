// The retry worker: drains the SQS retry queue, one OPS-COM attempt per receive, backing off
// by changing the message's visibility, and reporting partial batch failures so one bad
// delivery does not hold back the rest. After the last attempt SQS moves the message to the
// dead-letter queue and the ledger says `dead_lettered`.
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { RelayConfig } from "./config";
import { type DeliveryDeps, deliver, errorName, notFoundNote, routeFor } from "./delivery";
import type {
  Clock,
  DeliveryState,
  Ledger,
  LedgerKey,
  RetryMessage,
  RetryQueue,
  SecretSource,
} from "./ports";
import { nextRetryDelaySeconds } from "./retry-schedule";
import { parseTokenSecret, SecretCache } from "./secret-cache";
import type { LogFields, Telemetry } from "./telemetry";

/** What both handlers are built from (the ingest handler takes a few more). */
export interface RelayDeps {
  readonly config: RelayConfig;
  readonly clock: Clock;
  readonly secrets: SecretSource;
  readonly ledger: Ledger;
  readonly queue: RetryQueue;
  readonly opscom: DeliveryDeps["opscom"];
  readonly telemetry: Telemetry;
  readonly random?: () => number;
  /** Shared by both handlers in one process (the local harness), so both see one token. */
  readonly tokens?: SecretCache<string>;
}

export type RetryWorkerDeps = RelayDeps;

export type RetryWorkerHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

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
  async function process(record: SQSRecord): Promise<boolean> {
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
    const vendor = config.vendors.get(message.vendorId);
    if (!vendor) {
      telemetry.error("retry for a vendor no longer configured", { ...log, attempts: receiveCount });
      return giveUpOrWait(
        key,
        log,
        receiveCount,
        record,
        "vendor no longer configured",
        existing?.attempts ?? 0,
      );
    }
    const result = await deliver(delivery, routeFor(vendor, config), message.referenceId, {
      inlineRetry: false,
    });
    const { outcome, latencyMs } = result;
    const attempts = existing.attempts + result.attempts;
    if (result.attempts > 0) telemetry.latency(latencyMs);
    const done = { ...log, attempts, opscomLatencyMs: latencyMs };
    const settle = (state: DeliveryState, extra: { lastError?: string; opscomErrorCode?: number } = {}) =>
      ledger.transition(key, { from: OPEN }, { state, now: clock.now(), attempts, ...extra });
    switch (outcome.kind) {
      case "deleted":
        await settle("deleted");
        telemetry.count("PermitDeleted");
        telemetry.info("retry delivered", { ...done, outcome: "deleted" });
        return true;
      case "not_found":
        await settle("not_found", {
          opscomErrorCode: outcome.code,
          ...notFoundNote(attempts),
        });
        telemetry.count("PermitNotFound");
        telemetry.info("retry delivered", { ...done, outcome: "not_found", opscomErrorCode: outcome.code });
        return true;
      case "rejected":
        await settle("rejected", {
          lastError: outcome.message,
          ...(outcome.code === undefined ? {} : { opscomErrorCode: outcome.code }),
        });
        telemetry.count("DeliveryFailed");
        telemetry.warn("retry rejected by OPS-COM", {
          ...done,
          outcome: "rejected",
          reason: outcome.message,
          ...(outcome.code === undefined ? {} : { opscomErrorCode: outcome.code }),
        });
        return true;
      case "token_rejected":
      case "transient": {
        const reason =
          outcome.kind === "transient" ? outcome.reason : `OPS-COM error ${outcome.code}: token rejected`;
        if (outcome.kind === "token_rejected") telemetry.count("TokenRejected");
        return giveUpOrWait(key, done, receiveCount, record, reason, attempts);
      }
    }
  }

  async function giveUpOrWait(
    key: LedgerKey,
    log: LogFields,
    receiveCount: number,
    record: SQSRecord,
    reason: string,
    attempts: number,
  ): Promise<boolean> {
    if (receiveCount >= config.retryMaxAttempts) {
      // SQS moves it to the dead-letter queue on its next receive; the ledger says so now.
      await ledger.transition(
        key,
        { from: OPEN },
        { state: "dead_lettered", now: clock.now(), attempts, lastError: reason },
      );
      telemetry.count("DeadLettered");
      telemetry.error("delivery dead-lettered", { ...log, outcome: "dead_lettered", reason });
      await queue.retryLater(record.receiptHandle, 0).catch(() => undefined);
      return false;
    }
    const delay = nextRetryDelaySeconds(receiveCount, random);
    await ledger.transition(
      key,
      { from: OPEN },
      { state: "queued", now: clock.now(), attempts, lastError: reason },
    );
    await queue.retryLater(record.receiptHandle, delay);
    telemetry.count("DeliveryQueued");
    telemetry.info("retry postponed", { ...log, outcome: "queued", reason, retryInSeconds: delay });
    return false;
  }

  return async (event) => {
    const results = await Promise.all(
      event.Records.map(async (record) => {
        try {
          return { record, done: await process(record) };
        } catch (error) {
          telemetry.error("retry attempt failed", { reason: errorName(error) });
          return { record, done: false };
        }
      }),
    );
    telemetry.flush();
    return {
      batchItemFailures: results.filter((r) => !r.done).map((r) => ({ itemIdentifier: r.record.messageId })),
    };
  };
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
    typeof m.firstSeenAt !== "string"
  ) {
    return undefined;
  }
  return m as RetryMessage;
}
