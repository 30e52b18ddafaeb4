// The relay child's side of bench/relay-child.ts: the process that file forks. It starts one
// shape of relay (deployed or local, see there) and the OPS-COM sandbox, and answers the
// parent's IPC messages: counts, memory, faults, a drain, the sandbox's deletes, close.
import { DynamoDBClient, paginateScan } from "@aws-sdk/client-dynamodb";
import { MemorySecrets } from "../lambda/adapters/memory";
import type { DeliveryState } from "../lambda/ports";
import { type DeployedRelay, type LocalRelay, startDeployedRelay, startLocalRelay } from "../local/harness";
import { type OpscomSandbox, startOpscomSandbox } from "../local/opscom-sandbox";
import { type DynaliteChild, type DynaliteMemory, startDynaliteChild } from "./dynalite-child";
import type {
  ChildStart,
  ChildStats,
  DeployedChildStart,
  DeployedInfo,
  DrainResult,
  LocalChildStart,
  MemorySample,
} from "./relay-child";
import { TOKEN_SECRET_ID } from "./relay-child";

const OPEN: readonly DeliveryState[] = ["in_progress", "queued"];
/** Caps on a drain: rounds of the worker, and wall time. */
const DRAIN_ROUNDS = 5000;
const DRAIN_WALL_MS = 120_000;
/** How long a deployed drain waits on open records once the retry queue is empty. */
const STUCK_GRACE_MS = 5000;

/** One shape of relay, as the child's messages use it. */
interface Backend {
  readonly relayUrl: string;
  readonly sandbox: OpscomSandbox;
  readonly deployed?: DeployedInfo;
  ledger(): Promise<ChildStats["ledger"]>;
  queue(): ChildStats["queue"];
  dynamoMemory?(gc: boolean): Promise<DynaliteMemory>;
  /** The deployed shape's drain; the local one (the fuzz run's) has none. */
  drain?(maxRounds: number): Promise<DrainResult>;
  close(): Promise<void>;
}

const countStates = (states: Iterable<string>) => {
  const byState: Record<string, number> = {};
  let total = 0;
  for (const state of states) {
    byState[state] = (byState[state] ?? 0) + 1;
    total++;
  }
  return { total, byState };
};
const openIn = (ledger: ChildStats["ledger"]) =>
  OPEN.reduce((n, state) => n + (ledger.byState[state] ?? 0), 0);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startLocal(start: LocalChildStart): Promise<Backend> {
  const sandbox = await startOpscomSandbox({
    clients: Object.fromEntries(start.clientCodes.map((code) => [code, { tokens: [start.token] }])),
    ...(start.sandboxSeed === undefined ? {} : { seed: start.sandboxSeed }),
  });
  const env: Record<string, string> = {
    OPSCOM_CLIENT_CODE: start.clientCodes[0] as string,
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET_ID,
    VENDORS: JSON.stringify(start.vendors),
    ...start.env,
  };
  const prefix = env.VENDOR_SECRET_PREFIX ?? "opscom-permit-relay/vendors/";
  const secretSource = new MemorySecrets({
    [TOKEN_SECRET_ID]: start.token,
    ...Object.fromEntries(
      Object.entries(start.vendorSecrets).map(([id, secret]) => [
        prefix + id,
        JSON.stringify({ signingSecrets: [secret] }),
      ]),
    ),
  });
  const relay: LocalRelay = await startLocalRelay({
    secrets: { opscomToken: start.token, vendorSecret: "unused: secretSource is given" },
    secretSource,
    sandbox,
    env,
    ...(start.workerIntervalMs === undefined ? {} : { workerIntervalMs: start.workerIntervalMs }),
  });
  const ledger = async () => countStates([...relay.ledger.records.values()].map((r) => r.state));
  return {
    relayUrl: relay.url,
    sandbox,
    ledger,
    queue: () => ({ waiting: relay.queue.messages.length, deadLetters: relay.queue.deadLetters.length }),
    async close() {
      await relay.close();
      await sandbox.close();
    },
  };
}

