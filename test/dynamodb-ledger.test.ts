// The ledger contract, run against both the in-memory twin and the DynamoDB ledger on dynalite
// through the real SDK client, so the twin the unit tests rely on provably behaves like the
// table; then what only the table has (item shape, trimming, errors). The on-call CLI's tests
// are in test/ledger-cli.test.ts.
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  type GetItemCommandOutput,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoLedger, fromItem, MAX_LAST_ERROR_CHARS } from "../lambda/adapters/dynamodb-ledger";
import { MemoryLedger } from "../lambda/adapters/memory";
import { type BrowsableLedger, HISTORY_NOTE_CHARS, type LedgerKey, MAX_HISTORY } from "../lambda/ports";
import { type LedgerTables, startLedgerTables } from "../testkit/dynalite";
import { claimOf, iso, LEASE_MS, T0 } from "../testkit/ledger";

let tables: LedgerTables;

beforeAll(async () => {
  tables = await startLedgerTables("ledger-test");
});

afterAll(async () => {
  await tables?.close();
});

const freshTable = () => tables.fresh();

const KEY: LedgerKey = { vendorId: "acme", webhookId: "msg_1" };

const implementations: Array<{ name: string; make: () => Promise<BrowsableLedger> }> = [
  { name: "MemoryLedger", make: async () => new MemoryLedger() },
  // The default client, so only the environment points it at dynalite.
  { name: "DynamoDB ledger (dynalite)", make: async () => createDynamoLedger(await freshTable()) },
];

