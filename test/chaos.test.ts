// A short chaos run in every test pass (the full one is `npm run chaos`): faults, duplicates
// and killed handlers, and still every webhook settles once and every permit is deleted once.
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ChaosReport,
  DEFAULT_CHAOS,
  EDGE_FAULTS,
  formatReport,
  parseChaosArgs,
  runChaos,
} from "../bench/chaos";

const SHORT = { ...DEFAULT_CHAOS, webhooks: 150, killRate: 0.1, seed: 3 };

describe("chaos (short)", () => {
  it("settles every webhook in one terminal state and deletes every permit exactly once", async () => {
    const report = await runChaos({ ...SHORT, faults: [] });
    expect(report.nonTerminal, formatReport(report)).toEqual([]);
    expect(report.opscomDeletes).toEqual({ once: 150, twice: 0, never: 0 });
    expect(Object.values(report.kills).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(Object.keys(report.faultsInjected).length).toBeGreaterThanOrEqual(5);
    expect(report.deliveries).toBeGreaterThan(150);
    expect(report.brokenPromises).toEqual({});
    expect(report.ok).toBe(true);
  }, 120_000);

  describe("with the faults at the edges", () => {
    let report: ChaosReport;
    beforeAll(async () => {
      report = await runChaos(SHORT);
    }, 240_000);

    it("injects every edge fault at least once, through the real SDK clients and real HTTP", () => {
      for (const fault of EDGE_FAULTS) {
        expect(report.faultsInjected[fault], `${fault}\n${formatReport(report)}`).toBeGreaterThan(0);
      }
    });

    it("still deletes every permit exactly once and keeps every promise to the vendors", () => {
      expect(report.opscomDeletes, formatReport(report)).toEqual({ once: 150, twice: 0, never: 0 });
      expect(report.nonTerminal).toEqual([]);
      expect(report.brokenPromises).toEqual({});
      expect(report.leftInDeadLetterQueue).toBe(0);
      // On-call redrives into a healthy OPS-COM: no burst queued during the faults may wait for
      // the few redriven deliveries and dead-letter them again (a run that failed in CI).
      expect(report.opscomFaultsAfterRedrive, formatReport(report)).toBe(0);
      expect(report.ok).toBe(true);
    });
  });

  it("takes its fault set from a strict command line", () => {
    expect(parseChaosArgs([]).faults).toEqual(EDGE_FAULTS);
    expect(parseChaosArgs(["--faults", "none"]).faults).toEqual([]);
    expect(parseChaosArgs(["--faults", "secrets-stall,opscom-403", "--webhooks", "10"])).toMatchObject({
      faults: ["secrets-stall", "opscom-403"],
      webhooks: 10,
    });
    expect(() => parseChaosArgs(["--faults", "dynamo-stall"])).toThrow(/unknown fault "dynamo-stall"/);
    expect(() => parseChaosArgs(["--webhook", "10"])).toThrow(/Unknown option/);
    expect(() => parseChaosArgs(["--kill-rate", "2"])).toThrow(/--kill-rate must be a number 0..1/);
  });
});
