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
import { parseArgs } from "node:util";
import { DEFAULT_FAULT_MODES } from "../local/opscom-sandbox";
import { synthesizeStack } from "../local/template-config";
import { canonicalEvent, generateSigningSecret, newWebhookId, signWebhook } from "../local/vendor-kit";
import { findNeedles } from "./fuzz";
import { type ChildStats, type DeployedInfo, type RelayChild, startRelayChild } from "./relay-child";
import { isRetryable, type PendingWebhook, type ResendReport, resendUntilFinal } from "./vendor-resend";

export interface LoadOptions {
  /** Webhooks per second, all connections together. */
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  /** autocannon instances started 1/lanes s apart, so the per-second bursts interleave. */
  readonly lanes: number;
  /** Share of OPS-COM deletes the sandbox fails (transient kinds only). */
  readonly failureRate: number;
  /** Memory after this many seconds is the baseline for growth. */
  readonly warmupSeconds: number;
  /** The relay's heap growth per webhook after warm-up (post-GC) above which the run is flagged. */
  readonly maxGrowthPerWebhookBytes: number;
  /** The child's stdout and stderr; anything but /dev/null is searched for secrets afterwards. */
  readonly logFile: string;
  readonly seed: number;
  /** Stack context over the run's own (the throttle pair); tests use it to change the stack. */
  readonly stackContext?: Readonly<Record<string, unknown>>;
}

export const FULL_LOAD: LoadOptions = {
  rate: 200,
  seconds: 60,
  // One request per connection per second: a hung OPS-COM call then delays only its own connection.
  connections: 200,
  lanes: 10,
  failureRate: 0.2,
  warmupSeconds: 10,
  maxGrowthPerWebhookBytes: 4096,
  logFile: "/dev/null",
  seed: 1,
};

export const SHORT_LOAD: LoadOptions = {
  ...FULL_LOAD,
  rate: 100,
  seconds: 5,
  connections: 100,
  lanes: 5,
  warmupSeconds: 2,
  // After 2 s the relay is still filling its pools (sockets to dynalite, the endpoint and the
  // sandbox; hung calls held open): 1-2 MiB over the few hundred webhooks left, 4-6 KB each
  // measured. The short run catches a gross leak; longer runs hold the 4 KB line (253 bytes
  // measured at 100/s for 30 s, none at 200/s for 60 s).
  maxGrowthPerWebhookBytes: 8192,
};

/** The stage throttle the run synthesizes with: twice its rate, so the gateway never throttles it. */
export function loadContext(options: LoadOptions): Record<string, unknown> {
  const headroom = Math.ceil(2 * options.rate);
  return { throttleRate: headroom, throttleBurst: headroom, ...options.stackContext };
}

interface MemoryPoint {
  readonly rss: number;
  readonly heapUsed: number;
  readonly ledgerRecords: number;
  /** dynalite's process (the ledger table lives in its heap). */
  readonly dynamoRss: number;
  readonly dynamoHeapUsed: number;
}

