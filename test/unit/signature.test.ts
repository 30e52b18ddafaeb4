// Sender verification: Standard Webhooks (and its svix-* twins) and the configurable HMAC scheme.
// Signatures in these tests are computed with node:crypto straight from the specifications,
// not with the library the code under test uses, so a shared mistake cannot hide.
import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type Headers,
  prepareSecrets,
  signedContent,
  type VerifyInput,
  verifySignature,
} from "../../lambda/signature";
import type { HmacScheme, SignatureScheme } from "../../lambda/vendors";

const STANDARD: SignatureScheme = { scheme: "standard-webhooks" };
const NOW = 1_700_000_000;
const TOLERANCE = 300;
const SECRET = `whsec_${Buffer.from("relay-unit-test-secret-number-1").toString("base64")}`;
const OLD_SECRET = `whsec_${Buffer.from("relay-unit-test-secret-number-0").toString("base64")}`;
const BODY = Buffer.from('{"type":"permit.deleted","data":{"referenceID":"ref-1"}}');

/** Standard Webhooks v1: base64 HMAC-SHA256 with the base64-decoded secret over `id.ts.` + raw bytes. */
function standardSignature(secret: string, id: string, timestamp: number | string, body: Buffer): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const mac = createHmac("sha256", key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]))
    .digest("base64");
  return `v1,${mac}`;
}

function standardHeaders(
  overrides: {
    id?: string;
    timestamp?: number | string;
    secret?: string;
    body?: Buffer;
    prefix?: "webhook" | "svix";
  } = {},
): Record<string, string> {
  const id = overrides.id ?? "msg_unit_1";
  const timestamp = overrides.timestamp ?? NOW;
  const prefix = overrides.prefix ?? "webhook";
  return {
    [`${prefix}-id`]: id,
    [`${prefix}-timestamp`]: String(timestamp),
    [`${prefix}-signature`]: standardSignature(
      overrides.secret ?? SECRET,
      id,
      timestamp,
      overrides.body ?? BODY,
    ),
  };
}

function verifyStandard(
  headers: Headers,
  extra: Partial<Omit<VerifyInput, "headers" | "scheme" | "secrets">> & { secrets?: string[] } = {},
) {
  return verifySignature({
    scheme: STANDARD,
    secrets: prepareSecrets(STANDARD, extra.secrets ?? [SECRET]),
    headers,
    rawBody: extra.rawBody ?? BODY,
    nowSeconds: extra.nowSeconds ?? NOW,
    toleranceSeconds: extra.toleranceSeconds ?? TOLERANCE,
  });
}

describe("Standard Webhooks: known-answer vector", () => {
  // Published by the Standard Webhooks / Svix reference libraries; checked against both
  // the `standardwebhooks` and `svix` packages and a plain node:crypto HMAC.
  const vector = {
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp: 1614265330,
    body: '{"test": 2432232314}',
    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  };

  it("the test builder reproduces the published signature", () => {
    expect(standardSignature(vector.secret, vector.id, vector.timestamp, Buffer.from(vector.body))).toBe(
      vector.signature,
    );
  });

  it("accepts the published vector", () => {
    const result = verifyStandard(
      {
        "webhook-id": vector.id,
        "webhook-timestamp": String(vector.timestamp),
        "webhook-signature": vector.signature,
      },
      { secrets: [vector.secret], rawBody: Buffer.from(vector.body), nowSeconds: vector.timestamp },
    );
    expect(result).toEqual({ ok: true, webhookId: vector.id, secretIndex: 0 });
  });

  it.each([
    ["the body", { body: '{"test": 2432232315}' }],
    ["the id", { id: "msg_p5jXN8AQM9LWM0D4loKWxJeK" }],
    ["the timestamp", { timestamp: 1614265331 }],
  ])("refuses the vector when %s changes by one character", (_what, change) => {
    const v = { ...vector, ...change };
    const result = verifyStandard(
      {
        "webhook-id": v.id,
        "webhook-timestamp": String(v.timestamp),
        "webhook-signature": vector.signature,
      },
      { secrets: [vector.secret], rawBody: Buffer.from(v.body), nowSeconds: vector.timestamp },
    );
    expect(result).toMatchObject({ ok: false, reason: "no_match", webhookId: v.id });
  });
});

