// What an OPS-COM outcome means for the ledger, the metrics and the log line — one reading
// shared by the ingest handler and the retry worker, so the two cannot drift apart. Parking a
// delivery (the queue) and answering the vendor stay with each handler.
import { type DeliveryResult, errorName } from "./delivery";
import type {
  DeliveryState,
  KnownOutcome,
  Ledger,
  LedgerKey,
  LedgerPatch,
  RetryMessage,
  RetryQueue,
} from "./ports";
import type { LogFields, MetricName, Telemetry } from "./telemetry";

export type Settled = "deleted" | "not_found" | "rejected";

export interface OutcomeReading {
  /** The state the delivery settles in, or `parked`: it must be tried again later. */
  readonly state: Settled | "parked";
  /** Counted once each when the outcome is known (parking's own metric is the caller's). */
  readonly metrics: readonly MetricName[];
  /** Ledger fields besides the state: the error to keep and OPS-COM's code. */
  readonly details: Pick<LedgerPatch, "lastError" | "opscomErrorCode">;
  /** Fields for the handler's log line. */
  readonly log: Pick<LogFields, "outcome" | "reason" | "opscomErrorCode">;
}

const NOT_FOUND_AFTER_LOST_ANSWER =
  "OPS-COM has no such record; an earlier attempt whose answer was lost may have deleted it";

/** `attempts` is the delivery's total OPS-COM attempts so far, earlier receives included. */
export function readOutcome(result: DeliveryResult, attempts: number): OutcomeReading {
  const { outcome } = result;
  switch (outcome.kind) {
    case "deleted":
      return { state: "deleted", metrics: ["PermitDeleted"], details: {}, log: { outcome: "deleted" } };
    case "not_found":
      return {
        state: "not_found",
        metrics: ["PermitNotFound"],
        // 9009 after an earlier attempt that failed without a clear answer (a timeout, a reset)
        // may mean that attempt deleted the permit; the ledger says so, for whoever reads it.
        details: {
          opscomErrorCode: outcome.code,
          ...(attempts > 1 ? { lastError: NOT_FOUND_AFTER_LOST_ANSWER } : {}),
        },
        log: { outcome: "not_found", opscomErrorCode: outcome.code },
      };
    case "rejected": {
      const code = outcome.code === undefined ? {} : { opscomErrorCode: outcome.code };
      return {
        state: "rejected",
        metrics: ["DeliveryFailed"],
        details: { lastError: outcome.message, ...code },
        log: { outcome: "rejected", reason: outcome.message, ...code },
      };
    }
    case "token_rejected": {
      const reason = `OPS-COM error ${outcome.code}: token rejected`;
      return {
        state: "parked",
        metrics: ["TokenRejected"],
        details: { lastError: reason, opscomErrorCode: outcome.code },
        log: { outcome: "queued", reason, opscomErrorCode: outcome.code },
      };
    }
    case "transient": {
      const metrics: MetricName[] = [];
      if (outcome.unrecognised) metrics.push("OpscomUnrecognised");
      if (result.tokenUnavailable) metrics.push("SecretUnavailable");
      return {
        state: "parked",
        metrics,
        details: { lastError: outcome.reason },
        log: { outcome: "queued", reason: outcome.reason },
      };
    }
  }
}

/** `moved`: recorded; `superseded`: the record had moved on (someone else holds it); `failed`: the write failed. */
export type Recorded = "moved" | "superseded" | "failed";

/**
 * Records an outcome that is already known (OPS-COM answered, or the delivery is parked). A
 * failed write must not undo what happened: it is logged and counted, and the caller answers
 * the outcome all the same.
 */
export async function recordOutcome(
  deps: { readonly ledger: Ledger; readonly telemetry: Telemetry },
  key: LedgerKey,
  expect: { readonly from: readonly DeliveryState[]; readonly claimId?: string },
  patch: LedgerPatch,
  log: LogFields,
): Promise<Recorded> {
  try {
    if (await deps.ledger.transition(key, expect, patch)) return "moved";
    deps.telemetry.warn("the ledger record had moved on before this outcome was recorded", {
      ...log,
      outcome: patch.state,
    });
    return "superseded";
  } catch (error) {
    deps.telemetry.count("LedgerWriteFailed");
    deps.telemetry.error("ledger write failed after the outcome was known; the outcome stands", {
      ...log,
      outcome: patch.state,
      reason: errorName(error),
    });
    return "failed";
  }
}

/**
 * Records a final OPS-COM answer; when the ledger write fails, hands the answer to the retry
 * queue so the worker records it later (calling nobody), instead of leaving the record in
 * flight for a resend to turn into a second OPS-COM call. Never throws.
 */
export async function recordFinalOutcome(
  deps: { readonly ledger: Ledger; readonly queue: RetryQueue; readonly telemetry: Telemetry },
  key: LedgerKey,
  expect: { readonly from: readonly DeliveryState[]; readonly claimId?: string },
  patch: LedgerPatch & { readonly state: Settled; readonly attempts: number },
  handOver: { readonly message: Omit<RetryMessage, "known">; readonly delaySeconds: number },
  log: LogFields,
): Promise<Recorded> {
  const recorded = await recordOutcome(deps, key, expect, patch, log);
  if (recorded !== "failed") return recorded;
  const { state, attempts, lastError, opscomErrorCode } = patch;
  const known: KnownOutcome = {
    state,
    attempts,
    ...(lastError === undefined ? {} : { lastError }),
    ...(opscomErrorCode === undefined ? {} : { opscomErrorCode }),
  };
  try {
    await deps.queue.enqueue({ ...handOver.message, known }, handOver.delaySeconds);
  } catch (error) {
    deps.telemetry.error(
      "the outcome could not be handed to the retry queue either; the record stays in flight",
      {
        ...log,
        outcome: state,
        reason: errorName(error),
      },
    );
  }
  return recorded;
}
