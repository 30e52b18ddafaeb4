// From a verified body to what the relay acts on: a delete, an ignored type, or which field is wrong.
import { describe, expect, it } from "vitest";
import { parseWebhookBody, REFERENCE_ALIASES, resolvePointer } from "../../lambda/event";
import type { EventMapping } from "../../lambda/vendors";

function mapping(overrides: Partial<EventMapping> = {}): EventMapping {
  return { typePointer: "/type", deleteTypes: ["permit.deleted"], ...overrides };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** The canonical body with `data` replaced; extra top-level fields merged in. */
function deleteEvent(data: unknown, top: Record<string, unknown> = {}): Buffer {
  return json({ type: "permit.deleted", data, ...top });
}

const REF = "1a9b5375-cb75-4c71-9939-eeae550b09ac";

describe("parseWebhookBody: where the reference ID is found", () => {
  it("reads the canonical body", () => {
    expect(parseWebhookBody(deleteEvent({ referenceID: REF }), mapping())).toEqual({
      kind: "delete",
      referenceId: REF,
      type: "permit.deleted",
    });
  });

  it.each(REFERENCE_ALIASES)("accepts the alias %s under /data", (alias) => {
    expect(parseWebhookBody(deleteEvent({ [alias]: REF }), mapping())).toMatchObject({
      kind: "delete",
      referenceId: REF,
    });
  });

  it.each(REFERENCE_ALIASES)("accepts the alias %s at the top level", (alias) => {
    expect(parseWebhookBody(json({ type: "permit.deleted", [alias]: REF }), mapping())).toMatchObject({
      kind: "delete",
      referenceId: REF,
    });
  });

  it("prefers /data over the top level", () => {
    const body = deleteEvent({ reference_id: "from-data" }, { referenceID: "from-top" });
    expect(parseWebhookBody(body, mapping())).toMatchObject({ referenceId: "from-data" });
  });

  it.each([
    [{ referenceID: "a", referenceid: "b", reference_id: "c" }, "a"],
    [{ referenceid: "b", reference_id: "c" }, "b"],
  ])("within one scope, takes the aliases in OPS-COM's order (%j)", (data, expected) => {
    expect(parseWebhookBody(deleteEvent(data), mapping())).toMatchObject({ referenceId: expected });
  });

  it("falls back to the top level when data is not an object", () => {
    expect(parseWebhookBody(deleteEvent([REF], { referenceid: REF }), mapping())).toMatchObject({
      referenceId: REF,
    });
  });

  it("does not replace an empty alias under /data with one at the top level", () => {
    expect(parseWebhookBody(deleteEvent({ referenceID: "" }, { referenceID: REF }), mapping())).toEqual({
      kind: "invalid",
      field: "data.referenceID",
      reason: "the reference ID is missing",
    });
  });

  it("follows referenceIdPointer instead of the aliases", () => {
    const body = json({ type: "permit.deleted", data: { referenceID: "alias" }, permit: { ref: "pointed" } });
    expect(parseWebhookBody(body, mapping({ referenceIdPointer: "/permit/ref" }))).toMatchObject({
      referenceId: "pointed",
    });
  });

  it.each([
    [0, "0"],
    [42, "42"],
    [Number.MAX_SAFE_INTEGER, String(Number.MAX_SAFE_INTEGER)],
  ])("accepts the number %d as the reference ID %s", (value, expected) => {
    expect(parseWebhookBody(deleteEvent({ referenceID: value }), mapping())).toMatchObject({
      kind: "delete",
      referenceId: expected,
    });
  });

  it.each([-1, 1.5, 2 ** 53, true, { id: REF }, [REF]])("refuses %j as the reference ID", (value) => {
    expect(parseWebhookBody(deleteEvent({ referenceID: value }), mapping())).toEqual({
      kind: "invalid",
      field: "data.referenceID",
      reason: "the reference ID must be 1-50 of [A-Za-z0-9-]",
    });
  });
});

describe("parseWebhookBody: the reference ID's shape", () => {
  it.each([
    ["1 character", "a"],
    ["50 characters", "a".repeat(50)],
    ["letters, digits and dashes", "Ab-09-zZ"],
  ])("accepts %s", (_what, referenceId) => {
    expect(parseWebhookBody(deleteEvent({ referenceID: referenceId }), mapping())).toMatchObject({
      kind: "delete",
      referenceId,
    });
  });

  it.each([
    ["51 characters", "a".repeat(51)],
    ["an underscore", "abc_def"],
    ["a space", "abc def"],
    ["a slash", "abc/def"],
    ["a dot", "abc.def"],
    ["a non-ASCII letter", "abcé"],
    ["a trailing newline", "abc\n"],
  ])("refuses %s", (_what, referenceId) => {
    expect(parseWebhookBody(deleteEvent({ referenceID: referenceId }), mapping())).toMatchObject({
      kind: "invalid",
      field: "data.referenceID",
      reason: "the reference ID must be 1-50 of [A-Za-z0-9-]",
    });
  });
});

describe("parseWebhookBody: event types", () => {
  it("ignores a type that is not a delete and says which", () => {
    expect(parseWebhookBody(json({ type: "permit.created", data: { referenceID: REF } }), mapping())).toEqual(
      {
        kind: "ignored",
        type: "permit.created",
      },
    );
  });

  it("ignores a non-delete type even when the body has no reference ID", () => {
    expect(parseWebhookBody(json({ type: "ping" }), mapping())).toEqual({ kind: "ignored", type: "ping" });
  });

  it("accepts any of several delete types", () => {
    const m = mapping({ deleteTypes: ["permit.deleted", "permit.cancelled"] });
    expect(parseWebhookBody(json({ type: "permit.cancelled", data: { referenceID: REF } }), m)).toMatchObject(
      {
        kind: "delete",
        type: "permit.cancelled",
      },
    );
  });

  it("compares types exactly", () => {
    expect(
      parseWebhookBody(json({ type: "Permit.Deleted", data: { referenceID: REF } }), mapping()),
    ).toMatchObject({
      kind: "ignored",
    });
  });

  it("treats every event as a delete when typePointer is null, and reports no type", () => {
    const result = parseWebhookBody(
      json({ type: "anything", data: { referenceID: REF } }),
      mapping({ typePointer: null }),
    );
    expect(result).toEqual({ kind: "delete", referenceId: REF });
  });

  it("reads the type from a nested pointer", () => {
    const m = mapping({ typePointer: "/meta/event" });
    expect(
      parseWebhookBody(json({ meta: { event: "permit.deleted" }, data: { referenceID: REF } }), m),
    ).toMatchObject({
      kind: "delete",
      type: "permit.deleted",
    });
  });
});

describe("parseWebhookBody: relay.ping, the connectivity check", () => {
  it.each<[string, Partial<EventMapping>, unknown]>([
    ["the canonical mapping", {}, { type: "relay.ping" }],
    [
      "a vendor whose events have no type field (typePointer: null)",
      { typePointer: null },
      { type: "relay.ping" },
    ],
    [
      "a vendor whose type lives elsewhere, by the top-level type",
      { typePointer: "/meta/event" },
      { type: "relay.ping" },
    ],
    [
      "a vendor whose type lives elsewhere, by its own pointer",
      { typePointer: "/meta/event" },
      { meta: { event: "relay.ping" } },
    ],
    [
      "a vendor that lists relay.ping among its delete types",
      { deleteTypes: ["relay.ping"] },
      { type: "relay.ping" },
    ],
  ])("is a ping for %s, without a reference ID", (_, overrides, body) => {
    expect(parseWebhookBody(json(body), mapping(overrides))).toEqual({ kind: "ping" });
  });

  it("is not a ping when relay.ping is only a nested value the vendor's pointer does not name", () => {
    expect(
      parseWebhookBody(
        json({ type: "permit.deleted", data: { referenceID: REF, type: "relay.ping" } }),
        mapping(),
      ),
    ).toEqual({
      kind: "delete",
      referenceId: REF,
      type: "permit.deleted",
    });
  });

  it("still refuses a body that is not a JSON object", () => {
    expect(parseWebhookBody(json(["relay.ping"]), mapping())).toMatchObject({
      kind: "invalid",
      field: "body",
    });
  });
});

describe("parseWebhookBody: every invalid field", () => {
  it.each<[string, Buffer, EventMapping, string]>([
    ["a body that is not JSON", Buffer.from("{not json"), mapping(), "body"],
    ["an empty body", Buffer.alloc(0), mapping(), "body"],
    ["a JSON array", json([{ type: "permit.deleted" }]), mapping(), "body"],
    ["JSON null", json(null), mapping(), "body"],
    ["a JSON string", json("permit.deleted"), mapping(), "body"],
    ["a missing type", json({ data: { referenceID: REF } }), mapping(), "type"],
    ["an empty type", json({ type: "", data: { referenceID: REF } }), mapping(), "type"],
    ["a numeric type", json({ type: 7, data: { referenceID: REF } }), mapping(), "type"],
    [
      "a missing nested type",
      json({ data: { referenceID: REF } }),
      mapping({ typePointer: "/meta/event" }),
      "meta.event",
    ],
    ["a type pointer with escapes", json({}), mapping({ typePointer: "/a~1b/c~0d" }), "a/b.c~d"],
    [
      "a type pointer to the whole body",
      json({ type: "permit.deleted" }),
      mapping({ typePointer: "" }),
      "body",
    ],
    ["no reference ID anywhere", json({ type: "permit.deleted" }), mapping(), "data.referenceID"],
    ["an empty data object", deleteEvent({}), mapping(), "data.referenceID"],
    ["a null referenceid under data", deleteEvent({ referenceid: null }), mapping(), "data.referenceid"],
    ["an empty reference_id under data", deleteEvent({ reference_id: "" }), mapping(), "data.reference_id"],
    [
      "an empty referenceID at the top",
      json({ type: "permit.deleted", referenceID: "" }),
      mapping(),
      "referenceID",
    ],
    [
      "a bad reference_id at the top",
      json({ type: "permit.deleted", reference_id: "a b" }),
      mapping(),
      "reference_id",
    ],
    [
      "a missing pointed reference",
      deleteEvent({ referenceID: REF }),
      mapping({ referenceIdPointer: "/permit/id" }),
      "permit.id",
    ],
  ])("%s is reported as field %s", (_what, body, m, field) => {
    const result = parseWebhookBody(body, m);
    expect(result).toMatchObject({ kind: "invalid", field });
    expect(result.kind === "invalid" && result.reason.length).toBeGreaterThan(0);
  });

  it.each([
    ["not valid JSON", Buffer.from("nope"), "the body is not valid JSON"],
    ["not an object", json([1]), "the body must be a JSON object"],
  ])("says why when the body is %s", (_what, body, reason) => {
    expect(parseWebhookBody(body, mapping())).toEqual({ kind: "invalid", field: "body", reason });
  });
});

describe("resolvePointer", () => {
  const doc = {
    a: { "b/c": 1, "d~e": 2, "~1": 3, "": 4 },
    list: ["zero", "one", { deep: "two" }],
    "": "empty key",
  };

  it.each<[string, unknown]>([
    ["", doc],
    ["/a/b~1c", 1],
    ["/a/d~0e", 2],
    ["/a/~01", 3],
    ["/a/", 4],
    ["/", "empty key"],
    ["/list/0", "zero"],
    ["/list/1", "one"],
    ["/list/2/deep", "two"],
  ])("resolves %j", (pointer, expected) => {
    expect(resolvePointer(doc, pointer)).toEqual(expected);
  });

  it.each([
    ["a leading zero", "/list/01"],
    ["the end-of-array marker", "/list/-"],
    ["a negative index", "/list/-1"],
    ["an index past the end", "/list/3"],
    ["a non-numeric index", "/list/length"],
    ["a missing key", "/a/nope"],
    ["a key under a string", "/list/0/0"],
    ["an inherited property", "/a/toString"],
    ["a key under null", "/x/y"],
  ])("answers undefined for %s", (_what, pointer) => {
    expect(resolvePointer({ ...doc, x: null }, pointer)).toBeUndefined();
  });
});
