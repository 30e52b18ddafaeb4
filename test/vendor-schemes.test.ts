// Onboarding vendors by configuration alone: webhooks signed by libraries nobody here wrote
// (standardwebhooks, svix, node:crypto the way GitHub signs) reach OPS-COM, and are refused
// after a one-byte change; vendor payload shapes map to a reference ID through JSON Pointers;
// and each vendor's `opscom` route takes its deletes to its own client code with its own token.
// The real ingest handler, the real Secrets Manager client against the local AWS endpoint, the
// real OPS-COM HTTP client against the sandbox.
import { createHash, createHmac } from "node:crypto";
import type { APIGatewayProxyResult } from "aws-lambda";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MemoryLedger, MemoryQueue } from "../lambda/adapters/memory";
import { createOpscomHttpClient } from "../lambda/adapters/opscom-http";
import { createSecretsManagerSource } from "../lambda/adapters/secrets-manager";
import { loadConfig } from "../lambda/config";
import { createIngestHandler, type IngestHandler } from "../lambda/ingest-core";
import type { DeleteRequest } from "../lambda/ports";
import { RecordingTelemetry } from "../lambda/telemetry";
import { canonicalEvent, signWebhook } from "../local/vendor-kit";
import { restEvent } from "../testkit/events";
import {
  CLIENT_CODE,
  ShiftedClock,
  startWorld,
  type TestWorld,
  TOKEN_SECRET,
  VENDOR_PREFIX,
} from "./support/relay";

// HMAC secrets are used as given (their bytes are the key), so they need no whsec_ form.
const GITHUB_SECRET = "It's a Secret to Everybody";
const SHA512_SECRET = "sha512-vendor-secret-0123456789";
const SHA512_OLD_SECRET = "sha512-vendor-previous-secret";

const GITHUB_SCHEME = {
  scheme: "hmac",
  header: "X-Hub-Signature-256",
  algorithm: "sha256",
  encoding: "hex",
  prefix: "sha256=",
} as const;
const SHA512_SCHEME = {
  scheme: "hmac",
  header: "X-Signature",
  algorithm: "sha512",
  encoding: "base64",
  timestampHeader: "X-Timestamp",
  idHeader: "X-Webhook-Id",
  signedContent: "{id}.{timestamp}.{body}",
} as const;

const ROUTES = {
  "vendor-a": { clientCode: "OC-ACME", tokenSecretId: "opscom-permit-relay/tokens/vendor-a" },
  "vendor-b": { clientCode: "OC-BETA", tokenSecretId: "opscom-permit-relay/tokens/vendor-b" },
} as const;
const TOKENS = { "vendor-a": "TOKEN-ACME-0123456789-abcdef", "vendor-b": "TOKEN-BETA-9876543210-fedcba" };

const VENDORS = [
  { id: "acme" },
  { id: "github", signature: GITHUB_SCHEME },
  // GitHub's X-GitHub-Delivery is outside the signature: logged, never the idempotency key.
  { id: "github-delivery", signature: { ...GITHUB_SCHEME, idHeader: "X-GitHub-Delivery" } },
  { id: "sha512", signature: SHA512_SCHEME },
  {
    id: "flat",
    event: { typePointer: "/event", referenceIdPointer: "/permit/ref", deleteTypes: ["PERMIT_CANCELLED"] },
  },
  { id: "nested", event: { typePointer: null, referenceIdPointer: "/items/0/permit_ref" } },
  {
    id: "escaped",
    event: {
      typePointer: "/meta/event~1type",
      referenceIdPointer: "/data/permit~0ref",
      deleteTypes: ["cancel"],
    },
  },
  { id: "vendor-a", opscom: ROUTES["vendor-a"] },
  { id: "vendor-b", opscom: ROUTES["vendor-b"] },
];

let world: TestWorld;
let ingest: IngestHandler;
/** Every OPS-COM call the relay made, in order (the token is compared, never printed). */
let calls: DeleteRequest[];
let telemetry: RecordingTelemetry;
let closeOpscom: () => void;

