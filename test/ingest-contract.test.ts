// Every row of the vendor contract (the README's table), answered by the real ingest handler over real
// HTTP to the OPS-COM sandbox, with secrets read by the real Secrets Manager SDK client from
// the local AWS endpoint.
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyResult } from "aws-lambda";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryLedger, type MemoryQueue } from "../lambda/adapters/memory";
import { ANSWER_CEILING_MS } from "../lambda/budget";
import type { Ledger } from "../lambda/ports";
import type { RecordingTelemetry } from "../lambda/telemetry";
import { canonicalEvent, signWebhook } from "../local/vendor-kit";
import { version } from "../package.json";
import { functionUrlEvent, httpApiEvent, type RequestSpec, restEvent } from "../testkit/events";
import {
  buildRelay,
  type RelayUnderTest,
  startWorld,
  type TestWorld,
  TOKEN_SECRET,
  VENDOR_PREFIX,
} from "./support/relay";

let world: TestWorld;
let relay: RelayUnderTest;

beforeAll(async () => {
  world = await startWorld(["acme", "fenced"]);
});
afterAll(async () => world.close());

beforeEach(() => {
  world.sandbox.clearFaults();
  relay = buildRelay(world, {
    vendors: [{ id: "acme" }, { id: "fenced", allowedSourceCidrs: ["203.0.113.0/24", "2001:db8::/32"] }],
  });
});
afterEach(() => relay.close());

function signed(
  referenceId: string,
  extra: { id?: string; body?: string; vendor?: string; timestamp?: number } = {},
) {
  const vendor = extra.vendor ?? "acme";
  return signWebhook({
    body: extra.body ?? canonicalEvent(referenceId),
    secret: world.vendorSecrets[vendor] as string,
    ...(extra.id ? { webhookId: extra.id } : {}),
    ...(extra.timestamp ? { timestamp: extra.timestamp } : {}),
  });
}

async function post(
  spec: RequestSpec,
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const result = (await relay.ingest(restEvent(spec))) as APIGatewayProxyResult;
  return { status: result.statusCode, body: JSON.parse(result.body), headers: result.headers ?? {} };
}

async function send(referenceId: string, extra: Parameters<typeof signed>[1] = {}) {
  const webhook = signed(referenceId, extra);
  return post({ vendorId: extra.vendor ?? "acme", headers: webhook.headers, body: webhook.body });
}

