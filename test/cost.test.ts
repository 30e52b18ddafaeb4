// The cost model's arithmetic (bench/cost.ts), against figures worked out by hand from the
// price table. The counts it is fed are measured in `npm run bench`, not here.
import { describe, expect, it } from "vitest";
import {
  type CostParams,
  costPerMillion,
  costReport,
  type FloorPaths,
  itemBytes,
  meanFailedRetries,
  memoryTradeoff,
  type PathUsage,
  type RelayPaths,
  readUnits,
  relayMixes,
  sqsRequests,
  total,
  writeUnits,
  xraySampledShare,
} from "../bench/cost";

const GIB = 1024 ** 3;

/** Numbers chosen so each line comes out round per million webhooks. */
const usage: PathUsage = {
  gatewayRequests: 1,
  lambdaInvocations: 1,
  lambdaMs: 99.5, // + 100 ms OPS-COM = 199.5, billed 200 ms
  memoryMb: 512,
  opscomCalls: 1,
  dynamoWriteUnits: 4,
  dynamoReadUnits: 2,
  dynamoTableBytes: GIB / 1e6, // 1 GiB per million, kept one month
  dynamoIndexBytes: GIB / 1e6,
  sqsRequests: 2.5,
  logBytes: GIB / 2e6, // with the access log: 1 GiB per million
  traceRoots: 2,
};

const params: CostParams = {
  opscomLatencyMs: 100,
  webhooksPerSecond: 10,
  accessLogEventBytes: GIB / 2e6,
  secretsCallsPerEnvironment: 3,
  secretCacheTtlSeconds: 300,
  ledgerTtlDays: 365.25 / 12,
  architecture: "arm64",
  xrayReservoirPerSecond: 1,
  xrayFixedRate: 0.05,
};

describe("cost per million webhooks", () => {
  it("prices a known pass line by line as worked out by hand", () => {
    const cost = costPerMillion([{ usage, perWebhook: 1 }], params);
    expect(cost.apiGateway).toBeCloseTo(3.5, 9);
    expect(cost.waf).toBeCloseTo(0.6, 9);
    expect(cost.lambdaRequests).toBeCloseTo(0.2, 9);
    // 0.5 GB × 0.200 s × $0.0000133334 × 1e6
    expect(cost.lambdaDuration).toBeCloseTo(1.33334, 6);
    expect(cost.dynamoWrites).toBeCloseTo(2.5, 9);
    expect(cost.dynamoReads).toBeCloseTo(0.25, 9);
    // 2 GiB stored at $0.25 + 1 GiB of table under PITR at $0.20, for one month
    expect(cost.dynamoStorage).toBeCloseTo(0.7, 9);
    // 2 environments (10/s × 199.5 ms, rounded up) × 3 calls every 300 s ÷ 10 webhooks/s
    expect(cost.secretsManager).toBeCloseTo(0.01, 9);
    expect(cost.sqs).toBeCloseTo(1, 9);
    expect(cost.logs).toBeCloseTo(0.5, 9);
    // (1 + 5 % of the other 9) ÷ 10 = 14.5 % of 2 trace roots at $5 per million
    expect(cost.xray).toBeCloseTo(1.45, 9);
    expect(total(cost)).toBeCloseTo(12.04334, 5);
  });

  it("weights each path by how often it runs per webhook", () => {
    const one = total(costPerMillion([{ usage, perWebhook: 1 }], params));
    const mixed = costPerMillion(
      [
        { usage, perWebhook: 0.5 },
        { usage: { ...usage, dynamoWriteUnits: 8 }, perWebhook: 0.5 },
      ],
      params,
    );
    expect(mixed.dynamoWrites).toBeCloseTo(3.75, 9);
    expect(total(mixed)).toBeCloseTo(one + 1.25, 6);
  });

  it("records every request while the rate is within X-Ray's reservoir", () => {
    expect(xraySampledShare({ ...params, webhooksPerSecond: 0.5 })).toBe(1);
    expect(xraySampledShare({ ...params, webhooksPerSecond: 101 })).toBeCloseTo(6 / 101, 12);
  });
});

