// The Lambda entry points exactly as deployed — `lambda/ingest.ts` and `lambda/retry-worker.ts`
// configured only through their environment — on the real AWS SDK clients against dynalite
// (ledger) and the local Secrets Manager + SQS endpoint, with OPS-COM on the sandbox.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient, StartMessageMoveTaskCommand } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyResult, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import type { IngestEvent } from "../lambda/http";
import { type AwsEndpoint, startAwsEndpoint } from "../local/aws/server";
import { type DynamoFaultProxy, startDynamoFaultProxy } from "../local/dynamodb-faults";
import { pollOnce } from "../local/event-source";
import { type OpscomSandbox, startOpscomSandbox } from "../local/opscom-sandbox";
import { canonicalEvent, generateSigningSecret, signWebhook } from "../local/vendor-kit";
import { createLedgerTable, type LocalDynamo, startDynalite, useLocalAws } from "../testkit/dynalite";
import { restEvent } from "../testkit/events";

type Ingest = (event: IngestEvent) => Promise<APIGatewayProxyResult>;
type Worker = (event: SQSEvent) => Promise<SQSBatchResponse>;

let dynamo: LocalDynamo;
let faults: DynamoFaultProxy;
/** While set, every ledger write that records this state is throttled (the table's answer, not a reach). */
let throttleWritesOf: string | undefined;
let aws: AwsEndpoint;
let sandbox: OpscomSandbox;
let ingest: Ingest;
let worker: Worker;
let queueUrl: string;
let sqs: SQSClient;
const secret = generateSigningSecret();
const token = "WIRING-TOKEN-0123456789";
const env: Record<string, string> = {};

beforeAll(async () => {
  dynamo = await startDynalite();
  faults = await startDynamoFaultProxy({
    target: dynamo.endpoint,
    decide: ({ operation, input }) => {
      const values = input.ExpressionAttributeValues as Record<string, { S?: string }> | undefined;
      return operation === "UpdateItem" &&
        throttleWritesOf !== undefined &&
        values?.[":state"]?.S === throttleWritesOf
        ? { kind: "throttle" }
        : undefined;
    },
  });
  aws = await startAwsEndpoint();
  useLocalAws({ dynamodb: faults.endpoint, sqs: aws.url, secretsManager: aws.url });
  sandbox = await startOpscomSandbox({ clients: { "OC-TOMA": { tokens: [token] } } });
  aws.putSecret("relay/token", JSON.stringify({ apiToken: token }));
  aws.putSecret("opscom-permit-relay/vendors/acme", JSON.stringify({ signingSecrets: [secret] }));
  aws.createQueue("wiring-dlq");
  queueUrl = aws.createQueue("wiring-retry", {
    VisibilityTimeout: "30",
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:wiring-dlq",
      maxReceiveCount: 3,
    }),
  });
  await createLedgerTable(new DynamoDBClient({}), "wiring-ledger");
  sqs = new SQSClient({});
  Object.assign(env, {
    OPSCOM_BASE_URL: sandbox.url,
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: "relay/token",
    VENDORS: '[{"id":"acme"}]',
    LEDGER_TABLE_NAME: "wiring-ledger",
    RETRY_QUEUE_URL: queueUrl,
    RETRY_MAX_ATTEMPTS: "3",
    FORWARD_TIMEOUT_MS: "500",
    POWERTOOLS_LOG_LEVEL: "SILENT",
  });
  Object.assign(process.env, env);
  ingest = (await import("../lambda/ingest")).handler as Ingest;
  worker = (await import("../lambda/retry-worker")).handler as Worker;
});

afterAll(async () => {
  for (const name of Object.keys(env)) delete process.env[name];
  sqs.destroy();
  await sandbox.close();
  await aws.close();
  await faults.close();
  await dynamo.close();
});

const ledger = () => createDynamoLedger("wiring-ledger");

async function send(ref: string, webhookId?: string) {
  const w = signWebhook({ body: canonicalEvent(ref), secret, ...(webhookId ? { webhookId } : {}) });
  const result = await ingest(restEvent({ headers: w.headers, body: w.body }));
  return { status: result.statusCode, body: JSON.parse(result.body), webhookId: w.webhookId };
}

