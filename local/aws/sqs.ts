/**
 * SQS as far as the relay, its retry worker's event source, the console and the runbook use it:
 * send (with a delay), receive, delete (one or a batch), change visibility, read queue
 * attributes, and redrive a dead-letter queue. Queues are created in-process by whoever owns the
 * endpoint. A receive answers at once: nothing here long-polls, so a non-zero wait is refused
 * rather than silently ignored.
 *
 * Why ~600 lines in one file: the eight operations share one queue model (visibility, receive
 * counts, the redrive policy, the virtual clock), so cutting them apart would scatter one state
 * machine over files that each need all of it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { ACCOUNT_ID, AwsError, type Clock, isObject, type Json, md5Hex, Params, REGION } from "./protocol";

export const SQS_OPERATIONS = [
  "ChangeMessageVisibility",
  "DeleteMessage",
  "DeleteMessageBatch",
  "GetQueueAttributes",
  "ListMessageMoveTasks",
  "ReceiveMessage",
  "SendMessage",
  "StartMessageMoveTask",
] as const;

/**
 * SQS's JSON protocol is "query compatible": besides `__type`, the SDK reads the legacy query
 * error code from `x-amzn-query-error` and maps it back to the modeled exception (for example
 * `AWS.SimpleQueueService.NonExistentQueue` becomes `QueueDoesNotExist`). Codes and statuses
 * here are the ones the SDK's model declares.
 */
