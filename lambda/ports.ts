// The narrow interfaces the relay's domain code depends on. Each has an AWS (or HTTP)
// implementation for production and an in-memory twin for unit tests and the local harness.
import type { RelayConfig } from "./config";
import type { SecretCache } from "./secret-cache";
import type { Telemetry } from "./telemetry";

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Fetches a secret's current string; the caching layer sits above it. */
export interface SecretSource {
  getSecretString(secretId: string): Promise<string>;
}

import type { DeliveryState } from "./facts";

export type { DeliveryState } from "./facts";

export const TERMINAL_STATES: readonly DeliveryState[] = [
  "deleted",
  "not_found",
  "rejected",
  "dead_lettered",
];

export interface LedgerKey {
  readonly vendorId: string;
  readonly webhookId: string;
}

export interface LedgerRecord extends LedgerKey {
  readonly referenceId: string;
  /** SHA-256 (hex) of the raw body: the same webhook id with another body is refused. */
  readonly bodyHash: string;
  readonly state: DeliveryState;
  /** OPS-COM attempts made so far. */
  readonly attempts: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Who holds the in-flight claim; a transition can require it. */
  readonly claimId: string;
  /** Epoch ms after which an `in_progress` claim is considered abandoned (a crashed attempt). */
  readonly leaseUntil: number;
  /** Epoch seconds; DynamoDB's TTL attribute. */
  readonly expiresAt: number;
  readonly lastError?: string;
  readonly opscomErrorCode?: number;
  /**
   * What happened, oldest first: the claim, then one entry per transition (each OPS-COM outcome,
   * parking, dead-lettering, settling). At most `MAX_HISTORY` entries: the first (received) is
   * kept and the oldest after it dropped. Empty for records written before history existed.
   */
  readonly history: readonly HistoryEntry[];
}

/** Entries a record keeps: the default schedule's 1 claim + 1 inline outcome + 7 retries fit. */
export const MAX_HISTORY = 12;
/** Longest note an entry keeps: enough for OPS-COM's messages, small enough for the 1 KB write unit. */
export const HISTORY_NOTE_CHARS = 40;

export interface HistoryEntry {
  /** Epoch ms. */
  readonly at: number;
  readonly state: DeliveryState;
  /** OPS-COM attempts so far; absent when the write did not say (a claim). */
  readonly attempts?: number;
  readonly opscomErrorCode?: number;
  /** The fault or OPS-COM's message, cut to `HISTORY_NOTE_CHARS`. */
  readonly note?: string;
}

/** The entry a transition appends: only what the patch says, the note cut on code points. */
export function historyEntryOf(patch: LedgerPatch): HistoryEntry {
  const note =
    patch.lastError === undefined
      ? undefined
      : Array.from(patch.lastError).slice(0, HISTORY_NOTE_CHARS).join("");
  return {
    at: patch.now,
    state: patch.state,
    ...(patch.attempts === undefined ? {} : { attempts: patch.attempts }),
    ...(patch.opscomErrorCode === undefined ? {} : { opscomErrorCode: patch.opscomErrorCode }),
    ...(note === undefined || note === "" ? {} : { note }),
  };
}

/** Appends to a history, keeping the first entry and at most `MAX_HISTORY` in all. */
export function appendHistory(history: readonly HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  const next = [...history, entry];
  return next.length <= MAX_HISTORY
    ? next
    : [next[0] as HistoryEntry, ...next.slice(next.length - MAX_HISTORY + 1)];
}

export interface ClaimRequest extends LedgerKey {
  readonly referenceId: string;
  readonly bodyHash: string;
  readonly claimId: string;
  readonly now: number;
  readonly leaseMs: number;
  readonly expiresAt: number;
}

export type ClaimResult =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly existing: LedgerRecord };

export interface LedgerPatch {
  readonly state: DeliveryState;
  readonly now: number;
  readonly attempts?: number;
  readonly lastError?: string;
  readonly opscomErrorCode?: number;
}

/** A record a new claim may take: a lapsed in-flight claim of the same body (see `Ledger.claim`). */
export function isClaimable(existing: LedgerRecord, request: ClaimRequest): boolean {
  return (
    existing.state === "in_progress" &&
    existing.leaseUntil <= request.now &&
    existing.bodyHash === request.bodyHash
  );
}

