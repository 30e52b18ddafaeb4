// The fuzz cases: fast-check generators for hostile, broken and valid webhooks. A case is a plain
// description (which vendor, route, body, signing mistake, header spelling, …); `wire.ts` turns
// it into an event or an HTTP request. In-process cases may hold anything an event can; `wire`
// cases keep to what an HTTP client can put on a socket.

import fc from "fast-check";
import { ALIASES } from "../../testkit/contract/oracle";
import { HUB_HEADER, MAX_BODY_BYTES, SOURCES, TOLERANCE_SECONDS } from "../../testkit/contract/world";

type Shape = "rest" | "http" | "url";
/** How the vendor id reaches the handler: a path parameter, or a path of one shape or another. */
const ROUTES = [
  "param",
  "raw",
  "rawEncoded",
  "trailingSlash",
  "doubleSlash",
  "prefixed",
  "noVendor",
  "deeper",
  "dotdot",
  "percentSlash",
] as const;
export type Route = (typeof ROUTES)[number];
export type IdKind = "msg" | "uuid" | "unicode" | "long" | "weird";

export type RefSpec =
  | { k: "fresh" }
  | { k: "number"; n: number }
  | { k: "pattern"; s: string }
  | { k: "string"; s: string }
  | { k: "long"; n: number }
  | { k: "null" }
  | { k: "missing" }
  | { k: "object" }
  | { k: "empty" }
  | { k: "float" };

export type BodySpec =
  | {
      k: "delete";
      alias: (typeof ALIASES)[number];
      placement: "data" | "top" | "both";
      ref: RefSpec;
      extra: Record<string, unknown>;
      spaced: boolean;
    }
  | { k: "type"; type: string }
  | { k: "json"; value: unknown }
  | { k: "bytes"; bytes: number[] }
  | { k: "text"; text: string }
  | { k: "sized"; delta: number; fill: "delete" | "bytes" }
  | { k: "nonUtf8"; bytes: number[] }
  | { k: "deep"; depth: number }
  | { k: "empty" };

export type SigningSpec =
  | { k: "none" }
  | { k: "correct"; svix: boolean; skew: number; id: IdKind; idN: number; others: number; last: boolean }
  | { k: "skewed"; skew: number }
  | { k: "wrongSecret" }
  | { k: "otherVendor" }
  | { k: "missing"; which: "id" | "timestamp" | "signature" }
  | { k: "garbled"; id: string | null; ts: string | null; sig: string | null }
  | { k: "lossy" }
  | { k: "tamper"; what: "body" | "id" | "timestamp" | "sig" }
  | { k: "bothSets"; correctIn: "webhook" | "svix" }
  | { k: "hubStyle"; style: "upperHex" | "upperPrefix" | "padded" | "noPrefix" | "base64" | "short" };

export interface FreshCase {
  readonly kind: "fresh";
  readonly shape: Shape;
  readonly vendor: string;
  readonly route: Route;
  readonly method: string;
  readonly body: BodySpec;
  readonly signing: SigningSpec;
  readonly contentType: string | null;
  readonly nameCase: number;
  readonly extras: readonly string[];
  readonly dup: { readonly name: string; readonly value: "same" | "garbage" | "empty" } | null;
  readonly encoding: "text" | "base64" | "badBase64" | "null";
  readonly source: number;
}

export interface ReplayCase {
  readonly kind: "replay";
  readonly pick: number;
  readonly how: "same" | "resign" | "rebody" | "otherVendor";
}

export type FuzzCase = FreshCase | ReplayCase;

const ODD_VENDOR_IDS = [
  "",
  "../acme",
  "acme/..",
  "..%2Facme",
  "%2e%2e",
  "ACME",
  "acme ",
  " acme",
  "%61cme",
  "acme%00",
  "acme\u0000",
  "ácme",
  "\u0430cme",
  "a".repeat(5000),
  "__proto__",
  "constructor",
  "hasOwnProperty",
  "acme/extra",
  "webhooks",
  "😀",
  "..",
  ".",
  "acme%2F..%2Fhubco",
];

/** Credential-like headers a client might send; their values are per-case canaries. */
export const EXTRA_HEADERS: Record<string, (canary: string) => string> = {
  authorization: (c) => `Bearer ${c}`,
  "x-api-key": (c) => c,
  "proxy-authorization": (c) => `Basic ${Buffer.from(`user:${c}`).toString("base64")}`,
  cookie: (c) => `session=${c}`,
  "x-amz-security-token": (c) => c,
  "x-hub-signature": (c) => `sha1=${c}`,
  "x-forwarded-for": () => "203.0.113.9, 10.0.0.1",
  "user-agent": () => "fuzz/1.0",
  // Computed, so it is an own key (a bare `__proto__:` would set the prototype).
  ["__proto__"]: () => "polluted",
  constructor: () => "polluted",
  tostring: () => "polluted",
};
const WIRE_EXTRAS = Object.keys(EXTRA_HEADERS).filter((name) => !["__proto__", "constructor"].includes(name));

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "Application/JSON",
  "application/cloudevents+json",
  "application/vnd.acme.event+json; v=2",
  " application/json ",
  "application/json, text/plain",
  "application/jsonp",
  "application/x-www-form-urlencoded",
  "text/plain",
  "text/json",
  "multipart/form-data; boundary=x",
  "application/+json",
  "application/xml",
  "",
  ";",
];

