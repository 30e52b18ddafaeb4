// The relay in a process of its own, for the load run and the fuzz run's HTTP pass: the parent
// measures the relay from outside (its memory is not mixed with the load generator's) and a
// crash of the relay is seen as an exit, not as the parent's own death. Two shapes:
//
//   deployed (the load run): `startDeployedRelay` (local/harness.ts), the synthesized stack's
//     bundles over the local SQS and Secrets Manager endpoint, with dynalite as the ledger's
//     DynamoDB in a process of its own (bench/dynalite-child.ts) so this child's heap is the
//     relay's. Ledger counts come from a Scan of the table, queue counts from the endpoint.
//   local (the fuzz run's HTTP pass): `startLocalRelay`, the TypeScript handlers over the
//     in-memory ledger and queue, configured by the caller's VENDORS and runtime variables.
//
// The child starts the OPS-COM sandbox and answers a few IPC messages: ledger and queue counts,
// memory, and a drain with faults off. Its stdout and stderr (the relay's Powertools logs) go
// wherever the parent points them: /dev/null, or a file to search.
//
// Secrets travel over the IPC channel, never in argv or the environment.
import { type ChildProcess, fork } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { DynamoDBClient, paginateScan } from "@aws-sdk/client-dynamodb";
import { MemorySecrets } from "../lambda/adapters/memory";
import { loadConfig } from "../lambda/config";
import type { Clock, DeliveryState } from "../lambda/ports";
import { type DeployedRelay, type LocalRelay, startDeployedRelay, startLocalRelay } from "../local/harness";
import { type FaultConfig, type OpscomSandbox, startOpscomSandbox } from "../local/opscom-sandbox";
import { type DynaliteChild, type DynaliteMemory, startDynaliteChild } from "./dynalite-child";

const CHILD_FLAG = "--relay-child";
export const TOKEN_SECRET_ID = "bench/opscom-token";

/** The local shape: the TypeScript handlers over in-memory twins, configured by the caller. */
export interface LocalChildStart {
  readonly shape?: "local";
  readonly token: string;
  /** The VENDORS value: a JSON array. */
  readonly vendors: readonly unknown[];
  /** vendor id → signing secret (Standard Webhooks `whsec_…`, or an HMAC vendor's key). */
  readonly vendorSecrets: Readonly<Record<string, string>>;
  /** OPS-COM client codes the sandbox knows (all accept `token`); the first is the default. */
  readonly clientCodes: readonly string[];
  /** Extra runtime variables, e.g. FORWARD_TIMEOUT_MS. */
  readonly env?: Readonly<Record<string, string>>;
  readonly sandboxSeed?: number;
  readonly workerIntervalMs?: number;
}

/**
 * The deployed shape: the stack synthesized with `context`, everything else from its template
 * (vendors, client code, runtime variables, timeouts, queues, mapping, throttle).
 */
export interface DeployedChildStart {
  readonly shape: "deployed";
  readonly token: string;
  /** The signing secret of every vendor the template configures. */
  readonly vendorSecret: string;
  /** Stack context, as `cdk synth -c key=value` takes it. */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly sandboxSeed?: number;
  /** How often the event source mapping polls the retry queue (until a drain takes over). */
  readonly workerIntervalMs?: number;
}

export type ChildStart = LocalChildStart | DeployedChildStart;

/** What a deployed child read from the synthesized stack, for the run's report. */
export interface DeployedInfo {
  readonly assemblyDirectory: string;
  readonly synthesized: boolean;
  readonly vendorIds: readonly string[];
  /** The template's runtime variables the report names (FORWARD_TIMEOUT_MS, RETRY_MAX_ATTEMPTS). */
  readonly environment: Readonly<Record<string, string>>;
  readonly ingestTimeoutMs: number;
  readonly gateway: { readonly rateLimit: number; readonly burstLimit: number };
  readonly retryQueue: { readonly visibilityTimeoutSeconds: number; readonly maxReceiveCount: number };
  readonly eventSource: { readonly batchSize: number; readonly maxConcurrency: number };
  readonly dynamoPid: number;
}

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  /** True when `global.gc()` ran just before the sample (the child runs with --expose-gc). */
  readonly afterGc: boolean;
}

