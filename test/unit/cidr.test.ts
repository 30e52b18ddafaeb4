// Source allow-lists and JSON Pointer validation from the VENDORS contract.
import { describe, expect, it } from "vitest";
import { isJsonPointer, parseCidr, sourceMatcher } from "../../lambda/vendors";

describe("parseCidr", () => {
  it.each([
    ["203.0.113.0/24", { address: "203.0.113.0", prefix: 24, family: "ipv4" }],
    ["0.0.0.0/0", { address: "0.0.0.0", prefix: 0, family: "ipv4" }],
    ["203.0.113.7/32", { address: "203.0.113.7", prefix: 32, family: "ipv4" }],
    ["203.0.113.7", { address: "203.0.113.7", prefix: 32, family: "ipv4" }],
    ["2001:db8::/32", { address: "2001:db8::", prefix: 32, family: "ipv6" }],
    ["::/0", { address: "::", prefix: 0, family: "ipv6" }],
    ["2001:db8::1/128", { address: "2001:db8::1", prefix: 128, family: "ipv6" }],
    ["2001:db8::1", { address: "2001:db8::1", prefix: 128, family: "ipv6" }],
    ["::ffff:203.0.113.0/120", { address: "::ffff:203.0.113.0", prefix: 120, family: "ipv6" }],
  ])("parses %s", (cidr, expected) => {
    expect(parseCidr(cidr)).toEqual(expected);
  });

  it.each([
    ["an IPv4 prefix over 32", "203.0.113.0/33"],
    ["an IPv6 prefix over 128", "2001:db8::/129"],
    ["a negative prefix", "203.0.113.0/-1"],
    ["an empty prefix", "203.0.113.0/"],
    ["a non-numeric prefix", "203.0.113.0/abc"],
    ["a four-digit prefix", "2001:db8::/0128"],
    ["a second slash", "203.0.113.0/24/8"],
    ["an octet over 255", "203.0.113.256/24"],
    ["three octets", "203.0.113/24"],
    ["a host name", "example.com/24"],
    ["an empty string", ""],
    ["a triple colon", "2001:db8:::1/64"],
  ])("refuses %s", (_what, cidr) => {
    expect(parseCidr(cidr)).toBeUndefined();
  });
});

describe("sourceMatcher", () => {
  const matches = sourceMatcher(["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]);

  it.each([
    ["an IPv4 address inside a block", "203.0.113.200"],
    ["the first address of a block", "203.0.113.0"],
    ["the last address of a block", "203.0.113.255"],
    ["a bare allowed address", "198.51.100.7"],
    ["an IPv6 address inside a block", "2001:db8:abcd::1"],
    ["the last IPv6 address of a block", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
  ])("allows %s", (_what, ip) => {
    expect(matches(ip)).toBe(true);
  });

  it.each([
    ["an IPv4 address just outside a block", "203.0.114.0"],
    ["the neighbour of a bare address", "198.51.100.8"],
    ["an IPv6 address outside the block", "2001:db9::1"],
    ["an IPv4-mapped address outside every block", "::ffff:192.0.2.1"],
    // As the gateway's aws:SourceIp policy sees them: IPv6 addresses no IPv4 block covers.
    ["an IPv4-mapped IPv6 address of an allowed IPv4 host", "::ffff:203.0.113.9"],
    ["an IPv4-mapped IPv6 address in capitals", "::FFFF:203.0.113.9"],
    ["an IPv4-mapped IPv6 address in hex", "::ffff:cb00:7109"],
    ["an IPv4-mapped IPv6 address written out", "0:0:0:0:0:ffff:cb00:7109"],
    ["an allowed IPv6 address with a zone index", "2001:db8::1%eth0"],
    ["something that is not an address", "not-an-ip"],
    ["an empty string", ""],
    ["an address with a port", "203.0.113.9:443"],
  ])("refuses %s", (_what, ip) => {
    expect(matches(ip)).toBe(false);
  });

  it("refuses everything with an empty list", () => {
    expect(sourceMatcher([])("203.0.113.9")).toBe(false);
  });

  it("skips malformed entries but keeps the good ones", () => {
    const m = sourceMatcher(["not-a-cidr", "10.0.0.0/33", "192.0.2.0/24"]);
    expect([m("192.0.2.1"), m("10.0.0.1")]).toEqual([true, false]);
  });

  it("allows every IPv4 source with 0.0.0.0/0 but no IPv6 source, mapped ones included", () => {
    const m = sourceMatcher(["0.0.0.0/0"]);
    expect([m("192.0.2.1"), m("::ffff:192.0.2.1"), m("2001:db8::1")]).toEqual([true, false, false]);
  });

  it("allows every IPv6 source with ::/0 but no IPv4 source", () => {
    const m = sourceMatcher(["::/0"]);
    expect([m("::"), m("::ffff:192.0.2.1"), m("2001:db8::1"), m("192.0.2.1")]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it("matches an IPv4-mapped block against mapped sources only, however they are written", () => {
    const m = sourceMatcher(["::ffff:203.0.113.0/120"]);
    expect([
      m("::ffff:203.0.113.9"),
      m("::ffff:cb00:7109"),
      m("::ffff:203.0.114.9"),
      m("203.0.113.9"),
    ]).toEqual([true, true, false, false]);
  });
});

describe("isJsonPointer", () => {
  it.each(["", "/", "/type", "/data/referenceID", "/a~0b", "/a~1b", "/a/0", "/~01"])(
    "accepts %j",
    (pointer) => {
      expect(isJsonPointer(pointer)).toBe(true);
    },
  );

  it.each(["type", "data/referenceID", "#/type", "/a~2b", "/a~", "/~/x"])("refuses %j", (pointer) => {
    expect(isJsonPointer(pointer)).toBe(false);
  });
});