describe("the vendor contract", () => {
  it("answers 200 deleted when OPS-COM confirms, and the permit is gone", async () => {
    const ref = world.sandbox.createPermit();
    const answer = await send(ref, { id: "msg_deleted" });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "deleted", webhookId: "msg_deleted", referenceID: ref });
    expect(world.sandbox.hasPermit(ref)).toBe(false);
    expect(await relay.ledger.get({ vendorId: "acme", webhookId: "msg_deleted" })).toMatchObject({
      state: "deleted",
      attempts: 1,
    });
  });

  it("sends OPS-COM the documented headers and body fields", async () => {
    const ref = world.sandbox.createPermit();
    await send(ref);
    const headers = world.sandbox.stats().lastRequestHeaders ?? {};
    expect(headers["content-type"]).toBe("application/json");
    expect(headers.accept).toBe("application/json");
    expect(headers["cache-control"]).toBe("no-cache");
  });

  it("answers 200 not_found when OPS-COM has no such record (9009)", async () => {
    const answer = await send("0b1c2d3e-0000-4000-8000-000000000000");
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe("not_found");
  });

  it("records a 9009 after a timed-out attempt that OPS-COM did act on, and says so in the ledger", async () => {
    const ref = world.sandbox.createPermit();
    // The first call deletes the permit, but only after the relay's 1 s timeout; the inline
    // retry meets a 503, so the delivery is queued.
    world.sandbox.setFaults({ latencyFaultMs: 1200 });
    world.sandbox.queueFaults("latency", "http503");
    const answer = await send(ref, { id: "msg_lost_answer" });
    expect(answer.body).toMatchObject({ status: "queued", referenceID: ref });
    // The sandbox finishes the cut-off delete on its own time: poll for it rather than sleep a
    // guess (too short under load, wasted time otherwise).
    await vi.waitFor(() => expect(world.sandbox.hasPermit(ref)).toBe(false), { timeout: 3000, interval: 20 });
    relay.clock.advance(10_000);
    await relay.worker({ Records: (relay.queue as MemoryQueue).receive() });
    expect(world.sandbox.stats().deletesByReference[ref]).toBe(1);
    const record = await relay.ledger.get({ vendorId: "acme", webhookId: "msg_lost_answer" });
    expect(record).toMatchObject({ state: "not_found", attempts: 3 });
    expect(record?.lastError).toMatch(/earlier attempt whose answer was lost/);
  });

  it("answers 200 ignored for an event type that is not a delete, and calls nobody", async () => {
    const before = world.sandbox.stats().deleteRequests;
    const answer = await send("x", {
      body: JSON.stringify({ type: "permit.created", data: { referenceID: "abc" } }),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe("ignored");
    expect(world.sandbox.stats().deleteRequests).toBe(before);
  });

  it("answers a duplicate of a finished webhook with the first answer plus duplicate: true", async () => {
    const ref = world.sandbox.createPermit();
    const webhook = signed(ref, { id: "msg_dup" });
    const first = await post({ headers: webhook.headers, body: webhook.body });
    const before = world.sandbox.stats().deleteRequests;
    const again = await post({ headers: webhook.headers, body: webhook.body });
    expect(first.body.status).toBe("deleted");
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
    expect(world.sandbox.stats().deleteRequests).toBe(before);
  });

  it("answers 409 in_progress with Retry-After while the first delivery is in flight", async () => {
    const ref = world.sandbox.createPermit();
    world.sandbox.setFaults({ latencyMs: 300 });
    const webhook = signed(ref, { id: "msg_inflight" });
    const [a, b] = await Promise.all([
      post({ headers: webhook.headers, body: webhook.body }),
      post({ headers: webhook.headers, body: webhook.body }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const busy = a.status === 409 ? a : b;
    expect(busy.body.status).toBe("in_progress");
    expect(Number(busy.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(world.sandbox.stats().deletesByReference[ref]).toBe(1);
  });

  it.each([
    ["HTTP 503", ["http503", "http503"]],
    ["HTTP 429", ["http429", "http429"]],
    ["connection reset", ["reset", "reset"]],
    ["timeout", ["hang", "hang"]],
    ["an unreadable 502 page", ["html502", "html502"]],
  ] as const)(
    "answers 202 queued after %s twice, and the retry worker finishes the job",
    async (_, faults) => {
      const ref = world.sandbox.createPermit();
      world.sandbox.queueFaults(...faults);
      const answer = await send(ref, { id: `msg_q_${faults[0]}` });
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ status: "queued", referenceID: ref });
      expect(world.sandbox.hasPermit(ref)).toBe(true);
      const queue = relay.queue as MemoryQueue;
      expect(queue.messages).toHaveLength(1);
      expect(JSON.parse(queue.messages[0]?.body ?? "{}")).toMatchObject({ referenceId: ref, attempt: 2 });
      relay.clock.advance(10_000);
      const records = queue.receive();
      const result = await relay.worker({ Records: records });
      expect(result.batchItemFailures).toEqual([]);
      expect(world.sandbox.hasPermit(ref)).toBe(false);
      expect(await relay.ledger.get({ vendorId: "acme", webhookId: `msg_q_${faults[0]}` })).toMatchObject({
        state: "deleted",
        attempts: 3,
      });
    },
    15_000,
  );

  it("answers 202 queued, not 422, when a wrong base URL meets a 404 page OPS-COM did not write, and counts it", async () => {
    const page = createServer((_req, res) => {
      res.writeHead(404, { "content-type": "text/html" }).end("<html><title>Not Found</title></html>");
    });
    await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
    try {
      relay.close();
      relay = buildRelay(world, {
        env: { OPSCOM_BASE_URL: `http://127.0.0.1:${(page.address() as AddressInfo).port}/wrong-prefix` },
      });
      const ref = world.sandbox.createPermit();
      const answer = await send(ref, { id: "msg_wrong_base" });
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ status: "queued", referenceID: ref });
      expect((relay.telemetry as RecordingTelemetry).metrics.OpscomUnrecognised).toBe(1);
      expect(await relay.ledger.get({ vendorId: "acme", webhookId: "msg_wrong_base" })).toMatchObject({
        state: "queued",
      });
    } finally {
      page.close();
    }
  });

  it("answers 202 queued when OPS-COM keeps refusing the token after one refetch", async () => {
    const ref = world.sandbox.createPermit();
    world.sandbox.queueFaults({ errorCode: 9002 }, { errorCode: 9002 });
    const answer = await send(ref);
    expect(answer.status).toBe(202);
    expect(answer.body.status).toBe("queued");
    expect((relay.telemetry as RecordingTelemetry).metrics.TokenRejected).toBe(1);
  });

  const unauthorized: [string, () => RequestSpec][] = [
    [
      "no signature headers",
      () => ({ headers: { "content-type": "application/json" }, body: canonicalEvent("a") }),
    ],
    [
      "a stale timestamp",
      () => {
        const w = signed("a", { timestamp: Math.floor(Date.now() / 1000) - 3600 });
        return { headers: w.headers, body: w.body };
      },
    ],
    [
      "a timestamp from the future",
      () => {
        const w = signed("a", { timestamp: Math.floor(Date.now() / 1000) + 3600 });
        return { headers: w.headers, body: w.body };
      },
    ],
    [
      "a wrong signature",
      () => {
        const w = signed("a");
        return {
          headers: { ...w.headers, "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
          body: w.body,
        };
      },
    ],
    [
      "a body changed after signing",
      () => {
        const w = signed("abc");
        return { headers: w.headers, body: w.body.replace("abc", "abd") };
      },
    ],
    [
      "an unknown vendor",
      () => {
        const w = signed("a");
        return { vendorId: "nobody", headers: w.headers, body: w.body };
      },
    ],
  ];
  it.each(unauthorized)("answers 401 unauthorized, with no detail, for %s", async (_, spec) => {
    const answer = await post(spec());
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ status: "unauthorized" });
  });

  it("reads no secret at all for an unknown vendor", async () => {
    const before = world.aws.getSecretValueCalls();
    const w = signed("a");
    await post({ vendorId: "nobody", headers: w.headers, body: w.body });
    expect(world.aws.getSecretValueCalls()).toBe(before);
  });

  it("answers 403 forbidden outside the vendor's allow-list, before any secret is read", async () => {
    const before = world.aws.getSecretValueCalls(`${VENDOR_PREFIX}fenced`);
    const w = signed("a", { vendor: "fenced" });
    const answer = await post({
      vendorId: "fenced",
      headers: w.headers,
      body: w.body,
      sourceIp: "198.51.100.1",
    });
    expect(answer.status).toBe(403);
    expect(answer.body).toEqual({ status: "forbidden" });
    expect(world.aws.getSecretValueCalls(`${VENDOR_PREFIX}fenced`)).toBe(before);
  });

  it.each(["203.0.113.9", "2001:db8::5"])("lets %s through the allow-list", async (ip) => {
    const ref = world.sandbox.createPermit();
    const w = signed(ref, { vendor: "fenced" });
    const answer = await post({ vendorId: "fenced", headers: w.headers, body: w.body, sourceIp: ip });
    expect(answer.status).toBe(200);
  });

  it("answers 422 rejected when the same webhook id comes with a different body", async () => {
    const ref = world.sandbox.createPermit();
    await send(ref, { id: "msg_reused" });
    const answer = await send(world.sandbox.createPermit(), { id: "msg_reused" });
    expect(answer.status).toBe(422);
    expect(answer.body.status).toBe("rejected");
    expect(String(answer.body.reason)).toMatch(/different body/);
  });

  it.each([
    ["not JSON", "{nope", "body"],
    ["not an object", "[1,2]", "body"],
    ["missing the reference ID", JSON.stringify({ type: "permit.deleted", data: {} }), "data.referenceID"],
    [
      "an empty reference ID",
      JSON.stringify({ type: "permit.deleted", data: { referenceID: "" } }),
      "data.referenceID",
    ],
    [
      "a reference ID over 50",
      JSON.stringify({ type: "permit.deleted", data: { referenceID: "a".repeat(51) } }),
      "data.referenceID",
    ],
    [
      "a reference ID with bad characters",
      JSON.stringify({ type: "permit.deleted", data: { reference_id: "a b/c" } }),
      "data.reference_id",
    ],
    ["no event type", JSON.stringify({ data: { referenceID: "abc" } }), "type"],
  ])("answers 400 invalid naming the field for a body %s", async (_, body, field) => {
    const before = world.sandbox.stats().deleteRequests;
    const answer = await send("x", { body });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ status: "invalid", field });
    expect(world.sandbox.stats().deleteRequests).toBe(before);
  });

  it.each(["referenceID", "referenceid", "reference_id"])("accepts the OPS-COM alias %s", async (alias) => {
    const ref = world.sandbox.createPermit();
    const answer = await send(ref, {
      body: JSON.stringify({ type: "permit.deleted", data: { [alias]: ref } }),
    });
    expect(answer.body).toMatchObject({ status: "deleted", referenceID: ref });
  });

  it("answers 413 too_large over MAX_BODY_BYTES, before reading any secret", async () => {
    const before = world.aws.getSecretValueCalls();
    const body = JSON.stringify({
      type: "permit.deleted",
      data: { referenceID: "abc" },
      pad: "x".repeat(70_000),
    });
    const w = signed("abc", { body });
    const answer = await post({ headers: w.headers, body: w.body });
    expect(answer.status).toBe(413);
    expect(answer.body.status).toBe("too_large");
    expect(world.aws.getSecretValueCalls()).toBe(before);
  });

  it.each([undefined, "text/plain", "application/x-www-form-urlencoded"])(
    "answers 415 unsupported_media_type for content type %s",
    async (contentType) => {
      const w = signed("abc");
      const headers: Record<string, string> = { ...w.headers };
      delete headers["content-type"];
      if (contentType) headers["Content-Type"] = contentType;
      const answer = await post({ headers, body: w.body });
      expect(answer.status).toBe(415);
      expect(answer.body.status).toBe("unsupported_media_type");
    },
  );

  it.each([9003, 9008, 9030, 9031, 9032, 9033, 9017])(
    "answers 422 rejected with OPS-COM's code and message for %s",
    async (code) => {
      const ref = world.sandbox.createPermit();
      world.sandbox.queueFaults({ errorCode: code, message: `message for ${code}` });
      const answer = await send(ref);
      expect(answer.status).toBe(422);
      expect(answer.body).toMatchObject({
        status: "rejected",
        referenceID: ref,
        opscom: { errorCode: code, errorMessage: `message for ${code}` },
      });
    },
  );

  it("answers 503 unavailable with Retry-After when OPS-COM fails and the queue cannot take it, and releases the claim", async () => {
    const queue = relay.queue as MemoryQueue;
    const ref = world.sandbox.createPermit();
    world.sandbox.queueFaults("http503", "http503");
    queue.failSends = 1;
    const webhook = signed(ref, { id: "msg_unavailable" });
    const answer = await post({ headers: webhook.headers, body: webhook.body });
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ status: "unavailable", webhookId: "msg_unavailable" });
    expect(Number(answer.headers["retry-after"])).toBeGreaterThan(0);
    // The vendor's retry is a fresh delivery, not a duplicate of the failure.
    const retry = await post({ headers: webhook.headers, body: webhook.body });
    expect(retry.body).toEqual({ status: "deleted", webhookId: "msg_unavailable", referenceID: ref });
  });

  it("answers 500 error with no internals when something unexpected breaks, and counts it", async () => {
    relay.close();
    relay = buildRelay(world, {
      opscom: () => ({
        deletePermit: async () => {
          throw new TypeError("Cannot read properties of undefined (reading 'secret-internal-detail')");
        },
      }),
    });
    const answer = await send(world.sandbox.createPermit(), { id: "msg_boom" });
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ status: "error" });
    expect(JSON.stringify(answer)).not.toMatch(/secret-internal-detail|TypeError|at /);
    expect((relay.telemetry as RecordingTelemetry).metrics.HandlerError).toBe(1);
    // Nothing reached OPS-COM, so the claim is freed for the vendor's retry.
    expect(await relay.ledger.get({ vendorId: "acme", webhookId: "msg_boom" })).toBeUndefined();
  });
});

