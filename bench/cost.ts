// The cost model of issue 13: what a million webhooks cost in AWS charges, built from what one
// webhook's passes through the real handlers used (bench/cost-measure.ts counts them) and the
// price table (bench/prices.ts). Pure arithmetic, so a known mix can be checked by hand
// (test/cost.test.ts). Three traffic mixes for the relay and for the floor — API Gateway and
// WAF in front of one Lambda function that forwards, with nothing but its platform log lines —
// composed from the same per-pass counts with stated probabilities, never from a sample that
// happened to hit or miss a 0.25 % path.
import { PRICES } from "./prices";

/** What one pass through a path used: one webhook through the ingest function, one queued attempt, ... */
export interface PathUsage {
  /** API Gateway REST requests; each is also one WAF inspection and one access-log line. */
  readonly gatewayRequests: number;
  readonly lambdaInvocations: number;
  /** Function time measured in the run, OPS-COM's own latency excluded (it is a parameter). */
  readonly lambdaMs: number;
  readonly memoryMb: number;
  readonly opscomCalls: number;
  readonly dynamoWriteUnits: number;
  readonly dynamoReadUnits: number;
  /** Bytes the pass leaves stored until the ledger's TTL, the per-item 100-byte overhead included. */
  readonly dynamoTableBytes: number;
  readonly dynamoIndexBytes: number;
  readonly sqsRequests: number;
  /** The function's log events (its own lines and Lambda's platform lines), 26 bytes per event included. */
  readonly logBytes: number;
  /** Requests that start an X-Ray trace: gateway requests and queue-triggered invocations. */
  readonly traceRoots: number;
}

export interface CostParams {
  /** OPS-COM's answer time, added to the function time of every call (the sandbox answers in < 1 ms). */
  readonly opscomLatencyMs: number;
  readonly webhooksPerSecond: number;
  /** One access-log event, rendered from the stage's format, 26 bytes included. */
  readonly accessLogEventBytes: number;
  /** GetSecretValue calls a fresh ingest environment makes (measured), repeated every TTL. */
  readonly secretsCallsPerEnvironment: number;
  readonly secretCacheTtlSeconds: number;
  readonly ledgerTtlDays: number;
  readonly architecture: "arm64" | "x86_64";
  /** X-Ray's default sampling rule: the first request each second, then a fixed share. */
  readonly xrayReservoirPerSecond: number;
  readonly xrayFixedRate: number;
}

export const COST_LINES = [
  "apiGateway",
  "waf",
  "lambdaRequests",
  "lambdaDuration",
  "dynamoWrites",
  "dynamoReads",
  "dynamoStorage",
  "secretsManager",
  "sqs",
  "logs",
  "xray",
] as const;
export type CostLine = (typeof COST_LINES)[number];
export type CostBreakdown = Record<CostLine, number>;

/** A path and how many times it runs per webhook sent. */
export interface MixPart {
  readonly usage: PathUsage;
  readonly perWebhook: number;
}

const GIB = 1024 ** 3;
const DAYS_PER_MONTH = 365.25 / 12;

