// Checking one case: the answer against the oracle and docs/openapi.yaml, the OPS-COM calls
// against what the oracle says must reach it, and the answer and log lines against every secret
// and canary of the run. Each broken rule is counted by name in the pass's report.

import type { DeleteRequest } from "../../lambda/ports";
import type { Expected } from "../../testkit/contract/oracle";
import type { OpenApiContract } from "../../testkit/openapi";
import type { FuzzCase } from "./generators";
import type { Built } from "./wire";

export interface Violation {
  readonly pass: "in-process" | "http";
  readonly index: number;
  readonly rule: string;
  readonly detail: string;
  readonly spec: string;
}

export interface PassReport {
  cases: number;
  byStatus: Record<string, number>;
  bySigning: Record<string, number>;
  byStep: Record<string, number>;
  /** Requests the oracle says must reach OPS-COM (correctly signed, valid, first delete). */
  expectedForwards: number;
  /** Requests during which OPS-COM was called. */
  forwardedRequests: number;
  opscomCalls: number;
  /** Cases that carried credential-like headers (Authorization, X-Api-Key, Cookie, …) with canary values. */
  credentialCases: number;
  /** Secrets Manager reads by secret id (in process only). */
  secretReads?: Record<string, number>;
  logBytes: number;
  violations: Violation[];
  violationCount: number;
  violationsByRule: Record<string, number>;
  seconds: number;
}

export function emptyPass(): PassReport {
  return {
    cases: 0,
    byStatus: {},
    bySigning: {},
    byStep: {},
    expectedForwards: 0,
    forwardedRequests: 0,
    credentialCases: 0,
    opscomCalls: 0,
    logBytes: 0,
    violations: [],
    violationCount: 0,
    violationsByRule: {},
    seconds: 0,
  };
}

const bump = (counts: Record<string, number>, key: string, by = 1) => {
  counts[key] = (counts[key] ?? 0) + by;
};

const CREDENTIAL_HEADERS = new Set([
  "authorization",
  "x-api-key",
  "proxy-authorization",
  "cookie",
  "x-amz-security-token",
]);

/** Words that no log line may contain, whatever the request (logs carry fixed fields only). */
export const LOG_FORBIDDEN =
  /whsec_|apiToken|authorization|x-api-key|bearer |cookie|webhook-signature|svix-signature|x-hub-signature|CANARY|v1,[A-Za-z0-9+/]{40,}/i;

export interface Answer {
  readonly statusCode: number;
  readonly headers: Record<string, unknown>;
  readonly text: string;
}

export class Checker {
  constructor(
    private readonly pass: PassReport,
    private readonly passName: Violation["pass"],
    private readonly contract: OpenApiContract,
    private readonly globalNeedles: readonly string[],
  ) {}

