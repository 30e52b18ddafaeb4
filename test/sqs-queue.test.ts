// The SQS retry queue through the real SDK client against the local endpoint (SQS JSON
// protocol, virtual clock), configured only by AWS_ENDPOINT_URL_SQS.
import { type Message, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSqsQueue } from "../lambda/adapters/sqs-queue";
import type { RetryMessage, RetryQueue } from "../lambda/ports";
import { type AwsEndpoint, startAwsEndpoint } from "../local/aws/server";
import { useLocalAws } from "../testkit/dynalite";

let endpoint: AwsEndpoint;
let client: SQSClient;
let queueUrl: string;
let queue: RetryQueue;
let queues = 0;

beforeAll(async () => {
  endpoint = await startAwsEndpoint();
  useLocalAws({ sqs: endpoint.url });
  client = new SQSClient({});
});

afterAll(async () => {
  client?.destroy();
  await endpoint?.close();
});

beforeEach(() => {
  queueUrl = endpoint.createQueue(`retry-${++queues}`, { VisibilityTimeout: "30" });
  // The adapter's own default client: nothing but the environment points it here.
  queue = createSqsQueue(queueUrl);
});

function messageOf(overrides: Partial<RetryMessage> = {}): RetryMessage {
  return {
    vendorId: "acme",
    webhookId: "msg_1",
    referenceId: "1a9b5375-cb75-4c71-9939-eeae550b09ac",
    attempt: 1,
    firstSeenAt: "2025-01-15T09:30:00.000Z",
    ...overrides,
  };
}

async function receive(): Promise<Message[]> {
  const { Messages } = await client.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  return Messages ?? [];
}

const SECOND = 1000;

describe("enqueue", () => {
  it("sends the message as JSON, hidden until its delay has passed", async () => {
    await queue.enqueue(messageOf(), 30);
    expect(endpoint.queueStats(queueUrl)).toMatchObject({ delayed: 1, visible: 0 });
    expect(await receive()).toEqual([]);

    endpoint.advanceClock(29 * SECOND);
    expect(await receive()).toEqual([]);
    endpoint.advanceClock(1 * SECOND);
    const [received, ...more] = await receive();
    expect(more).toEqual([]);
    expect(JSON.parse(received?.Body ?? "null")).toEqual(messageOf());
  });

  it("carries only the retry message's fields, so nothing else a caller holds reaches the queue", async () => {
    const withExtras = {
      ...messageOf(),
      token: "opscom-api-token",
      headers: { "webhook-signature": "v1,abc" },
    };
    await queue.enqueue(withExtras, 0);
    const [stored] = endpoint.peekMessages(queueUrl);
    expect(Object.keys(JSON.parse(stored?.body ?? "{}")).sort()).toEqual([
      "attempt",
      "firstSeenAt",
      "referenceId",
      "vendorId",
      "webhookId",
    ]);
    expect(stored?.body).not.toContain("opscom-api-token");
  });

  it("clamps the delay to SQS's 0..900 seconds instead of failing the send", async () => {
    await queue.enqueue(messageOf({ webhookId: "late" }), 5_000);
    await queue.enqueue(messageOf({ webhookId: "now" }), -10);
    const webhookIds = async () => (await receive()).map((m) => JSON.parse(m.Body ?? "{}").webhookId);
    expect(await webhookIds()).toEqual(["now"]);

    endpoint.advanceClock(899 * SECOND);
    expect(await webhookIds()).not.toContain("late");
    endpoint.advanceClock(1 * SECOND);
    expect(await webhookIds()).toContain("late");
  });

  it("throws when SQS keeps failing, and leaves nothing half-sent", async () => {
    // The SDK makes 3 attempts at a 5xx; each uses one injected failure.
    endpoint.failNext("SendMessage", 3);
    await expect(queue.enqueue(messageOf(), 0)).rejects.toMatchObject({ name: "InternalError" });
    expect(endpoint.queueStats(queueUrl).total).toBe(0);
  });

  it("throws for a queue that does not exist", async () => {
    const missing = createSqsQueue(`${endpoint.url}/000000000000/no-such-queue`);
    await expect(missing.enqueue(messageOf(), 0)).rejects.toMatchObject({
      name: expect.stringMatching(/QueueDoesNotExist|NonExistentQueue/),
    });
  });
});

describe("retryLater", () => {
  async function receiveOne(): Promise<Message> {
    await queue.enqueue(messageOf(), 0);
    const [message] = await receive();
    if (!message?.ReceiptHandle) throw new Error("expected a message");
    return message;
  }

  it("hides a received message for the given delay instead of the queue's visibility timeout", async () => {
    const message = await receiveOne();
    await queue.retryLater(message.ReceiptHandle as string, 120);

    endpoint.advanceClock(60 * SECOND); // past the queue's 30 s default
    expect(await receive()).toEqual([]);
    endpoint.advanceClock(60 * SECOND);
    const [again] = await receive();
    expect(again?.MessageId).toBe(message.MessageId);
    expect(endpoint.peekMessages(queueUrl)[0]?.receiveCount).toBe(2);
  });

  it("makes a message visible at once with a zero delay", async () => {
    const message = await receiveOne();
    await queue.retryLater(message.ReceiptHandle as string, 0);
    expect((await receive()).map((m) => m.MessageId)).toEqual([message.MessageId]);
  });

  it("clamps the delay to SQS's 12-hour maximum", async () => {
    const message = await receiveOne();
    await queue.retryLater(message.ReceiptHandle as string, 86_400);
    endpoint.advanceClock(43_199 * SECOND);
    expect(await receive()).toEqual([]);
    endpoint.advanceClock(1 * SECOND);
    expect((await receive()).map((m) => m.MessageId)).toEqual([message.MessageId]);
  });

  it("throws for a receipt handle SQS does not accept", async () => {
    await expect(queue.retryLater("not-a-receipt-handle", 10)).rejects.toMatchObject({
      name: "ReceiptHandleIsInvalid",
    });
  });

  it("throws when SQS keeps failing", async () => {
    const message = await receiveOne();
    endpoint.failNext("ChangeMessageVisibility", 3);
    await expect(queue.retryLater(message.ReceiptHandle as string, 10)).rejects.toMatchObject({
      name: "InternalError",
    });
  });
});
