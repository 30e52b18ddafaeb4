// The chaos run's faults at the edges: which OPS-COM modes stand for the edge faults, and the
// DynamoDB fault proxy's decisions (lost claims and settles, throttled outcome writes, a stall).

import type { DynamoFault, DynamoRequest } from "../local/dynamodb-faults";
import type { FaultMode } from "../local/opscom-sandbox";
import { mulberry32 } from "../testkit/random";
import type { ChaosOptions, EdgeFault } from "./chaos-report";

/**
 * How long an item's outcome writes stay throttled: longer than the SDK's default retries of a
 * throttled call take (4 attempts, backing off at most 0.5 + 1 + 2 s), so the write fails as a
 * whole unless the relay itself does more. Wall time, as the SDK's backoff is: performance.now(),
 * which the run's virtual clock (a shifted Date) does not move.
 */
const THROTTLE_SPELL_MS = 5_000;

const OPSCOM_MODES: Partial<Record<EdgeFault, FaultMode>> = {
  "opscom-403": "html403",
  "opscom-404": "html404",
  "opscom-stale-socket": "staleSocket",
};

/** The OPS-COM sandbox modes for the run: a mix of every kind, plus the enabled edge faults. */
export function opscomFaultModes(faults: readonly EdgeFault[]): FaultMode[] {
  return [
    "http500",
    "http503",
    "http429",
    "reset",
    "hang",
    "html502",
    "latency",
    { errorCode: 9002 },
    ...faults.flatMap((fault) => OPSCOM_MODES[fault] ?? []),
  ];
}

/** The edge fault a sandbox fault label stands for, if any. */
export function edgeFaultOf(label: string): EdgeFault | undefined {
  return (Object.keys(OPSCOM_MODES) as EdgeFault[]).find((f) => OPSCOM_MODES[f] === label);
}

export interface DynamoFaults {
  /** Off once the run redrives the dead-letter queue against a healthy world. */
  on: boolean;
  /** The next claim stalls; set at the start of a round, cleared when a claim meets it. */
  stallArmed: boolean;
  decide(request: DynamoRequest): DynamoFault | undefined;
}

export function createDynamoFaults(
  options: ChaosOptions,
  stallHoldMs: number,
  inject: (fault: EdgeFault) => void,
): DynamoFaults {
  const enabled = new Set(options.faults);
  // AWS faults draw from their own sequence, so switching them does not reshuffle the rest.
  const awsRandom = mulberry32(options.seed + 0x5eed);
  const throttledUntil = new Map<string, number>();
  const faults: DynamoFaults = {
    on: true,
    stallArmed: false,
    decide,
  };
  return faults;

  function decide({ operation, input }: DynamoRequest): DynamoFault | undefined {
    if (!faults.on || operation !== "UpdateItem") return undefined;
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    const pk = String((input.Key as { pk?: { S?: string } } | undefined)?.pk?.S);
    // The ledger's claim is the write that carries the body hash; a settle carries the new state.
    if (":bodyHash" in values) {
      if (faults.stallArmed) {
        faults.stallArmed = false;
        inject("dynamodb-stall");
        return { kind: "stall", holdMs: stallHoldMs };
      }
      if (enabled.has("dynamodb-lost-claim") && awsRandom() < options.dynamoFaultRate) {
        inject("dynamodb-lost-claim");
        return { kind: "lose-response" };
      }
      return undefined;
    }
    if (!(":state" in values)) return undefined;
    if ((throttledUntil.get(pk) ?? 0) > performance.now()) return { kind: "throttle" };
    if (enabled.has("dynamodb-throttle-settle") && awsRandom() < options.dynamoFaultRate) {
      inject("dynamodb-throttle-settle");
      throttledUntil.set(pk, performance.now() + THROTTLE_SPELL_MS);
      return { kind: "throttle" };
    }
    if (enabled.has("dynamodb-lost-settle") && awsRandom() < options.dynamoFaultRate) {
      inject("dynamodb-lost-settle");
      return { kind: "lose-response" };
    }
    return undefined;
  }
}
