// The delivery ledger on DynamoDB: one item per vendor + webhook id, claimed with a conditional
// write so that of any number of simultaneous deliveries exactly one goes on to OPS-COM.
// Same semantics as `MemoryLedger` (the contract tests run both). Plain client, attributes
// marshalled by hand: lib-dynamodb would double the bundle for a dozen fields.
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { DELIVERY_STATES, LEDGER_INDEX } from "../facts";
import {
  appendHistory,
  type BrowsableLedger,
  type DeliveryState,
  type HistoryEntry,
  historyEntryOf,
  isClaimable,
  type LedgerKey,
  type LedgerRecord,
  MAX_HISTORY,
} from "../ports";

/** The index that answers "what happened to reference ID R?" (partition referenceId, sort createdAt). */
export const BY_REFERENCE_INDEX = LEDGER_INDEX.byReference;
/**
 * The index that lists a day's webhooks without a scan: partition `createdHour` (the hour of
 * `createdAt`, e.g. `2025-01-15T09`), sort `createdAt`, keys only.
 *
 * Hot partitions: every webhook of an hour lands in one index partition, whose ceiling is 1,000
 * writes a second; the API's throttle (50 a second by default) keeps it far below, and an hour
 * moves the load on. A day bucket would be as cool but makes the console read the whole day for
 * the last hour; a state key would rewrite the index on every transition.
 * Cost: keys only, so the index is written once per webhook (at the claim, when its keys appear)
 * and never by a transition, which changes no key; the console reads the items it lists.
 */
export const BY_HOUR_INDEX = LEDGER_INDEX.byHour;
/** The `createdHour` bucket of an ISO timestamp. */
export const hourOf = (isoTimestamp: string): string => isoTimestamp.slice(0, 13);
/** Longest `lastError` kept: OPS-COM messages are short, a stack or an HTML error page is not. */
export const MAX_LAST_ERROR_CHARS = 500;
/** Rounds of write-then-read when a lost claim's record vanishes or changes before it is read. */
const CLAIM_ROUNDS = 5;

type Item = Record<string, AttributeValue>;

const STATES: readonly DeliveryState[] = DELIVERY_STATES;

const keyOf = (key: LedgerKey): Item => ({ pk: { S: `${key.vendorId}#${key.webhookId}` } });
const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });
const iso = (epochMs: number) => new Date(epochMs).toISOString();

// A history entry is one small string, `at|state|attempts|code|note` (the note last, so it may
// hold a `|`): about 40 bytes where a map would spend its five attribute names on every entry.
export function encodeEntry(entry: HistoryEntry): string {
  return [entry.at, entry.state, entry.attempts ?? "", entry.opscomErrorCode ?? "", entry.note ?? ""].join(
    "|",
  );
}

export function decodeEntry(raw: string, pk: string): HistoryEntry {
  const [at, state, attempts, code, ...note] = raw.split("|");
  const whole = (value: string | undefined) =>
    value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  if (
    whole(at) === undefined ||
    !STATES.includes(state as DeliveryState) ||
    note.length === 0 ||
    (attempts !== "" && whole(attempts) === undefined) ||
    (code !== "" && whole(code) === undefined)
  ) {
    throw new Error(`ledger item ${pk} has a malformed history entry`);
  }
  const text = note.join("|");
  return {
    at: whole(at) as number,
    state: state as DeliveryState,
    ...(attempts === "" ? {} : { attempts: Number(attempts) }),
    ...(code === "" ? {} : { opscomErrorCode: Number(code) }),
    ...(text === "" ? {} : { note: text }),
  };
}

/** Trims on code points, so a cut never leaves half a surrogate pair (which DynamoDB refuses). */
export function trimError(message: string): string {
  if (message.length <= MAX_LAST_ERROR_CHARS) return message;
  return Array.from(message).slice(0, MAX_LAST_ERROR_CHARS).join("");
}

const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === "ConditionalCheckFailedException");