beforeAll(async () => {
  world = await startWorld(["acme", "flat", "nested", "escaped", "vendor-a", "vendor-b"]);
  for (const id of ["github", "github-delivery"]) {
    world.aws.putSecret(`${VENDOR_PREFIX}${id}`, JSON.stringify({ signingSecrets: [GITHUB_SECRET] }));
  }
  world.aws.putSecret(
    `${VENDOR_PREFIX}sha512`,
    JSON.stringify({ signingSecrets: [SHA512_SECRET, SHA512_OLD_SECRET] }),
  );
  for (const id of ["vendor-a", "vendor-b"] as const) {
    world.sandbox.setTokens(ROUTES[id].clientCode, [TOKENS[id]]);
    world.aws.putSecret(ROUTES[id].tokenSecretId, TOKENS[id]);
  }
});
afterAll(async () => {
  closeOpscom?.();
  await world?.close();
});

beforeEach(() => {
  closeOpscom?.();
  world.sandbox.clearFaults();
  const config = loadConfig({
    OPSCOM_BASE_URL: world.sandbox.url,
    OPSCOM_CLIENT_CODE: CLIENT_CODE,
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET,
    VENDORS: JSON.stringify(VENDORS),
    FORWARD_TIMEOUT_MS: "1000",
  });
  const clock = new ShiftedClock();
  const http = createOpscomHttpClient({ baseUrl: config.opscomBaseUrl, timeoutMs: config.forwardTimeoutMs });
  closeOpscom = () => http.close();
  calls = [];
  telemetry = new RecordingTelemetry();
  ingest = createIngestHandler({
    config,
    clock,
    secrets: createSecretsManagerSource(),
    ledger: new MemoryLedger(),
    queue: new MemoryQueue(clock, config.retryMaxAttempts),
    opscom: {
      deletePermit: (request) => {
        calls.push(request);
        return http.deletePermit(request);
      },
    },
    telemetry,
    sleep: async () => undefined,
  });
});

async function post(
  vendorId: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const result = (await ingest(restEvent({ vendorId, headers, body }))) as APIGatewayProxyResult;
  return { status: result.statusCode, body: JSON.parse(result.body) };
}

/** The body with one byte changed: the reference ID's last character. */
function oneByteChanged(body: string, referenceId: string): string {
  const last = referenceId.at(-1) === "0" ? "1" : "0";
  const changed = body.replace(referenceId, referenceId.slice(0, -1) + last);
  expect(Buffer.byteLength(changed)).toBe(Buffer.byteLength(body));
  expect(changed).not.toBe(body);
  return changed;
}

const now = () => Math.floor(Date.now() / 1000);
const hex = (secret: string, content: string) => createHmac("sha256", secret).update(content).digest("hex");

