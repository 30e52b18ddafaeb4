// The VENDORS contract: a bad entry fails both `parseVendors` (what the CDK stack calls at
// synth) and `loadConfig` (Lambda start-up) with a message that names the vendor and the
// field; a good entry gets the documented defaults.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../lambda/config";
import { routeFor } from "../lambda/delivery";
import { parseVendors, type VendorConfig, VendorConfigError } from "../lambda/vendors";

function env(vendors: unknown): Record<string, string> {
  return {
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: "opscom-permit-relay/opscom-token",
    VENDORS: typeof vendors === "string" ? vendors : JSON.stringify(vendors),
  };
}

const hmac = { scheme: "hmac", header: "X-Signature" };

describe("invalid vendor configurations fail at synth and at start-up, naming vendor and field", () => {
  it.each<[string, unknown, RegExp]>([
    ["an id with capitals", [{ id: "Acme" }], /\[0\]: field "id" must be 1-64 of \[a-z0-9-\], got "Acme"/],
    ["an id with an underscore", [{ id: "acme_1" }], /field "id" must be 1-64 of \[a-z0-9-\], got "acme_1"/],
    ["an id over 64 characters", [{ id: "a".repeat(65) }], /field "id" must be 1-64/],
    ["a missing id", [{ signature: {} }], /\[0\]: field "id" must be 1-64 of \[a-z0-9-\], got undefined/],
    ["the second entry's id", [{ id: "acme" }, { id: 7 }], /\[1\]: field "id" .* got 7/],
    [
      "a duplicate id",
      [{ id: "acme" }, { id: "beta" }, { id: "acme" }],
      /vendor "acme" is listed twice \(field "id"\)/,
    ],
    [
      "an unknown field",
      [{ id: "acme", allowedIps: [] }],
      /vendor "acme": field "allowedIps" is not a known field/,
    ],
    [
      "an unknown scheme",
      [{ id: "acme", signature: { scheme: "ed25519" } }],
      /vendor "acme": field "signature.scheme" must be "standard-webhooks" or "hmac", got "ed25519"/,
    ],
    [
      "a signature that is not an object",
      [{ id: "acme", signature: "hmac" }],
      /vendor "acme": field "signature" must be an object/,
    ],
    [
      "hmac options on standard-webhooks",
      [{ id: "acme", signature: { scheme: "standard-webhooks", header: "x" } }],
      /vendor "acme": field "signature.header" is not a known field/,
    ],
    [
      "an unknown hmac option",
      [{ id: "acme", signature: { ...hmac, secret: "s" } }],
      /vendor "acme": field "signature.secret" is not a known field/,
    ],
    [
      "hmac without a header",
      [{ id: "acme", signature: { scheme: "hmac" } }],
      /vendor "acme": field "signature.header" must be an HTTP header name/,
    ],
    [
      "a header name with a space",
      [{ id: "acme", signature: { scheme: "hmac", header: "X Sig" } }],
      /vendor "acme": field "signature.header" must be an HTTP header name/,
    ],
    [
      "an unknown algorithm",
      [{ id: "acme", signature: { ...hmac, algorithm: "md5" } }],
      /vendor "acme": field "signature.algorithm" must be "sha256" or "sha512"/,
    ],
    [
      "an unknown encoding",
      [{ id: "acme", signature: { ...hmac, encoding: "base32" } }],
      /vendor "acme": field "signature.encoding" must be "hex" or "base64"/,
    ],
    [
      "a prefix over 32 characters",
      [{ id: "acme", signature: { ...hmac, prefix: "x".repeat(33) } }],
      /vendor "acme": field "signature.prefix" must be a string of at most 32/,
    ],
    [
      "a bad timestamp header",
      [{ id: "acme", signature: { ...hmac, timestampHeader: "x:ts" } }],
      /vendor "acme": field "signature.timestampHeader" must be an HTTP header name/,
    ],
    [
      "a bad id header",
      [{ id: "acme", signature: { ...hmac, idHeader: "" } }],
      /vendor "acme": field "signature.idHeader" must be an HTTP header name/,
    ],
    [
      "a template with {id} but no idHeader",
      [{ id: "acme", signature: { ...hmac, signedContent: "{id}.{body}" } }],
      /vendor "acme": field "signature.signedContent" uses \{id\} but signature.idHeader is not set/,
    ],
    [
      "a template with {timestamp} but no timestampHeader",
      [{ id: "acme", signature: { ...hmac, idHeader: "x-id", signedContent: "{timestamp}.{body}" } }],
      /vendor "acme": field "signature.signedContent" uses \{timestamp\} but signature.timestampHeader is not set/,
    ],
    [
      "a timestamp header the signature does not cover (no replay protection)",
      [{ id: "acme", signature: { ...hmac, timestampHeader: "X-Timestamp" } }],
      /vendor "acme": field "signature.timestampHeader" is not signed: add \{timestamp\} to signature.signedContent \(e.g. "\{timestamp\}.\{body\}"\)/,
    ],
    [
      "a template without {body}",
      [{ id: "acme", signature: { ...hmac, timestampHeader: "x-ts", signedContent: "{timestamp}" } }],
      /vendor "acme": field "signature.signedContent" must be a template that includes \{body\}/,
    ],
    [
      "a template with an unknown placeholder",
      [{ id: "acme", signature: { ...hmac, signedContent: "{nonce}.{body}" } }],
      /vendor "acme": field "signature.signedContent" has unknown placeholder \{nonce\}/,
    ],
    [
      "a pointer without a leading slash",
      [{ id: "acme", event: { referenceIdPointer: "data/id" } }],
      /vendor "acme": field "event.referenceIdPointer" must be an RFC 6901 JSON Pointer such as "\/data\/id", got "data\/id"/,
    ],
    [
      "a pointer with a bad ~ escape",
      [{ id: "acme", event: { typePointer: "/meta/a~2b" } }],
      /vendor "acme": field "event.typePointer" must be an RFC 6901 JSON Pointer/,
    ],
    [
      "a pointer that is not a string",
      [{ id: "acme", event: { referenceIdPointer: 3 } }],
      /vendor "acme": field "event.referenceIdPointer" must be an RFC 6901 JSON Pointer .* got 3/,
    ],
    [
      "empty deleteTypes",
      [{ id: "acme", event: { deleteTypes: [] } }],
      /vendor "acme": field "event.deleteTypes" must be a non-empty array/,
    ],
    [
      "an unknown event option",
      [{ id: "acme", event: { typePath: "/type" } }],
      /vendor "acme": field "event.typePath" is not a known field/,
    ],
    [
      "a bad client code",
      [{ id: "acme", opscom: { clientCode: "OC TOMA" } }],
      /vendor "acme": field "opscom.clientCode" must be 1-64 of \[A-Za-z0-9-\]/,
    ],
    [
      "a bad token secret id",
      [{ id: "acme", opscom: { tokenSecretId: "has spaces" } }],
      /vendor "acme": field "opscom.tokenSecretId" must be a secret name or ARN/,
    ],
    [
      "an unknown opscom option",
      [{ id: "acme", opscom: { token: "t" } }],
      /vendor "acme": field "opscom.token" is not a known field/,
    ],
    [
      "a prefix length over 32",
      [{ id: "acme", allowedSourceCidrs: ["203.0.113.0/24", "10.0.0.0/33"] }],
      /vendor "acme": field "allowedSourceCidrs\[1\]" is not an IPv4 or IPv6 CIDR block: "10.0.0.0\/33"/,
    ],
    [
      "an IPv6 prefix over 128",
      [{ id: "acme", allowedSourceCidrs: ["2001:db8::/129"] }],
      /vendor "acme": field "allowedSourceCidrs\[0\]" is not an IPv4 or IPv6 CIDR block/,
    ],
    [
      "an address that is not one",
      [{ id: "acme", allowedSourceCidrs: ["300.1.2.3/8"] }],
      /vendor "acme": field "allowedSourceCidrs\[0\]"/,
    ],
    [
      "a host name",
      [{ id: "acme", allowedSourceCidrs: ["vendor.example.com"] }],
      /vendor "acme": field "allowedSourceCidrs\[0\]"/,
    ],
    [
      "an empty allow-list",
      [{ id: "acme", allowedSourceCidrs: [] }],
      /vendor "acme": field "allowedSourceCidrs" must be a non-empty array of CIDR blocks/,
    ],
  ])("%s", (_, vendors, message) => {
    expect(() => parseVendors(vendors, "VENDORS")).toThrow(VendorConfigError);
    expect(() => parseVendors(vendors, "VENDORS")).toThrow(message);
    // Start-up: the same message, under the variable's name.
    expect(() => loadConfig(env(vendors))).toThrow(ConfigError);
    expect(() => loadConfig(env(vendors))).toThrow(message);
    expect(() => loadConfig(env(vendors))).toThrow(/^VENDORS\b/);
  });

  it.each<[string, string, RegExp]>([
    ["not JSON", "[{id:acme}]", /VENDORS must be a JSON array of vendors; it is not valid JSON/],
    ["an empty array", "[]", /VENDORS must be a non-empty JSON array of vendors/],
    ["an object, not an array", '{"id":"acme"}', /VENDORS must be a non-empty JSON array/],
    ["an entry that is not an object", '["acme"]', /VENDORS\[0\] must be an object with an "id"/],
  ])("rejects a VENDORS value that is %s", (_, value, message) => {
    expect(() => parseVendors(value, "VENDORS")).toThrow(message);
    expect(() => loadConfig(env(value))).toThrow(ConfigError);
  });

  // BUG (lambda/vendors.ts, parseCidr: `isIP(address)` accepts a zone index): "fe80::1%eth0/64"
  // passes validation, so synth succeeds and the bad block reaches the REST API's resource policy
  // (aws:SourceIp takes no zone index) and the runtime allow-list. Expected: refused like any
  // other malformed block, naming vendor "acme" and field "allowedSourceCidrs[0]".
  it("refuses an IPv6 block with a zone index", () => {
    const vendors = [{ id: "acme", allowedSourceCidrs: ["fe80::1%eth0/64"] }];
    expect(() => parseVendors(vendors, "VENDORS")).toThrow(/vendor "acme": field "allowedSourceCidrs\[0\]"/);
  });

  it("names where the list came from, e.g. the CDK context", () => {
    expect(() => parseVendors([{ id: "acme" }, { id: "acme" }], 'context "vendors"')).toThrow(
      /^context "vendors": vendor "acme" is listed twice/,
    );
  });

  it("reports a missing VENDORS by name", () => {
    const { VENDORS: _unused, ...rest } = env([{ id: "acme" }]);
    expect(() => loadConfig(rest)).toThrow(/VENDORS is required but not set/);
  });
});

