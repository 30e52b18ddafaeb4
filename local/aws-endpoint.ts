/**
 * A small local stand-in for AWS Secrets Manager and SQS, speaking the same JSON wire protocols as
 * the real services so the real SDK v3 clients work against it unchanged: point
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL_SQS` at `url` (any credentials; signatures
 * are not checked).
 *
 * Time is virtual: every delay, visibility timeout, retention period and long-poll deadline is
 * measured against `Date.now() + offset`, and `advanceClock` moves the offset so a test can skip
 * minutes without sleeping.
 *
 * Run standalone with `npx tsx local/aws-endpoint.ts` (port from `AWS_ENDPOINT_PORT`, default 4566).
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface AwsEndpoint {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;

  /** Creates the secret, or adds a new AWSCURRENT version to it; returns its ARN. */
  putSecret(name: string, secretString: string): string;
  /** Deletes the secret (name or ARN) immediately; does nothing if there is none. */
  deleteSecret(name: string): void;
  /** GetSecretValue requests received (failed ones included), for one secret by name or ARN, or all. */
  getSecretValueCalls(name?: string): number;

  /** Creates the queue (as CreateQueue would) and returns its URL `${url}/000000000000/${name}`. */
  createQueue(name: string, attributes?: Record<string, string>): string;
  queueStats(nameOrUrl: string): { visible: number; inFlight: number; delayed: number; total: number };
  /** Every message the queue holds, in any state, in arrival order; receives nothing. */
  peekMessages(nameOrUrl: string): Array<{ messageId: string; body: string; receiveCount: number }>;
  /**
   * The next `count` requests for `operation` (e.g. "SendMessage", "GetSecretValue") fail with
   * `errorType` (default: a 500 `InternalError` for SQS, `InternalServiceError` for Secrets Manager).
   * The SDK retries 5xx and throttling errors (3 attempts by default), and each attempt uses one.
   */
  failNext(operation: string, count?: number, errorType?: string): void;
  /**
   * The next request for `operation` is read and never answered, as from an endpoint that
   * accepts and stalls; its connection is reset after `holdMs` of wall time (the SDK's own
   * timeouts are wall time) or on close.
   */
  stallNext(operation: string, holdMs: number): void;
  /** Requests received per operation name (failed ones included). */
  callCounts(): Record<string, number>;
  /** Moves the virtual clock forward; wakes long polls whose messages became visible. */
  advanceClock(ms: number): void;
  close(): Promise<void>;
}