describe("signatures made by libraries nobody here wrote", () => {
  it("accepts standardwebhooks' Webhook#sign, and refuses it after a one-byte change", async () => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const id = "msg_standardwebhooks_1";
    const timestamp = new Date();
    const signature = new StandardWebhook(world.vendorSecrets.acme as string).sign(id, timestamp, body);
    const headers = {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
      "webhook-signature": signature,
    };
    expect(await post("acme", headers, oneByteChanged(body, ref))).toEqual({
      status: 401,
      body: { status: "unauthorized" },
    });
    expect(world.sandbox.hasPermit(ref)).toBe(true);
    expect(await post("acme", headers, body)).toEqual({
      status: 200,
      body: { status: "deleted", webhookId: id, referenceID: ref },
    });
    expect(world.sandbox.hasPermit(ref)).toBe(false);
  });

  it("accepts svix's Webhook#sign with svix-* headers, and refuses it after a one-byte change", async () => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const id = "msg_svix_1";
    const timestamp = new Date();
    const signature = new SvixWebhook(world.vendorSecrets.acme as string).sign(id, timestamp, body);
    const headers = {
      "Content-Type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
      "svix-signature": signature,
    };
    expect((await post("acme", headers, oneByteChanged(body, ref))).status).toBe(401);
    expect(await post("acme", headers, body)).toEqual({
      status: 200,
      body: { status: "deleted", webhookId: id, referenceID: ref },
    });
  });

  it("signs in the vendor kit what standardwebhooks' own verify accepts", () => {
    const secret = world.vendorSecrets.acme as string;
    const w = signWebhook({ body: canonicalEvent("abc"), secret });
    expect(new StandardWebhook(secret).verify(w.body, w.headers)).toEqual(JSON.parse(w.body));
    const svix = signWebhook({ body: canonicalEvent("abc"), secret, svixHeaders: true });
    expect(new SvixWebhook(secret).verify(svix.body, svix.headers)).toEqual(JSON.parse(svix.body));
  });

  it("accepts a GitHub-style X-Hub-Signature-256 made with node:crypto, and refuses it after a one-byte change", async () => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const headers = (content: string) => ({
      "Content-Type": "application/json",
      "X-Hub-Signature-256": `sha256=${hex(GITHUB_SECRET, content)}`,
    });
    const changed = oneByteChanged(body, ref);
    expect((await post("github", { ...headers(body) }, changed)).status).toBe(401);
    const answer = await post("github", headers(body), body);
    expect(answer).toEqual({
      status: 200,
      body: {
        status: "deleted",
        webhookId: createHash("sha256").update(body).digest("hex"),
        referenceID: ref,
      },
    });
  });

  it("accepts GitHub's own documented example signature (then finds its body is not an event)", async () => {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    const answer = await post(
      "github",
      {
        "content-type": "application/json",
        "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      },
      "Hello, World!",
    );
    // Past the signature (not 401): the body is the only thing wrong.
    expect(answer).toMatchObject({ status: 400, body: { status: "invalid", field: "body" } });
  });

  it.each([
    ["no signature header", {}],
    ["no sha256= prefix", { "x-hub-signature-256": "0".repeat(64) }],
    ["a signature that is not hex", { "x-hub-signature-256": `sha256=${"z".repeat(64)}` }],
    [
      "a signature made with another secret",
      { "x-hub-signature-256": `sha256=${hex("another secret", "{}")}` },
    ],
  ])("refuses a GitHub-style webhook with %s", async (_, signature) => {
    const answer = await post("github", { "content-type": "application/json", ...signature }, "{}");
    expect(answer).toEqual({ status: 401, body: { status: "unauthorized" } });
  });

  function sha512Signed(
    body: string,
    options: { id: string; timestamp?: number; secret?: string },
  ): Record<string, string> {
    const timestamp = String(options.timestamp ?? now());
    const signature = createHmac("sha512", options.secret ?? SHA512_SECRET)
      .update(`${options.id}.${timestamp}.${body}`)
      .digest("base64");
    return {
      "content-type": "application/json",
      "X-Webhook-Id": options.id,
      "X-Timestamp": timestamp,
      "X-Signature": signature,
    };
  }

  it("accepts a base64 HMAC-SHA512 over {id}.{timestamp}.{body}, keyed by the id header, and refuses a one-byte change", async () => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const headers = sha512Signed(body, { id: "evt-512-1" });
    expect((await post("sha512", headers, oneByteChanged(body, ref))).status).toBe(401);
    expect(await post("sha512", headers, body)).toEqual({
      status: 200,
      body: { status: "deleted", webhookId: "evt-512-1", referenceID: ref },
    });
  });

  it("covers the id and the timestamp with the signature: changing either is refused", async () => {
    const body = canonicalEvent(world.sandbox.createPermit());
    const headers = sha512Signed(body, { id: "evt-512-2" });
    expect((await post("sha512", { ...headers, "X-Webhook-Id": "evt-512-3" }, body)).status).toBe(401);
    const later = String(Number(headers["X-Timestamp"]) + 1);
    expect((await post("sha512", { ...headers, "X-Timestamp": later }, body)).status).toBe(401);
  });

  it("accepts a signature made with the vendor's previous secret during a rotation", async () => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const answer = await post(
      "sha512",
      sha512Signed(body, { id: "evt-512-old", secret: SHA512_OLD_SECRET }),
      body,
    );
    expect(answer.body).toMatchObject({ status: "deleted", referenceID: ref });
  });

  it.each([
    ["an hour old", -3600],
    ["an hour in the future", 3600],
  ])("refuses an hmac webhook whose timestamp is %s with 401", async (_, offset) => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const answer = await post(
      "sha512",
      sha512Signed(body, { id: `evt-skew${offset}`, timestamp: now() + offset }),
      body,
    );
    expect(answer).toEqual({ status: 401, body: { status: "unauthorized" } });
    expect(world.sandbox.hasPermit(ref)).toBe(true);
  });

  it("refuses an hmac webhook without its id header", async () => {
    const body = canonicalEvent("abc");
    const { "X-Webhook-Id": _id, ...headers } = sha512Signed(body, { id: "evt-no-id" });
    expect((await post("sha512", headers, body)).status).toBe(401);
  });

  it("keys idempotency on the body's SHA-256 when the scheme has no id header: the same body twice is a duplicate", async () => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const headers = {
      "content-type": "application/json",
      "x-hub-signature-256": `sha256=${hex(GITHUB_SECRET, body)}`,
    };
    const first = await post("github", headers, body);
    const callsAfterFirst = calls.length;
    const second = await post("github", headers, body);
    const webhookId = createHash("sha256").update(body).digest("hex");
    expect(first.body).toEqual({ status: "deleted", webhookId, referenceID: ref });
    expect(second.body).toEqual({ status: "deleted", webhookId, referenceID: ref, duplicate: true });
    expect(calls.length).toBe(callsAfterFirst);
    // Another body is another webhook.
    const other = canonicalEvent(world.sandbox.createPermit());
    const third = await post(
      "github",
      { ...headers, "x-hub-signature-256": `sha256=${hex(GITHUB_SECRET, other)}` },
      other,
    );
    expect(third.body).toMatchObject({ status: "deleted" });
    expect(third.body.webhookId).not.toBe(webhookId);
  });

  it("takes a replay with a fresh unsigned id header for a duplicate, and logs each sender id", async () => {
    const ref = world.sandbox.createPermit();
    const body = canonicalEvent(ref);
    const captured = {
      "content-type": "application/json",
      "x-hub-signature-256": `sha256=${hex(GITHUB_SECRET, body)}`,
    };
    const first = await post("github-delivery", { ...captured, "X-GitHub-Delivery": "delivery-1" }, body);
    const callsAfterFirst = calls.length;
    const replay = await post("github-delivery", { ...captured, "X-GitHub-Delivery": "delivery-2" }, body);
    const webhookId = createHash("sha256").update(body).digest("hex");
    expect(first.body).toEqual({ status: "deleted", webhookId, referenceID: ref });
    expect(replay.body).toEqual({ status: "deleted", webhookId, referenceID: ref, duplicate: true });
    expect(calls.length).toBe(callsAfterFirst);
    const handled = telemetry.lines.filter((line) => line.message === "webhook handled");
    expect(handled.map((line) => [line.fields.webhookId, line.fields.senderId])).toEqual([
      [webhookId, "delivery-1"],
      [webhookId, "delivery-2"],
    ]);
  });
});

