// A short load run in every test pass (the full one is `npm run load`: 200/s for 60 s):
// distinct signed webhooks against the local relay in a child process while the OPS-COM
// sandbox fails a fifth of the deletes, then a drain with faults off. The one run serves both
// the accounting and the leak search over the relay child's captured output (the broad leak
// check's load half; its fuzz half is test/leak-broad.test.ts), since a run takes most of a minute.
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { formatLoadReport, type LoadReport, runLoad, SHORT_LOAD } from "../bench/load";

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe("load (short: 100 webhooks/s for 5 s, 20% OPS-COM faults)", () => {
  const logFile = join(tmpdir(), `load-${process.pid}.log`);
  let report: LoadReport;
  let text: string;

  beforeAll(async () => {
    report = await runLoad({ ...SHORT_LOAD, logFile });
    text = formatLoadReport(report);
  }, 120_000);

  it("answers every webhook 200 or 202, with no 5xx and no transport error", () => {
    expect(report.sent, text).toBe(500);
    expect(Object.keys(report.answers).sort(), text).toEqual(["200 deleted", "202 queued"]);
    expect(report.transportErrors + report.timeouts, text).toBe(0);
    expect(
      Object.values(report.opscom.faultsInjected).reduce((a, b) => a + b, 0),
      text,
    ).toBeGreaterThan(40);
  });

  it("accounts for every webhook sent in the ledger, kept or pruned past its bound, none left in flight", () => {
    const { total, forgotten } = report.ledgerAfterLoad;
    // The short run sends more than the ledger keeps, as the full run does: pruning happened.
    expect(total, text).toBeLessThanOrEqual(SHORT_LOAD.ledgerRecords as number);
    expect(forgotten.deleted, text).toBeGreaterThan(0);
    expect(total + sum(forgotten), text).toBe(report.sent);
    expect(report.ledgerAfterLoad.byState.in_progress, text).toBeUndefined();
    expect(report.ledgerAccountsForEverySend, text).toBe(true);
  });

  it("after the drain, every webhook is deleted and every permit was deleted exactly once", () => {
    const { byState, forgotten } = report.ledgerAfterDrain;
    expect({ ...byState, deleted: (byState.deleted ?? 0) + (forgotten.deleted ?? 0) }, text).toEqual({
      deleted: report.sent,
    });
    expect(Object.keys(forgotten), text).toEqual(["deleted"]);
    expect(report.queueAfterDrain, text).toEqual({ waiting: 0, deadLetters: 0 });
    expect(report.opscom.permits, text).toEqual({ once: report.sent, moreThanOnce: 0, never: 0 });
  });

  it("keeps the relay's heap growth per webhook within the in-memory ledger's cost", () => {
    expect(report.memory.flagged, text).toBe(false);
    expect(report.memory.end.heapUsed, text).toBeGreaterThan(0);
    expect(report.ok, text).toBe(true);
  });

  it("leaks nothing: the relay child's whole output and every answer are clean, retries included", () => {
    expect(report.leaks.hits, text).toEqual([]);
    expect(report.leaks.answerHits, text).toBe(0);
    const logs = readFileSync(logFile, "utf8");
    expect(report.leaks.logBytes).toBe(logs.length);
    // Every webhook was logged once by the ingest handler, and the worker logged its retries.
    expect(logs.split('"message":"webhook handled"').length - 1, text).toBe(report.sent);
    expect(logs, text).toContain('"message":"retry delivered"');
    expect(logs, text).toContain('"outcome":"queued"');
  });
});