const REGION = "us-east-1";
const ACCOUNT_ID = "000000000000";
const SECRET_ARN_PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:`;
const QUEUE_ARN_PREFIX = `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:`;

type Json = Record<string, unknown>;
type Clock = () => number;

/** An error the service answers with; `code` is the modeled exception name. */
class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

const INTERNAL_ERRORS: Record<string, number> = {
  InternalError: 500,
  InternalFailure: 500,
  InternalServiceError: 500,
  ServiceUnavailable: 503,
};

/** Reads one request's input, failing with the service's own error codes. */
class Params {
  constructor(
    private readonly input: Json,
    private readonly invalidCode: string,
    private readonly missingCode: string,
  ) {}

  optString(key: string): string | undefined {
    const value = this.input[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw new AwsError(this.invalidCode, `${key} must be a string.`);
    return value;
  }

  string(key: string): string {
    const value = this.optString(key);
    if (value === undefined || value === "") {
      throw new AwsError(this.missingCode, `The request must contain the parameter ${key}.`);
    }
    return value;
  }

  optInt(key: string, min: number, max: number): number | undefined {
    const raw = this.input[key];
    if (raw === undefined || raw === null) return undefined;
    const value = typeof raw === "string" ? Number(raw) : raw;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new AwsError(
        this.invalidCode,
        `Value ${String(raw)} for parameter ${key} is invalid. Reason: must be between ${min} and ${max}.`,
      );
    }
    return value;
  }

  stringList(key: string): string[] {
    const value = this.input[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
      throw new AwsError(this.invalidCode, `${key} must be a list of strings.`);
    }
    return value;
  }

  stringMap(key: string): Record<string, string> {
    const value = this.input[key];
    if (value === undefined || value === null) return {};
    if (!isObject(value) || !Object.values(value).every((item) => typeof item === "string")) {
      throw new AwsError(this.invalidCode, `${key} must be a map of strings.`);
    }
    return value as Record<string, string>;
  }

  objectList(key: string): Json[] {
    const value = this.input[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every(isObject)) {
      throw new AwsError(this.invalidCode, `${key} must be a list of objects.`);
    }
    return value;
  }

  raw(key: string): unknown {
    return this.input[key];
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function md5Hex(data: string | Buffer): string {
  return createHash("md5").update(data).digest("hex");
}

function epochSeconds(ms: number): number {
  return ms / 1000;
}

/** Offset-based paging for the List* operations. */
function page<T>(items: T[], nextToken: string | undefined, max: number): { items: T[]; next?: string } {
  const start = nextToken === undefined ? 0 : Number(nextToken);
  if (!Number.isInteger(start) || start < 0)
    throw new AwsError("InvalidNextTokenException", "Invalid NextToken.");
  const end = start + max;
  return { items: items.slice(start, end), next: end < items.length ? String(end) : undefined };
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager
// ---------------------------------------------------------------------------------------------

const SECRETS_MANAGER_OPERATIONS = [
  "CreateSecret",
  "DeleteSecret",
  "DescribeSecret",
  "GetSecretValue",
  "ListSecrets",
  "PutSecretValue",
] as const;

interface SecretVersion {
  readonly id: string;
  readonly secretString?: string;
  /** base64, exactly as it travels in the JSON protocol */
  readonly secretBinary?: string;
  readonly createdAt: number;
  readonly stages: Set<string>;
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  description?: string;
  readonly createdAt: number;
  lastChangedAt: number;
  readonly versions: Map<string, SecretVersion>;
}

class SecretsManagerService {
  private readonly secrets = new Map<string, Secret>();
  /** For each GetSecretValue request, every identifier it could be counted under. */
  private readonly getCalls: Array<ReadonlySet<string>> = [];

  constructor(private readonly now: Clock) {}

  putSecret(name: string, secretString: string): string {
    const secret = this.secrets.get(name) ?? this.create(name);
    this.addVersion(secret, randomUUID(), { secretString }, ["AWSCURRENT"]);
    return secret.arn;
  }

  deleteSecret(nameOrArn: string): void {
    const secret = this.find(nameOrArn);
    if (secret) this.secrets.delete(secret.name);
  }

  getSecretValueCalls(nameOrArn?: string): number {
    if (nameOrArn === undefined) return this.getCalls.length;
    const secret = this.find(nameOrArn);
    const keys = secret ? [secret.name, secret.arn] : [nameOrArn];
    return this.getCalls.filter((ids) => keys.some((key) => ids.has(key))).length;
  }

  /** Counts a GetSecretValue request under every identifier its secret goes by. */
  recordGetSecretValue(input: Json): void {
    const secretId = typeof input.SecretId === "string" ? input.SecretId : "";
    const found = this.find(secretId);
    this.getCalls.push(new Set([secretId, ...(found ? [found.name, found.arn] : [])]));
  }

  handle(operation: string, input: Json): Json {
    const params = new Params(input, "InvalidParameterException", "InvalidParameterException");
    switch (operation) {
      case "GetSecretValue":
        return this.getSecretValue(params, input);
      case "CreateSecret":
        return this.createSecret(params);
      case "PutSecretValue":
        return this.putSecretValue(params);
      case "DescribeSecret":
        return this.describeSecret(params);
      case "DeleteSecret":
        return this.deleteSecretOperation(params);
      case "ListSecrets":
        return this.listSecrets(params);
      default:
        throw new AwsError("UnknownOperationException", `Operation ${operation} is not supported locally.`);
    }
  }

  private getSecretValue(params: Params, input: Json): Json {
    const secretId = params.string("SecretId");
    this.recordGetSecretValue(input);
    const secret = this.require(secretId);
    const versionId = params.optString("VersionId");
    const stage = params.optString("VersionStage") ?? (versionId ? undefined : "AWSCURRENT");
    const version = [...secret.versions.values()].find(
      (candidate) =>
        (versionId === undefined || candidate.id === versionId) &&
        (stage === undefined || candidate.stages.has(stage)),
    );
    if (!version) {
      throw new AwsError(
        "ResourceNotFoundException",
        `Secrets Manager can't find the specified secret value for ${versionId ? `VersionId: ${versionId}` : `staging label: ${stage}`}`,
      );
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.secretString,
      SecretBinary: version.secretBinary,
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.createdAt),
    };
  }

  private createSecret(params: Params): Json {
    const name = params.string("Name");
    if (this.secrets.has(name)) {
      throw new AwsError(
        "ResourceExistsException",
        `The operation failed because the secret ${name} already exists.`,
      );
    }
    const value = this.secretValue(params, false);
    const secret = this.create(name);
    secret.description = params.optString("Description");
    const versionId = value
      ? this.addVersion(secret, this.versionId(params), value, ["AWSCURRENT"]).id
      : undefined;
    return { ARN: secret.arn, Name: secret.name, VersionId: versionId };
  }

  private putSecretValue(params: Params): Json {
    const secret = this.require(params.string("SecretId"));
    const value = this.secretValue(params, true) ?? {};
    const stages = params.stringList("VersionStages");
    const versionId = this.versionId(params);
    const existing = secret.versions.get(versionId);
    if (existing) {
      // A retried request with the same token is fine; a different value under it is not.
      if (existing.secretString !== value.secretString || existing.secretBinary !== value.secretBinary) {
        throw new AwsError(
          "ResourceExistsException",
          "You can't modify an existing version, you can only create new versions.",
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: existing.id,
        VersionStages: [...existing.stages],
      };
    }
    const version = this.addVersion(secret, versionId, value, stages.length > 0 ? stages : ["AWSCURRENT"]);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private describeSecret(params: Params): Json {
    const secret = this.require(params.string("SecretId"));
    return {
      ARN: secret.arn,
      Name: secret.name,
      Description: secret.description,
      CreatedDate: epochSeconds(secret.createdAt),
      LastChangedDate: epochSeconds(secret.lastChangedAt),
      VersionIdsToStages: this.versionsToStages(secret),
    };
  }

  private deleteSecretOperation(params: Params): Json {
    // Deletion is immediate whatever RecoveryWindowInDays says: nothing locally needs the window.
    const secret = this.require(params.string("SecretId"));
    this.secrets.delete(secret.name);
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(this.now()) };
  }

  private listSecrets(params: Params): Json {
    const maxResults = params.optInt("MaxResults", 1, 100) ?? 100;
    const namePrefixes = params
      .objectList("Filters")
      .filter((filter) => filter.Key === "name")
      .flatMap((filter) => (Array.isArray(filter.Values) ? filter.Values.map(String) : []));
    const matching = [...this.secrets.values()].filter(
      (secret) => namePrefixes.length === 0 || namePrefixes.some((prefix) => secret.name.startsWith(prefix)),
    );
    const { items, next } = page(matching, params.optString("NextToken"), maxResults);
    return {
      SecretList: items.map((secret) => ({
        ARN: secret.arn,
        Name: secret.name,
        Description: secret.description,
        CreatedDate: epochSeconds(secret.createdAt),
        LastChangedDate: epochSeconds(secret.lastChangedAt),
        SecretVersionsToStages: this.versionsToStages(secret),
      })),
      NextToken: next,
    };
  }

  /** A secret by name, full ARN, or partial ARN (the ARN without its random six-character suffix). */
  private find(secretId: string): Secret | undefined {
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    if (!secretId.startsWith(SECRET_ARN_PREFIX)) return undefined;
    return [...this.secrets.values()].find(
      (secret) => secret.arn === secretId || `${SECRET_ARN_PREFIX}${secret.name}` === secretId,
    );
  }

  private require(secretId: string): Secret {
    const secret = this.find(secretId);
    if (!secret)
      throw new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    return secret;
  }

  private create(name: string): Secret {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const suffix = [...randomBytes(6)].map((byte) => alphabet[byte % alphabet.length]).join("");
    const now = this.now();
    const secret: Secret = {
      name,
      arn: `${SECRET_ARN_PREFIX}${name}-${suffix}`,
      createdAt: now,
      lastChangedAt: now,
      versions: new Map(),
    };
    this.secrets.set(name, secret);
    return secret;
  }

  private secretValue(
    params: Params,
    required: boolean,
  ): { secretString?: string; secretBinary?: string } | undefined {
    const secretString = params.optString("SecretString");
    const secretBinary = params.optString("SecretBinary");
    if (secretString !== undefined && secretBinary !== undefined) {
      throw new AwsError(
        "InvalidParameterException",
        "You can't specify both SecretString and SecretBinary.",
      );
    }
    if (secretString === undefined && secretBinary === undefined) {
      if (required)
        throw new AwsError("InvalidRequestException", "You must provide SecretString or SecretBinary.");
      return undefined;
    }
    return { secretString, secretBinary };
  }

  private versionId(params: Params): string {
    // The SDK fills ClientRequestToken with a fresh UUID on every call; it becomes the version id.
    return params.optString("ClientRequestToken") ?? randomUUID();
  }

  /** Adds a version and moves the given staging labels to it; AWSCURRENT leaves AWSPREVIOUS behind. */
  private addVersion(
    secret: Secret,
    id: string,
    value: { secretString?: string; secretBinary?: string },
    stages: string[],
  ): SecretVersion {
    const now = this.now();
    const version: SecretVersion = { id, ...value, createdAt: now, stages: new Set() };
    for (const stage of stages) {
      for (const other of secret.versions.values()) {
        if (!other.stages.delete(stage) || stage !== "AWSCURRENT") continue;
        for (const older of secret.versions.values()) older.stages.delete("AWSPREVIOUS");
        other.stages.add("AWSPREVIOUS");
      }
      version.stages.add(stage);
    }
    secret.versions.set(id, version);
    secret.lastChangedAt = now;
    return version;
  }

  private versionsToStages(secret: Secret): Record<string, string[]> {
    const result: Record<string, string[]> = {};
    for (const version of secret.versions.values()) {
      if (version.stages.size > 0) result[version.id] = [...version.stages];
    }
    return result;
  }
}

