// One scenario for the alarm tests, in simulated time: each vendor of the world posts signed webhooks to the
// real ingest handler, the real retry worker drains the retry queue on the local SQS endpoint
// (receives scheduled by the retry schedule's visibility changes, polled every 5 simulated
// seconds as the event source mapping would), OPS-COM is the sandbox over real HTTP and the
// secrets are on the local Secrets Manager endpoint. Time moves only when the scenario says.
//
// What CloudWatch would receive is recorded in a MetricStore: the Powertools EMF lines the
// handlers print (captured from stdout, filed at the simulated time of the invocation), and
// the AWS-emitted metrics the alarms read, with their documented semantics: Lambda Errors per
// invocation; API Gateway Count and 5XXError (0 or 1) per request; SQS, once a minute, the
// dead-letter queue's ApproximateNumberOfMessagesVisible and the retry queue's
// ApproximateAgeOfOldestMessage, which leaves out messages received three or more times.
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Stack } from "aws-cdk-lib";
import type { Metric } from "aws-cdk-lib/aws-cloudwatch";
import { MemoryLedger } from "../../lambda/adapters/memory";
import { createSqsQueue } from "../../lambda/adapters/sqs-queue";
import type { Ledger } from "../../lambda/ports";
import { createPowertoolsTelemetry } from "../../lambda/telemetry";
import type { PermitDeleteRelay } from "../../lib/permit-delete-relay";
import { pollOnce } from "../../local/event-source";
import { canonicalEvent, signWebhook } from "../../local/vendor-kit";
import { restEvent } from "../../testkit/events";
import { type MetricStore, metricKey } from "./cloudwatch";
import { buildRelay, type TestWorld } from "./relay";

const STEP_MS = 5000;
const MINUTE_MS = 60_000;

export interface ScenarioOptions {
  readonly world: TestWorld;
  readonly store: MetricStore;
  readonly stack: Stack;
  readonly relay: PermitDeleteRelay;
  /** The synthesized functions' environment: the Powertools namespace and service come from it. */
  readonly functionEnv: Record<string, string>;
  readonly retryMaxAttempts: number;
  /** OPSCOM_BASE_URL points at a path of the sandbox that is not OPS-COM's API (its 404 page). */
  readonly wrongBaseUrl?: boolean;
  readonly ledger?: (real: Ledger) => Ledger;
}

