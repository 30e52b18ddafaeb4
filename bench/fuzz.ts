// Property-based fuzzing of the ingest handler: hostile, broken and valid webhooks generated
// by fast-check, each answer checked against an oracle written from the vendor contract
// (DESIGN.md, docs/openapi.yaml) rather than from the handler's code.
//
// Two passes:
// - in process (the bulk): the real `createIngestHandler` with the in-memory ledger, queue and
//   secrets, real Powertools logging captured per case, and a counting OPS-COM client whose
//   answer is programmed per reference ID. Tens of thousands of cases a minute; real HTTP
//   could not carry 100,000 cases in a CI-friendly time, so HTTP gets the second pass.
// - over real HTTP: the local relay (local/harness.ts) in a child process with the OPS-COM
//   sandbox behind it, fed wire-safe cases one at a time.
//
// Properties, for every case: the handler resolves (never throws) and never answers 5xx to
// client input; the answer is the one the contract gives for that input (status code, `status`,
// ids, `duplicate`, `field`); it matches the OpenAPI document; OPS-COM is called if and only if
// the request is a correctly signed (per DESIGN.md: HMAC over the raw bytes), valid, first
// delete for a configured vendor, and then only for that reference ID, with the relay's token
// and the vendor's client code; no answer and no log line carries a token, a signing secret,
// a signature or a credential-like header the client sent.
//
//   npm run fuzz                        100,000 cases in process + 2,000 over HTTP
//   npm run fuzz -- --runs 20000 --http-runs 500 --seed 7

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http, { type IncomingMessage } from "node:http";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import fc from "fast-check";
import { MemoryLedger, MemoryQueue, MemorySecrets } from "../lambda/adapters/memory";
import { loadConfig } from "../lambda/config";
import type { IngestEvent } from "../lambda/http";
import { createIngestHandler, type IngestHandler } from "../lambda/ingest-core";
import type { Clock, DeleteRequest, OpscomClient } from "../lambda/ports";
import { createPowertoolsTelemetry } from "../lambda/telemetry";
import { toRestEvent } from "../local/harness";
import { mulberry32 } from "../local/opscom-sandbox";
import { functionUrlEvent, httpApiEvent, restEvent } from "../test/support/events";
import { loadOpenApiContract, type OpenApiContract } from "../test/support/openapi";
import { CountingOpscom, programmedOutcome } from "./fuzz/opscom";
import { ALIASES, type Expected, Oracle, view } from "./fuzz/oracle";
import {
  CLIENT_CODE,
  FUZZ_CLIENT_CODES,
  FUZZ_VENDORS,
  type FuzzSecrets,
  fuzzSecrets,
  HUB_HEADER,
  hubSignature,
  MAX_BODY_BYTES,
  SOURCES,
  secretNeedles,
  standardSignature,
  TOKEN_SECRET_ID,
  TOLERANCE_SECONDS,
  VENDOR_IDS,
  VENDOR_PREFIX,
  type VendorId,
} from "./fuzz/world";
import { startRelayChild } from "./relay-child";

export { FUZZ_CLIENT_CODES, FUZZ_VENDORS, fuzzSecrets };

// ---- generated cases -------------------------------------------------------------------------------

type Shape = "rest" | "http" | "url";
type Route =
  | "param"
  | "raw"
  | "rawEncoded"
  | "trailingSlash"
  | "doubleSlash"
  | "prefixed"
  | "noVendor"
  | "deeper"
  | "dotdot"
  | "percentSlash";
type IdKind = "msg" | "uuid" | "unicode" | "long" | "weird";

