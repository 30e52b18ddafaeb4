// When a parked delivery is tried again: the schedule, its ±20% jitter and SQS's limits.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lambda/config";
import {
  initialRetryDelaySeconds,
  nextRetryDelaySeconds,
  RETRY_SCHEDULE_SECONDS,
} from "../../lambda/retry-schedule";

const fixed = (value: number) => () => value;
const HOUR = 3600;

describe("initialRetryDelaySeconds", () => {
  it.each([
    [0, 4],
    [0.5, 5],
    [1, 6],
  ])("with random()=%d waits %d s (5 s ±20%%)", (random, expected) => {
    expect(initialRetryDelaySeconds(fixed(random))).toBe(expected);
  });

  it("never exceeds SQS's 900 s message delay, even with an out-of-range random()", () => {
    expect(initialRetryDelaySeconds(fixed(1000))).toBe(900);
  });
});

describe("nextRetryDelaySeconds", () => {
  it.each([
    [1, 300],
    [2, 1800],
    [3, 7200],
    [4, 18_000],
    [5, 36_000],
    [6, 36_000],
    [7, 36_000],
    [50, 36_000],
  ])("after receive %d waits %d s with no jitter", (receiveCount, seconds) => {
    expect(nextRetryDelaySeconds(receiveCount, fixed(0.5))).toBe(seconds);
  });

  it.each([0, -3])("treats a receive count of %d as the first", (receiveCount) => {
    expect(nextRetryDelaySeconds(receiveCount, fixed(0.5))).toBe(300);
  });

  it.each([1, 2, 3, 4, 5, 6])("after receive %d stays within ±20%% of the schedule", (receiveCount) => {
    const base = RETRY_SCHEDULE_SECONDS[receiveCount] as number;
    expect(nextRetryDelaySeconds(receiveCount, fixed(0))).toBe(Math.round(base * 0.8));
    // The 10-hour steps are cut at 11.5 hours (below).
    expect(nextRetryDelaySeconds(receiveCount, fixed(1))).toBe(Math.min(41_400, Math.round(base * 1.2)));
  });

  // SQS counts a visibility change from the receive: the attempt's own processing (up to
  // Lambda's 15-minute maximum) comes on top of the delay and must not reach 12 hours.
  it.each([5, 6, 7, 50])("after receive %d stays safely under 12 hours from the receive", (receiveCount) => {
    for (const random of [fixed(1), fixed(10)]) {
      expect(nextRetryDelaySeconds(receiveCount, random) + 900).toBeLessThan(43_200);
    }
    expect(nextRetryDelaySeconds(receiveCount, fixed(1))).toBe(41_400);
  });

  it("spreads a burst of failures over the jitter range", () => {
    const delays = [0, 0.25, 0.5, 0.75, 0.999].map((r) => nextRetryDelaySeconds(2, fixed(r)));
    expect(new Set(delays).size).toBe(delays.length);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1440);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2160);
  });
});

describe("the whole schedule", () => {
  it("is the Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h", () => {
    expect(RETRY_SCHEDULE_SECONDS).toEqual([5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
  });

  it("adds up to about a day", () => {
    const total = RETRY_SCHEDULE_SECONDS.reduce((sum, s) => sum + s, 0);
    expect(total).toBeGreaterThanOrEqual(24 * HOUR);
    expect(total).toBeLessThanOrEqual(30 * HOUR);
  });

  /** The waits the ingest handler and the retry worker actually apply before dead-lettering. */
  function realisedWaitSeconds(maxAttempts: number, random: () => number): number {
    let total = initialRetryDelaySeconds(random);
    // The worker postpones after receives 1 … maxAttempts-1 and dead-letters on receive maxAttempts.
    for (let receive = 1; receive < maxAttempts; receive++) total += nextRetryDelaySeconds(receive, random);
    return total;
  }

  it("with the jitter at its extremes stays within ±20% of the unjittered total", () => {
    const attempts = loadConfig({
      OPSCOM_CLIENT_CODE: "OC-TOMA",
      OPSCOM_TOKEN_SECRET_ID: "t",
      VENDORS: '[{"id":"acme"}]',
    }).retryMaxAttempts;
    const middle = realisedWaitSeconds(attempts, fixed(0.5));
    expect(realisedWaitSeconds(attempts, fixed(0))).toBeGreaterThanOrEqual(Math.floor(middle * 0.8));
    expect(realisedWaitSeconds(attempts, fixed(1))).toBeLessThanOrEqual(Math.ceil(middle * 1.2));
  });

  // DISCREPANCY (lambda/retry-schedule.ts header comment vs lambda/retry-core.ts giveUpOrWait):
  // the comment promises "about a day in all with the default 8 attempts", but with
  // RETRY_MAX_ATTEMPTS=8 the worker postpones after receives 1-7 and nextRetryDelaySeconds
  // clamps receive 6 and 7 to the last entry, so the waits are 5 + 300 + 1800 + 7200 + 18000
  // + 36000 + 36000 + 36000 s = 135 305 s ≈ 37.6 h, one extra 10 h wait beyond the 7-entry
  // schedule (and 9+ OPS-COM attempts counting the ingest's). Either the default should be 7
  // queue deliveries or the comment should say ~1.5 days.
  it("with the default RETRY_MAX_ATTEMPTS the waits before dead-lettering add up to about a day", () => {
    const attempts = loadConfig({
      OPSCOM_CLIENT_CODE: "OC-TOMA",
      OPSCOM_TOKEN_SECRET_ID: "t",
      VENDORS: '[{"id":"acme"}]',
    }).retryMaxAttempts;
    expect(realisedWaitSeconds(attempts, fixed(0.5))).toBeLessThanOrEqual(30 * HOUR);
  });
});