/** Dollars for a million webhooks sent, line by line. */
export function costPerMillion(parts: readonly MixPart[], params: CostParams): CostBreakdown {
  const sum = (pick: (u: PathUsage) => number) =>
    parts.reduce((total, p) => total + pick(p.usage) * p.perWebhook, 0);
  const gateway = sum((u) => u.gatewayRequests);
  const gbSecondPrice =
    params.architecture === "arm64" ? PRICES.lambdaArmGbSecond.usd : PRICES.lambdaX86GbSecond.usd;
  // Lambda bills each invocation's duration rounded up to the millisecond.
  const gbSeconds = sum((u) =>
    u.lambdaInvocations === 0
      ? 0
      : u.lambdaInvocations *
        Math.ceil((u.lambdaMs + u.opscomCalls * params.opscomLatencyMs) / u.lambdaInvocations) *
        (u.memoryMb / 1024 / 1000),
  );
  const storageMonths = params.ledgerTtlDays / DAYS_PER_MONTH;
  const storage =
    ((sum((u) => u.dynamoTableBytes + u.dynamoIndexBytes) * PRICES.dynamoStorageGbMonth.usd +
      sum((u) => u.dynamoTableBytes) * PRICES.dynamoPitrGbMonth.usd) *
      storageMonths) /
    GIB;
  const perWebhook: CostBreakdown = {
    apiGateway: gateway * PRICES.apiGatewayRestRequest.usd,
    waf: gateway * PRICES.wafRequest.usd,
    lambdaRequests: sum((u) => u.lambdaInvocations) * PRICES.lambdaRequest.usd,
    lambdaDuration: gbSeconds * gbSecondPrice,
    dynamoWrites: sum((u) => u.dynamoWriteUnits) * PRICES.dynamoWriteRequestUnit.usd,
    dynamoReads: sum((u) => u.dynamoReadUnits) * PRICES.dynamoReadRequestUnit.usd,
    dynamoStorage: storage,
    secretsManager: secretsCallsPerWebhook(parts, params) * PRICES.secretsManagerCall.usd,
    sqs: sum((u) => u.sqsRequests) * PRICES.sqsRequest.usd,
    logs: ((sum((u) => u.logBytes) + gateway * params.accessLogEventBytes) / GIB) * PRICES.logsIngestedGb.usd,
    xray: sum((u) => u.traceRoots) * xraySampledShare(params) * PRICES.xrayTraceRecorded.usd,
  };
  return Object.fromEntries(COST_LINES.map((line) => [line, perWebhook[line] * 1e6])) as CostBreakdown;
}

export const total = (breakdown: CostBreakdown): number =>
  COST_LINES.reduce((sum, line) => sum + breakdown[line], 0);

/** The share of requests the default rule records at a steady rate. */
export function xraySampledShare(params: CostParams): number {
  const rate = params.webhooksPerSecond;
  if (rate <= params.xrayReservoirPerSecond) return 1;
  return (
    (params.xrayReservoirPerSecond + params.xrayFixedRate * (rate - params.xrayReservoirPerSecond)) / rate
  );
}

/**
 * Secrets are cached per environment for the TTL, so calls follow environments, not webhooks:
 * as many environments as requests in flight (rate × mean gateway-facing duration, at least one),
 * each reading its secrets once per TTL.
 */
export function secretsCallsPerWebhook(parts: readonly MixPart[], params: CostParams): number {
  const gateway = parts.reduce((sum, p) => sum + p.usage.gatewayRequests * p.perWebhook, 0);
  if (gateway === 0 || params.secretsCallsPerEnvironment === 0) return 0;
  const msPerRequest =
    parts.reduce(
      (sum, p) =>
        sum +
        (p.usage.gatewayRequests > 0
          ? (p.usage.lambdaMs + p.usage.opscomCalls * params.opscomLatencyMs) * p.perWebhook
          : 0),
      0,
    ) / gateway;
  const environments = Math.max(1, Math.ceil((params.webhooksPerSecond * gateway * msPerRequest) / 1000));
  return (
    (params.secretsCallsPerEnvironment * environments) /
    (params.secretCacheTtlSeconds * params.webhooksPerSecond)
  );
}

// ---- Traffic mixes ------------------------------------------------------------------------------

/** The relay's measured paths. */
export interface RelayPaths {
  /** Ingest, OPS-COM answers the first call. */
  readonly delivered: PathUsage;
  /** Ingest, the first call fails transiently and the inline retry succeeds. */
  readonly retriedInline: PathUsage;
  /** Ingest, both calls fail: parked on the retry queue, 202. */
  readonly parked: PathUsage;
  /** One queued attempt that delivers (the event source's receive and delete included). */
  readonly workerDelivered: PathUsage;
  /** One queued attempt that fails again: a visibility change sets the next attempt's time. */
  readonly workerFailed: PathUsage;
}