/** A ledger whose writes of an outcome fail (claims still work), as a throttled or stalled table would. */
function ledgerFailingTransitions(): MemoryLedger & { failures: number } {
  const ledger = Object.assign(new MemoryLedger(), { failures: 0 });
  ledger.transition = async () => {
    ledger.failures++;
    throw Object.assign(new Error("Throughput exceeded"), { name: "ProvisionedThroughputExceededException" });
  };
  return ledger;
}

describe("a ledger write that fails after the outcome is known", () => {
  it("answers 200 deleted, keeps the claim, counts the failure, and a resend deletes nothing twice", async () => {
    const ledger = ledgerFailingTransitions();
    relay.close();
    relay = buildRelay(world, { ledger });
    const ref = world.sandbox.createPermit();
    const first = await send(ref, { id: "msg_settle_fails" });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: "deleted", referenceID: ref });
    expect(ledger.failures).toBe(1);
    expect((relay.telemetry as RecordingTelemetry).metrics.LedgerWriteFailed).toBe(1);
    expect(await ledger.get({ vendorId: "acme", webhookId: "msg_settle_fails" })).toMatchObject({
      state: "in_progress",
    });
    // The vendor's resend meets the live claim, not a second OPS-COM call that would say 9009.
    const deletesBefore = world.sandbox.stats().deleteRequests;
    const again = await send(ref, { id: "msg_settle_fails" });
    expect(again.status).toBe(409);
    expect(world.sandbox.stats().deleteRequests).toBe(deletesBefore);
    // The answer was handed to the retry queue: once the ledger recovers, the worker records
    // it without calling OPS-COM, and a resend then gets the finished webhook's answer.
    ledger.transition = MemoryLedger.prototype.transition.bind(ledger);
    relay.clock.advance(10_000);
    const drained = await relay.worker({ Records: (relay.queue as MemoryQueue).receive() });
    expect(drained.batchItemFailures).toEqual([]);
    expect(world.sandbox.stats().deleteRequests).toBe(deletesBefore);
    expect(await ledger.get({ vendorId: "acme", webhookId: "msg_settle_fails" })).toMatchObject({
      state: "deleted",
      attempts: 1,
    });
    expect((await send(ref, { id: "msg_settle_fails" })).body).toMatchObject({
      status: "deleted",
      duplicate: true,
    });
  });

  it("answers 202 queued when recording `queued` fails after the enqueue, and the worker still delivers", async () => {
    const ledger = ledgerFailingTransitions();
    relay.close();
    relay = buildRelay(world, { ledger });
    const ref = world.sandbox.createPermit();
    world.sandbox.queueFaults("http503", "http503");
    const answer = await send(ref, { id: "msg_queued_settle_fails" });
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ status: "queued", referenceID: ref });
    const key = { vendorId: "acme", webhookId: "msg_queued_settle_fails" };
    expect(await ledger.get(key)).toMatchObject({ state: "in_progress" });
    // The ledger recovers; the parked message finishes the delivery although the record is
    // still the ingest claim's in_progress and its lease is live.
    ledger.transition = MemoryLedger.prototype.transition.bind(ledger);
    relay.clock.advance(10_000);
    const result = await relay.worker({ Records: (relay.queue as MemoryQueue).receive() });
    expect(result.batchItemFailures).toEqual([]);
    expect(world.sandbox.hasPermit(ref)).toBe(false);
    expect(await ledger.get(key)).toMatchObject({ state: "deleted", attempts: 3 });
  });

  it("postpones a parked message while a resend's newer claim is live, without calling OPS-COM", async () => {
    const ledger = ledgerFailingTransitions();
    relay.close();
    relay = buildRelay(world, { ledger });
    const ref = world.sandbox.createPermit();
    world.sandbox.queueFaults("http503", "http503");
    await send(ref, { id: "msg_takeover" });
    const key = { vendorId: "acme", webhookId: "msg_takeover" };
    const queue = relay.queue as MemoryQueue;
    // A resend takes the lapsed claim over; while it holds it, the parked message waits.
    const record = await ledger.get(key);
    ledger.records.set("acme#msg_takeover", {
      ...(record as NonNullable<typeof record>),
      claimId: "a-resend",
      leaseUntil: relay.clock.now() + 60_000,
    });
    relay.clock.advance(10_000);
    const deletesBefore = world.sandbox.stats().deleteRequests;
    const result = await relay.worker({ Records: queue.receive() });
    expect(result.batchItemFailures).toHaveLength(1);
    expect(world.sandbox.stats().deleteRequests).toBe(deletesBefore);
    expect(world.sandbox.hasPermit(ref)).toBe(true);
    const telemetry = relay.telemetry as RecordingTelemetry;
    expect(telemetry.metrics.RetryRejected).toBeUndefined();
    expect(telemetry.lines.map((l) => l.message)).toContain(
      "retry postponed: another delivery holds the claim",
    );
    // It comes back just after the resend's lease ends.
    expect(queue.messages[0]?.visibleAt).toBeGreaterThan(relay.clock.now() + 50_000);
  });
});