describe("Standard Webhooks: headers", () => {
  it.each(["webhook-id", "webhook-timestamp", "webhook-signature"])(
    "refuses a request without %s and names the header",
    (name) => {
      const headers: Record<string, string | undefined> = { ...standardHeaders() };
      delete headers[name];
      const result = verifyStandard(headers);
      expect(result).toMatchObject({ ok: false, reason: "missing_header" });
      expect(!result.ok && result.detail).toContain(name);
    },
  );

  it.each(["webhook-id", "webhook-timestamp", "webhook-signature"])(
    "treats an empty %s as missing",
    (name) => {
      const result = verifyStandard({ ...standardHeaders(), [name]: "" });
      expect(result).toMatchObject({ ok: false, reason: "missing_header" });
    },
  );

  it("accepts Svix's svix-* twins", () => {
    const result = verifyStandard(standardHeaders({ prefix: "svix", id: "msg_svix" }));
    expect(result).toEqual({ ok: true, webhookId: "msg_svix", secretIndex: 0 });
  });

  it.each(["svix-id", "svix-timestamp"])("refuses svix headers without %s", (name) => {
    const headers: Record<string, string | undefined> = { ...standardHeaders({ prefix: "svix" }) };
    delete headers[name];
    const result = verifyStandard(headers);
    expect(result).toMatchObject({ ok: false, reason: "missing_header" });
    expect(!result.ok && result.detail).toContain(name);
  });

  it("prefers webhook-* headers when both sets are present", () => {
    const headers = {
      ...standardHeaders({ prefix: "svix", id: "msg_svix" }),
      ...standardHeaders({ prefix: "webhook", id: "msg_webhook" }),
    };
    expect(verifyStandard(headers)).toEqual({ ok: true, webhookId: "msg_webhook", secretIndex: 0 });
  });
});

describe("Standard Webhooks: timestamp", () => {
  it.each([
    ["not a number", "yesterday"],
    ["fractional seconds", `${NOW}.5`],
    ["negative", `-${NOW}`],
    ["milliseconds", `${NOW}000`],
    ["exponent notation", "1.7e9"],
  ])("refuses a timestamp that is %s", (_what, timestamp) => {
    const result = verifyStandard(standardHeaders({ timestamp }));
    expect(result).toMatchObject({ ok: false, reason: "bad_timestamp", webhookId: "msg_unit_1" });
  });

  it.each([
    ["exactly the tolerance old", -TOLERANCE, true],
    ["one second past the tolerance old", -TOLERANCE - 1, false],
    ["exactly the tolerance ahead", TOLERANCE, true],
    ["one second past the tolerance ahead", TOLERANCE + 1, false],
  ])("a timestamp %s is accepted: %s", (_what, offset, accepted) => {
    const result = verifyStandard(standardHeaders({ timestamp: NOW + offset }));
    expect(result.ok).toBe(accepted);
  });

  it.each([
    ["stale", -TOLERANCE - 1],
    ["future", TOLERANCE + 1],
  ] as const)("names the reason %s and keeps the webhook id", (reason, offset) => {
    const result = verifyStandard(standardHeaders({ timestamp: NOW + offset }));
    expect(result).toMatchObject({ ok: false, reason, webhookId: "msg_unit_1" });
  });

  it("checks the timestamp even when the signature is valid for it", () => {
    const headers = standardHeaders({ timestamp: NOW - 3600 });
    expect(verifyStandard(headers, { toleranceSeconds: 3600 }).ok).toBe(true);
    expect(verifyStandard(headers, { toleranceSeconds: 3599 })).toMatchObject({ reason: "stale" });
  });
});