export async function startScenario(options: ScenarioOptions) {
  const { world, store, stack, relay } = options;
  const suffix = Math.random().toString(36).slice(2, 8);
  const deadLetterUrl = world.aws.createQueue(`dlq-${suffix}`);
  const retryUrl = world.aws.createQueue(`retry-${suffix}`, {
    VisibilityTimeout: "360",
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: `arn:aws:sqs:us-east-1:000000000000:dlq-${suffix}`,
      maxReceiveCount: String(options.retryMaxAttempts),
    }),
  });
  for (const name of ["POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"] as const) {
    const value = options.functionEnv[name];
    if (value === undefined) throw new Error(`the synthesized functions set no ${name}`);
    process.env[name] = value;
  }
  const telemetry = createPowertoolsTelemetry();
  const sqs = new SQSClient({});
  const memoryLedger = new MemoryLedger();
  const relayUnderTest = buildRelay(world, {
    env: {
      RETRY_MAX_ATTEMPTS: String(options.retryMaxAttempts),
      ...(options.wrongBaseUrl ? { OPSCOM_BASE_URL: `${world.sandbox.url}/wrong` } : {}),
    },
    queue: createSqsQueue(retryUrl, sqs),
    telemetry,
    ledger: options.ledger ? options.ledger(memoryLedger) : memoryLedger,
  });
  const { clock } = relayUnderTest;
  // The world is new, so both virtual clocks read Date.now(); they move together from here,
  // starting on a minute boundary so periods line up as CloudWatch's do.
  const align = Math.ceil(clock.now() / MINUTE_MS) * MINUTE_MS - clock.now();
  clock.advance(align);
  world.aws.advanceClock(align);
  const start = clock.now();

  const resolved = (metric: Metric) =>
    metricKey(
      metric.namespace,
      metric.metricName,
      stack.resolve(metric.dimensions ?? {}) as Record<string, unknown>,
    );
  const keys = {
    ingestErrors: resolved(relay.ingestFunction.metricErrors()),
    workerErrors: resolved(relay.retryWorkerFunction.metricErrors()),
    apiCount: resolved(relay.api.metricCount()),
    api5xx: resolved(relay.api.metricServerError()),
    retryAge: resolved(relay.retryQueue.metricApproximateAgeOfOldestMessage()),
    deadLetters: resolved(relay.deadLetterQueue.metricApproximateNumberOfMessagesVisible()),
  };

  /** Runs one invocation with stdout captured; its EMF lines are filed at the simulated now. */
  async function invoke<T>(fn: () => Promise<T>): Promise<T | Error> {
    const write = process.stdout.write;
    const writeError = process.stderr.write;
    let captured = "";
    process.stdout.write = ((chunk: string | Uint8Array) => {
      captured += chunk.toString();
      return true;
    }) as typeof process.stdout.write;
    // Log lines at WARN and ERROR go to stderr; they are not metrics and would only be noise.
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      return await fn();
    } catch (error) {
      return error as Error;
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeError;
      for (const line of captured.split("\n")) if (line.trim()) store.addEmf(line, clock.now());
    }
  }

  let sent = 0;
  const answers: number[] = [];
  async function sendWebhook(vendorId: string, secret: string) {
    const referenceId = world.sandbox.createPermit();
    const signed = signWebhook({
      body: canonicalEvent(referenceId),
      secret,
      timestamp: Math.floor(clock.now() / 1000),
    });
    const result = await invoke(() =>
      relayUnderTest.ingest(restEvent({ vendorId, headers: signed.headers, body: signed.body })),
    );
    sent++;
    const t = clock.now();
    store.add(keys.apiCount, t, 1);
    if (result instanceof Error) {
      store.add(keys.ingestErrors, t, 1);
      store.add(keys.api5xx, t, 1);
      answers.push(502);
      return;
    }
    store.add(keys.ingestErrors, t, 0);
    store.add(keys.api5xx, t, result.statusCode >= 500 ? 1 : 0);
    answers.push(result.statusCode);
  }

  function sampleQueues() {
    const now = clock.now();
    const ages = world.aws
      .peekMessages(retryUrl)
      .filter((m) => m.receiveCount < 3)
      .map((m) => (now - Date.parse(JSON.parse(m.body).firstSeenAt)) / 1000);
    store.add(keys.retryAge, now, Math.max(0, ...ages));
    store.add(keys.deadLetters, now, world.aws.peekMessages(deadLetterUrl).length);
  }

  /**
   * Moves simulated time to `untilMs` after the start, with a webhook from each vendor every
   * `everyMs` if given, signed with the secret the world gave the vendor (which a botched
   * rotation leaves the vendor holding).
   */
  async function run(untilMs: number, traffic?: { everyMs: number }) {
    let nextWebhook = clock.now();
    while (clock.now() - start < untilMs) {
      if (traffic && clock.now() >= nextWebhook) {
        for (const [vendorId, secret] of Object.entries(world.vendorSecrets))
          await sendWebhook(vendorId, secret);
        nextWebhook += traffic.everyMs;
      }
      while (world.aws.queueStats(retryUrl).visible > 0) {
        await invoke(async () => {
          try {
            await pollOnce(sqs, retryUrl, relayUnderTest.worker);
            store.add(keys.workerErrors, clock.now(), 0);
          } catch (error) {
            store.add(keys.workerErrors, clock.now(), 1);
            throw error;
          }
        });
      }
      // Real time passes too (the calls are real), so a minute is when the step crosses one.
      if (
        Math.floor((clock.now() - start) / MINUTE_MS) !==
        Math.floor((clock.now() - start - STEP_MS) / MINUTE_MS)
      )
        sampleQueues();
      clock.advance(STEP_MS);
      world.aws.advanceClock(STEP_MS);
    }
  }

  return {
    start,
    run,
    sendWebhook,
    answers,
    sent: () => sent,
    minutes: (m: number) => start + m * MINUTE_MS,
    close: () => {
      telemetry.close();
      relayUnderTest.close();
      sqs.destroy();
    },
  };
}
