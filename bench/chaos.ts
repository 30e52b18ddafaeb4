// The chaos run: thousands of webhooks through the real ingest and retry handlers, with the
// DynamoDB ledger on dynalite, the retry queue and its dead-letter queue on the local SQS
// endpoint, and the OPS-COM sandbox failing a share of calls in mixed ways (5xx, 429, resets,
// hangs, answers that arrive after the relay gave up, 9002 bursts). Vendors send some
// webhooks twice or more, and handlers are killed at random points — mid-claim, after OPS-COM
// acted but before the ledger heard of it, after the queue took a message. Time is virtual:
// the relay's clock and the SQS endpoint's move together, so a day of backoff runs in seconds.
//
// It ends with every webhook in exactly one terminal ledger state, every permit deleted at
// OPS-COM exactly once, and the queues empty — or it says which webhook broke which promise.
//
//   npm run chaos                      2,000 webhooks, 30% faults, 10% duplicates, 5% kills
//   npm run chaos -- --webhooks 5000 --seed 42
import { AsyncLocalStorage } from "node:async_hooks";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient, StartMessageMoveTaskCommand } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyResult, SQSEvent } from "aws-lambda";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import { createOpscomHttpClient } from "../lambda/adapters/opscom-http";
import { createSecretsManagerSource } from "../lambda/adapters/secrets-manager";
import { createSqsQueue } from "../lambda/adapters/sqs-queue";
import { loadConfig } from "../lambda/config";
import { createIngestHandler } from "../lambda/ingest-core";
import type { Clock, DeliveryState, Ledger, OpscomClient, RetryQueue } from "../lambda/ports";
import { createRetryWorker } from "../lambda/retry-core";
import { RecordingTelemetry } from "../lambda/telemetry";
import { startAwsEndpoint } from "../local/aws-endpoint";
import { pollOnce } from "../local/event-source";
import { type FaultMode, mulberry32, startOpscomSandbox } from "../local/opscom-sandbox";
import { canonicalEvent, generateSigningSecret, signWebhook } from "../local/vendor-kit";
import { createLedgerTable, startDynalite, useLocalAws } from "../test/support/dynalite";
import { restEvent } from "../test/support/events";

export interface ChaosOptions {
  readonly webhooks: number;
  readonly failureRate: number;
  readonly duplicateRate: number;
  readonly killRate: number;
  readonly seed: number;
  readonly concurrency: number;
}

export const DEFAULT_CHAOS: ChaosOptions = {
  webhooks: 2000,
  failureRate: 0.3,
  duplicateRate: 0.1,
  killRate: 0.05,
  seed: 1,
  concurrency: 32,
};

export interface ChaosReport {
  readonly options: ChaosOptions;
  readonly deliveries: number;
  readonly answers: Record<string, number>;
  readonly kills: Record<string, number>;
  readonly faultsInjected: Record<string, number>;
  readonly ledgerStates: Record<string, number>;
  readonly opscomDeletes: { readonly once: number; readonly twice: number; readonly never: number };
  readonly deadLetteredThenRedriven: number;
  readonly nonTerminal: string[];
  readonly virtualHours: number;
  readonly seconds: number;
  readonly ok: boolean;
}

const TERMINAL: readonly DeliveryState[] = ["deleted", "not_found", "rejected", "dead_lettered"];
const KILL_SITES = [
  "before claim",
  "after claim",
  "after OPS-COM answered",
  "after enqueue",
  "before ledger update",
  "after ledger update",
] as const;
type KillSite = (typeof KILL_SITES)[number];

class Killed extends Error {
  override readonly name = "Killed";
}

interface Fate {
  readonly killAt?: KillSite;
  dead: boolean;
}