describe("a lapsed claim", () => {
  it("is not taken over by the same webhook id with another body: 422, and the first body stands", async () => {
    const ledger = new MemoryLedger();
    relay.close();
    relay = buildRelay(world, { ledger });
    const refA = world.sandbox.createPermit();
    const refB = world.sandbox.createPermit();
    // The first delivery crashed after its claim (no outcome recorded): a stale in_progress record.
    await ledger.claim({
      vendorId: "acme",
      webhookId: "msg_lapsed",
      referenceId: refA,
      bodyHash: "0".repeat(64),
      claimId: "crashed",
      now: relay.clock.now() - 120_000,
      leaseMs: 60_000,
      expiresAt: Math.floor(relay.clock.now() / 1000) + 86_400,
    });
    const tokenReads = world.aws.getSecretValueCalls(TOKEN_SECRET);
    const answer = await send(refB, { id: "msg_lapsed" });
    expect(answer.status).toBe(422);
    // The token read started alongside the signature check lands after the answer; let it land
    // here rather than in a later test that counts token reads.
    await vi.waitFor(() => expect(world.aws.getSecretValueCalls(TOKEN_SECRET)).toBeGreaterThan(tokenReads));
    expect(answer.body).toMatchObject({ status: "rejected" });
    expect(world.sandbox.hasPermit(refB)).toBe(true);
    expect(await ledger.get({ vendorId: "acme", webhookId: "msg_lapsed" })).toMatchObject({
      referenceId: refA,
    });
  });
});

