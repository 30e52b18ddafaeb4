// The sandbox stands in for OPS-COM in every other integration test, chaos run and benchmark,
// so these tests pin it to reference/opscom-api.md over real HTTP.

import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type FaultConfig,
  type FaultMode,
  type OpscomSandbox,
  SandboxInputError,
  type SandboxOptions,
  startOpscomSandbox,
} from "../local/opscom-sandbox";

const TOKEN = "tok-toma-0123456789abcdef0123456789abcdef";
const OTHER_TOKEN = "tok-other-0123456789abcdef0123456789abcde";
const CLIENTS = { "OC-TOMA": { tokens: [TOKEN] }, "OC-OTHER": { tokens: [OTHER_TOKEN] } };
const DELETE_PATH = "/api/OC-TOMA/v1/permits/delete";
const PUSH_PATH = "/api/OC-TOMA/v1/permits/push";
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UNKNOWN_REF = "00000000-0000-4000-8000-000000000000";

const started: OpscomSandbox[] = [];

async function startSandbox(options: SandboxOptions = {}): Promise<OpscomSandbox> {
  const sandbox = await startOpscomSandbox({ clients: CLIENTS, ...options });
  started.push(sandbox);
  return sandbox;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((sandbox) => sandbox.close()));
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function send(
  sandbox: OpscomSandbox,
  urlPath: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Answer> {
  const res = await fetch(`${sandbox.url}${urlPath}`, {
    method: init.method ?? "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: init.body,
    signal: init.signal,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function postJson(
  sandbox: OpscomSandbox,
  urlPath: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<Answer> {
  return send(sandbox, urlPath, { body: JSON.stringify(body), signal });
}

function deleteBody(ref: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiToken: TOKEN, referenceID: ref, ...overrides };
}

function deletePermit(sandbox: OpscomSandbox, ref: string, signal?: AbortSignal): Promise<Answer> {
  return postJson(sandbox, DELETE_PATH, deleteBody(ref), signal);
}

function errorBody(code: number) {
  return { ErrorCode: code, ErrorMessage: expect.any(String) };
}

describe("permit delete", () => {
  it.each(["referenceID", "referenceid", "reference_id"])("deletes the permit named by %s", async (alias) => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();

    const answer = await postJson(sandbox, DELETE_PATH, { apiToken: TOKEN, [alias]: ref });

    expect(answer.status).toBe(200);
    expect(answer.json).toStrictEqual({ status: "success", reference_id: ref, InternalReferenceID: ref });
    expect(sandbox.hasPermit(ref)).toBe(false);
    expect(sandbox.stats()).toMatchObject({
      deleteRequests: 1,
      deletesSucceeded: 1,
      deletesByReference: { [ref]: 1 },
    });
  });

  it("answers 9009 to a second delete of the same permit and counts only one success", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();

    await deletePermit(sandbox, ref);
    const second = await deletePermit(sandbox, ref);

    expect(second.status).toBe(400);
    expect(second.json).toStrictEqual({ ErrorCode: 9009, ErrorMessage: "Record not found." });
    expect(sandbox.stats()).toMatchObject({ deletesSucceeded: 1, deletesByReference: { [ref]: 1 } });
  });

  // Every case names an existing permit (where a reference is sent at all) so the test also
  // proves the rejection happened before the permit was touched.
  it.each<{ name: string; code: number; path?: string; body: (ref: string) => string }>([
    { name: "a body that is not JSON (checked before the token)", code: 9003, body: () => '{"apiToken":' },
    { name: "a JSON array body", code: 9003, body: (ref) => JSON.stringify([deleteBody(ref)]) },
    { name: "a JSON null body", code: 9003, body: () => "null" },
    { name: "an empty body", code: 9003, body: () => "" },
    {
      name: "an empty client code in the path",
      code: 9000,
      path: "/api//v1/permits/delete",
      body: (ref) => JSON.stringify(deleteBody(ref)),
    },
    { name: "a missing apiToken", code: 9001, body: (ref) => JSON.stringify({ referenceID: ref }) },
    {
      name: "an empty apiToken",
      code: 9001,
      body: (ref) => JSON.stringify(deleteBody(ref, { apiToken: "" })),
    },
    {
      name: "an unknown client code",
      code: 9002,
      path: "/api/OC-NOPE/v1/permits/delete",
      body: (ref) => JSON.stringify(deleteBody(ref)),
    },
    {
      name: "a wrong token",
      code: 9002,
      body: (ref) => JSON.stringify(deleteBody(ref, { apiToken: "nope" })),
    },
    {
      name: "another client's token",
      code: 9002,
      body: (ref) => JSON.stringify(deleteBody(ref, { apiToken: OTHER_TOKEN })),
    },
    { name: "a missing reference ID", code: 9008, body: () => JSON.stringify({ apiToken: TOKEN }) },
    { name: "an empty reference ID", code: 9008, body: () => JSON.stringify(deleteBody("")) },
    {
      name: "a 51-character reference ID",
      code: 9030,
      body: () => JSON.stringify(deleteBody("a".repeat(51))),
    },
    {
      name: "a reference ID with an underscore",
      code: 9033,
      body: () => JSON.stringify(deleteBody("abc_def")),
    },
    { name: "a reference ID with a space", code: 9033, body: () => JSON.stringify(deleteBody("abc def")) },
    {
      name: "a numeric reference ID",
      code: 9033,
      body: () => JSON.stringify(deleteBody("x", { referenceID: 123 })),
    },
    {
      name: "a reference ID that is not a permit",
      code: 9009,
      body: () => JSON.stringify(deleteBody(UNKNOWN_REF)),
    },
  ])("answers $code to $name", async ({ code, path: urlPath, body }) => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();

    const answer = await send(sandbox, urlPath ?? DELETE_PATH, { body: body(ref) });

    expect(answer.status).toBe(400);
    expect(answer.json).toStrictEqual(errorBody(code));
    expect(sandbox.hasPermit(ref)).toBe(true);
    expect(sandbox.stats()).toMatchObject({
      deleteRequests: 1,
      deletesSucceeded: 0,
      errorsByCode: { [code]: 1 },
    });
  });

  it.each([
    [9001, "API Token is missing from the request.", { referenceID: UNKNOWN_REF }],
    [9003, "The request could not be parsed.", "not json"],
    [9009, "Record not found.", deleteBody(UNKNOWN_REF)],
  ])("uses OPS-COM's own message for %i", async (code, message, body) => {
    const sandbox = await startSandbox();

    const answer = await send(sandbox, DELETE_PATH, {
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

    expect(answer.json).toStrictEqual({ ErrorCode: code, ErrorMessage: message });
  });

  it("treats a 50-character reference ID as well-formed (the limit is a maximum)", async () => {
    const sandbox = await startSandbox();

    const answer = await deletePermit(sandbox, "a".repeat(50));

    expect(answer.json).toStrictEqual(errorBody(9009));
  });

  it("carries error bodies on the configured HTTP status, e.g. an error on a 200", async () => {
    const sandbox = await startSandbox({ errorHttpStatus: 200 });

    const answer = await deletePermit(sandbox, UNKNOWN_REF);

    expect(answer.status).toBe(200);
    expect(answer.json).toStrictEqual(errorBody(9009));
  });

  it("records the last delete request's headers with lower-case names and credentials redacted", async () => {
    const sandbox = await startSandbox();

    await send(sandbox, DELETE_PATH, {
      body: JSON.stringify(deleteBody(UNKNOWN_REF)),
      headers: { Accept: "application/json", "Cache-Control": "no-cache", Authorization: `Bearer ${TOKEN}` },
    });

    expect(sandbox.stats().lastRequestHeaders).toMatchObject({
      "content-type": "application/json",
      accept: "application/json",
      "cache-control": "no-cache",
      authorization: "[redacted]",
    });
  });
});

describe("tokens", () => {
  it("generates one 40-character token for OC-TOMA by default, and accepts it", async () => {
    const sandbox = await startOpscomSandbox();
    started.push(sandbox);
    const tokens = sandbox.tokensFor("OC-TOMA");
    const ref = sandbox.createPermit();

    const answer = await postJson(sandbox, DELETE_PATH, { apiToken: tokens[0], referenceID: ref });

    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatch(/^[A-Za-z0-9-]{40}$/);
    expect(sandbox.defaultClientCode).toBe("OC-TOMA");
    expect(answer.status).toBe(200);
  });

  it("rejects the old token with 9002 after setTokens rotates it, and accepts the new one", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();

    sandbox.setTokens("OC-TOMA", ["rotated-token"]);
    const withOld = await deletePermit(sandbox, ref);
    const withNew = await postJson(sandbox, DELETE_PATH, deleteBody(ref, { apiToken: "rotated-token" }));

    expect(withOld.json).toStrictEqual(errorBody(9002));
    expect(withNew.status).toBe(200);
    expect(sandbox.tokensFor("OC-TOMA")).toStrictEqual(["rotated-token"]);
  });

  it("accepts every token in the list during a rotation overlap", async () => {
    const sandbox = await startSandbox();
    sandbox.setTokens("OC-TOMA", [TOKEN, "next-token"]);

    const answers = await Promise.all(
      [TOKEN, "next-token"].map((apiToken) =>
        postJson(sandbox, DELETE_PATH, deleteBody(sandbox.createPermit(), { apiToken })),
      ),
    );

    expect(answers.map((a) => a.status)).toStrictEqual([200, 200]);
  });

  it("hands out copies, so a caller cannot change the accepted tokens by mutating them", async () => {
    const sandbox = await startSandbox();

    sandbox.tokensFor("OC-TOMA").push("sneaky");

    expect(sandbox.tokensFor("OC-TOMA")).toStrictEqual([TOKEN]);
    expect(sandbox.tokensFor("OC-UNKNOWN")).toStrictEqual([]);
  });
});

describe("permits", () => {
  it("push creates a permit that delete can then remove", async () => {
    const sandbox = await startSandbox();

    const pushed = await postJson(sandbox, PUSH_PATH, { apiToken: TOKEN, plate: "ABC123", anything: [1, 2] });
    const body = pushed.json as { status: string; reference_id: string; InternalReferenceID: string };
    const deleted = await deletePermit(sandbox, body.reference_id);

    expect(pushed.status).toBe(200);
    expect(body).toStrictEqual({
      status: "success",
      reference_id: expect.stringMatching(UUID_V4),
      InternalReferenceID: body.reference_id,
    });
    expect(deleted.status).toBe(200);
    expect(sandbox.stats()).toMatchObject({ pushRequests: 1, deletesSucceeded: 1 });
  });

  it("push checks the token like delete does and creates nothing when it fails", async () => {
    const sandbox = await startSandbox();

    const answer = await postJson(sandbox, PUSH_PATH, { apiToken: "nope" });
    const state = (await send(sandbox, "/__sandbox/state", { method: "GET" })).json as {
      permitCount: number;
    };

    expect(answer.json).toStrictEqual(errorBody(9002));
    expect(state.permitCount).toBe(0);
  });

  it("createPermit makes a uuid v4 permit that belongs to one client only", async () => {
    const sandbox = await startSandbox();

    const ref = sandbox.createPermit("OC-OTHER");

    expect(ref).toMatch(UUID_V4);
    expect(sandbox.hasPermit(ref, "OC-OTHER")).toBe(true);
    expect(sandbox.hasPermit(ref)).toBe(false);
    expect((await deletePermit(sandbox, ref)).json).toStrictEqual(errorBody(9009));
    expect(() => sandbox.createPermit("OC-NOPE")).toThrow(SandboxInputError);
  });
});

describe("faults", () => {
  it.each([
    ["http500", 500],
    ["http502", 502],
    ["http503", 503],
  ] as const)(
    "%s answers %i with a JSON message and no ErrorCode, and keeps the permit",
    async (mode, status) => {
      const sandbox = await startSandbox();
      const ref = sandbox.createPermit();
      sandbox.queueFaults(mode);

      const answer = await deletePermit(sandbox, ref);

      expect(answer.status).toBe(status);
      expect(answer.json).toStrictEqual({ message: expect.any(String) });
      expect(sandbox.hasPermit(ref)).toBe(true);
      expect(sandbox.stats().faultsInjected).toStrictEqual({ [mode]: 1 });
    },
  );

  it("http429 answers 429 with Retry-After: 1", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();
    sandbox.queueFaults("http429");

    const answer = await deletePermit(sandbox, ref);

    expect(answer.status).toBe(429);
    expect(answer.headers.get("retry-after")).toBe("1");
    expect(sandbox.hasPermit(ref)).toBe(true);
  });

  it("html502 answers 502 with an HTML body, as a proxy in front of OPS-COM would", async () => {
    const sandbox = await startSandbox();
    sandbox.queueFaults("html502");

    const answer = await deletePermit(sandbox, sandbox.createPermit());

    expect(answer.status).toBe(502);
    expect(answer.headers.get("content-type")).toMatch(/^text\/html/);
    expect(answer.text).toContain("502 Bad Gateway");
    expect(answer.json).toBeUndefined();
  });

  it.each([
    ["html403", 403, "blocked"],
    ["html404", 404, "404 Not Found"],
  ] as const)(
    "%s answers %i with an HTML page and no ErrorCode, as a WAF or a wrong base path would, and keeps the permit",
    async (mode, status, text) => {
      const sandbox = await startSandbox();
      const ref = sandbox.createPermit();
      sandbox.queueFaults(mode);

      const answer = await deletePermit(sandbox, ref);

      expect(answer.status).toBe(status);
      expect(answer.headers.get("content-type")).toMatch(/^text\/html/);
      expect(answer.text).toContain(text);
      expect(answer.json).toBeUndefined();
      expect(sandbox.hasPermit(ref)).toBe(true);
      expect(sandbox.stats().faultsInjected).toStrictEqual({ [mode]: 1 });
    },
  );

  it("staleSocket resets a reused keep-alive socket before any answer byte, and spares a fresh one", async () => {
    const sandbox = await startSandbox();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (ref: string) =>
      new Promise<{ status?: number; reused: boolean; error?: string; bytes: number }>((resolve) => {
        let bytes = 0;
        const req = http.request(
          `${sandbox.url}${DELETE_PATH}`,
          { method: "POST", agent, headers: { "content-type": "application/json" } },
          (res) => {
            res.on("data", (chunk: Buffer) => {
              bytes += chunk.length;
            });
            res.on("end", () => resolve({ status: res.statusCode, reused: req.reusedSocket, bytes }));
          },
        );
        req.on("error", (error: NodeJS.ErrnoException) =>
          resolve({ reused: req.reusedSocket, error: error.code, bytes }),
        );
        req.end(JSON.stringify(deleteBody(ref)));
      });
    try {
      const [first, second, third] = [sandbox.createPermit(), sandbox.createPermit(), sandbox.createPermit()];
      sandbox.queueFaults("staleSocket");
      // The first request opens the connection: nothing stale to reset, so it is served.
      expect(await post(first)).toMatchObject({ status: 200, reused: false });
      sandbox.queueFaults("staleSocket");
      expect(await post(second)).toStrictEqual({ reused: true, error: "ECONNRESET", bytes: 0 });
      expect(sandbox.hasPermit(second)).toBe(true);
      expect(await post(third)).toMatchObject({ status: 200, reused: false });
      expect(sandbox.stats().faultsInjected).toStrictEqual({ staleSocket: 1 });
    } finally {
      agent.destroy();
    }
  });

  it("an errorCode fault answers that OPS-COM error on errorHttpStatus without touching the permit", async () => {
    const sandbox = await startSandbox({ errorHttpStatus: 200 });
    const ref = sandbox.createPermit();
    sandbox.queueFaults({ errorCode: 9002 }, { errorCode: 9999, message: "custom" });

    const first = await deletePermit(sandbox, ref);
    const second = await deletePermit(sandbox, ref);

    expect(first.status).toBe(200);
    expect(first.json).toStrictEqual({ ErrorCode: 9002, ErrorMessage: expect.any(String) });
    expect(second.json).toStrictEqual({ ErrorCode: 9999, ErrorMessage: "custom" });
    expect(sandbox.hasPermit(ref)).toBe(true);
    expect(sandbox.stats()).toMatchObject({
      faultsInjected: { "errorCode:9002": 1, "errorCode:9999": 1 },
      errorsByCode: {},
    });
  });

  it("reset drops the connection without an answer, and the next request still works", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();
    sandbox.queueFaults("reset");

    await expect(deletePermit(sandbox, ref)).rejects.toThrow();
    expect(sandbox.hasPermit(ref)).toBe(true);
    expect((await deletePermit(sandbox, ref)).status).toBe(200);
  });

  it("hang never answers, so a client timeout fires", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();
    sandbox.queueFaults("hang");

    await expect(deletePermit(sandbox, ref, AbortSignal.timeout(200))).rejects.toMatchObject({
      name: "TimeoutError",
    });
    expect(sandbox.hasPermit(ref)).toBe(true);
  });

  it("latencyMs delays every permits/* request, then answers normally", async () => {
    const sandbox = await startSandbox();
    sandbox.setFaults({ latencyMs: 150 });

    const t0 = performance.now();
    const pushed = await postJson(sandbox, PUSH_PATH, { apiToken: TOKEN });
    const afterPush = performance.now();
    const deleted = await deletePermit(sandbox, (pushed.json as { reference_id: string }).reference_id);
    const afterDelete = performance.now();

    expect(afterPush - t0).toBeGreaterThanOrEqual(140);
    expect(afterDelete - afterPush).toBeGreaterThanOrEqual(140);
    expect(deleted.status).toBe(200);
  });

  it("a latency fault delays by latencyFaultMs and then deletes as normal", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();
    sandbox.setFaults({ latencyFaultMs: 120 });
    sandbox.queueFaults("latency");

    const t0 = performance.now();
    const answer = await deletePermit(sandbox, ref);

    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
    expect(answer.status).toBe(200);
    expect(sandbox.hasPermit(ref)).toBe(false);
    expect(sandbox.stats().faultsInjected).toStrictEqual({ latency: 1 });
  });

  it("still deletes when the client gives up during the delay (the ambiguous outcome)", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();
    sandbox.setFaults({ latencyMs: 300 });

    await expect(deletePermit(sandbox, ref, AbortSignal.timeout(50))).rejects.toMatchObject({
      name: "TimeoutError",
    });
    expect(sandbox.hasPermit(ref)).toBe(true);
    await vi.waitFor(() => expect(sandbox.hasPermit(ref)).toBe(false), { timeout: 2000 });
  });

  it("queued faults hit the next delete requests in order, then requests succeed again", async () => {
    const sandbox = await startSandbox();
    const ref = sandbox.createPermit();
    sandbox.queueFaults("http503", { errorCode: 9002 }, "http429");

    const answers: Answer[] = [];
    for (let i = 0; i < 4; i += 1) answers.push(await deletePermit(sandbox, ref));

    expect(answers.map((a) => a.status)).toStrictEqual([503, 400, 429, 200]);
    expect(answers[1]?.json).toStrictEqual(errorBody(9002));
  });

  it("queued faults come before standing faults, and clearFaults removes both", async () => {
    const sandbox = await startSandbox();
    sandbox.setFaults({ failureRate: 1, modes: ["http500"] });
    sandbox.queueFaults("http503");

    const first = await deletePermit(sandbox, UNKNOWN_REF);
    const second = await deletePermit(sandbox, UNKNOWN_REF);
    sandbox.queueFaults("http503");
    sandbox.clearFaults();
    const third = await deletePermit(sandbox, UNKNOWN_REF);

    expect([first.status, second.status, third.status]).toStrictEqual([503, 500, 400]);
  });

  it("does not fault pushes or admin requests, only deletes", async () => {
    const sandbox = await startSandbox();
    sandbox.setFaults({ failureRate: 1, modes: ["http500"] });

    const pushed = await postJson(sandbox, PUSH_PATH, { apiToken: TOKEN });
    const state = await send(sandbox, "/__sandbox/state", { method: "GET" });

    expect(pushed.status).toBe(200);
    expect(state.status).toBe(200);
    expect(sandbox.stats().faultsInjected).toStrictEqual({});
  });

  describe("failureRate", () => {
    const config: FaultConfig = { failureRate: 0.3, modes: ["http503", { errorCode: 9002 }] };

    // The outcome of each request: "503", "9002" (injected) or "9009" (not faulted: the permit does not exist).
    async function outcomes(sandbox: OpscomSandbox, count: number): Promise<string[]> {
      const results: string[] = [];
      for (let i = 0; i < count; i += 1) {
        const answer = await deletePermit(sandbox, UNKNOWN_REF);
        results.push(
          answer.status === 503 ? "503" : String((answer.json as { ErrorCode: number }).ErrorCode),
        );
      }
      return results;
    }

    async function run(seed: number): Promise<string[]> {
      const sandbox = await startSandbox({ seed });
      sandbox.setFaults(config);
      return outcomes(sandbox, 500);
    }

    it("faults about failureRate of 500 requests, with every mode, and the same seed replays them", async () => {
      const first = await run(7);
      const replay = await run(7);
      const otherSeed = await run(8);

      const faulted = first.filter((o) => o !== "9009").length;
      expect(faulted).toBeGreaterThan(500 * 0.22);
      expect(faulted).toBeLessThan(500 * 0.38);
      expect(new Set(first)).toStrictEqual(new Set(["503", "9002", "9009"]));
      expect(replay).toStrictEqual(first);
      expect(otherSeed).not.toStrictEqual(first);
    });

    it("restarts the seeded sequence on setFaults, and counts what it injected", async () => {
      const sandbox = await startSandbox({ seed: 11 });

      sandbox.setFaults(config);
      const first = await outcomes(sandbox, 100);
      sandbox.setFaults(config);
      sandbox.resetStats();
      const second = await outcomes(sandbox, 100);
      const { faultsInjected, errorsByCode } = sandbox.stats();

      expect(second).toStrictEqual(first);
      expect(faultsInjected).toStrictEqual({
        http503: second.filter((o) => o === "503").length,
        "errorCode:9002": second.filter((o) => o === "9002").length,
      });
      expect(errorsByCode).toStrictEqual({ 9009: second.filter((o) => o === "9009").length });
    });
  });

  it.each<[string, unknown]>([
    ["failureRate above 1", { failureRate: 1.5 }],
    ["negative latencyMs", { latencyMs: -1 }],
    ["empty modes", { modes: [] }],
    ["an unknown mode", { modes: ["explode"] }],
    ["a non-integer errorCode", { modes: [{ errorCode: "9002" }] }],
    ["a misspelt field", { failurerate: 0.5 }],
  ])("setFaults rejects %s", async (_name, config) => {
    const sandbox = await startSandbox();

    expect(() => sandbox.setFaults(config as FaultConfig)).toThrow(SandboxInputError);
  });

  it("queueFaults rejects an unknown mode", async () => {
    const sandbox = await startSandbox();

    expect(() => sandbox.queueFaults("explode" as FaultMode)).toThrow(SandboxInputError);
  });
});

