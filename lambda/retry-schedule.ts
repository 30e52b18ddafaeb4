// When to try again. Close to the Standard Webhooks schedule: seconds, then minutes, then
// hours — 27.6 h in all with the default 7 queued attempts (RETRY_MAX_ATTEMPTS) — each delay with ±20% jitter so a
// burst of failures does not come back as a burst. SQS caps a message's visibility at 12 h.

import { LAMBDA_MAX_TIMEOUT_SECONDS, SQS_LIMITS } from "./facts";

export { LAMBDA_MAX_TIMEOUT_SECONDS } from "./facts";

/** Delay before attempt k+1 after queue attempt k failed (index 0: before the first queued attempt). */
export const RETRY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18_000, 36_000, 36_000] as const;
/**
 * SQS refuses a visibility change that reaches 12 hours from the message's receive, and the
 * new timeout starts only when the attempt's processing is done. So a delay stays under 12 h
 * by Lambda's longest timeout and as much again for margin (a jittered 10 h can be exactly 12 h).
 */
const MAX_RETRY_DELAY_SECONDS = SQS_LIMITS.maxVisibilitySeconds - 2 * LAMBDA_MAX_TIMEOUT_SECONDS;
const SQS_MAX_DELAY_SECONDS = SQS_LIMITS.maxDelaySeconds;

function jitter(seconds: number, random: () => number): number {
  return Math.max(1, Math.round(seconds * (0.8 + 0.4 * random())));
}

export function initialRetryDelaySeconds(random: () => number): number {
  return Math.min(SQS_MAX_DELAY_SECONDS, jitter(RETRY_SCHEDULE_SECONDS[0], random));
}

/** `receiveCount` is SQS's ApproximateReceiveCount of the attempt that just failed (1-based). */
export function nextRetryDelaySeconds(receiveCount: number, random: () => number): number {
  const index = Math.min(Math.max(receiveCount, 1), RETRY_SCHEDULE_SECONDS.length - 1);
  return Math.min(MAX_RETRY_DELAY_SECONDS, jitter(RETRY_SCHEDULE_SECONDS[index] as number, random));
}