/** The floor's: one invocation per vendor attempt; a failure is the vendor's to retry. */
export interface FloorPaths {
  readonly delivered: PathUsage;
  readonly failed: PathUsage;
}

export interface Outage {
  readonly seconds: number;
  /** Delays between attempts, the relay's (and Standard Webhooks senders') schedule. */
  readonly retrySchedule: readonly number[];
}

export interface Mixes<T> {
  readonly delivered: T;
  readonly transientFaults: T;
  readonly opscomDown: T;
}

/**
 * Each OPS-COM call fails independently with `faultRate`. The relay's ingest retries once
 * inline; a queued attempt calls once. The floor answers 502 and the vendor sends again.
 */
export function relayMixes(
  paths: RelayPaths,
  faultRate: number,
  outage: Outage,
  webhooks: number,
  params: CostParams,
): Mixes<MixPart[]> {
  const p = faultRate;
  const down = outageShare(outage, webhooks, params);
  const retriesInOutage = meanFailedRetries(outage);
  return {
    delivered: [{ usage: paths.delivered, perWebhook: 1 }],
    transientFaults: [
      { usage: paths.delivered, perWebhook: 1 - p },
      { usage: paths.retriedInline, perWebhook: p * (1 - p) },
      { usage: paths.parked, perWebhook: p * p },
      { usage: paths.workerFailed, perWebhook: (p * p * p) / (1 - p) },
      { usage: paths.workerDelivered, perWebhook: p * p },
    ],
    opscomDown: [
      { usage: paths.delivered, perWebhook: 1 - down },
      { usage: paths.parked, perWebhook: down },
      { usage: paths.workerFailed, perWebhook: down * retriesInOutage },
      { usage: paths.workerDelivered, perWebhook: down },
    ],
  };
}

export function floorMixes(
  paths: FloorPaths,
  faultRate: number,
  outage: Outage,
  webhooks: number,
  params: CostParams,
): Mixes<MixPart[]> {
  const p = faultRate;
  const down = outageShare(outage, webhooks, params);
  return {
    delivered: [{ usage: paths.delivered, perWebhook: 1 }],
    transientFaults: [
      { usage: paths.delivered, perWebhook: 1 },
      { usage: paths.failed, perWebhook: p / (1 - p) },
    ],
    opscomDown: [
      { usage: paths.delivered, perWebhook: 1 },
      { usage: paths.failed, perWebhook: down * (1 + meanFailedRetries(outage)) },
    ],
  };
}

/** The share of `webhooks`, sent at the stated rate, that arrive while OPS-COM is down. */
function outageShare(outage: Outage, webhooks: number, params: CostParams): number {
  return Math.min(1, (outage.seconds * params.webhooksPerSecond) / webhooks);
}

/**
 * Retries that still fall inside the outage, averaged over arrival times spread evenly across it
 * (jitter left out): a webhook arriving at t is retried at t + d1, t + d1 + d2, ... and every
 * retry before the outage ends fails.
 */
export function meanFailedRetries(outage: Outage): number {
  const steps = 3600;
  let failed = 0;
  for (let i = 0; i < steps; i++) {
    let at = ((i + 0.5) / steps) * outage.seconds;
    for (const delay of outage.retrySchedule) {
      at += delay;
      if (at >= outage.seconds) break;
      failed++;
    }
  }
  return failed / steps;
}

// ---- Memory size --------------------------------------------------------------------------------

/** Lambda gives a function one full vCPU at 1,769 MB and a proportional share below. */
export const FULL_VCPU_MB = 1769;

export interface MemoryRow {
  readonly memoryMb: number;
  readonly coldStartMs: number;
  readonly warmMs: number;
  readonly lambdaUsdPerMillion: number;
  readonly totalUsdPerMillion: number;
}

/**
 * The model: CPU work stretches by 1,769 MB ÷ memory below a full vCPU (this machine's one core
 * standing in for it), waits do not. A cold start is counted as CPU work throughout.
 */