describe("Retry-After on 409 in_progress", () => {
  it("is the time the in-flight attempt can still take, then the rest of the lease once it cannot still be running", async () => {
    const ledger = new MemoryLedger();
    relay.close();
    relay = buildRelay(world, { ledger });
    const ref = world.sandbox.createPermit();
    const webhook = signed(ref, { id: "msg_busy" });
    const claimedAt = relay.clock.now();
    // Another invocation claimed this webhook just now and is still delivering it.
    await ledger.claim({
      vendorId: "acme",
      webhookId: "msg_busy",
      referenceId: ref,
      bodyHash: createHash("sha256").update(webhook.body).digest("hex"),
      claimId: "in-flight",
      now: claimedAt,
      leaseMs: relay.config.claimLeaseSeconds * 1000,
      expiresAt: Math.floor(claimedAt / 1000) + 86_400,
    });
    const worstSeconds = ANSWER_CEILING_MS / 1000;
    expect(worstSeconds).toBeLessThan(relay.config.claimLeaseSeconds);
    const retryAfter = async (atMs: number) => {
      relay.clock.offset = claimedAt - Date.now() + atMs;
      const answer = await post({ headers: webhook.headers, body: webhook.body });
      expect(answer.status).toBe(409);
      return Number(answer.headers["retry-after"]);
    };
    const tokenReads = world.aws.getSecretValueCalls(TOKEN_SECRET);
    expect(await retryAfter(0)).toBe(Math.ceil(worstSeconds));
    await vi.waitFor(() => expect(world.aws.getSecretValueCalls(TOKEN_SECRET)).toBeGreaterThan(tokenReads));
    expect(await retryAfter(worstSeconds * 1000 - 2500)).toBe(3);
    // Past the worst case the holder has crashed: the claim frees when its lease ends.
    expect(await retryAfter(worstSeconds * 1000 + 1000)).toBe(
      relay.config.claimLeaseSeconds - Math.ceil(worstSeconds) - 1,
    );
    expect(world.sandbox.hasPermit(ref)).toBe(true);
  });
});

