// The in-memory retry queue the local harness and unit tests stand in for SQS with: visibility,
// receive counts, dead-lettering after maxReceiveCount, redrive and injected send failures.
import { describe, expect, it } from "vitest";
import { MemoryQueue } from "../../lambda/adapters/memory";
import type { RetryMessage } from "../../lambda/ports";
import { FakeClock } from "./support/fakes";

const VISIBILITY_S = 30;

function message(overrides: Partial<RetryMessage> = {}): RetryMessage {
  return {
    vendorId: "acme",
    webhookId: "msg_1",
    referenceId: "ref-1",
    attempt: 1,
    firstSeenAt: "2025-01-01T00:00:00.000Z",
    ...overrides,
  };
}

function queueWith(maxReceiveCount = 3) {
  const clock = new FakeClock();
  return { clock, queue: new MemoryQueue(clock, maxReceiveCount, VISIBILITY_S) };
}

describe("MemoryQueue: visibility", () => {
  it("carries the message as JSON in an SQS-shaped record", async () => {
    const { queue } = queueWith();
    await queue.enqueue(message(), 0);
    const [record] = queue.receive();
    expect(JSON.parse(record?.body ?? "")).toEqual(message());
    expect(record).toMatchObject({ eventSource: "aws:sqs", attributes: { ApproximateReceiveCount: "1" } });
    expect(record?.receiptHandle).toBeTruthy();
  });

  it("holds a delayed message back until its delay has passed", async () => {
    const { clock, queue } = queueWith();
    await queue.enqueue(message(), 5);
    clock.advanceMs(4999);
    expect(queue.receive()).toHaveLength(0);
    clock.advanceMs(1);
    expect(queue.receive()).toHaveLength(1);
  });

  it("hides a received message for the visibility timeout", async () => {
    const { clock, queue } = queueWith();
    await queue.enqueue(message(), 0);
    queue.receive();
    clock.advanceSeconds(VISIBILITY_S - 1);
    expect(queue.receive()).toHaveLength(0);
    clock.advanceSeconds(1);
    expect(queue.receive()).toHaveLength(1);
  });

  it("retryLater moves the next receive to the given delay", async () => {
    const { clock, queue } = queueWith();
    await queue.enqueue(message(), 0);
    const [record] = queue.receive();
    await queue.retryLater(record?.receiptHandle ?? "", 300);
    clock.advanceSeconds(299);
    expect(queue.receive()).toHaveLength(0);
    clock.advanceSeconds(1);
    expect(queue.receive()).toHaveLength(1);
  });

  it("retryLater with 0 makes the message visible at once", async () => {
    const { queue } = queueWith();
    await queue.enqueue(message(), 0);
    const [record] = queue.receive();
    await queue.retryLater(record?.receiptHandle ?? "", 0);
    expect(queue.receive()).toHaveLength(1);
  });

  it("retryLater with a stale receipt handle changes nothing", async () => {
    const { clock, queue } = queueWith();
    await queue.enqueue(message(), 0);
    const [first] = queue.receive();
    clock.advanceSeconds(VISIBILITY_S);
    queue.receive();
    await queue.retryLater(first?.receiptHandle ?? "", 0);
    expect(queue.receive()).toHaveLength(0);
  });

  it("delete removes the message for good", async () => {
    const { clock, queue } = queueWith();
    await queue.enqueue(message(), 0);
    const [record] = queue.receive();
    queue.delete(record?.receiptHandle ?? "");
    clock.advanceSeconds(VISIBILITY_S);
    expect(queue.receive()).toHaveLength(0);
    expect(queue.messages).toHaveLength(0);
  });

  it("receives at most max messages, oldest first", async () => {
    const { queue } = queueWith();
    for (const id of ["a", "b", "c"]) await queue.enqueue(message({ webhookId: id }), 0);
    const batch = queue.receive(2).map((r) => JSON.parse(r.body).webhookId);
    expect(batch).toEqual(["a", "b"]);
    expect(queue.receive(2).map((r) => JSON.parse(r.body).webhookId)).toEqual(["c"]);
  });

  it("nextVisibleAt reports the earliest waiting message, or undefined when empty", async () => {
    const { clock, queue } = queueWith();
    expect(queue.nextVisibleAt()).toBeUndefined();
    await queue.enqueue(message({ webhookId: "late" }), 60);
    await queue.enqueue(message({ webhookId: "soon" }), 10);
    expect(queue.nextVisibleAt()).toBe(clock.now() + 10_000);
  });
});

describe("MemoryQueue: receive counts and dead-lettering", () => {
  async function receiveEachTime(queue: MemoryQueue, clock: FakeClock, times: number): Promise<string[]> {
    const counts: string[] = [];
    for (let i = 0; i < times; i++) {
      const [record] = queue.receive();
      if (record) counts.push(record.attributes.ApproximateReceiveCount);
      clock.advanceSeconds(VISIBILITY_S);
    }
    return counts;
  }

  it("counts every receive", async () => {
    const { clock, queue } = queueWith(5);
    await queue.enqueue(message(), 0);
    expect(await receiveEachTime(queue, clock, 3)).toEqual(["1", "2", "3"]);
  });

  it("delivers maxReceiveCount times, then moves the message to the dead letters", async () => {
    const { clock, queue } = queueWith(3);
    await queue.enqueue(message(), 0);
    expect(await receiveEachTime(queue, clock, 4)).toEqual(["1", "2", "3"]);
    expect(queue.messages).toHaveLength(0);
    expect(queue.deadLetters).toHaveLength(1);
    expect(JSON.parse(queue.deadLetters[0]?.body ?? "")).toEqual(message());
  });

  it("does not let a dead letter take a batch slot from a live message", async () => {
    const { clock, queue } = queueWith(1);
    await queue.enqueue(message({ webhookId: "old" }), 0);
    queue.receive();
    clock.advanceSeconds(VISIBILITY_S);
    await queue.enqueue(message({ webhookId: "new" }), 0);
    expect(queue.receive(1).map((r) => JSON.parse(r.body).webhookId)).toEqual(["new"]);
    expect(queue.deadLetters).toHaveLength(1);
  });

  it("redrive moves every dead letter back, visible at once with its count reset", async () => {
    const { clock, queue } = queueWith(1);
    await queue.enqueue(message({ webhookId: "a" }), 0);
    await queue.enqueue(message({ webhookId: "b" }), 0);
    queue.receive();
    clock.advanceSeconds(VISIBILITY_S);
    queue.receive();
    expect(queue.deadLetters).toHaveLength(2);
    expect(queue.redrive()).toBe(2);
    expect(queue.deadLetters).toHaveLength(0);
    const records = queue.receive();
    expect(records.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(["1", "1"]);
  });

  it("redrive with nothing dead-lettered moves nothing", () => {
    expect(queueWith().queue.redrive()).toBe(0);
  });
});

describe("MemoryQueue: failSends", () => {
  it("fails that many sends with QueueUnavailable, then accepts again", async () => {
    const { queue } = queueWith();
    queue.failSends = 2;
    await expect(queue.enqueue(message(), 0)).rejects.toMatchObject({ name: "QueueUnavailable" });
    await expect(queue.enqueue(message(), 0)).rejects.toMatchObject({ name: "QueueUnavailable" });
    await expect(queue.enqueue(message(), 0)).resolves.toBeUndefined();
    expect(queue.messages).toHaveLength(1);
    expect(queue.failSends).toBe(0);
  });
});