export async function runChaos(options: ChaosOptions = DEFAULT_CHAOS): Promise<ChaosReport> {
  const started = Date.now();
  const random = mulberry32(options.seed);
  const dynamo = await startDynalite();
  const aws = await startAwsEndpoint();
  useLocalAws({ dynamodb: dynamo.endpoint, sqs: aws.url, secretsManager: aws.url });
  const token = "CHAOS-TOKEN-0123456789-abcdefghijklmnop";
  const sandbox = await startOpscomSandbox({
    clients: { "OC-TOMA": { tokens: [token] } },
    seed: options.seed,
  });
  const vendorSecret = generateSigningSecret();
  aws.putSecret("chaos/token", token);
  aws.putSecret("opscom-permit-relay/vendors/acme", JSON.stringify({ signingSecrets: [vendorSecret] }));
  const dlqUrl = aws.createQueue("chaos-dlq");
  const queueUrl = aws.createQueue("chaos-retry", {
    VisibilityTimeout: "30",
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:chaos-dlq",
      maxReceiveCount: 8,
    }),
  });
  const dynamoClient = new DynamoDBClient({});
  await createLedgerTable(dynamoClient, "chaos-ledger");
  const sqs = new SQSClient({});

  // Virtual time: the relay's clock and the SQS endpoint's move together.
  let offset = 0;
  const clock: Clock = { now: () => Date.now() + offset };
  const advance = (ms: number) => {
    offset += ms;
    aws.advanceClock(ms);
  };

  const config = loadConfig({
    OPSCOM_BASE_URL: sandbox.url,
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: "chaos/token",
    VENDORS: JSON.stringify([{ id: "acme" }]),
    LEDGER_TABLE_NAME: "chaos-ledger",
    RETRY_QUEUE_URL: queueUrl,
    FORWARD_TIMEOUT_MS: "300",
    RETRY_MAX_ATTEMPTS: "8",
    CLAIM_LEASE_SECONDS: "60",
  });

  // Kill switches: each invocation may carry a fate; adapters check it at their edges.
  const fates = new AsyncLocalStorage<Fate>();
  const kills: Record<string, number> = {};
  const site = (name: KillSite) => {
    const fate = fates.getStore();
    if (!fate) return;
    if (fate.dead) throw new Killed();
    if (fate.killAt === name) {
      fate.dead = true;
      kills[name] = (kills[name] ?? 0) + 1;
      throw new Killed();
    }
  };
  const realLedger = createDynamoLedger("chaos-ledger", dynamoClient);
  const ledger: Ledger = {
    async claim(request) {
      site("before claim");
      const result = await realLedger.claim(request);
      site("after claim");
      return result;
    },
    async transition(key, expect, patch) {
      site("before ledger update");
      const moved = await realLedger.transition(key, expect, patch);
      site("after ledger update");
      return moved;
    },
    async release(key, claimId) {
      site("before ledger update");
      return realLedger.release(key, claimId);
    },
    get: (key) => realLedger.get(key),
    byReference: (ref) => realLedger.byReference(ref),
  };
  const realQueue = createSqsQueue(queueUrl, sqs);
  const queue: RetryQueue = {
    async enqueue(message, delay) {
      if (fates.getStore()?.dead) throw new Killed();
      await realQueue.enqueue(message, delay);
      site("after enqueue");
    },
    retryLater: (handle, delay) => realQueue.retryLater(handle, delay),
  };
  const realOpscom = createOpscomHttpClient({
    baseUrl: config.opscomBaseUrl,
    timeoutMs: config.forwardTimeoutMs,
  });
  const opscom: OpscomClient = {
    async deletePermit(request) {
      const outcome = await realOpscom.deletePermit(request);
      site("after OPS-COM answered");
      return outcome;
    },
  };
  const telemetry = new RecordingTelemetry();
  const deps = {
    config,
    clock,
    secrets: createSecretsManagerSource(),
    ledger,
    queue,
    opscom,
    telemetry,
    random,
  };
  const ingest = createIngestHandler({ ...deps, sleep: async () => undefined });
  const worker = createRetryWorker(deps);
  const fate = (): Fate =>
    random() < options.killRate
      ? { killAt: KILL_SITES[Math.floor(random() * KILL_SITES.length)] as KillSite, dead: false }
      : { dead: false };

  // Faults: a standing failure rate over every kind, plus occasional 9002 bursts.
  const modes: FaultMode[] = [
    "http500",
    "http503",
    "http429",
    "reset",
    "hang",
    "html502",
    "latency",
    { errorCode: 9002 },
  ];
  sandbox.setFaults({ failureRate: options.failureRate, modes, latencyFaultMs: 400 });

  // The vendors' side: each webhook once, some twice or three times; retried until 2xx/4xx.
  interface Delivery {
    readonly index: number;
    readonly webhookId: string;
    readonly body: string;
    nextAt: number;
    done: boolean;
  }
  const references: string[] = [];
  const deliveries: Delivery[] = [];
  for (let i = 0; i < options.webhooks; i++) {
    const ref = sandbox.createPermit();
    references.push(ref);
    const copies = random() < options.duplicateRate ? 2 + Math.floor(random() * 2) : 1;
    for (let c = 0; c < copies; c++) {
      deliveries.push({
        index: i,
        webhookId: `chaos-${i}`,
        body: canonicalEvent(ref),
        nextAt: 0,
        done: false,
      });
    }
  }
  const answers: Record<string, number> = {};
  const count = (key: string) => {
    answers[key] = (answers[key] ?? 0) + 1;
  };

  async function send(delivery: Delivery): Promise<void> {
    const signed = signWebhook({
      body: delivery.body,
      secret: vendorSecret,
      webhookId: delivery.webhookId,
      timestamp: Math.floor(clock.now() / 1000),
    });
    const f = fate();
    let result: APIGatewayProxyResult | undefined;
    try {
      result = (await fates.run(f, () =>
        ingest(restEvent({ vendorId: "acme", headers: signed.headers, body: signed.body })),
      )) as APIGatewayProxyResult;
    } catch {
      result = undefined;
    }
    if (f.dead || !result) {
      count("killed (vendor retries)");
      delivery.nextAt = clock.now() + 61_000;
      return;
    }
    count(String(result.statusCode));
    if (
      result.statusCode < 300 ||
      (result.statusCode >= 400 && result.statusCode < 409) ||
      result.statusCode === 422
    ) {
      delivery.done = true;
      return;
    }
    const retryAfter = Number(result.headers?.["retry-after"] ?? 30);
    delivery.nextAt = clock.now() + retryAfter * 1000 + 1000;
  }

  async function runWorkerOnce(): Promise<number> {
    const f = fate();
    try {
      return await pollOnce(sqs, queueUrl, async (event: SQSEvent) => {
        const result = await fates.run(f, () => worker(event));
        if (f.dead) throw new Killed();
        return result;
      });
    } catch (error) {
      if (error instanceof Killed) return 1;
      throw error;
    }
  }

  async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(options.concurrency, items.length) }, async () => {
        while (next < items.length) await fn(items[next++] as T);
      }),
    );
  }

  const virtualStart = clock.now();
  let deadLetteredThenRedriven = 0;
  const MAX_VIRTUAL_MS = 4 * 86_400_000;
  for (let phase = 0; phase < 2; phase++) {
    while (clock.now() - virtualStart < MAX_VIRTUAL_MS * (phase + 1)) {
      if (random() < 0.05) sandbox.queueFaults(...Array<FaultMode>(5).fill({ errorCode: 9002 }));
      const due = deliveries.filter((d) => !d.done && d.nextAt <= clock.now());
      await pool(due, send);
      while ((await runWorkerOnce()) > 0) {
        /* drain what is visible now */
      }
      const pending = deliveries.some((d) => !d.done);
      const stats = aws.queueStats(queueUrl);
      if (!pending && stats.total === 0) break;
      advance(pending ? 61_000 : 600_000);
    }
    // Anything dead-lettered is redriven once OPS-COM is healthy, as the runbook says.
    const dead = aws.queueStats(dlqUrl).total;
    if (dead === 0) break;
    deadLetteredThenRedriven += dead;
    sandbox.clearFaults();
    await sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: "arn:aws:sqs:us-east-1:000000000000:chaos-dlq" }),
    );
  }

  // The verdict, from the ledger and from OPS-COM itself.
  const ledgerStates: Record<string, number> = {};
  const nonTerminal: string[] = [];
  for (let i = 0; i < options.webhooks; i++) {
    const record = await realLedger.get({ vendorId: "acme", webhookId: `chaos-${i}` });
    const state = record?.state ?? "missing";
    ledgerStates[state] = (ledgerStates[state] ?? 0) + 1;
    if (!record || !TERMINAL.includes(record.state)) nonTerminal.push(`chaos-${i}: ${state}`);
  }
  const byReference = sandbox.stats().deletesByReference;
  const opscomDeletes = { once: 0, twice: 0, never: 0 };
  for (const ref of references) {
    const n = byReference[ref] ?? 0;
    if (n === 1) opscomDeletes.once++;
    else if (n === 0) opscomDeletes.never++;
    else opscomDeletes.twice++;
  }
  const report: ChaosReport = {
    options,
    deliveries: deliveries.length,
    answers,
    kills,
    faultsInjected: sandbox.stats().faultsInjected,
    ledgerStates,
    opscomDeletes,
    deadLetteredThenRedriven,
    nonTerminal,
    virtualHours: Math.round((clock.now() - virtualStart) / 360_000) / 10,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ok:
      nonTerminal.length === 0 &&
      opscomDeletes.once === options.webhooks &&
      aws.queueStats(queueUrl).total === 0 &&
      aws.queueStats(dlqUrl).total === 0,
  };
  realOpscom.close();
  dynamoClient.destroy();
  sqs.destroy();
  await sandbox.close();
  await aws.close();
  await dynamo.close();
  return report;
}

