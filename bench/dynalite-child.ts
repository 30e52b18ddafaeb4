// dynalite (the ledger's DynamoDB) in a process of its own, for the load run's relay child: the
// relay child's heap is then the relay's (the bundles, the SDK clients, the local SQS endpoint)
// and not dynalite's in-memory table, so the growth-per-webhook check measures the relay. The
// table's own memory is asked for separately and reported beside it.
import { type ChildProcess, fork } from "node:child_process";
import { startDynalite } from "../testkit/dynalite";

const CHILD_FLAG = "--dynalite-child";

export interface DynaliteMemory {
  readonly rss: number;
  readonly heapUsed: number;
}

export interface DynaliteChild {
  readonly pid: number;
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL_DYNAMODB. */
  readonly endpoint: string;
  /** The child's memory, after a forced GC when `gc` is set (it runs with --expose-gc). */
  memory(gc?: boolean): Promise<DynaliteMemory>;
  close(): Promise<void>;
}

/** Forks this file under tsx and resolves once dynalite listens. */
export function startDynaliteChild(): Promise<DynaliteChild> {
  const child: ChildProcess = fork(__filename, [CHILD_FLAG], {
    execArgv: ["--import", "tsx", "--expose-gc"],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // One question at a time is all the relay child asks; answers come back in order.
  const waiting: Array<{ answered: (answer: DynaliteMemory) => void; failed: (error: Error) => void }> = [];
  // A dynalite that dies fails every question still open rather than leave it hanging.
  void exited.then(() => {
    for (const question of waiting.splice(0)) question.failed(new Error("dynalite child exited"));
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`dynalite child exited (${code}) before it listened`)));
    child.once("message", (ready: { endpoint: string }) => {
      child.on("message", (answer: DynaliteMemory) => waiting.shift()?.answered(answer));
      resolve({
        pid: child.pid as number,
        endpoint: ready.endpoint,
        memory: (gc = false) =>
          new Promise<DynaliteMemory>((answered, failed) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              failed(new Error("dynalite child is gone"));
              return;
            }
            waiting.push({ answered, failed });
            child.send({ gc });
          }),
        async close() {
          if (child.exitCode === null && child.signalCode === null) child.disconnect();
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}

async function childMain(): Promise<void> {
  const dynamo = await startDynalite();
  process.on("message", (question: { gc?: boolean }) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (question.gc && gc) gc();
    const { rss, heapUsed } = process.memoryUsage();
    process.send?.({ rss, heapUsed });
  });
  // The relay child gone (closed or crashed) is this process's cue to go too.
  process.on("disconnect", () => process.exit(0));
  process.send?.({ endpoint: dynamo.endpoint });
}

if (process.argv.includes(CHILD_FLAG)) void childMain();
