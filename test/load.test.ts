// A short load run in every test pass (the full one is `npm run load`: 200/s for 60 s):
// distinct signed webhooks against the relay as the synthesized stack deploys it (its bundles
// over dynalite and the local SQS endpoint, in a child process) while the OPS-COM sandbox fails
// a fifth of the deletes, then a drain with faults off. The one run serves both the accounting
// and the leak search over the relay child's captured output (the broad leak check's load half;
// its fuzz half is test/leak-broad.test.ts). A second, smaller run synthesizes the stack with a
// low stage throttle and sees the gateway's 429s: the stack is what the load run exercises.
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { formatLoadReport, type LoadReport, runLoad, SHORT_LOAD } from "../bench/load";

describe("load (short: 100 webhooks/s for 5 s, 20% OPS-COM faults), against the deployed shape", () => {
  const logFile = join(tmpdir(), `load-${process.pid}.log`);
  let report: LoadReport;
  let text: string;

  // A claim whose write missed its deadline holds a resend for its 60 s lease: rare, but allowed for.
  beforeAll(async () => {
    report = await runLoad({ ...SHORT_LOAD, logFile });
    text = formatLoadReport(report);
  }, 300_000);

  it("runs the stack synthesized with the stage throttle at twice the rate, and its defaults otherwise", () => {
    expect(report.stack.context, text).toEqual({ throttleRate: 200, throttleBurst: 200 });
    expect(report.stack.gateway, text).toEqual({ rateLimit: 200, burstLimit: 200 });
    expect(report.stack.vendorIds, text).toEqual(["demo-vendor"]);
    // The construct's defaults, read from the template rather than set by the run.
    expect(report.stack.environment, text).toEqual({ FORWARD_TIMEOUT_MS: "5000", RETRY_MAX_ATTEMPTS: "7" });
    expect(report.stack.retryQueue.maxReceiveCount, text).toBe(7);
  });

  it("answers every webhook 200 or 202 (or 503/409 the vendor's resend settles), with no 429 and no transport error", () => {
    expect(report.sent, text).toBe(500);
    // A claim that misses the ledger's deadline on a loaded machine answers 503 unavailable:
    // the contract's "try again", so the run resends as a vendor would and wants a 2xx then.
    const retryable = ["409 in_progress", "503 unavailable"];
    for (const key of Object.keys(report.answers)) {
      expect(["200 deleted", "202 queued", ...retryable], text).toContain(key);
    }
    expect(report.answers["200 deleted"], text).toBeGreaterThan(0);
    expect(report.answers["202 queued"], text).toBeGreaterThan(0);
    const firstRetryable = retryable.reduce((n, key) => n + (report.answers[key] ?? 0), 0);
    expect(report.resends.webhooks, text).toBe(firstRetryable);
    expect(report.resends.unsettled, text).toEqual([]);
    for (const key of Object.keys(report.resends.finalAnswers)) expect(key, text).toMatch(/^20[02] /);
    expect(report.transportErrors + report.timeouts, text).toBe(0);
    expect(
      Object.values(report.opscom.faultsInjected).reduce((a, b) => a + b, 0),
      text,
    ).toBeGreaterThan(40);
  });

  it("finds one ledger record per webhook sent in the table (a Scan), none left in flight", () => {
    expect(report.ledgerAfterLoad.total, text).toBe(report.sent);
    expect(report.ledgerAfterLoad.byState.in_progress, text).toBeUndefined();
    // The parked ones are in the table as queued when the load stops.
    expect(report.ledgerAfterLoad.byState.queued, text).toBeGreaterThan(0);
    expect(report.ledgerAccountsForEverySend, text).toBe(true);
  });

  it("drains the SQS retry queue by moving the endpoint's clock; every permit deleted exactly once", () => {
    expect(report.ledgerAfterDrain, text).toEqual({ total: report.sent, byState: { deleted: report.sent } });
    expect(report.queueAfterDrain, text).toEqual({ waiting: 0, deadLetters: 0 });
    // Parked deliveries wait seconds to minutes (the retry schedule): only a moved clock gets them.
    expect(report.drain.virtualSeconds, text).toBeGreaterThan(0);
    expect(report.drain.open, text).toBe(0);
    expect(report.opscom.permits, text).toEqual({ once: report.sent, moreThanOnce: 0, never: 0 });
  });

  it("keeps the relay's heap growth per webhook in bounds, with dynalite's table measured apart", () => {
    expect(report.memory.flagged, text).toBe(false);
    expect(report.memory.end.heapUsed, text).toBeGreaterThan(0);
    expect(report.memory.end.dynamoHeapUsed, text).toBeGreaterThan(0);
    expect(report.ok, text).toBe(true);
  });

  it("leaks nothing: the relay child's whole output and every answer are clean, retries included", () => {
    expect(report.leaks.hits, text).toEqual([]);
    expect(report.leaks.answerHits, text).toBe(0);
    const logs = readFileSync(logFile, "utf8");
    expect(report.leaks.logBytes).toBe(logs.length);
    // Every webhook was logged once by the ingest bundle, and the worker's bundle logged its retries.
    const handled = logs.split('"message":"webhook handled"').length - 1;
    const resendSends = [report.resends.finalAnswers, report.resends.retryableAnswers]
      .flatMap((answers) => Object.values(answers))
      .reduce((a, b) => a + b, 0);
    expect(handled, text).toBeGreaterThanOrEqual(report.sent);
    expect(handled, text).toBeLessThanOrEqual(report.sent + resendSends);
    expect(logs, text).toContain('"message":"retry delivered"');
    expect(logs, text).toContain('"outcome":"queued"');
  });
});

describe("load against a stack synthesized with a low stage throttle", () => {
  let report: LoadReport;
  let text: string;

  beforeAll(async () => {
    report = await runLoad({
      ...SHORT_LOAD,
      seconds: 2,
      failureRate: 0,
      stackContext: { throttleRate: 10, throttleBurst: 10 },
    });
    text = formatLoadReport(report);
  }, 300_000);

  it("is throttled by the gateway as the stage would be, and only admitted webhooks reach the ledger", () => {
    expect(report.stack.gateway, text).toEqual({ rateLimit: 10, burstLimit: 10 });
    expect(report.sent, text).toBe(200);
    // 10 at once and 10 a second: most of 100 a second are refused before the function.
    expect(report.throttled, text).toBeGreaterThan(100);
    // Every admitted webhook is deleted at once, or after the vendor's resend of a 503/409.
    expect((report.answers["200 deleted"] ?? 0) + report.resends.webhooks, text).toBe(
      report.sent - report.throttled,
    );
    expect(report.resends.unsettled, text).toEqual([]);
    expect(report.ledgerAfterLoad.total, text).toBe(report.sent - report.throttled);
    expect(report.ledgerAccountsForEverySend, text).toBe(true);
    expect(report.opscom.permits.never, text).toBe(report.throttled);
    expect(report.ok, text).toBe(false);
  });
});
