// The one table that turns an answer's `status` into its HTTP status, held against the
// contract docs/openapi.yaml publishes: a row that disagrees with the document fails here.
import { describe, expect, it } from "vitest";
import { type AnswerStatus, HTTP_STATUS, toResult } from "../../lambda/http";
import { loadOpenApiContract } from "../../testkit/openapi";

/** Answered only when no API Gateway route sits in front (a function URL); not in the contract. */
const UNROUTED: readonly AnswerStatus[] = ["no_route", "method_not_allowed"];

describe("HTTP_STATUS: each answer's status code", () => {
  it("agrees with every relay answer docs/openapi.yaml documents, and the document lists every status", async () => {
    const contract = await loadOpenApiContract();
    const documented = new Set<string>();
    for (const variant of contract.variants.filter((v) => v.answeredBy.includes("relay"))) {
      for (const status of variant.statuses) {
        documented.add(status);
        expect(HTTP_STATUS[status as AnswerStatus], `${variant.variant}: ${status}`).toBe(
          Number(variant.response),
        );
      }
    }
    const tabled = Object.keys(HTTP_STATUS).filter((s) => !UNROUTED.includes(s as AnswerStatus));
    expect([...documented].sort()).toEqual(tabled.sort());
  });

  it.each(Object.entries(HTTP_STATUS))("toResult answers %s with %i", (status, code) => {
    expect(toResult({ answer: { status: status as AnswerStatus } }).statusCode).toBe(code);
  });

  it("asks a 503 to wait 30 s and a 409 for the time it was given", () => {
    expect(toResult({ answer: { status: "unavailable" } }).headers).toMatchObject({ "retry-after": "30" });
    expect(toResult({ answer: { status: "in_progress" }, retryAfterSeconds: 7 }).headers).toMatchObject({
      "retry-after": "7",
    });
    expect(toResult({ answer: { status: "deleted" } }).headers).not.toHaveProperty("retry-after");
  });
});