describe("relay.ping", () => {
  /** A ledger that counts every call that could write, so a test can prove none was made. */
  function countingLedger(): { ledger: Ledger; writes: () => number } {
    const memory = new MemoryLedger();
    let writes = 0;
    const counted =
      <A extends unknown[], R>(write: (...args: A) => R) =>
      (...args: A): R => {
        writes += 1;
        return write(...args);
      };
    return {
      writes: () => writes,
      ledger: {
        claim: counted((r) => memory.claim(r)),
        transition: counted((k, e, p) => memory.transition(k, e, p)),
        release: counted((k, c) => memory.release(k, c)),
        get: (k) => memory.get(k),
        byReference: (r) => memory.byReference(r),
      },
    };
  }

  /** Everything a ping must leave alone: the token secret, the ledger and OPS-COM. */
  function untouched(writes: () => number) {
    const stats = () => {
      const { deleteRequests, pushRequests, connections } = world.sandbox.stats();
      return {
        tokenReads: world.aws.getSecretValueCalls(TOKEN_SECRET),
        ledgerWrites: writes(),
        opscom: { deleteRequests, pushRequests, connections },
      };
    };
    const before = stats();
    return () => expect(stats()).toEqual(before);
  }

  const VENDORS = [
    { id: "acme" },
    { id: "fenced", allowedSourceCidrs: ["203.0.113.0/24"] },
    { id: "untyped", event: { typePointer: null } },
  ];

  it("answers 200 pong with the vendor, the relay's version and the webhook id; no token, ledger or OPS-COM", async () => {
    const counting = countingLedger();
    relay.close();
    relay = buildRelay(world, { vendors: VENDORS, ledger: counting.ledger });
    const check = untouched(counting.writes);
    const answer = await send("x", { id: "msg_ping", body: JSON.stringify({ type: "relay.ping" }) });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "pong", vendorId: "acme", version, webhookId: "msg_ping" });
    check();
    // The same relay still reads the token, claims and calls OPS-COM for a delete.
    const ref = world.sandbox.createPermit();
    expect((await send(ref)).body.status).toBe("deleted");
    expect(counting.writes()).toBeGreaterThan(0);
    expect(world.aws.getSecretValueCalls(TOKEN_SECRET)).toBeGreaterThan(0);
  });

  it("answers a ping from a vendor whose events have no type field by the top-level type", async () => {
    relay.close();
    relay = buildRelay(world, { vendors: VENDORS });
    world.aws.putSecret(
      `${VENDOR_PREFIX}untyped`,
      JSON.stringify({ signingSecrets: [world.vendorSecrets.acme] }),
    );
    const w = signed("x", { body: JSON.stringify({ type: "relay.ping", data: {} }) });
    const answer = await post({ vendorId: "untyped", headers: w.headers, body: w.body });
    expect(answer.body).toMatchObject({ status: "pong", vendorId: "untyped" });
  });

  it("goes through the whole admission path first", async () => {
    relay.close();
    relay = buildRelay(world, { vendors: VENDORS });
    const ping = JSON.stringify({ type: "relay.ping" });
    const unsigned = await post({ headers: { "content-type": "application/json" }, body: ping });
    const stale = await send("x", { body: ping, timestamp: Math.floor(Date.now() / 1000) - 3600 });
    const w = signed("x", { vendor: "fenced", body: ping });
    const outside = await post({
      vendorId: "fenced",
      headers: w.headers,
      body: w.body,
      sourceIp: "198.51.100.1",
    });
    const textPlain = await post({ headers: { ...w.headers, "content-type": "text/plain" }, body: w.body });
    const big = await send("x", { body: JSON.stringify({ type: "relay.ping", pad: "x".repeat(70_000) }) });
    const badId = await send("x", { body: ping, id: "id with spaces" });
    expect([unsigned, stale, outside, textPlain, big, badId].map((a) => [a.status, a.body.status])).toEqual([
      [401, "unauthorized"],
      [401, "unauthorized"],
      [403, "forbidden"],
      [415, "unsupported_media_type"],
      [413, "too_large"],
      [400, "invalid"],
    ]);
  });

  it("reads no token for a ping that fails its signature either", async () => {
    const check = untouched(() => 0);
    const w = signWebhook({
      body: JSON.stringify({ type: "relay.ping" }),
      secret: "whsec_d3JvbmctYnV0LXdlbGwtZm9ybWVk",
    });
    const answer = await post({ headers: w.headers, body: w.body });
    expect(answer.status).toBe(401);
    check();
  });

  it("logs the ping as one line with outcome pong and nothing from the request's headers", async () => {
    await send("x", { id: "msg_ping_log", body: JSON.stringify({ type: "relay.ping" }) });
    expect((relay.telemetry as RecordingTelemetry).lines).toEqual([
      {
        level: "INFO",
        message: "webhook handled",
        fields: { vendorId: "acme", webhookId: "msg_ping_log", outcome: "pong", httpStatus: 200 },
      },
    ]);
  });
});

