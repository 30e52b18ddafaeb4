// A CI-sized fuzz run (the full one is `npm run fuzz`): a few thousand generated webhooks
// through the real ingest handler in process and a few hundred over real HTTP to the local
// relay, each answer checked against an oracle written from the vendor contract. Then the
// same checks against handlers broken on purpose, to show each property can fail.
import { execFile } from "node:child_process";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { APIGatewayProxyResult } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import {
  FUZZ_CLIENT_CODES,
  FUZZ_VENDORS,
  type FuzzReport,
  formatFuzzReport,
  fuzzSecrets,
  parseFuzzArgs,
  runFuzz,
} from "../bench/fuzz";
import { startRelayChild } from "../bench/relay-child";
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../lambda/adapters/memory";
import { loadConfig } from "../lambda/config";
import type { IngestHandler } from "../lambda/ingest-core";
import type { DeleteRequest, OpscomClient } from "../lambda/ports";
import { createRetryWorker } from "../lambda/retry-core";
import { RecordingTelemetry } from "../lambda/telemetry";

const SEED = Number(process.env.FUZZ_SEED ?? 20_250);

describe("fuzzing the ingest handler (CI size)", () => {
  let report: FuzzReport;
  let text: string;

  beforeAll(async () => {
    report = await runFuzz({
      runs: 3000,
      seed: SEED,
      httpRuns: 300,
      logFile: join(tmpdir(), `fuzz-http-${process.pid}.log`),
    });
    text = formatFuzzReport(report);
  }, 120_000);

  const rules = () => ({ ...report.inProcess.violationsByRule, ...report.http?.violationsByRule });
  const both = () => [report.inProcess, report.http].filter((p) => p !== undefined);

  it("never throws and never answers 5xx to client input", () => {
    expect(rules()["never throws"], text).toBeUndefined();
    expect(rules()["no 5xx for client input"], text).toBeUndefined();
    for (const pass of both()) {
      expect(Object.keys(pass.byStatus).filter((s) => s.startsWith("5") || s === "threw")).toEqual([]);
    }
  });

  it("answers every case as the vendor contract and docs/openapi.yaml say", () => {
    expect(rules()["answer follows the vendor contract"], text).toBeUndefined();
    expect(rules()["answer matches docs/openapi.yaml"], text).toBeUndefined();
    expect(rules()["answer follows the relay's 404/405 table"], text).toBeUndefined();
    expect(rules()["answer is JSON"], text).toBeUndefined();
  });

  it("reaches OPS-COM for every correctly signed, valid, first delete and for nothing else", () => {
    expect(rules()["only a correctly signed valid delete reaches OPS-COM"], text).toBeUndefined();
    expect(rules()["a correctly signed valid delete reaches OPS-COM"], text).toBeUndefined();
    expect(
      rules()["OPS-COM gets the signed reference ID, the vendor's client code and the relay's token"],
      text,
    ).toBeUndefined();
    for (const pass of both()) {
      expect(pass.forwardedRequests).toBe(pass.expectedForwards);
      expect(pass.expectedForwards).toBeGreaterThan(0);
    }
  });

  it("puts no token, signing secret, signature or client credential in any answer or log line", () => {
    expect(rules()["no secret in an answer"], text).toBeUndefined();
    expect(rules()["no secret in a log line"], text).toBeUndefined();
    expect(rules()["no credential-like text in a log line"], text).toBeUndefined();
    expect(report.inProcess.credentialCases).toBeGreaterThan(500);
    expect(report.http?.logBytes ?? 0).toBeGreaterThan(10_000);
  });

  it("has no violation at all, and covered what it set out to (so the checks above mean something)", () => {
    expect(report.ok, text).toBe(true);
    const statuses = Object.keys(report.inProcess.byStatus).map((s) => s.split(" ")[0]);
    for (const status of ["200", "202", "400", "401", "403", "404", "405", "413", "415", "422"])
      expect(statuses, text).toContain(status);
    for (const step of [
      "route",
      "method",
      "size",
      "media type",
      "vendor",
      "source",
      "signature",
      "webhook id",
      "body",
      "type",
      "duplicate",
      "reused id",
      "OPS-COM",
    ])
      expect(Object.keys(report.inProcess.byStep), text).toContain(step);
    expect(Object.keys(report.inProcess.bySigning).length).toBeGreaterThanOrEqual(14);
    expect(report.inProcess.cases).toBe(3000);
    expect(report.http?.cases).toBe(300);
  });
});

