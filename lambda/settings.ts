// Settings that each pass their own range but can contradict one another: the retry schedule
// against the queues' retention and the ledger's TTL, the claim lease against how long an
// ingest invocation can hold a claim. Pure, so `cdk synth` (lib/) and Lambda start-up
// (config.ts) refuse the same combinations with the same sentence.
import { ANSWER_CEILING_MS } from "./budget";
import { SQS_LIMITS } from "./facts";
import {
  initialRetryDelaySeconds,
  LAMBDA_MAX_TIMEOUT_SECONDS,
  nextRetryDelaySeconds,
} from "./retry-schedule";

/** How long both SQS queues keep a message (SQS's maximum); the dead-letter queue counts from the first send. */
export const RETRY_QUEUE_RETENTION_DAYS = SQS_LIMITS.maxRetentionDays;
/**
 * Time the dead-letter queue must still keep a delivery after its last attempt, so the person
 * its alarm pages has a week to fix the cause and redrive it.
 */
export const MIN_REDRIVE_WINDOW_DAYS = 7;
const DAY = 86_400;

/**
 * Seconds from the moment a delivery is parked to the end of its last queued attempt, with
 * every delay at its highest jitter and every attempt taking Lambda's longest timeout.
 */
export function lastAttemptSeconds(retryMaxAttempts: number): number {
  const highest = () => 1;
  let total = initialRetryDelaySeconds(highest) + LAMBDA_MAX_TIMEOUT_SECONDS;
  for (let receive = 1; receive < retryMaxAttempts; receive++) {
    total += nextRetryDelaySeconds(receive, highest) + LAMBDA_MAX_TIMEOUT_SECONDS;
  }
  return total;
}

export interface TimingSettings {
  readonly retryMaxAttempts: number;
  readonly ledgerTtlDays?: number;
  readonly claimLeaseSeconds?: number;
  /** Known at synth only. */
  readonly ingestTimeoutSeconds?: number;
}

/** What each setting is called where it was given (`RETRY_MAX_ATTEMPTS`, `retryMaxAttempts`, …). */
export type SettingNames = Readonly<Record<keyof TimingSettings, string>>;

/** The first contradiction among `settings`, as a sentence naming them; undefined when they agree. */
export function settingsContradiction(settings: TimingSettings, names: SettingNames): string | undefined {
  const attempts = settings.retryMaxAttempts;
  const last = lastAttemptSeconds(attempts);
  const retention = RETRY_QUEUE_RETENTION_DAYS * DAY;
  const fits = (n: number) => lastAttemptSeconds(n) + MIN_REDRIVE_WINDOW_DAYS * DAY <= retention;
  if (!fits(attempts)) {
    let most = attempts;
    while (most > 1 && !fits(most)) most--;
    const lastAttempt = `${names.retryMaxAttempts} ${attempts} makes the last attempt end up to ${days(last)} days after the webhook is parked`;
    return last >= retention
      ? `${lastAttempt}, past the retry queue's ${RETRY_QUEUE_RETENTION_DAYS}-day retention: the message would ` +
          `expire before reaching the dead-letter queue; at most ${most}`
      : `${lastAttempt}, leaving ${days(retention - last)} of the dead-letter queue's ${RETRY_QUEUE_RETENTION_DAYS} ` +
          `days (counted from the parking) to redrive it; ${MIN_REDRIVE_WINDOW_DAYS} are kept: at most ${most}`;
  }
  // A redrive sends the message back with a fresh retention and receive count, and the worker
  // delivers only what has a ledger record: the record must outlive the redrive window and a
  // whole schedule after it, with a day to spare.
  const ttlNeeded = Math.ceil((retention + last + DAY) / DAY);
  if (settings.ledgerTtlDays !== undefined && settings.ledgerTtlDays < ttlNeeded) {
    return (
      `${names.ledgerTtlDays} ${settings.ledgerTtlDays} lets a ledger record expire while its delivery may still be ` +
      `attempted (a dead-lettered delivery may be redriven up to ${RETRY_QUEUE_RETENTION_DAYS} days after it was ` +
      `parked, then retried for up to ${days(last)} days): at least ${ttlNeeded}`
    );
  }
  const lease = settings.claimLeaseSeconds;
  if (lease === undefined) return undefined;
  // A lease that ends while the invocation holding it still runs lets a duplicate take the
  // claim over and call OPS-COM a second time.
  const ingest = settings.ingestTimeoutSeconds;
  if (ingest !== undefined && lease <= ingest) {
    return `${names.claimLeaseSeconds} ${lease} s must be longer than ${names.ingestTimeoutSeconds} ${ingest} s, or a live claim could be taken over`;
  }
  // An ingest invocation holds its claim no longer than its answer takes (lambda/budget.ts).
  if (lease * 1000 <= ANSWER_CEILING_MS) {
    const ceiling = ANSWER_CEILING_MS / 1000;
    return (
      `${names.claimLeaseSeconds} ${lease} is not longer than the ${ceiling} s an ingest answer can take: a live ` +
      `claim could be taken over; at least ${Math.floor(ceiling) + 1}`
    );
  }
  return undefined;
}

function days(seconds: number): string {
  return (seconds / DAY).toFixed(1);
}
