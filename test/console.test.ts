// The delivery console end to end: the DynamoDB ledger on dynalite and the dead-letter queue on
// the local SQS endpoint, through the real SDK clients, driven in headless Chromium (Debian's
// package, never a downloaded browser). Screenshots of the main views go to test-output/console.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { get } from "node:http";
import { resolve } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import type { BrowsableLedger, ClaimRequest, LedgerKey, RetryMessage } from "../lambda/ports";
import { type AwsEndpoint, startAwsEndpoint } from "../local/aws/server";
import { type RunningConsole, startConsole } from "../local/console-server";
import { createLedgerTable, type LocalDynamo, startDynalite, useLocalAws } from "../testkit/dynalite";

const ROOT = resolve(__dirname, "..");
const SHOTS = resolve(ROOT, "test-output/console");
const HOUR = 3_600_000;
// The console's clock; the ledger's entries are written relative to it.
const NOW = Math.floor(Date.now() / HOUR) * HOUR + 40 * 60_000;
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

let dynamo: LocalDynamo;
let aws: AwsEndpoint;
let sqs: SQSClient;
let ledger: BrowsableLedger;
let table: string;
let deadLetterQueueUrl: string;
let retryQueueUrl: string;
let running: RunningConsole;
let browser: Browser;
let page: Page;

