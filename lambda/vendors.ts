// The VENDORS contract: who may post, how they sign, what their payload looks like and
// which OPS-COM client they delete from. Pure code, shared by the Lambda start-up and the
// CDK stack, so a bad entry fails `cdk synth` with the same message it would give at start-up.
import { isIP } from "node:net";

export type HmacAlgorithm = "sha256" | "sha512";
export type SignatureEncoding = "hex" | "base64";

export interface StandardWebhooksScheme {
  readonly scheme: "standard-webhooks";
}

export interface HmacScheme {
  readonly scheme: "hmac";
  /** Header that carries the signature, lower-case. */
  readonly header: string;
  readonly algorithm: HmacAlgorithm;
  readonly encoding: SignatureEncoding;
  /** Text before the signature in the header, e.g. `sha256=`. */
  readonly prefix: string;
  /** When set, the header's Unix-seconds timestamp must be within the tolerance. */
  readonly timestampHeader?: string;
  /**
   * The sender's event id. It is the idempotency key only when `signedContent` covers `{id}`;
   * otherwise the SHA-256 of the body is, and the header is kept for logs.
   */
  readonly idHeader?: string;
  /** Template over `{id}`, `{timestamp}` and `{body}`. */
  readonly signedContent: string;
}

export type SignatureScheme = StandardWebhooksScheme | HmacScheme;

export interface EventMapping {
  /** JSON Pointer to the event type; `null` means every event is a delete. */
  readonly typePointer: string | null;
  /** JSON Pointer to the reference ID; absent means OPS-COM's aliases under /data, then at the top. */
  readonly referenceIdPointer?: string;
  readonly deleteTypes: readonly string[];
}

export interface VendorRoute {
  readonly clientCode?: string;
  readonly tokenSecretId?: string;
}

export interface VendorConfig {
  readonly id: string;
  readonly signature: SignatureScheme;
  readonly event: EventMapping;
  readonly opscom: VendorRoute;
  readonly allowedSourceCidrs?: readonly string[];
}

export const VENDOR_ID_PATTERN = /^[a-z0-9-]{1,64}$/;
export const CLIENT_CODE_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
const HEADER_NAME_PATTERN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const DEFAULT_EVENT: EventMapping = { typePointer: "/type", deleteTypes: ["permit.deleted"] };

export class VendorConfigError extends Error {
  override readonly name = "VendorConfigError";
}

/**
 * Parses and validates the VENDORS value (an array, or a JSON string of one).
 * `source` names where it came from (`VENDORS`, `context "vendors"`) for the error message.
 */
export function parseVendors(value: unknown, source: string): VendorConfig[] {
  let list = value;
  if (typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch {
      throw new VendorConfigError(`${source} must be a JSON array of vendors; it is not valid JSON`);
    }
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new VendorConfigError(`${source} must be a non-empty JSON array of vendors, e.g. [{"id":"acme"}]`);
  }
  const seen = new Set<string>();
  return list.map((entry, index) => {
    const vendor = parseVendor(entry, `${source}[${index}]`);
    if (seen.has(vendor.id)) {
      throw new VendorConfigError(`${source}: vendor "${vendor.id}" is listed twice (field "id")`);
    }
    seen.add(vendor.id);
    return vendor;
  });
}

function parseVendor(entry: unknown, where: string): VendorConfig {
  if (!isObject(entry)) throw new VendorConfigError(`${where} must be an object with an "id"`);
  const id = entry.id;
  if (typeof id !== "string" || !VENDOR_ID_PATTERN.test(id)) {
    throw new VendorConfigError(`${where}: field "id" must be 1-64 of [a-z0-9-], got ${JSON.stringify(id)}`);
  }
  const fail = (field: string, rule: string): never => {
    throw new VendorConfigError(`vendor "${id}": field "${field}" ${rule}`);
  };
  allowOnly(entry, ["id", "signature", "event", "opscom", "allowedSourceCidrs"], "", fail);
  return {
    id,
    signature: parseSignature(entry.signature, fail),
    event: parseEvent(entry.event, fail),
    opscom: parseRoute(entry.opscom, fail),
    ...(entry.allowedSourceCidrs === undefined
      ? {}
      : { allowedSourceCidrs: parseCidrs(entry.allowedSourceCidrs, fail) }),
  };
}

type Fail = (field: string, rule: string) => never;