describe("the fuzz checks fail a broken handler", () => {
  const sabotaged = async (sabotage: (h: IngestHandler, opscom: OpscomClient) => IngestHandler) =>
    (await runFuzz({ runs: 400, seed: SEED + 1, httpRuns: 0, sabotage })).inProcess.violationsByRule;

  it("a handler that throws on some input", async () => {
    const rules = await sabotaged((h) => async (event) => {
      if ((event.body ?? "").length % 7 === 3) throw new Error("boom");
      return h(event);
    });
    expect(rules["never throws"]).toBeGreaterThan(0);
  }, 30_000);

  it("a handler that answers 500 to client input", async () => {
    const rules = await sabotaged((h) => async (event) => {
      const result = (await h(event)) as APIGatewayProxyResult;
      return result.statusCode === 415 ? { ...result, statusCode: 500, body: '{"status":"error"}' } : result;
    });
    expect(rules["no 5xx for client input"]).toBeGreaterThan(0);
  }, 30_000);

  it("a handler that calls OPS-COM for unsigned requests", async () => {
    const rules = await sabotaged((h, opscom) => async (event) => {
      await opscom.deletePermit({ clientCode: "OC-TOMA", token: "x", referenceId: "unsigned" });
      return h(event);
    });
    expect(rules["only a correctly signed valid delete reaches OPS-COM"]).toBeGreaterThan(0);
  }, 30_000);

  it("a handler that echoes the request's headers in its answer", async () => {
    const rules = await sabotaged((h) => async (event) => {
      const result = (await h(event)) as APIGatewayProxyResult;
      return { ...result, body: result.body.replace(/}$/, `,"echo":${JSON.stringify(event.headers)}}`) };
    });
    expect(rules["no secret in an answer"]).toBeGreaterThan(0);
    expect(rules["answer matches docs/openapi.yaml"]).toBeGreaterThan(0);
  }, 30_000);

  it("a handler that logs the request's headers", async () => {
    const rules = await sabotaged((h) => async (event) => {
      process.stdout.write(`${JSON.stringify({ level: "DEBUG", headers: event.headers })}\n`);
      return h(event);
    });
    expect(rules["no secret in a log line"]).toBeGreaterThan(0);
    expect(rules["no credential-like text in a log line"]).toBeGreaterThan(0);
  }, 30_000);

  it("a handler that answers a duplicate as new", async () => {
    const rules = await sabotaged((h) => async (event) => {
      const result = (await h(event)) as APIGatewayProxyResult;
      return { ...result, body: result.body.replace(',"duplicate":true', "") };
    });
    expect(rules["answer follows the vendor contract"]).toBeGreaterThan(0);
  }, 30_000);
});

describe("the fuzz command line", () => {
  it("takes its defaults, and each flag as a whole number", () => {
    expect(parseFuzzArgs([])).toMatchObject({
      kind: "run",
      options: { runs: 100_000, httpRuns: 2000, seed: 1 },
    });
    expect(parseFuzzArgs(["--runs", "2000", "--http-runs", "0", "--seed", "7"])).toMatchObject({
      kind: "run",
      options: { runs: 2000, httpRuns: 0, seed: 7 },
    });
    expect(parseFuzzArgs(["--runs=5"])).toMatchObject({ kind: "run", options: { runs: 5 } });
    expect(parseFuzzArgs(["-h"])).toEqual({ kind: "help" });
  });

  it.each([
    [["--runs", "abc"], "--runs"],
    [["--runs", "0"], "--runs"],
    [["--runs", "1e3"], "--runs"],
    [["--http-runs", "-1"], "--http-runs"],
    [["--seed", "1.5"], "--seed"],
    [["--seed", "99999999999"], "--seed"],
    [["--rusn", "5"], "--rusn"],
    [["--runs"], "--runs"],
    [["2000"], "2000"],
  ])("refuses %j, naming %s", (argv, named) => {
    const parsed = parseFuzzArgs(argv);
    expect(parsed.kind).toBe("error");
    expect(parsed.kind === "error" ? parsed.message : "").toContain(named);
  });

  /** Runs `npm run fuzz` as the script line does, without blocking the test process. */
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        join(__dirname, "..", "node_modules", ".bin", "tsx"),
        [join(__dirname, "..", "bench", "fuzz.ts"), ...args],
        { timeout: 30_000 },
        (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
      );
    });

  it("exits 2 with the complaint and the usage, and runs nothing, for a bad value or a typo", async () => {
    for (const args of [
      ["--runs", "abc", "--http-runs", "0"],
      ["--rusn", "5", "--http-runs", "0"],
    ]) {
      const run = await cli(args);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(args[0]);
      expect(run.stderr).toContain("usage: npm run fuzz");
      expect(run.stdout).toBe("");
    }
  }, 60_000);

  it("answers --help with the usage and exit status 0", async () => {
    const run = await cli(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("usage: npm run fuzz");
    expect(run.stdout).toContain("--http-runs");
  }, 30_000);
});