type RefSpec =
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
const EXTRA_HEADERS: Record<string, (canary: string) => string> = {
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
  const routes: Route[] = wire
    ? [
        "param",
        "rawEncoded",
        "trailingSlash",
        "doubleSlash",
        "prefixed",
        "noVendor",
        "deeper",
        "dotdot",
        "percentSlash",
      ]
    : [
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
      ];
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

// ---- turning a case into an event ------------------------------------------------------------------

interface Built {
  readonly event: IngestEvent;
  /** For the HTTP pass: the request as it goes on the wire. */
  readonly wire?: { method: string; target: string; rawHeaders: string[]; body: Buffer };
  /** Values that must appear in no answer and no log line. */
  readonly needles: string[];
  /** How the case was meant to be signed, for the figures. */
  readonly intent: string;
}

interface HistoryEntry {
  readonly vendor: VendorId;
  readonly webhookId: string;
  readonly body: Buffer;
  readonly event: IngestEvent;
  readonly wire?: Built["wire"];
  readonly svix: boolean;
}

interface BuildContext {
  readonly secrets: FuzzSecrets;
  readonly nowSeconds: () => number;
  readonly freshRef: (vendor: VendorId, n: number) => string;
  readonly wire: boolean;
  readonly seed: number;
  readonly history: HistoryEntry[];
  counter: number;
}

function refValue(ref: RefSpec, fresh: () => string): unknown {
  switch (ref.k) {
    case "fresh":
      return fresh();
    case "number":
      return ref.n;
    case "pattern":
    case "string":
      return ref.s;
    case "long":
      return "r".repeat(ref.n);
    case "null":
      return null;
    case "object":
      return { id: fresh() };
    case "empty":
      return "";
    case "float":
      return 12.5;
    case "missing":
      return undefined;
  }
}

function makeBody(spec: BodySpec, fresh: () => string): Buffer {
  switch (spec.k) {
    case "delete": {
      const ref = refValue(spec.ref, fresh);
      const holder = ref === undefined ? {} : { [spec.alias]: ref };
      const event: Record<string, unknown> = { ...spec.extra, type: "permit.deleted" };
      if (spec.placement === "data") event.data = holder;
      else if (spec.placement === "top") Object.assign(event, holder);
      else Object.assign(event, { data: holder, [spec.alias]: "top-level-ref" });
      return Buffer.from(spec.spaced ? JSON.stringify(event, null, 2) : JSON.stringify(event));
    }
    case "type":
      return Buffer.from(JSON.stringify({ type: spec.type, data: { referenceID: fresh() } }));
    case "json":
      return Buffer.from(JSON.stringify(spec.value) ?? "");
    case "bytes":
      return Buffer.from(spec.bytes);
    case "text":
      return Buffer.from(spec.text, "utf8");
    case "sized": {
      const size = Math.max(0, MAX_BODY_BYTES + spec.delta);
      if (spec.fill === "bytes") return Buffer.alloc(size, 0x7b);
      const base = `{"type":"permit.deleted","data":{"referenceID":"${fresh()}"},"pad":"`;
      const pad = size - base.length - 2;
      return pad < 0 ? Buffer.alloc(size, 0x20) : Buffer.from(`${base}${"x".repeat(pad)}"}`);
    }
    case "nonUtf8":
      return Buffer.concat([
        Buffer.from(`{"type":"permit.deleted","data":{"referenceID":"${fresh()}"},"note":"`),
        Buffer.from(spec.bytes),
        Buffer.from('"}'),
      ]);
    case "deep":
      return Buffer.from(
        `{"type":"permit.deleted","data":{"referenceID":"${fresh()}"},"n":${"[".repeat(spec.depth)}${"]".repeat(spec.depth)}}`,
      );
    case "empty":
      return Buffer.alloc(0);
  }
}

function webhookIdFor(kind: IdKind, n: number, counter: number, seed: number): string {
  const unique = createHash("sha256").update(`id:${seed}:${counter}`).digest("hex").slice(0, 24);
  switch (kind) {
    case "msg":
      return `msg_${unique}`;
    case "uuid":
      return `${unique.slice(0, 8)}-${unique.slice(8, 12)}-4${unique.slice(13, 16)}-a${unique.slice(17, 20)}-${unique}`.slice(
        0,
        36,
      );
    case "unicode":
      return `msg_ü✓${unique}`;
    case "long":
      return `msg_${unique}_${"m".repeat(n)}`;
    case "weird":
      return [
        `a b ${unique}`,
        `a,b,${unique}`,
        `a#b#${unique}`,
        `../${unique}`,
        `%00${unique}`,
        ` ${unique} `,
      ][n % 6] as string;
  }
}

function applyCase(name: string, mode: number): string {
  switch (mode % 4) {
    case 0:
      return name;
    case 1:
      return name.toUpperCase();
    case 2:
      return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
    default: {
      const r = mulberry32(mode);
      return [...name].map((c) => (r() < 0.5 ? c.toUpperCase() : c)).join("");
    }
  }
}

/** The signature headers for one vendor, one body and one spec; `undefined` values are left out. */
function signingHeaders(
  spec: SigningSpec,
  vendor: VendorId,
  raw: Buffer,
  ctx: BuildContext,
): { headers: [string, string][]; body: Buffer; webhookId: string; svix: boolean } {
  const now = ctx.nowSeconds();
  const secret = ctx.secrets.vendor[vendor];
  const other = ctx.secrets.vendor[vendor === "acme" ? "fenced" : "acme"];
  const idKind = spec.k === "correct" ? spec.id : "msg";
  const webhookId = webhookIdFor(idKind, spec.k === "correct" ? spec.idN : 0, ctx.counter, ctx.seed);
  const svix = spec.k === "correct" && spec.svix;
  if (vendor === "hubco") {
    const mac = hubSignature(secret, raw);
    switch (spec.k) {
      case "none":
      case "missing":
        return { headers: [], body: raw, webhookId, svix };
      case "wrongSecret":
      case "otherVendor":
        return { headers: [[HUB_HEADER, `sha256=${hubSignature(other, raw)}`]], body: raw, webhookId, svix };
      case "tamper": {
        const changed = Buffer.from(raw);
        if (changed.length > 0) changed[changed.length - 1] = (changed[changed.length - 1] as number) ^ 1;
        return spec.what === "body"
          ? { headers: [[HUB_HEADER, `sha256=${mac}`]], body: changed, webhookId, svix }
          : {
              headers: [[HUB_HEADER, `sha256=${mac.slice(0, -1)}${mac.endsWith("0") ? "1" : "0"}`]],
              body: raw,
              webhookId,
              svix,
            };
      }
      case "hubStyle": {
        const value = {
          upperHex: `sha256=${mac.toUpperCase()}`,
          upperPrefix: `SHA256=${mac}`,
          padded: `  sha256=${mac}\t`,
          noPrefix: mac,
          base64: `sha256=${Buffer.from(mac, "hex").toString("base64")}`,
          short: `sha256=${mac.slice(0, 40)}`,
        }[spec.style];
        return { headers: [[HUB_HEADER, value]], body: raw, webhookId, svix };
      }
      case "garbled":
        return { headers: spec.sig === null ? [] : [[HUB_HEADER, spec.sig]], body: raw, webhookId, svix };
      default:
        return { headers: [[HUB_HEADER, `sha256=${mac}`]], body: raw, webhookId, svix };
    }
  }
  const sign = (id: string, ts: number, bytes: Buffer, key = secret) => standardSignature(key, id, ts, bytes);
  const set = (prefix: string, id: string, ts: string, sig: string): [string, string][] => [
    [`${prefix}-id`, id],
    [`${prefix}-timestamp`, ts],
    [`${prefix}-signature`, sig],
  ];
  const decoy = (i: number) =>
    `v1,${createHash("sha256").update(`decoy:${ctx.counter}:${i}`).digest("base64")}`;
  switch (spec.k) {
    case "none":
      return { headers: [], body: raw, webhookId, svix };
    case "correct": {
      const ts = now + spec.skew;
      const sigs = Array.from({ length: spec.others }, (_, i) => decoy(i));
      const good = sign(webhookId, ts, raw);
      const all = spec.last ? [...sigs, good] : [good, ...sigs];
      return {
        headers: set(svix ? "svix" : "webhook", webhookId, String(ts), all.join(" ")),
        body: raw,
        webhookId,
        svix,
      };
    }
    case "skewed": {
      const ts = Math.max(0, now + spec.skew);
      return {
        headers: set("webhook", webhookId, String(ts), sign(webhookId, ts, raw)),
        body: raw,
        webhookId,
        svix,
      };
    }
    case "wrongSecret":
      return {
        headers: set(
          "webhook",
          webhookId,
          String(now),
          sign(webhookId, now, raw, `whsec_${Buffer.alloc(24, 9).toString("base64")}`),
        ),
        body: raw,
        webhookId,
        svix,
      };
    case "otherVendor":
      return {
        headers: set("webhook", webhookId, String(now), sign(webhookId, now, raw, other)),
        body: raw,
        webhookId,
        svix,
      };
    case "missing": {
      const all = set("webhook", webhookId, String(now), sign(webhookId, now, raw));
      return {
        headers: all.filter(([name]) => name !== `webhook-${spec.which}`),
        body: raw,
        webhookId,
        svix,
      };
    }
    case "garbled": {
      const headers = set(
        "webhook",
        spec.id ?? webhookId,
        spec.ts ?? String(now),
        spec.sig ?? sign(spec.id ?? webhookId, now, raw),
      );
      return { headers, body: raw, webhookId, svix };
    }
    case "lossy": {
      // What the standardwebhooks JS library produces from a Buffer: it signs the UTF-8 decoding.
      const lossy = sign(webhookId, now, Buffer.from(raw.toString("utf8")));
      return { headers: set("webhook", webhookId, String(now), lossy), body: raw, webhookId, svix };
    }
    case "tamper": {
      const good = sign(webhookId, now, raw);
      if (spec.what === "body") {
        const changed = Buffer.from(raw);
        if (changed.length > 0) changed[0] = (changed[0] as number) ^ 0x20;
        return { headers: set("webhook", webhookId, String(now), good), body: changed, webhookId, svix };
      }
      if (spec.what === "id")
        return { headers: set("webhook", `${webhookId}x`, String(now), good), body: raw, webhookId, svix };
      if (spec.what === "timestamp")
        return { headers: set("webhook", webhookId, String(now - 1), good), body: raw, webhookId, svix };
      const flipped = `${good.slice(0, 5)}${good[5] === "A" ? "B" : "A"}${good.slice(6)}`;
      return { headers: set("webhook", webhookId, String(now), flipped), body: raw, webhookId, svix };
    }
    case "bothSets": {
      const good = sign(webhookId, now, raw);
      const bad = decoy(0);
      return {
        headers: [
          ...set("webhook", webhookId, String(now), spec.correctIn === "webhook" ? good : bad),
          ...set("svix", webhookId, String(now), spec.correctIn === "svix" ? good : bad),
        ],
        body: raw,
        webhookId,
        svix,
      };
    }
    case "hubStyle":
      return { headers: [[HUB_HEADER, `sha256=${hubSignature(secret, raw)}`]], body: raw, webhookId, svix };
  }
}

function routePath(route: Route, vendor: string, wire: boolean): string {
  const enc = encodeURIComponent(vendor);
  switch (route) {
    case "param":
    case "rawEncoded":
      return `/webhooks/${enc}`;
    case "raw":
      return `/webhooks/${vendor}`;
    case "trailingSlash":
      return `/webhooks/${enc}/`;
    case "doubleSlash":
      // Over the wire, "//x" would be read as a host (see the harness crash test): keep the path's own.
      return wire ? `/webhooks//${enc}` : `//webhooks/${enc}`;
    case "prefixed":
      return `/prod/webhooks/${enc}`;
    case "noVendor":
      return "/webhooks/";
    case "deeper":
      return `/webhooks/${enc}/extra`;
    case "dotdot":
      return `/webhooks/../webhooks/${enc}`;
    case "percentSlash":
      return `/webhooks/${enc}%2F..%2Fhubco`;
  }
}

const WIRE_VALUE = /[^\t\x20-\x7e]/g;

/** Builds the event (and, for the HTTP pass, the wire request) for one case. */
function build(spec: FuzzCase, ctx: BuildContext): Built {
  ctx.counter++;
  const canary = `CANARY${createHash("sha256").update(`canary:${ctx.seed}:${ctx.counter}`).digest("hex").slice(0, 24)}`;
  if (spec.kind === "replay") return buildReplay(spec, ctx);
  const vendor: VendorId = VENDOR_IDS.has(spec.vendor) ? (spec.vendor as VendorId) : "acme";
  let refs = 0;
  const fresh = () => ctx.freshRef(vendor, refs++);
  const body0 = makeBody(spec.body, fresh);
  const signed = signingHeaders(spec.signing, vendor, body0, ctx);
  const needles = [canary, Buffer.from(`user:${canary}`).toString("base64")];
  for (const [name, value] of signed.headers) {
    if (name.endsWith("-signature"))
      needles.push(...value.split(" ").flatMap((s) => (s.length > 8 ? [s, s.slice(3)] : [])));
    if (name === HUB_HEADER && value.length > 16)
      needles.push(value.trim(), value.trim().replace(/^sha256=/i, ""));
  }
  const pairs: [string, string][] = [...signed.headers];
  if (spec.contentType !== null) pairs.unshift(["content-type", spec.contentType]);
  for (const name of spec.extras) pairs.push([name, (EXTRA_HEADERS[name] as (c: string) => string)(canary)]);
  let named = pairs.map(([name, value], i): [string, string] => [
    applyCase(name, spec.nameCase + i * 7),
    value,
  ]);
  if (spec.dup) {
    const original = named.find(([name]) => name.toLowerCase() === spec.dup?.name);
    const value =
      spec.dup.value === "same"
        ? (original?.[1] ?? "x")
        : spec.dup.value === "empty"
          ? ""
          : "v1,Z2FyYmFnZQ==";
    named.push([applyCase(spec.dup.name, spec.nameCase + 3), value]);
  }
  if (ctx.wire) {
    named = named
      .map(([name, value]): [string, string] => [name, value.replace(WIRE_VALUE, "?").trim()])
      .filter(([name]) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name));
  }
  const intent = `${spec.signing.k}${spec.signing.k === "correct" && spec.signing.svix ? " (svix)" : ""}`;
  const body = signed.body;
  if (ctx.wire) {
    const target = routePath(spec.route === "raw" ? "rawEncoded" : spec.route, spec.vendor, true);
    const rawHeaders = named.flat();
    const event = wireEvent(spec.method, target, rawHeaders, body);
    return { event, wire: { method: spec.method, target, rawHeaders, body }, needles, intent };
  }
  const headers = Object.fromEntries(named);
  const [sourceIp] = SOURCES[spec.source] as readonly [string, boolean];
  const requestSpec = {
    vendorId: spec.vendor,
    method: spec.method,
    headers,
    body,
    base64: spec.encoding !== "text",
    sourceIp,
    ...(spec.route === "param" && spec.shape !== "url"
      ? {}
      : { path: routePath(spec.route === "param" ? "rawEncoded" : spec.route, spec.vendor, false) }),
  };
  let event: IngestEvent =
    spec.shape === "rest"
      ? restEvent(requestSpec)
      : spec.shape === "http"
        ? httpApiEvent(requestSpec)
        : functionUrlEvent(requestSpec);
  if (spec.encoding === "text") event = { ...event, body: body.toString("utf8"), isBase64Encoded: false };
  if (spec.encoding === "badBase64")
    event = { ...event, body: `${body.toString("base64")}!*%$\u00e9`, isBase64Encoded: true };
  if (spec.encoding === "null") event = { ...event, body: null } as IngestEvent;
  if (spec.shape === "rest" && spec.nameCase % 97 === 0)
    event = { ...event, headers: null } as unknown as IngestEvent;
  const built: Built = { event, needles, intent };
  return built;
}

