// The retry worker over in-memory twins: a scripted OPS-COM, the memory ledger, queue and
// secrets, a hand-moved clock and recorded telemetry. Each test parks deliveries the way the
// ingest handler does, drains the queue like the SQS event source, and reads the outcome.
import type { SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../../lambda/adapters/memory";
import { loadConfig } from "../../lambda/config";
import type { DeliveryState, LedgerKey, OpscomOutcome } from "../../lambda/ports";
import { createRetryWorker, RECORD_CONCURRENCY } from "../../lambda/retry-core";
import { nextRetryDelaySeconds } from "../../lambda/retry-schedule";
import { RecordingTelemetry } from "../../lambda/telemetry";
import { FakeClock, outcomes, ScriptedOpscom } from "./support/fakes";

const TOKEN_SECRET = "opscom/token";
const VISIBILITY_S = 30;

function world(options: { maxAttempts?: number } = {}) {
  const maxAttempts = options.maxAttempts ?? 4;
  const clock = new FakeClock();
  const config = loadConfig({
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET,
    VENDORS: JSON.stringify([{ id: "acme" }, { id: "routed", opscom: { clientCode: "OC-OTHER" } }]),
    RETRY_MAX_ATTEMPTS: String(maxAttempts),
  });
  const ledger = new MemoryLedger();
  const queue = new MemoryQueue(clock, maxAttempts, VISIBILITY_S);
  const secrets = new MemorySecrets({ [TOKEN_SECRET]: "token-1" });
  const telemetry = new RecordingTelemetry();
  const opscom = new ScriptedOpscom();
  const handler = createRetryWorker({
    config,
    clock,
    secrets,
    ledger,
    queue,
    opscom,
    telemetry,
    // 0.5 means no jitter: every delay is exactly the schedule's.
    random: () => 0.5,
  });

  /** What the ingest handler leaves behind for a parked delivery: a queued ledger record and a message. */
  async function park(
    referenceId: string,
    extra: { vendorId?: string; webhookId?: string; attempts?: number; state?: DeliveryState } = {},
  ): Promise<LedgerKey> {
    const key = { vendorId: extra.vendorId ?? "acme", webhookId: extra.webhookId ?? `msg_${referenceId}` };
    const attempts = extra.attempts ?? 1;
    await ledger.claim({
      ...key,
      referenceId,
      bodyHash: "hash",
      claimId: "claim-1",
      now: clock.now(),
      leaseMs: 60_000,
      expiresAt: 0,
    });
    await ledger.transition(
      key,
      { from: ["in_progress"] },
      { state: extra.state ?? "queued", now: clock.now(), attempts },
    );
    await queue.enqueue(
      { ...key, referenceId, attempt: attempts, firstSeenAt: new Date(clock.now()).toISOString() },
      0,
    );
    return key;
  }

  /** One Lambda invocation over what is visible now; successes are deleted as the event source does. */
  async function drain() {
    const records = queue.receive();
    const response = await handler({ Records: records });
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    for (const record of records) if (!failed.has(record.messageId)) queue.delete(record.receiptHandle);
    return { records, failed, response };
  }

  const state = async (key: LedgerKey) => ledger.get(key);
  const visibleInSeconds = () => ((queue.nextVisibleAt() ?? Number.NaN) - clock.now()) / 1000;

  return {
    clock,
    config,
    ledger,
    queue,
    secrets,
    telemetry,
    opscom,
    handler,
    park,
    drain,
    state,
    visibleInSeconds,
  };
}

function rawRecord(body: string, receiveCount = 1): SQSRecord {
  return {
    messageId: `m-${receiveCount}-${body.length}`,
    receiptHandle: "rh-unknown",
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: "0",
      SenderId: "test",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:local:000000000000:retry",
    awsRegion: "local",
  };
}

describe("retry worker: settled deliveries", () => {
  it.each<DeliveryState>(["deleted", "not_found", "rejected"])(
    "acknowledges a message whose ledger record is already %s without calling OPS-COM",
    async (settled) => {
      const w = world();
      const key = await w.park("ref-1", { state: settled, attempts: 2 });
      const { failed } = await w.drain();
      expect(failed.size).toBe(0);
      expect(w.opscom.calls).toHaveLength(0);
      expect(await w.state(key)).toMatchObject({ state: settled, attempts: 2 });
      expect(w.queue.messages).toHaveLength(0);
      expect(w.telemetry.lines).toContainEqual(
        expect.objectContaining({ message: "retry skipped: already settled" }),
      );
    },
  );
});

describe("retry worker: OPS-COM's answer", () => {
  it.each<[string, OpscomOutcome, Record<string, unknown>, string]>([
    ["deleted", outcomes.deleted(), { state: "deleted" }, "PermitDeleted"],
    ["not_found", outcomes.notFound(), { state: "not_found", opscomErrorCode: 9009 }, "PermitNotFound"],
    [
      "rejected",
      outcomes.rejected(9033),
      { state: "rejected", opscomErrorCode: 9033, lastError: "A field's value is invalid." },
      "DeliveryFailed",
    ],
  ])(
    "records %s in the ledger, counts it and acknowledges the message",
    async (_kind, outcome, record, metric) => {
      const w = world();
      w.opscom.answer("ref-1", outcome);
      const key = await w.park("ref-1", { attempts: 1 });
      const { failed } = await w.drain();
      expect(failed.size).toBe(0);
      expect(await w.state(key)).toMatchObject({ ...record, attempts: 2 });
      expect(w.telemetry.metrics[metric]).toBe(1);
      expect(w.queue.messages).toHaveLength(0);
    },
  );

  it("records a rejection without a code with no opscomErrorCode", async () => {
    const w = world();
    w.opscom.answer("ref-1", {
      kind: "rejected",
      message: "HTTP 404 without an OPS-COM error code",
      httpStatus: 404,
    });
    const key = await w.park("ref-1");
    await w.drain();
    const record = await w.state(key);
    expect(record).toMatchObject({ state: "rejected", lastError: "HTTP 404 without an OPS-COM error code" });
    expect(record).not.toHaveProperty("opscomErrorCode");
  });

  it("sends the token from the secret and the vendor's client code", async () => {
    const w = world();
    w.opscom.answer("ref-1", outcomes.deleted()).answer("ref-2", outcomes.deleted());
    await w.park("ref-1");
    await w.park("ref-2", { vendorId: "routed" });
    await w.drain();
    expect(w.opscom.calls).toEqual([
      { clientCode: "OC-TOMA", token: "token-1", referenceId: "ref-1" },
      { clientCode: "OC-OTHER", token: "token-1", referenceId: "ref-2" },
    ]);
  });
});

describe("retry worker: transient failures", () => {
  it("reports the message as a batch item failure and hides it for the schedule's delay", async () => {
    const w = world();
    w.opscom.answer("ref-1", outcomes.transient("HTTP 503"));
    const key = await w.park("ref-1", { attempts: 1 });
    const { failed, records } = await w.drain();
    expect([...failed]).toEqual([records[0]?.messageId]);
    expect(w.visibleInSeconds()).toBe(nextRetryDelaySeconds(1, () => 0.5));
    expect(w.visibleInSeconds()).toBe(300);
    expect(await w.state(key)).toMatchObject({ state: "queued", attempts: 2, lastError: "HTTP 503" });
    expect(w.telemetry.metrics.DeliveryQueued).toBe(1);
  });

  it("backs off further on each receive and counts every attempt in the ledger", async () => {
    const w = world({ maxAttempts: 5 });
    w.opscom.answer("ref-1", outcomes.transient(), outcomes.transient(), outcomes.transient());
    const key = await w.park("ref-1", { attempts: 1 });
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      await w.drain();
      waits.push(w.visibleInSeconds());
      w.clock.advanceSeconds(w.visibleInSeconds());
    }
    expect(waits).toEqual([300, 1800, 7200]);
    expect(await w.state(key)).toMatchObject({ state: "queued", attempts: 4 });
  });

  it("is not received again before its delay is over", async () => {
    const w = world();
    w.opscom.answer("ref-1", outcomes.transient());
    await w.park("ref-1");
    await w.drain();
    w.clock.advanceSeconds(299);
    expect((await w.drain()).records).toHaveLength(0);
    expect(w.opscom.calls).toHaveLength(1);
  });

  it("parks a token rejection like a transient failure and counts TokenRejected", async () => {
    const w = world();
    w.opscom.answer("ref-1", outcomes.tokenRejected());
    const key = await w.park("ref-1");
    const { failed } = await w.drain();
    expect(failed.size).toBe(1);
    expect(w.telemetry.metrics.TokenRejected).toBe(1);
    expect(await w.state(key)).toMatchObject({
      state: "queued",
      lastError: "OPS-COM error 9002: token rejected",
    });
  });

  it("picks up a rotated token on a later attempt", async () => {
    const w = world();
    w.opscom.answer("ref-1", outcomes.tokenRejected(), outcomes.deleted());
    const key = await w.park("ref-1");
    await w.drain();
    w.secrets.values.set(TOKEN_SECRET, "token-2");
    w.clock.advanceSeconds(w.visibleInSeconds());
    await w.drain();
    expect(w.opscom.calls.map((c) => c.token)).toEqual(["token-1", "token-2"]);
    expect(await w.state(key)).toMatchObject({ state: "deleted" });
  });

  it("keeps the message when the token secret cannot be read, without calling OPS-COM", async () => {
    const w = world();
    w.secrets.values.delete(TOKEN_SECRET);
    const key = await w.park("ref-1", { attempts: 1 });
    const { failed } = await w.drain();
    expect(failed.size).toBe(1);
    expect(w.opscom.calls).toHaveLength(0);
    expect(await w.state(key)).toMatchObject({ state: "queued", attempts: 1 });
  });

  it("keeps the message when the OPS-COM client throws", async () => {
    const w = world();
    const key = await w.park("unscripted");
    const { failed } = await w.drain();
    expect(failed.size).toBe(1);
    expect(await w.state(key)).toMatchObject({ state: "queued" });
    expect(w.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "ERROR", message: "retry attempt failed" }),
    );
  });
});

