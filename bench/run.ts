// The performance benchmark of issue 6: the relay measured side by side with the least any
// relay could cost on the same machine, in one run, so the ratios hold where absolute times
// drift. It builds the bundles the way the stack does, runs every measurement, prints a
// table and writes bench/results.json (the figures) and dist/bench/results-detail.json (the
// medians, rates and breakdowns behind them).
//
//   npm run bench                 full run, the figures for the README (~95 s on 2 cores)
//   npm run bench -- --short      CI's run: fewer runs, shorter loads (~30 s on 2 cores)
//   npm run bench -- --profile    also writes CPU profiles of the relay, the forwarder and the
//                                 handler-timing children to dist/bench/profiles/ (open them
//                                 in Chrome DevTools)
//
// The figures are never asserted here: a missed target is printed as MISS and the run still
// succeeds. A run that could not measure (a wrong answer, a child that died) fails.

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { RETRY_SCHEDULE_SECONDS } from "../lambda/retry-schedule";
import { buildBundles, OUT_DIR } from "./bundles";
import type { HandlerTimingReport } from "./children/handler-timing";
import { COLD_START_NODE, measureColdStarts, type Phases } from "./cold-start";
import { type CostParams, costReport, formatCostTable, memoryTradeoff } from "./cost";
import { measureCostPaths } from "./cost-measure";
import { countOpscomConnections, countSecretsCalls } from "./counts";
import { PRICE_REGION, PRICE_TABLE_DATE } from "./prices";
import { runForReport } from "./processes";
import { formatTable, type Results, verdicts } from "./report";
import { round } from "./stats";
import { measureThroughput } from "./throughput";

// Strict, so a typo (`--shrot`) is an error rather than a full run.
const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  allowPositionals: false,
  options: { short: { type: "boolean" }, profile: { type: "boolean" } },
});
const SHORT = flags.short === true;
const PROFILE = flags.profile === true;

// Cold-start runs are multiples of 3, so each of the three contenders runs first, second and
// third equally often.
const PLAN = SHORT
  ? {
      coldStartRuns: 6,
      throughput: { connections: 32, seconds: 2, rounds: 1, warmupSeconds: 1 },
      handlerWarmup: 2_000,
      handlerInvocations: 10_000,
    }
  : {
      coldStartRuns: 21,
      throughput: { connections: 32, seconds: 5, rounds: 2, warmupSeconds: 3 },
      handlerWarmup: 5_000,
      handlerInvocations: 20_000,
    };
const SECRETS_WEBHOOKS = 10_000;
const SECRETS_CONCURRENCY = 32;
const OPSCOM_DELIVERIES = 1_000;
const HANDLER_BODY_BYTES = 1024;
// The cost model's stated parameters: what the run cannot measure on this machine.
const COST = {
  passesPerPath: SHORT ? 10 : 40,
  /** OPS-COM's answer time in production (the sandbox answers in under a millisecond). */
  opscomLatencyMs: 200,
  webhooksPerSecond: 10,
  faultRate: 0.05,
  outageSeconds: 3600,
  webhooks: 1_000_000,
  memorySizesMb: [128, 256, 512, 1024, 1769],
};

const RESULTS_FILE = path.join(__dirname, "results.json");
const DETAIL_FILE = path.join(OUT_DIR, "results-detail.json");

