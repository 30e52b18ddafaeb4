// The two passes and the run. In process (the bulk): the real `createIngestHandler` with the
// in-memory ledger, queue and secrets, real Powertools logging captured per case, and OPS-COM
// answering as programmed per reference ID, on a virtual clock. Over real HTTP: the local relay
// (local/harness.ts) in a child process with the OPS-COM sandbox behind it, fed wire-safe cases
// one at a time, its whole log searched for secrets at the end.

import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { APIGatewayProxyResult } from "aws-lambda";
import fc from "fast-check";
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../../lambda/adapters/memory";
import { loadConfig } from "../../lambda/config";
import { createIngestHandler, type IngestHandler } from "../../lambda/ingest-core";
import type { Clock, OpscomClient } from "../../lambda/ports";
import { createPowertoolsTelemetry } from "../../lambda/telemetry";
import { CountingOpscom, programmedOutcome } from "../../testkit/contract/opscom";
import { Oracle } from "../../testkit/contract/oracle";
import {
  CLIENT_CODE,
  FUZZ_CLIENT_CODES,
  FUZZ_VENDORS,
  fuzzSecrets,
  MAX_BODY_BYTES,
  secretNeedles,
  TOKEN_SECRET_ID,
  VENDOR_PREFIX,
} from "../../testkit/contract/world";
import { loadOpenApiContract, type OpenApiContract } from "../../testkit/openapi";
import { mulberry32 } from "../../testkit/random";
import { startRelayChild } from "../relay-child";
import { type Answer, Checker, emptyPass, findNeedles, LOG_FORBIDDEN, type PassReport } from "./checks";
import { caseArb } from "./generators";
import { type BuildContext, type Built, build, remember } from "./wire";

export interface FuzzOptions {
  readonly runs: number;
  readonly seed: number;
  /** Cases over real HTTP; 0 skips the pass. */
  readonly httpRuns?: number;
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
  const checker = new Checker(report, "in-process", contract, secretNeedles(secrets));
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
    const checker = new Checker(report, "http", contract, secretNeedles(secrets));
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
