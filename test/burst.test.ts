// A short recovery burst in every test pass (the full 2,000 is `npm run burst`): parked
// deliveries released at once never push OPS-COM past the worker's concurrency ceiling, and
// every one is delivered exactly once.
import { describe, expect, it } from "vitest";
import { DEFAULT_BURST, formatReport, runBurst } from "../bench/burst";

describe("recovery burst (short)", () => {
  it("never exceeds maximumConcurrency × RECORD_CONCURRENCY concurrent OPS-COM calls, and drains", async () => {
    const report = await runBurst({ ...DEFAULT_BURST, deliveries: 200 });
    console.log(formatReport(report));
    expect(report.concurrencyRejections, formatReport(report)).toBe(0);
    expect(report.peakConcurrentDeletes).toBeLessThanOrEqual(report.ceiling);
    // The ceiling is reached, so the bound (not a slow test) is what kept OPS-COM safe.
    expect(report.peakConcurrentDeletes).toBe(report.ceiling);
    expect(report.deletedOnce).toBe(200);
    expect(report.deletedTwice).toBe(0);
    expect(report.leftInQueue).toBe(0);
    expect(report.deadLettered).toBe(0);
  }, 120_000);
});