export function memoryTradeoff(
  delivered: PathUsage,
  cpuMs: number,
  coldStartMs: number,
  sizes: readonly number[],
  params: CostParams,
): MemoryRow[] {
  return sizes.map((memoryMb) => {
    const stretch = Math.max(1, FULL_VCPU_MB / memoryMb);
    const usage: PathUsage = {
      ...delivered,
      memoryMb,
      lambdaMs: delivered.lambdaMs + cpuMs * (stretch - 1),
    };
    const breakdown = costPerMillion([{ usage, perWebhook: 1 }], params);
    return {
      memoryMb,
      coldStartMs: coldStartMs * stretch,
      warmMs: usage.lambdaMs + delivered.opscomCalls * params.opscomLatencyMs,
      lambdaUsdPerMillion: breakdown.lambdaRequests + breakdown.lambdaDuration,
      totalUsdPerMillion: total(breakdown),
    };
  });
}

// ---- DynamoDB units, by the documented rules -----------------------------------------------------

export type AttributeValue =
  | { S: string }
  | { N: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { L: AttributeValue[] };
export type Item = Record<string, AttributeValue>;

/** An item's size as DynamoDB bills it: each attribute's name in UTF-8 plus its value. */
export function itemBytes(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item))
    bytes += Buffer.byteLength(name) + valueBytes(value, name);
  return bytes;
}

function valueBytes(value: AttributeValue, name: string): number {
  if ("S" in value) return Buffer.byteLength(value.S);
  if ("N" in value) return numberBytes(value.N);
  if ("BOOL" in value || "NULL" in value) return 1;
  // A list: 3 bytes, plus each element's size and 1 byte per element (the ledger's history).
  if ("L" in value) return value.L.reduce((sum, element) => sum + 1 + valueBytes(element, name), 3);
  // The ledger writes only these; a new type must be taught here rather than priced at a guess.
  throw new Error(`itemBytes: attribute ${name} has a type the cost model does not size`);
}

/** One byte per two significant digits, plus one. */
function numberBytes(text: string): number {
  const digits = text.replace(/^-/, "").replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

export interface IndexKey {
  readonly partitionKey: string;
  readonly sortKey?: string;
  /**
   * `KEYS_ONLY` projects the table's key and the index's keys: an index entry is that small,
   * and a write that changes no key leaves it alone. Default `ALL`.
   */
  readonly projection?: "ALL" | "KEYS_ONLY";
  /** The table's partition key, projected into every index entry. @default "pk" */
  readonly tableKey?: string;
}

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
const inIndex = (item: Item | undefined, index: IndexKey): item is Item =>
  item !== undefined && index.partitionKey in item && (index.sortKey === undefined || index.sortKey in item);
const same = (a: AttributeValue | undefined, b: AttributeValue | undefined) =>
  JSON.stringify(a) === JSON.stringify(b);

/**
 * Write units of one PutItem/UpdateItem/DeleteItem from the item before and after it (a failed
 * condition leaves them equal: the table write is still charged). Table: the larger image, per
 * KB, at least one. An index projecting ALL: one put when the item enters it, one delete when
 * it leaves, both when its key changes, one update when any other attribute changes.
 */
export function writeUnits(
  before: Item | undefined,
  after: Item | undefined,
  index: IndexKey,
): { table: number; index: number } {
  const table = kb(Math.max(before ? itemBytes(before) : 0, after ? itemBytes(after) : 0));
  if (index.projection === "KEYS_ONLY") {
    const names = [index.tableKey ?? "pk", index.partitionKey, ...(index.sortKey ? [index.sortKey] : [])];
    const project = (item: Item | undefined): Item | undefined =>
      inIndex(item, index)
        ? Object.fromEntries(names.flatMap((n) => (item[n] ? [[n, item[n]]] : [])))
        : undefined;
    return {
      table,
      index: writeUnits(project(before), project(after), { ...index, projection: "ALL" }).index,
    };
  }
  const was = inIndex(before, index);
  const is = inIndex(after, index);
  if (!was && !is) return { table, index: 0 };
  if (!was) return { table, index: kb(itemBytes(after as Item)) };
  if (!is) return { table, index: kb(itemBytes(before)) };
  const keys = [index.partitionKey, ...(index.sortKey ? [index.sortKey] : [])];
  if (keys.some((k) => !same(before[k], after?.[k])))
    return { table, index: kb(itemBytes(before)) + kb(itemBytes(after as Item)) };
  const names = new Set([...Object.keys(before), ...Object.keys(after as Item)]);
  const changed = [...names].some((name) => !same(before[name], after?.[name]));
  return { table, index: changed ? kb(itemBytes(after as Item)) : 0 };
}

/** Read units: 4 KB per unit strongly consistent, half that eventually consistent; a miss still costs. */
export function readUnits(bytes: number, consistent: boolean): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

/** SQS bills each 64 KB chunk of a request's payload as one request. */
export function sqsRequests(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / 65_536));
}