describe("connections", () => {
  function postWithAgent(sandbox: OpscomSandbox, agent: http.Agent, body: unknown): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        `${sandbox.url}${DELETE_PATH}`,
        { method: "POST", agent, headers: { "content-type": "application/json" } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });
  }

  it.each([
    ["reuses one connection with a keep-alive agent", true, 1],
    ["counts a new connection per request without keep-alive", false, 5],
  ])("%s", async (_name, keepAlive, expected) => {
    const sandbox = await startSandbox();
    const agent = new http.Agent({ keepAlive, maxSockets: 1 });

    try {
      for (let i = 0; i < 5; i += 1) {
        expect(await postWithAgent(sandbox, agent, deleteBody(sandbox.createPermit()))).toBe(200);
      }
    } finally {
      agent.destroy();
    }

    expect(sandbox.stats().connections).toBe(expected);
  });

  it("resetStats zeroes every counter, the connection count included", async () => {
    const sandbox = await startSandbox();
    await deletePermit(sandbox, sandbox.createPermit());
    await deletePermit(sandbox, UNKNOWN_REF);

    sandbox.resetStats();

    expect(sandbox.stats()).toStrictEqual({
      deleteRequests: 0,
      deletesSucceeded: 0,
      deletesByReference: {},
      errorsByCode: {},
      faultsInjected: {},
      pushRequests: 0,
      connections: 0,
      peakConcurrentDeletes: 0,
      concurrencyRejections: 0,
    });
  });
});