// ---------------------------------------------------------------------------------------------
// SQS
// ---------------------------------------------------------------------------------------------

const SQS_OPERATIONS = [
  "ChangeMessageVisibility",
  "ChangeMessageVisibilityBatch",
  "CreateQueue",
  "DeleteMessage",
  "DeleteMessageBatch",
  "DeleteQueue",
  "GetQueueAttributes",
  "GetQueueUrl",
  "ListDeadLetterSourceQueues",
  "ListMessageMoveTasks",
  "ListQueues",
  "PurgeQueue",
  "ReceiveMessage",
  "SendMessage",
  "SendMessageBatch",
  "SetQueueAttributes",
  "StartMessageMoveTask",
] as const;

/**
 * SQS's JSON protocol is "query compatible": besides `__type`, the SDK reads the legacy query
 * error code from `x-amzn-query-error` and maps it back to the modeled exception (for example
 * `AWS.SimpleQueueService.NonExistentQueue` becomes `QueueDoesNotExist`). Codes and statuses
 * here are the ones the SDK's model declares.
 */
const SQS_QUERY_ERRORS: Record<string, [queryCode: string, status: number]> = {
  BatchEntryIdsNotDistinct: ["AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400],
  BatchRequestTooLong: ["AWS.SimpleQueueService.BatchRequestTooLong", 400],
  EmptyBatchRequest: ["AWS.SimpleQueueService.EmptyBatchRequest", 400],
  InvalidBatchEntryId: ["AWS.SimpleQueueService.InvalidBatchEntryId", 400],
  MessageNotInflight: ["AWS.SimpleQueueService.MessageNotInflight", 400],
  PurgeQueueInProgress: ["AWS.SimpleQueueService.PurgeQueueInProgress", 403],
  QueueDoesNotExist: ["AWS.SimpleQueueService.NonExistentQueue", 400],
  QueueNameExists: ["QueueAlreadyExists", 400],
  ReceiptHandleIsInvalid: ["ReceiptHandleIsInvalid", 404],
  RequestThrottled: ["RequestThrottled", 403],
  ResourceNotFoundException: ["ResourceNotFoundException", 404],
  TooManyEntriesInBatchRequest: ["AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400],
  UnsupportedOperation: ["AWS.SimpleQueueService.UnsupportedOperation", 400],
};

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
  "AWSTraceHeader",
  "DeadLetterQueueSourceArn",
  "SenderId",
  "SentTimestamp",
];

interface MessageAttributeValue {
  readonly DataType: string;
  readonly StringValue?: string;
  /** base64, exactly as it travels in the JSON protocol */
  readonly BinaryValue?: string;
}

interface StoredMessage {
  messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly messageAttributes: Record<string, MessageAttributeValue>;
  readonly awsTraceHeader?: string;
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
  readonly taskHandle: string;
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
  lastModifiedAt: number;
  attributes: Record<string, string>;
  messages: StoredMessage[];
  readonly moveTasks: MoveTask[];
}

interface RedrivePolicy {
  readonly deadLetterTargetArn: string;
  readonly maxReceiveCount: number;
}

/** MD5 over SQS's canonical encoding of message attributes; the SDKs recompute and compare it. */
function md5OfMessageAttributes(attributes: Record<string, MessageAttributeValue>): string {
  const parts: Buffer[] = [];
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  // Sorted by UTF-16 code units, as the Java reference implementation does.
  for (const name of Object.keys(attributes).sort()) {
    const attribute = attributes[name];
    if (!attribute) continue;
    lengthPrefixed(Buffer.from(name, "utf8"));
    lengthPrefixed(Buffer.from(attribute.DataType, "utf8"));
    if (attribute.DataType.startsWith("Binary")) {
      parts.push(Buffer.from([2]));
      lengthPrefixed(Buffer.from(attribute.BinaryValue ?? "", "base64"));
    } else {
      parts.push(Buffer.from([1]));
      lengthPrefixed(Buffer.from(attribute.StringValue ?? "", "utf8"));
    }
  }
  return md5Hex(Buffer.concat(parts));
}

// Characters SQS accepts in a message body (XML 1.0's Char production).
const INVALID_BODY_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$|^[A-Za-z0-9_-]{1,75}\.fifo$/;

class SqsService {
  private readonly queues = new Map<string, Queue>();
  /** Long polls waiting for something to change; each re-checks its own queue when called. */
  private readonly waiters = new Set<() => void>();
  private closed = false;

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
      const current = { ...QUEUE_ATTRIBUTE_DEFAULTS, ...existing.attributes };
      const differs = Object.entries(normalized).some(([key, value]) => current[key] !== value);
      if (differs) {
        throw new AwsError(
          "QueueNameExists",
          `A queue already exists with the same name and a different value for attribute(s) ${Object.keys(normalized).join(", ")}`,
        );
      }
      return existing.url;
    }
    const now = this.now();
    const queue: Queue = {
      name,
      arn: `${QUEUE_ARN_PREFIX}${name}`,
      url: `${this.baseUrl}/${ACCOUNT_ID}/${name}`,
      createdAt: now,
      lastModifiedAt: now,
      attributes: { ...QUEUE_ATTRIBUTE_DEFAULTS, ...withoutEmpty(normalized) },
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

  peekMessages(ref: string): Array<{ messageId: string; body: string; receiveCount: number }> {
    const queue = this.queue(ref);
    this.expire(queue);
    return queue.messages.map(({ messageId, body, receiveCount }) => ({ messageId, body, receiveCount }));
  }

  /** Something may have become receivable: let every waiting long poll look again. */
  wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  async handle(operation: string, input: Json, aborted: AbortSignal): Promise<Json> {
    const params = new Params(input, "InvalidParameterValue", "MissingParameter");
    switch (operation) {
      case "CreateQueue":
        return { QueueUrl: this.createQueue(params.string("QueueName"), params.stringMap("Attributes")) };
      case "GetQueueUrl":
        return { QueueUrl: this.queue(params.string("QueueName")).url };
      case "ListQueues":
        return this.listQueues(params);
      case "DeleteQueue":
        this.queues.delete(this.queue(params.string("QueueUrl")).name);
        this.wake();
        return {};
      case "GetQueueAttributes":
        return this.getQueueAttributes(params);
      case "SetQueueAttributes":
        return this.setQueueAttributes(params);
      case "PurgeQueue":
        this.queue(params.string("QueueUrl")).messages = [];
        return {};
      case "SendMessage":
        return this.sendMessage(params);
      case "SendMessageBatch":
        return this.sendMessageBatch(params);
      case "ReceiveMessage":
        return this.receiveMessage(params, aborted);
      case "DeleteMessage":
        this.deleteMessage(this.queue(params.string("QueueUrl")), params.string("ReceiptHandle"));
        return {};
      case "DeleteMessageBatch":
        return this.batch(params, (queue, entry) => this.deleteMessage(queue, entry.string("ReceiptHandle")));
      case "ChangeMessageVisibility":
        this.changeVisibility(
          this.queue(params.string("QueueUrl")),
          params.string("ReceiptHandle"),
          this.visibilityTimeout(params),
        );
        return {};
      case "ChangeMessageVisibilityBatch":
        return this.batch(params, (queue, entry) =>
          this.changeVisibility(queue, entry.string("ReceiptHandle"), this.visibilityTimeout(entry)),
        );
      case "ListDeadLetterSourceQueues":
        return this.listDeadLetterSourceQueues(params);
      case "StartMessageMoveTask":
        return this.startMessageMoveTask(params);
      case "ListMessageMoveTasks":
        return this.listMessageMoveTasks(params);
      default:
        throw new AwsError("UnsupportedOperation", `Operation ${operation} is not supported locally.`);
    }
  }

  private listQueues(params: Params): Json {
    const prefix = params.optString("QueueNamePrefix") ?? "";
    const maxResults = params.optInt("MaxResults", 1, 1000) ?? 1000;
    const urls = [...this.queues.values()].filter((queue) => queue.name.startsWith(prefix)).map((q) => q.url);
    const { items, next } = page(urls, params.optString("NextToken"), maxResults);
    return { QueueUrls: items, NextToken: next };
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
      LastModifiedTimestamp: String(Math.floor(queue.lastModifiedAt / 1000)),
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

  private setQueueAttributes(params: Params): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const normalized = this.normalizeAttributes(params.stringMap("Attributes"), queue.arn);
    for (const [key, value] of Object.entries(normalized)) {
      // An empty RedrivePolicy (or RedriveAllowPolicy) removes it, as in SQS.
      if (value === "") delete queue.attributes[key];
      else queue.attributes[key] = value;
    }
    queue.lastModifiedAt = this.now();
    return {};
  }

  private sendMessage(params: Params): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const { message, result } = this.buildMessage(queue, params);
    queue.messages.push(message);
    this.wake();
    return result;
  }

  private sendMessageBatch(params: Params): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const entries = this.batchEntries(params);
    const totalBytes = entries.reduce(
      (sum, entry) => sum + Buffer.byteLength(entry.optString("MessageBody") ?? ""),
      0,
    );
    if (totalBytes > Number(queue.attributes.MaximumMessageSize)) {
      throw new AwsError(
        "BatchRequestTooLong",
        `Batch requests cannot be longer than ${queue.attributes.MaximumMessageSize} bytes.`,
      );
    }
    const successful: Json[] = [];
    const failed: Json[] = [];
    for (const entry of entries) {
      const id = entry.string("Id");
      try {
        const { message, result } = this.buildMessage(queue, entry);
        queue.messages.push(message);
        successful.push({ Id: id, ...result });
      } catch (error) {
        if (!(error instanceof AwsError)) throw error;
        failed.push({ Id: id, SenderFault: true, Code: error.code, Message: error.message });
      }
    }
    this.wake();
    return { Successful: successful, Failed: failed };
  }

  private buildMessage(queue: Queue, params: Params): { message: StoredMessage; result: Json } {
    const body = params.string("MessageBody");
    if (INVALID_BODY_CHARACTER.test(body)) {
      throw new AwsError("InvalidMessageContents", "Invalid characters found in the message body.");
    }
    const messageAttributes = parseMessageAttributes(params.raw("MessageAttributes"));
    const systemAttributes = parseMessageAttributes(params.raw("MessageSystemAttributes"));
    const attributeBytes = Object.entries(messageAttributes).reduce(
      (sum, [name, value]) =>
        sum +
        Buffer.byteLength(name) +
        Buffer.byteLength(value.DataType) +
        Buffer.byteLength(value.StringValue ?? "") +
        Buffer.from(value.BinaryValue ?? "", "base64").length,
      0,
    );
    const maximum = Number(queue.attributes.MaximumMessageSize);
    if (Buffer.byteLength(body) + attributeBytes > maximum) {
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
      messageAttributes,
      awsTraceHeader: systemAttributes.AWSTraceHeader?.StringValue,
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
    const result: Json = { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody };
    if (Object.keys(messageAttributes).length > 0) {
      result.MD5OfMessageAttributes = md5OfMessageAttributes(messageAttributes);
    }
    if (Object.keys(systemAttributes).length > 0) {
      result.MD5OfMessageSystemAttributes = md5OfMessageAttributes(systemAttributes);
    }
    return { message, result };
  }

  private async receiveMessage(params: Params, aborted: AbortSignal): Promise<Json> {
    const ref = params.string("QueueUrl");
    const initial = this.queue(ref);
    const maxMessages = params.optInt("MaxNumberOfMessages", 1, 10) ?? 1;
    const visibilityTimeout =
      params.optInt("VisibilityTimeout", 0, 43_200) ?? Number(initial.attributes.VisibilityTimeout);
    const waitSeconds =
      params.optInt("WaitTimeSeconds", 0, 20) ?? Number(initial.attributes.ReceiveMessageWaitTimeSeconds);
    const systemNames = new Set([
      ...params.stringList("AttributeNames"),
      ...params.stringList("MessageSystemAttributeNames"),
    ]);
    const attributeFilter = params.stringList("MessageAttributeNames");
    const deadline = this.now() + waitSeconds * 1000;

    for (;;) {
      // Re-resolve each round: the queue may have been deleted while the poll waited.
      const queue = this.queues.get(initial.name);
      if (!queue || this.closed || aborted.aborted) return {};
      const received = this.receiveNow(queue, maxMessages, visibilityTimeout);
      if (received.length > 0) {
        return { Messages: received.map((message) => this.view(message, systemNames, attributeFilter)) };
      }
      const remaining = deadline - this.now();
      if (remaining <= 0) return {};
      await this.waitForChange(Math.min(remaining, this.untilNextVisible(queue)), aborted);
    }
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
        this.wake();
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

  private view(message: StoredMessage, systemNames: Set<string>, attributeFilter: string[]): Json {
    const all = systemNames.has("All");
    const system: Record<string, string | undefined> = {
      SenderId: ACCOUNT_ID,
      SentTimestamp: String(message.sentAt),
      ApproximateReceiveCount: String(message.receiveCount),
      ApproximateFirstReceiveTimestamp:
        message.firstReceiveAt === undefined ? undefined : String(message.firstReceiveAt),
      AWSTraceHeader: message.awsTraceHeader,
      DeadLetterQueueSourceArn: message.deadLetterSourceArn,
    };
    const attributes: Record<string, string> = {};
    for (const name of MESSAGE_SYSTEM_ATTRIBUTES) {
      const value = system[name];
      if (value !== undefined && (all || systemNames.has(name))) attributes[name] = value;
    }
    const messageAttributes: Record<string, MessageAttributeValue> = {};
    for (const [name, value] of Object.entries(message.messageAttributes)) {
      const wanted = attributeFilter.some(
        (filter) =>
          filter === "All" ||
          filter === ".*" ||
          filter === name ||
          (filter.endsWith(".*") && name.startsWith(filter.slice(0, -1))),
      );
      if (wanted) messageAttributes[name] = value;
    }
    const view: Json = {
      MessageId: message.messageId,
      ReceiptHandle: message.receiptHandle,
      MD5OfBody: message.md5OfBody,
      Body: message.body,
    };
    if (Object.keys(attributes).length > 0) view.Attributes = attributes;
    if (Object.keys(messageAttributes).length > 0) {
      view.MessageAttributes = messageAttributes;
      view.MD5OfMessageAttributes = md5OfMessageAttributes(messageAttributes);
    }
    return view;
  }

  private waitForChange(ms: number, aborted: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        aborted.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.waiters.add(done);
      aborted.addEventListener("abort", done);
    });
  }

  /** Real milliseconds until the next delayed or in-flight message becomes visible. */
  private untilNextVisible(queue: Queue): number {
    const now = this.now();
    const pending = queue.messages.filter((message) => message.visibleAt > now).map((m) => m.visibleAt - now);
    return pending.length > 0 ? Math.min(...pending) : Number.POSITIVE_INFINITY;
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
    if (visibilityTimeout === 0) this.wake();
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

  private batchEntries(params: Params): Params[] {
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
    return entries.map((entry) => new Params(entry, "InvalidParameterValue", "MissingParameter"));
  }

  private batch(params: Params, apply: (queue: Queue, entry: Params) => void): Json {
    const queue = this.queue(params.string("QueueUrl"));
    const successful: Json[] = [];
    const failed: Json[] = [];
    for (const entry of this.batchEntries(params)) {
      const id = entry.string("Id");
      try {
        apply(queue, entry);
        successful.push({ Id: id });
      } catch (error) {
        if (!(error instanceof AwsError)) throw error;
        failed.push({ Id: id, SenderFault: true, Code: error.code, Message: error.message });
      }
    }
    return { Successful: successful, Failed: failed };
  }

  private listDeadLetterSourceQueues(params: Params): Json {
    const deadLetterQueue = this.queue(params.string("QueueUrl"));
    const urls = this.redriveSources(deadLetterQueue).map((queue) => queue.url);
    const { items, next } = page(
      urls,
      params.optString("NextToken"),
      params.optInt("MaxResults", 1, 1000) ?? 1000,
    );
    return { queueUrls: items, NextToken: next };
  }

  /**
   * Moves every message in the dead-letter queue at once, in flight or not, and resets its
   * receive count. Without a destination each message returns to the queue it was dead-lettered
   * from, or failing that to the first queue whose RedrivePolicy names this one.
   */
  private startMessageMoveTask(params: Params): Json {
    const sourceArn = params.string("SourceArn");
    const source = this.byArn(sourceArn, "SourceArn");
    const redriveSources = this.redriveSources(source);
    const fallback = redriveSources[0];
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
    const task: MoveTask = {
      taskHandle: Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn })).toString("base64"),
      sourceArn,
      destinationArn,
      maxNumberOfMessagesPerSecond,
      moved: messages.length,
      startedAt: now,
    };
    source.moveTasks.unshift(task);
    this.wake();
    return { TaskHandle: task.taskHandle };
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

  private redriveSources(deadLetterQueue: Queue): Queue[] {
    return [...this.queues.values()].filter(
      (queue) =>
        parseRedrivePolicy(queue.attributes.RedrivePolicy)?.deadLetterTargetArn === deadLetterQueue.arn,
    );
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
        normalized[key] = value === "" ? "" : this.normalizeRedrivePolicy(value, ownArn);
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

function withoutEmpty(attributes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== ""));
}

