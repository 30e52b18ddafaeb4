// Load and soak: a steady stream of distinct, correctly signed webhooks (autocannon) against
// the relay as the synthesized stack deploys it, running in a child process
// (bench/relay-child.ts, deployed shape), with the OPS-COM sandbox failing a share of deletes in
// transient ways (5xx, 429, resets, hangs, HTML 502 pages). Every request deletes its own
// sandbox permit, so at the end each permit must have been deleted exactly once, and the
// ledger table must hold one record per webhook sent.
//
// What the run takes from the stack (`startDeployedRelay`, local/harness.ts): the functions'
// bundles from the assembly, their environment (VENDORS, OPSCOM_CLIENT_CODE,
// FORWARD_TIMEOUT_MS, RETRY_MAX_ATTEMPTS, …) and timeouts, the retry queue's visibility
// timeout, retention and maxReceiveCount, the event source mapping's batch size, concurrency
// and report-batch-item-failures, and the stage's throttle. The stack is synthesized with its
// defaults except for one context pair: `throttleRate` and `throttleBurst` of twice the run's
// rate (at least), so the stage does not throttle the load (the default stage allows 50/s).
// `stackContext` (tests) adds or overrides context. The webhooks come from the template's
// first vendor (the placeholder `demo-vendor` by default).
//
// The ledger is the real table: DynamoDB (dynalite, in a process of its own so the relay
// child's heap is the relay's), counted by a paginated Scan. The queues are the local SQS
// endpoint's. The drain, with faults off, moves the endpoint's clock to each parked delivery's
// retry time and polls as the event source mapping does, until the queue is empty and no record
// is open.
//
// What it reports: latency percentiles, answers by status, the relay's memory at start, after
// warm-up and at the end (heap measured after a forced GC, so the figures are comparable), and
// dynalite's beside it; the ledger's account of every webhook, and — after the drain — how
// often each permit was deleted at OPS-COM. It also searches the relay's log output (when
// `--log-file` is given) and every answer for the token, the signing secret, any signature sent
// and the canary credentials each request carries in Authorization/X-Api-Key.
//
//   npm run load                              200 webhooks/s for 60 s, 20% OPS-COM faults
//   npm run load -- --rate 300 --seconds 120  any rate and length
//   npm run load -- --short                   100/s for 5 s (CI)
//   npm run load -- --log-file /tmp/relay.log keep the relay's logs (and search them)

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { DEFAULT_FAULT_MODES } from "../local/opscom-sandbox";
import { synthesizeStack } from "../local/template-config";
import { canonicalEvent, generateSigningSecret, newWebhookId, signWebhook } from "../local/vendor-kit";
import { findNeedles } from "./fuzz";
import {
  formatLoadReport,
  type LoadOptions,
  type LoadReport,
  loadContext,
  type MemoryPoint,
  mib,
  parseLoadArgs,
} from "./load-report";
import { type ChildStats, type RelayChild, startRelayChild } from "./relay-child";
import { isRetryable, type PendingWebhook, resendUntilFinal } from "./vendor-resend";

export {
  FULL_LOAD,
  formatLoadReport,
  type LoadOptions,
  type LoadReport,
  loadContext,
  parseLoadArgs,
  SHORT_LOAD,
} from "./load-report";

