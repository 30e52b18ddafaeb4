// Which of the stack's functions the running code belongs to: local/deployed-functions.ts runs
// each bundle's init and every invocation as its function, and whoever needs to know asks here
// (the IAM recorder names the role of each call by it; the chaos run keeps the functions'
// output by it). A module of its own, with no imports of the project, so a test that mocks the
// stand-ins can load the recorder without loading them.
import { AsyncLocalStorage } from "node:async_hooks";

export type FunctionRole = "ingest" | "retryWorker";

const running = new AsyncLocalStorage<FunctionRole>();

/** Runs `fn` as `role`'s function: everything it starts, awaited or not, is that function's. */
export function runAsFunction<T>(role: FunctionRole, fn: () => T): T {
  return running.run(role, fn);
}

/** The function whose invocation or init the caller is part of, if any. */
export function currentFunction(): FunctionRole | undefined {
  return running.getStore();
}