function parseRedrivePolicy(value: string | undefined): RedrivePolicy | undefined {
  return value ? (JSON.parse(value) as RedrivePolicy) : undefined;
}

function parseMessageAttributes(raw: unknown): Record<string, MessageAttributeValue> {
  if (raw === undefined || raw === null) return {};
  const invalid = (reason: string) => new AwsError("InvalidParameterValue", `Message attribute ${reason}`);
  if (!isObject(raw)) throw invalid("map is malformed.");
  const entries = Object.entries(raw);
  if (entries.length > 10) throw invalid("count must not exceed 10.");
  const result: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of entries) {
    if (
      !isObject(value) ||
      typeof value.DataType !== "string" ||
      !/^(String|Number|Binary)(\..+)?$/.test(value.DataType)
    ) {
      throw invalid(`'${name}' must have a DataType of String, Number or Binary.`);
    }
    const binary = value.DataType.startsWith("Binary");
    const field = binary ? value.BinaryValue : value.StringValue;
    if (typeof field !== "string") {
      throw invalid(`'${name}' must contain a non-empty ${binary ? "BinaryValue" : "StringValue"}.`);
    }
    result[name] = binary
      ? { DataType: value.DataType, BinaryValue: field }
      : { DataType: value.DataType, StringValue: field };
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

type ServiceName = "secretsmanager" | "sqs";

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function contentType(service: ServiceName): string {
  return service === "sqs" ? "application/x-amz-json-1.0" : "application/x-amz-json-1.1";
}

function sendJson(res: ServerResponse, service: ServiceName, body: Json): void {
  if (res.destroyed) return;
  res.writeHead(200, { "content-type": contentType(service), "x-amzn-requestid": randomUUID() });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, service: ServiceName, error: AwsError): void {
  if (res.destroyed) return;
  const headers: Record<string, string> = {
    "content-type": contentType(service),
    "x-amzn-requestid": randomUUID(),
  };
  let status = INTERNAL_ERRORS[error.code] ?? error.status;
  let body: Json;
  if (service === "sqs") {
    const [queryCode, queryStatus] = SQS_QUERY_ERRORS[error.code] ?? [error.code, status];
    status = queryStatus;
    headers["x-amzn-query-error"] = `${queryCode};${status >= 500 ? "Receiver" : "Sender"}`;
    body = { __type: `com.amazonaws.sqs#${error.code}`, message: error.message };
  } else {
    body = { __type: error.code, Message: error.message };
  }
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

/** Starts the endpoint on 127.0.0.1 (`port` 0, the default, picks a free one). */
export async function startAwsEndpoint(options: { port?: number } = {}): Promise<AwsEndpoint> {
  let clockOffset = 0;
  const now: Clock = () => Date.now() + clockOffset;
  const counts: Record<string, number> = {};
  const failures = new Map<string, string[]>();
  const stalls = new Map<string, number[]>();
  const stallTimers = new Set<NodeJS.Timeout>();

  const server = createServer();
  // Longer than the SDK keeps an idle socket, so a reused connection is never closed under it.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const secretsManager = new SecretsManagerService(now);
  const sqs = new SqsService(now, url);

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = String(req.headers["x-amz-target"] ?? "");
    const [prefix = "", operation = ""] = target.split(".", 2);
    const service: ServiceName = prefix === "AmazonSQS" ? "sqs" : "secretsmanager";
    const raw = await readBody(req);
    if (prefix !== "AmazonSQS" && prefix !== "secretsmanager") {
      sendError(res, service, new AwsError("UnknownOperationException", `Unknown X-Amz-Target "${target}".`));
      return;
    }
    counts[operation] = (counts[operation] ?? 0) + 1;
    let input: unknown;
    try {
      input = raw === "" ? {} : JSON.parse(raw);
    } catch {
      input = undefined;
    }
    if (!isObject(input)) {
      sendError(
        res,
        service,
        new AwsError("SerializationException", "The request body is not a JSON object."),
      );
      return;
    }
    // Counted even when it is about to fail or stall, as the real service would have seen the call.
    const injected = failures.get(operation)?.shift();
    const holdMs = injected === undefined ? stalls.get(operation)?.shift() : undefined;
    const faulted = injected !== undefined || holdMs !== undefined;
    if (faulted && service === "secretsmanager" && operation === "GetSecretValue")
      secretsManager.recordGetSecretValue(input);
    if (holdMs !== undefined) {
      const timer = setTimeout(() => {
        stallTimers.delete(timer);
        req.socket.resetAndDestroy();
      }, holdMs);
      stallTimers.add(timer);
      return;
    }
    if (injected !== undefined) {
      sendError(res, service, new AwsError(injected, `Injected failure for ${operation}.`));
      return;
    }
    const aborted = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort();
    });
    try {
      const output =
        service === "sqs"
          ? await sqs.handle(operation, input, aborted.signal)
          : secretsManager.handle(operation, input);
      sendJson(res, service, output);
    } catch (error) {
      const known =
        error instanceof AwsError
          ? error
          : new AwsError(service === "sqs" ? "InternalError" : "InternalServiceError", String(error), 500);
      sendError(res, service, known);
    }
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    handleRequest(req, res).catch(() => {
      // Only reading the request body can fail here; the client has gone or sent garbage.
      res.destroy();
    });
  });

  return {
    url,
    port,
    putSecret: (name, secretString) => secretsManager.putSecret(name, secretString),
    deleteSecret: (name) => secretsManager.deleteSecret(name),
    getSecretValueCalls: (name) => secretsManager.getSecretValueCalls(name),
    createQueue: (name, attributes) => sqs.createQueue(name, attributes),
    queueStats: (nameOrUrl) => sqs.queueStats(nameOrUrl),
    peekMessages: (nameOrUrl) => sqs.peekMessages(nameOrUrl),
    failNext(operation, count = 1, errorType) {
      const isSqs = (SQS_OPERATIONS as readonly string[]).includes(operation);
      if (!isSqs && !(SECRETS_MANAGER_OPERATIONS as readonly string[]).includes(operation)) {
        throw new Error(`failNext: unknown operation "${operation}"`);
      }
      const type = errorType ?? (isSqs ? "InternalError" : "InternalServiceError");
      failures.set(operation, [...(failures.get(operation) ?? []), ...Array<string>(count).fill(type)]);
    },
    stallNext(operation, holdMs) {
      if (![...SQS_OPERATIONS, ...SECRETS_MANAGER_OPERATIONS].some((known) => known === operation)) {
        throw new Error(`stallNext: unknown operation "${operation}"`);
      }
      stalls.set(operation, [...(stalls.get(operation) ?? []), holdMs]);
    },
    callCounts: () => ({ ...counts }),
    advanceClock(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error("advanceClock: ms must be a non-negative number");
      clockOffset += ms;
      sqs.wake();
    },
    async close() {
      for (const timer of stallTimers) clearTimeout(timer);
      sqs.close();
      // Let woken long polls answer before their connections go.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

// Run as a script only when this very file is the entry point: inside an esbuild bundle
// `require.main === module` is true for whatever the bundle's entry is.
if (
  typeof require !== "undefined" &&
  typeof module !== "undefined" &&
  require.main === module &&
  /aws-endpoint\.[cm]?[jt]s$/.test(process.argv[1] ?? "")
) {
  const raw = process.env.AWS_ENDPOINT_PORT ?? "4566";
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`AWS_ENDPOINT_PORT must be a port number (0-65535), got "${raw}"`);
    process.exit(1);
  }
  startAwsEndpoint({ port }).then(
    (endpoint) => {
      console.log(`Local AWS endpoint (Secrets Manager, SQS) listening on ${endpoint.url}`);
      console.log(`  AWS_ENDPOINT_URL_SECRETS_MANAGER=${endpoint.url} AWS_ENDPOINT_URL_SQS=${endpoint.url}`);
      const stop = () => {
        endpoint.close().then(() => process.exit(0));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
