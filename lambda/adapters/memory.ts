// In-memory twins of the ledger, the retry queue and Secrets Manager: for unit tests and the
// local harness only (they vanish with the process). Same semantics as the AWS adapters.
import { randomUUID } from "node:crypto";
import type { SQSRecord } from "aws-lambda";
import type {
  BrowsableLedger,
  ClaimRequest,
  ClaimResult,
  Clock,
  DeliveryState,
  LedgerKey,
  LedgerPatch,
  LedgerRecord,
  RetryMessage,
  RetryQueue,
  SecretSource,
} from "../ports";
import { appendHistory, historyEntryOf, isClaimable, TERMINAL_STATES } from "../ports";

const keyOf = (key: LedgerKey) => `${key.vendorId}#${key.webhookId}`;

export class MemoryLedger implements BrowsableLedger {
  readonly records = new Map<string, LedgerRecord>();
  /** Settled records dropped by the bound, by state: with `records`, every webhook ever claimed. */
  readonly forgotten: Partial<Record<DeliveryState, number>> = {};

  /**
   * @param maxRecords past this many, the oldest settled records are forgotten (a long-running
   *   local relay must not grow without bound; DynamoDB's TTL does this job in AWS). Records
   *   still in flight or queued are never dropped.
   */
  constructor(private readonly maxRecords = Number.POSITIVE_INFINITY) {}

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    if (this.records.size >= this.maxRecords) this.prune();
    const existing = this.records.get(keyOf(request));
    if (existing?.claimId === request.claimId && existing.state === "in_progress") return { claimed: true };
    if (existing && !isClaimable(existing, request)) return { claimed: false, existing };
    const at = new Date(request.now).toISOString();
    this.records.set(keyOf(request), {
      vendorId: request.vendorId,
      webhookId: request.webhookId,
      referenceId: request.referenceId,
      bodyHash: request.bodyHash,
      state: "in_progress",
      attempts: existing?.attempts ?? 0,
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
      claimId: request.claimId,
      leaseUntil: request.now + request.leaseMs,
      expiresAt: request.expiresAt,
      // A lapsed claim taken over keeps its history: the crashed attempt left no outcome to add.
      history: existing?.history ?? [{ at: request.now, state: "in_progress" }],
    });
    return { claimed: true };
  }

  private prune(): void {
    const target = Math.floor(this.maxRecords * 0.9);
    for (const [key, record] of this.records) {
      if (this.records.size <= target) break;
      if (TERMINAL_STATES.includes(record.state)) {
        this.records.delete(key);
        this.forgotten[record.state] = (this.forgotten[record.state] ?? 0) + 1;
      }
    }
  }

  async transition(
    key: LedgerKey,
    expect: { readonly from: readonly DeliveryState[]; readonly claimId?: string },
    patch: LedgerPatch,
  ): Promise<boolean> {
    const record = this.records.get(keyOf(key));
    if (!record || !expect.from.includes(record.state)) return false;
    if (expect.claimId !== undefined && record.claimId !== expect.claimId) return false;
    this.records.set(keyOf(key), {
      ...record,
      state: patch.state,
      updatedAt: new Date(patch.now).toISOString(),
      ...(patch.attempts === undefined ? {} : { attempts: patch.attempts }),
      ...(patch.lastError === undefined ? {} : { lastError: patch.lastError }),
      ...(patch.opscomErrorCode === undefined ? {} : { opscomErrorCode: patch.opscomErrorCode }),
      history: appendHistory(record.history, historyEntryOf(patch)),
    });
    return true;
  }

  async release(key: LedgerKey, claimId: string): Promise<void> {
    const record = this.records.get(keyOf(key));
    if (record?.state === "in_progress" && record.claimId === claimId) this.records.delete(keyOf(key));
  }

  async get(key: LedgerKey): Promise<LedgerRecord | undefined> {
    return this.records.get(keyOf(key));
  }

  async byReference(referenceId: string): Promise<LedgerRecord[]> {
    return [...this.records.values()]
      .filter((r) => r.referenceId === referenceId)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async recent(sinceMs: number, untilMs: number, limit: number): Promise<LedgerRecord[]> {
    const since = new Date(sinceMs).toISOString();
    const until = new Date(untilMs).toISOString();
    return [...this.records.values()]
      .filter((r) => r.createdAt >= since && r.createdAt <= until)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, limit);
  }
}

interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  visibleAt: number;
  receiveCount: number;
  receiptHandle?: string;
}

/**
 * A retry queue with SQS's visibility semantics and a dead-letter list after
 * `maxReceiveCount` receives; `receive()` yields records shaped like an SQS event's.
 */
export class MemoryQueue implements RetryQueue {
  readonly messages: QueuedMessage[] = [];
  readonly deadLetters: QueuedMessage[] = [];
  failSends = 0;

  constructor(
    private readonly clock: Clock,
    private readonly maxReceiveCount: number,
    private readonly visibilityTimeoutSeconds = 30,
  ) {}

  async enqueue(message: RetryMessage, delaySeconds: number): Promise<void> {
    if (this.failSends > 0) {
      this.failSends--;
      throw Object.assign(new Error("queue unavailable"), { name: "QueueUnavailable" });
    }
    this.messages.push({
      messageId: randomUUID(),
      body: JSON.stringify(message),
      visibleAt: this.clock.now() + delaySeconds * 1000,
      receiveCount: 0,
    });
  }

  async retryLater(receiptHandle: string, delaySeconds: number): Promise<void> {
    const message = this.messages.find((m) => m.receiptHandle === receiptHandle);
    if (message) message.visibleAt = this.clock.now() + delaySeconds * 1000;
  }

  receive(max = 10): SQSRecord[] {
    const now = this.clock.now();
    const records: SQSRecord[] = [];
    for (const message of [...this.messages]) {
      if (records.length >= max) break;
      if (message.visibleAt > now) continue;
      if (message.receiveCount >= this.maxReceiveCount) {
        this.messages.splice(this.messages.indexOf(message), 1);
        this.deadLetters.push(message);
        continue;
      }
      message.receiveCount++;
      message.receiptHandle = randomUUID();
      message.visibleAt = now + this.visibilityTimeoutSeconds * 1000;
      records.push(toRecord(message, now));
    }
    return records;
  }

  delete(receiptHandle: string): void {
    const index = this.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    if (index >= 0) this.messages.splice(index, 1);
  }

  /** Moves every dead letter back, receive counts reset (SQS's message move task). */
  redrive(): number {
    const moved = this.deadLetters.splice(0);
    for (const m of moved) this.messages.push({ ...m, receiveCount: 0, visibleAt: this.clock.now() });
    return moved.length;
  }

  /** Earliest time a waiting message becomes visible, for a worker loop's sleep. */
  nextVisibleAt(): number | undefined {
    return this.messages.reduce<number | undefined>(
      (min, m) => (min === undefined || m.visibleAt < min ? m.visibleAt : min),
      undefined,
    );
  }
}

function toRecord(message: QueuedMessage, now: number): SQSRecord {
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle as string,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(now),
      SenderId: "local",
      ApproximateFirstReceiveTimestamp: String(now),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:local:000000000000:retry",
    awsRegion: "local",
  };
}

export class MemorySecrets implements SecretSource {
  readonly values = new Map<string, string>();
  readonly calls = new Map<string, number>();

  constructor(initial: Record<string, string> = {}) {
    for (const [id, value] of Object.entries(initial)) this.values.set(id, value);
  }

  async getSecretString(secretId: string): Promise<string> {
    this.calls.set(secretId, (this.calls.get(secretId) ?? 0) + 1);
    const value = this.values.get(secretId);
    if (value === undefined)
      throw Object.assign(new Error(`no secret ${secretId}`), { name: "ResourceNotFoundException" });
    return value;
  }
}
