// The local relay in a process of its own, for the load run and the fuzz run's HTTP pass: the
// parent measures the relay from outside (its memory is not mixed with the load generator's)
// and a crash of the relay is seen as an exit, not as the parent's own death. The child starts
// the OPS-COM sandbox and `startLocalRelay` (local/harness.ts) and answers a few IPC messages:
// ledger and queue counts, memory, and a drain with faults off. Its stdout and stderr (the
// relay's Powertools logs) go wherever the parent points them: /dev/null, or a file to search.
//
// Secrets travel over the IPC channel, never in argv or the environment.
import { type ChildProcess, fork } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { MemorySecrets } from "../lambda/adapters/memory";
import type { Clock, DeliveryState } from "../lambda/ports";
import { type LocalRelay, startLocalRelay } from "../local/harness";
import { type FaultConfig, type OpscomSandbox, startOpscomSandbox } from "../local/opscom-sandbox";

const CHILD_FLAG = "--relay-child";
export const TOKEN_SECRET_ID = "bench/opscom-token";

export interface ChildStart {
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
  /** The local ledger's bound (local/harness.ts's default when absent). */
  readonly ledgerRecords?: number;
}

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  /** True when `global.gc()` ran just before the sample (the child runs with --expose-gc). */
  readonly afterGc: boolean;
}

export interface ChildStats {
  readonly memory: MemorySample;
  readonly ledger: {
    /** Records held now, by state. */
    readonly total: number;
    readonly byState: Record<string, number>;
    /** Settled records the bound dropped, by state; never an open one. */
    readonly forgotten: Record<string, number>;
  };
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
  | { readonly type: "faults"; readonly config: FaultConfig }
  | { readonly type: "drain"; readonly maxRounds?: number }
  | { readonly type: "deletes" }
  | { readonly type: "close" };

/** The parent's handle on the child. */
export interface RelayChild {
  readonly pid: number;
  readonly relayUrl: string;
  readonly sandboxUrl: string;
  stats(gc?: boolean): Promise<ChildStats>;
  setFaults(config: FaultConfig): Promise<void>;
  /** Faults off is the caller's job; this advances the child's clock and runs the worker until nothing is open. */
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
  const ready = await call<{ relayUrl: string; sandboxUrl: string }>({ type: "start", start });
  return {
    pid: child.pid as number,
    relayUrl: ready.relayUrl,
    sandboxUrl: ready.sandboxUrl,
    stats: (gc = false) => call<ChildStats>({ type: "stats", gc }),
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

/** Real time plus an offset the drain moves forward, so parked retries come due at once. */
class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
}

const OPEN: readonly DeliveryState[] = ["in_progress", "queued"];

async function childMain(): Promise<void> {
  let relay: LocalRelay | undefined;
  let sandbox: OpscomSandbox | undefined;
  const clock = new ShiftedClock();
  const reply = (id: number, result: unknown) => process.send?.({ id, result: result ?? null });
  const fail = (id: number, error: unknown) =>
    process.send?.({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });

  const ledgerCounts = () => {
    const byState: Record<string, number> = {};
    for (const record of (relay as LocalRelay).ledger.records.values())
      byState[record.state] = (byState[record.state] ?? 0) + 1;
    return {
      total: (relay as LocalRelay).ledger.records.size,
      byState,
      forgotten: { ...(relay as LocalRelay).ledger.forgotten },
    };
  };

  async function handle(message: { id: number; type: string } & Record<string, unknown>): Promise<unknown> {
    switch (message.type) {
      case "start": {
        const start = message.start as ChildStart;
        sandbox = await startOpscomSandbox({
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
        relay = await startLocalRelay({
          secrets: { opscomToken: start.token, vendorSecret: "unused: secretSource is given" },
          secretSource,
          sandbox,
          clock,
          env,
          ...(start.workerIntervalMs === undefined ? {} : { workerIntervalMs: start.workerIntervalMs }),
          ...(start.ledgerRecords === undefined ? {} : { ledgerRecords: start.ledgerRecords }),
        });
        return { relayUrl: relay.url, sandboxUrl: sandbox.url };
      }
      case "stats": {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (message.gc && gc) gc();
        const usage = process.memoryUsage();
        const stats = (sandbox as OpscomSandbox).stats();
        const result: ChildStats = {
          memory: { rss: usage.rss, heapUsed: usage.heapUsed, afterGc: Boolean(message.gc && gc) },
          ledger: ledgerCounts(),
          queue: {
            waiting: (relay as LocalRelay).queue.messages.length,
            deadLetters: (relay as LocalRelay).queue.deadLetters.length,
          },
          sandbox: {
            deleteRequests: stats.deleteRequests,
            deletesSucceeded: stats.deletesSucceeded,
            errorsByCode: stats.errorsByCode,
            faultsInjected: stats.faultsInjected,
          },
        };
        return result;
      }
      case "faults":
        (sandbox as OpscomSandbox).setFaults(message.config as FaultConfig);
        return null;
      case "drain": {
        const r = relay as LocalRelay;
        const maxRounds = (message.maxRounds as number | undefined) ?? 5000;
        const deadline = Date.now() + 120_000;
        const startOffset = clock.offset;
        let rounds = 0;
        const open = () => [...r.ledger.records.values()].filter((x) => OPEN.includes(x.state)).length;
        while (rounds < maxRounds && Date.now() < deadline && (r.queue.messages.length > 0 || open() > 0)) {
          rounds++;
          const due = r.queue.nextVisibleAt();
          if (due !== undefined && due > clock.now()) clock.offset += due - clock.now() + 1;
          const handled = await r.drainOnce();
          // An in-flight claim with nothing queued belongs to a request still being answered.
          if (handled === 0 && r.queue.messages.length === 0)
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return { rounds, virtualSeconds: Math.round((clock.offset - startOffset) / 1000), open: open() };
      }
      case "deletes":
        return (sandbox as OpscomSandbox).stats().deletesByReference;
      case "close":
        await relay?.close();
        await sandbox?.close();
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
