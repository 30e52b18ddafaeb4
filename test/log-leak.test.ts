// Captures every byte the relay writes (Powertools logs and EMF metrics on stdout/stderr)
// and every answer over a run that touches each path — success, duplicates, refusals,
// token rotation, queueing, the retry worker, an internal error — then searches all of it
// for the OPS-COM token, the signing secrets and every signature sent. None may appear.
import type { APIGatewayProxyResult } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MemoryQueue } from "../lambda/adapters/memory";
import { createPowertoolsTelemetry } from "../lambda/telemetry";
import { canonicalEvent, signWebhook } from "../local/vendor-kit";
import { restEvent } from "../testkit/events";
import { buildRelay, startWorld, type TestWorld } from "./support/relay";

let world: TestWorld;
const written: string[] = [];
const answers: string[] = [];
const signatures: string[] = [];
const rotatedToken = "ROTATED-TOKEN-0000-1111-2222-3333";

beforeAll(async () => {
  world = await startWorld(["acme"]);
  const originals = {
    out: process.stdout.write.bind(process.stdout),
    err: process.stderr.write.bind(process.stderr),
  };
  const capture =
    (original: typeof process.stdout.write) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      written.push(Buffer.isBuffer(chunk) ? chunk.toString("utf8") : String(chunk));
      return (original as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    };
  process.stdout.write = capture(originals.out) as typeof process.stdout.write;
  process.stderr.write = capture(originals.err) as typeof process.stderr.write;
  try {
    await fullRun();
  } finally {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
  }
}, 60_000);
afterAll(async () => world.close());

async function fullRun(): Promise<void> {
  const relay = buildRelay(world, { telemetry: createPowertoolsTelemetry() });
  const secret = world.vendorSecrets.acme as string;
  const post = async (headers: Record<string, string>, body: string, vendorId = "acme") => {
    const result = (await relay.ingest(restEvent({ vendorId, headers, body }))) as APIGatewayProxyResult;
    answers.push(JSON.stringify(result));
    return result;
  };
  const signed = (ref: string, id?: string) => {
    // Signed at the relay's (shifted) time, as a vendor with a correct clock would.
    const timestamp = Math.floor(relay.clock.now() / 1000);
    const w = signWebhook({ body: canonicalEvent(ref), secret, timestamp, ...(id ? { webhookId: id } : {}) });
    signatures.push(w.headers["webhook-signature"] as string);
    return w;
  };
  // success and duplicate
  const ok = signed(world.sandbox.createPermit(), "leak-1");
  await post(ok.headers, ok.body);
  await post(ok.headers, ok.body);
  // refusals: wrong signature, unknown vendor, stale, bad body
  const wrong = signed("abc");
  await post(
    { ...wrong.headers, "webhook-signature": `v1,${Buffer.alloc(32, 7).toString("base64")}` },
    wrong.body,
  );
  signatures.push(`v1,${Buffer.alloc(32, 7).toString("base64")}`);
  await post(wrong.headers, wrong.body, "nobody");
  const bad = signWebhook({ body: "{not json", secret });
  signatures.push(bad.headers["webhook-signature"] as string);
  await post(bad.headers, bad.body);
  // token rotation: 9002, refetch, success
  world.sandbox.setTokens("OC-TOMA", [rotatedToken]);
  world.aws.putSecret("opscom-permit-relay/opscom-token", rotatedToken);
  relay.clock.advance(5000);
  const rotated = signed(world.sandbox.createPermit());
  await post(rotated.headers, rotated.body);
  // queued, then the retry worker, failing once and then succeeding
  world.sandbox.queueFaults("http503", { errorCode: 9002 }, "http500");
  const queued = signed(world.sandbox.createPermit());
  await post(queued.headers, queued.body);
  const queue = relay.queue as MemoryQueue;
  relay.clock.advance(10_000);
  await relay.worker({ Records: queue.receive() });
  relay.clock.advance(400_000);
  await relay.worker({ Records: queue.receive() });
  // OPS-COM rejects for good
  world.sandbox.queueFaults({ errorCode: 9033, message: "Field value is invalid." });
  const rejected = signed(world.sandbox.createPermit());
  await post(rejected.headers, rejected.body);
  relay.close();
}

describe("no secret leaves the relay", () => {
  it("ran every path it meant to (so the search below means something)", () => {
    const text = written.join("");
    for (const outcome of ["deleted", "unauthorized", "invalid", "queued", "rejected", "duplicate deleted"]) {
      expect(text).toContain(`"outcome":"${outcome}"`);
    }
    expect(text).toContain('"PermitDeleted"');
    expect(text).toContain('"TokenRejected"');
    expect(answers.length).toBeGreaterThanOrEqual(8);
  });

  it("writes no token, signing secret or signature in any log line or answer", () => {
    const haystack = written.join("") + answers.join("");
    const secret = world.vendorSecrets.acme as string;
    const needles = [
      world.token,
      rotatedToken,
      secret,
      secret.slice("whsec_".length),
      ...signatures,
      ...signatures.map((s) => s.slice(3)),
    ];
    for (const needle of needles)
      expect(haystack.includes(needle), `leaked ${needle.slice(0, 6)}…`).toBe(false);
    expect(haystack).not.toMatch(/apiToken|webhook-signature|whsec_/i);
  });

  it("puts the vendor, webhook id and reference ID on every delivery line", () => {
    const lines = written
      .join("")
      .split("\n")
      .filter((l) => l.startsWith("{") && l.includes('"message":"webhook handled"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const deliveries = lines.filter((l) => ["deleted", "queued", "rejected"].includes(String(l.outcome)));
    expect(deliveries.length).toBeGreaterThanOrEqual(4);
    for (const line of deliveries) {
      expect(line).toMatchObject({ vendorId: "acme", service: "opscom-permit-relay" });
      expect(typeof line.webhookId).toBe("string");
      expect(typeof line.referenceId).toBe("string");
      expect(typeof line.opscomLatencyMs).toBe("number");
    }
  });
});
