// The answer-time budget's arithmetic: the production deadlines add up to no more than the
// ceiling the contract promises, and the ceiling fits inside the ingest function's timeout as
// the construct sets it, so Lambda never cuts an answer off into API Gateway's 502.
import { describe, expect, it, vi } from "vitest";
import { ANSWER_BUDGET, ANSWER_CEILING_MS, withinMs, worstCaseAnswerMs } from "../../lambda/budget";
import { DEFAULT_INGEST_TIMEOUT } from "../../lib/permit-delete-relay";

describe("the production answer budget", () => {
  it("sums, at its slowest, to at most the ceiling, which is at most 8 s and inside the ingest timeout", () => {
    const worst = worstCaseAnswerMs(ANSWER_BUDGET);
    expect(worst).toBe(6800); // the sum written out in lambda/budget.ts
    expect(worst).toBeLessThanOrEqual(ANSWER_CEILING_MS);
    expect(ANSWER_CEILING_MS).toBeLessThanOrEqual(8000);
    expect(ANSWER_CEILING_MS).toBeLessThan(DEFAULT_INGEST_TIMEOUT.toMilliseconds());
  });

  it("leaves room inline for a second OPS-COM attempt only after a first that failed fast", () => {
    expect(ANSWER_BUDGET.minInlineAttemptMs).toBeLessThan(ANSWER_BUDGET.inlineDeliveryMs);
    // A token refetch starts only with this much left, so it ends inside the budget.
    expect(ANSWER_BUDGET.minInlineAttemptMs).toBeGreaterThanOrEqual(ANSWER_BUDGET.secretReadMs);
    // The token read sits inside the inline budget; it must leave room for one attempt.
    expect(ANSWER_BUDGET.inlineDeliveryMs - ANSWER_BUDGET.secretReadMs).toBeGreaterThanOrEqual(
      ANSWER_BUDGET.minInlineAttemptMs,
    );
  });

  it("counts every step of the slowest path", () => {
    const one = {
      secretReadMs: 1,
      ledgerCallMs: 10,
      enqueueMs: 100,
      inlineDeliveryMs: 1000,
      minInlineAttemptMs: 0,
    };
    expect(worstCaseAnswerMs(one)).toBe(2 * 1 + 3 * 10 + 100 + 1000);
  });
});

describe("withinMs", () => {
  it("rejects with a TimeoutError at the deadline when the work never settles", async () => {
    vi.useFakeTimers();
    try {
      let error: unknown;
      withinMs(new Promise(() => undefined), 500, "GetSecretValue").catch((e: unknown) => {
        error = e;
      });
      await vi.advanceTimersByTimeAsync(499);
      expect(error).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(error).toMatchObject({
        name: "TimeoutError",
        message: "GetSecretValue took longer than 500 ms",
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it("passes the work's own answer or error through before the deadline", async () => {
    await expect(withinMs(Promise.resolve(7), 50, "x")).resolves.toBe(7);
    await expect(withinMs(Promise.reject(new Error("boom")), 50, "x")).rejects.toThrow("boom");
  });
});
