// Property-based fuzzing of the ingest handler: hostile, broken and valid webhooks generated
// by fast-check, each answer checked against an oracle written from the vendor contract
// (DESIGN.md, docs/openapi.yaml) rather than from the handler's code.
//
// Two passes:
// - in process (the bulk): the real `createIngestHandler` with the in-memory ledger, queue and
//   secrets, real Powertools logging captured per case, and a counting OPS-COM client whose
//   answer is programmed per reference ID. Tens of thousands of cases a minute; real HTTP
//   could not carry 100,000 cases in a CI-friendly time, so HTTP gets the second pass.
// - over real HTTP: the local relay (local/harness.ts) in a child process with the OPS-COM
//   sandbox behind it, fed wire-safe cases one at a time.
//
// Properties, for every case: the handler resolves (never throws) and never answers 5xx to
// client input; the answer is the one the contract gives for that input (status code, `status`,
// ids, `duplicate`, `field`); it matches the OpenAPI document; OPS-COM is called if and only if
// the request is a correctly signed (per DESIGN.md: HMAC over the raw bytes), valid, first
// delete for a configured vendor, and then only for that reference ID, with the relay's token
// and the vendor's client code; no answer and no log line carries a token, a signing secret,
// a signature or a credential-like header the client sent.
//
//   npm run fuzz                        100,000 cases in process + 2,000 over HTTP
//   npm run fuzz -- --runs 20000 --http-runs 500 --seed 7

import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { APIGatewayProxyResult } from "aws-lambda";
import fc from "fast-check";
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../lambda/adapters/memory";
import { loadConfig } from "../lambda/config";
import { createIngestHandler, type IngestHandler } from "../lambda/ingest-core";
import type { Clock, DeleteRequest, OpscomClient } from "../lambda/ports";
import { createPowertoolsTelemetry } from "../lambda/telemetry";
import { mulberry32 } from "../local/opscom-sandbox";
import { loadOpenApiContract, type OpenApiContract } from "../test/support/openapi";
import { caseArb, type FuzzCase } from "./fuzz/generators";
import { CountingOpscom, programmedOutcome } from "./fuzz/opscom";
import { type Expected, Oracle } from "./fuzz/oracle";
import { type BuildContext, type Built, build, remember } from "./fuzz/wire";
import {
  CLIENT_CODE,
  FUZZ_CLIENT_CODES,
  FUZZ_VENDORS,
  fuzzSecrets,
  MAX_BODY_BYTES,
  secretNeedles,
  TOKEN_SECRET_ID,
  VENDOR_PREFIX,
} from "./fuzz/world";
import { startRelayChild } from "./relay-child";

export { FUZZ_CLIENT_CODES, FUZZ_VENDORS, fuzzSecrets };

// ---- running and checking ----------------------------------------------------------------------------

export interface Violation {
  readonly pass: "in-process" | "http";
  readonly index: number;
  readonly rule: string;
  readonly detail: string;
  readonly spec: string;
}

export interface PassReport {
  cases: number;
  byStatus: Record<string, number>;
  bySigning: Record<string, number>;
  byStep: Record<string, number>;
  /** Requests the oracle says must reach OPS-COM (correctly signed, valid, first delete). */
  expectedForwards: number;
  /** Requests during which OPS-COM was called. */
  forwardedRequests: number;
  opscomCalls: number;
  /** Cases that carried credential-like headers (Authorization, X-Api-Key, Cookie, …) with canary values. */
  credentialCases: number;
  /** Secrets Manager reads by secret id (in process only). */
  secretReads?: Record<string, number>;
  logBytes: number;
  violations: Violation[];
  violationCount: number;
  violationsByRule: Record<string, number>;
  seconds: number;
}