describe("event shapes", () => {
  it("verifies a REST event with mixed-case headers and a base64 body byte for byte", async () => {
    const ref = world.sandbox.createPermit();
    const body = `{ "type":"permit.deleted",\n  "data": {"referenceID": "${ref}", "note": "caf\u00e9 \u2713"} }`;
    const w = signed(ref, { body });
    const headers = {
      "Content-Type": "application/json; charset=utf-8",
      "Webhook-Id": w.headers["webhook-id"] as string,
      "WEBHOOK-TIMESTAMP": w.headers["webhook-timestamp"] as string,
      "webhook-Signature": w.headers["webhook-signature"] as string,
    };
    const answer = await post({ headers, body: Buffer.from(body, "utf8"), base64: true });
    expect(answer.body).toMatchObject({ status: "deleted", referenceID: ref });
  });

  it.each([
    ["an HTTP API (v2) event", httpApiEvent],
    ["a Lambda function URL event", functionUrlEvent],
  ])("handles %s", async (_, build) => {
    const ref = world.sandbox.createPermit();
    const w = signed(ref);
    const result = (await relay.ingest(build({ headers: w.headers, body: w.body }))) as APIGatewayProxyResult;
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ status: "deleted", referenceID: ref });
  });

  it("accepts svix-* headers from Svix-powered senders", async () => {
    const ref = world.sandbox.createPermit();
    const w = signWebhook({
      body: canonicalEvent(ref),
      secret: world.vendorSecrets.acme as string,
      svixHeaders: true,
    });
    expect(Object.keys(w.headers)).toContain("svix-signature");
    const answer = await post({ headers: w.headers, body: w.body });
    expect(answer.body.status).toBe("deleted");
  });

  it("answers 404 off the webhook route and 405 for other methods", async () => {
    const w = signed("abc");
    const off = (await relay.ingest(
      functionUrlEvent({ path: "/other", headers: w.headers, body: w.body }),
    )) as APIGatewayProxyResult;
    expect(off.statusCode).toBe(404);
    const get = await post({ method: "GET", headers: w.headers, body: w.body });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
  });
});

