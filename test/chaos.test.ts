// A short chaos run in every test pass (the full one is `npm run chaos`): faults, duplicates
// and killed handlers, and still every webhook settles once and every permit is deleted once.
import { describe, expect, it } from "vitest";
import { DEFAULT_CHAOS, formatReport, runChaos } from "../bench/chaos";

describe("chaos (short)", () => {
  it("settles every webhook in one terminal state and deletes every permit exactly once", async () => {
    const report = await runChaos({ ...DEFAULT_CHAOS, webhooks: 150, killRate: 0.1, seed: 3 });
    expect(report.nonTerminal, formatReport(report)).toEqual([]);
    expect(report.opscomDeletes).toEqual({ once: 150, twice: 0, never: 0 });
    expect(Object.values(report.kills).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(Object.keys(report.faultsInjected).length).toBeGreaterThanOrEqual(5);
    expect(report.deliveries).toBeGreaterThan(150);
    expect(report.ok).toBe(true);
  }, 120_000);
});