export interface FuzzOptions {
  readonly runs: number;
  readonly seed: number;
  /** Cases over real HTTP; 0 skips the pass. */
  readonly httpRuns?: number;
  /** Throw at the first violation, so fast-check shrinks and prints the smallest case. */
  readonly failFast?: boolean;
  /** Where the HTTP pass's child writes its logs (searched for leaks afterwards). */
  readonly logFile?: string;
  /**
   * Wraps the in-process handler, to prove the checks catch a broken one (tests only): it gets
   * the real handler and the counting OPS-COM client.
   */
  readonly sabotage?: (handler: IngestHandler, opscom: OpscomClient) => IngestHandler;
}

export interface FuzzReport {
  readonly options: FuzzOptions;
  readonly inProcess: PassReport;
  readonly http?: PassReport;
  readonly seconds: number;
  readonly ok: boolean;
}

export const DEFAULT_FUZZ: FuzzOptions = { runs: 100_000, seed: 1, httpRuns: 2000 };

function emptyPass(): PassReport {
  return {
    cases: 0,
    byStatus: {},
    bySigning: {},
    byStep: {},
    expectedForwards: 0,
    forwardedRequests: 0,
    credentialCases: 0,
    opscomCalls: 0,
    logBytes: 0,
    violations: [],
    violationCount: 0,
    violationsByRule: {},
    seconds: 0,
  };
}

const bump = (counts: Record<string, number>, key: string, by = 1) => {
  counts[key] = (counts[key] ?? 0) + by;
};

const CREDENTIAL_HEADERS = new Set([
  "authorization",
  "x-api-key",
  "proxy-authorization",
  "cookie",
  "x-amz-security-token",
]);

/** Words that no log line may contain, whatever the request (logs carry fixed fields only). */
const LOG_FORBIDDEN =
  /whsec_|apiToken|authorization|x-api-key|bearer |cookie|webhook-signature|svix-signature|x-hub-signature|CANARY|v1,[A-Za-z0-9+/]{40,}/i;

interface Answer {
  readonly statusCode: number;
  readonly headers: Record<string, unknown>;
  readonly text: string;
}

class Checker {
  constructor(
    private readonly pass: PassReport,
    private readonly passName: Violation["pass"],
    private readonly contract: OpenApiContract,
    private readonly globalNeedles: readonly string[],
    private readonly failFast: boolean,
  ) {}

