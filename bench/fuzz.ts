// Property-based fuzzing of the ingest handler: hostile, broken and valid webhooks generated
// by fast-check, each answer checked against an oracle written from the vendor contract
// (README, docs/openapi.yaml) rather than from the handler's code. Two passes: the bulk in
// process, then wire-safe cases over real HTTP to the local relay (see bench/fuzz/passes.ts).
//
// Properties, for every case: the handler resolves (never throws) and never answers 5xx to
// client input; the answer is the one the contract gives for that input (status code, `status`,
// ids, `duplicate`, `field`); it matches the OpenAPI document; OPS-COM is called if and only if
// the request is a correctly signed (an HMAC over the raw bytes), valid, first delete for a
// configured vendor, and then only for that reference ID, with the relay's token and the
// vendor's client code; no answer and no log line carries a token, a signing secret, a signature
// or a credential-like header the client sent.
//
//   npm run fuzz                        100,000 cases in process + 2,000 over HTTP
//   npm run fuzz -- --runs 20000 --http-runs 500 --seed 7
//
// The pieces live in bench/fuzz/: world, opscom (its programmed answers), oracle, generators,
// signing, wire (case to event), checks, passes, report. This file is the command line, and
// re-exports what the load run and the tests take from the fuzz run.

import { type FuzzOptions, runFuzz } from "./fuzz/passes";
import { formatFuzzReport } from "./fuzz/report";

export { findNeedles } from "./fuzz/checks";
export { type FuzzOptions, type FuzzReport, runFuzz } from "./fuzz/passes";
export { formatFuzzReport } from "./fuzz/report";
export { FUZZ_CLIENT_CODES, FUZZ_VENDORS, fuzzSecrets } from "./fuzz/world";

export const DEFAULT_FUZZ: FuzzOptions = { runs: 100_000, seed: 1, httpRuns: 2000 };

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const options: FuzzOptions = {
    runs: flag("runs", DEFAULT_FUZZ.runs),
    seed: flag("seed", DEFAULT_FUZZ.seed),
    httpRuns: flag("http-runs", DEFAULT_FUZZ.httpRuns ?? 0),
    logFile: "/tmp/opscom-permit-relay-fuzz-http.log",
  };
  runFuzz(options).then(
    (report) => {
      process.stdout.write(`${formatFuzzReport(report)}\n`);
      process.exit(report.ok ? 0 : 1);
    },
    (error: unknown) => {
      process.stderr.write(`fuzz failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(2);
    },
  );
}
