// The fuzz run's world: the vendors the relay is configured with, where requests may come from,
// and the secrets both sides sign with. Everything is derived from the seed, so a run replays
// exactly. The oracle, the generators and the passes all read it; it imports nothing of the relay.

import { createHash, createHmac } from "node:crypto";

export const MAX_BODY_BYTES = 65_536;
export const TOLERANCE_SECONDS = 300;
export const TOKEN_SECRET_ID = "fuzz/opscom-token";
export const VENDOR_PREFIX = "opscom-permit-relay/vendors/";
export const HUB_HEADER = "x-hub-signature-256";

/** Three vendors: the default scheme, a GitHub-style HMAC vendor on its own client code, an allow-listed one. */
export const FUZZ_VENDORS = [
  { id: "acme" },
  {
    id: "hubco",
    signature: {
      scheme: "hmac",
      header: "X-Hub-Signature-256",
      algorithm: "sha256",
      encoding: "hex",
      prefix: "sha256=",
    },
    opscom: { clientCode: "OC-HUB" },
  },
  { id: "fenced", allowedSourceCidrs: ["203.0.113.0/24", "2001:db8::/32"] },
] as const;
export type VendorId = (typeof FUZZ_VENDORS)[number]["id"];
export const VENDOR_IDS: ReadonlySet<string> = new Set(FUZZ_VENDORS.map((v) => v.id));
export const CLIENT_CODE: Record<VendorId, string> = { acme: "OC-TOMA", hubco: "OC-HUB", fenced: "OC-TOMA" };
export const FUZZ_CLIENT_CODES = ["OC-TOMA", "OC-HUB"];

/** Source addresses with whether the `fenced` vendor's allow-list takes them (written by hand). */
export const SOURCES: readonly (readonly [string, boolean])[] = [
  ["198.51.100.7", false],
  ["203.0.113.7", true],
  ["203.0.113.0", true],
  ["203.0.113.255", true],
  ["203.0.114.1", false],
  ["2001:db8::1", true],
  ["2001:db8:ffff:ffff::1", true],
  ["2001:db9::1", false],
  ["::ffff:203.0.113.9", false],
  ["::ffff:198.51.100.9", false],
  ["", false],
  ["not-an-ip", false],
  ["203.0.113.256", false],
  [" 203.0.113.7", false],
  ["::1", false],
  ["127.0.0.1", false],
];
export const INSIDE_FENCE = new Map(SOURCES);

export interface FuzzSecrets {
  readonly token: string;
  readonly vendor: Readonly<Record<VendorId, string>>;
}

/** Derived from the seed, so a run can be replayed exactly. */
export function fuzzSecrets(seed: number): FuzzSecrets {
  const bytes = (label: string, n: number) =>
    createHash("sha256").update(`fuzz:${seed}:${label}`).digest().subarray(0, n);
  return {
    token: `FUZZTOKEN-${bytes("token", 16).toString("hex")}`,
    vendor: {
      acme: `whsec_${bytes("acme", 24).toString("base64")}`,
      hubco: `hub_${bytes("hubco", 20).toString("hex")}`,
      fenced: `whsec_${bytes("fenced", 24).toString("base64")}`,
    },
  };
}

/** Every form a secret could leak in: as configured, its base64 body, its key bytes in hex. */
export function secretNeedles(secrets: FuzzSecrets): string[] {
  const needles = [secrets.token];
  for (const secret of Object.values(secrets.vendor)) {
    needles.push(secret);
    if (secret.startsWith("whsec_")) {
      needles.push(secret.slice(6), Buffer.from(secret.slice(6), "base64").toString("hex"));
    }
  }
  return needles;
}

const standardKey = (secret: string) => Buffer.from(secret.replace(/^whsec_/, ""), "base64");
export const sha256hex = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A Standard Webhooks signature over the raw bytes as received (not their UTF-8 decoding). */
export function standardSignature(
  secret: string,
  id: string,
  timestamp: number | string,
  raw: Buffer,
): string {
  const mac = createHmac("sha256", standardKey(secret))
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), raw]))
    .digest("base64");
  return `v1,${mac}`;
}

export function hubSignature(secret: string, raw: Buffer): string {
  return createHmac("sha256", Buffer.from(secret)).update(raw).digest("hex");
}
