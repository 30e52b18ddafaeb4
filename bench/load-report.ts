// The load run's options, command line and report: what `npm run load` takes and prints, kept
// apart from the run itself (bench/load.ts) as the chaos run's are (bench/chaos-report.ts).
import { parseArgs } from "node:util";
import type { ChildStats, DeployedInfo } from "./relay-child";
import type { ResendReport } from "./vendor-resend";

export interface LoadOptions {
  /** Webhooks per second, all connections together. */
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  /** autocannon instances started 1/lanes s apart, so the per-second bursts interleave. */
  readonly lanes: number;
  /** Share of OPS-COM deletes the sandbox fails (transient kinds only). */
  readonly failureRate: number;
  /** Memory after this many seconds is the baseline for growth. */
  readonly warmupSeconds: number;
  /** The relay's heap growth per webhook after warm-up (post-GC) above which the run is flagged. */
  readonly maxGrowthPerWebhookBytes: number;
  /** The child's stdout and stderr; anything but /dev/null is searched for secrets afterwards. */
  readonly logFile: string;
  readonly seed: number;
  /** Stack context over the run's own (the throttle pair); tests use it to change the stack. */
  readonly stackContext?: Readonly<Record<string, unknown>>;
}

export const FULL_LOAD: LoadOptions = {
  rate: 200,
  seconds: 60,
  // One request per connection per second: a hung OPS-COM call then delays only its own connection.
  connections: 200,
  lanes: 10,
  failureRate: 0.2,
  warmupSeconds: 10,
  maxGrowthPerWebhookBytes: 4096,
  logFile: "/dev/null",
  seed: 1,
};

export const SHORT_LOAD: LoadOptions = {
  ...FULL_LOAD,
  rate: 100,
  seconds: 5,
  connections: 100,
  lanes: 5,
  warmupSeconds: 2,
  // After 2 s the relay is still filling its pools (sockets to dynalite, the endpoint and the
  // sandbox; hung calls held open): 1-2 MiB over the few hundred webhooks left, 4-6 KB each
  // measured. The short run catches a gross leak; longer runs hold the 4 KB line (253 bytes
  // measured at 100/s for 30 s, none at 200/s for 60 s).
  maxGrowthPerWebhookBytes: 8192,
};

/** The stage throttle the run synthesizes with: twice its rate, so the gateway never throttles it. */
export function loadContext(options: LoadOptions): Record<string, unknown> {
  const headroom = Math.ceil(2 * options.rate);
  return { throttleRate: headroom, throttleBurst: headroom, ...options.stackContext };
}

export interface MemoryPoint {
  readonly rss: number;
  readonly heapUsed: number;
  readonly ledgerRecords: number;
  /** dynalite's process (the ledger table lives in its heap). */
  readonly dynamoRss: number;
  readonly dynamoHeapUsed: number;
}

export interface LoadReport {
  readonly options: LoadOptions;
  /** The stack as the relay child read it from the synthesized assembly. */
  readonly stack: DeployedInfo & { readonly context: Record<string, unknown>; readonly synthesized: boolean };
  readonly sent: number;
  readonly seconds: number;
  readonly achievedRate: number;
  /** Requests written in each whole second of the run. */
  readonly sendsPerSecond: number[];
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  readonly answers: Record<string, number>;
  /** Answered `429 throttled` by the stage, before the function: these never reach the ledger. */
  readonly throttled: number;
  readonly transportErrors: number;
  readonly timeouts: number;
  readonly memory: {
    readonly start: MemoryPoint;
    readonly warm: MemoryPoint;
    readonly end: MemoryPoint;
    readonly drained: MemoryPoint;
    readonly rssSamplesMiB: number[];
    /** The relay child's heap (dynalite's is not in it). */
    readonly growthPerWebhookBytes: number;
    /** dynalite's heap: the table's records, reported, not flagged. */
    readonly dynamoGrowthPerWebhookBytes: number;
    readonly flagged: boolean;
  };
  /**
   * The vendors' resends of the webhooks first answered 409 or 5xx (a ledger call that missed
   * its deadline on a loaded machine answers `503 unavailable`), after the load and before the
   * ledger is counted: each must end in a final 2xx.
   */
  readonly resends: ResendReport & { readonly webhooks: number; readonly seconds: number };
  readonly ledgerAfterLoad: ChildStats["ledger"];
  readonly ledgerAccountsForEverySend: boolean;
  readonly drain: { rounds: number; virtualSeconds: number; open: number; wallSeconds: number };
  readonly ledgerAfterDrain: ChildStats["ledger"];
  readonly queueAfterDrain: ChildStats["queue"];
  readonly opscom: {
    readonly deleteRequests: number;
    readonly faultsInjected: Record<string, number>;
    readonly permits: { once: number; moreThanOnce: number; never: number };
  };
  readonly leaks: { logBytes: number; hits: string[]; answerHits: number };
  readonly ok: boolean;
}