const DEAD: LedgerKey = { vendorId: "parkfast", webhookId: "msg_dead_1" };
const DEAD_REF = "1a9b5375-cb75-4c71-9939-eeae550b09ac";
const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>`;

function claimOf(key: LedgerKey, referenceId: string, now: number): ClaimRequest {
  return {
    ...key,
    referenceId,
    bodyHash: "a".repeat(64),
    claimId: `claim-${key.webhookId}`,
    now,
    leaseMs: 60_000,
    expiresAt: Math.floor(now / 1000) + 30 * 86_400,
  };
}

async function seed(): Promise<void> {
  // Parked inline after two attempts, retried, dead-lettered after the fourth.
  await ledger.claim(claimOf(DEAD, DEAD_REF, NOW - 5 * HOUR));
  const open = { from: ["in_progress", "queued"] as const };
  await ledger.transition(DEAD, open, {
    state: "queued",
    now: NOW - 5 * HOUR + 900,
    attempts: 2,
    lastError: "OPS-COM answered 503",
  });
  await ledger.transition(DEAD, open, {
    state: "queued",
    now: NOW - 4 * HOUR,
    attempts: 3,
    lastError: "OPS-COM request timed out after 5000 ms",
  });
  await ledger.transition(DEAD, open, {
    state: "dead_lettered",
    now: NOW - 2 * HOUR,
    attempts: 4,
    lastError: "OPS-COM answered 503",
  });
  const message: RetryMessage = {
    ...DEAD,
    referenceId: DEAD_REF,
    attempt: 2,
    firstSeenAt: new Date(NOW - 5 * HOUR).toISOString(),
  };
  await sqs.send(
    new SendMessageCommand({ QueueUrl: deadLetterQueueUrl, MessageBody: JSON.stringify(message) }),
  );

  for (let i = 0; i < 6; i++) {
    const key = { vendorId: i % 2 ? "citypark" : "parkfast", webhookId: `msg_ok_${i}` };
    await ledger.claim(claimOf(key, `ref-ok-${i}`, NOW - i * 3 * HOUR - 60_000));
    await ledger.transition(
      key,
      { from: ["in_progress"] },
      { state: "deleted", now: NOW - i * 3 * HOUR, attempts: 1 },
    );
  }
  // What OPS-COM or a vendor sends is data, never markup.
  const hostile = { vendorId: "citypark", webhookId: "msg_hostile" };
  await ledger.claim(claimOf(hostile, "ref-hostile", NOW - 30 * 60_000));
  await ledger.transition(
    hostile,
    { from: ["in_progress"] },
    { state: "rejected", now: NOW - 29 * 60_000, attempts: 1, lastError: HOSTILE, opscomErrorCode: 9003 },
  );
  // Older than a day: never listed.
  await ledger.claim(claimOf({ vendorId: "parkfast", webhookId: "msg_old" }, "ref-old", NOW - 30 * HOUR));
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dynamo = await startDynalite();
  aws = await startAwsEndpoint();
  useLocalAws({ dynamodb: dynamo.endpoint, sqs: aws.url });
  table = "console-ledger";
  const dynamoClient = new DynamoDBClient({});
  await createLedgerTable(dynamoClient, table);
  dynamoClient.destroy();
  deadLetterQueueUrl = aws.createQueue("relay-dlq");
  retryQueueUrl = aws.createQueue("relay-retry", {
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:relay-dlq",
      maxReceiveCount: 7,
    }),
  });
  sqs = new SQSClient({});
  ledger = createDynamoLedger(table);
  await seed();
  running = await startConsole({
    ledger,
    sqs,
    deadLetterQueueUrl,
    deadLetterQueueArn: "arn:aws:sqs:us-east-1:000000000000:relay-dlq",
    retryQueueArn: "arn:aws:sqs:us-east-1:000000000000:relay-retry",
    clock: { now: () => NOW },
    label: "local test",
  });
  const executablePath = execFileSync("which", ["chromium"], { encoding: "utf8" }).trim();
  browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // A missing element fails its step quickly, naming it, rather than the whole test timing out.
  page.setDefaultTimeout(5_000);
  // Any dialog would mean rendered markup ran.
  page.on("dialog", () => {
    throw new Error("a dialog opened: the page ran script");
  });
});

afterAll(async () => {
  await browser?.close();
  await running?.close();
  sqs?.destroy();
  await aws?.close();
  await dynamo?.close();
});

describe("npm run console in Chromium", () => {
  it("lists the last 24 hours with a chart of outcomes per hour, filtered by state and vendor", async () => {
    await page.goto(`${running.url}/`);
    await expect(page.locator("svg.chart rect").count()).resolves.toBeGreaterThanOrEqual(8);
    await expect(page.locator("p.note").first().textContent()).resolves.toContain("8 of 8 webhooks");
    await expect(page.locator("table").textContent()).resolves.not.toContain("msg_old");
    await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });

    await page.selectOption("select[name=state]", "deleted");
    await page.selectOption("select[name=vendor]", "citypark");
    await page.click("form.filters button");
    const rows = await page.locator("tbody tr").allTextContents();
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/citypark\/msg_ok_\d.*deleted/);
  });

  it("finds a webhook by reference ID and shows every attempt in its history", async () => {
    await page.goto(`${running.url}/`);
    await page.fill("input[name=q]", DEAD_REF);
    await page.click("header form button");
    await page.click(`a:has-text("parkfast/msg_dead_1")`);
    const steps = await page.locator("ol.history li").allTextContents();
    expect(steps).toHaveLength(4);
    expect(steps[0]).toContain("Received and claimed");
    expect(steps[1]).toContain("OPS-COM attempts 1–2: OPS-COM answered 503 → parked for retry");
    expect(steps[2]).toContain(
      "OPS-COM attempt 3: OPS-COM request timed out after 5000 ms → parked for retry",
    );
    expect(steps[3]).toContain("OPS-COM attempt 4: OPS-COM answered 503 → dead-lettered");
    await page.screenshot({ path: `${SHOTS}/history.png`, fullPage: true });
  });

  it("finds a webhook by vendor/webhook id, and escapes what it renders", async () => {
    await page.goto(`${running.url}/search?q=${encodeURIComponent("citypark/msg_hostile")}`);
    await page.click(`a:has-text("citypark/msg_hostile")`);
    await expect(page.locator("dl.facts").textContent()).resolves.toContain(HOSTILE);
    await expect(page.locator("script").count()).resolves.toBe(0);
    await expect(page.locator("main img").count()).resolves.toBe(0);
    await page.goto(`${running.url}/search?q=${encodeURIComponent(HOSTILE)}`);
    await expect(page.locator("main").textContent()).resolves.toContain(`No webhook matches ${HOSTILE}`);
    await expect(page.locator("script").count()).resolves.toBe(0);
  });

  it("refuses a redrive without the page's CSRF token, from another origin, or for another host", async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${running.url}/dlq/redrive`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body,
        redirect: "manual",
      });
    await page.goto(`${running.url}/dlq/redrive`);
    const token = (await page.locator("input[name=csrf]").getAttribute("value")) ?? "";
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await post({}, "csrf=wrong")).status).toBe(403);
    expect((await post({}, "")).status).toBe(403);
    expect((await post({ origin: "http://evil.example" }, `csrf=${token}`)).status).toBe(403);
    // fetch cannot set Host; a DNS-rebinding page would arrive with its own name in it.
    const rebound = await new Promise<number | undefined>((done, fail) =>
      get(`${running.url}/`, { headers: { host: "evil.example" } }, (res) => {
        res.resume();
        done(res.statusCode);
      }).on("error", fail),
    );
    expect(rebound).toBe(421);
    expect(aws.queueStats(deadLetterQueueUrl).total).toBe(1);
  });

  it("shows the dead-letter queue and redrives it after a confirmation", async () => {
    await page.goto(`${running.url}/dlq`);
    const rows = await page.locator("tbody tr").allTextContents();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(`parkfast/msg_dead_1${DEAD_REF}`);
    await page.screenshot({ path: `${SHOTS}/dead-letter-queue.png`, fullPage: true });
    // Looking did not take it.
    expect(aws.queueStats(deadLetterQueueUrl).total).toBe(1);

    await page.click("a:has-text('Redrive')");
    await expect(page.locator("main").textContent()).resolves.toContain("This moves 1 message(s) back");
    await page.screenshot({ path: `${SHOTS}/redrive-confirm.png`, fullPage: true });
    expect(aws.queueStats(deadLetterQueueUrl).total).toBe(1);
    await page.click("button.danger");
    await expect(page.locator("p.ok").textContent()).resolves.toContain("Redrive started: 1 message(s)");
    expect(aws.queueStats(deadLetterQueueUrl).total).toBe(0);
    expect(aws.peekMessages(retryQueueUrl).map((m) => JSON.parse(m.body).webhookId)).toEqual(["msg_dead_1"]);
    await expect(page.locator("main").textContent()).resolves.toContain("The dead-letter queue is empty");
  });

  it("shows the redrive and the settling in the history once the worker delivers it", async () => {
    await ledger.transition(
      DEAD,
      { from: ["dead_lettered"] },
      { state: "deleted", now: NOW - 60_000, attempts: 5 },
    );
    await page.goto(`${running.url}/webhook?vendor=parkfast&id=msg_dead_1`);
    const steps = await page.locator("ol.history li").allTextContents();
    expect(steps[4]).toContain(
      "Redriven from the dead-letter queue. OPS-COM attempt 5 → permit deleted: settled",
    );
  });
});