describe("retry worker: the last attempt", () => {
  it("dead-letters on receive maxAttempts: ledger, metric, and the queue moves it to the DLQ", async () => {
    const w = world({ maxAttempts: 2 });
    w.opscom.answer("ref-1", outcomes.transient("HTTP 502"), outcomes.transient("HTTP 504"));
    const key = await w.park("ref-1", { attempts: 1 });
    await w.drain();
    expect(w.telemetry.metrics.DeadLettered).toBeUndefined();
    w.clock.advanceSeconds(w.visibleInSeconds());
    const last = await w.drain();
    expect(last.failed.size).toBe(1);
    expect(await w.state(key)).toMatchObject({ state: "dead_lettered", attempts: 3, lastError: "HTTP 504" });
    expect(w.telemetry.metrics.DeadLettered).toBe(1);
    expect(w.visibleInSeconds()).toBe(0);
    expect((await w.drain()).records).toHaveLength(0);
    expect(w.queue.deadLetters).toHaveLength(1);
  });

  it("delivers a redriven dead-lettered message and settles the ledger", async () => {
    const w = world({ maxAttempts: 1 });
    w.opscom.answer("ref-1", outcomes.transient(), outcomes.deleted());
    const key = await w.park("ref-1", { attempts: 1 });
    await w.drain();
    await w.drain();
    expect(w.queue.deadLetters).toHaveLength(1);
    expect(await w.state(key)).toMatchObject({ state: "dead_lettered" });
    w.queue.redrive();
    const { failed } = await w.drain();
    expect(failed.size).toBe(0);
    expect(await w.state(key)).toMatchObject({ state: "deleted", attempts: 3 });
    expect(w.queue.messages).toHaveLength(0);
  });
});