export const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

export function formatLoadReport(r: LoadReport): string {
  const o = r.options;
  const k = r.stack;
  const rows = (values: Record<string, number>) =>
    Object.entries(values)
      .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
      .map(([k, v]) => `  ${k.padEnd(30)} ${String(v).padStart(7)}`)
      .join("\n");
  const mem = (label: string, p: MemoryPoint) =>
    `  ${label.padEnd(22)} relay rss ${String(mib(p.rss)).padStart(6)} MiB, heap (after GC) ${String(mib(p.heapUsed)).padStart(6)} MiB   dynalite rss ${String(mib(p.dynamoRss)).padStart(6)} MiB, heap ${String(mib(p.dynamoHeapUsed)).padStart(6)} MiB   ledger records ${p.ledgerRecords}`;
  return [
    `load: ${o.rate} webhooks/s for ${o.seconds} s (${r.sent} distinct signed webhooks, one permit each), ` +
      `${o.connections} connections in ${o.lanes} staggered autocannon lanes, ${Math.round(o.failureRate * 100)}% OPS-COM faults (transient kinds)`,
    `stack: synthesized with context ${JSON.stringify(k.context)} (the stage throttle at twice the rate, so it never throttles the run; all else the stack's defaults)`,
    `  ${k.assemblyDirectory} (${k.synthesized ? "synthesized for this run" : "cached"}); stage throttle ${k.gateway.rateLimit}/s burst ${k.gateway.burstLimit}; ` +
      `vendor ${k.vendorIds[0]}; FORWARD_TIMEOUT_MS ${k.environment.FORWARD_TIMEOUT_MS}, RETRY_MAX_ATTEMPTS ${k.environment.RETRY_MAX_ATTEMPTS}, ingest timeout ${k.ingestTimeoutMs / 1000} s; ` +
      `retry queue visibility ${k.retryQueue.visibilityTimeoutSeconds} s, maxReceiveCount ${k.retryQueue.maxReceiveCount}; mapping batch ${k.eventSource.batchSize} × ${k.eventSource.maxConcurrency} pollers`,
    `sent ${r.sent} in ${r.seconds} s (${r.achievedRate}/s overall); transport errors ${r.transportErrors}, timeouts ${r.timeouts}`,
    `  requests written per second: ${r.sendsPerSecond.join(" ")}`,
    `latency (ms, request written → answer read): p50 ${r.latencyMs.p50}, p90 ${r.latencyMs.p90}, p99 ${r.latencyMs.p99}, max ${r.latencyMs.max}, mean ${r.latencyMs.mean}`,
    "answers",
    rows(r.answers),
    "memory: the relay child, and dynalite (the ledger table) in its own process",
    mem("start", r.memory.start),
    mem(`after ${o.warmupSeconds} s warm-up`, r.memory.warm),
    mem("end of load", r.memory.end),
    mem("after drain", r.memory.drained),
    `  relay rss each second (MiB): ${r.memory.rssSamplesMiB.join(" ")}`,
    `  relay heap growth after warm-up: ${r.memory.growthPerWebhookBytes} bytes per webhook (flag above ${o.maxGrowthPerWebhookBytes}): ${r.memory.flagged ? "FLAGGED" : "ok"}; dynalite's: ${r.memory.dynamoGrowthPerWebhookBytes} bytes per webhook (the table, not flagged)`,
    `vendors' resends of 409/5xx answers: ${r.resends.webhooks} webhooks in ${r.resends.seconds} s; retryable on the way ${JSON.stringify(r.resends.retryableAnswers)}, final ${JSON.stringify(r.resends.finalAnswers)}${r.resends.unsettled.length ? `, UNSETTLED ${r.resends.unsettled.length}` : ""}`,
    `ledger after load (Scan): ${r.ledgerAfterLoad.total} records ${JSON.stringify(r.ledgerAfterLoad.byState)} for ${r.sent} webhooks sent${r.throttled ? ` (${r.throttled} throttled by the stage)` : ""}: ${r.ledgerAccountsForEverySend ? "every webhook accounted for" : "MISMATCH"}`,
    `drain (faults off): ${r.drain.rounds} worker rounds in ${r.drain.wallSeconds} s, the SQS clock moved ${r.drain.virtualSeconds} s; ledger ${JSON.stringify(r.ledgerAfterDrain.byState)}; retry queue ${r.queueAfterDrain.waiting} held, ${r.queueAfterDrain.deadLetters} dead-lettered`,
    `OPS-COM: ${r.opscom.deleteRequests} delete requests; faults injected ${JSON.stringify(r.opscom.faultsInjected)}`,
    `deletes per permit: exactly once ${r.opscom.permits.once}, more than once ${r.opscom.permits.moreThanOnce}, never ${r.opscom.permits.never}`,
    o.logFile === "/dev/null"
      ? `leak search: answers only (${r.leaks.answerHits} hits); pass --log-file to search the relay's logs too`
      : `leak search: ${Math.round(r.leaks.logBytes / 1024)} KiB of relay logs and every answer: ${r.leaks.hits.length + r.leaks.answerHits} hits`,
    r.ok
      ? `RESULT: no 5xx (a 503 only where the vendor's resend then got a 2xx), nothing throttled, every webhook in the ledger, every permit deleted exactly once after the drain, no secret in ${o.logFile === "/dev/null" ? "any answer" : "the logs or any answer"}`
      : "RESULT: FAILED — see above",
  ].join("\n");
}