describe("close", () => {
  it("closes even with a hung request open, which then fails", async () => {
    const sandbox = await startSandbox();
    sandbox.queueFaults("hang");
    const hung = deletePermit(sandbox, sandbox.createPermit());
    hung.catch(() => undefined);
    await vi.waitFor(() => expect(sandbox.stats().deleteRequests).toBe(1));

    await sandbox.close();

    await expect(hung).rejects.toThrow();
    await expect(sandbox.close()).resolves.toBeUndefined();
    await expect(fetch(`${sandbox.url}/__sandbox/state`)).rejects.toThrow();
  });
});

describe("admin endpoints", () => {
  async function admin(
    sandbox: OpscomSandbox,
    method: string,
    urlPath: string,
    body?: unknown,
  ): Promise<Answer> {
    return send(sandbox, urlPath, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  it("GET /__sandbox/state reports stats, the permit count and the client codes, never a token", async () => {
    const sandbox = await startSandbox();
    sandbox.createPermit();
    sandbox.createPermit("OC-OTHER");
    await deletePermit(sandbox, UNKNOWN_REF);

    const answer = await admin(sandbox, "GET", "/__sandbox/state");

    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      stats: { deleteRequests: 1, errorsByCode: { 9009: 1 } },
      permitCount: 2,
      clientCodes: ["OC-TOMA", "OC-OTHER"],
    });
  });

  it("POST /__sandbox/faults replaces the standing config; DELETE clears it", async () => {
    const sandbox = await startSandbox();

    const set = await admin(sandbox, "POST", "/__sandbox/faults", { failureRate: 1, modes: ["http503"] });
    const faulted = await deletePermit(sandbox, UNKNOWN_REF);
    const cleared = await admin(sandbox, "DELETE", "/__sandbox/faults");
    const normal = await deletePermit(sandbox, UNKNOWN_REF);

    expect(set.json).toMatchObject({
      faults: { standing: { failureRate: 1, modes: ["http503"] }, queued: [] },
    });
    expect(faulted.status).toBe(503);
    expect(cleared.json).toMatchObject({ faults: { standing: {}, queued: [] } });
    expect(normal.json).toStrictEqual(errorBody(9009));
  });

  it("POST /__sandbox/faults/queue queues modes in order", async () => {
    const sandbox = await startSandbox();

    await admin(sandbox, "POST", "/__sandbox/faults/queue", { modes: ["http429", { errorCode: 9002 }] });
    const first = await deletePermit(sandbox, UNKNOWN_REF);
    const second = await deletePermit(sandbox, UNKNOWN_REF);

    expect(first.status).toBe(429);
    expect(second.json).toStrictEqual(errorBody(9002));
  });

  it.each<[string, string, unknown]>([
    ["an invalid fault config", "/__sandbox/faults", { failureRate: 2 }],
    ["a queue without modes", "/__sandbox/faults/queue", {}],
    ["a queue with an unknown mode", "/__sandbox/faults/queue", { modes: ["explode"] }],
    ["a permit count of 0", "/__sandbox/permits", { count: 0 }],
    ["an unknown client code", "/__sandbox/permits", { clientCode: "OC-NOPE" }],
    ["a body that is not JSON", "/__sandbox/faults", "{"],
  ])("answers 400 with a message to %s", async (_name, urlPath, body) => {
    const sandbox = await startSandbox();

    const answer = await send(sandbox, urlPath, {
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

    expect(answer.status).toBe(400);
    expect(answer.json).toStrictEqual({ message: expect.any(String) });
  });

  it("POST /__sandbox/permits creates permits for the default or the named client", async () => {
    const sandbox = await startSandbox();

    const mine = (await admin(sandbox, "POST", "/__sandbox/permits", { count: 3 })).json as {
      referenceIds: string[];
    };
    const theirs = (await admin(sandbox, "POST", "/__sandbox/permits", { clientCode: "OC-OTHER" })).json as {
      referenceIds: string[];
    };

    expect(mine.referenceIds).toHaveLength(3);
    expect(mine.referenceIds.every((ref) => UUID_V4.test(ref) && sandbox.hasPermit(ref))).toBe(true);
    expect(theirs.referenceIds).toHaveLength(1);
    expect(sandbox.hasPermit(theirs.referenceIds[0] ?? "", "OC-OTHER")).toBe(true);
  });

  it("POST /__sandbox/stats/reset zeroes the stats", async () => {
    const sandbox = await startSandbox();
    await deletePermit(sandbox, UNKNOWN_REF);

    const answer = await admin(sandbox, "POST", "/__sandbox/stats/reset");

    expect(answer.json).toMatchObject({ stats: { deleteRequests: 0, errorsByCode: {} } });
    expect(sandbox.stats().deleteRequests).toBe(0);
  });

  it("never returns a token from any admin endpoint", async () => {
    const sandbox = await startSandbox();
    await deletePermit(sandbox, UNKNOWN_REF);

    const texts = await Promise.all([
      admin(sandbox, "GET", "/__sandbox/state"),
      admin(sandbox, "POST", "/__sandbox/faults", {}),
      admin(sandbox, "POST", "/__sandbox/faults/queue", { modes: [] }),
      admin(sandbox, "DELETE", "/__sandbox/faults"),
      admin(sandbox, "POST", "/__sandbox/permits", {}),
      admin(sandbox, "POST", "/__sandbox/stats/reset"),
    ]).then((answers) => answers.map((a) => a.text).join("\n"));

    expect(texts).toContain("OC-TOMA");
    expect(texts).not.toContain(TOKEN);
    expect(texts).not.toContain(OTHER_TOKEN);
  });

  it.each([
    ["GET", "/nowhere", 404],
    ["GET", "/__sandbox/nowhere", 404],
    ["POST", "/api/OC-TOMA/v1/permits/update", 404],
    ["GET", DELETE_PATH, 405],
    ["PUT", "/__sandbox/state", 405],
  ])("answers %s %s with %i and a JSON body", async (method, urlPath, status) => {
    const sandbox = await startSandbox();

    const answer = await send(sandbox, urlPath, { method });

    expect(answer.status).toBe(status);
    expect(answer.json).toStrictEqual({ message: expect.any(String) });
  });
});

describe("standalone", () => {
  it("starts from the command line on OPSCOM_SANDBOX_PORT and prints its url, client code and token", async () => {
    const script = path.join(__dirname, "..", "local", "opscom-sandbox.ts");
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      env: { ...process.env, OPSCOM_SANDBOX_PORT: "0", OPSCOM_SANDBOX_TOKEN: TOKEN },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      await vi.waitFor(() => expect(output).toContain("API token"), { timeout: 15_000, interval: 50 });
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];

      const state = await fetch(`${url}/__sandbox/state`).then((res) => res.json());

      expect(output).toContain("OC-TOMA");
      expect(output).toContain(TOKEN);
      expect(state).toMatchObject({ clientCodes: ["OC-TOMA"], permitCount: 0 });
    } finally {
      child.kill("SIGTERM");
    }
  });
});
