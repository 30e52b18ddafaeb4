// Logs an on-call engineer can join: every line one ingest invocation writes (real Powertools
// output, captured from stdout and stderr) carries API Gateway's request id, the answer echoes
// it as `x-request-id`, and the Lambda context puts its request id, cold start and function
// name on the lines too. OPS-COM is the sandbox over real HTTP.
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPowertoolsTelemetry, type PowertoolsTelemetry } from "../lambda/telemetry";
import { canonicalEvent, signWebhook } from "../local/vendor-kit";
import { restEvent } from "../testkit/events";
import { buildRelay, type RelayUnderTest, startWorld, type TestWorld } from "./support/relay";

let world: TestWorld;
let telemetry: PowertoolsTelemetry;
let relay: RelayUnderTest;

beforeAll(async () => {
  world = await startWorld(["acme"]);
  telemetry = createPowertoolsTelemetry();
  relay = buildRelay(world, { telemetry });
});
afterAll(async () => world.close());

const lambdaContext = {
  functionName: "RelayIngest",
  functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:RelayIngest",
  memoryLimitInMB: "512",
  awsRequestId: "lambda-req-0001",
} as Context;

/** Runs one invocation and answers what it wrote: the JSON log lines (EMF metric lines left out). */
async function invoke(event: APIGatewayProxyEvent) {
  const written: string[] = [];
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const capture = (chunk: unknown) => {
    written.push(String(chunk));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  try {
    telemetry.addContext(lambdaContext);
    const result = await relay.ingest(event);
    const lines = written
      .join("")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => !("_aws" in line));
    return { result, lines };
  } finally {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
  }
}

function withRequestId(event: APIGatewayProxyEvent, requestId: string): APIGatewayProxyEvent {
  return { ...event, requestContext: { ...event.requestContext, requestId } };
}

function signed(reference: string) {
  const timestamp = Math.floor(relay.clock.now() / 1000);
  const w = signWebhook({
    body: canonicalEvent(reference),
    secret: world.vendorSecrets.acme as string,
    timestamp,
  });
  return restEvent({ headers: w.headers, body: w.body });
}

describe("ingest logs joined by API Gateway's request id", () => {
  it.each([
    ["a delete that OPS-COM confirms", () => signed(world.sandbox.createPermit()), 200, 1],
    [
      "a delete parked after OPS-COM refuses the token twice (an error line and the answer's)",
      () => {
        world.sandbox.queueFaults({ errorCode: 9002 }, { errorCode: 9002 });
        return signed(world.sandbox.createPermit());
      },
      202,
      2,
    ],
    [
      "a refusal before the ledger",
      () => restEvent({ headers: { "content-type": "application/json" }, body: "{}" }),
      401,
      1,
    ],
  ])("%s: every line and the answer carry it", async (_name, build, status, atLeast) => {
    const requestId = `gw-${status}-c0ffee`;
    const { result, lines } = await invoke(withRequestId(build(), requestId));
    expect(result.statusCode).toBe(status);
    expect(result.headers?.["x-request-id"]).toBe(requestId);
    expect(lines.length).toBeGreaterThanOrEqual(atLeast);
    for (const line of lines) {
      expect(line, String(line.message)).toMatchObject({
        requestId,
        function_request_id: "lambda-req-0001",
        function_name: "RelayIngest",
        cold_start: expect.any(Boolean),
      });
    }
  });

  it("sends no x-request-id when the event has none (a caller outside API Gateway)", async () => {
    const { result, lines } = await invoke(
      restEvent({ headers: { "content-type": "application/json" }, body: "{}" }),
    );
    expect(result.statusCode).toBe(401);
    expect(result.headers).not.toHaveProperty("x-request-id");
    expect(lines.every((line) => !("requestId" in line))).toBe(true);
  });
});