describe.each(implementations)("ledger contract: $name", ({ make }) => {
  it("claims a new webhook and stores a full in_progress record", async () => {
    const ledger = await make();
    await expect(ledger.claim(claimOf())).resolves.toEqual({ claimed: true });
    expect(await ledger.get(KEY)).toStrictEqual({
      vendorId: "acme",
      webhookId: "msg_1",
      referenceId: "ref-1",
      bodyHash: "a".repeat(64),
      state: "in_progress",
      attempts: 0,
      createdAt: iso(T0),
      updatedAt: iso(T0),
      claimId: "claim-1",
      leaseUntil: T0 + LEASE_MS,
      expiresAt: Math.floor(T0 / 1000) + 30 * 86_400,
      history: [{ at: T0, state: "in_progress" }],
    });
  });

  it("refuses a duplicate while the lease is live and returns the holder's record", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    const second = await ledger.claim(
      claimOf({ claimId: "claim-2", bodyHash: "b".repeat(64), now: T0 + LEASE_MS - 1 }),
    );
    expect(second.claimed).toBe(false);
    if (second.claimed) return;
    expect(second.existing).toMatchObject({
      claimId: "claim-1",
      bodyHash: "a".repeat(64),
      state: "in_progress",
    });
    expect((await ledger.get(KEY))?.claimId).toBe("claim-1");
  });

  it("takes a claim whose record already carries its claimId as its own (a retried write whose answer was lost)", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    await expect(ledger.claim(claimOf({ now: T0 + 5 }))).resolves.toEqual({ claimed: true });
    expect(await ledger.get(KEY)).toMatchObject({ claimId: "claim-1", state: "in_progress" });
  });

  it("keeps the first body and reference ID when a lapsed claim is tried with another body", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    const other = await ledger.claim(
      claimOf({ claimId: "claim-2", bodyHash: "b".repeat(64), referenceId: "ref-2", now: T0 + LEASE_MS + 1 }),
    );
    expect(other).toMatchObject({
      claimed: false,
      existing: { claimId: "claim-1", bodyHash: "a".repeat(64), referenceId: "ref-1" },
    });
    expect(await ledger.get(KEY)).toMatchObject({
      claimId: "claim-1",
      bodyHash: "a".repeat(64),
      referenceId: "ref-1",
    });
  });

  it("refuses a duplicate of a settled webhook however late it comes", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    await ledger.transition(
      KEY,
      { from: ["in_progress"], claimId: "claim-1" },
      { state: "deleted", now: T0 + 5, attempts: 1 },
    );
    const late = await ledger.claim(claimOf({ claimId: "claim-2", now: T0 + 10 * LEASE_MS }));
    expect(late).toMatchObject({
      claimed: false,
      existing: { state: "deleted", attempts: 1, claimId: "claim-1" },
    });
  });

  it("lets an expired lease be reclaimed, keeping createdAt and attempts and dropping the old error", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    await ledger.transition(
      KEY,
      { from: ["in_progress"] },
      {
        state: "in_progress",
        now: T0 + 1000,
        attempts: 2,
        lastError: "socket hang up",
        opscomErrorCode: 9002,
      },
    );
    const at = T0 + LEASE_MS; // leaseUntil itself counts as expired
    await expect(ledger.claim(claimOf({ claimId: "claim-2", now: at }))).resolves.toEqual({ claimed: true });
    expect(await ledger.get(KEY)).toStrictEqual({
      vendorId: "acme",
      webhookId: "msg_1",
      referenceId: "ref-1",
      bodyHash: "a".repeat(64),
      state: "in_progress",
      attempts: 2,
      createdAt: iso(T0),
      updatedAt: iso(at),
      claimId: "claim-2",
      leaseUntil: at + LEASE_MS,
      expiresAt: Math.floor(T0 / 1000) + 30 * 86_400,
      // The takeover adds nothing: the crashed attempt left no outcome.
      history: [
        { at: T0, state: "in_progress" },
        { at: T0 + 1000, state: "in_progress", attempts: 2, opscomErrorCode: 9002, note: "socket hang up" },
      ],
    });
    // The crashed holder can no longer settle it; the new one can.
    expect(
      await ledger.transition(
        KEY,
        { from: ["in_progress"], claimId: "claim-1" },
        { state: "deleted", now: at },
      ),
    ).toBe(false);
    expect(
      await ledger.transition(
        KEY,
        { from: ["in_progress"], claimId: "claim-2" },
        { state: "deleted", now: at },
      ),
    ).toBe(true);
  });

  it("moves a record only from a listed state and only for the given claim", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    const patch = { state: "deleted" as const, now: T0 + 1, attempts: 1 };
    expect(await ledger.transition(KEY, { from: ["queued"] }, patch)).toBe(false);
    expect(await ledger.transition(KEY, { from: [] }, patch)).toBe(false);
    expect(await ledger.transition(KEY, { from: ["in_progress"], claimId: "someone-else" }, patch)).toBe(
      false,
    );
    expect(
      await ledger.transition({ vendorId: "acme", webhookId: "nope" }, { from: ["in_progress"] }, patch),
    ).toBe(false);
    expect(await ledger.get(KEY)).toMatchObject({ state: "in_progress", attempts: 0, updatedAt: iso(T0) });

    expect(await ledger.transition(KEY, { from: ["queued", "in_progress"], claimId: "claim-1" }, patch)).toBe(
      true,
    );
    expect(await ledger.get(KEY)).toMatchObject({ state: "deleted", attempts: 1, updatedAt: iso(T0 + 1) });
    // Settled: nothing moves it on again.
    expect(
      await ledger.transition(KEY, { from: ["in_progress", "queued"] }, { state: "queued", now: T0 + 2 }),
    ).toBe(false);
  });

  it("records attempts, last error and OPS-COM code, keeping fields a later patch leaves out", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    await ledger.transition(
      KEY,
      { from: ["in_progress"], claimId: "claim-1" },
      { state: "queued", now: T0 + 10, attempts: 2, lastError: "OPS-COM answered 503" },
    );
    await ledger.transition(
      KEY,
      { from: ["queued"] },
      { state: "rejected", now: T0 + 20, attempts: 3, opscomErrorCode: 9008 },
    );
    expect(await ledger.get(KEY)).toMatchObject({
      state: "rejected",
      attempts: 3,
      lastError: "OPS-COM answered 503",
      opscomErrorCode: 9008,
      createdAt: iso(T0),
      updatedAt: iso(T0 + 20),
      bodyHash: "a".repeat(64),
      expiresAt: Math.floor(T0 / 1000) + 30 * 86_400,
    });
  });

  it("releases only an in_progress claim still held by the caller", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    await ledger.release(KEY, "someone-else");
    expect((await ledger.get(KEY))?.claimId).toBe("claim-1");

    await ledger.release(KEY, "claim-1");
    expect(await ledger.get(KEY)).toBeUndefined();
    // The vendor's retry is a fresh claim, not a duplicate.
    await expect(ledger.claim(claimOf({ claimId: "claim-2", now: T0 + 1 }))).resolves.toEqual({
      claimed: true,
    });

    await ledger.transition(KEY, { from: ["in_progress"] }, { state: "queued", now: T0 + 2 });
    await ledger.release(KEY, "claim-2");
    expect((await ledger.get(KEY))?.state).toBe("queued");
    await expect(
      ledger.release({ vendorId: "acme", webhookId: "never" }, "claim-9"),
    ).resolves.toBeUndefined();
  });

  it("lists a reference's webhooks oldest first, and nothing for an unknown reference", async () => {
    const ledger = await make();
    // Written out of order, across vendors, with another reference mixed in.
    await ledger.claim(claimOf({ vendorId: "zeta", webhookId: "w3", referenceId: "ref-R", now: T0 + 3000 }));
    await ledger.claim(claimOf({ vendorId: "acme", webhookId: "w1", referenceId: "ref-R", now: T0 + 1000 }));
    await ledger.claim(
      claimOf({ vendorId: "acme", webhookId: "other", referenceId: "ref-S", now: T0 + 1500 }),
    );
    await ledger.claim(claimOf({ vendorId: "beta", webhookId: "w2", referenceId: "ref-R", now: T0 + 2000 }));
    const history = await ledger.byReference("ref-R");
    expect(history.map((r) => `${r.vendorId}/${r.webhookId}@${r.createdAt}`)).toEqual([
      `acme/w1@${iso(T0 + 1000)}`,
      `beta/w2@${iso(T0 + 2000)}`,
      `zeta/w3@${iso(T0 + 3000)}`,
    ]);
    expect(await ledger.byReference("ref-unknown")).toEqual([]);
  });

  it("keeps a history entry per transition: each attempt's answer, parking, dead-lettering, settling", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    const steps = [
      { state: "queued", now: T0 + 10, attempts: 2, lastError: "OPS-COM answered 503" },
      { state: "queued", now: T0 + 20, attempts: 3, lastError: "x".repeat(HISTORY_NOTE_CHARS + 40) },
      {
        state: "dead_lettered",
        now: T0 + 30,
        attempts: 4,
        lastError: "token rejected",
        opscomErrorCode: 9002,
      },
      { state: "deleted", now: T0 + 40, attempts: 5 },
    ] as const;
    for (const step of steps)
      expect(await ledger.transition(KEY, { from: ["in_progress", "queued", "dead_lettered"] }, step)).toBe(
        true,
      );
    // A refused transition leaves no entry.
    expect(await ledger.transition(KEY, { from: ["queued"] }, { state: "rejected", now: T0 + 50 })).toBe(
      false,
    );
    expect((await ledger.get(KEY))?.history).toStrictEqual([
      { at: T0, state: "in_progress" },
      { at: T0 + 10, state: "queued", attempts: 2, note: "OPS-COM answered 503" },
      { at: T0 + 20, state: "queued", attempts: 3, note: "x".repeat(HISTORY_NOTE_CHARS) },
      { at: T0 + 30, state: "dead_lettered", attempts: 4, opscomErrorCode: 9002, note: "token rejected" },
      { at: T0 + 40, state: "deleted", attempts: 5 },
    ]);
  });

  it("bounds the history: the received entry and the latest ones are kept", async () => {
    const ledger = await make();
    await ledger.claim(claimOf());
    const total = MAX_HISTORY + 8;
    for (let i = 1; i <= total; i++) {
      const moved = await ledger.transition(
        KEY,
        { from: ["in_progress", "queued"] },
        { state: "queued", now: T0 + i, attempts: i, lastError: "OPS-COM answered 503" },
      );
      expect(moved).toBe(true);
    }
    const history = (await ledger.get(KEY))?.history ?? [];
    expect(history).toHaveLength(MAX_HISTORY);
    expect(history[0]).toStrictEqual({ at: T0, state: "in_progress" });
    expect(history.slice(1).map((e) => e.attempts)).toEqual(
      Array.from({ length: MAX_HISTORY - 1 }, (_, i) => total - MAX_HISTORY + 2 + i),
    );
    // A full history still refuses a transition from the wrong state or claim.
    expect(await ledger.transition(KEY, { from: ["deleted"] }, { state: "queued", now: T0 + 999 })).toBe(
      false,
    );
    expect(
      await ledger.transition(
        KEY,
        { from: ["queued"], claimId: "other" },
        { state: "deleted", now: T0 + 999 },
      ),
    ).toBe(false);
    expect((await ledger.get(KEY))?.updatedAt).toBe(iso(T0 + total));
  });

  it("lists the records created in a window newest first, across hours, up to a limit", async () => {
    const ledger = await make();
    const HOUR = 3_600_000;
    const made = [-30 * HOUR, -23 * HOUR, -5 * HOUR - 1, -5 * HOUR, -1, 0, HOUR];
    for (const [i, offset] of made.entries())
      await ledger.claim(claimOf({ webhookId: `w${i}`, claimId: `c${i}`, now: T0 + offset }));
    const ids = (records: { webhookId: string }[]) => records.map((r) => r.webhookId);
    expect(ids(await ledger.recent(T0 - 24 * HOUR, T0, 100))).toEqual(["w5", "w4", "w3", "w2", "w1"]);
    expect(ids(await ledger.recent(T0 - 24 * HOUR, T0, 3))).toEqual(["w5", "w4", "w3"]);
    expect(await ledger.recent(T0 - 50 * HOUR, T0 - 40 * HOUR, 10)).toEqual([]);
  });

  it("lets exactly one of 50 simultaneous claims win", async () => {
    const ledger = await make();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ledger.claim(claimOf({ claimId: `claim-${i}` }))),
    );
    const winners = results.flatMap((r, i) => (r.claimed ? [`claim-${i}`] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) if (!r.claimed) expect(r.existing.claimId).toBe(winners[0]);
    expect((await ledger.get(KEY))?.claimId).toBe(winners[0]);
  });

  it("lets exactly one of 50 simultaneous reclaims of an expired lease win", async () => {
    const ledger = await make();
    await ledger.claim(claimOf({ claimId: "crashed" }));
    const later = T0 + LEASE_MS + 1;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ledger.claim(claimOf({ claimId: `claim-${i}`, now: later }))),
    );
    expect(results.filter((r) => r.claimed)).toHaveLength(1);
    const record = await ledger.get(KEY);
    expect(record?.claimId).not.toBe("crashed");
    expect(record?.leaseUntil).toBe(later + LEASE_MS);
  });
});

