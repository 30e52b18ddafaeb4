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

  it.each([
    ["an ErrorCode of 0", { ErrorCode: 0, ErrorMessage: "" }],
    ["a string ErrorCode of 0", { ErrorCode: "0" }],
    ["a 9009 beside it", { ErrorCode: 9009, ErrorMessage: "Record not found." }],
    ["a rejection code beside it", { ErrorCode: 9033 }],
  ])("a success body is a delete whatever else it carries: %s", (_what, extra) => {
    expect(classify(200, successBody(extra))).toEqual({ kind: "deleted", httpStatus: 200 });
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
    ["zero", 0],
    ["negative", -9009],
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
    ["an ErrorCode of 0 and no success", JSON.stringify({ ErrorCode: 0, ErrorMessage: "OK" })],
  ])("a 2xx with %s is an unrecognised answer, parked", (_what, text) => {
    expect(classify(200, text)).toEqual({
      kind: "transient",
      reason: expect.stringMatching(/^HTTP 200 answer OPS-COM did not write/),
      httpStatus: 200,
      unrecognised: true,
    });
  });
});

describe("classify: a 4xx that OPS-COM did not write proves nothing, so it is parked and counted", () => {
  const htmlPage = (title: string) =>
    `<!DOCTYPE html><html><head><title>${title}</title></head><body></body></html>`;

  it.each([
    [401, "a login wall", htmlPage("401 Authorization Required")],
    [403, "a WAF challenge page", htmlPage("Attention Required! | Cloudflare")],
    [403, "a WAF's JSON body", JSON.stringify({ message: "Forbidden", code: 403, requestId: "abc" })],
    [403, "an API gateway's JSON body", JSON.stringify({ message: "Missing Authentication Token" })],
    [404, "a wrong base URL path (nginx's page)", htmlPage("404 Not Found")],
    [404, "a framework's JSON 404", JSON.stringify({ error: "Not Found", statusCode: 404 })],
    [409, "a maintenance page", htmlPage("Down for maintenance")],
    [425, "an early-data refusal", ""],
    [400, "a load balancer's page", htmlPage("400 Bad Request")],
    [422, "a JSON body with a lower-case errorCode", JSON.stringify({ errorCode: 9033 })],
    [404, "a body whose status says error", JSON.stringify({ status: "error", message: "no route" })],
    [410, "an empty body", ""],
    [301, "a redirect to another host", htmlPage("301 Moved Permanently")],
  ])("HTTP %d with %s", (status, _what, text) => {
    expect(classify(status, text)).toEqual({
      kind: "transient",
      reason: expect.stringMatching(new RegExp(`^HTTP ${status} answer OPS-COM did not write`)),
      httpStatus: status,
      unrecognised: true,
    });
  });

  it.each([
    [
      "an HTML page by its title",
      htmlPage("Attention Required! | Cloudflare"),
      ': "Attention Required! | Cloudflare"',
    ],
    [
      "a JSON body by its start",
      JSON.stringify({ message: "Forbidden" }),
      ': "{\\"message\\":\\"Forbidden\\"}"',
    ],
    [
      "a multi-line page on one line",
      "<title>\n  Down\r\n\tfor maintenance </title>",
      ': "Down for maintenance"',
    ],
    ["a long body cut to 80 characters", "y".repeat(500), `: "${"y".repeat(80)}"`],
    ["an empty body by nothing", "", ""],
  ])("the reason names whose answer it was: %s", (_what, text, hint) => {
    expect(classify(403, text)).toMatchObject({ reason: `HTTP 403 answer OPS-COM did not write${hint}` });
  });

  it("a 4xx carrying a success body is not a delete: OPS-COM answers success with a 2xx", () => {
    expect(classify(404, successBody())).toMatchObject({ kind: "transient", unrecognised: true });
  });

  it.each([429, 408, 500, 503])(
    "HTTP %d with an HTML page stays plain transient, not unrecognised",
    (status) => {
      const outcome = classify(status, htmlPage("Service Unavailable"));
      expect(outcome).toEqual({ kind: "transient", reason: `HTTP ${status}`, httpStatus: status });
      expect(outcome).not.toHaveProperty("unrecognised");
    },
  );
});