describe("Standard Webhooks: signatures and secrets", () => {
  const valid = standardHeaders()["webhook-signature"] as string;

  it("accepts several space-separated signatures when one is valid", () => {
    const headers = { ...standardHeaders(), "webhook-signature": `v1,bm9wZQ== ${valid} v1,AAAA` };
    expect(verifyStandard(headers)).toEqual({ ok: true, webhookId: "msg_unit_1", secretIndex: 0 });
  });

  it.each([
    ["v2", `v2,${valid.slice(3)}`],
    ["v1a", `v1a,${valid.slice(3)}`],
    ["unversioned", valid.slice(3)],
  ])("ignores a correct MAC under version %s", (_version, signature) => {
    const result = verifyStandard({ ...standardHeaders(), "webhook-signature": signature });
    expect(result).toMatchObject({ ok: false, reason: "no_match" });
    expect(!result.ok && result.detail).toContain("no v1 signature");
  });

  it("refuses a signature made with another secret", () => {
    const result = verifyStandard(standardHeaders({ secret: OLD_SECRET }));
    expect(result).toMatchObject({ ok: false, reason: "no_match", webhookId: "msg_unit_1" });
  });

  it.each([
    ["the newest secret", SECRET, 0],
    ["the previous secret", OLD_SECRET, 1],
  ])("reports which rotated secret matched: %s", (_which, secret, secretIndex) => {
    const result = verifyStandard(standardHeaders({ secret }), { secrets: [SECRET, OLD_SECRET] });
    expect(result).toEqual({ ok: true, webhookId: "msg_unit_1", secretIndex });
  });

  it("prefers the newest secret when the sender signs with both during a rotation", () => {
    const both = `${standardHeaders({ secret: OLD_SECRET })["webhook-signature"]} ${valid}`;
    const result = verifyStandard(
      { ...standardHeaders(), "webhook-signature": both },
      {
        secrets: [SECRET, OLD_SECRET],
      },
    );
    expect(result).toMatchObject({ ok: true, secretIndex: 0 });
  });

  it.each([
    ["empty", "v1,"],
    ["short", "v1,bm9wZQ=="],
    ["long", `v1,${"A".repeat(400)}`],
    ["not base64", "v1,@@@@"],
    ["one byte longer", `${valid}A`],
  ])("never throws on a signature of a different length (%s)", (_what, signature) => {
    const headers = { ...standardHeaders(), "webhook-signature": signature };
    expect(() => verifyStandard(headers)).not.toThrow();
    expect(verifyStandard(headers)).toMatchObject({ ok: false, reason: "no_match" });
  });

  it("verifies over the raw bytes, not a re-serialised body", () => {
    const spaced = Buffer.from('{ "type" : "permit.deleted" }');
    const headers = standardHeaders({ body: spaced });
    expect(verifyStandard(headers, { rawBody: spaced }).ok).toBe(true);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(spaced.toString())));
    expect(verifyStandard(headers, { rawBody: reserialised }).ok).toBe(false);
  });

  // BUG (lambda/signature.ts, verifyStandard): the raw Buffer is passed to the standardwebhooks
  // library's Webhook.sign, which calls payload.toString() (UTF-8 decode) before signing, so
  // bytes that are not valid UTF-8 are replaced by U+FFFD. A sender that signs the exact bytes
  // (the Go and Python reference libraries do) is refused. docs/vendors.md tells vendors to
  // sign the exact bytes they send, so those bytes are what is verified.
  it("accepts a signature over raw bytes that are not valid UTF-8", () => {
    const raw = Buffer.concat([
      Buffer.from('{"type":"permit.deleted","note":"'),
      Buffer.from([0xff]),
      Buffer.from('"}'),
    ]);
    expect(verifyStandard(standardHeaders({ body: raw }), { rawBody: raw }).ok).toBe(true);
  });

  // Same BUG seen from the other side: two bodies that differ only in invalid UTF-8 bytes
  // share one signature, so those bytes can be changed without breaking it.
  it("refuses bytes that differ from the signed ones only where they are not valid UTF-8", () => {
    const part = (byte: number) =>
      Buffer.concat([
        Buffer.from('{"type":"permit.deleted","note":"'),
        Buffer.from([byte]),
        Buffer.from('"}'),
      ]);
    const lossy = Buffer.from(part(0xff).toString("utf8"));
    const headers = standardHeaders({ body: lossy });
    expect(verifyStandard(headers, { rawBody: part(0xff) }).ok).toBe(false);
  });

  it("prepareSecrets refuses a malformed whsec secret without echoing it", () => {
    const bad = "whsec_!!!not-base64-SENTINEL!!!";
    expect(() => prepareSecrets(STANDARD, [bad])).toThrow();
    try {
      prepareSecrets(STANDARD, [bad]);
    } catch (error) {
      expect(String((error as Error).message)).not.toContain("SENTINEL");
    }
  });
});

function hmacScheme(overrides: Partial<HmacScheme> = {}): HmacScheme {
  return {
    scheme: "hmac",
    header: "x-signature",
    algorithm: "sha256",
    encoding: "hex",
    prefix: "",
    signedContent: "{body}",
    ...overrides,
  };
}

const HMAC_SECRET = "plain-shared-secret";