describe("DynamoDB ledger: the item in the table", () => {
  let table: string;
  beforeAll(async () => {
    table = await freshTable();
  });

  const rawItem = async (pk: string): Promise<GetItemCommandOutput["Item"]> =>
    (
      await tables.client.send(
        new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true }),
      )
    ).Item;

  it("stores exactly the documented attributes, numbers as N and the TTL in epoch seconds", async () => {
    const ledger = createDynamoLedger(table);
    await ledger.claim(claimOf({ webhookId: "shape" }));
    await ledger.transition(
      { vendorId: "acme", webhookId: "shape" },
      { from: ["in_progress"] },
      { state: "rejected", now: T0 + 1, attempts: 1, lastError: "Invalid Reference", opscomErrorCode: 9003 },
    );
    expect(await rawItem("acme#shape")).toStrictEqual({
      pk: { S: "acme#shape" },
      vendorId: { S: "acme" },
      webhookId: { S: "shape" },
      referenceId: { S: "ref-1" },
      bodyHash: { S: "a".repeat(64) },
      state: { S: "rejected" },
      attempts: { N: "1" },
      createdAt: { S: iso(T0) },
      updatedAt: { S: iso(T0 + 1) },
      claimId: { S: "claim-1" },
      leaseUntil: { N: String(T0 + LEASE_MS) },
      expiresAt: { N: String(Math.floor(T0 / 1000) + 30 * 86_400) },
      lastError: { S: "Invalid Reference" },
      opscomErrorCode: { N: "9003" },
      createdHour: { S: "2025-01-15T09" },
      history: { L: [{ S: `${T0}|in_progress|||` }, { S: `${T0 + 1}|rejected|1|9003|Invalid Reference` }] },
    });
  });

  it.each([
    { what: "a history that is not a list", history: { S: "x" } },
    { what: "an entry that is not a string", history: { L: [{ N: "1" }] } },
    { what: "an unknown state", history: { L: [{ S: `${T0}|lost|1||` }] } },
    { what: "a time that is not a number", history: { L: [{ S: `soon|queued|1||` }] } },
    { what: "too few fields", history: { L: [{ S: `${T0}|queued|1` }] } },
  ])("refuses to read an item with $what", async ({ history }) => {
    const item = await rawItem("acme#shape");
    expect(() => fromItem({ ...item, history })).toThrow(
      /acme#shape has (a malformed history entry|a history that is not a list)/,
    );
  });

  it("keeps a webhook within the write units it used before it had a history", async () => {
    // DynamoDB bills a write by the item's size, names included, per started 1 KB; the byReference
    // index (all attributes) is billed the same again. Sizes per DynamoDB's documented rules.
    const size = (value: AttributeValue): number =>
      value.S !== undefined
        ? Buffer.byteLength(value.S)
        : value.N !== undefined
          ? Math.ceil(value.N.replace(/^-|\./g, "").length / 2) + 1
          : 3 + (value.L ?? []).reduce((sum, v) => sum + 1 + size(v), 0);
    const bytes = (item: Record<string, AttributeValue>, without: string[] = []) =>
      Object.entries(item)
        .filter(([name]) => !without.includes(name))
        .reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + size(value), 0);
    const ledger = createDynamoLedger(table);
    // The longest default life: parked inline, six retries parked, delivered on the last.
    const key = { vendorId: "parkfast-university", webhookId: "msg_2x7Yq9LmN4pR8sT1vW3zA5bC" };
    await ledger.claim(claimOf({ ...key, referenceId: "1a9b5375-cb75-4c71-9939-eeae550b09ac" }));
    const sizes: number[][] = [];
    const sample = async () => {
      const item = (await rawItem(`${key.vendorId}#${key.webhookId}`)) ?? {};
      sizes.push([bytes(item, ["history", "createdHour"]), bytes(item)]);
    };
    await sample();
    for (let attempt = 2; attempt <= 8; attempt++) {
      await ledger.transition(
        key,
        { from: ["in_progress", "queued"] },
        {
          state: "queued",
          now: T0 + attempt * 3_600_000,
          attempts: attempt,
          lastError: "OPS-COM request timed out after 5000 ms",
        },
      );
      await sample();
    }
    await ledger.transition(
      key,
      { from: ["queued"] },
      { state: "deleted", now: T0 + 40 * 3_600_000, attempts: 9 },
    );
    await sample();
    const units = (b: number) => Math.ceil(b / 1024);
    for (const [before, after] of sizes) expect(units(after as number)).toBe(units(before as number));
    console.info(
      `ledger item bytes per write (before/after history): ${sizes.map(([b, a]) => `${b}/${a}`).join(" ")}`,
    );
  });

  it("trims lastError to 500 characters without splitting a character", async () => {
    const ledger = createDynamoLedger(table);
    const key = { vendorId: "acme", webhookId: "long-error" };
    await ledger.claim(claimOf(key));
    const error = "🚫".repeat(MAX_LAST_ERROR_CHARS + 20);
    await ledger.transition(
      key,
      { from: ["in_progress"] },
      { state: "queued", now: T0 + 1, lastError: error },
    );
    const stored = (await ledger.get(key))?.lastError ?? "";
    expect(Array.from(stored)).toHaveLength(MAX_LAST_ERROR_CHARS);
    expect(stored).toBe("🚫".repeat(MAX_LAST_ERROR_CHARS));
  });

  it("surfaces errors other than a failed condition", async () => {
    const ledger = createDynamoLedger("no-such-table");
    await expect(ledger.claim(claimOf())).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    await expect(
      ledger.transition(KEY, { from: ["in_progress"] }, { state: "deleted", now: T0 }),
    ).rejects.toMatchObject({
      name: "ResourceNotFoundException",
    });
    await expect(ledger.release(KEY, "claim-1")).rejects.toMatchObject({ name: "ResourceNotFoundException" });
  });

  it("proceeds when the claim was applied but its answer was lost and the SDK's retry fails its condition", async () => {
    // The real SDK and dynalite; only the first UpdateItem's answer is dropped after the write
    // applied, as a reset connection would, so the SDK's own retry sends the same write again.
    const lossy = new DynamoDBClient({});
    let dropped = 0;
    lossy.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === "UpdateItemCommand" && dropped === 0) {
          dropped++;
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        }
        return result;
      },
      { step: "deserialize", name: "loseFirstUpdateAnswer" },
    );
    try {
      const ledger = createDynamoLedger(table, lossy);
      const key = { vendorId: "acme", webhookId: "lost-answer" };
      await expect(ledger.claim(claimOf({ ...key, claimId: "mine" }))).resolves.toEqual({ claimed: true });
      expect(dropped).toBe(1);
      expect(await ledger.get(key)).toMatchObject({ claimId: "mine", state: "in_progress" });
      // Another claimant is still refused: only the record's own claimId proceeds.
      const other = await ledger.claim(claimOf({ ...key, claimId: "theirs" }));
      expect(other.claimed).toBe(false);
    } finally {
      lossy.destroy();
    }
  });

  it("takes the blocking item from a failed claim without a second read when DynamoDB returns it", async () => {
    // dynalite ignores ReturnValuesOnConditionCheckFailure (so the tests above exercise the
    // fallback read); real DynamoDB returns the item with the exception, as stubbed here.
    const sent: string[] = [];
    const stub = {
      send: async (command: {
        constructor: { name: string };
        input: { ReturnValuesOnConditionCheckFailure?: string };
      }) => {
        sent.push(command.constructor.name);
        expect(command.input.ReturnValuesOnConditionCheckFailure).toBe("ALL_OLD");
        throw Object.assign(
          new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }),
          {
            Item: {
              pk: { S: "acme#msg_1" },
              vendorId: { S: "acme" },
              webhookId: { S: "msg_1" },
              referenceId: { S: "ref-1" },
              bodyHash: { S: "b".repeat(64) },
              state: { S: "queued" },
              attempts: { N: "3" },
              createdAt: { S: iso(T0) },
              updatedAt: { S: iso(T0 + 9) },
              claimId: { S: "first" },
              leaseUntil: { N: String(T0 + LEASE_MS) },
              expiresAt: { N: "1" },
              lastError: { S: "timeout" },
            },
          },
        );
      },
    } as unknown as DynamoDBClient;
    const result = await createDynamoLedger(table, stub).claim(claimOf());
    expect(result).toMatchObject({
      claimed: false,
      existing: { state: "queued", attempts: 3, bodyHash: "b".repeat(64) },
    });
    expect(sent).toEqual(["UpdateItemCommand"]);
  });
});
