// `npm start`'s relay is the synthesized stack: a stack setting given as context is what the
// harness does. Synthesized with retryMaxAttempts 3, a delivery OPS-COM keeps refusing reaches
// the dead-letter queue on its third receive (the default stack: the seventh); with a stage
// burst of 2, the third request in the same instant is throttled before the function.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DeployedRelay, startDeployedRelay } from "../local/harness";
import { canonicalEvent, generateSigningSecret, signWebhook } from "../local/vendor-kit";

const secrets = { opscomToken: "HARNESS-TOKEN-0123456789", vendorSecret: generateSigningSecret() };
let relay: DeployedRelay;
// The gateway's throttle runs on this clock; frozen, no token comes back during the test.
const frozen = { now: () => 1_800_000_000_000 };

beforeAll(async () => {
  relay = await startDeployedRelay({
    secrets,
    context: { retryMaxAttempts: 3, throttleRate: 1, throttleBurst: 2 },
    workerIntervalMs: 0,
    clock: frozen,
  });
}, 180_000);
afterAll(async () => relay?.close());

async function post(body: string, signed = true): Promise<Response> {
  const webhook = signWebhook({ body, secret: secrets.vendorSecret });
  return fetch(`${relay.url}/webhooks/demo-vendor`, {
    method: "POST",
    headers: signed ? webhook.headers : { "content-type": "application/json" },
    body,
  });
}

describe("the local relay built from the synthesized stack", () => {
  it("loads each function's bundled index.js from the assembly", () => {
    for (const fn of [relay.shape.ingest, relay.shape.retryWorker]) {
      expect(fn.bundle.startsWith(`${relay.assembly.directory}/asset.`)).toBe(true);
      expect(fn.bundle.endsWith("/index.js")).toBe(true);
    }
    expect(require.cache[relay.shape.ingest.bundle]).toBeDefined();
  });

  it("dead-letters a delivery on the receive the stack's retryMaxAttempts allows, not before", async () => {
    relay.sandbox.setFaults({ failureRate: 1, modes: ["http503"] });
    const ref = relay.sandbox.createPermit();
    const answer = await post(canonicalEvent(ref));
    expect(answer.status).toBe(202);
    const deadLetters = () => relay.aws.queueStats(relay.deadLetterQueueUrl).total;
    let receives = 0;
    for (let round = 0; round < 10 && deadLetters() === 0; round++) {
      // Past any backoff the worker asked for (at most 10 h), so the message is visible again.
      relay.aws.advanceClock(24 * 3600 * 1000);
      receives += await relay.drainOnce();
    }
    expect(deadLetters()).toBe(1);
    // SQS moves it on the receive after the last counted one; the worker saw it three times.
    expect(receives).toBe(3);
    expect(relay.aws.queueStats(relay.retryQueueUrl).total).toBe(0);
    relay.sandbox.setFaults({ failureRate: 0 });
  }, 120_000);

  it("throttles at the stage's burst with API Gateway's 429 before the function", async () => {
    // The previous test's post took one of the burst's two; this unsigned one reaches the function.
    expect((await post("{}", false)).status).toBe(401);
    const throttled = await post("{}", false);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("1");
    expect(await throttled.json()).toEqual({ status: "throttled" });
  });
});