/** What the harness hands the handler for a request on the wire (its own REST conversion). */
function wireEvent(method: string, target: string, rawHeaders: string[], body: Buffer): APIGatewayProxyEvent {
  const request = {
    url: target,
    method,
    rawHeaders,
    socket: { remoteAddress: "127.0.0.1" },
  } as unknown as IncomingMessage;
  return toRestEvent(request, body);
}

function buildReplay(spec: ReplayCase, ctx: BuildContext): Built {
  const entry = ctx.history[spec.pick % Math.max(1, ctx.history.length)];
  if (!entry) {
    // Nothing to replay yet: an empty POST.
    const wire = { method: "POST", target: "/webhooks/acme", rawHeaders: [], body: Buffer.alloc(0) };
    return ctx.wire
      ? {
          event: wireEvent("POST", wire.target, [], wire.body),
          wire,
          needles: [],
          intent: "replay (nothing yet)",
        }
      : {
          event: restEvent({ method: "POST", headers: {}, body: "" }),
          needles: [],
          intent: "replay (nothing yet)",
        };
  }
  if (spec.how === "same") {
    return {
      event: entry.event,
      ...(entry.wire ? { wire: entry.wire } : {}),
      needles: [],
      intent: "replay same bytes",
    };
  }
  const now = ctx.nowSeconds();
  const secret = ctx.secrets.vendor[entry.vendor];
  let body = entry.body;
  if (spec.how === "rebody") {
    const ref = ctx.freshRef(entry.vendor, 0);
    body = Buffer.from(JSON.stringify({ type: "permit.deleted", data: { referenceID: ref } }));
  }
  const vendor = spec.how === "otherVendor" ? (entry.vendor === "acme" ? "fenced" : "acme") : entry.vendor;
  const headers: Record<string, string> = { "content-type": "application/json" };
  let needles: string[] = [];
  if (entry.vendor === "hubco") {
    const mac = hubSignature(secret, body);
    headers[HUB_HEADER] = `sha256=${mac}`;
    needles = [mac];
  } else {
    const prefix = entry.svix ? "svix" : "webhook";
    const sig = standardSignature(secret, entry.webhookId, now, body);
    Object.assign(headers, {
      [`${prefix}-id`]: entry.webhookId,
      [`${prefix}-timestamp`]: String(now),
      [`${prefix}-signature`]: sig,
    });
    needles = [sig, sig.slice(3)];
  }
  const intent = `replay ${spec.how}`;
  if (ctx.wire) {
    const target = `/webhooks/${vendor}`;
    const rawHeaders = Object.entries(headers).flat();
    return {
      event: wireEvent("POST", target, rawHeaders, body),
      wire: { method: "POST", target, rawHeaders, body },
      needles,
      intent,
    };
  }
  return {
    event: restEvent({ vendorId: vendor, headers, body, sourceIp: "203.0.113.7" }),
    needles,
    intent,
  };
}

