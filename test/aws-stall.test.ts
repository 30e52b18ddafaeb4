// Stalled and slow AWS endpoints, through the real SDK clients the production wiring builds:
// a TCP server that accepts the connection and never answers stands in for DynamoDB or for
// Secrets Manager; every answer must still come within the documented ceiling, as 503 +
// Retry-After, and a stalled secret fetch must not wedge the invocations after it. Real
// sockets need real time: each case waits about one deadline, the slow one a few seconds.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyResult } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANSWER_BUDGET, ANSWER_CEILING_MS } from "../lambda/budget";
import { loadConfig } from "../lambda/config";
import { createIngestHandler } from "../lambda/ingest-core";
import { productionDeps } from "../lambda/wiring";
import { type AwsEndpoint, startAwsEndpoint } from "../local/aws/server";
import { type OpscomSandbox, startOpscomSandbox } from "../local/opscom-sandbox";
import { canonicalEvent, generateSigningSecret, signWebhook } from "../local/vendor-kit";
import { createLedgerTable, type LocalDynamo, startDynalite, useLocalAws } from "../testkit/dynalite";
import { restEvent } from "../testkit/events";
import { type StallProxy, startStallProxy } from "./support/stall-proxy";

const TOKEN = "STALL-TOKEN-0123456789";
const secret = generateSigningSecret();
let dynamo: LocalDynamo;
let aws: AwsEndpoint;
let sandbox: OpscomSandbox;
let queueUrl: string;
const proxies: StallProxy[] = [];

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  dynamo = await startDynalite();
  aws = await startAwsEndpoint();
  sandbox = await startOpscomSandbox({ clients: { "OC-TOMA": { tokens: [TOKEN] } } });
  aws.putSecret("relay/token", TOKEN);
  aws.putSecret("opscom-permit-relay/vendors/acme", JSON.stringify({ signingSecrets: [secret] }));
  queueUrl = aws.createQueue("stall-retry");
  useLocalAws({ dynamodb: dynamo.endpoint, sqs: aws.url, secretsManager: aws.url });
  const client = new DynamoDBClient({});
  await createLedgerTable(client, "stall-ledger");
  client.destroy();
});

afterAll(async () => {
  delete process.env.POWERTOOLS_LOG_LEVEL;
  for (const proxy of proxies) await proxy.close();
  await sandbox.close();
  await aws.close();
  await dynamo.close();
});

async function proxy(target: string, mode?: StallProxy["mode"]): Promise<StallProxy> {
  const started = await startStallProxy(target, mode);
  proxies.push(started);
  return started;
}

/** The ingest handler exactly as `lambda/ingest.ts` builds it, on the endpoints given. */
function ingestOn(endpoints: { dynamodb?: string; secretsManager?: string; sqs?: string }) {
  useLocalAws({ dynamodb: dynamo.endpoint, sqs: aws.url, secretsManager: aws.url, ...endpoints });
  const config = loadConfig({
    OPSCOM_BASE_URL: sandbox.url,
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: "relay/token",
    VENDORS: '[{"id":"acme"}]',
    LEDGER_TABLE_NAME: "stall-ledger",
    RETRY_QUEUE_URL: queueUrl,
  });
  return createIngestHandler({ ...productionDeps(config), prime: true });
}

/** Sends one webhook; an answer later than twice the ceiling counts as none (the old hang). */
async function timed(ingest: ReturnType<typeof ingestOn>, ref: string) {
  const w = signWebhook({ body: canonicalEvent(ref), secret });
  const started = performance.now();
  const result = await Promise.race([
    ingest(restEvent({ headers: w.headers, body: w.body })),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2 * ANSWER_CEILING_MS)),
  ]);
  return { result, ms: performance.now() - started };
}

function expectUnavailable(result: APIGatewayProxyResult | undefined): void {
  expect(result?.statusCode).toBe(503);
  expect(JSON.parse(result?.body ?? "{}")).toMatchObject({ status: "unavailable" });
  expect(Number(result?.headers?.["retry-after"])).toBeGreaterThan(0);
}

describe("a stalled AWS endpoint", () => {
  it("DynamoDB that never answers: 503 unavailable + Retry-After within the ceiling, OPS-COM untouched", async () => {
    const stalled = await proxy(dynamo.endpoint);
    const ingest = ingestOn({ dynamodb: stalled.url });
    const before = sandbox.stats().deleteRequests;
    const { result, ms } = await timed(ingest, sandbox.createPermit());
    expectUnavailable(result);
    expect(ms).toBeLessThanOrEqual(ANSWER_CEILING_MS);
    expect(stalled.connections).toBeGreaterThan(0);
    expect(sandbox.stats().deleteRequests).toBe(before);
  });

  it("Secrets Manager that never answers: 503 within the ceiling, and once it recovers the next webhook is delivered", async () => {
    const stalled = await proxy(aws.url);
    const ingest = ingestOn({ secretsManager: stalled.url });
    const first = await timed(ingest, sandbox.createPermit());
    expectUnavailable(first.result);
    expect(first.ms).toBeLessThanOrEqual(ANSWER_CEILING_MS);
    // The hung fetches are still open at the proxy; a wedged cache would keep waiting on them.
    stalled.mode = { kind: "pass" };
    const ref = sandbox.createPermit();
    const second = await timed(ingest, ref);
    expect(second.result?.statusCode).toBe(200);
    expect(JSON.parse(second.result?.body ?? "{}")).toMatchObject({ status: "deleted", referenceID: ref });
    expect(second.ms).toBeLessThanOrEqual(ANSWER_CEILING_MS);
  });
});

describe("every dependency slow at once", () => {
  it("each just under its timeout, the answer still comes within the ceiling", async () => {
    // Each AWS answer held back to just under its own deadline, OPS-COM just under one
    // attempt's timeout (FORWARD_TIMEOUT_MS, 5 s) and failing, so the delivery is queued.
    const under = (deadlineMs: number) => ({ kind: "pass" as const, delayMs: deadlineMs - 150 });
    const secrets = await proxy(aws.url, under(ANSWER_BUDGET.secretReadMs));
    const ledger = await proxy(dynamo.endpoint, under(ANSWER_BUDGET.ledgerCallMs));
    const queue = await proxy(aws.url, under(ANSWER_BUDGET.enqueueMs));
    const ingest = ingestOn({ secretsManager: secrets.url, dynamodb: ledger.url, sqs: queue.url });
    sandbox.setFaults({ latencyMs: 4900, failureRate: 1, modes: ["http503"] });
    try {
      const { result, ms } = await timed(ingest, sandbox.createPermit());
      expect(result?.statusCode).toBe(202);
      expect(ms).toBeLessThanOrEqual(ANSWER_CEILING_MS);
      // The slowness was real: secret, claim and the cut-off OPS-COM attempt at least.
      expect(ms).toBeGreaterThan(ANSWER_BUDGET.secretReadMs + ANSWER_BUDGET.ledgerCallMs + 2000 - 300);
    } finally {
      sandbox.clearFaults();
    }
  });
});