async function startDeployed(start: DeployedChildStart): Promise<Backend> {
  const dynamo: DynaliteChild = await startDynaliteChild();
  let relay: DeployedRelay;
  try {
    relay = await startDeployedRelay({
      secrets: { opscomToken: start.token, vendorSecret: start.vendorSecret },
      ...(start.context === undefined ? {} : { context: { ...start.context } }),
      dynamodbEndpoint: dynamo.endpoint,
      ...(start.sandboxSeed === undefined ? {} : { sandboxSeed: start.sandboxSeed }),
      workerIntervalMs: start.workerIntervalMs ?? 1000,
    });
  } catch (error) {
    await dynamo.close();
    throw error;
  }
  const { aws, shape } = relay;

  // The ledger as the table holds it: a paginated Scan by the real SDK client, the state only.
  const dynamodb = new DynamoDBClient({});
  async function ledger(): Promise<ChildStats["ledger"]> {
    const states: string[] = [];
    const pages = paginateScan(
      { client: dynamodb, pageSize: 1000 },
      {
        TableName: relay.ledgerTableName,
        ProjectionExpression: "#state",
        ExpressionAttributeNames: { "#state": "state" },
        ConsistentRead: true,
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? []) states.push(item.state?.S ?? "(none)");
    return countStates(states);
  }
  const environment = shape.ingest.environment;
  const literal = (name: string) =>
    typeof environment[name] === "string" ? (environment[name] as string) : "";
  return {
    relayUrl: relay.url,
    sandbox: relay.sandbox,
    deployed: {
      assemblyDirectory: relay.assembly.directory,
      synthesized: relay.assembly.synthesized,
      vendorIds: [...relay.config.vendors.keys()],
      environment: Object.fromEntries(
        ["FORWARD_TIMEOUT_MS", "RETRY_MAX_ATTEMPTS"].map((name) => [name, literal(name)]),
      ),
      ingestTimeoutMs: shape.ingest.timeoutMs,
      gateway: shape.gateway,
      retryQueue: {
        visibilityTimeoutSeconds: shape.retryQueue.visibilityTimeoutSeconds,
        maxReceiveCount: shape.retryQueue.maxReceiveCount,
      },
      eventSource: {
        batchSize: shape.eventSource.batchSize,
        maxConcurrency: shape.eventSource.maxConcurrency,
      },
      dynamoPid: dynamo.pid,
    },
    ledger,
    queue: () => ({
      waiting: aws.queueStats(relay.retryQueueUrl).total,
      deadLetters: aws.queueStats(relay.deadLetterQueueUrl).total,
    }),
    dynamoMemory: (gc) => dynamo.memory(gc),
    async drain(maxRounds) {
      // Moving the SQS clock while a poll holds messages in flight would hand them out twice.
      await relay.stopPolling();
      const deadline = Date.now() + DRAIN_WALL_MS;
      const startClock = aws.now();
      let rounds = 0;
      let emptySince: number | undefined;
      while (rounds < maxRounds && Date.now() < deadline) {
        const held = aws.queueStats(relay.retryQueueUrl);
        // The table is scanned only once the queue is empty.
        if (held.total === 0) {
          if (openIn(await ledger()) === 0) break;
          // A drain starts after every answer was read, so an open record with nothing queued
          // is a claim no request will finish (one answered 503, which a vendor's resend takes
          // over after the lease): a short grace for a cut-off invocation still writing, then stop.
          emptySince ??= Date.now();
          if (Date.now() - emptySince > STUCK_GRACE_MS) break;
          await pause(100);
          continue;
        }
        emptySince = undefined;
        rounds++;
        // Parked deliveries are in flight (ChangeMessageVisibility) until their retry is due: move
        // the endpoint's clock to the next one. The bundles keep the real clock, which only the
        // worker's claim-lease check reads, and no parked delivery here races a live claim.
        const due = aws.nextVisibleAt(relay.retryQueueUrl);
        if (held.visible === 0 && due !== undefined) aws.advanceClock(Math.max(0, due - aws.now()));
        await relay.drainOnce();
      }
      return {
        rounds,
        virtualSeconds: Math.round((aws.now() - startClock) / 1000),
        open: openIn(await ledger()),
      };
    },
    async close() {
      dynamodb.destroy();
      await relay.close();
      await dynamo.close();
    },
  };
}

async function childMain(): Promise<void> {
  let backend: Backend | undefined;
  const reply = (id: number, result: unknown) => process.send?.({ id, result: result ?? null });
  const fail = (id: number, error: unknown) =>
    process.send?.({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  const started = () => {
    if (!backend) throw new Error("the relay child has not started");
    return backend;
  };

  async function handle(message: { id: number; type: string } & Record<string, unknown>): Promise<unknown> {
    switch (message.type) {
      case "start": {
        const start = message.start as ChildStart;
        backend = start.shape === "deployed" ? await startDeployed(start) : await startLocal(start);
        return {
          relayUrl: backend.relayUrl,
          sandboxUrl: backend.sandbox.url,
          ...(backend.deployed ? { deployed: backend.deployed } : {}),
        };
      }
      case "stats": {
        const b = started();
        const gc = (globalThis as { gc?: () => void }).gc;
        if (message.gc && gc) gc();
        const usage = process.memoryUsage();
        const stats = b.sandbox.stats();
        const result: ChildStats = {
          memory: { rss: usage.rss, heapUsed: usage.heapUsed, afterGc: Boolean(message.gc && gc) },
          ...(b.dynamoMemory ? { dynamo: await b.dynamoMemory(Boolean(message.gc)) } : {}),
          ledger: await b.ledger(),
          queue: b.queue(),
          sandbox: {
            deleteRequests: stats.deleteRequests,
            deletesSucceeded: stats.deletesSucceeded,
            errorsByCode: stats.errorsByCode,
            faultsInjected: stats.faultsInjected,
          },
        };
        return result;
      }
      case "memory": {
        const { rss, heapUsed } = process.memoryUsage();
        return { rss, heapUsed, afterGc: false } satisfies MemorySample;
      }
      case "drain": {
        const backend = started();
        if (!backend.drain) throw new Error("drain: only the deployed shape drains its retry queue");
        return backend.drain((message.maxRounds as number | undefined) ?? DRAIN_ROUNDS);
      }
      case "deletes":
        return started().sandbox.stats().deletesByReference;
      case "close":
        await backend?.close();
        setImmediate(() => process.exit(0));
        return null;
      default:
        throw new Error(`unknown message ${message.type}`);
    }
  }

  process.on("message", (raw) => {
    const message = raw as { id: number; type: string } & Record<string, unknown>;
    handle(message).then(
      (result) => reply(message.id, result),
      (error: unknown) => fail(message.id, error),
    );
  });
  process.on("disconnect", () => process.exit(0));
}

void childMain();
