// dynalite (an in-process DynamoDB) for integration tests, and the ledger table exactly as the
// stack builds it. The real SDK client finds it through AWS_ENDPOINT_URL_DYNAMODB.
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BY_HOUR_INDEX, BY_REFERENCE_INDEX } from "../lambda/adapters/dynamodb-ledger";

interface DynaliteServer {
  listen(port: number, host: string, callback: () => void): void;
  once(event: "error", listener: (error: Error) => void): void;
  address(): AddressInfo | string | null;
  close(callback: (error?: Error) => void): void;
}

// dynalite ships no types; this is the whole surface used here. Required on first use, so a
// bundle that includes the harness (the bench's relay server) loads dynalite's native
// storage binding only if it starts dynalite.
type Dynalite = (options: { createTableMs?: number }) => DynaliteServer;

export interface LocalDynamo {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite (in memory) on a free port. */
export async function startDynalite(): Promise<LocalDynamo> {
  const dynalite = require("dynalite") as Dynalite;
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/** dynalite with the SDK pointed at it, for a test file that makes a ledger table per case. */
export interface LedgerTables extends LocalDynamo {
  /** A default-resolved client, so it reaches dynalite only through the environment. */
  readonly client: DynamoDBClient;
  /** Creates an empty ledger table with a name not used before in this dynalite. */
  fresh(): Promise<string>;
}

/** Starts dynalite, points the SDK at it and hands out fresh ledger tables named `<prefix>-<n>`. */
export async function startLedgerTables(prefix: string): Promise<LedgerTables> {
  const dynamo = await startDynalite();
  useLocalAws({ dynamodb: dynamo.endpoint });
  const client = new DynamoDBClient({});
  let tables = 0;
  return {
    endpoint: dynamo.endpoint,
    client,
    async fresh() {
      const name = `${prefix}-${++tables}`;
      await createLedgerTable(client, name);
      return name;
    },
    async close() {
      client.destroy();
      await dynamo.close();
    },
  };
}

/**
 * Points the SDK's default resolution at local stand-ins (endpoint, region, dummy credentials).
 * Call before creating the clients.
 */
export function useLocalAws(endpoints: { dynamodb?: string; sqs?: string; secretsManager?: string }): void {
  process.env.AWS_REGION = "us-east-1";
  process.env.AWS_ACCESS_KEY_ID = "test";
  process.env.AWS_SECRET_ACCESS_KEY = "test";
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  if (endpoints.dynamodb) process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoints.dynamodb;
  if (endpoints.sqs) process.env.AWS_ENDPOINT_URL_SQS = endpoints.sqs;
  if (endpoints.secretsManager) process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = endpoints.secretsManager;
}

/**
 * Creates the ledger table (key `pk`, GSI `byReference` on referenceId + createdAt, projection
 * ALL, and GSI `byHour` on createdHour + createdAt, keys only) and waits until it and its index are ACTIVE: dynalite answers CreateTable with CREATING
 * even when `createTableMs` is 0.
 */
export async function createLedgerTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "referenceId", AttributeType: "S" },
        { AttributeName: "createdAt", AttributeType: "S" },
        { AttributeName: "createdHour", AttributeType: "S" },
      ],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      GlobalSecondaryIndexes: [
        {
          IndexName: BY_REFERENCE_INDEX,
          KeySchema: [
            { AttributeName: "referenceId", KeyType: "HASH" },
            { AttributeName: "createdAt", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: BY_HOUR_INDEX,
          KeySchema: [
            { AttributeName: "createdHour", KeyType: "HASH" },
            { AttributeName: "createdAt", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "KEYS_ONLY" },
        },
      ],
    }),
  );
  for (let i = 0; i < 200; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (
      Table?.TableStatus === "ACTIVE" &&
      (Table.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === "ACTIVE")
    ) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`table ${name} did not become ACTIVE`);
}