describe("valid vendor configurations get the documented defaults", () => {
  const one = (entry: unknown): VendorConfig => parseVendors([entry], "VENDORS")[0] as VendorConfig;

  it("defaults a bare id to Standard Webhooks, the canonical event, the relay's OPS-COM client and no allow-list", () => {
    expect(one({ id: "acme" })).toEqual({
      id: "acme",
      signature: { scheme: "standard-webhooks" },
      event: { typePointer: "/type", deleteTypes: ["permit.deleted"] },
      opscom: {},
    });
  });

  it("reads an empty signature object as Standard Webhooks", () => {
    expect(one({ id: "acme", signature: {} }).signature).toEqual({ scheme: "standard-webhooks" });
  });

  it("defaults an hmac scheme to sha256, hex, no prefix and the raw body, with lower-case header names", () => {
    expect(one({ id: "gh", signature: { scheme: "hmac", header: "X-Hub-Signature-256" } }).signature).toEqual(
      {
        scheme: "hmac",
        header: "x-hub-signature-256",
        algorithm: "sha256",
        encoding: "hex",
        prefix: "",
        signedContent: "{body}",
      },
    );
  });

  it("keeps every hmac option it is given", () => {
    const signature = {
      scheme: "hmac",
      header: "X-Signature",
      algorithm: "sha512",
      encoding: "base64",
      prefix: "v1=",
      timestampHeader: "X-Timestamp",
      idHeader: "X-Webhook-Id",
      signedContent: "{id}.{timestamp}.{body}",
    };
    expect(one({ id: "acme", signature }).signature).toEqual({
      ...signature,
      header: "x-signature",
      timestampHeader: "x-timestamp",
      idHeader: "x-webhook-id",
    });
  });

  it("fills the event mapping's missing parts and keeps typePointer null", () => {
    expect(one({ id: "acme", event: { deleteTypes: ["cancelled"] } }).event).toEqual({
      typePointer: "/type",
      deleteTypes: ["cancelled"],
    });
    expect(
      one({ id: "acme", event: { typePointer: null, referenceIdPointer: "/items/0/ref" } }).event,
    ).toEqual({
      typePointer: null,
      referenceIdPointer: "/items/0/ref",
      deleteTypes: ["permit.deleted"],
    });
    expect(one({ id: "acme", event: { typePointer: "/a~1b/c~0d" } }).event.typePointer).toBe("/a~1b/c~0d");
  });

  it("takes IPv4 and IPv6 blocks and bare addresses", () => {
    const cidrs = ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "::1"];
    expect(one({ id: "acme", allowedSourceCidrs: cidrs }).allowedSourceCidrs).toEqual(cidrs);
  });

  it("routes to the relay's OPS-COM client unless the vendor names its own, field by field", () => {
    const config = loadConfig(
      env([
        { id: "plain" },
        {
          id: "own",
          opscom: { clientCode: "OC-ACME", tokenSecretId: "arn:aws:secretsmanager:us-east-1:1:secret:t" },
        },
        { id: "half", opscom: { clientCode: "OC-HALF" } },
      ]),
    );
    const route = (id: string) => routeFor(config.vendors.get(id) as VendorConfig, config);
    expect(route("plain")).toEqual({
      clientCode: "OC-TOMA",
      tokenSecretId: "opscom-permit-relay/opscom-token",
    });
    expect(route("own")).toEqual({
      clientCode: "OC-ACME",
      tokenSecretId: "arn:aws:secretsmanager:us-east-1:1:secret:t",
    });
    expect(route("half")).toEqual({
      clientCode: "OC-HALF",
      tokenSecretId: "opscom-permit-relay/opscom-token",
    });
  });

  it("loads several vendors at start-up, keyed by id, with the default secret prefix", () => {
    const config = loadConfig(env([{ id: "acme" }, { id: "beta", signature: hmac }]));
    expect([...config.vendors.keys()]).toEqual(["acme", "beta"]);
    expect(config.vendors.get("beta")?.signature.scheme).toBe("hmac");
    expect(config.vendorSecretPrefix).toBe("opscom-permit-relay/vendors/");
  });
});