const METHODS = ["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

function refArb(wire: boolean): fc.Arbitrary<RefSpec> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant<RefSpec>({ k: "fresh" }) },
    { weight: 1, arbitrary: fc.nat({ max: 2 ** 53 }).map((n): RefSpec => ({ k: "number", n })) },
    {
      weight: 2,
      arbitrary: fc.stringMatching(/^[A-Za-z0-9-]{1,50}$/).map((s): RefSpec => ({ k: "pattern", s })),
    },
    {
      weight: 2,
      arbitrary: fc
        .string({ unit: wire ? "grapheme-ascii" : "binary", maxLength: 60 })
        .map((s): RefSpec => ({ k: "string", s })),
    },
    { weight: 1, arbitrary: fc.integer({ min: 51, max: 80 }).map((n): RefSpec => ({ k: "long", n })) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<RefSpec>(
        { k: "null" },
        { k: "missing" },
        { k: "object" },
        { k: "empty" },
        { k: "float" },
      ),
    },
  );
}

function bodyArb(wire: boolean): fc.Arbitrary<BodySpec> {
  const deleteBody = fc.record({
    k: fc.constant("delete" as const),
    alias: fc.constantFrom(...ALIASES),
    placement: fc.constantFrom("data" as const, "data" as const, "top" as const, "both" as const),
    ref: refArb(wire),
    extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    spaced: fc.boolean(),
  });
  return fc.oneof(
    { weight: 30, arbitrary: deleteBody },
    {
      weight: 3,
      arbitrary: fc
        .oneof(
          fc.constantFrom("permit.created", "permit.updated", "PERMIT.DELETED", "permit.deleted ", "permit"),
          fc.string({ maxLength: 30 }),
        )
        .map((type): BodySpec => ({ k: "type", type })),
    },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value): BodySpec => ({ k: "json", value })) },
    {
      weight: 2,
      arbitrary: fc
        .array(fc.nat({ max: 255 }), { maxLength: 300 })
        .map((bytes): BodySpec => ({ k: "bytes", bytes })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.string({ unit: "binary", maxLength: 200 }),
          fc.string({ unit: "grapheme", maxLength: 200 }),
          fc.string({ unit: "grapheme-composite", maxLength: 200 }),
        )
        .map((text): BodySpec => ({ k: "text", text })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          delta: fc.oneof(
            fc.integer({ min: -3, max: 3 }),
            fc.constantFrom(-MAX_BODY_BYTES, -MAX_BODY_BYTES + 1, MAX_BODY_BYTES, 9 * MAX_BODY_BYTES),
          ),
          fill: fc.constantFrom("delete" as const, "bytes" as const),
        })
        .map((s): BodySpec => ({ k: "sized", ...s })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.constantFrom([0xff], [0xfe], [0xc3], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf]),
          fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 4 }),
        )
        .map((bytes): BodySpec => ({ k: "nonUtf8", bytes: [...bytes] })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth): BodySpec => ({ k: "deep", depth })),
    },
    { weight: 1, arbitrary: fc.constant<BodySpec>({ k: "empty" }) },
  );
}