async function main(): Promise<void> {
  const started = performance.now();
  const mode = SHORT ? "short" : "full";
  const cores = os.cpus().length;
  const loadBefore = os.loadavg()[0] as number;
  log(`opscom-permit-relay benchmark (${mode}), node ${process.version}, ${cores} cores`);
  if (loadBefore > cores / 2) {
    log(`the machine is busy (load average ${loadBefore.toFixed(1)}): expect noisy figures`);
  }

  log("building the bundles with LAMBDA_BUNDLING");
  const bundles = await buildBundles();

  const coldStartNode = execFileSync(COLD_START_NODE, ["--version"], { encoding: "utf8" }).trim();
  log(
    `cold starts: ${PLAN.coldStartRuns} fresh processes each for the relay and two floors, taking turns, on node ${coldStartNode}`,
  );
  const cold = await measureColdStarts(
    { relay: bundles.paths.ingest, floor: bundles.paths.floor, httpFloor: bundles.paths.httpFloor },
    PLAN.coldStartRuns,
  );

  const { seconds, rounds, warmupSeconds, connections } = PLAN.throughput;
  log(
    `throughput: ${connections} connections, ${rounds * 4} runs of ${seconds} s after ${warmupSeconds} s warm-ups`,
  );
  const throughput = await measureThroughput(bundles.paths, { ...PLAN.throughput, profile: PROFILE });

  log(
    `handler time: ${PLAN.handlerInvocations} signed ${HANDLER_BODY_BYTES} B webhooks after ${PLAN.handlerWarmup}`,
  );
  const timing = await runForReport<HandlerTimingReport>(bundles.paths.handlerTiming, {
    profile: PROFILE,
    env: {
      NODE_OPTIONS: "--enable-source-maps",
      POWERTOOLS_SERVICE_NAME: "opscom-permit-relay",
      POWERTOOLS_METRICS_NAMESPACE: "OpscomPermitRelay",
      POWERTOOLS_LOG_LEVEL: "INFO",
      BENCH_WARMUP: String(PLAN.handlerWarmup),
      BENCH_INVOCATIONS: String(PLAN.handlerInvocations),
      BENCH_BODY_BYTES: String(HANDLER_BODY_BYTES),
    },
  });

  log(
    `Secrets Manager calls: ${SECRETS_WEBHOOKS} webhooks from one vendor, ${SECRETS_CONCURRENCY} in flight`,
  );
  const secrets = await countSecretsCalls(SECRETS_WEBHOOKS, SECRETS_CONCURRENCY);

  log(`OPS-COM connections: ${OPSCOM_DELIVERIES} sequential deliveries`);
  const opscom = await countOpscomConnections(OPSCOM_DELIVERIES);

  log(`cost per million webhooks: ${COST.passesPerPath} passes of each path through the real handlers`);
  const costPaths = await measureCostPaths(COST.passesPerPath);
  const costParams: CostParams = {
    opscomLatencyMs: COST.opscomLatencyMs,
    webhooksPerSecond: COST.webhooksPerSecond,
    accessLogEventBytes: costPaths.accessLogEventBytes,
    secretsCallsPerEnvironment: costPaths.secretsCallsPerEnvironment,
    secretCacheTtlSeconds: costPaths.deployed.secretCacheTtlSeconds,
    ledgerTtlDays: costPaths.deployed.ledgerTtlDays,
    architecture: costPaths.deployed.architecture,
    xrayReservoirPerSecond: costPaths.deployed.gatewayTracing ? 1 : 0,
    xrayFixedRate: costPaths.deployed.gatewayTracing ? 0.05 : 0,
  };
  const cost = costReport({
    relay: costPaths.relay,
    floor: costPaths.floor,
    params: costParams,
    faultRate: COST.faultRate,
    outage: { seconds: COST.outageSeconds, retrySchedule: RETRY_SCHEDULE_SECONDS },
    webhooks: COST.webhooks,
  });
  const memory = memoryTradeoff(
    costPaths.relay.delivered,
    timing.powertools.p50 / 1000,
    cold.phases.relay.wallMs,
    COST.memorySizesMb,
    costParams,
  );

  const results: Results = {
    ingestBundleBytes: bundles.ingestBytes,
    coldStartRatio: round(cold.ratio, 3),
    throughputRatio: round(throughput.ratio, 3),
    handlerMicrosP50: round(timing.powertools.p50, 1),
    handlerMicrosP99: round(timing.powertools.p99, 1),
    peakRssMiB: round(throughput.relayMemory.peakMiB, 1),
    secretsCallsPer10k: round((secrets.calls * 10_000) / secrets.webhooks, 2),
    opscomConnectionsPer1k: round((opscom.connections * 1_000) / opscom.deliveries, 2),
    costRatioToFloor: round(cost.delivered.ratio, 3),
    costPerMillionUsd: round(cost.delivered.relayUsd, 3),
  };
  const detail = {
    mode,
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      coldStartNode,
      cpus: cores,
      cpu: os.cpus()[0]?.model,
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
    },
    plan: PLAN,
    results,
    bundle: { ingestBytes: bundles.ingestBytes, ingestPackages: bundles.ingestPackages },
    coldStart: cold,
    throughput,
    handlerMicros: timing,
    secrets,
    opscom,
    cost: { plan: COST, params: costParams, paths: costPaths, mixes: cost, memory },
    seconds: round((performance.now() - started) / 1000, 1),
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(DETAIL_FILE, `${JSON.stringify(detail, null, 2)}\n`);

  console.log(`\n${formatTable(verdicts(results))}\n`);
  const ms = (phases: Phases) =>
    `${phases.wallMs} ms (node ${phases.bootMs} + load ${phases.loadMs} + first webhook ${phases.invokeMs})`;
  console.log(`cold start, median   relay       ${ms(cold.phases.relay)}`);
  console.log(`                     floor       ${ms(cold.phases.floor)}`);
  console.log(
    `                     http floor  ${ms(cold.phases.httpFloor)}: ratio ${round(cold.ratioToHttpFloor, 3)}`,
  );
  console.log(
    `throughput           relay ${throughput.relayPerSecond}/s (${throughput.relayCpuMicrosPerWebhook} µs CPU each), ` +
      `forwarder ${throughput.forwarderPerSecond}/s (${throughput.forwarderCpuMicrosPerWebhook} µs CPU each)`,
  );
  const mem = throughput.relayMemory;
  console.log(
    `relay memory         RSS idle ${round(mem.idleMiB, 1)} MiB, peak ${round(mem.peakMiB, 1)} MiB; ` +
      `heap after GC ${round(mem.idleHeapMiB, 1)} → ${round(mem.retainedHeapMiB, 1)} MiB ` +
      `holding ${mem.ledgerRecords} ledger records`,
  );
  const t = (label: string, timing: HandlerTimingReport["powertools"]) =>
    `${label} p50 ${round(timing.p50, 1)} µs, p99 ${round(timing.p99, 1)} µs, mean ${round(timing.mean, 1)} µs`;
  console.log(t("handler, Powertools  ", timing.powertools));
  console.log(t("handler, no telemetry", timing.silentTelemetry));
  console.log(
    `\ncost per million webhooks (${COST.webhooksPerSecond}/s, OPS-COM ${COST.opscomLatencyMs} ms; ` +
      `prices ${PRICE_REGION} ${PRICE_TABLE_DATE}):\n${formatCostTable(cost)}`,
  );
  for (const [name, mix] of Object.entries(cost)) {
    console.log(`  ${name}: ${mix.dominant} is the relay's largest line above the floor`);
  }
  console.log("memory   cold start   warm   Lambda $/M   total $/M   (model: CPU ∝ memory up to 1,769 MB)");
  for (const row of memory) {
    console.log(
      `${String(row.memoryMb).padStart(6)}  ${row.coldStartMs.toFixed(0).padStart(8)} ms  ` +
        `${row.warmMs.toFixed(0).padStart(4)} ms  ${row.lambdaUsdPerMillion.toFixed(3).padStart(10)}  ` +
        `${row.totalUsdPerMillion.toFixed(3).padStart(10)}`,
    );
  }
  console.log(
    `\nwrote ${path.relative(process.cwd(), RESULTS_FILE)} and ${path.relative(process.cwd(), DETAIL_FILE)}`,
  );
  console.log(`${detail.seconds} s`);
}

function log(message: string): void {
  console.log(`· ${message}`);
}

main().then(
  // Keep-alive sockets of SDK clients would hold the process open for a while.
  () => process.exit(0),
  (error: Error) => {
    console.error(`bench failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
