// The DynamoDB fault proxy the chaos run puts in front of dynalite: each fault, through the
// real SDK client, does what it says to the table and to the caller — and nothing else.
import {
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DynamoFault, type DynamoFaultProxy, startDynamoFaultProxy } from "../local/dynamodb-faults";
import { createLedgerTable, type LocalDynamo, startDynalite, useLocalAws } from "../testkit/dynalite";

const TABLE = "faults";
let dynamo: LocalDynamo;
let direct: DynamoDBClient;
let proxy: DynamoFaultProxy | undefined;
const clients: DynamoDBClient[] = [];
let planned: Array<DynamoFault | undefined> = [];
let seen: string[] = [];
let items = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
  useLocalAws({});
  direct = new DynamoDBClient({ endpoint: dynamo.endpoint });
  await createLedgerTable(direct, TABLE);
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await proxy?.close();
  proxy = undefined;
});

afterAll(async () => {
  direct?.destroy();
  await dynamo?.close();
});

/** A client through a fresh proxy that inflicts `faults` on the next requests, in order. */
async function throughProxy(
  faults: Array<DynamoFault | undefined>,
  config: DynamoDBClientConfig = {},
): Promise<DynamoDBClient> {
  planned = [...faults];
  seen = [];
  proxy = await startDynamoFaultProxy({
    target: dynamo.endpoint,
    decide: ({ operation }) => {
      seen.push(operation);
      return planned.shift();
    },
  });
  const client = new DynamoDBClient({ endpoint: proxy.endpoint, ...config });
  clients.push(client);
  return client;
}

const put = (pk: string) =>
  new PutItemCommand({ TableName: TABLE, Item: { pk: { S: pk }, note: { S: "written" } } });
const stored = async (pk: string) =>
  (await direct.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: pk } }, ConsistentRead: true })))
    .Item;

describe("DynamoDB fault proxy", () => {
  it("passes requests through unchanged when no fault is picked", async () => {
    const client = await throughProxy([]);
    const pk = `item-${++items}`;
    await client.send(put(pk));
    expect(await stored(pk)).toMatchObject({ note: { S: "written" } });
    expect(seen).toStrictEqual(["PutItem"]);
    expect(proxy?.injected()).toStrictEqual({ "lose-response": 0, throttle: 0, stall: 0 });
  });

  it("lose-response applies the write, then the caller sees a network error and no answer", async () => {
    const client = await throughProxy([{ kind: "lose-response" }], { maxAttempts: 1 });
    const pk = `item-${++items}`;
    await expect(client.send(put(pk))).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(await stored(pk)).toMatchObject({ note: { S: "written" } });
    expect(proxy?.injected()["lose-response"]).toBe(1);
  });

  it("lose-response is retried by the SDK, so a write is applied twice and succeeds", async () => {
    const client = await throughProxy([{ kind: "lose-response" }]);
    const pk = `item-${++items}`;
    await client.send(put(pk));
    expect(seen).toStrictEqual(["PutItem", "PutItem"]);
    expect(await stored(pk)).toBeDefined();
  });

  it("throttle answers ProvisionedThroughputExceededException and leaves the table alone", async () => {
    const client = await throughProxy([{ kind: "throttle" }], { maxAttempts: 1 });
    const pk = `item-${++items}`;
    await expect(client.send(put(pk))).rejects.toMatchObject({
      name: "ProvisionedThroughputExceededException",
    });
    expect(await stored(pk)).toBeUndefined();
    expect(proxy?.injected().throttle).toBe(1);
  });

  it("stall holds the request unanswered and unapplied until the caller gives up", async () => {
    const client = await throughProxy([{ kind: "stall", holdMs: 60_000 }], { maxAttempts: 1 });
    const pk = `item-${++items}`;
    const started = Date.now();
    await expect(client.send(put(pk), { abortSignal: AbortSignal.timeout(300) })).rejects.toMatchObject({
      name: "AbortError",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await stored(pk)).toBeUndefined();
    expect(proxy?.injected().stall).toBe(1);
  });

  it("stall resets the connection after holdMs, and the SDK's retry then gets through", async () => {
    const client = await throughProxy([{ kind: "stall", holdMs: 200 }]);
    const pk = `item-${++items}`;
    const started = Date.now();
    await client.send(put(pk));
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(seen).toStrictEqual(["PutItem", "PutItem"]);
    expect(await stored(pk)).toBeDefined();
  });
});
