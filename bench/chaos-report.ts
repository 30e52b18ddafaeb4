// The chaos run's options, its command line and its report: what a run is asked to do and what
// it says at the end. The run itself is bench/chaos.ts.

import { parseArgs } from "node:util";
import type { FaultMode } from "../local/opscom-sandbox";

/** The faults at the edges, each of which can be switched on alone. */
export const EDGE_FAULTS = [
  "opscom-403",
  "opscom-404",
  "opscom-stale-socket",
  "dynamodb-lost-claim",
  "dynamodb-lost-settle",
  "dynamodb-throttle-settle",
  "dynamodb-stall",
  "secrets-stall",
] as const;
export type EdgeFault = (typeof EDGE_FAULTS)[number];

export interface ChaosOptions {
  readonly webhooks: number;
  readonly failureRate: number;
  readonly duplicateRate: number;
  readonly killRate: number;
  readonly seed: number;
  readonly concurrency: number;
  readonly faults: readonly EdgeFault[];
  /** Share of claims, and of outcome writes, that meet each DynamoDB fault picked by rate. */
  readonly dynamoFaultRate: number;
  /** The OPS-COM faults the failure rate draws from; default: every kind plus the enabled edge faults. */
  readonly opscomModes?: readonly FaultMode[];
  /** Stack context on top of the run's own (`cdk synth -c key=value`), e.g. `{ retryMaxAttempts: 3 }`. */
  readonly context?: Readonly<Record<string, unknown>>;
}

export const DEFAULT_CHAOS: ChaosOptions = {
  webhooks: 2000,
  failureRate: 0.3,
  duplicateRate: 0.1,
  killRate: 0.05,
  seed: 1,
  concurrency: 32,
  faults: EDGE_FAULTS,
  dynamoFaultRate: 0.03,
};

export interface ChaosReport {
  readonly options: ChaosOptions;
  /** What the run took from the synthesized stack. */
  readonly stack: {
    readonly assembly: string;
    readonly context: Readonly<Record<string, unknown>>;
    readonly maxReceiveCount: number;
    readonly visibilityTimeoutSeconds: number;
    readonly batchSize: number;
    readonly maxConcurrency: number;
    readonly reportBatchItemFailures: boolean;
    readonly ingestTimeoutMs: number;
    readonly retryWorkerTimeoutMs: number;
    readonly forwardTimeoutMs: number;
  };
  readonly deliveries: number;
  readonly answers: Record<string, number>;
  readonly kills: Record<string, number>;
  /**
   * The functions' outgoing requests by what the kill switch told them to be (bench/chaos-edge.ts):
   * a kill point can only fire on a request it recognises, so none may be "other".
   */
  readonly requests: Record<string, number>;
  /** OPS-COM's standing modes under their sandbox names, the edge faults under theirs. */
  readonly faultsInjected: Record<string, number>;
  readonly ledgerStates: Record<string, number>;
  readonly opscomDeletes: { readonly once: number; readonly twice: number; readonly never: number };
  readonly deadLetteredThenRedriven: number;
  /** Messages the event source mapping handed to the retry worker, redriven ones included. */
  readonly retryReceives: number;
  /** OPS-COM faults met after the first redrive: none, since on-call redrives into a healthy OPS-COM. */
  readonly opscomFaultsAfterRedrive: number;
  /** Messages still in the retry queue, and in the dead-letter queue after the redrive. */
  readonly leftInRetryQueue: number;
  readonly leftInDeadLetterQueue: number;
  readonly nonTerminal: string[];
  /** Promises to a vendor broken along the way, by kind, and the first few webhooks of each. */
  readonly brokenPromises: Record<string, number>;
  readonly brokenExamples: string[];
  /** The functions' output: log lines, those at ERROR, EMF metric lines, and lines carrying a secret. */
  readonly logs: {
    readonly lines: number;
    readonly errors: number;
    readonly metrics: number;
    readonly secretsInLogs: number;
  };
  readonly virtualHours: number;
  readonly seconds: number;
  readonly ok: boolean;
}