  check(
    index: number,
    spec: FuzzCase,
    built: Built,
    expected: Expected,
    answer: Answer | { threw: unknown },
    calls: readonly DeleteRequest[] | number,
    logs: string,
    token: string,
  ): void {
    const p = this.pass;
    p.cases++;
    bump(p.bySigning, built.intent);
    bump(p.byStep, expected.step);
    if (expected.forward) p.expectedForwards++;
    if (spec.kind === "fresh" && spec.extras.some((name) => CREDENTIAL_HEADERS.has(name)))
      p.credentialCases++;
    const callCount = typeof calls === "number" ? calls : calls.length;
    p.opscomCalls += callCount;
    if (callCount > 0) p.forwardedRequests++;
    const fail = (rule: string, detail: string) => this.violation(index, spec, rule, detail);

    if ("threw" in answer) {
      bump(p.byStatus, "threw");
      fail("never throws", String((answer.threw as Error)?.stack ?? answer.threw));
      return;
    }
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    bump(p.byStatus, `${answer.statusCode} ${String(body?.status ?? "(no JSON)")}`);
    if (answer.statusCode >= 500)
      fail("no 5xx for client input", `HTTP ${answer.statusCode} ${answer.text.slice(0, 200)}`);
    if (!body) {
      fail("answer is JSON", answer.text.slice(0, 200));
      return;
    }
    // The contract, from the oracle.
    const got = {
      statusCode: answer.statusCode,
      status: body.status,
      webhookId: body.webhookId,
      referenceID: body.referenceID,
      duplicate: body.duplicate,
      field: body.field,
    };
    const want = {
      statusCode: expected.statusCode,
      status: expected.status,
      webhookId: expected.webhookId,
      referenceID: expected.referenceID,
      duplicate: expected.duplicate,
      field: expected.field,
    };
    if (JSON.stringify(got) !== JSON.stringify(want))
      fail(
        "answer follows the vendor contract",
        `expected ${JSON.stringify(want)} (decided by: ${expected.step}), got ${JSON.stringify(got)}`,
      );
    // The OpenAPI document covers POST /webhooks/{vendorId}; other routes and methods have their own table.
    if (expected.step === "route" || expected.step === "method") {
      const ok =
        expected.step === "route"
          ? body.status === "no_route" && typeof body.reason === "string"
          : body.status === "method_not_allowed" && String(answer.headers.allow) === "POST";
      if (!ok) fail("answer follows the relay's 404/405 table", answer.text.slice(0, 200));
    } else {
      try {
        this.contract.expectMatchesOpenApi(answer.statusCode, answer.headers, answer.text);
      } catch (error) {
        fail("answer matches docs/openapi.yaml", (error as Error).message.slice(0, 400));
      }
    }
    // Only a correctly signed, valid, first delete reaches OPS-COM, and only for its reference ID.
    if (expected.forward) {
      if (callCount < 1)
        fail(
          "a correctly signed valid delete reaches OPS-COM",
          `no call for ${expected.forward.referenceId}`,
        );
      if (typeof calls !== "number") {
        for (const call of calls) {
          if (
            call.referenceId !== expected.forward.referenceId ||
            call.clientCode !== expected.forward.clientCode ||
            call.token !== token
          )
            fail(
              "OPS-COM gets the signed reference ID, the vendor's client code and the relay's token",
              `${call.referenceId} at ${call.clientCode}`,
            );
        }
        if (callCount > 2) fail("at most one inline retry", `${callCount} calls`);
      }
    } else if (callCount > 0) {
      fail(
        "only a correctly signed valid delete reaches OPS-COM",
        `${callCount} call(s); the oracle says ${expected.step} → ${expected.statusCode} ${expected.status}`,
      );
    }
    // Nothing secret in the answer or the case's log lines.
    const answerText = `${JSON.stringify(answer.headers)}\n${answer.text}`;
    for (const needle of [...this.globalNeedles, ...built.needles]) {
      if (answerText.includes(needle))
        fail("no secret in an answer", `answer contains ${needle.slice(0, 10)}…`);
      if (logs.includes(needle)) fail("no secret in a log line", `log contains ${needle.slice(0, 10)}…`);
    }
    const forbidden = LOG_FORBIDDEN.exec(logs);
    if (forbidden)
      fail("no credential-like text in a log line", `log contains "${forbidden[0].slice(0, 20)}"`);
    p.logBytes += logs.length;
  }

  violation(index: number, spec: FuzzCase, rule: string, detail: string): void {
    const p = this.pass;
    p.violationCount++;
    bump(p.violationsByRule, rule);
    const specText = JSON.stringify(spec, (_k, v: unknown) =>
      typeof v === "string" && v.length > 200 ? `${v.slice(0, 200)}…(${v.length})` : v,
    );
    if (p.violations.length < 50)
      p.violations.push({ pass: this.passName, index, rule, detail, spec: specText });
    if (this.failFast) throw new Error(`${rule}: ${detail}`);
  }
}

/** Captures stdout/stderr writes (Powertools logs and EMF) while a case runs, without printing them. */
class OutputCapture {
  private chunks: string[] = [];
  private originals?: { out: typeof process.stdout.write; err: typeof process.stderr.write };

  start(): void {
    this.originals = { out: process.stdout.write, err: process.stderr.write };
    const grab = ((chunk: unknown) => {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk.toString("utf8") : String(chunk));
      return true;
    }) as typeof process.stdout.write;
    process.stdout.write = grab;
    process.stderr.write = grab;
  }

  take(): string {
    const text = this.chunks.join("");
    this.chunks = [];
    return text;
  }

  stop(): void {
    if (!this.originals) return;
    process.stdout.write = this.originals.out;
    process.stderr.write = this.originals.err;
    this.originals = undefined;
  }
}

