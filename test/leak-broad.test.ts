// The broad leak check (test/log-leak.test.ts walks one scripted path; this one goes wide):
// - a fuzz run whose requests carry canary credentials in Authorization, Proxy-Authorization,
//   X-Api-Key, Cookie and X-Amz-Security-Token, with every log line the handler writes captured
//   case by case, and the HTTP pass's relay process logging to a file;
// - the short load run with the relay child's stdout and stderr captured to a file, while the
//   retry worker drains what OPS-COM's faults parked: searched in test/load.test.ts, so the
//   load run happens once per test pass.
// Every answer and every line is searched for the OPS-COM token, the signing secrets (as
// configured, as their base64 body and as key bytes in hex), every signature sent, and the
// canaries; log lines also for credential-like words. None may appear.
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type FuzzReport, findNeedles, formatFuzzReport, runFuzz } from "../bench/fuzz";

const LEAK_RULES = [
  "no secret in an answer",
  "no secret in a log line",
  "no credential-like text in a log line",
];

describe("no secret leaves the relay, whatever is sent", () => {
  const fuzzLog = join(tmpdir(), `leak-fuzz-${process.pid}.log`);
  let fuzz: FuzzReport;

  beforeAll(async () => {
    fuzz = await runFuzz({ runs: 2000, seed: 777, httpRuns: 200, logFile: fuzzLog });
  }, 150_000);

  it("fuzz: no token, secret, signature or canary in any answer or captured log line", () => {
    const text = formatFuzzReport(fuzz);
    for (const pass of [fuzz.inProcess, fuzz.http]) {
      for (const rule of LEAK_RULES) expect(pass?.violationsByRule[rule], `${rule}\n${text}`).toBeUndefined();
    }
    // The search had something to search: canaries went in, log lines came out of both passes.
    expect(fuzz.inProcess.credentialCases).toBeGreaterThan(300);
    expect(fuzz.http?.credentialCases ?? 0).toBeGreaterThan(30);
    expect(fuzz.inProcess.logBytes).toBeGreaterThan(500_000);
    expect(readFileSync(fuzzLog, "utf8")).toContain('"message":"webhook handled"');
  });

  it("would find a leak if there were one (the search is not blind)", () => {
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const line = `{"level":"INFO","message":"x","note":"${secret.slice(6)}"}`;
    expect(findNeedles(line, [secret, secret.slice(6)])).toEqual([secret.slice(6)]);
    expect(findNeedles(`a ${"Z".repeat(10)} b`, ["ZZZZZZZZZZ"])).toEqual(["ZZZZZZZZZZ"]);
    expect(findNeedles("nothing here", ["needle-12345"])).toEqual([]);
  });
});