function parseSignature(value: unknown, fail: Fail): SignatureScheme {
  if (value === undefined) return { scheme: "standard-webhooks" };
  if (!isObject(value)) return fail("signature", "must be an object");
  if (value.scheme === "standard-webhooks" || value.scheme === undefined) {
    allowOnly(value, ["scheme"], "signature.", fail);
    return { scheme: "standard-webhooks" };
  }
  if (value.scheme !== "hmac") {
    return fail(
      "signature.scheme",
      `must be "standard-webhooks" or "hmac", got ${JSON.stringify(value.scheme)}`,
    );
  }
  allowOnly(
    value,
    ["scheme", "header", "algorithm", "encoding", "prefix", "timestampHeader", "idHeader", "signedContent"],
    "signature.",
    fail,
  );
  const header = headerName(value.header, "signature.header", true, fail) as string;
  const algorithm = value.algorithm ?? "sha256";
  if (algorithm !== "sha256" && algorithm !== "sha512")
    fail("signature.algorithm", 'must be "sha256" or "sha512"');
  const encoding = value.encoding ?? "hex";
  if (encoding !== "hex" && encoding !== "base64") fail("signature.encoding", 'must be "hex" or "base64"');
  const prefix = value.prefix ?? "";
  if (typeof prefix !== "string" || prefix.length > 32)
    fail("signature.prefix", "must be a string of at most 32 characters");
  const timestampHeader = headerName(value.timestampHeader, "signature.timestampHeader", false, fail);
  const idHeader = headerName(value.idHeader, "signature.idHeader", false, fail);
  const signedContent = value.signedContent ?? "{body}";
  if (typeof signedContent !== "string" || !signedContent.includes("{body}")) {
    fail("signature.signedContent", "must be a template that includes {body}");
  }
  const placeholders = (signedContent as string).match(/\{[^}]*\}/g) ?? [];
  for (const p of placeholders) {
    if (p !== "{id}" && p !== "{timestamp}" && p !== "{body}") {
      fail("signature.signedContent", `has unknown placeholder ${p}; use {id}, {timestamp} and {body}`);
    }
  }
  if ((signedContent as string).includes("{id}") && !idHeader) {
    fail("signature.signedContent", "uses {id} but signature.idHeader is not set");
  }
  if ((signedContent as string).includes("{timestamp}") && !timestampHeader) {
    fail("signature.signedContent", "uses {timestamp} but signature.timestampHeader is not set");
  }
  // A timestamp outside the signature can be refreshed on a captured request, so checking it
  // would promise a replay window it does not give.
  if (timestampHeader && !(signedContent as string).includes("{timestamp}")) {
    fail(
      "signature.timestampHeader",
      'is not signed: add {timestamp} to signature.signedContent (e.g. "{timestamp}.{body}")',
    );
  }
  return {
    scheme: "hmac",
    header,
    algorithm: algorithm as HmacAlgorithm,
    encoding: encoding as SignatureEncoding,
    prefix: prefix as string,
    signedContent: signedContent as string,
    ...(timestampHeader ? { timestampHeader } : {}),
    ...(idHeader ? { idHeader } : {}),
  };
}

function parseEvent(value: unknown, fail: Fail): EventMapping {
  if (value === undefined) return DEFAULT_EVENT;
  if (!isObject(value)) return fail("event", "must be an object");
  allowOnly(value, ["typePointer", "referenceIdPointer", "deleteTypes"], "event.", fail);
  const typePointer = value.typePointer === undefined ? DEFAULT_EVENT.typePointer : value.typePointer;
  if (typePointer !== null) pointer(typePointer, "event.typePointer", fail);
  if (value.referenceIdPointer !== undefined)
    pointer(value.referenceIdPointer, "event.referenceIdPointer", fail);
  const deleteTypes = value.deleteTypes ?? DEFAULT_EVENT.deleteTypes;
  if (
    !Array.isArray(deleteTypes) ||
    deleteTypes.length === 0 ||
    !deleteTypes.every((t) => typeof t === "string" && t.length > 0)
  ) {
    fail("event.deleteTypes", "must be a non-empty array of event type names");
  }
  return {
    typePointer: typePointer as string | null,
    deleteTypes: deleteTypes as string[],
    ...(value.referenceIdPointer === undefined
      ? {}
      : { referenceIdPointer: value.referenceIdPointer as string }),
  };
}

function parseRoute(value: unknown, fail: Fail): VendorRoute {
  if (value === undefined) return {};
  if (!isObject(value)) return fail("opscom", "must be an object");
  allowOnly(value, ["clientCode", "tokenSecretId"], "opscom.", fail);
  const route: { clientCode?: string; tokenSecretId?: string } = {};
  if (value.clientCode !== undefined) {
    if (typeof value.clientCode !== "string" || !CLIENT_CODE_PATTERN.test(value.clientCode)) {
      fail("opscom.clientCode", "must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA");
    }
    route.clientCode = value.clientCode as string;
  }
  if (value.tokenSecretId !== undefined) {
    if (
      typeof value.tokenSecretId !== "string" ||
      !/^[A-Za-z0-9/_+=.@:-]{1,2048}$/.test(value.tokenSecretId)
    ) {
      fail("opscom.tokenSecretId", "must be a secret name or ARN");
    }
    route.tokenSecretId = value.tokenSecretId as string;
  }
  return route;
}

