// A small read-through cache for secrets: reused for the TTL, concurrent misses share one
// fetch, and a forced refresh (token rejected, no signing secret matched) is rate-limited so
// a flood of bad requests cannot turn into a flood of Secrets Manager calls. A shared fetch
// has a deadline: a hung one is dropped, so it cannot wedge every invocation that joins it.
import { ANSWER_BUDGET, withinMs } from "./budget";
import type { Clock, SecretSource } from "./ports";

interface Entry<T> {
  readonly value: T;
  readonly fetchedAt: number;
}

export class SecretCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly inflight = new Map<string, Promise<T>>();
  private readonly forcedAt = new Map<string, number>();

  constructor(
    private readonly source: SecretSource,
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly parse: (secretString: string, secretId: string) => T,
    private readonly fetchTimeoutMs = ANSWER_BUDGET.secretReadMs,
  ) {}

  async get(secretId: string): Promise<T> {
    const entry = this.entries.get(secretId);
    if (entry && this.clock.now() - entry.fetchedAt < this.ttlMs) return entry.value;
    return this.fetch(secretId);
  }

  /** Starts a fetch in the background when the cached value is missing or stale; never throws. */
  warm(secretId: string): void {
    const entry = this.entries.get(secretId);
    if (entry && this.clock.now() - entry.fetchedAt < this.ttlMs) return;
    if (this.inflight.has(secretId)) return;
    this.fetch(secretId).catch(() => undefined);
  }

  /**
   * Fetches again unless the last forced refresh of this secret is younger than `minAgeMs`;
   * answers `undefined` when it did not fetch, so the caller knows nothing new was learnt.
   * Counted from the last *forced* refresh, not the last fetch: otherwise the read made at
   * start-up would block the first refresh after a rotation for the whole interval.
   */
  async refresh(secretId: string, minAgeMs = 0): Promise<T | undefined> {
    const now = this.clock.now();
    const forcedAt = this.forcedAt.get(secretId);
    if (forcedAt !== undefined && now - forcedAt < minAgeMs) return undefined;
    this.forcedAt.set(secretId, now);
    return this.fetch(secretId);
  }

  private fetch(secretId: string): Promise<T> {
    const pending = this.inflight.get(secretId);
    if (pending) return pending;
    let dropped = false;
    const read = this.source.getSecretString(secretId).then((raw) => {
      const value = this.parse(raw, secretId);
      // A dropped fetch answering late must not overwrite what a newer one learnt.
      if (!dropped) this.entries.set(secretId, { value, fetchedAt: this.clock.now() });
      return value;
    });
    read.catch(() => undefined);
    const promise = withinMs(read, this.fetchTimeoutMs, `reading secret ${secretId}`).finally(() => {
      dropped = true;
      if (this.inflight.get(secretId) === promise) this.inflight.delete(secretId);
    });
    this.inflight.set(secretId, promise);
    return promise;
  }
}

export class SecretFormatError extends Error {
  override readonly name = "SecretFormatError";
}

/** The OPS-COM token secret: the token itself, or JSON `{"apiToken": "…"}`. */
export function parseTokenSecret(raw: string, secretId: string): string {
  const text = raw.trim();
  let token = text;
  if (text.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new SecretFormatError(`secret ${secretId} looks like JSON but does not parse`);
    }
    const value = (parsed as { apiToken?: unknown }).apiToken;
    if (typeof value !== "string") throw new SecretFormatError(`secret ${secretId} has no string "apiToken"`);
    token = value.trim();
  }
  if (!/^[A-Za-z0-9-]{1,200}$/.test(token)) {
    throw new SecretFormatError(
      `secret ${secretId} does not hold an OPS-COM API token (letters, digits and dashes)`,
    );
  }
  return token;
}

/** A vendor's signing secrets: JSON `{"signingSecrets": ["whsec_…", …]}`, newest first. */
export function parseSigningSecrets(raw: string, secretId: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new SecretFormatError(`secret ${secretId} must be JSON {"signingSecrets": [...]}`);
  }
  const list =
    typeof parsed === "object" && parsed !== null
      ? (parsed as { signingSecrets?: unknown }).signingSecrets
      : undefined;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((s) => typeof s === "string" && s.length > 0)
  ) {
    throw new SecretFormatError(`secret ${secretId} must hold a non-empty "signingSecrets" array of strings`);
  }
  return list as string[];
}