describe("payload shapes mapped by configuration", () => {
  async function sendAs(vendorId: string, event: unknown, id?: string) {
    const w = signWebhook({
      body: JSON.stringify(event),
      secret: world.vendorSecrets[vendorId] as string,
      ...(id ? { webhookId: id } : {}),
    });
    return post(vendorId, w.headers, w.body);
  }

  it("reads the canonical event by default", async () => {
    const ref = world.sandbox.createPermit();
    expect((await sendAs("acme", { type: "permit.deleted", data: { referenceID: ref } })).body).toMatchObject(
      {
        status: "deleted",
        referenceID: ref,
      },
    );
    expect(calls.at(-1)?.referenceId).toBe(ref);
  });

  it("reads a flat shape through /event and /permit/ref", async () => {
    const ref = world.sandbox.createPermit();
    const answer = await sendAs("flat", { event: "PERMIT_CANCELLED", permit: { ref } });
    expect(answer).toMatchObject({ status: 200, body: { status: "deleted", referenceID: ref } });
    expect(world.sandbox.hasPermit(ref)).toBe(false);
  });

  it("ignores the flat shape's other event types, and calls nobody", async () => {
    const ref = world.sandbox.createPermit();
    const before = calls.length;
    const answer = await sendAs("flat", { event: "PERMIT_ISSUED", permit: { ref } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      status: "ignored",
      reason: 'event type "PERMIT_ISSUED" is not a delete',
    });
    // The canonical type means nothing to this vendor's mapping.
    expect(
      (await sendAs("flat", { type: "permit.deleted", event: "permit.deleted", permit: { ref } })).body
        .status,
    ).toBe("ignored");
    expect(calls.length).toBe(before);
    expect(world.sandbox.hasPermit(ref)).toBe(true);
  });

  it("names the vendor's own field when its reference ID is missing", async () => {
    const answer = await sendAs("flat", { event: "PERMIT_CANCELLED", permit: {} });
    expect(answer).toMatchObject({ status: 400, body: { status: "invalid", field: "permit.ref" } });
  });

  it("reads a number-like reference ID from an array element, keeping it a string (leading zeros and all)", async () => {
    const answer = await sendAs(
      "nested",
      { items: [{ permit_ref: "004217" }, { permit_ref: "999" }] },
      "evt-nested",
    );
    // The sandbox has no permit 004217: OPS-COM's 9009 proves the call was made with it.
    expect(answer).toEqual({
      status: 200,
      body: { status: "not_found", webhookId: "evt-nested", referenceID: "004217" },
    });
    expect(calls.at(-1)).toMatchObject({ referenceId: "004217", clientCode: CLIENT_CODE });
  });

  it("takes a JSON number there too, as its digits", async () => {
    const answer = await sendAs("nested", { items: [{ permit_ref: 4217 }] });
    expect(answer.body).toMatchObject({ status: "not_found", referenceID: "4217" });
  });

  it("treats every event as a delete when typePointer is null", async () => {
    const ref = world.sandbox.createPermit();
    const answer = await sendAs("nested", { type: "permit.created", items: [{ permit_ref: ref }] });
    expect(answer.body).toMatchObject({ status: "deleted", referenceID: ref });
  });

  it("answers 400 naming the array path when the element is not there", async () => {
    const answer = await sendAs("nested", { items: [] });
    expect(answer).toMatchObject({ status: 400, body: { status: "invalid", field: "items.0.permit_ref" } });
  });

  it("unescapes ~1 and ~0 in JSON Pointers (keys with / and ~)", async () => {
    const ref = world.sandbox.createPermit();
    const answer = await sendAs("escaped", { meta: { "event/type": "cancel" }, data: { "permit~ref": ref } });
    expect(answer.body).toMatchObject({ status: "deleted", referenceID: ref });
    // The unescaped path is not the escaped one: a literal "event~1type" key is no event type.
    const wrong = await sendAs("escaped", { meta: { "event~1type": "cancel" }, data: { "permit~ref": ref } });
    expect(wrong).toMatchObject({ status: 400, body: { status: "invalid", field: "meta.event/type" } });
  });
});