describe("the local relay over raw sockets", () => {
  /** Writes bytes as given and answers the status line, or "closed" when the socket closes without one. */
  const raw = (port: number, request: string) =>
    new Promise<string>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
      let data = "";
      socket.on("data", (chunk) => {
        data += chunk;
      });
      socket.on("close", () => resolve(data.split("\r\n")[0] || "closed"));
      socket.on("error", () => undefined);
      socket.setTimeout(3000, () => socket.destroy());
    });

  it("answers a request line it cannot route, then keeps serving", async () => {
    const secrets = fuzzSecrets(1);
    const child = await startRelayChild({
      token: secrets.token,
      vendors: FUZZ_VENDORS as unknown as unknown[],
      vendorSecrets: secrets.vendor,
      clientCodes: FUZZ_CLIENT_CODES,
    });
    try {
      const port = Number(new URL(child.relayUrl).port);
      for (const target of ["/", "*", "/webhooks/%ZZ", "/webhooks/acme?x=%", "/webhooks/..%2F..%2Fetc"]) {
        const line = await raw(
          port,
          `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        );
        expect(line, target).toMatch(/^HTTP\/1\.1 4\d\d /);
      }
      expect((await child.stats()).ledger.total).toBe(0);
    } finally {
      await child.close();
    }
  });

  // BUG (local/harness.ts, toRestEvent, line 168: `new URL(req.url ?? "/", "http://localhost")`):
  // a request target that is not a valid relative URL — `//`, `http://[`, `http://x:99999/` —
  // makes `new URL` throw inside the request's "end" listener, outside the handler's promise
  // chain, so it is an uncaught exception and the local relay process (`npm start`) dies.
  // Reproduce: `printf 'POST // HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' | nc 127.0.0.1 3000`.
  // Expected: a 4xx (404 no_route) and the relay keeps serving. Local harness only: the deployed
  // Lambda gets its path from API Gateway.
  it("survives a request target that is not a valid URL (POST // HTTP/1.1)", async () => {
    const secrets = fuzzSecrets(1);
    const child = await startRelayChild({
      token: secrets.token,
      vendors: FUZZ_VENDORS as unknown as unknown[],
      vendorSecrets: secrets.vendor,
      clientCodes: FUZZ_CLIENT_CODES,
    });
    try {
      const port = Number(new URL(child.relayUrl).port);
      const line = await raw(
        port,
        "POST // HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
      );
      expect(line).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect((await child.stats()).ledger.total).toBe(0);
    } finally {
      await child.close();
    }
  });
});

describe("the retry queue as a way in", () => {
  function worker() {
    const clock = { now: () => Date.now() };
    const config = loadConfig({
      OPSCOM_CLIENT_CODE: "OC-TOMA",
      OPSCOM_TOKEN_SECRET_ID: "opscom/token",
      VENDORS: JSON.stringify([{ id: "acme" }]),
    });
    const ledger = new MemoryLedger();
    const queue = new MemoryQueue(clock, config.retryMaxAttempts);
    const calls: DeleteRequest[] = [];
    const handler = createRetryWorker({
      config,
      clock,
      secrets: new MemorySecrets({ "opscom/token": "TOKEN-1" }),
      ledger,
      queue,
      telemetry: new RecordingTelemetry(),
      opscom: {
        deletePermit: async (request) => {
          calls.push(request);
          return { kind: "deleted", httpStatus: 200 };
        },
      },
    });
    const message = (webhookId: string, referenceId: string) => ({
      vendorId: "acme",
      webhookId,
      referenceId,
      attempt: 1,
      firstSeenAt: new Date().toISOString(),
    });
    return { clock, ledger, queue, calls, handler, message };
  }

  // BUG (hardening; lambda/retry-core.ts, process(), line 65 and line 81): the worker acts on
  // the queue message alone. With no ledger record for the message's vendor + webhook id it
  // still deletes (`if (existing && ...)` lets `undefined` through), and with a record it
  // deletes the message's referenceId even when the record names another. So anyone who can
  // sqs:SendMessage to the retry queue (only the ingest role is granted it, but an account
  // principal with sqs:* can too) deletes any permit with the relay's token, no signature
  // needed, and the ledger then shows nothing, or the wrong permit as deleted.
  // Expected: deliver only for an open ledger record whose referenceId equals the message's;
  // otherwise keep the message for the dead-letter queue and log it.
  it("delivers only what the ingest handler parked: an open ledger record with the same reference ID", async () => {
    const w = worker();
    await w.queue.enqueue(w.message("forged-1", "someone-elses-permit"), 0);
    await w.ledger.claim({
      vendorId: "acme",
      webhookId: "parked-1",
      referenceId: "the-signed-permit",
      bodyHash: "h",
      claimId: "c",
      now: w.clock.now(),
      leaseMs: 60_000,
      expiresAt: 0,
    });
    await w.ledger.transition(
      { vendorId: "acme", webhookId: "parked-1" },
      { from: ["in_progress"] },
      { state: "queued", now: w.clock.now(), attempts: 1 },
    );
    await w.queue.enqueue(w.message("parked-1", "another-permit"), 0);
    await w.handler({ Records: w.queue.receive() });
    expect(w.calls.map((c) => c.referenceId)).toEqual([]);
  });
});