export interface Ledger {
  /**
   * Claims vendor + webhook id. Succeeds when there is no record, when the record is already
   * this `claimId`'s (a retried write whose first answer was lost), or when the record is an
   * `in_progress` claim of the same body whose lease has run out (its owner crashed).
   */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  /** Moves a record on only if it is in one of `from` (and, when given, still held by `claimId`). */
  transition(
    key: LedgerKey,
    expect: { readonly from: readonly DeliveryState[]; readonly claimId?: string },
    patch: LedgerPatch,
  ): Promise<boolean>;
  /** Drops a claim so the vendor's retry is not mistaken for a duplicate. */
  release(key: LedgerKey, claimId: string): Promise<void>;
  get(key: LedgerKey): Promise<LedgerRecord | undefined>;
  byReference(referenceId: string): Promise<LedgerRecord[]>;
}

/** What the delivery console reads besides single records. */
export interface BrowsableLedger extends Ledger {
  /**
   * Records created from `sinceMs` to `untilMs`, newest first, at most `limit` (the index is read
   * bucket by bucket, never the whole table).
   */
  recent(sinceMs: number, untilMs: number, limit: number): Promise<LedgerRecord[]>;
}

/** What the retry queue carries: never the token. */
export interface RetryMessage {
  readonly vendorId: string;
  readonly webhookId: string;
  readonly referenceId: string;
  /** OPS-COM attempts made before this message was sent. */
  readonly attempt: number;
  readonly firstSeenAt: string;
  /**
   * The ingest claim that parked it: if the ledger could not record `queued`, the record is
   * still that claim's `in_progress`, and the worker may finish it without waiting for the lease.
   * Absent in messages parked before this field existed.
   */
  readonly claimId?: string;
  /**
   * An outcome OPS-COM already gave whose ledger write failed: the worker records it later
   * and calls nobody. Absent for a delivery still to be made.
   */
  readonly known?: KnownOutcome;
}

export interface KnownOutcome {
  readonly state: "deleted" | "not_found" | "rejected";
  readonly attempts: number;
  readonly lastError?: string;
  readonly opscomErrorCode?: number;
}

export interface RetryQueue {
  enqueue(message: RetryMessage, delaySeconds: number): Promise<void>;
  /** Hides a received message for `delaySeconds` before its next attempt. */
  retryLater(receiptHandle: string, delaySeconds: number): Promise<void>;
}

export type OpscomOutcome =
  | { readonly kind: "deleted"; readonly httpStatus: number }
  | { readonly kind: "not_found"; readonly code: number; readonly message: string }
  /** 9000/9001/9002: the token or client code is not accepted — refresh once, then an operator problem. */
  | { readonly kind: "token_rejected"; readonly code: number; readonly message: string }
  | {
      readonly kind: "rejected";
      readonly code?: number;
      readonly message: string;
      readonly httpStatus: number;
    }
  | {
      readonly kind: "transient";
      readonly reason: string;
      readonly httpStatus?: number;
      /**
       * An answer OPS-COM did not write (no ErrorCode and no success body: a WAF or proxy page, a
       * wrong base URL or path): parked like any transient fault, and counted on its own.
       */
      readonly unrecognised?: true;
    };

export interface DeleteRequest {
  readonly clientCode: string;
  readonly token: string;
  readonly referenceId: string;
}

export interface AttemptOptions {
  /** This attempt's timeout when shorter than the client's own (the ingest handler's budget). */
  readonly timeoutMs?: number;
}

export interface OpscomClient {
  deletePermit(request: DeleteRequest, options?: AttemptOptions): Promise<OpscomOutcome>;
}

/** What both handlers are built from (the ingest handler takes a few more). */
export interface RelayDeps {
  readonly config: RelayConfig;
  readonly clock: Clock;
  readonly secrets: SecretSource;
  readonly ledger: Ledger;
  readonly queue: RetryQueue;
  readonly opscom: OpscomClient;
  readonly telemetry: Telemetry;
  readonly random?: () => number;
  /** Shared by both handlers in one process (the local harness), so both see one token. */
  readonly tokens?: SecretCache<string>;
}
