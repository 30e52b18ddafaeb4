import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  QueueDoesNotExist,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AwsEndpoint, startAwsEndpoint } from "../local/aws/server";

// The clients get their endpoint only from the standard variables, as the Lambda code will.
const ENV_KEYS = [
  "AWS_ENDPOINT_URL_SECRETS_MANAGER",
  "AWS_ENDPOINT_URL_SQS",
  "AWS_REGION",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
] as const;
const savedEnv = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));

let endpoint: AwsEndpoint;
let secrets: SecretsManagerClient;
let sqs: SQSClient;

beforeAll(async () => {
  endpoint = await startAwsEndpoint();
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = endpoint.url;
  process.env.AWS_ENDPOINT_URL_SQS = endpoint.url;
  process.env.AWS_REGION = "us-east-1";
  process.env.AWS_ACCESS_KEY_ID = "test";
  process.env.AWS_SECRET_ACCESS_KEY = "test";
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  secrets = new SecretsManagerClient({});
  sqs = new SQSClient({});
});

afterAll(async () => {
  secrets?.destroy();
  sqs?.destroy();
  await endpoint?.close();
  for (const key of ENV_KEYS) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
});

let counter = 0;
/** Tests share one endpoint (and one virtual clock), so each works on its own secrets and queues. */
function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

async function receive(
  queueUrl: string,
  input: Partial<ReceiveMessageCommandInput> = {},
): Promise<Message[]> {
  const output = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, ...input }));
  return output.Messages ?? [];
}