// ---- running and checking ----------------------------------------------------------------------------

export interface Violation {
  readonly pass: "in-process" | "http";
  readonly index: number;
  readonly rule: string;
  readonly detail: string;
  readonly spec: string;
}

export interface PassReport {
  cases: number;
  byStatus: Record<string, number>;
  bySigning: Record<string, number>;
  byStep: Record<string, number>;
  /** Requests the oracle says must reach OPS-COM (correctly signed, valid, first delete). */
  expectedForwards: number;
  /** Requests during which OPS-COM was called. */
  forwardedRequests: number;
  opscomCalls: number;
  /** Cases that carried credential-like headers (Authorization, X-Api-Key, Cookie, …) with canary values. */
  credentialCases: number;
  /** Secrets Manager reads by secret id (in process only). */
  secretReads?: Record<string, number>;
  logBytes: number;
  violations: Violation[];
  violationCount: number;
  violationsByRule: Record<string, number>;
  seconds: number;
}

export interface FuzzOptions {
  readonly runs: number;
  readonly seed: number;
  /** Cases over real HTTP; 0 skips the pass. */
  readonly httpRuns?: number;
  /** Throw at the first violation, so fast-check shrinks and prints the smallest case. */
  readonly failFast?: boolean;
  /** Where the HTTP pass's child writes its logs (searched for leaks afterwards). */
  readonly logFile?: string;
  /**
   * Wraps the in-process handler, to prove the checks catch a broken one (tests only): it gets
   * the real handler and the counting OPS-COM client.
   */
  readonly sabotage?: (handler: IngestHandler, opscom: OpscomClient) => IngestHandler;
}

