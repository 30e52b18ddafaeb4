// The ingest function's answer-time budget: one home for the deadline of every step a webhook
// can wait on, and the arithmetic that shows the slowest answer stays under the ceiling the
// vendor contract promises (README, docs/openapi.yaml). `test/unit/budget.test.ts` checks the
// sum against the ceiling and the ceiling against the ingest function's timeout.

/** No ingest answer takes longer than this; senders that give up at 10 s never miss one. */
export const ANSWER_CEILING_MS = 8000;

export interface AnswerBudget {
  /** One Secrets Manager read, the SDK's retries included; the secret cache drops a slower fetch. */
  readonly secretReadMs: number;
  /** One ledger operation on DynamoDB (claim, settle, release), the SDK's retries included. */
  readonly ledgerCallMs: number;
  /** One send to the SQS retry queue, the SDK's retries included. */
  readonly enqueueMs: number;
  /**
   * The whole inline delivery: the token read, the first OPS-COM attempt, and a second one
   * (after a token refetch or a transient failure) only if `minInlineAttemptMs` is left. Each
   * attempt's timeout is FORWARD_TIMEOUT_MS or what is left of this, whichever is shorter; the
   * retry worker's attempts get the full FORWARD_TIMEOUT_MS.
   */
  readonly inlineDeliveryMs: number;
  readonly minInlineAttemptMs: number;
}

/**
 * The production budget. The slowest path, every step at its deadline:
 *
 *     signing secret read                          700
 *   + forced refetch (no signature matched)        700
 *   + ledger claim                                 800
 *   + inline delivery (token, OPS-COM attempts)   2400
 *   + enqueue (OPS-COM failed)                     600
 *   + settle as queued                             800
 *   + release of the claim (the settle failed)     800
 *   = 6800 ms  ≤  ANSWER_CEILING_MS 8000 ms  <  the ingest function's timeout (15 s)
 *
 * The 1.2 s left over covers the handler's own work and a cold start's module loading. Each
 * AWS figure is generous next to the tens of milliseconds these calls take in a region, and
 * leaves room for the SDK's one retry of a call that fails fast.
 */
export const ANSWER_BUDGET: AnswerBudget = {
  secretReadMs: 700,
  ledgerCallMs: 800,
  enqueueMs: 600,
  inlineDeliveryMs: 2400,
  minInlineAttemptMs: 1000,
};

/** The slowest answer a budget allows: the sum in the comment above. */
export function worstCaseAnswerMs(budget: AnswerBudget): number {
  return 2 * budget.secretReadMs + 3 * budget.ledgerCallMs + budget.inlineDeliveryMs + budget.enqueueMs;
}

export class DeadlineError extends Error {
  override readonly name = "TimeoutError";
}

/**
 * Settles with `work`, or rejects with a TimeoutError after `ms`, whichever comes first. The
 * work is not cancelled here; callers whose work can be (an SDK call) give it its own timeout.
 */
export function withinMs<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