describe("Secrets Manager", () => {
  it("answers GetSecretValue by name with the current version and its metadata", async () => {
    const name = unique("relay/token");
    const arn = endpoint.putSecret(name, "tok-123");

    const output = await secrets.send(new GetSecretValueCommand({ SecretId: name }));

    expect(output.SecretString).toBe("tok-123");
    expect(output.Name).toBe(name);
    expect(output.ARN).toBe(arn);
    expect(arn).toMatch(
      new RegExp(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-[A-Za-z0-9]{6}$`),
    );
    expect(output.VersionStages).toEqual(["AWSCURRENT"]);
    expect(output.VersionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(output.CreatedDate).toBeInstanceOf(Date);
    expect(Math.abs((output.CreatedDate?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
  });

  it("finds a secret by full ARN and by partial ARN", async () => {
    const name = unique("relay/vendors/acme");
    const arn = endpoint.putSecret(name, "by-arn");

    const full = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    const partial = await secrets.send(new GetSecretValueCommand({ SecretId: arn.slice(0, -7) }));

    expect(full.SecretString).toBe("by-arn");
    expect(partial.SecretString).toBe("by-arn");
    expect(partial.ARN).toBe(arn);
  });

  it("returns a JSON secret string byte for byte", async () => {
    const name = unique("relay/vendors/json");
    const value = JSON.stringify({ signingSecrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_b"] });
    endpoint.putSecret(name, value);

    const output = await secrets.send(new GetSecretValueCommand({ SecretId: name }));

    expect(output.SecretString).toBe(value);
    expect(JSON.parse(output.SecretString ?? "{}").signingSecrets).toHaveLength(2);
  });

  it("throws the SDK's typed ResourceNotFoundException for an unknown secret", async () => {
    const error = await caught(secrets.send(new GetSecretValueCommand({ SecretId: unique("missing") })));

    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error.name).toBe("ResourceNotFoundException");
    expect(error.message).toMatch(/can't find the specified secret/);
  });

  it("serves the new value after putSecret, under a new version id", async () => {
    const name = unique("relay/rotating");
    endpoint.putSecret(name, "v1");
    const first = await secrets.send(new GetSecretValueCommand({ SecretId: name }));
    endpoint.putSecret(name, "v2");

    const current = await secrets.send(new GetSecretValueCommand({ SecretId: name }));

    expect(current.SecretString).toBe("v2");
    expect(current.VersionId).not.toBe(first.VersionId);
  });

  it("deleteSecret removes a secret at once", async () => {
    const name = unique("relay/deleted");
    endpoint.putSecret(name, "gone soon");
    endpoint.deleteSecret(name);

    const error = await caught(secrets.send(new GetSecretValueCommand({ SecretId: name })));

    expect(error).toBeInstanceOf(ResourceNotFoundException);
  });

  it("counts GetSecretValue calls per secret, whether asked by name or ARN, and in total", async () => {
    const name = unique("relay/counted");
    const other = unique("relay/other");
    const arn = endpoint.putSecret(name, "x");
    endpoint.putSecret(other, "y");
    const totalBefore = endpoint.getSecretValueCalls();

    await secrets.send(new GetSecretValueCommand({ SecretId: name }));
    await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    await secrets.send(new GetSecretValueCommand({ SecretId: other }));

    expect(endpoint.getSecretValueCalls(name)).toBe(2);
    expect(endpoint.getSecretValueCalls(arn)).toBe(2);
    expect(endpoint.getSecretValueCalls(other)).toBe(1);
    expect(endpoint.getSecretValueCalls() - totalBefore).toBe(3);
  });

  it("fails the next GetSecretValue calls on request, counting them", async () => {
    const name = unique("relay/flaky");
    endpoint.putSecret(name, "eventually");
    const noRetry = new SecretsManagerClient({ maxAttempts: 1 });
    endpoint.failNext("GetSecretValue", 1, "ThrottlingException");

    const error = await caught(noRetry.send(new GetSecretValueCommand({ SecretId: name })));
    const after = await noRetry.send(new GetSecretValueCommand({ SecretId: name }));
    noRetry.destroy();

    expect(error.name).toBe("ThrottlingException");
    expect(after.SecretString).toBe("eventually");
    expect(endpoint.getSecretValueCalls(name)).toBe(2);
  });
  it("stalls the next GetSecretValue call: read, never answered, reset after the hold", async () => {
    const name = unique("relay/stalled");
    endpoint.putSecret(name, "late");
    const noRetry = new SecretsManagerClient({ maxAttempts: 1 });
    const retrying = new SecretsManagerClient({});
    endpoint.stallNext("GetSecretValue", 60_000);
    endpoint.stallNext("GetSecretValue", 200);

    const started = Date.now();
    const error = await caught(
      noRetry.send(new GetSecretValueCommand({ SecretId: name }), { abortSignal: AbortSignal.timeout(300) }),
    );
    const waited = Date.now() - started;
    // The second stall ends in a reset after 200 ms, which the SDK retries on a new connection.
    const after = await retrying.send(new GetSecretValueCommand({ SecretId: name }));
    const total = Date.now() - started;
    noRetry.destroy();
    retrying.destroy();

    expect(error.name).toBe("AbortError");
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(after.SecretString).toBe("late");
    expect(total - waited).toBeGreaterThanOrEqual(190);
    expect(endpoint.getSecretValueCalls(name)).toBe(3);
    expect(() => endpoint.stallNext("GetSecretValu", 1)).toThrow(/unknown operation/);
  });
});

describe("SQS", () => {
  async function queueArn(queueUrl: string): Promise<string> {
    const output = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
    return output.Attributes?.QueueArn ?? "";
  }

  it("creates queues and reports their attributes", async () => {
    const name = unique("retry");
    const queueUrl = endpoint.createQueue(name, { VisibilityTimeout: "45", DelaySeconds: "0" });
    const again = endpoint.createQueue(name, { VisibilityTimeout: "45" });
    const attributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["All"] }),
    );

    expect(queueUrl).toBe(`${endpoint.url}/000000000000/${name}`);
    expect(again).toBe(queueUrl);
    expect(() => endpoint.createQueue(name, { VisibilityTimeout: "10" })).toThrow(/already exists/);
    expect(attributes.Attributes).toMatchObject({
      QueueArn: `arn:aws:sqs:us-east-1:000000000000:${name}`,
      VisibilityTimeout: "45",
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
      ApproximateNumberOfMessagesDelayed: "0",
    });
  });

  it("throws the SDK's typed QueueDoesNotExist for an unknown queue", async () => {
    const byUrl = await caught(
      sqs.send(
        new SendMessageCommand({
          QueueUrl: `${endpoint.url}/000000000000/${unique("nope")}`,
          MessageBody: "x",
        }),
      ),
    );

    expect(byUrl).toBeInstanceOf(QueueDoesNotExist);
    expect(byUrl.name).toBe("QueueDoesNotExist");
    // The legacy query error code SQS sends in x-amzn-query-error, which the SDK exposes as Code.
    expect((byUrl as Error & { Code?: string }).Code).toBe("AWS.SimpleQueueService.NonExistentQueue");
  });

  it("sends, receives and deletes a message with its system attributes", async () => {
    const queueUrl = endpoint.createQueue(unique("basic"));
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"referenceID":"r-1"}' }),
    );

    const [message] = await receive(queueUrl, {
      MessageSystemAttributeNames: [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "ApproximateFirstReceiveTimestamp",
      ],
    });
    const statsWhileInFlight = endpoint.queueStats(queueUrl);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message?.ReceiptHandle }));

    expect(message?.MessageId).toBe(sent.MessageId);
    expect(message?.Body).toBe('{"referenceID":"r-1"}');
    expect(message?.Attributes?.ApproximateReceiveCount).toBe("1");
    expect(Number(message?.Attributes?.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(message?.Attributes?.ApproximateFirstReceiveTimestamp).toBeDefined();
    expect(statsWhileInFlight).toEqual({ visible: 0, inFlight: 1, delayed: 0, total: 1 });
    expect(endpoint.queueStats(queueUrl).total).toBe(0);
  });

  it("returns the system attributes asked for via the older AttributeNames too", async () => {
    const queueUrl = endpoint.createQueue(unique("legacy-attrs"));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x" }));

    const [message] = await receive(queueUrl, { AttributeNames: ["All"] });

    expect(message?.Attributes).toMatchObject({ ApproximateReceiveCount: "1", SenderId: "000000000000" });
    expect(message?.Attributes?.SentTimestamp).toMatch(/^\d{13}$/);
  });

  it("holds a delayed message back until the virtual clock passes its delay", async () => {
    const queueUrl = endpoint.createQueue(unique("delayed"));
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "later", DelaySeconds: 60 }));

    const early = await receive(queueUrl);
    const statsEarly = endpoint.queueStats(queueUrl);
    endpoint.advanceClock(60_000);
    const late = await receive(queueUrl);

    expect(early).toEqual([]);
    expect(statsEarly).toEqual({ visible: 0, inFlight: 0, delayed: 1, total: 1 });
    expect(late.map((message) => message.Body)).toEqual(["later"]);
  });

  it("applies the queue's DelaySeconds when the message names none", async () => {
    const queueUrl = endpoint.createQueue(unique("queue-delay"), { DelaySeconds: "30" });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x" }));

    const attributes = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessagesDelayed"],
      }),
    );
    endpoint.advanceClock(30_000);

    expect(attributes.Attributes).toEqual({ ApproximateNumberOfMessagesDelayed: "1" });
    expect(endpoint.queueStats(queueUrl).visible).toBe(1);
  });

  it("redelivers a message after its visibility timeout, with a higher receive count and a new handle", async () => {
    const queueUrl = endpoint.createQueue(unique("visibility"), { VisibilityTimeout: "30" });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "retry me" }));
    const names: ReceiveMessageCommandInput["MessageSystemAttributeNames"] = ["All"];

    const [first] = await receive(queueUrl, { MessageSystemAttributeNames: names });
    const hidden = await receive(queueUrl);
    endpoint.advanceClock(29_000);
    const stillHidden = await receive(queueUrl);
    endpoint.advanceClock(1_000);
    const [second] = await receive(queueUrl, { MessageSystemAttributeNames: names });
    // The first handle is stale now: deleting with it leaves the message where it is, as SQS may.
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first?.ReceiptHandle }));

    expect(hidden).toEqual([]);
    expect(stillHidden).toEqual([]);
    expect(second?.MessageId).toBe(first?.MessageId);
    expect(second?.Attributes?.ApproximateReceiveCount).toBe("2");
    expect(second?.Attributes?.ApproximateFirstReceiveTimestamp).toBe(
      first?.Attributes?.ApproximateFirstReceiveTimestamp,
    );
    expect(second?.ReceiptHandle).not.toBe(first?.ReceiptHandle);
    expect(endpoint.peekMessages(queueUrl)).toEqual([
      { messageId: first?.MessageId, body: "retry me", receiveCount: 2 },
    ]);
  });

  it("lets a receive override the queue's visibility timeout", async () => {
    const queueUrl = endpoint.createQueue(unique("override"), { VisibilityTimeout: "300" });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x" }));

    await receive(queueUrl, { VisibilityTimeout: 5 });
    endpoint.advanceClock(5_000);

    expect(endpoint.queueStats(queueUrl)).toMatchObject({ visible: 1, inFlight: 0 });
  });

  it("changes a message's visibility, and rejects stale or made-up receipt handles", async () => {
    const queueUrl = endpoint.createQueue(unique("change-visibility"), { VisibilityTimeout: "10" });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x" }));
    const [message] = await receive(queueUrl);
    const handle = message?.ReceiptHandle;

    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: handle,
        VisibilityTimeout: 120,
      }),
    );
    endpoint.advanceClock(60_000);
    const afterExtension = endpoint.queueStats(queueUrl);
    await sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: handle, VisibilityTimeout: 0 }),
    );
    const released = endpoint.queueStats(queueUrl);
    const expired = await caught(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: handle,
          VisibilityTimeout: 30,
        }),
      ),
    );
    const madeUp = await caught(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: "bogus",
          VisibilityTimeout: 30,
        }),
      ),
    );
    const deleteMadeUp = await caught(
      sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: "bogus" })),
    );

    expect(afterExtension).toMatchObject({ visible: 0, inFlight: 1 });
    expect(released).toMatchObject({ visible: 1, inFlight: 0 });
    expect(expired).toBeInstanceOf(ReceiptHandleIsInvalid);
    expect(madeUp).toBeInstanceOf(ReceiptHandleIsInvalid);
    expect(deleteMadeUp).toBeInstanceOf(ReceiptHandleIsInvalid);
  });

  it("names when the next hidden message comes back: delayed, in flight or parked, the earliest", async () => {
    const queueUrl = endpoint.createQueue(unique("next-visible"), { VisibilityTimeout: "30" });
    const empty = endpoint.nextVisibleAt(queueUrl);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "now" }));
    const allVisible = endpoint.nextVisibleAt(queueUrl);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "later", DelaySeconds: 600 }));
    const beforeReceive = endpoint.now();
    const [message] = await receive(queueUrl);
    const received = endpoint.now();
    const inFlight = endpoint.nextVisibleAt(queueUrl);
    // Parked past the delayed one, as the retry worker parks a delivery.
    const beforePark = endpoint.now();
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: message?.ReceiptHandle,
        VisibilityTimeout: 3600,
      }),
    );
    const parked = endpoint.now();
    const delayedFirst = endpoint.nextVisibleAt(queueUrl) as number;
    endpoint.advanceClock(delayedFirst - endpoint.now());
    const delayedVisible = endpoint.queueStats(queueUrl);
    const parkedNext = endpoint.nextVisibleAt(queueUrl);

    expect(empty).toBeUndefined();
    expect(allVisible).toBeUndefined();
    expect(message?.Body).toBe("now");
    // The receive's own visibility timeout, 30 s after the receive.
    expect(inFlight).toBeGreaterThanOrEqual(beforeReceive + 30_000);
    expect(inFlight).toBeLessThanOrEqual(received + 30_000);
    expect(delayedVisible).toMatchObject({ visible: 1, inFlight: 1 });
    expect(parkedNext).toBeGreaterThanOrEqual(beforePark + 3_600_000);
    expect(parkedNext).toBeLessThanOrEqual(parked + 3_600_000);
    expect(delayedFirst).toBeLessThan(parkedNext as number);
  });

  it("deletes a batch with per-entry results", async () => {
    const queueUrl = endpoint.createQueue(unique("batch"));
    for (const body of ["first", "second"]) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    }
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "third", DelaySeconds: 120 }));
    const received = await receive(queueUrl, { MaxNumberOfMessages: 10 });
    const handles = received.map((message) => message.ReceiptHandle);

    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: "one", ReceiptHandle: handles[1] },
          { Id: "bad", ReceiptHandle: "bogus" },
        ],
      }),
    );

    expect(received.map((message) => message.Body)).toEqual(["first", "second"]);
    expect(deleted.Successful).toEqual([{ Id: "one" }]);
    expect(deleted.Failed).toEqual([
      expect.objectContaining({ Id: "bad", Code: "ReceiptHandleIsInvalid", SenderFault: true }),
    ]);
    expect(endpoint.peekMessages(queueUrl).map((message) => message.body)).toEqual(["first", "third"]);
    expect(endpoint.queueStats(queueUrl)).toEqual({ visible: 0, inFlight: 1, delayed: 1, total: 2 });
  });

  it("rejects malformed batches as SQS does", async () => {
    const queueUrl = endpoint.createQueue(unique("bad-batch"));

    const duplicateIds = await caught(
      sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "same", ReceiptHandle: "1" },
            { Id: "same", ReceiptHandle: "2" },
          ],
        }),
      ),
    );
    const tooMany = await caught(
      sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Array.from({ length: 11 }, (_, index) => ({ Id: `m${index}`, ReceiptHandle: "x" })),
        }),
      ),
    );

    expect(duplicateIds.name).toBe("BatchEntryIdsNotDistinct");
    expect(tooMany.name).toBe("TooManyEntriesInBatchRequest");
  });

  it("receives at most MaxNumberOfMessages, and never more than ten", async () => {
    const queueUrl = endpoint.createQueue(unique("max"));
    for (let index = 0; index < 12; index += 1) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: String(index) }));
    }

    const three = await receive(queueUrl, { MaxNumberOfMessages: 3 });
    const rest = await receive(queueUrl, { MaxNumberOfMessages: 10 });
    const tooMany = await caught(receive(queueUrl, { MaxNumberOfMessages: 11 }));

    expect(three).toHaveLength(3);
    expect(rest).toHaveLength(9);
    expect(tooMany.name).toBe("InvalidParameterValue");
  });

  it("moves a message to the dead-letter queue once it has been received maxReceiveCount times", async () => {
    const dlqUrl = endpoint.createQueue(unique("dlq"));
    const dlqArn = await queueArn(dlqUrl);
    const sourceUrl = endpoint.createQueue(unique("source"), {
      VisibilityTimeout: "10",
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
    });
    const sourceArn = await queueArn(sourceUrl);
    await sqs.send(new SendMessageCommand({ QueueUrl: sourceUrl, MessageBody: "poison" }));

    const first = await receive(sourceUrl);
    endpoint.advanceClock(10_000);
    const second = await receive(sourceUrl);
    endpoint.advanceClock(10_000);
    const third = await receive(sourceUrl);
    const [dead] = await receive(dlqUrl, { MessageSystemAttributeNames: ["All"] });
    const policy = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: sourceUrl, AttributeNames: ["RedrivePolicy"] }),
    );

    expect(first).toHaveLength(1);
    expect(second).toHaveLength(1);
    expect(third).toEqual([]);
    expect(endpoint.queueStats(sourceUrl).total).toBe(0);
    expect(dead?.Body).toBe("poison");
    expect(dead?.MessageId).toBe(first[0]?.MessageId);
    expect(dead?.Attributes?.DeadLetterQueueSourceArn).toBe(sourceArn);
    expect(dead?.Attributes?.ApproximateReceiveCount).toBe("3");
    expect(JSON.parse(policy.Attributes?.RedrivePolicy ?? "{}")).toEqual({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: 2,
    });
  });

  it("refuses a RedrivePolicy whose dead-letter queue does not exist", () => {
    const policy = JSON.stringify({
      deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:nowhere",
      maxReceiveCount: 3,
    });

    expect(() => endpoint.createQueue(unique("no-dlq"), { RedrivePolicy: policy })).toThrow(
      /Dead letter target does not exist/,
    );
  });

  it("redrives dead letters back with StartMessageMoveTask and lists the task", async () => {
    const dlqUrl = endpoint.createQueue(unique("redrive-dlq"));
    const dlqArn = await queueArn(dlqUrl);
    const sourceUrl = endpoint.createQueue(unique("redrive-source"), {
      VisibilityTimeout: "5",
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }),
    });
    const elsewhereUrl = endpoint.createQueue(unique("redrive-elsewhere"));
    await sqs.send(new SendMessageCommand({ QueueUrl: sourceUrl, MessageBody: "m1" }));
    await sqs.send(new SendMessageCommand({ QueueUrl: sourceUrl, MessageBody: "m2" }));
    await receive(sourceUrl, { MaxNumberOfMessages: 10 });
    endpoint.advanceClock(5_000);
    await receive(sourceUrl, { MaxNumberOfMessages: 10 }); // both move to the DLQ here
    const deadBefore = endpoint.queueStats(dlqUrl).total;

    const task = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    const back = await receive(sourceUrl, { MaxNumberOfMessages: 10, MessageSystemAttributeNames: ["All"] });
    const tasks = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }));
    await sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: "m3" }));
    await sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: await queueArn(elsewhereUrl) }),
    );
    const notADlq = await caught(
      sqs.send(new StartMessageMoveTaskCommand({ SourceArn: await queueArn(elsewhereUrl) })),
    );

    expect(deadBefore).toBe(2);
    expect(task.TaskHandle).toBeTruthy();
    expect(back.map((message) => message.Body).sort()).toEqual(["m1", "m2"]);
    expect(back.map((message) => message.Attributes?.ApproximateReceiveCount)).toEqual(["1", "1"]);
    expect(back.every((message) => message.Attributes?.DeadLetterQueueSourceArn === undefined)).toBe(true);
    expect(tasks.Results?.[0]).toMatchObject({
      Status: "COMPLETED",
      SourceArn: dlqArn,
      ApproximateNumberOfMessagesMoved: 2,
    });
    expect(endpoint.peekMessages(elsewhereUrl).map((message) => message.body)).toEqual(["m3"]);
    expect(endpoint.queueStats(dlqUrl).total).toBe(0);
    expect(notADlq.name).toBe("InvalidParameterValue");
  });

  it("refuses a long poll rather than answer it as a short one", async () => {
    const queueUrl = endpoint.createQueue(unique("long-poll"));
    const byDefault = endpoint.createQueue(unique("long-poll-default"), {
      ReceiveMessageWaitTimeSeconds: "1",
    });

    const asked = await caught(receive(queueUrl, { WaitTimeSeconds: 20 }));
    const inherited = await caught(receive(byDefault));

    expect(asked.name).toBe("UnsupportedOperation");
    expect(inherited.name).toBe("UnsupportedOperation");
  });

  it("makes SendMessage fail when told to, and the SDK surface the 500 once its retries are spent", async () => {
    const queueUrl = endpoint.createQueue(unique("unavailable"));
    const before = endpoint.callCounts().SendMessage ?? 0;
    endpoint.failNext("SendMessage", 3);

    const error = await caught(sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x" })));
    const afterFailures = endpoint.callCounts().SendMessage ?? 0;
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "y" }));

    expect(error.name).toBe("InternalError");
    expect((error as Error & { $metadata: { httpStatusCode?: number } }).$metadata.httpStatusCode).toBe(500);
    expect(afterFailures - before).toBe(3);
    expect(endpoint.peekMessages(queueUrl).map((message) => message.body)).toEqual(["y"]);
  });

  it("lets the SDK's own retry ride over a single injected failure", async () => {
    const queueUrl = endpoint.createQueue(unique("blip"));
    const before = endpoint.callCounts().SendMessage ?? 0;
    endpoint.failNext("SendMessage");

    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "x" }));

    expect((endpoint.callCounts().SendMessage ?? 0) - before).toBe(2);
    expect(endpoint.queueStats(queueUrl).total).toBe(1);
  });

  it("injects a named error type, mapped to the SDK's typed exception", async () => {
    const queueUrl = endpoint.createQueue(unique("named-failure"));
    endpoint.failNext("ReceiveMessage", 1, "QueueDoesNotExist");

    const error = await caught(receive(queueUrl));

    expect(error).toBeInstanceOf(QueueDoesNotExist);
    expect(() => endpoint.failNext("SendMesage")).toThrow(/unknown operation/);
  });

  it("drops messages past their retention period", async () => {
    const shortLivedUrl = endpoint.createQueue(unique("retention"), { MessageRetentionPeriod: "60" });
    await sqs.send(new SendMessageCommand({ QueueUrl: shortLivedUrl, MessageBody: "y" }));

    const beforeExpiry = endpoint.queueStats(shortLivedUrl).total;
    endpoint.advanceClock(60_000);

    expect(beforeExpiry).toBe(1);
    expect(endpoint.queueStats(shortLivedUrl).total).toBe(0);
  });

  it("validates queue attributes and applies valid ones", async () => {
    const queueUrl = endpoint.createQueue(unique("set-attrs"), { VisibilityTimeout: "7" });

    const attributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["VisibilityTimeout"] }),
    );

    expect(attributes.Attributes).toEqual({ VisibilityTimeout: "7" });
    expect(() => endpoint.createQueue(unique("bad-attrs"), { VisibilityTimeout: "50000" })).toThrow(
      /Invalid value for the parameter VisibilityTimeout/,
    );
  });
});