describe("traffic mixes", () => {
  const paths: RelayPaths = {
    delivered: usage,
    retriedInline: usage,
    parked: usage,
    workerDelivered: { ...usage, gatewayRequests: 0 },
    workerFailed: { ...usage, gatewayRequests: 0 },
  };
  const outage = { seconds: 3600, retrySchedule: [5, 300, 1800, 7200] };

  it("counts the retries that still fall inside an outage", () => {
    // Retries at t+5, t+305, t+2105 fail for t below 3595, 3295 and 1495 s; t+9305 never does.
    expect(meanFailedRetries(outage)).toBeCloseTo((3595 + 3295 + 1495) / 3600, 12);
  });

  it("sends every webhook through ingest once, whatever the faults", () => {
    const mixes = relayMixes(paths, 0.05, outage, 1e6, params);
    const ingest = (parts: { usage: PathUsage; perWebhook: number }[]) =>
      parts.filter((_, i) => i < 3).reduce((sum, p) => sum + p.perWebhook, 0);
    expect(ingest(mixes.transientFaults)).toBeCloseTo(1, 12);
    // 10/s for an hour: 36,000 of the million arrive while OPS-COM is down.
    expect(mixes.opscomDown[1]?.perWebhook).toBeCloseTo(0.036, 12);
    expect(mixes.opscomDown[2]?.perWebhook).toBeCloseTo(0.036 * meanFailedRetries(outage), 12);
  });

  it("compares the relay with the floor and names the line that makes the difference", () => {
    const floorUsage: PathUsage = { ...usage, dynamoWriteUnits: 0, dynamoReadUnits: 0, sqsRequests: 0 };
    const floor: FloorPaths = { delivered: floorUsage, failed: floorUsage };
    const report = costReport({ relay: paths, floor, params, faultRate: 0.05, outage, webhooks: 1e6 });
    // The floor reads one secret per environment and TTL where the relay reads three: 0.01 → 0.00333.
    const floorUsd = 12.04334 - 3.75 - 0.01 + 0.01 / 3;
    expect(report.delivered.floorUsd).toBeCloseTo(floorUsd, 5);
    expect(report.delivered.ratio).toBeCloseTo(12.04334 / floorUsd, 5);
    expect(report.delivered.dominant).toBe("dynamoWrites");
    // The floor pays a gateway request for every vendor retry; the relay retries behind the gateway.
    expect(report.transientFaults.floor.apiGateway).toBeCloseTo(3.5 / 0.95, 9);
    expect(report.transientFaults.relay.apiGateway).toBeCloseTo(3.5, 9);
  });
});

describe("memory size", () => {
  it("stretches only the CPU share below a full vCPU", () => {
    const [half, full] = memoryTradeoff(usage, 10, 300, [884.5, 1769], params);
    expect(full?.warmMs).toBeCloseTo(199.5, 9);
    expect(full?.coldStartMs).toBeCloseTo(300, 9);
    expect(half?.warmMs).toBeCloseTo(209.5, 9);
    expect(half?.coldStartMs).toBeCloseTo(600, 9);
    // 884.5 MB × 210 ms billed at the arm64 price, plus the request
    expect(half?.lambdaUsdPerMillion).toBeCloseTo((884.5 / 1024) * 0.21 * 13.3334 + 0.2, 6);
  });
});

describe("DynamoDB and SQS units", () => {
  const index = { partitionKey: "referenceId", sortKey: "createdAt" };
  const item = {
    pk: { S: "acme#1" },
    referenceId: { S: "R" },
    createdAt: { S: "t0" },
    state: { S: "in_progress" },
  };

  it("sizes an item as names plus values, numbers by significant digits", () => {
    expect(itemBytes({ pk: { S: "ab" }, n: { N: "12345" } })).toBe(2 + 2 + 1 + 4);
    expect(itemBytes({ n: { N: "1000" } })).toBe(1 + 2);
    expect(itemBytes({ é: { S: "é" } })).toBe(4);
  });

  it.each([
    ["a new item enters the index", undefined, item, { table: 1, index: 1 }],
    ["another attribute changes", item, { ...item, state: { S: "deleted" } }, { table: 1, index: 1 }],
    ["the index key changes", item, { ...item, createdAt: { S: "t1" } }, { table: 1, index: 2 }],
    ["a failed condition leaves the item as it was", item, item, { table: 1, index: 0 }],
    ["the item leaves the table", item, undefined, { table: 1, index: 1 }],
    [
      "an item outside the index",
      { pk: { S: "x" } },
      { pk: { S: "x" }, a: { S: "b" } },
      { table: 1, index: 0 },
    ],
    ["a 1,025-byte item", undefined, { ...item, pad: { S: "x".repeat(1025) } }, { table: 2, index: 2 }],
  ] as const)("write units when %s", (_, before, after, expected) => {
    expect(writeUnits(before, after, index)).toEqual(expected);
  });

  it("reads 4 KB a unit, half that eventually consistent, a miss included", () => {
    expect(readUnits(0, true)).toBe(1);
    expect(readUnits(4097, true)).toBe(2);
    expect(readUnits(4097, false)).toBe(1);
  });

  it("bills SQS per 64 KB chunk", () => {
    expect(sqsRequests(200)).toBe(1);
    expect(sqsRequests(65_536)).toBe(1);
    expect(sqsRequests(65_537)).toBe(2);
  });
});

describe("DynamoDB sizes of what the ledger writes now", () => {
  it("sizes a list attribute (the history): 3 bytes, plus each element and 1 byte per element", () => {
    expect(itemBytes({ history: { L: [{ S: "ab" }, { S: "c" }] } })).toBe(
      "history".length + 3 + (1 + 2) + (1 + 1),
    );
  });

  it("prices a keys-only index on insert only, at the size of its keys", () => {
    const index = { partitionKey: "createdHour", sortKey: "createdAt", projection: "KEYS_ONLY" } as const;
    const claimed = {
      pk: { S: "acme#1" },
      createdHour: { S: "2026-12-02T02" },
      createdAt: { S: "x" },
      big: { S: "y".repeat(3000) },
    };
    expect(writeUnits(undefined, claimed, index)).toEqual({ table: 3, index: 1 });
    // A settle changes no key: the table is written, the index is not.
    expect(writeUnits(claimed, { ...claimed, state: { S: "deleted" } }, index)).toEqual({
      table: 3,
      index: 0,
    });
  });
});
