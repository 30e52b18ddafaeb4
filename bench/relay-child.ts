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
import * as path from "node:path";
import type { DynaliteMemory } from "./dynalite-child";

/** The child's side, forked under tsx. */
const CHILD_MAIN = path.join(__dirname, "relay-child-process.ts");
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

/** Forks the child (bench/relay-child-process.ts) under tsx; `logFile` receives the child's stdout and stderr. */
export async function startRelayChild(start: ChildStart, logFile = "/dev/null"): Promise<RelayChild> {
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = fork(CHILD_MAIN, [], {
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
