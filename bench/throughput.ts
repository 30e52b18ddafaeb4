// Throughput: webhooks/s through the local relay and through the bare forwarder, driven by
// the same load generator (autocannon, in this process) at the same concurrency for the same
// duration. The relay, the forwarder and the OPS-COM sandbox each run in a process of their
// own. Every request is a distinct signed webhook for a permit that exists, so every one
// really deletes: permits are created through the sandbox's admin endpoint and the requests
// signed before each run starts. After a warm-up of each, the runs go in rounds of forwarder,
// relay, relay, forwarder, so drift on a shared machine falls on both sides alike; each side's
// rate is its webhooks over its seconds, summed over the rounds.
//
// From /proc: the CPU each server spends per webhook (what bounds its rate, and so explains
// the ratio), and the relay's resident memory, whose peak (VmHWM) covers its whole life.
import { DEMO_CLIENT_CODE, DEMO_VENDOR } from "../local/harness";
import { canonicalEvent, generateSigningSecret } from "../local/vendor-kit";
import type { Bundles } from "./bundles";
import { cpuSecondsOf, memoryOf, type Service, startService } from "./processes";
import { median } from "./stats";
import { type SignedRequest, standardSigner } from "./webhooks";

// autocannon ships no types; this is the whole surface used here.
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
  latency: { p50: number; p99: number };
  statusCodeStats: Record<string, { count: number }>;
}
const autocannon = require("autocannon") as (options: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

const TOKEN = "BENCH-THROUGHPUT-TOKEN-0123456789";
/** The sandbox's admin endpoint creates at most this many permits per call. */
const PERMITS_PER_CALL = 10_000;
/**
 * Webhooks signed (and permits created) per second of a run before it starts: above what
 * either side reaches on a 2-core machine. A faster machine tops the pool up during the run
 * whenever fewer than LOW_WATER remain; a run whose pool still runs dry fails and says so.
 */
const POOL_PER_SECOND = 4_000;
const LOW_WATER = 5_000;
/** One round: the relay's runs sit between the forwarder's, so a drift falls on both alike. */
const ROUND = ["forwarder", "relay", "relay", "forwarder"] as const;

export interface ThroughputPlan {
  readonly connections: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly warmupSeconds: number;
  /** Profile the relay and the forwarder (written to dist/bench/profiles/ when they exit). */
  readonly profile?: boolean;
}

export interface RunReport {
  readonly target: "relay" | "forwarder";
  readonly seconds: number;
  readonly webhooks: number;
  readonly perSecond: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** CPU the relay's (or forwarder's) process spent per webhook answered: what bounds its rate. */
  readonly cpuMicrosPerWebhook: number;
}

export interface ThroughputReport {
  readonly ratio: number;
  readonly relayPerSecond: number;
  readonly forwarderPerSecond: number;
  /** Medians over the runs. */
  readonly relayCpuMicrosPerWebhook: number;
  readonly forwarderCpuMicrosPerWebhook: number;
  readonly runs: RunReport[];
  readonly relayMemory: {
    readonly peakMiB: number;
    readonly idleMiB: number;
    readonly endMiB: number;
    /** JS heap in use after a full GC, before the first run and after the last. */
    readonly idleHeapMiB: number;
    readonly retainedHeapMiB: number;
    /** Webhooks the relay's in-memory ledger holds by the end (it never forgets one). */
    readonly ledgerRecords: number;
  };
}