export interface FuzzReport {
  readonly options: FuzzOptions;
  readonly inProcess: PassReport;
  readonly http?: PassReport;
  readonly seconds: number;
  readonly ok: boolean;
}

export const DEFAULT_FUZZ: FuzzOptions = { runs: 100_000, seed: 1, httpRuns: 2000 };

function emptyPass(): PassReport {
  return {
    cases: 0,
    byStatus: {},
    bySigning: {},
    byStep: {},
    expectedForwards: 0,
    forwardedRequests: 0,
    credentialCases: 0,
    opscomCalls: 0,
    logBytes: 0,
    violations: [],
    violationCount: 0,
    violationsByRule: {},
    seconds: 0,
  };
}

const bump = (counts: Record<string, number>, key: string, by = 1) => {
  counts[key] = (counts[key] ?? 0) + by;
};

const CREDENTIAL_HEADERS = new Set([
  "authorization",
  "x-api-key",
  "proxy-authorization",
  "cookie",
  "x-amz-security-token",
]);

/** Words that no log line may contain, whatever the request (logs carry fixed fields only). */
const LOG_FORBIDDEN =
  /whsec_|apiToken|authorization|x-api-key|bearer |cookie|webhook-signature|svix-signature|x-hub-signature|CANARY|v1,[A-Za-z0-9+/]{40,}/i;

interface Answer {
  readonly statusCode: number;
  readonly headers: Record<string, unknown>;
  readonly text: string;
}

class Checker {
  constructor(
    private readonly pass: PassReport,
    private readonly passName: Violation["pass"],
    private readonly contract: OpenApiContract,
    private readonly globalNeedles: readonly string[],
    private readonly failFast: boolean,
  ) {}

