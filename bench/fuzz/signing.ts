// The signature headers for one case: correct, stale, tampered, from the wrong secret, in the
// wrong spelling, … for the Standard Webhooks vendors and the GitHub-style HMAC vendor alike.

import { createHash } from "node:crypto";
import {
  type FuzzSecrets,
  HUB_HEADER,
  hubSignature,
  standardSignature,
  type VendorId,
} from "../../testkit/contract/world";
import type { IdKind, SigningSpec } from "./generators";

/** What signing needs of the case being built: the clock, the secrets, and what makes ids unique. */
export interface SigningContext {
  readonly secrets: FuzzSecrets;
  readonly nowSeconds: () => number;
  readonly seed: number;
  readonly counter: number;
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

/** The signature headers for one vendor, one body and one spec; `undefined` values are left out. */
export function signingHeaders(
  spec: SigningSpec,
  vendor: VendorId,
  raw: Buffer,
  ctx: SigningContext,
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