function signingArb(wire: boolean): fc.Arbitrary<SigningSpec> {
  // Over HTTP the relay's clock runs on while the case travels: keep clear of the edge.
  const margin = wire ? 10 : 0;
  const ids: IdKind[] = wire ? ["msg", "uuid", "long"] : ["msg", "uuid", "unicode", "long", "weird"];
  const text = (max: number) => fc.string({ unit: wire ? "grapheme-ascii" : "binary", maxLength: max });
  return fc.oneof(
    { weight: 5, arbitrary: fc.constant<SigningSpec>({ k: "none" }) },
    {
      weight: 30,
      arbitrary: fc.record({
        k: fc.constant("correct" as const),
        svix: fc.boolean(),
        skew: fc.oneof(
          fc.integer({ min: -(TOLERANCE_SECONDS - margin), max: TOLERANCE_SECONDS - margin }),
          fc.constant(0),
        ),
        id: fc.constantFrom(...ids),
        idN: fc.oneof(fc.nat({ max: 200 }), fc.integer({ min: 200, max: 8000 })),
        others: fc.nat({ max: 3 }),
        last: fc.boolean(),
      }),
    },
    {
      weight: 4,
      arbitrary: fc
        .oneof(
          fc.integer({ min: TOLERANCE_SECONDS + 1 + margin, max: 10_000_000 }),
          fc.integer({ min: -10_000_000, max: -(TOLERANCE_SECONDS + 1 + margin) }),
          fc.constantFrom(TOLERANCE_SECONDS + 1 + margin, -(TOLERANCE_SECONDS + 1 + margin)),
        )
        .map((skew): SigningSpec => ({ k: "skewed", skew })),
    },
    { weight: 3, arbitrary: fc.constant<SigningSpec>({ k: "wrongSecret" }) },
    { weight: 2, arbitrary: fc.constant<SigningSpec>({ k: "otherVendor" }) },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom("id" as const, "timestamp" as const, "signature" as const)
        .map((which): SigningSpec => ({ k: "missing", which })),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        k: fc.constant("garbled" as const),
        id: fc.option(text(40), { nil: null }),
        ts: fc.option(fc.oneof(text(15), fc.constantFrom("-1", "1e9", "0x10", "  ", "9".repeat(13), "NaN")), {
          nil: null,
        }),
        sig: fc.option(
          fc.oneof(
            text(120),
            fc.constantFrom("v1,", "v1, ", "v2,abc", "v1,====", `v1,${"A".repeat(44)}`, "v1a,xyz"),
          ),
          { nil: null },
        ),
      }),
    },
    { weight: 2, arbitrary: fc.constant<SigningSpec>({ k: "lossy" }) },
    {
      weight: 4,
      arbitrary: fc
        .constantFrom("body" as const, "id" as const, "timestamp" as const, "sig" as const)
        .map((what): SigningSpec => ({ k: "tamper", what })),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom("webhook" as const, "svix" as const)
        .map((correctIn): SigningSpec => ({ k: "bothSets", correctIn })),
    },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(
          "upperHex" as const,
          "upperPrefix" as const,
          "padded" as const,
          "noPrefix" as const,
          "base64" as const,
          "short" as const,
        )
        .map((style): SigningSpec => ({ k: "hubStyle", style })),
    },
  );
}

/** One case; `wire` keeps it to what an HTTP client can put on a socket. */
export function caseArb(wire = false): fc.Arbitrary<FuzzCase> {
  const vendor = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom("acme", "acme", "hubco", "fenced") },
    { weight: 2, arbitrary: fc.constantFrom(...ODD_VENDOR_IDS) },
    { weight: 1, arbitrary: fc.string({ unit: wire ? "grapheme-ascii" : "binary", maxLength: 40 }) },
  );
  // An unencoded vendor id cannot go on the wire as it is.
  const routes = wire ? ROUTES.filter((route) => route !== "raw") : ROUTES;
  const fresh = fc.record({
    kind: fc.constant("fresh" as const),
    shape: wire
      ? fc.constant("rest" as const)
      : fc.constantFrom("rest" as const, "rest" as const, "http" as const, "url" as const),
    vendor,
    route: fc.oneof(
      { weight: 20, arbitrary: fc.constant("param" as Route) },
      { weight: 3, arbitrary: fc.constantFrom(...routes) },
    ),
    method: wire
      ? fc.oneof(
          { weight: 25, arbitrary: fc.constant("POST") },
          // HEAD answers carry no body to check.
          { weight: 2, arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== "HEAD")) },
        )
      : fc.oneof(
          { weight: 25, arbitrary: fc.constant("POST") },
          { weight: 2, arbitrary: fc.constantFrom(...METHODS) },
          { weight: 1, arbitrary: fc.constantFrom("post", "FOO", "", "POST ") },
        ),
    body: bodyArb(wire),
    signing: signingArb(wire),
    contentType: fc.oneof(
      { weight: 20, arbitrary: fc.constant<string | null>("application/json") },
      { weight: 4, arbitrary: fc.constantFrom<string | null>(...CONTENT_TYPES, null) },
      { weight: 1, arbitrary: fc.string({ unit: wire ? "grapheme-ascii" : "binary", maxLength: 30 }) },
    ),
    nameCase: fc.nat(),
    extras: fc.subarray(wire ? WIRE_EXTRAS : Object.keys(EXTRA_HEADERS), { maxLength: 4 }),
    dup: fc.option(
      fc.record({
        name: fc.constantFrom(
          "webhook-signature",
          "webhook-id",
          "webhook-timestamp",
          "content-type",
          HUB_HEADER,
        ),
        value: fc.constantFrom("same" as const, "garbage" as const, "empty" as const),
      }),
      { nil: null, freq: 8 },
    ),
    encoding: wire
      ? fc.constant("base64" as const)
      : fc.oneof(
          { weight: 10, arbitrary: fc.constantFrom("text" as const, "base64" as const) },
          { weight: 1, arbitrary: fc.constantFrom("badBase64" as const, "null" as const) },
        ),
    source: fc.nat({ max: SOURCES.length - 1 }),
  });
  const replay = fc.record({
    kind: fc.constant("replay" as const),
    pick: fc.nat(),
    how: fc.constantFrom("same" as const, "resign" as const, "rebody" as const, "otherVendor" as const),
  });
  return fc.oneof({ weight: 12, arbitrary: fresh }, { weight: 1, arbitrary: replay });
}