function hmacDigest(scheme: HmacScheme, content: Buffer, secret = HMAC_SECRET): string {
  return createHmac(scheme.algorithm, secret).update(content).digest(scheme.encoding);
}

function verifyHmac(
  scheme: HmacScheme,
  headers: Headers,
  extra: { rawBody?: Buffer; secrets?: string[]; nowSeconds?: number } = {},
) {
  return verifySignature({
    scheme,
    secrets: prepareSecrets(scheme, extra.secrets ?? [HMAC_SECRET]),
    headers,
    rawBody: extra.rawBody ?? BODY,
    nowSeconds: extra.nowSeconds ?? NOW,
    toleranceSeconds: TOLERANCE,
  });
}

describe("HMAC scheme", () => {
  it.each([
    ["sha256", "hex"],
    ["sha256", "base64"],
    ["sha512", "hex"],
    ["sha512", "base64"],
  ] as const)("accepts %s in %s", (algorithm, encoding) => {
    const scheme = hmacScheme({ algorithm, encoding });
    const result = verifyHmac(scheme, { "x-signature": hmacDigest(scheme, BODY) });
    expect(result).toMatchObject({ ok: true, secretIndex: 0 });
  });

  it("refuses a sha256 MAC when the scheme says sha512 (different length, no throw)", () => {
    const result = verifyHmac(hmacScheme({ algorithm: "sha512" }), {
      "x-signature": hmacDigest(hmacScheme(), BODY),
    });
    expect(result).toMatchObject({ ok: false, reason: "no_match" });
  });

  it("uses the SHA-256 of the body as the webhook id when there is no id header", () => {
    const scheme = hmacScheme();
    const result = verifyHmac(scheme, { "x-signature": hmacDigest(scheme, BODY) });
    expect(result).toMatchObject({ ok: true, webhookId: createHash("sha256").update(BODY).digest("hex") });
  });

  it("takes the webhook id from idHeader when the signature covers it", () => {
    const scheme = hmacScheme({ idHeader: "x-delivery", signedContent: "{id}.{body}" });
    const content = Buffer.concat([Buffer.from("d-42."), BODY]);
    const result = verifyHmac(scheme, { "x-signature": hmacDigest(scheme, content), "x-delivery": "d-42" });
    expect(result).toEqual({ ok: true, webhookId: "d-42", secretIndex: 0 });
  });

  it("keys an unsigned idHeader's request on the body's hash, so a replay with a fresh id is a duplicate", () => {
    const scheme = hmacScheme({ idHeader: "x-delivery" });
    const signature = hmacDigest(scheme, BODY);
    const first = verifyHmac(scheme, { "x-signature": signature, "x-delivery": "d-42" });
    const replay = verifyHmac(scheme, { "x-signature": signature, "x-delivery": "d-43-fresh" });
    const bodyHash = createHash("sha256").update(BODY).digest("hex");
    expect(first).toEqual({ ok: true, webhookId: bodyHash, senderId: "d-42", secretIndex: 0 });
    expect(replay).toEqual({ ok: true, webhookId: bodyHash, senderId: "d-43-fresh", secretIndex: 0 });
  });

  it.each([
    ["the signature header", hmacScheme(), "x-signature"],
    ["the id header", hmacScheme({ idHeader: "x-delivery" }), "x-delivery"],
    ["the timestamp header", hmacScheme({ timestampHeader: "x-timestamp" }), "x-timestamp"],
  ])("refuses a request without %s and names it", (_what, scheme, missing) => {
    const headers: Record<string, string> = {
      "x-signature": hmacDigest(scheme, BODY),
      "x-delivery": "d-1",
      "x-timestamp": String(NOW),
    };
    delete headers[missing];
    const result = verifyHmac(scheme, headers);
    expect(result).toMatchObject({ ok: false, reason: "missing_header" });
    expect(!result.ok && result.detail).toContain(missing);
  });

  describe("prefix", () => {
    const scheme = hmacScheme({ prefix: "sha256=" });
    const digest = hmacDigest(scheme, BODY);

    it.each([
      ["as configured", `sha256=${digest}`],
      ["in another case", `SHA256=${digest}`],
      ["with surrounding spaces", `  sha256=${digest} `],
    ])("accepts the prefix %s", (_what, header) => {
      expect(verifyHmac(scheme, { "x-signature": header }).ok).toBe(true);
    });

    it("refuses a signature without the prefix and says so", () => {
      const result = verifyHmac(scheme, { "x-signature": digest });
      expect(result).toMatchObject({ ok: false, reason: "no_match" });
      expect(!result.ok && result.detail).toContain("does not start with");
    });
  });

  it.each([
    ["hex", "zz".repeat(32)],
    ["hex", "abc"],
    ["base64", "@@@@"],
  ] as const)("refuses a header that is not %s and says so", (encoding, header) => {
    const result = verifyHmac(hmacScheme({ encoding }), { "x-signature": header });
    expect(result).toMatchObject({ ok: false, reason: "no_match" });
    expect(!result.ok && result.detail).toContain(`is not ${encoding}`);
  });

  it.each([
    ["empty-ish", "00"],
    ["short", "abcd"],
    ["long", "ab".repeat(200)],
  ])("never throws on a hex signature of a different length (%s)", (_what, header) => {
    const scheme = hmacScheme();
    expect(() => verifyHmac(scheme, { "x-signature": header })).not.toThrow();
    expect(verifyHmac(scheme, { "x-signature": header })).toMatchObject({ ok: false, reason: "no_match" });
  });

  it("reports which of several secrets matched", () => {
    const scheme = hmacScheme();
    const result = verifyHmac(
      scheme,
      { "x-signature": hmacDigest(scheme, BODY, "older") },
      { secrets: ["newer", "older"] },
    );
    expect(result).toMatchObject({ ok: true, secretIndex: 1 });
  });

  describe("timestampHeader", () => {
    const scheme = hmacScheme({ timestampHeader: "x-timestamp", signedContent: "{timestamp}.{body}" });
    const headersAt = (timestamp: number | string) => ({
      "x-timestamp": String(timestamp),
      "x-signature": hmacDigest(scheme, Buffer.concat([Buffer.from(`${timestamp}.`), BODY])),
    });

    it.each([
      ["exactly the tolerance old", NOW - TOLERANCE, true],
      ["one second past the tolerance old", NOW - TOLERANCE - 1, false],
      ["exactly the tolerance ahead", NOW + TOLERANCE, true],
      ["one second past the tolerance ahead", NOW + TOLERANCE + 1, false],
    ])("a timestamp %s is accepted: %s", (_what, timestamp, accepted) => {
      expect(verifyHmac(scheme, headersAt(timestamp)).ok).toBe(accepted);
    });

    it.each([
      ["stale", NOW - TOLERANCE - 1],
      ["future", NOW + TOLERANCE + 1],
      ["bad_timestamp", "soon"],
    ] as const)("names the reason %s", (reason, timestamp) => {
      expect(verifyHmac(scheme, headersAt(timestamp))).toMatchObject({ ok: false, reason });
    });
  });

  it("signs the template's bytes, keeping a non-UTF-8 body intact", () => {
    const scheme = hmacScheme({
      idHeader: "x-delivery",
      timestampHeader: "x-timestamp",
      signedContent: "v0:{id}:{timestamp}:{body}",
    });
    const raw = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    const content = Buffer.concat([Buffer.from(`v0:d-7:${NOW}:`), raw]);
    const headers = {
      "x-delivery": "d-7",
      "x-timestamp": String(NOW),
      "x-signature": hmacDigest(scheme, content),
    };
    expect(verifyHmac(scheme, headers, { rawBody: raw })).toMatchObject({ ok: true, webhookId: "d-7" });
    const lossy = Buffer.from(raw.toString("utf8"));
    expect(verifyHmac(scheme, headers, { rawBody: lossy }).ok).toBe(false);
  });
});

describe("signedContent", () => {
  const body = Buffer.from([0x00, 0xff, 0x80, 0x41]);

  it.each([
    ["{body}", body],
    ["{id}.{timestamp}.{body}", Buffer.concat([Buffer.from("id-1.1700000000."), body])],
    ["{timestamp}{body}{id}", Buffer.concat([Buffer.from("1700000000"), body, Buffer.from("id-1")])],
    ["é {body}", Buffer.concat([Buffer.from("é ", "utf8"), body])],
    ["{body}{body}", Buffer.concat([body, body])],
  ])("template %s", (template, expected) => {
    expect(signedContent(template, "id-1", "1700000000", body).equals(expected)).toBe(true);
  });

  it("does not expand placeholders that arrive inside the id or timestamp", () => {
    expect(
      signedContent("{id}|{body}", "{body}", "", body).equals(Buffer.concat([Buffer.from("{body}|"), body])),
    ).toBe(true);
  });
});
