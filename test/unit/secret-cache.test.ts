// The read-through secret cache (TTL, shared misses, rate-limited refresh) and the two secret
// formats it parses. Clock and source are in-memory, so every instant is the test's choice.
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemorySecrets } from "../../lambda/adapters/memory";
import { ANSWER_BUDGET } from "../../lambda/budget";
import type { SecretSource } from "../../lambda/ports";
import {
  parseSigningSecrets,
  parseTokenSecret,
  SecretCache,
  SecretFormatError,
} from "../../lambda/secret-cache";
import { FakeClock } from "./support/fakes";

const ID = "opscom/token";
const TTL_MS = 300_000;

function cacheWith(initial: Record<string, string> = { [ID]: "token-1" }, ttlMs = TTL_MS) {
  const clock = new FakeClock();
  const source = new MemorySecrets(initial);
  const cache = new SecretCache(source, clock, ttlMs, parseTokenSecret);
  return { clock, source, cache, calls: () => source.calls.get(ID) ?? 0 };
}

describe("SecretCache.get", () => {
  it("reuses a value until just before the TTL", async () => {
    const { clock, source, cache, calls } = cacheWith();
    expect(await cache.get(ID)).toBe("token-1");
    source.values.set(ID, "token-2");
    clock.advanceMs(TTL_MS - 1);
    expect(await cache.get(ID)).toBe("token-1");
    expect(calls()).toBe(1);
  });

  it("fetches again once the TTL has passed", async () => {
    const { clock, source, cache, calls } = cacheWith();
    await cache.get(ID);
    source.values.set(ID, "token-2");
    clock.advanceMs(TTL_MS);
    expect(await cache.get(ID)).toBe("token-2");
    expect(calls()).toBe(2);
  });

  it("with a TTL of zero, fetches every time", async () => {
    const { cache, calls } = cacheWith(undefined, 0);
    await cache.get(ID);
    await cache.get(ID);
    expect(calls()).toBe(2);
  });

  it("keeps entries per secret id", async () => {
    const { cache, source } = cacheWith({ a: "token-a", b: "token-b" });
    expect(await Promise.all([cache.get("a"), cache.get("b"), cache.get("a")])).toEqual([
      "token-a",
      "token-b",
      "token-a",
    ]);
    expect([source.calls.get("a"), source.calls.get("b")]).toEqual([1, 1]);
  });

  it("shares one fetch between concurrent misses", async () => {
    const { cache, calls } = cacheWith();
    const values = await Promise.all([cache.get(ID), cache.get(ID), cache.get(ID), cache.refresh(ID)]);
    expect(values).toEqual(["token-1", "token-1", "token-1", "token-1"]);
    expect(calls()).toBe(1);
  });

  it("does not cache a failed fetch", async () => {
    const { cache, source, calls } = cacheWith({});
    await expect(cache.get(ID)).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    source.values.set(ID, "token-1");
    expect(await cache.get(ID)).toBe("token-1");
    expect(calls()).toBe(2);
  });

  it("does not cache a value that fails to parse", async () => {
    const { cache, source, calls } = cacheWith({ [ID]: "not a token!" });
    await expect(cache.get(ID)).rejects.toBeInstanceOf(SecretFormatError);
    source.values.set(ID, "token-1");
    expect(await cache.get(ID)).toBe("token-1");
    expect(calls()).toBe(2);
  });

  it("concurrent gets after expiry share one refetch", async () => {
    const { clock, cache, source } = cacheWith();
    await cache.get(ID);
    source.values.set(ID, "token-2");
    clock.advanceMs(TTL_MS);
    const [a, b] = await Promise.all([cache.get(ID), cache.get(ID)]);
    expect([a, b]).toEqual(["token-2", "token-2"]);
    expect(source.calls.get(ID)).toBe(2);
  });
});

