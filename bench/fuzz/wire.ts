// Turning a generated case into what the relay receives: an API Gateway or Function URL event
// for the in-process pass, and for the HTTP pass the request as it goes on the wire (with the
// event the local harness would make of it, so the oracle judges what the handler saw).

import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { APIGatewayProxyEvent } from "aws-lambda";
import type { IngestEvent } from "../../lambda/http";
import { toRestEvent } from "../../local/harness";
import { type Expected, view } from "../../testkit/contract/oracle";
import {
  type FuzzSecrets,
  HUB_HEADER,
  hubSignature,
  MAX_BODY_BYTES,
  SOURCES,
  standardSignature,
  VENDOR_IDS,
  type VendorId,
} from "../../testkit/contract/world";
import { functionUrlEvent, httpApiEvent, restEvent } from "../../testkit/events";
import { mulberry32 } from "../../testkit/random";
import {
  type BodySpec,
  EXTRA_HEADERS,
  type FuzzCase,
  type RefSpec,
  type ReplayCase,
  type Route,
} from "./generators";
import { signingHeaders } from "./signing";

export interface Built {
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

export interface BuildContext {
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
export function build(spec: FuzzCase, ctx: BuildContext): Built {
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

/** Keeps a delivered case, so a later replay case can send it again (as is, re-signed, …). */
export function remember(ctx: BuildContext, spec: FuzzCase, built: Built, expected: Expected): void {
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