/** Virtual milliseconds between two in-process cases: a replayed webhook goes stale after 30,000 cases. */
const STEP_MS = 10;

class StepClock implements Clock {
  steps = 0;
  constructor(private readonly base: number) {}
  now(): number {
    return this.base + this.steps * STEP_MS;
  }
}

/** The in-process pass: the real handler, in-memory twins, a counting OPS-COM. */
async function inProcessPass(options: FuzzOptions, contract: OpenApiContract): Promise<PassReport> {
  const started = Date.now();
  const report = emptyPass();
  const secrets = fuzzSecrets(options.seed);
  const clock = new StepClock(Date.UTC(2030, 0, 1));
  const config = loadConfig({
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET_ID,
    VENDORS: JSON.stringify(FUZZ_VENDORS),
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
  });
  const source = new MemorySecrets({
    [TOKEN_SECRET_ID]: JSON.stringify({ apiToken: secrets.token }),
    ...Object.fromEntries(
      Object.entries(secrets.vendor).map(([id, secret]) => [
        VENDOR_PREFIX + id,
        JSON.stringify({ signingSecrets: [secret] }),
      ]),
    ),
  });
  const opscom = new CountingOpscom();
  const capture = new OutputCapture();
  capture.start();
  let handler: IngestHandler;
  try {
    handler = createIngestHandler({
      config,
      clock,
      secrets: source,
      ledger: new MemoryLedger(),
      queue: new MemoryQueue(clock, config.retryMaxAttempts),
      opscom,
      telemetry: createPowertoolsTelemetry(),
      sleep: async () => undefined,
      random: mulberry32(options.seed),
    });
  } finally {
    capture.stop();
  }
  if (options.sabotage) handler = options.sabotage(handler, opscom);
  const oracle = new Oracle(
    secrets,
    () => Math.floor(clock.now() / 1000),
    (ref) => programmedOutcome(ref),
  );
  const checker = new Checker(
    report,
    "in-process",
    contract,
    secretNeedles(secrets),
    options.failFast ?? false,
  );
  const ctx: BuildContext = {
    secrets,
    nowSeconds: () => Math.floor(clock.now() / 1000),
    freshRef: (_vendor, n) => `fz-${options.seed}-${ctx.counter}-${n}`,
    wire: false,
    seed: options.seed,
    history: [],
    counter: 0,
  };
  let index = 0;
  const property = fc.asyncProperty(caseArb(false), async (spec) => {
    clock.steps++;
    const built = build(spec, ctx);
    const expected = oracle.predict(built.event);
    const before = opscom.calls.length;
    let answer: Answer | { threw: unknown };
    capture.start();
    try {
      const result = (await handler(built.event)) as APIGatewayProxyResult;
      answer = { statusCode: result.statusCode, headers: result.headers ?? {}, text: String(result.body) };
    } catch (threw) {
      answer = { threw };
    } finally {
      capture.stop();
    }
    const logs = capture.take();
    oracle.commit(expected);
    if (expected.forward && !("threw" in answer)) remember(ctx, spec, built, expected);
    checker.check(index++, spec, built, expected, answer, opscom.calls.slice(before), logs, secrets.token);
    return true;
  });
  try {
    await fc.assert(property, { numRuns: options.runs, seed: options.seed, endOnFailure: false });
  } finally {
    capture.stop();
  }
  report.secretReads = Object.fromEntries(source.calls);
  report.seconds = Math.round((Date.now() - started) / 100) / 10;
  return report;
}

const TRANSPORT_HEADERS = ["date", "connection", "keep-alive", "content-length", "transfer-encoding"];

/** Sends one request as given, with no client-side normalisation beyond what HTTP/1.1 requires. */
function sendRaw(base: URL, agent: http.Agent, request: NonNullable<Built["wire"]>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: request.method,
        path: request.target,
        // An array keeps names, case and repeats as given; Node then adds no Host of its own.
        headers: ["Host", base.host, ...request.rawHeaders, "Content-Length", String(request.body.length)],
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          // What the relay answered, without the transport's own headers (as API Gateway adds its own).
          const headers: Record<string, unknown> = { ...res.headers };
          for (const name of TRANSPORT_HEADERS) delete headers[name];
          resolve({ statusCode: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(request.body);
  });
}