export interface ChildStats {
  readonly memory: MemorySample;
  /** The deployed shape's dynalite process (its in-memory table), apart from the relay's. */
  readonly dynamo?: DynaliteMemory;
  readonly ledger: {
    /** Records held now, by state. */
    readonly total: number;
    readonly byState: Record<string, number>;
  };
  /**
   * `waiting`: every message the retry queue holds (visible, delayed or in flight, parked ones
   * included); `deadLetters`: the dead-letter queue's.
   */
  readonly queue: { readonly waiting: number; readonly deadLetters: number };
  readonly sandbox: {
    readonly deleteRequests: number;
    readonly deletesSucceeded: number;
    readonly errorsByCode: Record<string, number>;
    readonly faultsInjected: Record<string, number>;
  };
}

export interface DrainResult {
  readonly rounds: number;
  readonly virtualSeconds: number;
  readonly open: number;
}

type Request =
  | { readonly type: "stats"; readonly gc?: boolean }
  | { readonly type: "memory" }
  | { readonly type: "faults"; readonly config: FaultConfig }
  | { readonly type: "drain"; readonly maxRounds?: number }
  | { readonly type: "deletes" }
  | { readonly type: "close" };

/** The parent's handle on the child. */
export interface RelayChild {
  readonly pid: number;
  readonly relayUrl: string;
  readonly sandboxUrl: string;
  /** The deployed shape's stack, as the child read it; absent for the local shape. */
  readonly deployed?: DeployedInfo;
  stats(gc?: boolean): Promise<ChildStats>;
  /** The child's memory alone, without a GC and without counting the ledger (cheap, for sampling). */
  memory(): Promise<MemorySample>;
  setFaults(config: FaultConfig): Promise<void>;
  /**
   * Faults off is the caller's job; this advances the clock parked deliveries wait on (the local
   * shape's, or the SQS endpoint's) and runs the worker until the queue is empty and nothing is open.
   */
  drain(maxRounds?: number): Promise<DrainResult>;
  /** Successful sandbox deletes per reference ID. */
  deletes(): Promise<Record<string, number>>;
  /** Resolves with the exit code (or signal) once the child is gone; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  close(): Promise<void>;
}

/** Forks this file under tsx; `logFile` receives the child's stdout and stderr. */
export async function startRelayChild(start: ChildStart, logFile = "/dev/null"): Promise<RelayChild> {
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = fork(__filename, [CHILD_FLAG], {
      execArgv: ["--import", "tsx", "--expose-gc"],
      stdio: ["ignore", fd, fd, "ipc"],
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: "INFO" },
    });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let next = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on("message", (raw) => {
    const message = raw as { id?: number; result?: unknown; error?: string };
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  });
  void exited.then(({ code, signal }) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`relay child exited (code ${code}, signal ${signal})`));
    pending.clear();
  });
  const call = <T>(request: Request | { type: "start"; start: ChildStart }): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`relay child is gone (code ${child.exitCode}, signal ${child.signalCode})`));
        return;
      }
      const id = next++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, ...request });
    });
  let ready: { relayUrl: string; sandboxUrl: string; deployed?: DeployedInfo };
  try {
    ready = await call({ type: "start", start });
  } catch (error) {
    // A child that could not start (a synth error, a port taken) would otherwise linger.
    child.kill("SIGKILL");
    await exited;
    throw error;
  }
  return {
    pid: child.pid as number,
    relayUrl: ready.relayUrl,
    sandboxUrl: ready.sandboxUrl,
    ...(ready.deployed ? { deployed: ready.deployed } : {}),
    stats: (gc = false) => call<ChildStats>({ type: "stats", gc }),
    memory: () => call<MemorySample>({ type: "memory" }),
    setFaults: (config) => call<void>({ type: "faults", config }),
    drain: (maxRounds) => call<DrainResult>({ type: "drain", ...(maxRounds ? { maxRounds } : {}) }),
    deletes: () => call<Record<string, number>>({ type: "deletes" }),
    exited,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        await call<void>({ type: "close" }).catch(() => undefined);
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---- the child ------------------------------------------------------------------------------------

const OPEN: readonly DeliveryState[] = ["in_progress", "queued"];
/** Caps on a drain: rounds of the worker, and wall time. */
const DRAIN_ROUNDS = 5000;
const DRAIN_WALL_MS = 120_000;
/** How long a deployed drain waits on open records once the retry queue is empty. */
const STUCK_GRACE_MS = 2000;

/** One shape of relay, as the child's messages use it. */
interface Backend {
  readonly relayUrl: string;
  readonly sandbox: OpscomSandbox;
  readonly deployed?: DeployedInfo;
  ledger(): Promise<ChildStats["ledger"]>;
  queue(): ChildStats["queue"];
  dynamoMemory?(gc: boolean): Promise<DynaliteMemory>;
  drain(maxRounds: number): Promise<DrainResult>;
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

/** Real time plus an offset the drain moves forward, so parked retries come due at once. */
class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
}

async function startLocal(start: LocalChildStart): Promise<Backend> {
  const clock = new ShiftedClock();
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
    clock,
    env,
    ...(start.workerIntervalMs === undefined ? {} : { workerIntervalMs: start.workerIntervalMs }),
  });
  const ledger = async () => countStates([...relay.ledger.records.values()].map((r) => r.state));
  return {
    relayUrl: relay.url,
    sandbox,
    ledger,
    queue: () => ({ waiting: relay.queue.messages.length, deadLetters: relay.queue.deadLetters.length }),
    async drain(maxRounds) {
      const deadline = Date.now() + DRAIN_WALL_MS;
      const startOffset = clock.offset;
      let rounds = 0;
      while (
        rounds < maxRounds &&
        Date.now() < deadline &&
        (relay.queue.messages.length > 0 || openIn(await ledger()) > 0)
      ) {
        rounds++;
        const due = relay.queue.nextVisibleAt();
        if (due !== undefined && due > clock.now()) clock.offset += due - clock.now() + 1;
        const handled = await relay.drainOnce();
        // An in-flight claim with nothing queued belongs to a request still being answered.
        if (handled === 0 && relay.queue.messages.length === 0) await pause(20);
      }
      return {
        rounds,
        virtualSeconds: Math.round((clock.offset - startOffset) / 1000),
        open: openIn(await ledger()),
      };
    },
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
      // The mapping's polling is this child's own loop below, so a drain can stop it first.
      workerIntervalMs: 0,
    });
  } catch (error) {
    await dynamo.close();
    throw error;
  }
  const { aws, shape } = relay;
  // The event source mapping: one poll round at a time, as the harness's own loop would run it.
  // A drain stops it, because moving the SQS clock while a poll holds messages in flight would
  // hand those messages out a second time.
  let polling = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    polling = polling.then(() => relay.drainOnce().then(() => undefined)).catch(() => undefined);
  }, start.workerIntervalMs ?? 1000);
  timer.unref();
  const stopPolling = async () => {
    stopped = true;
    clearInterval(timer);
    await polling;
  };

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
  const vendorIds = loadConfig({
    // Only VENDORS is read here; the rest satisfies the config's required variables.
    OPSCOM_CLIENT_CODE: literal("OPSCOM_CLIENT_CODE") || "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: "unused",
    VENDORS: literal("VENDORS"),
  }).vendors.keys();
  return {
    relayUrl: relay.url,
    sandbox: relay.sandbox,
    deployed: {
      assemblyDirectory: relay.assembly.directory,
      synthesized: relay.assembly.synthesized,
      vendorIds: [...vendorIds],
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
      await stopPolling();
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
      await stopPolling();
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
      case "faults":
        started().sandbox.setFaults(message.config as FaultConfig);
        return null;
      case "drain":
        return started().drain((message.maxRounds as number | undefined) ?? DRAIN_ROUNDS);
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

if (process.argv.includes(CHILD_FLAG)) void childMain();