describe("retry worker: messages it cannot act on", () => {
  it.each([
    ["not JSON", "{oops"],
    ["JSON null", "null"],
    ["an empty object", "{}"],
    [
      "a message without attempt",
      JSON.stringify({ vendorId: "acme", webhookId: "w", referenceId: "r", firstSeenAt: "t" }),
    ],
    [
      "a numeric reference",
      JSON.stringify({ vendorId: "acme", webhookId: "w", referenceId: 7, attempt: 1, firstSeenAt: "t" }),
    ],
  ])("keeps a malformed message (%s) for the dead-letter queue", async (_what, body) => {
    const w = world();
    const record = rawRecord(body);
    const response = await w.handler({ Records: [record] });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(w.opscom.calls).toHaveLength(0);
    expect(w.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "ERROR", message: "unreadable retry message" }),
    );
  });

  it("keeps a message for a vendor no longer configured, without calling OPS-COM", async () => {
    const w = world();
    const key = await w.park("ref-1", { vendorId: "gone", attempts: 1 });
    const { failed } = await w.drain();
    expect(failed.size).toBe(1);
    expect(w.opscom.calls).toHaveLength(0);
    expect(await w.state(key)).toMatchObject({ state: "queued", lastError: "vendor no longer configured" });
    expect(w.telemetry.lines).toContainEqual(
      expect.objectContaining({ level: "ERROR", message: "retry for a vendor no longer configured" }),
    );
  });

  it("dead-letters a message for an unknown vendor on the last attempt", async () => {
    const w = world({ maxAttempts: 1 });
    const key = await w.park("ref-1", { vendorId: "gone", attempts: 1 });
    await w.drain();
    expect(await w.state(key)).toMatchObject({ state: "dead_lettered", attempts: 1 });
    expect(w.telemetry.metrics.DeadLettered).toBe(1);
  });
});

