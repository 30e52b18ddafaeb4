// How an OPS-COM answer is read: the body's ErrorCode first (on any status), the HTTP status
// only when there is none (reference/opscom-api.md, "Errors").
import { describe, expect, it } from "vitest";
import { classify } from "../../lambda/adapters/opscom-http";

const REF = "1a9b5375-cb75-4c71-9939-eeae550b09ac";

function errorBody(code: unknown, message: unknown = "OPS-COM says no."): string {
  return JSON.stringify({ ErrorCode: code, ErrorMessage: message });
}

function successBody(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({ status: "success", reference_id: REF, InternalReferenceID: REF, ...overrides });
}

describe("classify: an ErrorCode decides, whatever the status", () => {
  it.each([200, 400, 404, 500, 503])("9009 on HTTP %d is not_found", (status) => {
    expect(classify(status, errorBody(9009, "Record not found."))).toEqual({
      kind: "not_found",
      code: 9009,
      message: "Record not found.",
    });
  });

  it.each([
    [9000, 200],
    [9001, 400],
    [9002, 401],
    [9002, 500],
  ])("%d on HTTP %d is token_rejected", (code, status) => {
    expect(classify(status, errorBody(code))).toEqual({
      kind: "token_rejected",
      code,
      message: "OPS-COM says no.",
    });
  });

  it.each([
    [9003, 200],
    [9008, 400],
    [9030, 400],
    [9031, 422],
    [9032, 400],
    [9033, 500],
    [9010, 400],
    [1234, 503],
  ])("%d on HTTP %d is a permanent rejection carrying the code and status", (code, status) => {
    expect(classify(status, errorBody(code))).toEqual({
      kind: "rejected",
      code,
      message: "OPS-COM says no.",
      httpStatus: status,
    });
  });

  it("an ErrorCode on a 429 is not retried as throttling", () => {
    expect(classify(429, errorBody(9033))).toMatchObject({ kind: "rejected", code: 9033 });
  });

  it("an ErrorCode beats a success status field in the same body", () => {
    expect(classify(200, JSON.stringify({ status: "success", ErrorCode: 9009 }))).toMatchObject({
      kind: "not_found",
    });
  });

  it.each([
    ["9009", "not_found"],
    ["9002", "token_rejected"],
    ["9033", "rejected"],
  ])("reads the string ErrorCode %j as a number", (code, kind) => {
    expect(classify(200, errorBody(code))).toMatchObject({ kind, code: Number(code) });
  });

  it.each([
    ["a fraction", 9009.5],
    ["a word", "not-found"],
    ["a string with spaces", " 9009 "],
    ["null", null],
    ["a boolean", true],
  ])("ignores an ErrorCode that is %s and falls back to the status", (_what, code) => {
    expect(classify(503, errorBody(code))).toMatchObject({ kind: "transient", httpStatus: 503 });
  });

  it.each([
    ["missing", undefined, ""],
    ["not a string", 42, ""],
    ["over 300 characters", "x".repeat(400), "x".repeat(300)],
  ])("keeps a message that is %s safe", (_what, message, expected) => {
    expect(classify(400, JSON.stringify({ ErrorCode: 9033, ErrorMessage: message }))).toMatchObject({
      message: expected,
    });
  });
});

describe("classify: without an ErrorCode, the status decides", () => {
  it.each([429, 408, 500, 502, 503, 504])("HTTP %d is transient", (status) => {
    expect(classify(status, "")).toEqual({ kind: "transient", reason: `HTTP ${status}`, httpStatus: status });
  });

  it.each([
    ["an HTML error page", "<html>Bad Gateway</html>"],
    ["a JSON body without a code", JSON.stringify({ message: "upstream down" })],
  ])("HTTP 502 with %s is transient", (_what, text) => {
    expect(classify(502, text)).toMatchObject({ kind: "transient", httpStatus: 502 });
  });

  it.each([
    ["success", successBody()],
    ["SUCCESS in capitals", successBody({ status: "SUCCESS" })],
    ["success with no other fields", JSON.stringify({ status: "success" })],
  ])("a 2xx with status %s is deleted", (_what, text) => {
    expect(classify(200, text)).toEqual({ kind: "deleted", httpStatus: 200 });
  });

  it("a 201 success is deleted and keeps its status", () => {
    expect(classify(201, successBody())).toEqual({ kind: "deleted", httpStatus: 201 });
  });

  it.each([
    ["an empty body", ""],
    ["a proxy's HTML page", "<html>ok</html>"],
    ["a JSON array", JSON.stringify([{ status: "success" }])],
    ["a status other than success", successBody({ status: "pending" })],
    ["a non-string status", successBody({ status: true })],
    ["JSON null", "null"],
  ])("a 2xx with %s is transient, not proof of a delete", (_what, text) => {
    expect(classify(200, text)).toMatchObject({ kind: "transient", httpStatus: 200 });
  });

  it.each([400, 401, 403, 404, 409, 422, 301])(
    "HTTP %d without a code is a permanent rejection",
    (status) => {
      expect(classify(status, "")).toEqual({
        kind: "rejected",
        message: `HTTP ${status} without an OPS-COM error code`,
        httpStatus: status,
      });
    },
  );

  it("a rejection without a code carries no code field", () => {
    expect(classify(400, "")).not.toHaveProperty("code");
  });
});