export interface LoadReport {
  readonly options: LoadOptions;
  /** The stack as the relay child read it from the synthesized assembly. */
  readonly stack: DeployedInfo & { readonly context: Record<string, unknown>; readonly synthesized: boolean };
  readonly sent: number;
  readonly seconds: number;
  readonly achievedRate: number;
  /** Requests written in each whole second of the run. */
  readonly sendsPerSecond: number[];
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  readonly answers: Record<string, number>;
  /** Answered `429 throttled` by the stage, before the function: these never reach the ledger. */
  readonly throttled: number;
  readonly transportErrors: number;
  readonly timeouts: number;
  readonly memory: {
    readonly start: MemoryPoint;
    readonly warm: MemoryPoint;
    readonly end: MemoryPoint;
    readonly drained: MemoryPoint;
    readonly rssSamplesMiB: number[];
    /** The relay child's heap (dynalite's is not in it). */
    readonly growthPerWebhookBytes: number;
    /** dynalite's heap: the table's records, reported, not flagged. */
    readonly dynamoGrowthPerWebhookBytes: number;
    readonly flagged: boolean;
  };
  /**
   * The vendors' resends of the webhooks first answered 409 or 5xx (a ledger call that missed
   * its deadline on a loaded machine answers `503 unavailable`), after the load and before the
   * ledger is counted: each must end in a final 2xx.
   */
  readonly resends: ResendReport & { readonly webhooks: number; readonly seconds: number };
  readonly ledgerAfterLoad: ChildStats["ledger"];
  readonly ledgerAccountsForEverySend: boolean;
  readonly drain: { rounds: number; virtualSeconds: number; open: number; wallSeconds: number };
  readonly ledgerAfterDrain: ChildStats["ledger"];
  readonly queueAfterDrain: ChildStats["queue"];
  readonly opscom: {
    readonly deleteRequests: number;
    readonly faultsInjected: Record<string, number>;
    readonly permits: { once: number; moreThanOnce: number; never: number };
  };
  readonly leaks: { logBytes: number; hits: string[]; answerHits: number };
  readonly ok: boolean;
}

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
const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
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
  const started = Date.now();
  // Only the warm-up point scans the ledger; the other samples ask for memory alone.
  const sampler = setInterval(() => {
    const warmNow = !warm && Date.now() - started >= options.warmupSeconds * 1000;
    (warmNow ? child.stats(true) : child.memory()).then(
      (s) => {
        rssSamples.push(mib("memory" in s ? s.memory.rss : s.rss));
        if (warmNow) warm = s as ChildStats;
      },
      () => undefined,
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

export function formatLoadReport(r: LoadReport): string {
  const o = r.options;
  const k = r.stack;
  const rows = (values: Record<string, number>) =>
    Object.entries(values)
      .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
      .map(([k, v]) => `  ${k.padEnd(30)} ${String(v).padStart(7)}`)
      .join("\n");
  const mem = (label: string, p: MemoryPoint) =>
    `  ${label.padEnd(22)} relay rss ${String(mib(p.rss)).padStart(6)} MiB, heap (after GC) ${String(mib(p.heapUsed)).padStart(6)} MiB   dynalite rss ${String(mib(p.dynamoRss)).padStart(6)} MiB, heap ${String(mib(p.dynamoHeapUsed)).padStart(6)} MiB   ledger records ${p.ledgerRecords}`;
  return [
    `load: ${o.rate} webhooks/s for ${o.seconds} s (${r.sent} distinct signed webhooks, one permit each), ` +
      `${o.connections} connections in ${o.lanes} staggered autocannon lanes, ${Math.round(o.failureRate * 100)}% OPS-COM faults (transient kinds)`,
    `stack: synthesized with context ${JSON.stringify(k.context)} (the stage throttle at twice the rate, so it never throttles the run; all else the stack's defaults)`,
    `  ${k.assemblyDirectory} (${k.synthesized ? "synthesized for this run" : "cached"}); stage throttle ${k.gateway.rateLimit}/s burst ${k.gateway.burstLimit}; ` +
      `vendor ${k.vendorIds[0]}; FORWARD_TIMEOUT_MS ${k.environment.FORWARD_TIMEOUT_MS}, RETRY_MAX_ATTEMPTS ${k.environment.RETRY_MAX_ATTEMPTS}, ingest timeout ${k.ingestTimeoutMs / 1000} s; ` +
      `retry queue visibility ${k.retryQueue.visibilityTimeoutSeconds} s, maxReceiveCount ${k.retryQueue.maxReceiveCount}; mapping batch ${k.eventSource.batchSize} × ${k.eventSource.maxConcurrency} pollers`,
    `sent ${r.sent} in ${r.seconds} s (${r.achievedRate}/s overall); transport errors ${r.transportErrors}, timeouts ${r.timeouts}`,
    `  requests written per second: ${r.sendsPerSecond.join(" ")}`,
    `latency (ms, request written → answer read): p50 ${r.latencyMs.p50}, p90 ${r.latencyMs.p90}, p99 ${r.latencyMs.p99}, max ${r.latencyMs.max}, mean ${r.latencyMs.mean}`,
    "answers",
    rows(r.answers),
    "memory: the relay child, and dynalite (the ledger table) in its own process",
    mem("start", r.memory.start),
    mem(`after ${o.warmupSeconds} s warm-up`, r.memory.warm),
    mem("end of load", r.memory.end),
    mem("after drain", r.memory.drained),
    `  relay rss each second (MiB): ${r.memory.rssSamplesMiB.join(" ")}`,
    `  relay heap growth after warm-up: ${r.memory.growthPerWebhookBytes} bytes per webhook (flag above ${o.maxGrowthPerWebhookBytes}): ${r.memory.flagged ? "FLAGGED" : "ok"}; dynalite's: ${r.memory.dynamoGrowthPerWebhookBytes} bytes per webhook (the table, not flagged)`,
    `vendors' resends of 409/5xx answers: ${r.resends.webhooks} webhooks in ${r.resends.seconds} s; retryable on the way ${JSON.stringify(r.resends.retryableAnswers)}, final ${JSON.stringify(r.resends.finalAnswers)}${r.resends.unsettled.length ? `, UNSETTLED ${r.resends.unsettled.length}` : ""}`,
    `ledger after load (Scan): ${r.ledgerAfterLoad.total} records ${JSON.stringify(r.ledgerAfterLoad.byState)} for ${r.sent} webhooks sent${r.throttled ? ` (${r.throttled} throttled by the stage)` : ""}: ${r.ledgerAccountsForEverySend ? "every webhook accounted for" : "MISMATCH"}`,
    `drain (faults off): ${r.drain.rounds} worker rounds in ${r.drain.wallSeconds} s, the SQS clock moved ${r.drain.virtualSeconds} s; ledger ${JSON.stringify(r.ledgerAfterDrain.byState)}; retry queue ${r.queueAfterDrain.waiting} held, ${r.queueAfterDrain.deadLetters} dead-lettered`,
    `OPS-COM: ${r.opscom.deleteRequests} delete requests; faults injected ${JSON.stringify(r.opscom.faultsInjected)}`,
    `deletes per permit: exactly once ${r.opscom.permits.once}, more than once ${r.opscom.permits.moreThanOnce}, never ${r.opscom.permits.never}`,
    o.logFile === "/dev/null"
      ? `leak search: answers only (${r.leaks.answerHits} hits); pass --log-file to search the relay's logs too`
      : `leak search: ${Math.round(r.leaks.logBytes / 1024)} KiB of relay logs and every answer: ${r.leaks.hits.length + r.leaks.answerHits} hits`,
    r.ok
      ? `RESULT: no 5xx (a 503 only where the vendor's resend then got a 2xx), nothing throttled, every webhook in the ledger, every permit deleted exactly once after the drain, no secret in ${o.logFile === "/dev/null" ? "any answer" : "the logs or any answer"}`
      : "RESULT: FAILED — see above",
  ].join("\n");
}

/** The command line (`node:util` parseArgs, strict): an unknown flag or a bad number throws. */
export function parseLoadArgs(args: string[]): LoadOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      short: { type: "boolean" },
      rate: { type: "string" },
      seconds: { type: "string" },
      connections: { type: "string" },
      lanes: { type: "string" },
      "failure-rate": { type: "string" },
      // Gone: the run takes FORWARD_TIMEOUT_MS from the stack (refused below, with why).
      "forward-timeout-ms": { type: "string" },
      "log-file": { type: "string" },
      seed: { type: "string" },
    },
  });
  if (values["forward-timeout-ms"] !== undefined) {
    throw new Error(
      "--forward-timeout-ms is gone: the load run takes FORWARD_TIMEOUT_MS from the synthesized stack (the construct's forwardTimeout, 5 s by default)",
    );
  }
  const base = values.short ? SHORT_LOAD : FULL_LOAD;
  const number = (name: keyof typeof values, fallback: number, min: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n) || n < min) {
      throw new Error(`--${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const failureRate = number("failure-rate", base.failureRate, 0);
  if (failureRate > 1) throw new Error(`--failure-rate must be 0..1, got ${failureRate}`);
  return {
    ...base,
    rate: number("rate", base.rate, Number.MIN_VALUE),
    seconds: number("seconds", base.seconds, Number.MIN_VALUE),
    connections: number("connections", base.connections, 1),
    lanes: number("lanes", base.lanes, 1),
    failureRate,
    logFile: values["log-file"] ?? base.logFile,
    seed: number("seed", base.seed, 0),
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