  check(
    index: number,
    spec: FuzzCase,
    built: Built,
    expected: Expected,
    answer: Answer | { threw: unknown },
    calls: readonly DeleteRequest[] | number,
    logs: string,
    token: string,
  ): void {
    const p = this.pass;
    p.cases++;
    bump(p.bySigning, built.intent);
    bump(p.byStep, expected.step);
    if (expected.forward) p.expectedForwards++;
    if (spec.kind === "fresh" && spec.extras.some((name) => CREDENTIAL_HEADERS.has(name)))
      p.credentialCases++;
    const callCount = typeof calls === "number" ? calls : calls.length;
    p.opscomCalls += callCount;
    if (callCount > 0) p.forwardedRequests++;
    const fail = (rule: string, detail: string) => this.violation(index, spec, rule, detail);

    if ("threw" in answer) {
      bump(p.byStatus, "threw");
      fail("never throws", String((answer.threw as Error)?.stack ?? answer.threw));
      return;
    }
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    bump(p.byStatus, `${answer.statusCode} ${String(body?.status ?? "(no JSON)")}`);
    if (answer.statusCode >= 500)
      fail("no 5xx for client input", `HTTP ${answer.statusCode} ${answer.text.slice(0, 200)}`);
    if (!body) {
      fail("answer is JSON", answer.text.slice(0, 200));
      return;
    }
    // The contract, from the oracle.
    const got = {
      statusCode: answer.statusCode,
      status: body.status,
      webhookId: body.webhookId,
      referenceID: body.referenceID,
      duplicate: body.duplicate,
      field: body.field,
    };
    const want = {
      statusCode: expected.statusCode,
      status: expected.status,
      webhookId: expected.webhookId,
      referenceID: expected.referenceID,
      duplicate: expected.duplicate,
      field: expected.field,
    };
    if (JSON.stringify(got) !== JSON.stringify(want))
      fail(
        "answer follows the vendor contract",
        `expected ${JSON.stringify(want)} (decided by: ${expected.step}), got ${JSON.stringify(got)}`,
      );
    // The OpenAPI document covers POST /webhooks/{vendorId}; other routes and methods have their own table.
    if (expected.step === "route" || expected.step === "method") {
      const ok =
        expected.step === "route"
          ? body.status === "no_route" && typeof body.reason === "string"
          : body.status === "method_not_allowed" && String(answer.headers.allow) === "POST";
      if (!ok) fail("answer follows the relay's 404/405 table", answer.text.slice(0, 200));
    } else {
      try {
        this.contract.expectMatchesOpenApi(answer.statusCode, answer.headers, answer.text);
      } catch (error) {
        fail("answer matches docs/openapi.yaml", (error as Error).message.slice(0, 400));
      }
    }
    // Only a correctly signed, valid, first delete reaches OPS-COM, and only for its reference ID.
    if (expected.forward) {
      if (callCount < 1)
        fail(
          "a correctly signed valid delete reaches OPS-COM",
          `no call for ${expected.forward.referenceId}`,
        );
      if (typeof calls !== "number") {
        for (const call of calls) {
          if (
            call.referenceId !== expected.forward.referenceId ||
            call.clientCode !== expected.forward.clientCode ||
            call.token !== token
          )
            fail(
              "OPS-COM gets the signed reference ID, the vendor's client code and the relay's token",
              `${call.referenceId} at ${call.clientCode}`,
            );
        }
        if (callCount > 2) fail("at most one inline retry", `${callCount} calls`);
      }
    } else if (callCount > 0) {
      fail(
        "only a correctly signed valid delete reaches OPS-COM",
        `${callCount} call(s); the oracle says ${expected.step} → ${expected.statusCode} ${expected.status}`,
      );
    }
    // Nothing secret in the answer or the case's log lines.
    const answerText = `${JSON.stringify(answer.headers)}\n${answer.text}`;
    for (const needle of [...this.globalNeedles, ...built.needles]) {
      if (answerText.includes(needle))
        fail("no secret in an answer", `answer contains ${needle.slice(0, 10)}…`);
      if (logs.includes(needle)) fail("no secret in a log line", `log contains ${needle.slice(0, 10)}…`);
    }
    const forbidden = LOG_FORBIDDEN.exec(logs);
    if (forbidden)
      fail("no credential-like text in a log line", `log contains "${forbidden[0].slice(0, 20)}"`);
    p.logBytes += logs.length;
  }

  violation(index: number, spec: FuzzCase, rule: string, detail: string): void {
    const p = this.pass;
    p.violationCount++;
    bump(p.violationsByRule, rule);
    const specText = JSON.stringify(spec, (_k, v: unknown) =>
      typeof v === "string" && v.length > 200 ? `${v.slice(0, 200)}…(${v.length})` : v,
    );
    if (p.violations.length < 50)
      p.violations.push({ pass: this.passName, index, rule, detail, spec: specText });
    if (this.failFast) throw new Error(`${rule}: ${detail}`);
  }
}

/** Captures stdout/stderr writes (Powertools logs and EMF) while a case runs, without printing them. */
class OutputCapture {
  private chunks: string[] = [];
  private originals?: { out: typeof process.stdout.write; err: typeof process.stderr.write };

  start(): void {
    this.originals = { out: process.stdout.write, err: process.stderr.write };
    const grab = ((chunk: unknown) => {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk.toString("utf8") : String(chunk));
      return true;
    }) as typeof process.stdout.write;
    process.stdout.write = grab;
    process.stderr.write = grab;
  }

  take(): string {
    const text = this.chunks.join("");
    this.chunks = [];
    return text;
  }

  stop(): void {
    if (!this.originals) return;
    process.stdout.write = this.originals.out;
    process.stderr.write = this.originals.err;
    this.originals = undefined;
  }
}

/** Virtual milliseconds between two in-process cases: a replayed webhook goes stale after 30,000 cases. */
const STEP_MS = 10;

class StepClock implements Clock {
  steps = 0;
  constructor(private readonly base: number) {}
  now(): number {
    return this.base + this.steps * STEP_MS;
  }
}

/** The in-process pass: the real handler, in-memory twins, a counting OPS-COM. */
async function inProcessPass(options: FuzzOptions, contract: OpenApiContract): Promise<PassReport> {
  const started = Date.now();
  const report = emptyPass();
  const secrets = fuzzSecrets(options.seed);
  const clock = new StepClock(Date.UTC(2030, 0, 1));
  const config = loadConfig({
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET_ID,
    VENDORS: JSON.stringify(FUZZ_VENDORS),
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
  });
  const source = new MemorySecrets({
    [TOKEN_SECRET_ID]: JSON.stringify({ apiToken: secrets.token }),
    ...Object.fromEntries(
      Object.entries(secrets.vendor).map(([id, secret]) => [
        VENDOR_PREFIX + id,
        JSON.stringify({ signingSecrets: [secret] }),
      ]),
    ),
  });
  const opscom = new CountingOpscom();
  const capture = new OutputCapture();
  capture.start();
  let handler: IngestHandler;
  try {
    handler = createIngestHandler({
      config,
      clock,
      secrets: source,
      ledger: new MemoryLedger(),
      queue: new MemoryQueue(clock, config.retryMaxAttempts),
      opscom,
      telemetry: createPowertoolsTelemetry(),
      sleep: async () => undefined,
      random: mulberry32(options.seed),
    });
  } finally {
    capture.stop();
  }
  if (options.sabotage) handler = options.sabotage(handler, opscom);
  const oracle = new Oracle(
    secrets,
    () => Math.floor(clock.now() / 1000),
    (ref) => programmedOutcome(ref),
  );
  const checker = new Checker(
    report,
    "in-process",
    contract,
    secretNeedles(secrets),
    options.failFast ?? false,
  );
  const ctx: BuildContext = {
    secrets,
    nowSeconds: () => Math.floor(clock.now() / 1000),
    freshRef: (_vendor, n) => `fz-${options.seed}-${ctx.counter}-${n}`,
    wire: false,
    seed: options.seed,
    history: [],
    counter: 0,
  };
  let index = 0;
  const property = fc.asyncProperty(caseArb(false), async (spec) => {
    clock.steps++;
    const built = build(spec, ctx);
    const expected = oracle.predict(built.event);
    const before = opscom.calls.length;
    let answer: Answer | { threw: unknown };
    capture.start();
    try {
      const result = (await handler(built.event)) as APIGatewayProxyResult;
      answer = { statusCode: result.statusCode, headers: result.headers ?? {}, text: String(result.body) };
    } catch (threw) {
      answer = { threw };
    } finally {
      capture.stop();
    }
    const logs = capture.take();
    oracle.commit(expected);
    if (expected.forward && !("threw" in answer)) remember(ctx, spec, built, expected);
    checker.check(index++, spec, built, expected, answer, opscom.calls.slice(before), logs, secrets.token);
    return true;
  });
  try {
    await fc.assert(property, { numRuns: options.runs, seed: options.seed, endOnFailure: false });
  } finally {
    capture.stop();
  }
  report.secretReads = Object.fromEntries(source.calls);
  report.seconds = Math.round((Date.now() - started) / 100) / 10;
  return report;
}