  check(
    index: number,
    spec: FuzzCase,
    built: Built,
    expected: Expected,
    answer: Answer | { threw: unknown },
    calls: readonly DeleteRequest[] | number,
    logs: string,
    token: string,
  ): void {
    const p = this.pass;
    p.cases++;
    bump(p.bySigning, built.intent);
    bump(p.byStep, expected.step);
    if (expected.forward) p.expectedForwards++;
    if (spec.kind === "fresh" && spec.extras.some((name) => CREDENTIAL_HEADERS.has(name)))
      p.credentialCases++;
    const callCount = typeof calls === "number" ? calls : calls.length;
    p.opscomCalls += callCount;
    if (callCount > 0) p.forwardedRequests++;
    const fail = (rule: string, detail: string) => this.violation(index, spec, rule, detail);

    if ("threw" in answer) {
      bump(p.byStatus, "threw");
      fail("never throws", String((answer.threw as Error)?.stack ?? answer.threw));
      return;
    }
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    bump(p.byStatus, `${answer.statusCode} ${String(body?.status ?? "(no JSON)")}`);
    if (answer.statusCode >= 500)
      fail("no 5xx for client input", `HTTP ${answer.statusCode} ${answer.text.slice(0, 200)}`);
    if (!body) {
      fail("answer is JSON", answer.text.slice(0, 200));
      return;
    }
    // The contract, from the oracle.
    const got = {
      statusCode: answer.statusCode,
      status: body.status,
      webhookId: body.webhookId,
      referenceID: body.referenceID,
      duplicate: body.duplicate,
      field: body.field,
    };
    const want = {
      statusCode: expected.statusCode,
      status: expected.status,
      webhookId: expected.webhookId,
      referenceID: expected.referenceID,
      duplicate: expected.duplicate,
      field: expected.field,
    };
    if (JSON.stringify(got) !== JSON.stringify(want))
      fail(
        "answer follows the vendor contract",
        `expected ${JSON.stringify(want)} (decided by: ${expected.step}), got ${JSON.stringify(got)}`,
      );
    // The OpenAPI document covers POST /webhooks/{vendorId}; other routes and methods have their own table.
    if (expected.step === "route" || expected.step === "method") {
      const ok =
        expected.step === "route"
          ? body.status === "no_route" && typeof body.reason === "string"
          : body.status === "method_not_allowed" && String(answer.headers.allow) === "POST";
      if (!ok) fail("answer follows the relay's 404/405 table", answer.text.slice(0, 200));
    } else {
      try {
        this.contract.expectMatchesOpenApi(answer.statusCode, answer.headers, answer.text);
      } catch (error) {
        fail("answer matches docs/openapi.yaml", (error as Error).message.slice(0, 400));
      }
    }
    // Only a correctly signed, valid, first delete reaches OPS-COM, and only for its reference ID.
    if (expected.forward) {
      if (callCount < 1)
        fail(
          "a correctly signed valid delete reaches OPS-COM",
          `no call for ${expected.forward.referenceId}`,
        );
      if (typeof calls !== "number") {
        for (const call of calls) {
          if (
            call.referenceId !== expected.forward.referenceId ||
            call.clientCode !== expected.forward.clientCode ||
            call.token !== token
          )
            fail(
              "OPS-COM gets the signed reference ID, the vendor's client code and the relay's token",
              `${call.referenceId} at ${call.clientCode}`,
            );
        }
        if (callCount > 2) fail("at most one inline retry", `${callCount} calls`);
      }
    } else if (callCount > 0) {
      fail(
        "only a correctly signed valid delete reaches OPS-COM",
        `${callCount} call(s); the oracle says ${expected.step} → ${expected.statusCode} ${expected.status}`,
      );
    }
    // Nothing secret in the answer or the case's log lines.
    const answerText = `${JSON.stringify(answer.headers)}\n${answer.text}`;
    for (const needle of [...this.globalNeedles, ...built.needles]) {
      if (answerText.includes(needle))
        fail("no secret in an answer", `answer contains ${needle.slice(0, 10)}…`);
      if (logs.includes(needle)) fail("no secret in a log line", `log contains ${needle.slice(0, 10)}…`);
    }
    const forbidden = LOG_FORBIDDEN.exec(logs);
    if (forbidden)
      fail("no credential-like text in a log line", `log contains "${forbidden[0].slice(0, 20)}"`);
    p.logBytes += logs.length;
  }

  violation(index: number, spec: FuzzCase, rule: string, detail: string): void {
    const p = this.pass;
    p.violationCount++;
    bump(p.violationsByRule, rule);
    const specText = JSON.stringify(spec, (_k, v: unknown) =>
      typeof v === "string" && v.length > 200 ? `${v.slice(0, 200)}…(${v.length})` : v,
    );
    if (p.violations.length < 50)
      p.violations.push({ pass: this.passName, index, rule, detail, spec: specText });
  }
}

/** Every needle (8 characters or longer) found in `text`: one pass, needles indexed by their first 8. */
export function findNeedles(text: string, needles: readonly string[]): string[] {
  const byPrefix = new Map<string, string[]>();
  for (const needle of new Set(needles)) {
    if (needle.length < 8) continue;
    const key = needle.slice(0, 8);
    const list = byPrefix.get(key);
    if (list) list.push(needle);
    else byPrefix.set(key, [needle]);
  }
  const found = new Set<string>();
  for (let i = 0; i + 8 <= text.length; i++) {
    const list = byPrefix.get(text.slice(i, i + 8));
    if (list) for (const needle of list) if (text.startsWith(needle, i)) found.add(needle);
  }
  return [...found];
}