/** The HTTP pass: wire-safe cases, one at a time, to the local relay in a child process. */
async function httpPass(options: FuzzOptions, contract: OpenApiContract): Promise<PassReport> {
  const started = Date.now();
  const report = emptyPass();
  const runs = options.httpRuns ?? 0;
  const secrets = fuzzSecrets(options.seed + 1);
  const logFile = options.logFile ?? "/dev/null";
  if (logFile !== "/dev/null") writeFileSync(logFile, "");
  const child = await startRelayChild(
    {
      token: secrets.token,
      vendors: FUZZ_VENDORS as unknown as unknown[],
      vendorSecrets: secrets.vendor,
      clientCodes: FUZZ_CLIENT_CODES,
      env: { FORWARD_TIMEOUT_MS: "2000", MAX_BODY_BYTES: String(MAX_BODY_BYTES) },
    },
    logFile,
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const base = new URL(child.relayUrl);
    // Permits to delete, per client code: a fresh delete takes the next one.
    const pools: Record<string, string[]> = {};
    const live = new Set<string>();
    for (const clientCode of FUZZ_CLIENT_CODES) {
      const res = await fetch(`${child.sandboxUrl}/__sandbox/permits`, {
        method: "POST",
        body: JSON.stringify({ count: Math.min(10_000, runs + 10), clientCode }),
      });
      const { referenceIds } = (await res.json()) as { referenceIds: string[] };
      pools[clientCode] = referenceIds;
      for (const ref of referenceIds) live.add(`${clientCode}:${ref}`);
    }
    const oracle = new Oracle(
      secrets,
      () => Math.floor(Date.now() / 1000),
      (ref, clientCode) => (live.has(`${clientCode}:${ref}`) ? "deleted" : "not_found"),
    );
    const checker = new Checker(report, "http", contract, secretNeedles(secrets), options.failFast ?? false);
    const ctx: BuildContext = {
      secrets,
      nowSeconds: () => Math.floor(Date.now() / 1000),
      freshRef: (vendor) => pools[CLIENT_CODE[vendor]]?.pop() ?? `gone-${ctx.counter}`,
      wire: true,
      seed: options.seed + 1,
      history: [],
      counter: 0,
    };
    const allNeedles: string[] = [];
    let deletesBefore = (await child.stats()).sandbox.deleteRequests;
    let index = 0;
    const property = fc.asyncProperty(caseArb(true), async (spec) => {
      const built = build(spec, ctx);
      const wire = built.wire;
      if (!wire) throw new Error("a wire case without a wire request");
      const expected = oracle.predict(built.event);
      let answer: Answer | { threw: unknown };
      try {
        answer = await sendRaw(base, agent, wire);
      } catch (threw) {
        answer = { threw };
      }
      const deletes = (await child.stats()).sandbox.deleteRequests;
      const calls = deletes - deletesBefore;
      deletesBefore = deletes;
      oracle.commit(expected);
      if (expected.forward && expected.status === "deleted")
        live.delete(`${expected.forward.clientCode}:${expected.forward.referenceId}`);
      if (expected.forward && !("threw" in answer)) remember(ctx, spec, built, expected);
      allNeedles.push(...built.needles);
      checker.check(index++, spec, built, expected, answer, calls, "", secrets.token);
      return true;
    });
    await fc.assert(property, { numRuns: runs, seed: options.seed, endOnFailure: false });
    // The child's whole log, searched once for every needle of the run.
    await child.stats();
    if (logFile !== "/dev/null") {
      const logs = readFileSync(logFile, "utf8");
      report.logBytes = logs.length;
      for (const hit of findNeedles(logs, [...secretNeedles(secrets), ...allNeedles]))
        checker.violation(
          -1,
          { kind: "replay", pick: 0, how: "same" },
          "no secret in a log line",
          `relay log contains ${hit.slice(0, 10)}…`,
        );
      const forbidden = LOG_FORBIDDEN.exec(logs);
      if (forbidden)
        checker.violation(
          -1,
          { kind: "replay", pick: 0, how: "same" },
          "no credential-like text in a log line",
          forbidden[0].slice(0, 20),
        );
    }
  } finally {
    agent.destroy();
    await child.close();
  }
  report.seconds = Math.round((Date.now() - started) / 100) / 10;
  return report;
}

