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
// On top of that mix come the faults at the edges (`EDGE_FAULTS`, all on by default, any subset
// with --faults): OPS-COM 403/404 pages it did not write, resets on reused OPS-COM sockets,
// DynamoDB answers lost after the write applied (a claim, a settle), throttling on the write
// that records an outcome, and a DynamoDB or Secrets Manager endpoint that accepts and stalls.
// The handlers' AWS adapters are the production ones (`productionDeps`), so whatever timeouts
// and retries production gives its SDK clients are what meets these faults. A stall costs the
// run real seconds: SDK timeouts are wall time, so the function timeout is too.
//
//   npm run chaos                      2,000 webhooks, 30% faults, 10% duplicates, 5% kills
//   npm run chaos -- --webhooks 5000 --seed 42
//   npm run chaos -- --faults dynamodb-lost-claim --kill-rate 0    one edge fault on its own
import { AsyncLocalStorage } from "node:async_hooks";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient, StartMessageMoveTaskCommand } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyResult, SQSEvent } from "aws-lambda";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import { loadConfig } from "../lambda/config";
import { createIngestHandler } from "../lambda/ingest-core";
import type { Clock, DeliveryState, Ledger, OpscomClient, RetryQueue } from "../lambda/ports";
import { createRetryWorker } from "../lambda/retry-core";
import { RecordingTelemetry } from "../lambda/telemetry";
import { productionDeps } from "../lambda/wiring";
import { startAwsEndpoint } from "../local/aws/server";
import { startDynamoFaultProxy } from "../local/dynamodb-faults";
import { pollOnce } from "../local/event-source";
import { type FaultMode, startOpscomSandbox } from "../local/opscom-sandbox";
import { readStackShape, synthesizeStack } from "../local/template-config";
import { canonicalEvent, generateSigningSecret, signWebhook } from "../local/vendor-kit";
import { createLedgerTable, startDynalite, useLocalAws } from "../testkit/dynalite";
import { restEvent } from "../testkit/events";
import { mulberry32 } from "../testkit/random";
import { createDynamoFaults, edgeFaultOf, opscomFaultModes } from "./chaos-faults";
import {
  type ChaosOptions,
  type ChaosReport,
  DEFAULT_CHAOS,
  type EdgeFault,
  formatReport,
  parseChaosArgs,
} from "./chaos-report";

export {
  type ChaosOptions,
  type ChaosReport,
  DEFAULT_CHAOS,
  EDGE_FAULTS,
  type EdgeFault,
  formatReport,
  parseChaosArgs,
} from "./chaos-report";

