// (About 500 lines: the run's world, its rounds and its verdict share one closure's state; its
// options and report are in chaos-report.ts, its kill points in chaos-edge.ts, its faults in
// chaos-faults.ts.)
//
// The chaos run: thousands of webhooks through the relay as the synthesized stack deploys it,
// with the DynamoDB ledger on dynalite, the retry queue and its dead-letter queue on the local SQS
// endpoint, and the OPS-COM sandbox failing a share of calls in mixed ways (5xx, 429, resets,
// hangs, answers that arrive after the relay gave up, 9002 bursts). Vendors send some webhooks
// twice or more, and handlers are killed at random points — mid-claim, after OPS-COM acted but
// before the ledger heard of it, after the queue took a message. Time is virtual: the global
// Date is shifted (testkit/virtual-date.ts), so the functions, the SQS endpoint and the run
// move together, and a day of backoff runs in seconds.
//
// What runs is the deployable stack, synthesized with real bundling (the assembly npm start
// caches): both functions' bundled index.js, loaded with the environment the template gives
// them (local/deployed-functions.ts, shared with npm start), each cut off at its template
// timeout; the retry queue's visibility timeout, retention and maxReceiveCount and the event
// source mapping's batch size, maximum concurrency and ReportBatchItemFailures are the
// template's. A change to the stack is a change to what this run exercises (--context).
//
// Settings the run gives the stack (RUN_CONTEXT) are stack context, as `cdk deploy -c` takes it:
// the vendor "acme" (the name the IAM test binds the run's signing secret to) and
// retryMaxAttempts 8, one receive more than the stack's 7, so that with 30% of OPS-COM calls
// failing a delivery seldom dead-letters before the redrive. Everything else is the deployed
// default, including what has no context key: FORWARD_TIMEOUT_MS (5 s) and CLAIM_LEASE_SECONDS
// (60 s). So a hung OPS-COM call costs the run real seconds, as it costs a deployed function,
// and the latency fault is set just past the ingest handler's inline budget
// (ANSWER_BUDGET.inlineDeliveryMs): its answer arrives after the ingest gave up, and in time
// for the retry worker's full forward timeout.
//
// Kill points sit at the network edge (bench/chaos-edge.ts): each invocation carries a fate,
// and its requests to the ledger, the queue and OPS-COM are destroyed unsent or followed by its
// death, since the adapters are inside the bundles. The bundles' Powertools logs and EMF lines
// are captured, counted and searched for the OPS-COM token and the signing secret.
//
// It ends with every webhook in exactly one terminal ledger state, every permit deleted at
// OPS-COM exactly once, and the queues empty — or it says which webhook broke which promise.
//
// On top of that mix come the faults at the edges (`EDGE_FAULTS`, all on by default, any subset
// with --faults): OPS-COM 403/404 pages it did not write, resets on reused OPS-COM sockets,
// DynamoDB answers lost after the write applied (a claim, a settle), throttling on the write
// that records an outcome, and a DynamoDB or Secrets Manager endpoint that accepts and stalls.
// The bundles' SDK clients are the production ones, so whatever timeouts and retries production
// gives them are what meets these faults. A stall costs the run real seconds: SDK timeouts are
// wall time, so the function timeout is too.
//
//   npm run chaos                      2,000 webhooks, 30% faults, 10% duplicates, 5% kills
//   npm run chaos -- --webhooks 5000 --seed 42
//   npm run chaos -- --faults dynamodb-lost-claim --kill-rate 0    one edge fault on its own
//   npm run chaos -- --context retryMaxAttempts=3                   the stack with another setting
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient, StartMessageMoveTaskCommand } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyResult, SQSEvent } from "aws-lambda";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import { ANSWER_BUDGET } from "../lambda/budget";
import type { DeliveryState } from "../lambda/ports";
import { startAwsEndpoint } from "../local/aws/server";
import { captureFunctionOutput, loadDeployedFunctions } from "../local/deployed-functions";
import { startDynamoFaultProxy } from "../local/dynamodb-faults";
import { pollOnce } from "../local/event-source";
import { type FaultMode, startOpscomSandbox } from "../local/opscom-sandbox";
import { readStackShape, synthesizeStack } from "../local/template-config";
import { canonicalEvent, generateSigningSecret, signWebhook } from "../local/vendor-kit";
import { startDynalite, useLocalAws } from "../testkit/dynalite";
import { restEvent } from "../testkit/events";
import { mulberry32 } from "../testkit/random";
import { shiftDate } from "../testkit/virtual-date";
import { Fate, KILL_SITES, type KillSite, startKillSwitch } from "./chaos-edge";
import { createDynamoFaults, edgeFaultOf, opscomFaultModes } from "./chaos-faults";
import {
  type ChaosOptions,
  type ChaosReport,
  DEFAULT_CHAOS,
  type EdgeFault,
  formatReport,
  parseChaosArgs,
  refuseUnmodelledContext,
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

/** Stack context the run synthesizes with; `options.context` goes on top. Why each: above. */
export const RUN_CONTEXT: Readonly<Record<string, unknown>> = {
  vendors: [{ id: "acme" }],
  retryMaxAttempts: 8,
};
/** The run's names for the stack's resources, which the IAM test tells its calls apart by. */
const NAMES = {
  ledgerTable: "chaos-ledger",
  retryQueue: "chaos-retry",
  deadLetterQueue: "chaos-dlq",
  tokenSecret: "chaos/token",
};
/** A stalled request is held this long past the ingest timeout, then reset, so a stall cannot outlive the run. */
const STALL_HOLD_PAST_TIMEOUT_MS = 2_000;
/** Stalls are costly in wall time, so each kind is armed this often, and at least once a run. */
const WEBHOOKS_PER_STALL = 1000;

const TERMINAL: readonly DeliveryState[] = ["deleted", "not_found", "rejected", "dead_lettered"];

class Killed extends Error {
  override readonly name = "Killed";
}

export async function runChaos(options: ChaosOptions = DEFAULT_CHAOS): Promise<ChaosReport> {
  const started = performance.now();
  const context = { ...RUN_CONTEXT, ...options.context };
  refuseUnmodelledContext(context);
  const assembly = await synthesizeStack(context);
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
  // The functions' SDK clients find the stand-ins here; their DynamoDB calls meet the faults.
  useLocalAws({ dynamodb: dynamoProxy.endpoint, sqs: aws.url, secretsManager: aws.url });
  const token = "CHAOS-TOKEN-0123456789-abcdefghijklmnop";
  const clientCode = shape.ingest.environment.OPSCOM_CLIENT_CODE;
  if (typeof clientCode !== "string") throw new Error("template: OPSCOM_CLIENT_CODE is not a literal");
  const sandbox = await startOpscomSandbox({
    clients: { [clientCode]: { tokens: [token] } },
    seed: options.seed,
  });
  const vendorSecret = generateSigningSecret();
  // The run's own reads and the table's creation go straight to the table, past the faults.
  const dynamoClient = new DynamoDBClient({ endpoint: dynamo.endpoint });
  const sqs = new SQSClient({});
  const kill = startKillSwitch(sandbox.url);
  const output = captureFunctionOutput();
  // Virtual time: the functions, the SQS endpoint and this run all read the shifted Date.
  const date = shiftDate();
  try {
    const functions = await loadDeployedFunctions({
      shape,
      aws,
      dynamodb: dynamoClient,
      opscomBaseUrl: sandbox.url,
      opscomToken: token,
      vendorSecret,
      names: NAMES,
    });
    const report = await rounds(functions);
    const lines = output.lines;
    // No line a function wrote may carry the OPS-COM token or the vendor's signing secret.
    const secretsInLogs = lines.filter((line) => functions.secretValues.some((v) => line.includes(v))).length;
    return {
      ...report,
      requests: { ...kill.requests },
      logs: {
        lines: lines.length,
        errors: lines.filter((line) => line.includes('"level":"ERROR"')).length,
        metrics: lines.filter((line) => line.includes('"_aws":')).length,
        secretsInLogs,
      },
      seconds: Math.round((performance.now() - started) / 100) / 10,
      ok: report.ok && secretsInLogs === 0,
    };
  } finally {
    date.restore();
    output.restore();
    kill.close();
    dynamoClient.destroy();
    sqs.destroy();
    await sandbox.close();
    await aws.close();
    await dynamoProxy.close();
    await dynamo.close();
  }

  async function rounds(
    functions: Awaited<ReturnType<typeof loadDeployedFunctions>>,
  ): Promise<Omit<ChaosReport, "logs" | "seconds" | "requests">> {
    const clock = { now: () => Date.now() };
    const vendorId = [...functions.config.vendors.keys()][0] as string;
    const verdictLedger = createDynamoLedger(functions.ledgerTableName, dynamoClient);
    const queueUrl = functions.retryQueueUrl;
    const dlqUrl = functions.deadLetterQueueUrl;
    const fate = (): Fate =>
      random() < options.killRate
        ? new Fate(KILL_SITES[Math.floor(random() * KILL_SITES.length)] as KillSite)
        : new Fate();

    // Faults: a standing failure rate over every kind, plus occasional 9002 bursts.
    sandbox.setFaults({
      failureRate: options.failureRate,
      modes: [...(options.opscomModes ?? opscomFaultModes(options.faults))],
      latencyFaultMs: ANSWER_BUDGET.inlineDeliveryMs + 200,
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
     * is how long the SDK's timeouts take. A killed invocation is not waited for either: its
     * fate destroys whatever it still sends.
     */
    async function invoke<T>(
      f: Fate,
      timeoutMs: number,
      run: () => Promise<T>,
    ): Promise<T | "timed out" | "killed"> {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        f.die();
      }, timeoutMs);
      const work = kill.run(f, run);
      // A dead invocation's failure is nobody's to hear.
      work.catch(() => undefined);
      try {
        const result = await Promise.race([work.then((value) => ({ value })), f.died.then(() => undefined)]);
        if (timedOut) return "timed out";
        if (f.dead || result === undefined) return "killed";
        return result.value;
      } catch (error) {
        if (timedOut) return "timed out";
        if (f.dead) return "killed";
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
      let result: APIGatewayProxyResult | "timed out" | "killed" | undefined;
      try {
        result = await invoke(f, ingestTimeoutMs, () =>
          functions.ingest(restEvent({ vendorId, headers: signed.headers, body: signed.body })),
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
      if (result === "killed" || result === undefined) {
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

    // The event source mapping: its batch size and ReportBatchItemFailures are the template's.
    const poll = {
      batchSize: shape.eventSource.batchSize,
      reportBatchItemFailures: shape.eventSource.reportBatchItemFailures,
    };
    let retryReceives = 0;
    async function runWorkerOnce(): Promise<number> {
      const f = fate();
      try {
        return await pollOnce(
          sqs,
          queueUrl,
          async (event: SQSEvent) => {
            retryReceives += event.Records.length;
            const result = await invoke(f, retryWorkerTimeoutMs, () => functions.retryWorker(event));
            if (result === "timed out") broken("ran past the retry worker's timeout", "retry worker");
            // Lambda deletes nothing of a batch whose invocation failed.
            if (result === "timed out" || result === "killed") throw new Killed();
            return result;
          },
          poll,
        );
      } catch (error) {
        if (error instanceof Killed) return 1;
        throw error;
      }
    }
    /** One poll by each of the mapping's concurrent pollers (its maximum concurrency). */
    async function pollAll(): Promise<number> {
      const pollers = Array.from({ length: shape.eventSource.maxConcurrency }, runWorkerOnce);
      return (await Promise.all(pollers)).reduce((a, b) => a + b, 0);
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
        while ((await pollAll()) > 0) {
          /* drain what is visible now */
        }
        const pending = deliveries.some((d) => !d.done);
        const stats = aws.queueStats(queueUrl);
        if (!pending && stats.total === 0) break;
        date.advance(pending ? 61_000 : 600_000);
      }
      // Anything dead-lettered is redriven once OPS-COM is healthy, as the runbook says.
      const dead = aws.queueStats(dlqUrl).total;
      if (dead === 0) break;
      deadLetteredThenRedriven += dead;
      sandbox.clearFaults();
      dynamoFaults.on = false;
      faultsBeforeRedrive ??= faultCount(sandbox.stats().faultsInjected);
      await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: functions.deadLetterQueueArn }));
    }

    // The verdict, from the ledger and from OPS-COM itself.
    noteSecretStall();
    const ledgerStates: Record<string, number> = {};
    const nonTerminal: string[] = [];
    for (let i = 0; i < options.webhooks; i++) {
      const record = await verdictLedger.get({ vendorId, webhookId: `chaos-${i}` });
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
    return {
      options,
      stack: {
        assembly: assembly.directory,
        context,
        maxReceiveCount: shape.retryQueue.maxReceiveCount,
        visibilityTimeoutSeconds: shape.retryQueue.visibilityTimeoutSeconds,
        batchSize: shape.eventSource.batchSize,
        maxConcurrency: shape.eventSource.maxConcurrency,
        reportBatchItemFailures: shape.eventSource.reportBatchItemFailures,
        ingestTimeoutMs,
        retryWorkerTimeoutMs,
        forwardTimeoutMs: functions.config.forwardTimeoutMs,
      },
      deliveries: deliveries.length,
      answers,
      kills: kill.kills,
      faultsInjected,
      ledgerStates,
      opscomDeletes,
      deadLetteredThenRedriven,
      retryReceives,
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
      ok:
        nonTerminal.length === 0 &&
        opscomDeletes.once === options.webhooks &&
        leftInRetryQueue === 0 &&
        leftInDeadLetterQueue === 0 &&
        Object.keys(brokenPromises).length === 0,
    };
  }
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