// ---- The report ----------------------------------------------------------------------------------

export interface CostInputs {
  readonly relay: RelayPaths;
  readonly floor: FloorPaths;
  readonly params: CostParams;
  readonly faultRate: number;
  readonly outage: Outage;
  /** The webhooks the outage mix spreads over (sent at params.webhooksPerSecond). */
  readonly webhooks: number;
}

export interface MixCost {
  readonly relay: CostBreakdown;
  readonly floor: CostBreakdown;
  readonly relayUsd: number;
  readonly floorUsd: number;
  readonly ratio: number;
  /** The relay's largest line above the floor's. */
  readonly dominant: CostLine;
}

const FLOOR_SECRETS_PER_ENVIRONMENT = 1;

export function costReport(inputs: CostInputs): Mixes<MixCost> {
  const { params } = inputs;
  const relay = relayMixes(inputs.relay, inputs.faultRate, inputs.outage, inputs.webhooks, params);
  const floor = floorMixes(inputs.floor, inputs.faultRate, inputs.outage, inputs.webhooks, params);
  // A floor still reads its one secret, the OPS-COM token, once per environment and TTL.
  const floorParams: CostParams = { ...params, secretsCallsPerEnvironment: FLOOR_SECRETS_PER_ENVIRONMENT };
  const mix = (name: keyof Mixes<unknown>): MixCost => {
    const r = costPerMillion(relay[name], params);
    const f = costPerMillion(floor[name], floorParams);
    const dominant = COST_LINES.reduce((best, line) => (r[line] - f[line] > r[best] - f[best] ? line : best));
    return {
      relay: r,
      floor: f,
      relayUsd: total(r),
      floorUsd: total(f),
      ratio: total(r) / total(f),
      dominant,
    };
  };
  return {
    delivered: mix("delivered"),
    transientFaults: mix("transientFaults"),
    opscomDown: mix("opscomDown"),
  };
}

/** The per-line table `npm run bench` prints: relay and floor for each mix, in dollars per million. */
export function formatCostTable(report: Mixes<MixCost>): string {
  const mixes = [report.delivered, report.transientFaults, report.opscomDown];
  const header = ["$ per million", "delivered", "", "5 % faults", "", "OPS-COM down 1 h", ""];
  const sub = ["", "relay", "floor", "relay", "floor", "relay", "floor"];
  const money = (usd: number) => usd.toFixed(3);
  const rows = [
    header,
    sub,
    ...COST_LINES.map((line) => [
      line,
      ...mixes.flatMap((m) => [money(m.relay[line]), money(m.floor[line])]),
    ]),
    ["total", ...mixes.flatMap((m) => [money(m.relayUsd), money(m.floorUsd)])],
    ["relay ÷ floor", ...mixes.flatMap((m) => [m.ratio.toFixed(2), ""])],
  ];
  const widths = header.map((_, col) => Math.max(...rows.map((row) => (row[col] as string).length)));
  return rows
    .map((row) =>
      row
        .map((cell, col) =>
          col === 0 ? cell.padEnd(widths[col] as number) : cell.padStart(widths[col] as number),
        )
        .join("  "),
    )
    .join("\n");
}