describe("bin/console.ts", () => {
  const start = (args: string[]): ChildProcess =>
    spawn(process.execPath, ["--import", "tsx", "bin/console.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
  const finish = (child: ChildProcess) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (d) => {
        stdout += d;
      });
      child.stderr?.on("data", (d) => {
        stderr += d;
      });
      child.on("close", (code) => done({ code, stdout, stderr }));
    });

  it.each([
    { args: ["--tabel", "x"], complaint: "Unknown option '--tabel'" },
    { args: ["--table", "x"], complaint: "go together" },
    { args: ["--stack", "S", "--table", "x"], complaint: "not both" },
    { args: ["--port", "http"], complaint: "--port takes a port number" },
  ])("exits 2 on bad arguments: $args", async ({ args, complaint }) => {
    const { code, stderr } = await finish(start(args));
    expect(code).toBe(2);
    expect(stderr).toContain(complaint);
    expect(stderr).toContain("usage: npm run console");
  });

  it("serves the local table and queues named by flags, on 127.0.0.1", async () => {
    const child = start([
      "--table",
      table,
      "--dead-letter-queue-url",
      deadLetterQueueUrl,
      "--retry-queue-url",
      retryQueueUrl,
      "--port",
      "0",
    ]);
    const done = finish(child);
    const url = await new Promise<string>((found, fail) => {
      let out = "";
      child.stdout?.on("data", (d) => {
        out += d;
        const match = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
        if (match) found(match[1] as string);
      });
      child.on("close", () => fail(new Error(`console exited: ${out}`)));
    });
    try {
      const answer = await fetch(`${url}/search?q=${DEAD_REF}`);
      expect(answer.status).toBe(200);
      expect(await answer.text()).toContain("parkfast/msg_dead_1");
    } finally {
      child.kill("SIGTERM");
    }
    expect((await done).code).toBe(0);
  });
});