/** A stalled request is held this long past the ingest timeout, then reset, so a stall cannot outlive the run. */
const STALL_HOLD_PAST_TIMEOUT_MS = 2_000;
/** Stalls are costly in wall time, so each kind is armed this often, and at least once a run. */
const WEBHOOKS_PER_STALL = 1000;

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
  // The functions' timeouts, past which Lambda cuts an invocation off, are the synthesized
  // stack's (the assembly npm start caches), so a change to the construct is what this enforces.
  const assembly = await synthesizeStack();
  const shape = readStackShape(assembly.template, assembly.directory);
  const ingestTimeoutMs = shape.ingest.timeoutMs;
  const retryWorkerTimeoutMs = shape.retryWorker.timeoutMs;
  const stallHoldMs = ingestTimeoutMs + STALL_HOLD_PAST_TIMEOUT_MS;
  const random = mulberry32(options.seed);
  const enabled = new Set(options.faults);
  const faultsInjected: Record<string, number> = {};
  const inject = (fault: EdgeFault) => {
    faultsInjected[fault] = (faultsInjected[fault] ?? 0) + 1;
  };
  const dynamoFaults = createDynamoFaults(options, stallHoldMs, inject);
  const dynamo = await startDynalite();
  const dynamoProxy = await startDynamoFaultProxy({ target: dynamo.endpoint, decide: dynamoFaults.decide });
  const aws = await startAwsEndpoint();
  useLocalAws({ dynamodb: dynamoProxy.endpoint, sqs: aws.url, secretsManager: aws.url });
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
  // The run's own reads and the table's creation go straight to the table, past the faults.
  const dynamoClient = new DynamoDBClient({ endpoint: dynamo.endpoint });
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
  const production = productionDeps(config, { clock });
  const realLedger = production.ledger;
  const verdictLedger = createDynamoLedger("chaos-ledger", dynamoClient);
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
  const realQueue = production.queue;
  const queue: RetryQueue = {
    async enqueue(message, delay) {
      if (fates.getStore()?.dead) throw new Killed();
      await realQueue.enqueue(message, delay);
      site("after enqueue");
    },
    retryLater: (handle, delay) => realQueue.retryLater(handle, delay),
  };
  const realOpscom = production.opscom;
  const opscom: OpscomClient = {
    async deletePermit(request) {
      // A function cut off by its timeout calls nobody after that.
      if (fates.getStore()?.dead) throw new Killed();
      const outcome = await realOpscom.deletePermit(request);
      site("after OPS-COM answered");
      return outcome;
    },
  };
  const telemetry = new RecordingTelemetry();
  const deps = {
    config,
    clock,
    secrets: production.secrets,
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
  sandbox.setFaults({
    failureRate: options.failureRate,
    modes: opscomFaultModes(options.faults),
    latencyFaultMs: 400,
  });

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
  const brokenPromises: Record<string, number> = {};
  const brokenExamples: string[] = [];
  const broken = (kind: string, who: string) => {
    brokenPromises[kind] = (brokenPromises[kind] ?? 0) + 1;
    if (brokenPromises[kind] <= 3) brokenExamples.push(`${who}: ${kind}`);
  };

  /**
   * Runs one invocation as Lambda would: past its timeout it is cut off (its fate dies, so it
   * touches nothing more) and the caller hears nothing. The wait itself is real, because that
   * is how long the SDK's timeouts take.
   */
  async function invoke<T>(f: Fate, timeoutMs: number, run: () => Promise<T>): Promise<T | "timed out"> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      f.dead = true;
    }, timeoutMs);
    try {
      const result = await fates.run(f, run);
      return timedOut ? "timed out" : result;
    } catch (error) {
      if (timedOut) return "timed out";
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  // Invocations per webhook, so a 409 can be told from one that no other delivery explains.
  const invocations = new Map<string, number>();
  const active = new Map<string, Set<{ overlapped: boolean }>>();

  async function send(delivery: Delivery): Promise<void> {
    const signed = signWebhook({
      body: delivery.body,
      secret: vendorSecret,
      webhookId: delivery.webhookId,
      timestamp: Math.floor(clock.now() / 1000),
    });
    const f = fate();
    const first = !invocations.has(delivery.webhookId);
    invocations.set(delivery.webhookId, (invocations.get(delivery.webhookId) ?? 0) + 1);
    const self = { overlapped: false };
    const peers = active.get(delivery.webhookId) ?? new Set();
    active.set(delivery.webhookId, peers);
    for (const peer of peers) peer.overlapped = true;
    self.overlapped = peers.size > 0;
    peers.add(self);
    let result: APIGatewayProxyResult | "timed out" | undefined;
    try {
      result = await invoke(
        f,
        ingestTimeoutMs,
        async () =>
          (await ingest(
            restEvent({ vendorId: "acme", headers: signed.headers, body: signed.body }),
          )) as APIGatewayProxyResult,
      );
    } catch {
      result = undefined;
    } finally {
      peers.delete(self);
    }
    if (result === "timed out") {
      // API Gateway answers 502 for a function cut off by its timeout, where 503 was owed.
      count("502 (function timed out)");
      broken("ran past the ingest function's timeout", delivery.webhookId);
      delivery.nextAt = clock.now() + 61_000;
      return;
    }
    if (f.dead || !result) {
      count("killed (vendor retries)");
      delivery.nextAt = clock.now() + 61_000;
      return;
    }
    count(String(result.statusCode));
    if (result.statusCode === 500) broken("answered 500", delivery.webhookId);
    if (result.statusCode === 409 && first && !self.overlapped) {
      broken("first delivery answered 409: blocked by the relay's own claim", delivery.webhookId);
    }
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
        const result = await invoke(f, retryWorkerTimeoutMs, () => worker(event));
        if (result === "timed out") broken("ran past the retry worker's timeout", "retry worker");
        if (f.dead || result === "timed out") throw new Killed();
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
  let faultsBeforeRedrive: number | undefined;
  const faultCount = (byMode: Record<string, number>) => Object.values(byMode).reduce((a, b) => a + b, 0);
  const MAX_VIRTUAL_MS = 4 * 86_400_000;
  // Stalls are armed at the start of a round and counted when a request meets one.
  const stallsPerKind = Math.max(1, Math.round(options.webhooks / WEBHOOKS_PER_STALL));
  let secretStallPending = false;
  let secretCallsAtArming = 0;
  // The endpoint stalls the first GetSecretValue after the arming, whenever a cache expiry asks.
  const noteSecretStall = () => {
    if (secretStallPending && (aws.callCounts().GetSecretValue ?? 0) > secretCallsAtArming) {
      secretStallPending = false;
      inject("secrets-stall");
    }
  };
  const armStalls = () => {
    const stalled = faultsInjected["dynamodb-stall"] ?? 0;
    if (enabled.has("dynamodb-stall") && !dynamoFaults.stallArmed && stalled < stallsPerKind)
      dynamoFaults.stallArmed = true;
    noteSecretStall();
    if (
      enabled.has("secrets-stall") &&
      !secretStallPending &&
      (faultsInjected["secrets-stall"] ?? 0) < stallsPerKind
    ) {
      secretStallPending = true;
      secretCallsAtArming = aws.callCounts().GetSecretValue ?? 0;
      aws.stallNext("GetSecretValue", stallHoldMs);
    }
  };
  for (let phase = 0; phase < 2; phase++) {
    while (clock.now() - virtualStart < MAX_VIRTUAL_MS * (phase + 1)) {
      // Faults only until the redrive: on-call redrives once OPS-COM is healthy again, and a
      // burst queued then would wait for the few redriven messages and meet every one of them.
      if (phase === 0) {
        armStalls();
        if (random() < 0.05) sandbox.queueFaults(...Array<FaultMode>(5).fill({ errorCode: 9002 }));
      }
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
    dynamoFaults.on = false;
    faultsBeforeRedrive ??= faultCount(sandbox.stats().faultsInjected);
    await sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: "arn:aws:sqs:us-east-1:000000000000:chaos-dlq" }),
    );
  }

  // The verdict, from the ledger and from OPS-COM itself.
  noteSecretStall();
  const ledgerStates: Record<string, number> = {};
  const nonTerminal: string[] = [];
  for (let i = 0; i < options.webhooks; i++) {
    const record = await verdictLedger.get({ vendorId: "acme", webhookId: `chaos-${i}` });
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
  for (const [label, n] of Object.entries(sandbox.stats().faultsInjected)) {
    faultsInjected[edgeFaultOf(label) ?? label] = n;
  }
  const leftInRetryQueue = aws.queueStats(queueUrl).total;
  const leftInDeadLetterQueue = aws.queueStats(dlqUrl).total;
  const report: ChaosReport = {
    options,
    deliveries: deliveries.length,
    answers,
    kills,
    faultsInjected,
    ledgerStates,
    opscomDeletes,
    deadLetteredThenRedriven,
    opscomFaultsAfterRedrive:
      faultsBeforeRedrive === undefined
        ? 0
        : faultCount(sandbox.stats().faultsInjected) - faultsBeforeRedrive,
    leftInRetryQueue,
    leftInDeadLetterQueue,
    nonTerminal,
    brokenPromises,
    brokenExamples,
    virtualHours: Math.round((clock.now() - virtualStart) / 360_000) / 10,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ok:
      nonTerminal.length === 0 &&
      opscomDeletes.once === options.webhooks &&
      leftInRetryQueue === 0 &&
      leftInDeadLetterQueue === 0 &&
      Object.keys(brokenPromises).length === 0,
  };
  realOpscom.close();
  dynamoClient.destroy();
  sqs.destroy();
  await sandbox.close();
  await aws.close();
  await dynamoProxy.close();
  await dynamo.close();
  return report;
}
if (require.main === module) {
  let options: ChaosOptions;
  try {
    options = parseChaosArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
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