describe("SecretCache.refresh", () => {
  it("answers undefined without fetching while the last forced refresh is younger than minAge", async () => {
    const { clock, cache, calls } = cacheWith();
    expect(await cache.refresh(ID, 2000)).toBe("token-1");
    clock.advanceMs(1999);
    expect(await cache.refresh(ID, 2000)).toBeUndefined();
    expect(calls()).toBe(1);
  });

  it("refetches on the first forced refresh after a cold start's read (a secret rotated since)", async () => {
    const { clock, cache, source, calls } = cacheWith();
    await cache.get(ID);
    source.values.set(ID, "token-2");
    clock.advanceMs(1000);
    expect(await cache.refresh(ID, 60_000)).toBe("token-2");
    expect(calls()).toBe(2);
  });

  it("counts the limit from the last forced refresh, not from ordinary reads in between", async () => {
    const { clock, cache, source, calls } = cacheWith(undefined, 10_000);
    expect(await cache.refresh(ID, 60_000)).toBe("token-1");
    clock.advanceMs(30_000);
    await cache.get(ID); // the TTL ran out: an ordinary refetch
    source.values.set(ID, "token-2");
    clock.advanceMs(29_999);
    expect(await cache.refresh(ID, 60_000)).toBeUndefined();
    clock.advanceMs(1);
    expect(await cache.refresh(ID, 60_000)).toBe("token-2");
    expect(calls()).toBe(3);
  });

  it("refetches once the last forced refresh is minAge old, and later gets see the new value", async () => {
    const { clock, cache, source, calls } = cacheWith();
    await cache.refresh(ID, 2000);
    source.values.set(ID, "token-2");
    clock.advanceMs(2000);
    expect(await cache.refresh(ID, 2000)).toBe("token-2");
    expect(await cache.get(ID)).toBe("token-2");
    expect(calls()).toBe(2);
  });

  it("refetches at once without a minAge", async () => {
    const { cache, source } = cacheWith();
    await cache.get(ID);
    source.values.set(ID, "token-2");
    expect(await cache.refresh(ID)).toBe("token-2");
  });

  it("fetches when nothing is cached yet, whatever the minAge", async () => {
    const { cache, calls } = cacheWith();
    expect(await cache.refresh(ID, 60_000)).toBe("token-1");
    expect(calls()).toBe(1);
  });

  it("restarts the TTL from the refresh", async () => {
    const { clock, cache, source, calls } = cacheWith();
    await cache.get(ID);
    clock.advanceMs(TTL_MS - 10);
    await cache.refresh(ID);
    source.values.set(ID, "token-2");
    clock.advanceMs(TTL_MS - 1);
    expect(await cache.get(ID)).toBe("token-1");
    expect(calls()).toBe(2);
  });
});

describe("SecretCache: a fetch that hangs", () => {
  afterEach(() => vi.useRealTimers());

  /** A source whose first answer never comes (a stalled endpoint) and later ones do. */
  function hangingOnce(values: string[]) {
    let calls = 0;
    const source: SecretSource = {
      getSecretString: () => {
        calls++;
        if (calls === 1) return new Promise<string>(() => undefined);
        return Promise.resolve(values[calls - 2] ?? "token-late");
      },
    };
    return { source, calls: () => calls };
  }

  function settledOf<T>(promise: Promise<T>): { value?: T; error?: unknown } {
    const state: { value?: T; error?: unknown } = {};
    promise.then(
      (value) => {
        state.value = value;
      },
      (error: unknown) => {
        state.error = error;
      },
    );
    return state;
  }

  it("is dropped at its deadline, so the next caller fetches afresh instead of joining it", async () => {
    vi.useFakeTimers();
    const { source, calls } = hangingOnce(["token-2"]);
    const cache = new SecretCache(source, new FakeClock(), TTL_MS, parseTokenSecret, 500);
    const first = settledOf(cache.get(ID));
    await vi.advanceTimersByTimeAsync(300);
    const joined = settledOf(cache.get(ID));
    await vi.advanceTimersByTimeAsync(200);
    expect(first.error).toMatchObject({ name: "TimeoutError" });
    expect(joined.error).toMatchObject({ name: "TimeoutError" });
    expect(await cache.get(ID)).toBe("token-2");
    expect(calls()).toBe(2);
  });

  it("is bounded by the production secret read budget when no deadline is given", async () => {
    vi.useFakeTimers();
    const { source } = hangingOnce([]);
    const cache = new SecretCache(source, new FakeClock(), TTL_MS, parseTokenSecret);
    const first = settledOf(cache.get(ID));
    await vi.advanceTimersByTimeAsync(ANSWER_BUDGET.secretReadMs - 1);
    expect(first.error).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(first.error).toMatchObject({ name: "TimeoutError" });
  });

  it("keeps a warm-up's hang from failing a later get for longer than one deadline", async () => {
    vi.useFakeTimers();
    const { source } = hangingOnce(["token-2"]);
    const cache = new SecretCache(source, new FakeClock(), TTL_MS, parseTokenSecret, 500);
    cache.warm(ID);
    await vi.advanceTimersByTimeAsync(500);
    expect(await cache.get(ID)).toBe("token-2");
  });
});

