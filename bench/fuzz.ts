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

import { parseArgs } from "node:util";
import { type FuzzOptions, runFuzz } from "./fuzz/passes";
import { formatFuzzReport } from "./fuzz/report";

export { FUZZ_CLIENT_CODES, FUZZ_VENDORS, fuzzSecrets } from "../testkit/contract/world";
export { findNeedles } from "./fuzz/checks";
export { type FuzzReport, runFuzz } from "./fuzz/passes";
export { formatFuzzReport } from "./fuzz/report";

const USAGE = `usage: npm run fuzz -- [--runs N] [--http-runs N] [--seed N]
  --runs N       cases through the handler in process (default 100000, at least 1)
  --http-runs N  cases over real HTTP to the local relay (default 2000; 0 skips that pass)
  --seed N       fast-check's seed, and the secrets' (default 1); the same seed replays the run`;

const LOG_FILE = "/tmp/opscom-permit-relay-fuzz-http.log";

export type FuzzCommand =
  | { readonly kind: "run"; readonly options: FuzzOptions }
  | { readonly kind: "help" }
  | { readonly kind: "error"; readonly message: string };

/** The command line, strictly: an unknown flag, a stray word or a value that is not a whole number is refused. */
export function parseFuzzArgs(argv: readonly string[]): FuzzCommand {
  let values: { runs?: string; "http-runs"?: string; seed?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        runs: { type: "string" },
        "http-runs": { type: "string" },
        seed: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return { kind: "error", message: (error as Error).message };
  }
  if (values.help) return { kind: "help" };
  try {
    return {
      kind: "run",
      options: {
        runs: wholeNumber("--runs", values.runs, 100_000, 1),
        httpRuns: wholeNumber("--http-runs", values["http-runs"], 2000, 0),
        // fast-check takes a 32-bit seed.
        seed: wholeNumber("--seed", values.seed, 1, 0, 2 ** 31 - 1),
        logFile: LOG_FILE,
      },
    };
  } catch (error) {
    return { kind: "error", message: (error as Error).message };
  }
}

function wholeNumber(
  flag: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    throw new Error(`${flag} takes a whole number ${range}, not "${text}"`);
  }
  return value;
}

if (require.main === module) {
  const command = parseFuzzArgs(process.argv.slice(2));
  if (command.kind === "help") {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (command.kind === "error") {
    process.stderr.write(`fuzz: ${command.message}\n${USAGE}\n`);
    process.exit(2);
  }
  runFuzz(command.options).then(
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
