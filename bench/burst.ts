// The recovery burst: an outage has left thousands of parked deliveries in the retry queue and
// OPS-COM comes back. The retry queue is on the local SQS endpoint; the event source mapping's
// maximumConcurrency is modelled as that many worker invocations polling at once, each the
// real retry worker (batches of 10, RECORD_CONCURRENCY records at a time); OPS-COM is the
// sandbox over real HTTP, answering 429 to any delete above the ceiling the relay promises.
// It ends with every permit deleted exactly once, both queues empty and the sandbox never
// having seen more than the ceiling — or it says which promise broke.
//
//   npm run burst                         2,000 deliveries, maximumConcurrency 2
//   npm run burst -- --deliveries 5000 --max-concurrency 10
import { parseArgs } from "node:util";
import { SQSClient } from "@aws-sdk/client-sqs";
import { MemoryLedger } from "../lambda/adapters/memory";
import { createOpscomHttpClient } from "../lambda/adapters/opscom-http";
import { createSecretsManagerSource } from "../lambda/adapters/secrets-manager";
import { createSqsQueue } from "../lambda/adapters/sqs-queue";
import { loadConfig } from "../lambda/config";
import { createRetryWorker, RECORD_CONCURRENCY } from "../lambda/retry-core";
import { RecordingTelemetry } from "../lambda/telemetry";
import { DEFAULT_RETRY_WORKER_MAX_CONCURRENCY } from "../lib/permit-delete-relay";
import { startAwsEndpoint } from "../local/aws/server";
import { pollOnce } from "../local/event-source";
import { startOpscomSandbox } from "../local/opscom-sandbox";

export interface BurstOptions {
  readonly deliveries: number;
  /** The event source mapping's maximumConcurrency. */
  readonly maxConcurrency: number;
  /** OPS-COM's answer time, so calls overlap as they would in production. */
  readonly latencyMs: number;
}

export const DEFAULT_BURST: BurstOptions = {
  deliveries: 2000,
  maxConcurrency: DEFAULT_RETRY_WORKER_MAX_CONCURRENCY,
  latencyMs: 20,
};

export interface BurstReport {
  readonly options: BurstOptions;
  readonly ceiling: number;
  readonly peakConcurrentDeletes: number;
  readonly concurrencyRejections: number;
  readonly deletedOnce: number;
  readonly deletedTwice: number;
  readonly leftInQueue: number;
  readonly deadLettered: number;
  readonly drainMs: number;
}