const SENTINEL = "Sup3r-Secret-Value";

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretFormatError);
    return (error as Error).message;
  }
  throw new Error("expected a SecretFormatError");
}

describe("parseTokenSecret", () => {
  it.each([
    ["the plain token", "tok-123", "tok-123"],
    ["the plain token with whitespace around it", "  tok-123\n", "tok-123"],
    ["JSON apiToken", JSON.stringify({ apiToken: "tok-123" }), "tok-123"],
    ["JSON apiToken with whitespace", ` ${JSON.stringify({ apiToken: " tok-123 ", note: "x" })} `, "tok-123"],
    ["a 50-character token", "a".repeat(50), "a".repeat(50)],
  ])("reads %s", (_what, raw, expected) => {
    expect(parseTokenSecret(raw, ID)).toBe(expected);
  });

  it.each([
    ["JSON that does not parse", `{"apiToken": "${SENTINEL}"`, "does not parse"],
    ["JSON without apiToken", JSON.stringify({ token: SENTINEL }), '"apiToken"'],
    ["JSON with a numeric apiToken", JSON.stringify({ apiToken: 12345 }), '"apiToken"'],
    ["a token with other characters", `${SENTINEL}!`, "letters, digits and dashes"],
    ["a token with a space", `${SENTINEL} x`, "letters, digits and dashes"],
    ["a JSON token with other characters", JSON.stringify({ apiToken: `${SENTINEL}_x` }), "letters, digits"],
    ["an empty secret", "", "letters, digits and dashes"],
    ["a token over 200 characters", SENTINEL.replace(/\W/g, "").repeat(20), "letters, digits and dashes"],
  ])("refuses %s, naming the secret id but never the value", (_what, raw, hint) => {
    const message = messageOf(() => parseTokenSecret(raw, ID));
    expect(message).toContain(ID);
    expect(message).toContain(hint);
    expect(message).not.toContain(SENTINEL);
    expect(message).not.toContain(SENTINEL.replace(/\W/g, ""));
  });
});

describe("parseSigningSecrets", () => {
  it("reads the list in order", () => {
    expect(
      parseSigningSecrets(JSON.stringify({ signingSecrets: ["whsec_new", "whsec_old"] }), "v/acme"),
    ).toEqual(["whsec_new", "whsec_old"]);
  });

  it.each([
    ["not JSON", `whsec_${SENTINEL}`],
    ["JSON without signingSecrets", JSON.stringify({ secret: `whsec_${SENTINEL}` })],
    ["signingSecrets not an array", JSON.stringify({ signingSecrets: `whsec_${SENTINEL}` })],
    ["an empty list", JSON.stringify({ signingSecrets: [] })],
    ["a list with a non-string", JSON.stringify({ signingSecrets: [`whsec_${SENTINEL}`, 7] })],
    ["a list with an empty string", JSON.stringify({ signingSecrets: [`whsec_${SENTINEL}`, ""] })],
    ["a JSON array", JSON.stringify([`whsec_${SENTINEL}`])],
    ["a JSON string", JSON.stringify(`whsec_${SENTINEL}`)],
  ])("refuses %s, naming the secret id but never the value", (_what, raw) => {
    const message = messageOf(() => parseSigningSecrets(raw, "v/acme"));
    expect(message).toContain("v/acme");
    expect(message).toContain("signingSecrets");
    expect(message).not.toContain(SENTINEL);
  });

  // BUG (lambda/secret-cache.ts, parseSigningSecrets): JSON.parse("null") succeeds and
  // `(parsed as ...).signingSecrets` then throws a TypeError ("Cannot read properties of null")
  // instead of a SecretFormatError naming the secret, so the operator sees only "TypeError".
  it("refuses JSON null with a SecretFormatError", () => {
    expect(messageOf(() => parseSigningSecrets("null", "v/acme"))).toContain("v/acme");
  });
});