describe("the deployed entry points on local AWS stand-ins", () => {
  it("deletes a permit and records it in the DynamoDB ledger", async () => {
    const ref = sandbox.createPermit();
    const answer = await send(ref);
    expect(answer).toMatchObject({ status: 200, body: { status: "deleted", referenceID: ref } });
    expect(await ledger().get({ vendorId: "acme", webhookId: answer.webhookId })).toMatchObject({
      state: "deleted",
      referenceId: ref,
      attempts: 1,
    });
    expect(await ledger().byReference(ref)).toHaveLength(1);
  });

  it("makes exactly one OPS-COM call for 50 simultaneous deliveries of one webhook", async () => {
    const ref = sandbox.createPermit();
    sandbox.setFaults({ latencyMs: 100 });
    const w = signWebhook({ body: canonicalEvent(ref), secret });
    const before = sandbox.stats().deleteRequests;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => ingest(restEvent({ headers: w.headers, body: w.body }))),
    );
    sandbox.clearFaults();
    expect(sandbox.stats().deleteRequests - before).toBe(1);
    expect(sandbox.stats().deletesByReference[ref]).toBe(1);
    // One delivery did the work; the rest were told it is in flight, or that it is done, or
    // (dynalite serialises writes to one item, slowly on a busy machine) that the ledger did
    // not answer within its deadline: a 503 the vendor retries.
    const bodies = answers.map((a) => ({ code: a.statusCode, ...JSON.parse(a.body) }));
    expect(bodies.filter((b) => b.status === "deleted" && !b.duplicate)).toHaveLength(1);
    for (const b of bodies.filter((x) => !(x.status === "deleted" && !x.duplicate))) {
      expect([
        { code: 409, status: "in_progress" },
        { code: 200, status: "deleted", duplicate: true },
        { code: 503, status: "unavailable" },
      ]).toContainEqual({ code: b.code, status: b.status, ...(b.duplicate ? { duplicate: true } : {}) });
    }
  });

  it("parks a failed delivery in SQS without the token, and the retry worker finishes it", async () => {
    const ref = sandbox.createPermit();
    sandbox.queueFaults("http503", "http503");
    const answer = await send(ref);
    expect(answer).toMatchObject({ status: 202, body: { status: "queued" } });
    // Its own message: on a busy machine an earlier test's delivery may have been parked too.
    const message = aws.peekMessages(queueUrl).find((m) => m.body.includes(ref));
    expect(JSON.parse(message?.body ?? "{}")).toMatchObject({
      vendorId: "acme",
      referenceId: ref,
      attempt: 2,
    });
    expect(message?.body).not.toContain(token);
    // One shifted Date.now moves the worker's clock and the in-process SQS endpoint's together.
    const later = Date.now() + 10_000;
    vi.spyOn(Date, "now").mockReturnValue(later);
    expect(await pollOnce(sqs, queueUrl, worker)).toBeGreaterThanOrEqual(1);
    vi.restoreAllMocks();
    expect(aws.queueStats(queueUrl).total).toBe(0);
    expect(sandbox.hasPermit(ref)).toBe(false);
    expect(await ledger().get({ vendorId: "acme", webhookId: answer.webhookId })).toMatchObject({
      state: "deleted",
      attempts: 3,
    });
  });

  it("hands OPS-COM's answer back to the queue when the ledger cannot record it, and records it later without a call", async () => {
    const ref = sandbox.createPermit();
    sandbox.queueFaults("http503", "http503");
    const answer = await send(ref);
    expect(answer).toMatchObject({ status: 202, body: { status: "queued" } });
    const deletes = () => sandbox.stats().deleteRequests;
    throttleWritesOf = "deleted";
    try {
      vi.spyOn(Date, "now").mockReturnValue(Date.now() + 10_000);
      expect(await pollOnce(sqs, queueUrl, worker)).toBe(1);
      vi.restoreAllMocks();
    } finally {
      throttleWritesOf = undefined;
    }
    expect(sandbox.hasPermit(ref)).toBe(false);
    const after = deletes();
    const [handedBack] = aws.peekMessages(queueUrl);
    expect(JSON.parse(handedBack?.body ?? "{}")).toMatchObject({
      referenceId: ref,
      known: { state: "deleted" },
    });
    expect(await ledger().get({ vendorId: "acme", webhookId: answer.webhookId })).toMatchObject({
      state: "queued",
    });
    // The ledger answers again: the worker records the answer and calls nobody.
    vi.spyOn(Date, "now").mockReturnValue(Date.now() + 20 * 60_000);
    expect(await pollOnce(sqs, queueUrl, worker)).toBe(1);
    vi.restoreAllMocks();
    expect(deletes()).toBe(after);
    expect(aws.queueStats(queueUrl).total).toBe(0);
    expect(await ledger().get({ vendorId: "acme", webhookId: answer.webhookId })).toMatchObject({
      state: "deleted",
    });
  });

  it("answers 503 and releases its claim when SQS cannot take the message", async () => {
    const ref = sandbox.createPermit();
    sandbox.queueFaults("http503", "http503");
    aws.failNext("SendMessage", 3);
    const answer = await send(ref, "wiring-503");
    expect(answer).toMatchObject({ status: 503, body: { status: "unavailable" } });
    expect(await ledger().get({ vendorId: "acme", webhookId: "wiring-503" })).toBeUndefined();
    const retry = await send(ref, "wiring-503");
    expect(retry).toMatchObject({ status: 200, body: { status: "deleted" } });
  });

  it("dead-letters after the last attempt, and a redriven message's outcome lands in the ledger", async () => {
    const ref = sandbox.createPermit();
    sandbox.setFaults({ failureRate: 1, modes: ["http503"] });
    const answer = await send(ref, "wiring-dlq-1");
    expect(answer.status).toBe(202);
    // One shifted Date.now moves the worker's clock and the in-process SQS endpoint's together.
    const clock = vi.spyOn(Date, "now");
    let shift = 0;
    // biome-ignore lint/complexity/useDateNow: Date.now is the function being replaced here
    const realNow = () => new Date().getTime();
    clock.mockImplementation(() => realNow() + shift);
    for (let i = 0; i < 5; i++) {
      shift += 13 * 3600_000;
      await pollOnce(sqs, queueUrl, worker);
    }
    expect(await ledger().get({ vendorId: "acme", webhookId: "wiring-dlq-1" })).toMatchObject({
      state: "dead_lettered",
    });
    // Its own message (on a busy machine an earlier test's delivery may be parked beside it).
    expect(aws.peekMessages("wiring-dlq").filter((m) => m.body.includes(ref))).toHaveLength(1);
    sandbox.clearFaults();
    await sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: "arn:aws:sqs:us-east-1:000000000000:wiring-dlq" }),
    );
    expect(await pollOnce(sqs, queueUrl, worker)).toBeGreaterThanOrEqual(1);
    clock.mockRestore();
    expect(await ledger().get({ vendorId: "acme", webhookId: "wiring-dlq-1" })).toMatchObject({
      state: "deleted",
    });
    expect(sandbox.stats().deletesByReference[ref]).toBe(1);
  });
});