/** Every needle (8 characters or longer) found in `text`: one pass, needles indexed by their first 8. */
export function findNeedles(text: string, needles: readonly string[]): string[] {
  const byPrefix = new Map<string, string[]>();
  for (const needle of new Set(needles)) {
    if (needle.length < 8) continue;
    const key = needle.slice(0, 8);
    const list = byPrefix.get(key);
    if (list) list.push(needle);
    else byPrefix.set(key, [needle]);
  }
  const found = new Set<string>();
  for (let i = 0; i + 8 <= text.length; i++) {
    const list = byPrefix.get(text.slice(i, i + 8));
    if (list) for (const needle of list) if (text.startsWith(needle, i)) found.add(needle);
  }
  return [...found];
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const contract = await loadOpenApiContract();
  const inProcess = await inProcessPass(options, contract);
  const http = (options.httpRuns ?? 0) > 0 ? await httpPass(options, contract) : undefined;
  return {
    options,
    inProcess,
    ...(http ? { http } : {}),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ok: inProcess.violationCount === 0 && (http?.violationCount ?? 0) === 0,
  };
}

// ---- the report -------------------------------------------------------------------------------------

export function formatFuzzReport(report: FuzzReport): string {
  const rows = (title: string, values: Record<string, number>) =>
    [
      title,
      ...Object.entries(values)
        .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
        .map(([k, v]) => `  ${k.padEnd(44)} ${String(v).padStart(8)}`),
    ].join("\n");
  const pass = (name: string, p: PassReport) =>
    [
      `${name}: ${p.cases} cases in ${p.seconds} s (${Math.round(p.cases / Math.max(p.seconds, 0.1))}/s)`,
      rows("  answers by status", p.byStatus),
      rows("  decided by", p.byStep),
      rows("  signing intent", p.bySigning),
      `  cases carrying Authorization/X-Api-Key/Cookie-style canaries: ${p.credentialCases}`,
      `  correctly signed valid first deletes: ${p.expectedForwards}; requests that reached OPS-COM: ${p.forwardedRequests}; OPS-COM calls: ${p.opscomCalls}`,
      ...(p.secretReads === undefined
        ? []
        : [rows("  Secrets Manager reads (virtual time advances 10 ms a case)", p.secretReads)]),
      `  log text searched: ${Math.round(p.logBytes / 1024)} KiB`,
      `  violations: ${p.violationCount}`,
      ...Object.entries(p.violationsByRule).map(([rule, n]) => `    ${String(n).padStart(7)} × ${rule}`),
      ...p.violations
        .slice(0, 10)
        .map((v) => `    #${v.index} ${v.rule}: ${v.detail}\n      case ${v.spec.slice(0, 600)}`),
    ].join("\n");
  return [
    `fuzz: seed ${report.options.seed}, ${report.options.runs} in-process cases, ${report.options.httpRuns ?? 0} over HTTP`,
    pass("in process (real handler, in-memory twins, counting OPS-COM)", report.inProcess),
    ...(report.http
      ? [pass("over HTTP (local relay in a child process, OPS-COM sandbox)", report.http)]
      : []),
    `wall time ${report.seconds} s`,
    report.ok
      ? "RESULT: no throw, no 5xx, every answer as the contract and the OpenAPI document say, OPS-COM reached only by correctly signed valid deletes, no secret in any answer or log line"
      : "RESULT: FAILED — see the violations above",
  ].join("\n");
}

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
