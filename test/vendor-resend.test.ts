// The load run's vendor: a retryable answer is resent (same id, same bytes, a fresh signature)
// after its Retry-After until the answer is final; a webhook that never settles is named.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isRetryable, resendUntilFinal } from "../bench/vendor-resend";

interface Seen {
  readonly id: string;
  readonly signature: string;
  readonly body: string;
}

let server: http.Server | undefined;
afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

/** A relay stand-in answering each webhook id from its own script, then 200 deleted. */
async function relay(
  script: Record<string, Array<[number, string, string?]>>,
  seen: Seen[],
): Promise<string> {
  const stub = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const id = String(req.headers["webhook-id"]);
      seen.push({ id, signature: String(req.headers["webhook-signature"]), body });
      const [status, answer, retryAfter] = script[id]?.shift() ?? [200, "deleted"];
      res.writeHead(status, {
        "content-type": "application/json",
        ...(retryAfter === undefined ? {} : { "retry-after": retryAfter }),
      });
      res.end(JSON.stringify({ status: answer }));
    });
  });
  server = stub;
  await new Promise<void>((done) => stub.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(stub.address() as AddressInfo).port}/webhooks/acme`;
}

describe("resendUntilFinal", () => {
  it("resends after each Retry-After until a final answer, signing every send afresh", async () => {
    const seen: Seen[] = [];
    const url = await relay(
      {
        a: [
          [503, "unavailable", "7"],
          [409, "in_progress", "3"],
        ],
        b: [[422, "rejected"]],
      },
      seen,
    );
    const slept: number[] = [];
    let signatures = 0;
    const report = await resendUntilFinal(
      [
        { webhookId: "a", body: '{"n":1}' },
        { webhookId: "b", body: '{"n":2}' },
      ],
      {
        url,
        sign: (webhookId) => ({ "webhook-id": webhookId, "webhook-signature": `v1,sig${++signatures}` }),
        sleep: async (ms) => {
          slept.push(ms);
        },
        maxSends: 5,
      },
    );
    expect(report.finalAnswers).toEqual({ "200 deleted": 1, "422 rejected": 1 });
    expect(report.retryableAnswers).toEqual({ "503 unavailable": 1, "409 in_progress": 1 });
    expect(report.unsettled).toEqual([]);
    expect(slept.sort((x, y) => x - y)).toEqual([3000, 7000]);
    const a = seen.filter((s) => s.id === "a");
    expect(a.map((s) => s.body)).toEqual(['{"n":1}', '{"n":1}', '{"n":1}']);
    expect(new Set(a.map((s) => s.signature)).size).toBe(3);
  });

  it("names a webhook that is still retryable after its last send, waiting 1 s where no Retry-After is given", async () => {
    const seen: Seen[] = [];
    const url = await relay(
      { c: Array.from({ length: 10 }, () => [500, "error"] as [number, string]) },
      seen,
    );
    const slept: number[] = [];
    const report = await resendUntilFinal([{ webhookId: "c", body: "{}" }], {
      url,
      sign: (webhookId) => ({ "webhook-id": webhookId }),
      sleep: async (ms) => {
        slept.push(ms);
      },
      maxSends: 3,
    });
    expect(report.unsettled).toEqual(["c"]);
    expect(report.finalAnswers).toEqual({});
    expect(report.retryableAnswers).toEqual({ "500 error": 3 });
    expect(slept).toEqual([1000, 1000, 1000]);
    expect(seen).toHaveLength(3);
  });

  it("treats 409, 429 and 5xx as retryable and every other answer as final", () => {
    expect([200, 202, 400, 401, 404, 413, 415, 422].filter(isRetryable)).toEqual([]);
    expect([409, 429, 500, 502, 503, 504].every(isRetryable)).toBe(true);
  });
});