export const SQS_QUERY_ERRORS: Record<string, [queryCode: string, status: number]> = {
  BatchEntryIdsNotDistinct: ["AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400],
  EmptyBatchRequest: ["AWS.SimpleQueueService.EmptyBatchRequest", 400],
  InvalidBatchEntryId: ["AWS.SimpleQueueService.InvalidBatchEntryId", 400],
  MessageNotInflight: ["AWS.SimpleQueueService.MessageNotInflight", 400],
  QueueDoesNotExist: ["AWS.SimpleQueueService.NonExistentQueue", 400],
  QueueNameExists: ["QueueAlreadyExists", 400],
  ReceiptHandleIsInvalid: ["ReceiptHandleIsInvalid", 404],
  RequestThrottled: ["RequestThrottled", 403],
  ResourceNotFoundException: ["ResourceNotFoundException", 404],
  TooManyEntriesInBatchRequest: ["AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400],
  UnsupportedOperation: ["AWS.SimpleQueueService.UnsupportedOperation", 400],
};

const QUEUE_ARN_PREFIX = `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:`;

const QUEUE_ATTRIBUTE_LIMITS: Record<string, [min: number, max: number]> = {
  DelaySeconds: [0, 900],
  KmsDataKeyReusePeriodSeconds: [60, 86_400],
  MaximumMessageSize: [1024, 1_048_576],
  MessageRetentionPeriod: [60, 1_209_600],
  ReceiveMessageWaitTimeSeconds: [0, 20],
  VisibilityTimeout: [0, 43_200],
};
const QUEUE_ATTRIBUTE_DEFAULTS: Record<string, string> = {
  DelaySeconds: "0",
  MaximumMessageSize: "1048576",
  MessageRetentionPeriod: "345600",
  ReceiveMessageWaitTimeSeconds: "0",
  SqsManagedSseEnabled: "true",
  VisibilityTimeout: "30",
};
/** Settable attributes kept verbatim: they change nothing here, but callers may set and read them. */
const QUEUE_ATTRIBUTES_STORED = new Set([
  "ContentBasedDeduplication",
  "DeduplicationScope",
  "FifoQueue",
  "FifoThroughputLimit",
  "KmsMasterKeyId",
  "Policy",
  "RedriveAllowPolicy",
  "SqsManagedSseEnabled",
]);
const QUEUE_ATTRIBUTES_COMPUTED = [
  "ApproximateNumberOfMessages",
  "ApproximateNumberOfMessagesDelayed",
  "ApproximateNumberOfMessagesNotVisible",
  "CreatedTimestamp",
  "LastModifiedTimestamp",
  "QueueArn",
];
const MESSAGE_SYSTEM_ATTRIBUTES = [
  "ApproximateFirstReceiveTimestamp",
  "ApproximateReceiveCount",
  "DeadLetterQueueSourceArn",
  "SenderId",
  "SentTimestamp",
];

interface StoredMessage {
  messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  sentAt: number;
  /** Until this instant the message is delayed (never received) or in flight (received). */
  visibleAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
  /** The handle of the latest receive; only it can delete or re-time the message. */
  receiptHandle?: string;
  deadLetterSourceArn?: string;
}

interface MoveTask {
  readonly sourceArn: string;
  readonly destinationArn?: string;
  readonly maxNumberOfMessagesPerSecond?: number;
  readonly moved: number;
  readonly startedAt: number;
}

interface Queue {
  readonly name: string;
  readonly arn: string;
  readonly url: string;
  readonly createdAt: number;
  readonly attributes: Record<string, string>;
  messages: StoredMessage[];
  readonly moveTasks: MoveTask[];
}

interface RedrivePolicy {
  readonly deadLetterTargetArn: string;
  readonly maxReceiveCount: number;
}

// Characters SQS accepts in a message body (XML 1.0's Char production).
const INVALID_BODY_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$|^[A-Za-z0-9_-]{1,75}\.fifo$/;

export class SqsService {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly now: Clock,
    private readonly baseUrl: string,
  ) {}

  createQueue(name: string, attributes: Record<string, string> = {}): string {
    if (!QUEUE_NAME.test(name)) {
      throw new AwsError(
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
      );
    }
    const existing = this.queues.get(name);
    const normalized = this.normalizeAttributes(attributes, `${QUEUE_ARN_PREFIX}${name}`);
    if (existing) {
      const differs = Object.entries(normalized).some(([key, value]) => existing.attributes[key] !== value);
      if (differs) {
        throw new AwsError(
          "QueueNameExists",
          `A queue already exists with the same name and a different value for attribute(s) ${Object.keys(normalized).join(", ")}`,
        );
      }
      return existing.url;
    }
    const queue: Queue = {
      name,
      arn: `${QUEUE_ARN_PREFIX}${name}`,
      url: `${this.baseUrl}/${ACCOUNT_ID}/${name}`,
      createdAt: this.now(),
      attributes: { ...QUEUE_ATTRIBUTE_DEFAULTS, ...normalized },
      messages: [],
      moveTasks: [],
    };
    this.queues.set(name, queue);
    return queue.url;
  }

  queueStats(ref: string): { visible: number; inFlight: number; delayed: number; total: number } {
    const queue = this.queue(ref);
    this.expire(queue);
    const now = this.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const message of queue.messages) {
      if (message.visibleAt <= now) visible += 1;
      else if (message.receiveCount > 0) inFlight += 1;
      else delayed += 1;
    }
    return { visible, inFlight, delayed, total: queue.messages.length };
  }

  /**
   * When the next message that is not visible now (delayed, in flight, or parked by
   * ChangeMessageVisibility) becomes visible, on this service's clock; undefined when none waits.
   */
  nextVisibleAt(ref: string): number | undefined {
    const queue = this.queue(ref);
    this.expire(queue);
    const now = this.now();
    let next: number | undefined;
    for (const message of queue.messages)
      if (message.visibleAt > now && (next === undefined || message.visibleAt < next))
        next = message.visibleAt;
    return next;
  }

  peekMessages(ref: string): Array<{ messageId: string; body: string; receiveCount: number }> {
    const queue = this.queue(ref);
    this.expire(queue);
    return queue.messages.map(({ messageId, body, receiveCount }) => ({ messageId, body, receiveCount }));
  }

  handle(operation: string, input: Json): Json {
    const params = new Params(input, "InvalidParameterValue", "MissingParameter");
    switch (operation) {
      case "GetQueueAttributes":
        return this.getQueueAttributes(params);
      case "SendMessage":
        return this.sendMessage(params);
      case "ReceiveMessage":
        return this.receiveMessage(params);
      case "DeleteMessage":
        this.deleteMessage(this.queue(params.string("QueueUrl")), params.string("ReceiptHandle"));
        return {};
      case "DeleteMessageBatch":
        return this.deleteMessageBatch(params);
      case "ChangeMessageVisibility":
        this.changeVisibility(
          this.queue(params.string("QueueUrl")),
          params.string("ReceiptHandle"),
          this.visibilityTimeout(params),
        );
        return {};
      case "StartMessageMoveTask":
        return this.startMessageMoveTask(params);
      case "ListMessageMoveTasks":
        return this.listMessageMoveTasks(params);
      default:
        throw new AwsError("UnsupportedOperation", `Operation ${operation} is not supported locally.`);
    }
  }

  private getQueueAttributes(params: Params): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const names = params.stringList("AttributeNames");
    const stats = this.queueStats(queue.name);
    const all: Record<string, string> = {
      ...queue.attributes,
      QueueArn: queue.arn,
      ApproximateNumberOfMessages: String(stats.visible),
      ApproximateNumberOfMessagesNotVisible: String(stats.inFlight),
      ApproximateNumberOfMessagesDelayed: String(stats.delayed),
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.createdAt / 1000)),
    };
    if (names.includes("All")) return { Attributes: all };
    const selected: Record<string, string> = {};
    for (const name of names) {
      const known =
        name in QUEUE_ATTRIBUTE_LIMITS ||
        name === "RedrivePolicy" ||
        QUEUE_ATTRIBUTES_STORED.has(name) ||
        QUEUE_ATTRIBUTES_COMPUTED.includes(name);
      if (!known) throw new AwsError("InvalidAttributeName", `Unknown Attribute ${name}.`);
      const value = all[name];
      if (value !== undefined) selected[name] = value;
    }
    return { Attributes: selected };
  }

  private sendMessage(params: Params): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const body = params.string("MessageBody");
    if (INVALID_BODY_CHARACTER.test(body)) {
      throw new AwsError("InvalidMessageContents", "Invalid characters found in the message body.");
    }
    const maximum = Number(queue.attributes.MaximumMessageSize);
    if (Buffer.byteLength(body) > maximum) {
      throw new AwsError(
        "InvalidParameterValue",
        `One or more parameters are invalid. Reason: Message must be shorter than ${maximum} bytes.`,
      );
    }
    const delaySeconds = params.optInt("DelaySeconds", 0, 900) ?? Number(queue.attributes.DelaySeconds);
    const now = this.now();
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      md5OfBody: md5Hex(body),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
    queue.messages.push(message);
    return { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody };
  }

  private receiveMessage(params: Params): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const maxMessages = params.optInt("MaxNumberOfMessages", 1, 10) ?? 1;
    const visibilityTimeout =
      params.optInt("VisibilityTimeout", 0, 43_200) ?? Number(queue.attributes.VisibilityTimeout);
    const waitSeconds =
      params.optInt("WaitTimeSeconds", 0, 20) ?? Number(queue.attributes.ReceiveMessageWaitTimeSeconds);
    if (waitSeconds > 0) {
      throw new AwsError("UnsupportedOperation", "Long polling is not supported locally: wait 0 seconds.");
    }
    const systemNames = new Set([
      ...params.stringList("AttributeNames"),
      ...params.stringList("MessageSystemAttributeNames"),
    ]);
    const received = this.receiveNow(queue, maxMessages, visibilityTimeout);
    return received.length > 0
      ? { Messages: received.map((message) => this.view(message, systemNames)) }
      : {};
  }

  private receiveNow(queue: Queue, maxMessages: number, visibilityTimeout: number): StoredMessage[] {
    this.expire(queue);
    const now = this.now();
    const redrive = parseRedrivePolicy(queue.attributes.RedrivePolicy);
    const deadLetterQueue = redrive ? this.lookup(redrive.deadLetterTargetArn) : undefined;
    const received: StoredMessage[] = [];
    for (const message of [...queue.messages]) {
      if (received.length >= maxMessages) break;
      if (message.visibleAt > now) continue;
      // As in SQS, a message that has used up its receives moves to the dead-letter queue at the
      // moment it would be received once more, not when its last visibility timeout ends.
      if (redrive && deadLetterQueue && message.receiveCount >= redrive.maxReceiveCount) {
        queue.messages.splice(queue.messages.indexOf(message), 1);
        message.visibleAt = now;
        message.receiptHandle = undefined;
        message.deadLetterSourceArn = queue.arn;
        deadLetterQueue.messages.push(message);
        continue;
      }
      message.receiveCount += 1;
      message.firstReceiveAt ??= now;
      message.visibleAt = now + visibilityTimeout * 1000;
      message.receiptHandle = Buffer.from(
        JSON.stringify([queue.name, message.messageId, randomBytes(8).toString("hex")]),
      ).toString("base64");
      received.push(message);
    }
    return received;
  }

  private view(message: StoredMessage, systemNames: Set<string>): Json {
    const all = systemNames.has("All");
    const system: Record<string, string | undefined> = {
      SenderId: ACCOUNT_ID,
      SentTimestamp: String(message.sentAt),
      ApproximateReceiveCount: String(message.receiveCount),
      ApproximateFirstReceiveTimestamp:
        message.firstReceiveAt === undefined ? undefined : String(message.firstReceiveAt),
      DeadLetterQueueSourceArn: message.deadLetterSourceArn,
    };
    const attributes: Record<string, string> = {};
    for (const name of MESSAGE_SYSTEM_ATTRIBUTES) {
      const value = system[name];
      if (value !== undefined && (all || systemNames.has(name))) attributes[name] = value;
    }
    const view: Json = {
      MessageId: message.messageId,
      ReceiptHandle: message.receiptHandle,
      MD5OfBody: message.md5OfBody,
      Body: message.body,
    };
    if (Object.keys(attributes).length > 0) view.Attributes = attributes;
    return view;
  }

  /**
   * Only the latest receipt handle deletes a message. An older handle (the message was received
   * again since) or one for a message already gone succeeds without effect, as SQS allows; a
   * handle this endpoint never issued for this queue is invalid.
   */
  private deleteMessage(queue: Queue, receiptHandle: string): void {
    const message = this.messageFor(queue, receiptHandle);
    if (message && message.receiptHandle === receiptHandle) {
      queue.messages.splice(queue.messages.indexOf(message), 1);
    }
  }

  private changeVisibility(queue: Queue, receiptHandle: string, visibilityTimeout: number): void {
    const message = this.messageFor(queue, receiptHandle);
    const now = this.now();
    if (!message || message.receiptHandle !== receiptHandle || message.visibleAt <= now) {
      throw new AwsError(
        "ReceiptHandleIsInvalid",
        `The receipt handle "${receiptHandle}" has expired or its message is no longer in flight.`,
      );
    }
    message.visibleAt = now + visibilityTimeout * 1000;
  }

  private visibilityTimeout(params: Params): number {
    const value = params.optInt("VisibilityTimeout", 0, 43_200);
    if (value === undefined) {
      throw new AwsError("MissingParameter", "The request must contain the parameter VisibilityTimeout.");
    }
    return value;
  }

  private messageFor(queue: Queue, receiptHandle: string): StoredMessage | undefined {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(receiptHandle, "base64").toString("utf8"));
    } catch {
      decoded = undefined;
    }
    if (!Array.isArray(decoded) || decoded.length !== 3 || decoded[0] !== queue.name) {
      throw new AwsError(
        "ReceiptHandleIsInvalid",
        `The input receipt handle "${receiptHandle}" is not valid.`,
      );
    }
    return queue.messages.find((message) => message.messageId === decoded[1]);
  }

  private deleteMessageBatch(params: Params): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const entries = params.objectList("Entries");
    if (entries.length === 0) throw new AwsError("EmptyBatchRequest", "There should be at least one entry.");
    if (entries.length > 10) {
      throw new AwsError("TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10.");
    }
    const ids = entries.map((entry) => entry.Id);
    for (const id of ids) {
      if (typeof id !== "string" || !BATCH_ENTRY_ID.test(id)) {
        throw new AwsError(
          "InvalidBatchEntryId",
          `A batch entry id can only contain [A-Za-z0-9_-]: ${String(id)}`,
        );
      }
    }
    if (new Set(ids).size !== ids.length) {
      throw new AwsError("BatchEntryIdsNotDistinct", "Two or more batch entries have the same Id.");
    }
    const successful: Json[] = [];
    const failed: Json[] = [];
    for (const raw of entries) {
      const entry = new Params(raw, "InvalidParameterValue", "MissingParameter");
      const id = entry.string("Id");
      try {
        this.deleteMessage(queue, entry.string("ReceiptHandle"));
        successful.push({ Id: id });
      } catch (error) {
        if (!(error instanceof AwsError)) throw error;
        failed.push({ Id: id, SenderFault: true, Code: error.code, Message: error.message });
      }
    }
    return { Successful: successful, Failed: failed };
  }

  /**
   * Moves every message in the dead-letter queue at once, in flight or not, and resets its
   * receive count. Without a destination each message returns to the queue it was dead-lettered
   * from, or failing that to the first queue whose RedrivePolicy names this one.
   */
  private startMessageMoveTask(params: Params): Json {
    const sourceArn = params.string("SourceArn");
    const source = this.byArn(sourceArn, "SourceArn");
    const fallback = [...this.queues.values()].find(
      (queue) => parseRedrivePolicy(queue.attributes.RedrivePolicy)?.deadLetterTargetArn === source.arn,
    );
    if (!fallback) {
      throw new AwsError("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.");
    }
    const destinationArn = params.optString("DestinationArn");
    const destination = destinationArn ? this.byArn(destinationArn, "DestinationArn") : undefined;
    const maxNumberOfMessagesPerSecond = params.optInt("MaxNumberOfMessagesPerSecond", 1, 500);
    this.expire(source);
    const now = this.now();
    const messages = source.messages;
    source.messages = [];
    for (const message of messages) {
      const target =
        destination ??
        (message.deadLetterSourceArn ? this.lookup(message.deadLetterSourceArn) : undefined) ??
        fallback;
      message.receiveCount = 0;
      message.firstReceiveAt = undefined;
      message.receiptHandle = undefined;
      message.deadLetterSourceArn = undefined;
      message.sentAt = now;
      message.visibleAt = now;
      target.messages.push(message);
    }
    const taskHandle = Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn })).toString("base64");
    source.moveTasks.unshift({
      sourceArn,
      destinationArn,
      maxNumberOfMessagesPerSecond,
      moved: messages.length,
      startedAt: now,
    });
    return { TaskHandle: taskHandle };
  }

  private listMessageMoveTasks(params: Params): Json {
    const source = this.byArn(params.string("SourceArn"), "SourceArn");
    const maxResults = params.optInt("MaxResults", 1, 10) ?? 1;
    // Every task here completes as it starts; SQS only shows a TaskHandle for running ones.
    return {
      Results: source.moveTasks.slice(0, maxResults).map((task) => ({
        Status: "COMPLETED",
        SourceArn: task.sourceArn,
        DestinationArn: task.destinationArn,
        MaxNumberOfMessagesPerSecond: task.maxNumberOfMessagesPerSecond,
        ApproximateNumberOfMessagesMoved: task.moved,
        ApproximateNumberOfMessagesToMove: task.moved,
        StartedTimestamp: task.startedAt,
      })),
    };
  }

  /** A queue by URL, ARN or bare name. */
  private lookup(ref: string): Queue | undefined {
    const name = ref.startsWith("arn:") ? ref.split(":").at(-1) : ref.replace(/\/+$/, "").split("/").at(-1);
    return name === undefined ? undefined : this.queues.get(name);
  }

  private queue(ref: string): Queue {
    const queue = this.lookup(ref);
    if (!queue) throw new AwsError("QueueDoesNotExist", "The specified queue does not exist.");
    return queue;
  }

  private byArn(arn: string, parameter: string): Queue {
    const queue = this.lookup(arn);
    if (!queue || queue.arn !== arn) {
      throw new AwsError(
        "ResourceNotFoundException",
        `The resource that you specified for the ${parameter} parameter doesn't exist.`,
      );
    }
    return queue;
  }

  /** Drops messages older than the queue's retention period (measured from when they were sent). */
  private expire(queue: Queue): void {
    const oldest = this.now() - Number(queue.attributes.MessageRetentionPeriod) * 1000;
    if (queue.messages.some((message) => message.sentAt <= oldest)) {
      queue.messages = queue.messages.filter((message) => message.sentAt > oldest);
    }
  }

  /** Validates attributes and puts them in the form GetQueueAttributes answers with. */
  private normalizeAttributes(attributes: Record<string, string>, ownArn: string): Record<string, string> {
    const normalized: Record<string, string> = {};
    for (const [key, value] of Object.entries(attributes)) {
      const limits = QUEUE_ATTRIBUTE_LIMITS[key];
      if (limits) {
        const number = Number(value);
        if (value.trim() === "" || !Number.isInteger(number) || number < limits[0] || number > limits[1]) {
          throw new AwsError("InvalidAttributeValue", `Invalid value for the parameter ${key}.`);
        }
        normalized[key] = String(number);
      } else if (key === "RedrivePolicy") {
        normalized[key] = this.normalizeRedrivePolicy(value, ownArn);
      } else if (QUEUE_ATTRIBUTES_STORED.has(key)) {
        normalized[key] = value;
      } else {
        throw new AwsError("InvalidAttributeName", `Unknown Attribute ${key}.`);
      }
    }
    return normalized;
  }

  private normalizeRedrivePolicy(value: string, ownArn: string): string {
    const invalid = (reason: string) =>
      new AwsError(
        "InvalidParameterValue",
        `Value ${value} for parameter RedrivePolicy is invalid. Reason: ${reason}`,
      );
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw invalid("Redrive policy is not a valid JSON map.");
    }
    if (!isObject(parsed) || typeof parsed.deadLetterTargetArn !== "string") {
      throw invalid("Redrive policy must contain deadLetterTargetArn.");
    }
    const maxReceiveCount = Number(parsed.maxReceiveCount);
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.");
    }
    const target = this.lookup(parsed.deadLetterTargetArn);
    if (!target || target.arn !== parsed.deadLetterTargetArn || target.arn === ownArn) {
      throw invalid("Dead letter target does not exist.");
    }
    return JSON.stringify({ deadLetterTargetArn: target.arn, maxReceiveCount });
  }
}

function parseRedrivePolicy(value: string | undefined): RedrivePolicy | undefined {
  return value ? (JSON.parse(value) as RedrivePolicy) : undefined;
}