export function createDynamoLedger(tableName: string, client = new DynamoDBClient({})): BrowsableLedger {
  async function read(key: LedgerKey): Promise<LedgerRecord | undefined> {
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: keyOf(key), ConsistentRead: true }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  return {
    async claim(request) {
      const at = iso(request.now);
      // UpdateItem rather than PutItem: a reclaimed lease keeps its attempts and createdAt (as the
      // twin does) in the same single conditional write, and drops the crashed attempt's error.
      const command = new UpdateItemCommand({
        TableName: tableName,
        Key: keyOf(request),
        // A lapsed claim is taken over only for the same body: the same webhook id with another
        // body stays a 422 however late it comes, and the takeover keeps the first reference ID.
        ConditionExpression:
          "attribute_not_exists(pk) OR (#state = :in_progress AND leaseUntil <= :now AND bodyHash = :bodyHash)",
        UpdateExpression:
          "SET vendorId = :vendorId, webhookId = :webhookId, referenceId = :referenceId, bodyHash = :bodyHash, " +
          "#state = :in_progress, attempts = if_not_exists(attempts, :zero), createdAt = if_not_exists(createdAt, :at), " +
          "updatedAt = :at, claimId = :claimId, leaseUntil = :leaseUntil, expiresAt = :expiresAt, " +
          // A lapsed claim taken over keeps its history: the crashed attempt left no outcome to add.
          "createdHour = if_not_exists(createdHour, :hour), history = if_not_exists(history, :received) " +
          "REMOVE lastError, opscomErrorCode",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":vendorId": s(request.vendorId),
          ":webhookId": s(request.webhookId),
          ":referenceId": s(request.referenceId),
          ":bodyHash": s(request.bodyHash),
          ":in_progress": s("in_progress"),
          ":now": n(request.now),
          ":zero": n(0),
          ":at": s(at),
          ":hour": s(hourOf(at)),
          ":received": { L: [s(encodeEntry({ at: request.now, state: "in_progress" }))] },
          ":claimId": s(request.claimId),
          ":leaseUntil": n(request.now + request.leaseMs),
          ":expiresAt": n(request.expiresAt),
        },
        // DynamoDB returns the blocking item with the failure; stand-ins that ignore this get a read.
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      });
      for (let round = 1; ; round++) {
        let blocking: Item | undefined;
        try {
          await client.send(command);
          return { claimed: true };
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
          blocking = (error as { Item?: Item }).Item;
        }
        const existing = blocking ? fromItem(blocking) : await read(request);
        // Our own claim: the write was applied but its answer was lost, and the SDK's retry of the
        // same write then failed its condition against it. The claim is ours; go on.
        if (existing?.claimId === request.claimId && existing.state === "in_progress")
          return { claimed: true };
        // The item DynamoDB returned is what blocked the write. A record read afterwards may have
        // been released or become claimable in between: then the write decides, so try again.
        if (existing && (blocking || !isClaimable(existing, request))) return { claimed: false, existing };
        if (round >= CLAIM_ROUNDS) throw new Error("ledger claim kept racing with other writers");
      }
    },

    async transition(key, expect, patch) {
      // `IN ()` is not valid syntax; an empty list matches nothing, as in the twin.
      if (expect.from.length === 0) return false;
      const entry = historyEntryOf(patch);
      const names: Record<string, string> = { "#state": "state" };
      const values: Item = { ":state": s(patch.state), ":at": s(iso(patch.now)) };
      const sets = ["#state = :state", "updatedAt = :at"];
      if (patch.attempts !== undefined) {
        sets.push("attempts = :attempts");
        values[":attempts"] = n(patch.attempts);
      }
      if (patch.lastError !== undefined) {
        sets.push("lastError = :lastError");
        values[":lastError"] = s(trimError(patch.lastError));
      }
      if (patch.opscomErrorCode !== undefined) {
        sets.push("opscomErrorCode = :opscomErrorCode");
        values[":opscomErrorCode"] = n(patch.opscomErrorCode);
      }
      const from = expect.from.map((state, i) => {
        values[`:from${i}`] = s(state);
        return `:from${i}`;
      });
      let condition = `attribute_exists(pk) AND #state IN (${from.join(", ")})`;
      if (expect.claimId !== undefined) {
        condition += " AND claimId = :claimId";
        values[":claimId"] = s(expect.claimId);
      }
      const update = (extraSet: string, extraCondition: string, extraValues: Item) =>
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: keyOf(key),
            ConditionExpression: `${condition} AND ${extraCondition}`,
            UpdateExpression: `SET ${[...sets, extraSet].join(", ")}`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ...values, ...extraValues },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
      let blocking: Item | undefined;
      try {
        // The history grows in the same conditional write; only a full one needs more (below).
        await update(
          "history = list_append(if_not_exists(history, :none), :entry)",
          "(attribute_not_exists(history) OR size(history) < :maxHistory)",
          { ":none": { L: [] }, ":entry": { L: [s(encodeEntry(entry))] }, ":maxHistory": n(MAX_HISTORY) },
        );
        return true;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        blocking = (error as { Item?: Item }).Item;
      }
      const existing = blocking ? fromItem(blocking) : await read(key);
      const movable =
        existing !== undefined &&
        expect.from.includes(existing.state) &&
        (expect.claimId === undefined || existing.claimId === expect.claimId);
      if (!movable || existing.history.length < MAX_HISTORY) return false;
      // A full history (a delivery retried past MAX_HISTORY transitions, rare) is rewritten whole,
      // on the condition that nobody wrote since it was read.
      try {
        await update("history = :history", "updatedAt = :seen", {
          ":history": { L: appendHistory(existing.history, entry).map((e) => s(encodeEntry(e))) },
          ":seen": s(existing.updatedAt),
        });
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async release(key, claimId) {
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: keyOf(key),
            ConditionExpression: "#state = :in_progress AND claimId = :claimId",
            ExpressionAttributeNames: { "#state": "state" },
            ExpressionAttributeValues: { ":in_progress": s("in_progress"), ":claimId": s(claimId) },
          }),
        );
      } catch (error) {
        // Settled or reclaimed by someone else since: theirs now, nothing to release.
        if (!isConditionFailure(error)) throw error;
      }
    },

    get: read,

    async byReference(referenceId) {
      const records: LedgerRecord[] = [];
      let startKey: Item | undefined;
      do {
        const page = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: BY_REFERENCE_INDEX,
            KeyConditionExpression: "referenceId = :referenceId",
            ExpressionAttributeValues: { ":referenceId": s(referenceId) },
            ScanIndexForward: true,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) records.push(fromItem(item));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      return records;
    },

    async recent(sinceMs, untilMs, limit) {
      const keys: Item[] = [];
      // Newest hour first, so the limit keeps the latest; each hour is one index partition.
      for (let hour = Math.floor(untilMs / 3_600_000); hour >= Math.floor(sinceMs / 3_600_000); hour--) {
        let startKey: Item | undefined;
        do {
          const page = await client.send(
            new QueryCommand({
              TableName: tableName,
              IndexName: BY_HOUR_INDEX,
              KeyConditionExpression: "createdHour = :hour AND createdAt BETWEEN :since AND :until",
              ExpressionAttributeValues: {
                ":hour": s(hourOf(iso(hour * 3_600_000))),
                ":since": s(iso(sinceMs)),
                ":until": s(iso(untilMs)),
              },
              ScanIndexForward: false,
              Limit: limit - keys.length,
              ExclusiveStartKey: startKey,
            }),
          );
          // Keys-only entries carry the table's key, which is all BatchGetItem needs.
          for (const item of page.Items ?? []) if (item.pk) keys.push({ pk: item.pk });
          startKey = keys.length < limit ? page.LastEvaluatedKey : undefined;
        } while (startKey);
        if (keys.length >= limit) break;
      }
      const byPk = new Map<string, LedgerRecord>();
      for (let i = 0; i < keys.length; i += 100) {
        let pending: Item[] = keys.slice(i, i + 100);
        for (let round = 0; pending.length > 0; round++) {
          if (round >= CLAIM_ROUNDS) throw new Error("ledger read kept being throttled");
          const { Responses, UnprocessedKeys } = await client.send(
            new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: pending } } }),
          );
          for (const item of Responses?.[tableName] ?? []) byPk.set(item.pk?.S ?? "", fromItem(item));
          pending = (UnprocessedKeys?.[tableName]?.Keys ?? []) as Item[];
        }
      }
      // Expired by TTL between the index read and the item read: gone, so left out.
      return keys.flatMap((k) => byPk.get(k.pk?.S ?? "") ?? []);
    },
  };
}