describe("retry worker: a batch", () => {
  it("fails only the delivery that failed and settles the rest", async () => {
    const w = world();
    w.opscom
      .answer("ref-ok", outcomes.deleted())
      .answer("ref-later", outcomes.transient())
      .answer("ref-gone", outcomes.notFound());
    const ok = await w.park("ref-ok");
    const later = await w.park("ref-later");
    const gone = await w.park("ref-gone");
    const { records, response } = await w.drain();
    const laterRecord = records.find((r) => JSON.parse(r.body).referenceId === "ref-later");
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: laterRecord?.messageId }]);
    expect((await w.state(ok))?.state).toBe("deleted");
    expect((await w.state(later))?.state).toBe("queued");
    expect((await w.state(gone))?.state).toBe("not_found");
    expect(w.queue.messages.map((m) => JSON.parse(m.body).referenceId)).toEqual(["ref-later"]);
  });

  it("a malformed record does not stop the others", async () => {
    const w = world();
    w.opscom.answer("ref-ok", outcomes.deleted());
    const ok = await w.park("ref-ok");
    const [good] = w.queue.receive();
    const bad = rawRecord("garbage");
    const response = await w.handler({ Records: [bad, good as SQSRecord] });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: bad.messageId }]);
    expect((await w.state(ok))?.state).toBe("deleted");
  });
});

describe("retry worker: OPS-COM is never stampeded", () => {
  it(`delivers a batch's records at most ${RECORD_CONCURRENCY} at a time, and every one of them`, async () => {
    const w = world();
    let inFlight = 0;
    let peak = 0;
    const real = w.opscom.deletePermit.bind(w.opscom);
    w.opscom.deletePermit = async (request) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return real(request);
    };
    for (let i = 0; i < 10; i++) {
      w.opscom.answer(`ref-${i}`, outcomes.deleted());
      await w.park(`ref-${i}`);
    }
    const { records, failed } = await w.drain();
    expect(records).toHaveLength(10);
    expect(failed.size).toBe(0);
    expect(peak).toBe(RECORD_CONCURRENCY);
  });
});

describe("retry worker: what on-call is told", () => {
  it("reports each parked delivery's age since it was first seen, in seconds", async () => {
    const w = world();
    await w.park("ref-age");
    w.clock.advanceSeconds(1800);
    w.opscom.answer("ref-age", outcomes.transient());
    await w.drain();
    expect(w.telemetry.gauges.ParkedDeliveryAge).toEqual([1800]);
  });

  it("measures the age only of a delivery still parked, so a recovered backlog does not alarm again", async () => {
    const w = world();
    await w.park("ref-late");
    w.clock.advanceSeconds(7200);
    w.opscom.answer("ref-late", outcomes.deleted());
    await w.drain();
    expect(w.telemetry.metrics.PermitDeleted).toBe(1);
    expect(w.telemetry.gauges.ParkedDeliveryAge).toBeUndefined();
  });

  it("counts an answer OPS-COM did not write, and parks the delivery", async () => {
    const w = world();
    const key = await w.park("ref-page");
    w.opscom.answer("ref-page", {
      kind: "transient",
      reason: "unrecognised HTTP 403 answer",
      httpStatus: 403,
      unrecognised: true,
    });
    const { failed } = await w.drain();
    expect(failed.size).toBe(1);
    expect(w.telemetry.metrics.OpscomUnrecognised).toBe(1);
    expect(await w.state(key)).toMatchObject({ state: "queued", lastError: "unrecognised HTTP 403 answer" });
  });

  it("counts an unreadable token secret as SecretUnavailable", async () => {
    const w = world();
    await w.park("ref-nosecret");
    w.secrets.values.delete(TOKEN_SECRET);
    await w.drain();
    expect(w.telemetry.metrics.SecretUnavailable).toBe(1);
    expect(w.opscom.calls).toHaveLength(0);
  });

  it("finishes with a delete whose ledger write fails: the message is done, the failure counted", async () => {
    const w = world();
    const key = await w.park("ref-write");
    w.opscom.answer("ref-write", outcomes.deleted());
    w.ledger.transition = async () => {
      throw Object.assign(new Error("throttled"), { name: "ProvisionedThroughputExceededException" });
    };
    const { failed } = await w.drain();
    // Another attempt would call OPS-COM a second time: the delete happened, so the message goes.
    expect(failed.size).toBe(0);
    expect(w.opscom.calls).toHaveLength(1);
    expect(w.telemetry.metrics.LedgerWriteFailed).toBe(1);
    expect(await w.state(key)).toMatchObject({ state: "queued" });
    // The answer went back to the queue; once the ledger recovers it is recorded, with no call.
    w.ledger.transition = MemoryLedger.prototype.transition.bind(w.ledger);
    w.clock.advanceSeconds(400);
    expect((await w.drain()).failed.size).toBe(0);
    expect(w.opscom.calls).toHaveLength(1);
    expect(await w.state(key)).toMatchObject({ state: "deleted", attempts: 2 });
  });
});