export function formatReport(report: ChaosReport): string {
  const rows = (title: string, values: Record<string, number>) =>
    [
      `${title}`,
      ...Object.entries(values)
        .sort()
        .map(([k, v]) => `  ${k.padEnd(28)} ${String(v).padStart(7)}`),
    ].join("\n");
  const o = report.options;
  return [
    `chaos: ${o.webhooks} webhooks, ${report.deliveries} deliveries (${Math.round(o.duplicateRate * 100)}% sent twice or more), ` +
      `${Math.round(o.failureRate * 100)}% OPS-COM faults, ${Math.round(o.killRate * 100)}% handler kills, seed ${o.seed}`,
    rows("final ledger state", report.ledgerStates),
    rows("deletes at OPS-COM per permit", {
      "exactly once": report.opscomDeletes.once,
      "more than once": report.opscomDeletes.twice,
      never: report.opscomDeletes.never,
    }),
    rows("answers to vendors", report.answers),
    rows("handlers killed", report.kills),
    rows("OPS-COM faults injected", report.faultsInjected),
    `dead-lettered, then redriven: ${report.deadLetteredThenRedriven}`,
    `virtual time ${report.virtualHours} h, wall time ${report.seconds} s`,
    report.ok
      ? "RESULT: every webhook in one terminal state, every permit deleted exactly once, none lost"
      : `RESULT: FAILED — ${report.nonTerminal.length} not terminal (${report.nonTerminal.slice(0, 5).join(", ")})`,
  ].join("\n");
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const options: ChaosOptions = {
    webhooks: flag("webhooks", DEFAULT_CHAOS.webhooks),
    failureRate: flag("failure-rate", DEFAULT_CHAOS.failureRate),
    duplicateRate: flag("duplicate-rate", DEFAULT_CHAOS.duplicateRate),
    killRate: flag("kill-rate", DEFAULT_CHAOS.killRate),
    seed: flag("seed", DEFAULT_CHAOS.seed),
    concurrency: flag("concurrency", DEFAULT_CHAOS.concurrency),
  };
  runChaos(options).then(
    (report) => {
      process.stdout.write(`${formatReport(report)}\n`);
      process.exit(report.ok ? 0 : 1);
    },
    (error: unknown) => {
      process.stderr.write(`chaos failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(2);
    },
  );
}