export function formatReport(report: ChaosReport): string {
  const rows = (title: string, values: Record<string, number>) =>
    [
      `${title}`,
      ...Object.entries(values)
        .sort()
        .map(
          ([k, v]) =>
            `  ${k.padEnd(Math.max(28, ...Object.keys(values).map((key) => key.length)))} ${String(v).padStart(7)}`,
        ),
    ].join("\n");
  const o = report.options;
  const failures = [
    report.nonTerminal.length > 0 &&
      `${report.nonTerminal.length} not terminal (${report.nonTerminal.slice(0, 5).join(", ")})`,
    report.opscomDeletes.never > 0 && `${report.opscomDeletes.never} permits never deleted`,
    report.opscomDeletes.twice > 0 && `${report.opscomDeletes.twice} permits deleted more than once`,
    report.leftInRetryQueue > 0 && `${report.leftInRetryQueue} left in the retry queue`,
    report.leftInDeadLetterQueue > 0 &&
      `${report.leftInDeadLetterQueue} left in the dead-letter queue that a redrive could not deliver`,
    ...Object.entries(report.brokenPromises).map(([kind, n]) => `${n}× ${kind}`),
    report.logs.secretsInLogs > 0 &&
      `${report.logs.secretsInLogs} log lines carry the OPS-COM token or a signing secret`,
  ].filter((line): line is string => typeof line === "string");
  return [
    `chaos: ${o.webhooks} webhooks, ${report.deliveries} deliveries (${Math.round(o.duplicateRate * 100)}% sent twice or more), ` +
      `${Math.round(o.failureRate * 100)}% OPS-COM faults, ${Math.round(o.killRate * 100)}% handler kills, seed ${o.seed}`,
    `edge faults: ${o.faults.length > 0 ? o.faults.join(", ") : "none"}`,
    `stack: ${report.stack.assembly} (context ${JSON.stringify(report.stack.context)})`,
    `  retry queue: dead-letters after ${report.stack.maxReceiveCount} receives, visibility ${report.stack.visibilityTimeoutSeconds} s; ` +
      `event source: batches of ${report.stack.batchSize}, ${report.stack.maxConcurrency} pollers, ` +
      `${report.stack.reportBatchItemFailures ? "reports" : "no"} batch item failures`,
    `  timeouts: ingest ${report.stack.ingestTimeoutMs / 1000} s, retry worker ${report.stack.retryWorkerTimeoutMs / 1000} s, OPS-COM call ${report.stack.forwardTimeoutMs} ms`,
    rows("final ledger state", report.ledgerStates),
    rows("deletes at OPS-COM per permit", {
      "exactly once": report.opscomDeletes.once,
      "more than once": report.opscomDeletes.twice,
      never: report.opscomDeletes.never,
    }),
    rows("answers to vendors", report.answers),
    rows("handlers killed", report.kills),
    rows("the functions' requests, as the kill points told them apart", report.requests),
    rows("faults injected", report.faultsInjected),
    `retry worker receives: ${report.retryReceives}; dead-lettered, then redriven: ${report.deadLetteredThenRedriven} (OPS-COM faults met after the redrive: ${report.opscomFaultsAfterRedrive})`,
    `left in the retry queue: ${report.leftInRetryQueue}; in the dead-letter queue after the redrive: ${report.leftInDeadLetterQueue}`,
    rows("promises to vendors broken", report.brokenPromises),
    ...report.brokenExamples.map((line) => `  e.g. ${line}`),
    `functions' output: ${report.logs.lines} lines (${report.logs.errors} at ERROR, ${report.logs.metrics} EMF metrics), ` +
      `${report.logs.secretsInLogs} carrying the OPS-COM token or a signing secret`,
    `virtual time ${report.virtualHours} h, wall time ${report.seconds} s`,
    report.ok
      ? "RESULT: every webhook in one terminal state, every permit deleted exactly once, none lost, every answer as promised"
      : `RESULT: FAILED — ${failures.join("; ")}`,
  ].join("\n");
}

/** The command line; throws on an unknown flag, a bad number or an unknown fault name. */
export function parseChaosArgs(args: string[]): ChaosOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      webhooks: { type: "string" },
      "failure-rate": { type: "string" },
      "duplicate-rate": { type: "string" },
      "kill-rate": { type: "string" },
      seed: { type: "string" },
      concurrency: { type: "string" },
      "dynamo-fault-rate": { type: "string" },
      faults: { type: "string" },
      context: { type: "string", multiple: true },
    },
  });
  const number = (name: keyof typeof values, fallback: number, min: number, max: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (typeof raw !== "string" || raw.trim() === "" || !(value >= min && value <= max)) {
      throw new Error(`--${name} must be a number ${min}..${max}, got "${raw}"`);
    }
    return value;
  };
  return {
    webhooks: number("webhooks", DEFAULT_CHAOS.webhooks, 1, 1_000_000),
    failureRate: number("failure-rate", DEFAULT_CHAOS.failureRate, 0, 1),
    duplicateRate: number("duplicate-rate", DEFAULT_CHAOS.duplicateRate, 0, 1),
    killRate: number("kill-rate", DEFAULT_CHAOS.killRate, 0, 1),
    seed: number("seed", DEFAULT_CHAOS.seed, 0, 2 ** 32 - 1),
    concurrency: number("concurrency", DEFAULT_CHAOS.concurrency, 1, 1024),
    dynamoFaultRate: number("dynamo-fault-rate", DEFAULT_CHAOS.dynamoFaultRate, 0, 1),
    faults: parseFaults(values.faults),
    context: parseContext(values.context ?? []),
  };
}

/**
 * Stack settings of the gateway and WAF in front of the ingest function. The chaos run invokes
 * the function directly, so one of these would change nothing it exercises: refused, not ignored.
 */
const NOT_MODELLED = ["throttleRate", "throttleBurst", "wafRateLimit", "waf"];

/** Throws on context the chaos run would silently not exercise (see NOT_MODELLED). */
export function refuseUnmodelledContext(context: Readonly<Record<string, unknown>>): void {
  const key = Object.keys(context).find((k) => NOT_MODELLED.includes(k));
  if (key !== undefined) {
    throw new Error(
      `--context ${key}: the chaos run invokes the ingest function directly, past the stage and the WAF, so it would change nothing here; npm run load and npm start model the stage's throttle`,
    );
  }
}

/** `--context key=value`, repeatable, as `cdk synth -c` takes it: values stay strings, the stack parses them. */
function parseContext(pairs: readonly string[]): Record<string, string> {
  const context = Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf("=");
      if (at <= 0) throw new Error(`--context must be key=value, got "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  refuseUnmodelledContext(context);
  return context;
}

/** "all" (the default), "none", or a comma-separated list of `EDGE_FAULTS`. */
function parseFaults(raw: string | undefined): EdgeFault[] {
  if (raw === undefined || raw === "all") return [...EDGE_FAULTS];
  if (raw === "none") return [];
  return raw.split(",").map((name) => {
    const fault = EDGE_FAULTS.find((known) => known === name.trim());
    if (!fault)
      throw new Error(`--faults: unknown fault "${name}"; one of all, none, ${EDGE_FAULTS.join(", ")}`);
    return fault;
  });
}