export async function runBurst(options: BurstOptions = DEFAULT_BURST): Promise<BurstReport> {
  const ceiling = options.maxConcurrency * RECORD_CONCURRENCY;
  const aws = await startAwsEndpoint();
  const token = "TOKEN-burst-0123456789abcdef0123";
  const sandbox = await startOpscomSandbox({
    clients: { "OC-TOMA": { tokens: [token] } },
    maxConcurrentDeletes: ceiling,
  });
  sandbox.setFaults({ latencyMs: options.latencyMs });
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = aws.url;
  process.env.AWS_ENDPOINT_URL_SQS = aws.url;
  process.env.AWS_REGION ??= "us-east-1";
  process.env.AWS_ACCESS_KEY_ID ??= "test";
  process.env.AWS_SECRET_ACCESS_KEY ??= "test";
  aws.putSecret("opscom/token", token);
  aws.createQueue("burst-dlq");
  const queueUrl = aws.createQueue("burst-retry", {
    VisibilityTimeout: "360",
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:burst-dlq",
      maxReceiveCount: "7",
    }),
  });
  const config = loadConfig({
    OPSCOM_BASE_URL: sandbox.url,
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: "opscom/token",
    VENDORS: JSON.stringify([{ id: "acme" }]),
  });
  const sqs = new SQSClient({});
  const ledger = new MemoryLedger();
  const queue = createSqsQueue(queueUrl, sqs);
  const opscom = createOpscomHttpClient({
    baseUrl: config.opscomBaseUrl,
    timeoutMs: config.forwardTimeoutMs,
  });
  const clock = { now: () => Date.now() };
  const worker = createRetryWorker({
    config,
    clock,
    secrets: createSecretsManagerSource(),
    ledger,
    queue,
    opscom,
    telemetry: new RecordingTelemetry(),
  });

  try {
    // What the ingest handler leaves behind for each delivery the outage parked.
    const references: string[] = [];
    for (let i = 0; i < options.deliveries; i++) {
      const referenceId = sandbox.createPermit();
      references.push(referenceId);
      const key = { vendorId: "acme", webhookId: `msg_burst_${i}` };
      const now = clock.now();
      await ledger.claim({
        ...key,
        referenceId,
        bodyHash: "h",
        claimId: `c${i}`,
        now,
        leaseMs: 60_000,
        expiresAt: 0,
      });
      await ledger.transition(key, { from: ["in_progress"] }, { state: "queued", now, attempts: 1 });
      await queue.enqueue(
        { ...key, referenceId, attempt: 1, firstSeenAt: new Date(now).toISOString(), claimId: `c${i}` },
        0,
      );
    }

    const started = performance.now();
    const invocation = async () => {
      while (aws.queueStats(queueUrl).visible > 0) await pollOnce(sqs, queueUrl, worker);
    };
    await Promise.all(Array.from({ length: options.maxConcurrency }, invocation));
    const drainMs = performance.now() - started;

    const stats = sandbox.stats();
    const counts = references.map((r) => stats.deletesByReference[r] ?? 0);
    return {
      options,
      ceiling,
      peakConcurrentDeletes: stats.peakConcurrentDeletes,
      concurrencyRejections: stats.concurrencyRejections,
      deletedOnce: counts.filter((c) => c === 1).length,
      deletedTwice: counts.filter((c) => c > 1).length,
      leftInQueue: aws.queueStats(queueUrl).total,
      deadLettered: aws.queueStats("burst-dlq").total,
      drainMs,
    };
  } finally {
    opscom.close();
    sqs.destroy();
    await sandbox.close();
    await aws.close();
  }
}

export function formatReport(r: BurstReport): string {
  return [
    `${r.options.deliveries} parked deliveries released at once; maximumConcurrency ${r.options.maxConcurrency} × ${RECORD_CONCURRENCY} records = ceiling ${r.ceiling}`,
    `OPS-COM saw at most ${r.peakConcurrentDeletes} concurrent deletes; ${r.concurrencyRejections} answered 429 for going over`,
    `deleted once: ${r.deletedOnce}, more than once: ${r.deletedTwice}; left in the retry queue: ${r.leftInQueue}; dead-lettered: ${r.deadLettered}`,
    `drained in ${(r.drainMs / 1000).toFixed(1)} s (${Math.round(r.options.deliveries / (r.drainMs / 1000))} deliveries/s at ${r.options.latencyMs} ms per OPS-COM call)`,
  ].join("\n");
}

/** The command line (`node:util` parseArgs, strict): an unknown flag or a bad number throws. */
export function parseBurstArgs(args: string[]): BurstOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      deliveries: { type: "string" },
      "max-concurrency": { type: "string" },
      "latency-ms": { type: "string" },
    },
  });
  const number = (name: keyof typeof values, fallback: number, min: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isInteger(n) || n < min) {
      throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  return {
    deliveries: number("deliveries", DEFAULT_BURST.deliveries, 1),
    maxConcurrency: number("max-concurrency", DEFAULT_BURST.maxConcurrency, 2),
    latencyMs: number("latency-ms", DEFAULT_BURST.latencyMs, 0),
  };
}

if (require.main === module) {
  let options: BurstOptions;
  try {
    options = parseBurstArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
  runBurst(options).then(
    (report) => {
      console.log(formatReport(report));
      const ok =
        report.peakConcurrentDeletes <= report.ceiling &&
        report.concurrencyRejections === 0 &&
        report.deletedOnce === options.deliveries &&
        report.leftInQueue === 0 &&
        report.deadLettered === 0;
      process.exit(ok ? 0 : 1);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