/** Reads an item back into a record, refusing one this code did not write rather than guessing. */
export function fromItem(item: Item): LedgerRecord {
  const str = (name: string): string => {
    const value = item[name]?.S;
    if (value === undefined)
      throw new Error(`ledger item ${item.pk?.S ?? "?"} has no string attribute ${name}`);
    return value;
  };
  const num = (name: string): number => {
    const value = Number(item[name]?.N);
    if (item[name]?.N === undefined || !Number.isFinite(value)) {
      throw new Error(`ledger item ${item.pk?.S ?? "?"} has no number attribute ${name}`);
    }
    return value;
  };
  const state = str("state") as DeliveryState;
  if (!STATES.includes(state)) throw new Error(`ledger item ${item.pk?.S ?? "?"} has unknown state ${state}`);
  return {
    vendorId: str("vendorId"),
    webhookId: str("webhookId"),
    referenceId: str("referenceId"),
    bodyHash: str("bodyHash"),
    state,
    attempts: num("attempts"),
    createdAt: str("createdAt"),
    updatedAt: str("updatedAt"),
    claimId: str("claimId"),
    leaseUntil: num("leaseUntil"),
    expiresAt: num("expiresAt"),
    ...(item.lastError?.S === undefined ? {} : { lastError: item.lastError.S }),
    ...(item.opscomErrorCode?.N === undefined ? {} : { opscomErrorCode: num("opscomErrorCode") }),
    history: historyOf(item),
  };
}

/** Absent in records written before history existed; anything else must be entries this code wrote. */
function historyOf(item: Item): HistoryEntry[] {
  const pk = item.pk?.S ?? "?";
  if (item.history === undefined) return [];
  const list = item.history.L;
  if (list === undefined) throw new Error(`ledger item ${pk} has a history that is not a list`);
  return list.map((value) => {
    if (value.S === undefined) throw new Error(`ledger item ${pk} has a malformed history entry`);
    return decodeEntry(value.S, pk);
  });
}