describe("secrets", () => {
  it("reads each secret once for 100 deliveries", async () => {
    const tokenCalls = world.aws.getSecretValueCalls("opscom-permit-relay/opscom-token");
    const vendorCalls = world.aws.getSecretValueCalls(`${VENDOR_PREFIX}acme`);
    const refs = Array.from({ length: 100 }, () => world.sandbox.createPermit());
    const answers = [];
    for (const ref of refs) answers.push(await send(ref));
    expect(answers.every((a) => a.body.status === "deleted")).toBe(true);
    expect(world.aws.getSecretValueCalls("opscom-permit-relay/opscom-token") - tokenCalls).toBe(1);
    expect(world.aws.getSecretValueCalls(`${VENDOR_PREFIX}acme`) - vendorCalls).toBe(1);
  });

  it("shares one fetch between concurrent cache misses", async () => {
    const before = world.aws.getSecretValueCalls(`${VENDOR_PREFIX}acme`);
    const answers = await Promise.all(Array.from({ length: 20 }, () => send(world.sandbox.createPermit())));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(world.aws.getSecretValueCalls(`${VENDOR_PREFIX}acme`) - before).toBe(1);
  });

  it("heals a rotated OPS-COM token: 9002, one refetch, success", async () => {
    await send(world.sandbox.createPermit()); // warm the cache with the old token
    const newToken = "ROTATED-0123456789-abcdefghij";
    world.sandbox.setTokens("OC-TOMA", [newToken]);
    world.aws.putSecret("opscom-permit-relay/opscom-token", newToken);
    relay.clock.advance(5_000);
    const ref = world.sandbox.createPermit();
    const answer = await send(ref);
    expect(answer.body).toMatchObject({ status: "deleted", referenceID: ref });
    world.sandbox.setTokens("OC-TOMA", [world.token]);
    world.aws.putSecret("opscom-permit-relay/opscom-token", JSON.stringify({ apiToken: world.token }));
  });

  it("accepts a vendor's rotated signing secret before the cache expires, refetching at most once a minute", async () => {
    await send(world.sandbox.createPermit());
    const rotated = "whsec_cm90YXRlZC1zZWNyZXQtZm9yLXRoZS10ZXN0cw==";
    world.aws.putSecret(
      `${VENDOR_PREFIX}acme`,
      JSON.stringify({ signingSecrets: [rotated, world.vendorSecrets.acme] }),
    );
    relay.clock.advance(61_000);
    const before = world.aws.getSecretValueCalls(`${VENDOR_PREFIX}acme`);
    const ref = world.sandbox.createPermit();
    const w = signWebhook({ body: canonicalEvent(ref), secret: rotated });
    expect((await post({ headers: w.headers, body: w.body })).body.status).toBe("deleted");
    // A flood of bad signatures right after costs no further Secrets Manager calls.
    for (let i = 0; i < 5; i++) {
      const bad = signWebhook({
        body: canonicalEvent("abc"),
        secret: "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==",
      });
      expect((await post({ headers: bad.headers, body: bad.body })).status).toBe(401);
    }
    expect(world.aws.getSecretValueCalls(`${VENDOR_PREFIX}acme`) - before).toBe(1);
    world.aws.putSecret(
      `${VENDOR_PREFIX}acme`,
      JSON.stringify({ signingSecrets: [world.vendorSecrets.acme] }),
    );
  });

  it("answers 503 when the vendor's signing secret cannot be read", async () => {
    world.aws.deleteSecret(`${VENDOR_PREFIX}fenced`);
    const w = signed("abc", { vendor: "fenced" });
    const answer = await post({
      vendorId: "fenced",
      headers: w.headers,
      body: w.body,
      sourceIp: "203.0.113.1",
    });
    expect(answer.status).toBe(503);
    expect(answer.body.status).toBe("unavailable");
    expect((relay.telemetry as RecordingTelemetry).metrics.SecretUnavailable).toBe(1);
    world.aws.putSecret(
      `${VENDOR_PREFIX}fenced`,
      JSON.stringify({ signingSecrets: [world.vendorSecrets.fenced] }),
    );
  });
});