describe("routing to several OPS-COM clients", () => {
  async function sendAs(vendorId: string, ref: string) {
    const w = signWebhook({ body: canonicalEvent(ref), secret: world.vendorSecrets[vendorId] as string });
    return post(vendorId, w.headers, w.body);
  }

  it("takes two vendors to two client codes, each with its own token", async () => {
    const refA = world.sandbox.createPermit(ROUTES["vendor-a"].clientCode);
    const refB = world.sandbox.createPermit(ROUTES["vendor-b"].clientCode);
    expect((await sendAs("vendor-a", refA)).body).toMatchObject({ status: "deleted", referenceID: refA });
    expect((await sendAs("vendor-b", refB)).body).toMatchObject({ status: "deleted", referenceID: refB });
    expect(calls.map(({ clientCode, token, referenceId }) => ({ clientCode, token, referenceId }))).toEqual([
      { clientCode: "OC-ACME", token: TOKENS["vendor-a"], referenceId: refA },
      { clientCode: "OC-BETA", token: TOKENS["vendor-b"], referenceId: refB },
    ]);
    expect(world.sandbox.hasPermit(refA, "OC-ACME")).toBe(false);
    expect(world.sandbox.hasPermit(refB, "OC-BETA")).toBe(false);
    expect(world.aws.getSecretValueCalls(ROUTES["vendor-a"].tokenSecretId)).toBeGreaterThan(0);
    expect(world.aws.getSecretValueCalls(ROUTES["vendor-b"].tokenSecretId)).toBeGreaterThan(0);
  });

  it("never deletes from another vendor's client: B sending A's permit finds nothing at OC-BETA", async () => {
    const refA = world.sandbox.createPermit("OC-ACME");
    expect((await sendAs("vendor-b", refA)).body).toMatchObject({ status: "not_found", referenceID: refA });
    expect(world.sandbox.hasPermit(refA, "OC-ACME")).toBe(true);
    expect(calls.at(-1)).toMatchObject({ clientCode: "OC-BETA", token: TOKENS["vendor-b"] });
  });

  it("sends a vendor without a route to the relay's default client and token", async () => {
    const ref = world.sandbox.createPermit(CLIENT_CODE);
    expect((await sendAs("acme", ref)).body).toMatchObject({ status: "deleted" });
    expect(calls.at(-1)).toMatchObject({ clientCode: CLIENT_CODE, token: world.token, referenceId: ref });
  });
});