/** The command line (`node:util` parseArgs, strict): an unknown flag or a bad number throws. */
export function parseLoadArgs(args: string[]): LoadOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      short: { type: "boolean" },
      rate: { type: "string" },
      seconds: { type: "string" },
      connections: { type: "string" },
      lanes: { type: "string" },
      "failure-rate": { type: "string" },
      // Gone: the run takes FORWARD_TIMEOUT_MS from the stack (refused below, with why).
      "forward-timeout-ms": { type: "string" },
      "log-file": { type: "string" },
      seed: { type: "string" },
    },
  });
  if (values["forward-timeout-ms"] !== undefined) {
    throw new Error(
      "--forward-timeout-ms is gone: the load run takes FORWARD_TIMEOUT_MS from the synthesized stack (the construct's forwardTimeout, 5 s by default)",
    );
  }
  const base = values.short ? SHORT_LOAD : FULL_LOAD;
  const number = (name: keyof typeof values, fallback: number, min: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n) || n < min) {
      throw new Error(`--${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const failureRate = number("failure-rate", base.failureRate, 0);
  if (failureRate > 1) throw new Error(`--failure-rate must be 0..1, got ${failureRate}`);
  return {
    ...base,
    rate: number("rate", base.rate, Number.MIN_VALUE),
    seconds: number("seconds", base.seconds, Number.MIN_VALUE),
    connections: number("connections", base.connections, 1),
    lanes: number("lanes", base.lanes, 1),
    failureRate,
    logFile: values["log-file"] ?? base.logFile,
    seed: number("seed", base.seed, 0),
  };
}