function parseCidrs(value: unknown, fail: Fail): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    return fail("allowedSourceCidrs", "must be a non-empty array of CIDR blocks");
  }
  return value.map((cidr, i) => {
    if (typeof cidr !== "string" || parseCidr(cidr) === undefined) {
      return fail(`allowedSourceCidrs[${i}]`, `is not an IPv4 or IPv6 CIDR block: ${JSON.stringify(cidr)}`);
    }
    return cidr;
  });
}

/** `203.0.113.0/24` → its parts; `undefined` when malformed. A bare address is a /32 or /128. */
export function parseCidr(
  cidr: string,
): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  // A zone index (`fe80::1%eth0`) means nothing to AWS's aws:SourceIp, so it is refused.
  if (cidr.includes("%")) return undefined;
  const [address, bits, extra] = cidr.split("/");
  const version = isIP(address ?? "");
  if (extra !== undefined || version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  return { address: address as string, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/**
 * Builds a matcher for a vendor's allow-list with the semantics of the gateway's resource
 * policy (IAM's `IpAddress` on `aws:SourceIp`): an address matches a block of its own family,
 * bit for bit. The policy is the gate every deployed request passes first, and this check
 * must be no wider than it. So an IPv4-mapped IPv6 source (`::ffff:203.0.113.7`) is an IPv6
 * address that no IPv4 block covers: it never arrives from the Internet (RFC 4291 §2.5.5.2;
 * API Gateway reports IPv4 clients as dotted IPv4), and accepting it here would let a direct
 * invocation through that the gateway denies. Node's `BlockList` maps such addresses to IPv4
 * and ignores zone indexes, hence this explicit comparison.
 */
export function sourceMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const blocks = cidrs.flatMap((cidr) => {
    const parsed = parseCidr(cidr);
    const network = parsed && addressBits(parsed.address);
    if (!parsed || !network) return [];
    const shift = BigInt(network.width - parsed.prefix);
    return [{ width: network.width, shift, prefix: network.value >> shift }];
  });
  return (ip) => {
    const address = addressBits(ip);
    return (
      address !== undefined &&
      blocks.some((b) => b.width === address.width && address.value >> b.shift === b.prefix)
    );
  };
}

/** An IPv4 or IPv6 address as a number of its width; undefined for anything else (zone indexes too). */
function addressBits(ip: string): { value: bigint; width: 32 | 128 } | undefined {
  if (ip.includes("%")) return undefined;
  const version = isIP(ip);
  if (version === 4) {
    return { value: ip.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n), width: 32 };
  }
  if (version !== 6) return undefined;
  // A trailing dotted quad (`::ffff:203.0.113.7`) stands for the last two groups.
  const dotted = /[^:]+\.[^:]+$/.exec(ip)?.[0];
  const tail = dotted ? addressBits(dotted)?.value : undefined;
  const text =
    dotted && tail !== undefined
      ? `${ip.slice(0, -dotted.length)}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`
      : ip;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const [head = "", rest] = text.split("::");
  const all =
    rest === undefined
      ? groups(head)
      : [...groups(head), ...Array(8 - groups(head).length - groups(rest).length).fill("0"), ...groups(rest)];
  return { value: all.reduce((acc, group) => (acc << 16n) | BigInt(`0x${group}`), 0n), width: 128 };
}

function pointer(value: unknown, field: string, fail: Fail): void {
  if (typeof value !== "string" || !isJsonPointer(value)) {
    fail(field, `must be an RFC 6901 JSON Pointer such as "/data/id", got ${JSON.stringify(value)}`);
  }
}

export function isJsonPointer(value: string): boolean {
  return value === "" || (value.startsWith("/") && !/~(?![01])/.test(value));
}

function headerName(value: unknown, field: string, required: boolean, fail: Fail): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string" || !HEADER_NAME_PATTERN.test(value)) {
    return fail(field, "must be an HTTP header name");
  }
  return value.toLowerCase();
}

function allowOnly(obj: Record<string, unknown>, keys: string[], prefix: string, fail: Fail): void {
  for (const key of Object.keys(obj)) {
    if (!keys.includes(key))
      fail(`${prefix}${key}`, `is not a known field; expected one of ${keys.join(", ")}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
