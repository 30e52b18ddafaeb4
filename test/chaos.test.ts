// A short chaos run in every test pass (the full one is `npm run chaos`): faults, duplicates
// and killed handlers, and still every webhook settles once and every permit is deleted once.
// What runs is the synthesized stack's bundles, so a setting given as stack context is what
// the run does: with retryMaxAttempts 3 a delivery OPS-COM keeps refusing dead-letters on its
// third receive, where the run's own stack (8) takes eight.
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
    // The functions' Powertools output was kept, and none of it carries a secret.
    expect(report.logs.lines).toBeGreaterThan(report.deliveries);
    expect(report.logs.metrics).toBeGreaterThan(0);
    expect(report.logs.secretsInLogs).toBe(0);
  }, 120_000);

  describe("with the faults at the edges", () => {
    let report: ChaosReport;
    beforeAll(async () => {
      report = await runChaos(SHORT);
    }, 240_000);

    it("recognises every request the bundles make, so each kill point meets the real traffic", () => {
      for (const kind of [
        "claim",
        "ledger update",
        "ledger read",
        "enqueue",
        "queue",
        "secret read",
        "opscom delete",
      ]) {
        expect(report.requests[kind], `${kind}\n${formatReport(report)}`).toBeGreaterThan(0);
      }
      expect(report.requests.other, formatReport(report)).toBeUndefined();
    });

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
      expect(report.logs.secretsInLogs).toBe(0);
      expect(report.ok).toBe(true);
    });
  });

  it("runs the stack it is given: retryMaxAttempts from context is the queue's maxReceiveCount", async () => {
    // OPS-COM refuses every call with a 503 until the redrive, when it is healthy again.
    const refusing = {
      ...SHORT,
      webhooks: 10,
      duplicateRate: 0,
      killRate: 0,
      faults: [],
      failureRate: 1,
      opscomModes: ["http503" as const],
    };
    const three = await runChaos({ ...refusing, context: { retryMaxAttempts: 3 } });
    const stock = await runChaos(refusing);
    expect([three.stack.maxReceiveCount, stock.stack.maxReceiveCount]).toEqual([3, 8]);
    expect(three.stack.assembly).not.toBe(stock.stack.assembly);
    for (const report of [three, stock]) {
      expect(report.deadLetteredThenRedriven, formatReport(report)).toBe(10);
      expect(report.opscomDeletes).toEqual({ once: 10, twice: 0, never: 0 });
      expect(report.ok).toBe(true);
    }
    // Each delivery is received maxReceiveCount times before SQS moves it, then once after the redrive.
    expect(three.retryReceives, formatReport(three)).toBe(10 * (3 + 1));
    expect(stock.retryReceives, formatReport(stock)).toBe(10 * (8 + 1));
  }, 240_000);

  it("takes its fault set from a strict command line", async () => {
    expect(parseChaosArgs([]).faults).toEqual(EDGE_FAULTS);
    expect(parseChaosArgs(["--faults", "none"]).faults).toEqual([]);
    expect(parseChaosArgs(["--faults", "secrets-stall,opscom-403", "--webhooks", "10"])).toMatchObject({
      faults: ["secrets-stall", "opscom-403"],
      webhooks: 10,
    });
    expect(() => parseChaosArgs(["--faults", "dynamo-stall"])).toThrow(/unknown fault "dynamo-stall"/);
    expect(() => parseChaosArgs(["--webhook", "10"])).toThrow(/Unknown option/);
    expect(() => parseChaosArgs(["--kill-rate", "2"])).toThrow(/--kill-rate must be a number 0..1/);
    expect(
      parseChaosArgs(["--context", "retryMaxAttempts=3", "--context", "retryWorkerMaxConcurrency=3"]).context,
    ).toEqual({
      retryMaxAttempts: "3",
      retryWorkerMaxConcurrency: "3",
    });
    // The run calls the function past the stage and the WAF: their settings would change nothing.
    expect(() => parseChaosArgs(["--context", "throttleRate=5"])).toThrow(/past the stage and the WAF/);
    await expect(runChaos({ ...SHORT, context: { wafRateLimit: 100 } })).rejects.toThrow(
      /--context wafRateLimit/,
    );
    expect(() => parseChaosArgs(["--context", "retryMaxAttempts"])).toThrow(/--context must be key=value/);
  });
});