interface AutocannonResult {
  errors: number;
  timeouts: number;
}
type Context = Record<string, unknown>;
interface AutocannonRequest {
  method: string;
  path: string;
  setupRequest: (request: Record<string, unknown>, context: Context) => Record<string, unknown>;
  onResponse: (status: number, body: string, context: Context) => void;
}
// autocannon ships no types; this is the surface used here.
const autocannon = require("autocannon") as (options: {
  url: string;
  connections: number;
  overallRate: number;
  amount: number;
  duration: number;
  timeout: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

/** Sends per resent webhook: with Retry-After's seconds between them, past a 60 s claim lease. */
const RESEND_LIMIT = 120;
const point = (s: ChildStats): MemoryPoint => ({
  rss: s.memory.rss,
  heapUsed: s.memory.heapUsed,
  ledgerRecords: s.ledger.total,
  dynamoRss: s.dynamo?.rss ?? 0,
  dynamoHeapUsed: s.dynamo?.heapUsed ?? 0,
});

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const token = `LOADTOKEN-${randomBytes(16).toString("hex")}`;
  const secret = generateSigningSecret();
  const context = loadContext(options);
  // Synthesized here, so the relay child finds the assembly cached and never loads aws-cdk-lib
  // (hundreds of MiB of RSS that would sit in the relay's memory figures).
  const assembly = await synthesizeStack(context);
  const child = await startRelayChild(
    {
      shape: "deployed",
      token,
      vendorSecret: secret,
      context,
      sandboxSeed: options.seed,
      workerIntervalMs: 250,
    },
    options.logFile,
  );
  try {
    return await drive(options, { context, synthesized: assembly.synthesized }, child, token, secret);
  } finally {
    await child.close();
  }
}

async function drive(
  options: LoadOptions,
  synth: { context: Record<string, unknown>; synthesized: boolean },
  child: RelayChild,
  token: string,
  secret: string,
): Promise<LoadReport> {
  const stack = child.deployed;
  if (!stack) throw new Error("the relay child did not start the deployed shape");
  const vendor = stack.vendorIds[0];
  if (vendor === undefined) throw new Error("the synthesized stack configures no vendor");
  const total = Math.round(options.rate * options.seconds);
  // One sandbox permit per webhook, through the sandbox's admin API (at most 10,000 a call).
  const refs: string[] = [];
  while (refs.length < total) {
    const res = await fetch(`${child.sandboxUrl}/__sandbox/permits`, {
      method: "POST",
      body: JSON.stringify({ count: Math.min(10_000, total - refs.length) }),
    });
    refs.push(...((await res.json()) as { referenceIds: string[] }).referenceIds);
  }
  const faults = await fetch(`${child.sandboxUrl}/__sandbox/faults`, {
    method: "POST",
    body: JSON.stringify({ failureRate: options.failureRate, modes: DEFAULT_FAULT_MODES }),
  });
  if (!faults.ok) throw new Error(`the sandbox refused the fault config: ${await faults.text()}`);

  const start = await child.stats(true);
  const signatures = new Set<string>();
  const answers: Record<string, number> = {};
  let answerHits = 0;
  let next = 0;
  const toResend: PendingWebhook[] = [];
  const forbiddenInAnswer = new RegExp(
    [token, secret, secret.slice(6), "CANARY", "whsec_", "v1,"]
      .map((s) => s.replace(/[+/=]/g, "\\$&"))
      .join("|"),
  );

  // Memory over the run, once a second; the warm-up point after a forced GC.
  const rssSamples: number[] = [];
  let warm: ChildStats | undefined;
  // The warm-up point (a Scan and a GC) is asked for once; later ticks wait for its answer.
  let warmAsked = false;
  const started = Date.now();
  // Only the warm-up point scans the ledger; the other samples ask for memory alone.
  const sampler = setInterval(() => {
    const warmNow = !warmAsked && Date.now() - started >= options.warmupSeconds * 1000;
    if (warmNow) warmAsked = true;
    (warmNow ? child.stats(true) : child.memory()).then(
      (s) => {
        rssSamples.push(mib("memory" in s ? s.memory.rss : s.rss));
        if (warmNow) warm = s as ChildStats;
      },
      () => {
        if (warmNow) warmAsked = false;
      },
    );
  }, 1000);

  // autocannon paces each connection per whole second, so all connections of one instance fire
  // together at every tick. Lanes of connections started a fraction of a second apart spread
  // those bursts over the second, closer to how independent vendors' webhooks arrive.
  const lanes = Math.max(1, Math.min(options.lanes, Math.floor(options.rate)));
  const latencies: number[] = [];
  const sendsPerSecond: number[] = [];
  let results: AutocannonResult[];
  try {
    results = await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        const share = (n: number) => Math.floor(n / lanes) + (lane < n % lanes ? 1 : 0);
        const amount = share(total);
        const rate = share(Math.round(options.rate));
        if (amount === 0 || rate === 0) return undefined;
        await new Promise((resolve) => setTimeout(resolve, (lane * 1000) / lanes));
        return autocannon({
          url: child.relayUrl,
          connections: Math.max(1, Math.min(share(options.connections), amount, rate)),
          overallRate: rate,
          amount,
          duration: options.seconds * 3 + 30,
          timeout: 30,
          requests: [
            {
              method: "POST",
              path: `/webhooks/${vendor}`,
              // Called once per request, just before it is written: each is a new webhook for a
              // permit of its own. The connection's context carries the send time.
              setupRequest: (request, context) => {
                const ref = refs[next++ % refs.length] as string;
                const canary = `CANARY${randomBytes(12).toString("hex")}`;
                const webhook = signWebhook({ body: canonicalEvent(ref), secret, webhookId: newWebhookId() });
                signatures.add((webhook.headers["webhook-signature"] as string).slice(3));
                context.sentAt = performance.now();
                context.webhook = { webhookId: webhook.headers["webhook-id"], body: webhook.body };
                const second = Math.floor((Date.now() - started) / 1000);
                sendsPerSecond[second] = (sendsPerSecond[second] ?? 0) + 1;
                return {
                  ...request,
                  headers: { ...webhook.headers, Authorization: `Bearer ${canary}`, "X-Api-Key": canary },
                  body: webhook.body,
                };
              },
              onResponse: (status, body, context) => {
                latencies.push(performance.now() - (context.sentAt as number));
                let answer = "(no JSON)";
                try {
                  answer = String((JSON.parse(body) as { status?: unknown }).status);
                } catch {}
                answers[`${status} ${answer}`] = (answers[`${status} ${answer}`] ?? 0) + 1;
                if (forbiddenInAnswer.test(body)) answerHits++;
                // The stage's 429 is the run's own failure (its throttle is set above the rate).
                if (isRetryable(status) && status !== 429) toResend.push(context.webhook as PendingWebhook);
              },
            },
          ],
        });
      }),
    ).then((all) => all.filter((r): r is AutocannonResult => r !== undefined));
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const percentile = (q: number) =>
    Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10;
  const errors = results.reduce((sum, r) => sum + r.errors, 0);
  const timeouts = results.reduce((sum, r) => sum + r.timeouts, 0);

  // What each vendor's sender does next with a retryable answer. A claim whose write applied
  // but missed its deadline stays in_progress until its lease (60 s by default) lapses, so a
  // resend can meet 409 for that long: rare, and then this run takes longer, not lost webhooks.
  const resendStarted = Date.now();
  const resent = await resendUntilFinal(toResend, {
    url: `${child.relayUrl}/webhooks/${vendor}`,
    sign: (webhookId, body) => {
      const webhook = signWebhook({ body, secret, webhookId });
      signatures.add((webhook.headers["webhook-signature"] as string).slice(3));
      return webhook.headers as Record<string, string>;
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    maxSends: RESEND_LIMIT,
  });
  const resends = {
    ...resent,
    webhooks: toResend.length,
    seconds: Math.round((Date.now() - resendStarted) / 100) / 10,
  };
  const end = await child.stats(true);
  const warmPoint = point(warm ?? start);
  const ledgerAfterLoad = end.ledger;

  // Faults off; the worker retries every parked delete (the child moves its clock to each due time).
  await fetch(`${child.sandboxUrl}/__sandbox/faults`, { method: "DELETE" });
  const drainStarted = Date.now();
  const drain = { ...(await child.drain()), wallSeconds: Math.round((Date.now() - drainStarted) / 100) / 10 };
  const drained = await child.stats(true);
  const deletes = await child.deletes();
  const permits = { once: 0, moreThanOnce: 0, never: 0 };
  for (const ref of refs.slice(0, next)) {
    const n = deletes[ref] ?? 0;
    if (n === 1) permits.once++;
    else if (n > 1) permits.moreThanOnce++;
    else permits.never++;
  }

  // The relay's own log output, searched for every secret and every per-request value — after
  // the child has exited, so its last lines (metrics published at close) are searched too.
  await child.close();
  let logBytes = 0;
  let hits: string[] = [];
  if (options.logFile !== "/dev/null") {
    const logs = readFileSync(options.logFile, "utf8");
    logBytes = logs.length;
    // Canaries all start with CANARY, so the pattern below finds any of them.
    hits = findNeedles(logs, [token, secret, secret.slice(6)]);
    for (const match of logs.matchAll(/[A-Za-z0-9+/]{43}=/g))
      if (signatures.has(match[0])) hits.push(match[0]);
    const forbidden = /whsec_|apiToken|authorization|x-api-key|bearer |webhook-signature|CANARY/i.exec(logs);
    if (forbidden) hits.push(forbidden[0]);
  }

  // Growth is per webhook claimed after warm-up: every one is a record of the table.
  const afterWarm = Math.max(1, end.ledger.total - (warm ?? start).ledger.total);
  const growthPerWebhookBytes = Math.round((end.memory.heapUsed - warmPoint.heapUsed) / afterWarm);
  const dynamoGrowthPerWebhookBytes = Math.round(
    ((end.dynamo?.heapUsed ?? 0) - warmPoint.dynamoHeapUsed) / afterWarm,
  );
  const flagged = growthPerWebhookBytes > options.maxGrowthPerWebhookBytes;
  const answered = Object.values(answers).reduce((a, b) => a + b, 0);
  const throttled = answers["429 throttled"] ?? 0;
  // One record per webhook that got past the stage (all of them, unless a test's context throttles).
  const ledgerAccountsForEverySend =
    ledgerAfterLoad.total === next - throttled &&
    (ledgerAfterLoad.byState.in_progress ?? 0) === 0 &&
    answered === next;
  const settled =
    drain.open === 0 &&
    drained.queue.waiting === 0 &&
    drained.queue.deadLetters === 0 &&
    drained.ledger.total === next - throttled &&
    (drained.ledger.byState.deleted ?? 0) + (drained.ledger.byState.not_found ?? 0) === next - throttled;
  // A 503 is the contract's "try again later"; the vendor's resend must then get a final 2xx.
  const no5xx = Object.keys(answers).every((key) => !key.startsWith("5") || key === "503 unavailable");
  const resendsSettled =
    resends.unsettled.length === 0 &&
    Object.keys(resends.finalAnswers).every((key) => key.startsWith("200 ") || key.startsWith("202 "));
  return {
    options,
    stack: { ...stack, ...synth },
    sent: next,
    seconds: Math.round(seconds * 10) / 10,
    achievedRate: Math.round((next / seconds) * 10) / 10,
    sendsPerSecond: Array.from(sendsPerSecond, (n) => n ?? 0),
    latencyMs: {
      p50: percentile(0.5),
      p90: percentile(0.9),
      p99: percentile(0.99),
      max: Math.round((latencies[latencies.length - 1] ?? 0) * 10) / 10,
      mean: Math.round((latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)) * 10) / 10,
    },
    answers,
    throttled,
    transportErrors: errors,
    timeouts,
    memory: {
      start: point(start),
      warm: warmPoint,
      end: point(end),
      drained: point(drained),
      rssSamplesMiB: rssSamples,
      growthPerWebhookBytes,
      dynamoGrowthPerWebhookBytes,
      flagged,
    },
    resends,
    ledgerAfterLoad,
    ledgerAccountsForEverySend,
    drain,
    ledgerAfterDrain: drained.ledger,
    queueAfterDrain: drained.queue,
    opscom: {
      deleteRequests: drained.sandbox.deleteRequests,
      faultsInjected: end.sandbox.faultsInjected,
      permits,
    },
    leaks: { logBytes, hits, answerHits },
    ok:
      ledgerAccountsForEverySend &&
      settled &&
      no5xx &&
      resendsSettled &&
      throttled === 0 &&
      permits.once === next &&
      errors === 0 &&
      timeouts === 0 &&
      hits.length === 0 &&
      answerHits === 0 &&
      !flagged,
  };
}

if (require.main === module) {
  let options: LoadOptions;
  try {
    options = parseLoadArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  runLoad(options).then(
    (report) => {
      process.stdout.write(`${formatLoadReport(report)}\n`);
      process.exit(report.ok ? 0 : 1);
    },
    (error: unknown) => {
      process.stderr.write(`load failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(2);
    },
  );
}