export async function measureThroughput(bundles: Bundles, plan: ThroughputPlan): Promise<ThroughputReport> {
  const vendorSecret = generateSigningSecret();
  const common = {
    NODE_OPTIONS: "--enable-source-maps",
    POWERTOOLS_SERVICE_NAME: "opscom-permit-relay",
    POWERTOOLS_METRICS_NAMESPACE: "OpscomPermitRelay",
    POWERTOOLS_LOG_LEVEL: "INFO",
    BENCH_OPSCOM_TOKEN: TOKEN,
    BENCH_CLIENT_CODE: DEMO_CLIENT_CODE,
  };
  const sandbox = await startService(bundles.sandboxServer, { env: common });
  const services: Service[] = [sandbox];
  try {
    const env = { ...common, BENCH_SANDBOX_URL: sandbox.url, BENCH_VENDOR_SECRET: vendorSecret };
    const profile = plan.profile === true;
    const relay = await startService(bundles.relayServer, { env, profile, nodeFlags: ["--expose-gc"] });
    services.push(relay);
    const forwarder = await startService(bundles.bareForwarder, { env, profile });
    services.push(forwarder);
    const idleMiB = memoryOf(relay.pid).rssMiB;
    const idleHeap = await relay.ask<{ heapUsedMiB: number }>("heap");

    const sign = standardSigner(vendorSecret);
    const targets = { relay, forwarder };
    const load = (target: RunReport["target"], seconds: number) =>
      loadRun(target, targets[target], sandbox.url, sign, plan.connections, seconds);

    const warmups = [await load("forwarder", plan.warmupSeconds), await load("relay", plan.warmupSeconds)];
    const runs: RunReport[] = [];
    for (let round = 0; round < plan.rounds; round++) {
      for (const target of ROUND) runs.push(await load(target, plan.seconds));
    }
    const endMemory = memoryOf(relay.pid);
    const { heapUsedMiB } = await relay.ask<{ heapUsedMiB: number }>("heap");

    const of = (target: RunReport["target"]) => runs.filter((r) => r.target === target);
    const rate = (mine: RunReport[]) =>
      mine.reduce((sum, r) => sum + r.webhooks, 0) / mine.reduce((sum, r) => sum + r.seconds, 0);
    return {
      ratio: rate(of("relay")) / rate(of("forwarder")),
      relayPerSecond: Math.round(rate(of("relay"))),
      forwarderPerSecond: Math.round(rate(of("forwarder"))),
      relayCpuMicrosPerWebhook: median(of("relay").map((r) => r.cpuMicrosPerWebhook)),
      forwarderCpuMicrosPerWebhook: median(of("forwarder").map((r) => r.cpuMicrosPerWebhook)),
      runs,
      relayMemory: {
        peakMiB: endMemory.peakMiB,
        idleMiB,
        endMiB: endMemory.rssMiB,
        idleHeapMiB: idleHeap.heapUsedMiB,
        retainedHeapMiB: heapUsedMiB,
        ledgerRecords: [...warmups, ...runs]
          .filter((r) => r.target === "relay")
          .reduce((sum, r) => sum + r.webhooks, 0),
      },
    };
  } finally {
    for (const service of services.reverse()) await service.stop();
  }
}

/**
 * One autocannon run against `server`. Every request takes the next pre-signed webhook from
 * the pool; the run fails if the pool runs dry, if any answer is not 2xx, or if the sandbox
 * saw fewer deletes than there were 2xx answers.
 */
async function loadRun(
  target: RunReport["target"],
  server: Service,
  sandboxUrl: string,
  sign: (body: string) => SignedRequest,
  connections: number,
  seconds: number,
): Promise<RunReport> {
  const pool: SignedRequest[] = [];
  const topUp = async (count: number) => {
    for (const ref of await createPermits(sandboxUrl, count)) pool.push(sign(canonicalEvent(ref)));
  };
  await topUp(Math.ceil(seconds * POOL_PER_SECOND));
  let next = 0;
  let toppingUp: Promise<void> | undefined;
  const take = () => {
    if (!toppingUp && pool.length - next < LOW_WATER) {
      toppingUp = topUp(PERMITS_PER_CALL).finally(() => {
        toppingUp = undefined;
      });
    }
    // Past the end of the pool, repeat the last webhook: counted below and fatal.
    return pool[Math.min(next++, pool.length - 1)];
  };

  const deletedBefore = await deletesSucceeded(sandboxUrl);
  const cpuBefore = cpuSecondsOf(server.pid);
  const result = await autocannon({
    url: server.url,
    connections,
    duration: seconds,
    requests: [
      {
        method: "POST",
        path: `/webhooks/${DEMO_VENDOR}`,
        setupRequest: (request) => ({ ...request, ...take() }),
      },
    ],
  });
  const cpuSeconds = cpuSecondsOf(server.pid) - cpuBefore;
  await toppingUp;
  const deleted = (await deletesSucceeded(sandboxUrl)) - deletedBefore;
  const problems = [
    next > pool.length ? `the pool of ${pool.length} webhooks ran dry (raise POOL_PER_SECOND)` : "",
    result.non2xx > 0
      ? `${result.non2xx} answers were not 2xx (${JSON.stringify(result.statusCodeStats)})`
      : "",
    result.errors + result.timeouts > 0 ? `${result.errors} errors, ${result.timeouts} timeouts` : "",
    deleted < result["2xx"] ? `only ${deleted} deletes reached OPS-COM for ${result["2xx"]} 2xx answers` : "",
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`throughput run against the ${target}: ${problems.join("; ")}`);
  return {
    target,
    seconds: result.duration,
    webhooks: result["2xx"],
    perSecond: Math.round(result["2xx"] / result.duration),
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    cpuMicrosPerWebhook: Math.round((cpuSeconds * 1e6) / result["2xx"]),
  };
}

async function createPermits(sandboxUrl: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  while (ids.length < count) {
    const response = await fetch(`${sandboxUrl}/__sandbox/permits`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ count: Math.min(PERMITS_PER_CALL, count - ids.length) }),
    });
    ids.push(...((await response.json()) as { referenceIds: string[] }).referenceIds);
  }
  return ids;
}

async function deletesSucceeded(sandboxUrl: string): Promise<number> {
  const response = await fetch(`${sandboxUrl}/__sandbox/state`);
  return ((await response.json()) as { stats: { deletesSucceeded: number } }).stats.deletesSucceeded;
}