function remember(ctx: BuildContext, spec: FuzzCase, built: Built, expected: Expected): void {
  if (spec.kind !== "fresh" || !expected.forward) return;
  const vendor = expected.forward.key.split("#")[0] as VendorId;
  const signing = spec.signing;
  const body = built.wire ? built.wire.body : view(built.event).raw;
  ctx.history.push({
    vendor,
    webhookId: expected.forward.webhookId,
    body,
    event: built.event,
    ...(built.wire ? { wire: built.wire } : {}),
    svix: signing.k === "correct" && signing.svix,
  });
  if (ctx.history.length > 2000) ctx.history.splice(0, 1000);
}

const TRANSPORT_HEADERS = ["date", "connection", "keep-alive", "content-length", "transfer-encoding"];

/** Sends one request as given, with no client-side normalisation beyond what HTTP/1.1 requires. */
function sendRaw(base: URL, agent: http.Agent, request: NonNullable<Built["wire"]>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: request.method,
        path: request.target,
        // An array keeps names, case and repeats as given; Node then adds no Host of its own.
        headers: ["Host", base.host, ...request.rawHeaders, "Content-Length", String(request.body.length)],
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          // What the relay answered, without the transport's own headers (as API Gateway adds its own).
          const headers: Record<string, unknown> = { ...res.headers };
          for (const name of TRANSPORT_HEADERS) delete headers[name];
          resolve({ statusCode: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(request.body);
  });
}

/** The HTTP pass: wire-safe cases, one at a time, to the local relay in a child process. */
async function httpPass(options: FuzzOptions, contract: OpenApiContract): Promise<PassReport> {
  const started = Date.now();
  const report = emptyPass();
  const runs = options.httpRuns ?? 0;
  const secrets = fuzzSecrets(options.seed + 1);
  const logFile = options.logFile ?? "/dev/null";
  if (logFile !== "/dev/null") writeFileSync(logFile, "");
  const child = await startRelayChild(
    {
      token: secrets.token,
      vendors: FUZZ_VENDORS as unknown as unknown[],
      vendorSecrets: secrets.vendor,
      clientCodes: FUZZ_CLIENT_CODES,
      env: { FORWARD_TIMEOUT_MS: "2000", MAX_BODY_BYTES: String(MAX_BODY_BYTES) },
    },
    logFile,
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const base = new URL(child.relayUrl);
    // Permits to delete, per client code: a fresh delete takes the next one.
    const pools: Record<string, string[]> = {};
    const live = new Set<string>();
    for (const clientCode of FUZZ_CLIENT_CODES) {
      const res = await fetch(`${child.sandboxUrl}/__sandbox/permits`, {
        method: "POST",
        body: JSON.stringify({ count: Math.min(10_000, runs + 10), clientCode }),
      });
      const { referenceIds } = (await res.json()) as { referenceIds: string[] };
      pools[clientCode] = referenceIds;
      for (const ref of referenceIds) live.add(`${clientCode}:${ref}`);
    }
    const oracle = new Oracle(
      secrets,
      () => Math.floor(Date.now() / 1000),
      (ref, clientCode) => (live.has(`${clientCode}:${ref}`) ? "deleted" : "not_found"),
    );
    const checker = new Checker(report, "http", contract, secretNeedles(secrets), options.failFast ?? false);
    const ctx: BuildContext = {
      secrets,
      nowSeconds: () => Math.floor(Date.now() / 1000),
      freshRef: (vendor) => pools[CLIENT_CODE[vendor]]?.pop() ?? `gone-${ctx.counter}`,
      wire: true,
      seed: options.seed + 1,
      history: [],
      counter: 0,
    };
    const allNeedles: string[] = [];
    let deletesBefore = (await child.stats()).sandbox.deleteRequests;
    let index = 0;
    const property = fc.asyncProperty(caseArb(true), async (spec) => {
      const built = build(spec, ctx);
      const wire = built.wire;
      if (!wire) throw new Error("a wire case without a wire request");
      const expected = oracle.predict(built.event);
      let answer: Answer | { threw: unknown };
      try {
        answer = await sendRaw(base, agent, wire);
      } catch (threw) {
        answer = { threw };
      }
      const deletes = (await child.stats()).sandbox.deleteRequests;
      const calls = deletes - deletesBefore;
      deletesBefore = deletes;
      oracle.commit(expected);
      if (expected.forward && expected.status === "deleted")
        live.delete(`${expected.forward.clientCode}:${expected.forward.referenceId}`);
      if (expected.forward && !("threw" in answer)) remember(ctx, spec, built, expected);
      allNeedles.push(...built.needles);
      checker.check(index++, spec, built, expected, answer, calls, "", secrets.token);
      return true;
    });
    await fc.assert(property, { numRuns: runs, seed: options.seed, endOnFailure: false });
    // The child's whole log, searched once for every needle of the run.
    await child.stats();
    if (logFile !== "/dev/null") {
      const logs = readFileSync(logFile, "utf8");
      report.logBytes = logs.length;
      for (const hit of findNeedles(logs, [...secretNeedles(secrets), ...allNeedles]))
        checker.violation(
          -1,
          { kind: "replay", pick: 0, how: "same" },
          "no secret in a log line",
          `relay log contains ${hit.slice(0, 10)}…`,
        );
      const forbidden = LOG_FORBIDDEN.exec(logs);
      if (forbidden)
        checker.violation(
          -1,
          { kind: "replay", pick: 0, how: "same" },
          "no credential-like text in a log line",
          forbidden[0].slice(0, 20),
        );
    }
  } finally {
    agent.destroy();
    await child.close();
  }
  report.seconds = Math.round((Date.now() - started) / 100) / 10;
  return report;
}

