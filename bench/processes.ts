// Child processes of the benchmark: plain `node` on a bundle (never tsx, whose loader would
// add its own start-up and memory), an explicit environment (nothing inherited, so every
// side sees the same variables), stdout to /dev/null unless asked, and the IPC channel for
// the message each child sends: its URL (services) or its report (measurements). A service
// may answer further questions over the same channel (the relay reports its heap).
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { OUT_DIR } from "./bundles";

export interface ChildOptions {
  readonly env: Record<string, string>;
  /** Writes a V8 CPU profile to dist/bench/profiles/ when the child exits. */
  readonly profile?: boolean;
  /** Extra node flags, e.g. --expose-gc. */
  readonly nodeFlags?: readonly string[];
}

export interface Service {
  readonly url: string;
  readonly pid: number;
  /** Sends a message and resolves with the child's next one. */
  ask<T>(message: string): Promise<T>;
  /** Disconnects (the child exits on its own, writing its profile), then kills if it lingers. */
  stop(): Promise<void>;
}

function spawnChild(bundle: string, options: ChildOptions): ChildProcess {
  const profile = options.profile ? ["--cpu-prof", `--cpu-prof-dir=${path.join(OUT_DIR, "profiles")}`] : [];
  return spawn(process.execPath, [...(options.nodeFlags ?? []), ...profile, bundle], {
    env: options.env,
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
}

/** Starts a long-running child and resolves with the URL it announces. */
export function startService(bundle: string, options: ChildOptions): Promise<Service> {
  const child = spawnChild(bundle, options);
  const stderr = collect(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) =>
      reject(new Error(`${path.basename(bundle)} exited (${code}) before it was ready: ${stderr()}`)),
    );
    child.once("message", (message: { url: string }) =>
      resolve({
        url: message.url,
        pid: child.pid as number,
        ask: <T>(question: string) =>
          new Promise<T>((answered) => {
            child.once("message", answered);
            child.send(question);
          }),
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.disconnect();
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(timer);
        },
      }),
    );
  });
}

/** Runs a child to completion and resolves with the report it sends. */
export function runForReport<T>(bundle: string, options: ChildOptions): Promise<T> {
  const child = spawnChild(bundle, options);
  const stderr = collect(child);
  let report: T | undefined;
  child.once("message", (message: T) => {
    report = message;
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      if (code === 0 && report !== undefined) resolve(report);
      else reject(new Error(`${path.basename(bundle)} failed (exit ${code}): ${stderr()}`));
    });
  });
}

/** Resident memory of a process in MiB, from /proc: `VmRSS` now, `VmHWM` the peak since it started. */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc. */
export function cpuSecondsOf(pid: number): number {
  // Fields after the command name: state is the 1st, utime the 12th, stime the 13th (clock ticks).
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}
/** USER_HZ: 100 on every Linux that Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

function collect(child: ChildProcess): () => string {
  let text = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-4000);
  });
  return () => text.trim();
}
