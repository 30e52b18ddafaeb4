// The ingest handler's own time per webhook, in a process of its own (the parent's heap and
// timers stay out of the percentiles). The handler is the production one from
// createIngestHandler with in-memory ledger, queue and secrets, and an OPS-COM client that
// answers success at once, so only the relay's work is timed. Telemetry is the real Powertools
// one with stdout sent to /dev/null by the parent: every log line and EMF blob is still built
// and written, as Lambda's would be. For the diagnosis, the same run is repeated with a
// telemetry that does nothing, which isolates what logging and metrics cost.
//
// Every webhook is distinct (new id, new reference ID), 1 KiB, signed before the clock starts.
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../../lambda/adapters/memory";
import { loadConfig } from "../../lambda/config";
import { createIngestHandler } from "../../lambda/ingest-core";
import { type OpscomClient, type OpscomOutcome, systemClock } from "../../lambda/ports";
import { createPowertoolsTelemetry, type Telemetry } from "../../lambda/telemetry";
import { generateSigningSecret } from "../../local/vendor-kit";
import { referenceIds, standardSigner, webhookEvent } from "../webhooks";

export interface HandlerTiming {
  readonly invocations: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
}

export interface HandlerTimingReport {
  readonly powertools: HandlerTiming;
  readonly silentTelemetry: HandlerTiming;
}

const VENDOR = "acme";
const TOKEN_SECRET_ID = "bench/opscom-token";
const DELETED: OpscomOutcome = { kind: "deleted", httpStatus: 200 };
const answersAtOnce: OpscomClient = { deletePermit: () => Promise.resolve(DELETED) };
const silent: Telemetry = {
  info() {},
  warn() {},
  error() {},
  count() {},
  countFor() {},
  latency() {},
  gauge() {},
  flush() {},
};

async function timeHandler(
  telemetry: Telemetry,
  warmup: number,
  invocations: number,
  bodyBytes: number,
): Promise<HandlerTiming> {
  const vendorSecret = generateSigningSecret();
  const config = loadConfig({
    OPSCOM_BASE_URL: "http://opscom.invalid",
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET_ID,
    VENDORS: JSON.stringify([{ id: VENDOR }]),
  });
  const handler = createIngestHandler({
    config,
    clock: systemClock,
    secrets: new MemorySecrets({
      [TOKEN_SECRET_ID]: "BENCH-TOKEN-0123456789",
      [config.vendorSecretPrefix + VENDOR]: JSON.stringify({ signingSecrets: [vendorSecret] }),
    }),
    ledger: new MemoryLedger(),
    queue: new MemoryQueue(systemClock, config.retryMaxAttempts),
    opscom: answersAtOnce,
    telemetry,
  });
  const sign = standardSigner(vendorSecret);
  const events = referenceIds(warmup + invocations).map((ref) => webhookEvent(sign, VENDOR, ref, bodyBytes));

  const micros = new Float64Array(invocations);
  for (let i = 0; i < events.length; i++) {
    const started = process.hrtime.bigint();
    const result = await handler(events[i] as (typeof events)[number]);
    const elapsed = process.hrtime.bigint() - started;
    if (result.statusCode !== 200)
      throw new Error(`webhook ${i} answered ${result.statusCode}: ${result.body}`);
    if (i >= warmup) micros[i - warmup] = Number(elapsed) / 1000;
  }
  micros.sort();
  const at = (p: number) => micros[Math.max(0, Math.ceil(p * invocations) - 1)] as number;
  return {
    invocations,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    mean: micros.reduce((sum, m) => sum + m, 0) / invocations,
    max: micros[invocations - 1] as number,
  };
}

async function main(): Promise<void> {
  const warmup = Number(process.env.BENCH_WARMUP);
  const invocations = Number(process.env.BENCH_INVOCATIONS);
  const bodyBytes = Number(process.env.BENCH_BODY_BYTES);
  const report: HandlerTimingReport = {
    powertools: await timeHandler(createPowertoolsTelemetry(), warmup, invocations, bodyBytes),
    silentTelemetry: await timeHandler(silent, warmup, invocations, bodyBytes),
  };
  process.send?.(report, () => process.exit(0));
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