/** Every needle (8 characters or longer) found in `text`: one pass, needles indexed by their first 8. */
export function findNeedles(text: string, needles: readonly string[]): string[] {
  const byPrefix = new Map<string, string[]>();
  for (const needle of new Set(needles)) {
    if (needle.length < 8) continue;
    const key = needle.slice(0, 8);
    const list = byPrefix.get(key);
    if (list) list.push(needle);
    else byPrefix.set(key, [needle]);
  }
  const found = new Set<string>();
  for (let i = 0; i + 8 <= text.length; i++) {
    const list = byPrefix.get(text.slice(i, i + 8));
    if (list) for (const needle of list) if (text.startsWith(needle, i)) found.add(needle);
  }
  return [...found];
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const contract = await loadOpenApiContract();
  const inProcess = await inProcessPass(options, contract);
  const http = (options.httpRuns ?? 0) > 0 ? await httpPass(options, contract) : undefined;
  return {
    options,
    inProcess,
    ...(http ? { http } : {}),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ok: inProcess.violationCount === 0 && (http?.violationCount ?? 0) === 0,
  };
}

// ---- the report -------------------------------------------------------------------------------------

export function formatFuzzReport(report: FuzzReport): string {
  const rows = (title: string, values: Record<string, number>) =>
    [
      title,
      ...Object.entries(values)
        .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
        .map(([k, v]) => `  ${k.padEnd(44)} ${String(v).padStart(8)}`),
    ].join("\n");
  const pass = (name: string, p: PassReport) =>
    [
      `${name}: ${p.cases} cases in ${p.seconds} s (${Math.round(p.cases / Math.max(p.seconds, 0.1))}/s)`,
      rows("  answers by status", p.byStatus),
      rows("  decided by", p.byStep),
      rows("  signing intent", p.bySigning),
      `  cases carrying Authorization/X-Api-Key/Cookie-style canaries: ${p.credentialCases}`,
      `  correctly signed valid first deletes: ${p.expectedForwards}; requests that reached OPS-COM: ${p.forwardedRequests}; OPS-COM calls: ${p.opscomCalls}`,
      ...(p.secretReads === undefined
        ? []
        : [rows("  Secrets Manager reads (virtual time advances 10 ms a case)", p.secretReads)]),
      `  log text searched: ${Math.round(p.logBytes / 1024)} KiB`,
      `  violations: ${p.violationCount}`,
      ...Object.entries(p.violationsByRule).map(([rule, n]) => `    ${String(n).padStart(7)} × ${rule}`),
      ...p.violations
        .slice(0, 10)
        .map((v) => `    #${v.index} ${v.rule}: ${v.detail}\n      case ${v.spec.slice(0, 600)}`),
    ].join("\n");
  return [
    `fuzz: seed ${report.options.seed}, ${report.options.runs} in-process cases, ${report.options.httpRuns ?? 0} over HTTP`,
    pass("in process (real handler, in-memory twins, counting OPS-COM)", report.inProcess),
    ...(report.http
      ? [pass("over HTTP (local relay in a child process, OPS-COM sandbox)", report.http)]
      : []),
    `wall time ${report.seconds} s`,
    report.ok
      ? "RESULT: no throw, no 5xx, every answer as the contract and the OpenAPI document say, OPS-COM reached only by correctly signed valid deletes, no secret in any answer or log line"
      : "RESULT: FAILED — see the violations above",
  ].join("\n");
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const options: FuzzOptions = {
    runs: flag("runs", DEFAULT_FUZZ.runs),
    seed: flag("seed", DEFAULT_FUZZ.seed),
    httpRuns: flag("http-runs", DEFAULT_FUZZ.httpRuns ?? 0),
    logFile: "/tmp/opscom-permit-relay-fuzz-http.log",
  };
  runFuzz(options).then(
    (report) => {
      process.stdout.write(`${formatFuzzReport(report)}\n`);
      process.exit(report.ok ? 0 : 1);
    },
    (error: unknown) => {
      process.stderr.write(`fuzz failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(2);
    },
  );
}
