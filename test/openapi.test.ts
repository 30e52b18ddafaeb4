// docs/openapi.yaml is a valid OpenAPI 3.1 document, and every answer the real ingest handler
// gives on POST /webhooks/{vendorId} is one it documents: the status code, the headers and the
// body, checked by a maintained validator (Ajv, JSON Schema 2020-12) against the document. The
// other direction too: every answer shape the document promises is produced by some scenario.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyResult } from "aws-lambda";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import { MemoryLedger, type MemoryQueue } from "../lambda/adapters/memory";
import { WEBHOOK_ID_PATTERN } from "../lambda/admission";
import { REFERENCE_ALIASES, REFERENCE_ID_PATTERN } from "../lambda/event";
import type { Answer, AnswerStatus } from "../lambda/http";
import type { Ledger } from "../lambda/ports";
import { VENDOR_ID_PATTERN } from "../lambda/vendors";
import { canonicalEvent, signWebhook } from "../local/vendor-kit";
import { createLedgerTable, startDynalite, useLocalAws } from "../testkit/dynalite";
import { functionUrlEvent, httpApiEvent, type RequestSpec, restEvent } from "../testkit/events";
import { loadOpenApiContract, type Match, type OpenApiContract, validateDocument } from "../testkit/openapi";
import { buildRelay, type RelayUnderTest, startWorld, type TestWorld } from "./support/relay";

let world: TestWorld;
let relay: RelayUnderTest;
let contract: OpenApiContract;

const VENDORS = [
  { id: "acme" },
  { id: "fenced", allowedSourceCidrs: ["203.0.113.0/24"] },
  // Configured, but its signing secret was never stored: reading it fails.
  { id: "secretless" },
];

beforeAll(async () => {
  world = await startWorld(["acme", "fenced"]);
  contract = await loadOpenApiContract();
});
afterAll(async () => world?.close());

beforeEach(() => {
  world.sandbox.clearFaults();
  relay = buildRelay(world, { vendors: VENDORS });
});
afterEach(() => relay.close());

describe("the document", () => {
  it("is valid OpenAPI 3.1 for swagger-parser", async () => {
    const result = await validateDocument();
    expect(result.version).toBe("3.1");
    expect(result.swaggerParser).toEqual({ valid: true });
    expect(contract.raw.openapi).toBe("3.1.0");
  });

  it("describes vendorId with the pattern the relay's configuration enforces", () => {
    const vendorId = contract.parameter("vendorId");
    expect(vendorId).toMatchObject({ in: "path", required: true });
    expect(vendorId.schema.pattern).toBe(VENDOR_ID_PATTERN.source);
  });

  it("lists the Standard Webhooks headers and their svix-* twins", () => {
    const headers = (contract.operation.parameters ?? []).filter((p) => p.in === "header").map((p) => p.name);
    expect(headers.sort()).toEqual(
      [
        "svix-id",
        "svix-signature",
        "svix-timestamp",
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
      ].sort(),
    );
  });

  it("describes the webhook id headers with the pattern and length the relay enforces", () => {
    const longest = Number(/\{1,(\d+)\}\$$/.exec(WEBHOOK_ID_PATTERN.source)?.[1]);
    for (const name of ["webhook-id", "svix-id"]) {
      const schema = contract.parameter(name).schema as { pattern?: string; maxLength?: number };
      expect(schema.pattern, name).toBe(WEBHOOK_ID_PATTERN.source);
      expect(schema.maxLength, name).toBe(longest);
    }
    // The prose's "a space is refused" is the pattern's doing.
    expect(WEBHOOK_ID_PATTERN.test("msg 1")).toBe(false);
    expect(WEBHOOK_ID_PATTERN.test("x".repeat(longest))).toBe(true);
  });

  it("takes the canonical event the vendor kit builds, under each of OPS-COM's aliases", () => {
    expect(
      contract.requestBodyErrors(JSON.parse(canonicalEvent("1a9b5375-cb75-4c71-9939-eeae550b09ac"))),
    ).toEqual([]);
    for (const alias of REFERENCE_ALIASES) {
      expect(contract.requestBodyErrors({ type: "permit.deleted", data: { [alias]: "abc-123" } })).toEqual(
        [],
      );
    }
  });

  it("uses the reference ID pattern the relay enforces, and refuses what the relay answers 400", () => {
    const referenceId = (contract.raw.components as { schemas: Record<string, { pattern?: string }> }).schemas
      .ReferenceIdInput;
    expect(referenceId?.pattern).toBe(REFERENCE_ID_PATTERN.source);
    for (const bad of ["a".repeat(51), "a b", "", "a/b"]) {
      expect(contract.requestBodyErrors({ type: "permit.deleted", data: { referenceID: bad } })).not.toEqual(
        [],
      );
    }
    expect(contract.requestBodyErrors({ type: "permit.deleted", data: {} })).not.toEqual([]);
    expect(contract.requestBodyErrors({ data: { referenceID: "abc" } })).not.toEqual([]);
    // Not a delete: no reference ID needed (answered 200 ignored, or pong for a ping).
    expect(contract.requestBodyErrors({ type: "permit.created" })).toEqual([]);
    expect(contract.requestBodyErrors({ type: "relay.ping" })).toEqual([]);
  });

  it("documents exactly the fields of the Answer type, no more and no fewer", () => {
    // A compile error here means Answer changed: update docs/openapi.yaml with it.
    const answerFields: Record<keyof Answer, true> = {
      status: true,
      webhookId: true,
      referenceID: true,
      vendorId: true,
      version: true,
      duplicate: true,
      field: true,
      reason: true,
      opscom: true,
    };
    const opscomFields: Record<keyof NonNullable<Answer["opscom"]>, true> = {
      errorCode: true,
      errorMessage: true,
    };
    const relayVariants = contract.variants.filter((v) => v.answeredBy.includes("relay"));
    const documented = new Set(relayVariants.flatMap((v) => Object.keys(v.schema.properties ?? {})));
    expect([...documented].sort()).toEqual(Object.keys(answerFields).sort());
    const opscom = relayVariants.find((v) => v.schema.properties?.opscom)?.schema.properties?.opscom;
    expect(Object.keys(opscom?.properties ?? {}).sort()).toEqual(Object.keys(opscomFields).sort());
    for (const variant of relayVariants) {
      expect(variant.schema.additionalProperties, variant.variant).toBe(false);
      expect(variant.schema.required, variant.variant).toContain("status");
    }
  });

  it("documents every status a POST can answer with, and no other", () => {
    // A compile error here means AnswerStatus changed: decide where the new status belongs.
    const onThisRoute: Record<AnswerStatus, boolean> = {
      deleted: true,
      not_found: true,
      ignored: true,
      pong: true,
      in_progress: true,
      queued: true,
      unauthorized: true,
      forbidden: true,
      rejected: true,
      invalid: true,
      too_large: true,
      unsupported_media_type: true,
      unavailable: true,
      error: true,
      // Off the route and other methods: API Gateway answers those before the relay.
      no_route: false,
      method_not_allowed: false,
    };
    const documented = new Set(contract.variants.flatMap((v) => v.statuses));
    const expected = Object.entries(onThisRoute)
      .filter(([, on]) => on)
      .map(([status]) => status);
    expect([...documented].sort()).toEqual(expected.sort());
  });

  it("puts Retry-After on 409 and 503 (required) and on 429, and says who answers what", () => {
    const { responses } = contract.operation;
    expect(responses["409"]?.headers?.["Retry-After"]?.required).toBe(true);
    expect(responses["503"]?.headers?.["Retry-After"]?.required).toBe(true);
    expect(responses["429"]?.headers?.["Retry-After"]).toBeDefined();
    expect(responses["429"]?.["x-answered-by"]).toEqual(["api-gateway"]);
    expect(responses["403"]?.["x-answered-by"]).toEqual(["relay", "api-gateway"]);
    for (const [code, response] of Object.entries(responses)) {
      expect(response.description, code).toMatch(/\*\*(Do not retry|Retry (later|after))/);
    }
  });
});

describe("expectMatchesOpenApi", () => {
  const json = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  const deleted = { status: "deleted", webhookId: "msg_1", referenceID: "abc" };

  it("accepts a documented answer and says which shape it is", () => {
    expect(contract.expectMatchesOpenApi(200, json, JSON.stringify(deleted))).toEqual({
      response: "200",
      variant: "Deleted",
    });
  });

  it.each<[string, number, Record<string, string>, unknown, RegExp]>([
    ["an undocumented status code", 418, json, { status: "error" }, /418.*not documented/],
    ["a code only API Gateway answers", 429, json, { status: "throttled" }, /only API Gateway answers 429/],
    [
      "a property the schema does not have",
      200,
      json,
      { ...deleted, secret: "x" },
      /additional properties \(secret\)/,
    ],
    ["a status that belongs to another code", 200, json, { ...deleted, status: "queued" }, /does not match/],
    ["a missing required field", 202, json, { status: "queued", webhookId: "m" }, /referenceID/],
    ["duplicate: false", 200, json, { ...deleted, duplicate: false }, /does not match/],
    [
      "a 409 without Retry-After",
      409,
      json,
      { status: "in_progress", webhookId: "m", referenceID: "a" },
      /retry-after is missing/,
    ],
    [
      "a Retry-After that is not seconds",
      503,
      { ...json, "retry-after": "soon" },
      { status: "unavailable" },
      /retry-after/,
    ],
    [
      "an undocumented header",
      401,
      { ...json, "x-debug": "1" },
      { status: "unauthorized" },
      /x-debug is not documented/,
    ],
    [
      "a text/html body",
      500,
      { ...json, "content-type": "text/html" },
      "<h1>oops</h1>",
      /content type "text\/html"/,
    ],
    ["a body that is not JSON", 500, json, "{oops", /not JSON/],
    [
      "a 401 with detail",
      401,
      json,
      { status: "unauthorized", reason: "stale" },
      /additional properties \(reason\)/,
    ],
  ])("throws for %s", (_, code, headers, body, message) => {
    expect(() =>
      contract.expectMatchesOpenApi(code, headers, typeof body === "string" ? body : JSON.stringify(body)),
    ).toThrow(message);
  });
});

// ---- every row of the contract, answered by the real handler ----------------------------------

function signed(
  referenceId: string,
  extra: { id?: string; body?: string; vendor?: string; timestamp?: number } = {},
) {
  return signWebhook({
    body: extra.body ?? canonicalEvent(referenceId),
    secret: world.vendorSecrets[extra.vendor ?? "acme"] ?? "whsec_c2VjcmV0bGVzcy1idXQtd2VsbC1mb3JtZWQ=",
    ...(extra.id ? { webhookId: extra.id } : {}),
    ...(extra.timestamp ? { timestamp: extra.timestamp } : {}),
  });
}

async function post(spec: RequestSpec): Promise<APIGatewayProxyResult> {
  return (await relay.ingest(restEvent(spec))) as APIGatewayProxyResult;
}

async function send(referenceId: string, extra: Parameters<typeof signed>[1] = {}) {
  const webhook = signed(referenceId, extra);
  return post({ vendorId: extra.vendor ?? "acme", headers: webhook.headers, body: webhook.body });
}

/** Sends the same webhook twice and answers the second (the duplicate). */
async function twice(referenceId: string, id: string) {
  const webhook = signed(referenceId, { id });
  const first = await post({ headers: webhook.headers, body: webhook.body });
  checked(first);
  return post({ headers: webhook.headers, body: webhook.body });
}

function checked(result: APIGatewayProxyResult): Match {
  return contract.expectMatchesOpenApi(result.statusCode, result.headers, result.body);
}

function failingLedger(overrides: Partial<Ledger>): Ledger {
  const memory = new MemoryLedger();
  return {
    claim: (r) => memory.claim(r),
    transition: (k, e, p) => memory.transition(k, e, p),
    release: (k, c) => memory.release(k, c),
    get: (k) => memory.get(k),
    byReference: (r) => memory.byReference(r),
    ...overrides,
  };
}

interface Scenario {
  readonly expect: Match & { readonly status: AnswerStatus; readonly duplicate?: true };
  readonly run: () => Promise<APIGatewayProxyResult>;
}

const now = () => Math.floor(Date.now() / 1000);

const scenarios: Record<string, Scenario> = {
  "OPS-COM confirms the delete": {
    expect: { response: "200", variant: "Deleted", status: "deleted" },
    run: () => send(world.sandbox.createPermit()),
  },
  "a duplicate of a deleted webhook": {
    expect: { response: "200", variant: "Deleted", status: "deleted", duplicate: true },
    run: () => twice(world.sandbox.createPermit(), "msg_dup_deleted"),
  },
  "OPS-COM has no such record (9009)": {
    expect: { response: "200", variant: "NotFound", status: "not_found" },
    run: () => send("0b1c2d3e-0000-4000-8000-000000000000"),
  },
  "a duplicate of a not_found webhook": {
    expect: { response: "200", variant: "NotFound", status: "not_found", duplicate: true },
    run: () => twice("0b1c2d3e-0000-4000-8000-000000000001", "msg_dup_not_found"),
  },
  "an event type that is not a delete": {
    expect: { response: "200", variant: "Ignored", status: "ignored" },
    run: () => send("x", { body: JSON.stringify({ type: "permit.created", data: { referenceID: "abc" } }) }),
  },
  "a signed relay.ping": {
    expect: { response: "200", variant: "Pong", status: "pong" },
    run: () => send("x", { body: JSON.stringify({ type: "relay.ping" }) }),
  },
  "OPS-COM answering 503 twice": {
    expect: { response: "202", variant: "Queued", status: "queued" },
    run: () => {
      world.sandbox.queueFaults("http503", "http503");
      return send(world.sandbox.createPermit());
    },
  },
  "OPS-COM refusing the token after a refetch": {
    expect: { response: "202", variant: "Queued", status: "queued" },
    run: () => {
      world.sandbox.queueFaults({ errorCode: 9002 }, { errorCode: 9002 });
      return send(world.sandbox.createPermit());
    },
  },
  "a duplicate of a queued webhook": {
    expect: { response: "202", variant: "Queued", status: "queued", duplicate: true },
    run: () => {
      world.sandbox.queueFaults("reset", "reset");
      return twice(world.sandbox.createPermit(), "msg_dup_queued");
    },
  },
  "a body that is not JSON": {
    expect: { response: "400", variant: "Invalid", status: "invalid" },
    run: () => send("x", { body: "{nope" }),
  },
  "a reference ID with bad characters": {
    expect: { response: "400", variant: "Invalid", status: "invalid" },
    run: () =>
      send("x", { body: JSON.stringify({ type: "permit.deleted", data: { reference_id: "a b/c" } }) }),
  },
  "no signature headers": {
    expect: { response: "401", variant: "Unauthorized", status: "unauthorized" },
    run: () => post({ headers: { "content-type": "application/json" }, body: canonicalEvent("abc") }),
  },
  "a stale timestamp": {
    expect: { response: "401", variant: "Unauthorized", status: "unauthorized" },
    run: () => send("abc", { timestamp: now() - 3600 }),
  },
  "an unknown vendor": {
    expect: { response: "401", variant: "Unauthorized", status: "unauthorized" },
    run: () => {
      const w = signed("abc");
      return post({ vendorId: "nobody", headers: w.headers, body: w.body });
    },
  },
  "a source outside the vendor's allow-list": {
    expect: { response: "403", variant: "Forbidden", status: "forbidden" },
    run: () => {
      const w = signed("abc", { vendor: "fenced" });
      return post({ vendorId: "fenced", headers: w.headers, body: w.body, sourceIp: "198.51.100.1" });
    },
  },
  "a second delivery while the first is in flight": {
    expect: { response: "409", variant: "InProgress", status: "in_progress" },
    run: async () => {
      world.sandbox.setFaults({ latencyMs: 300 });
      const w = signed(world.sandbox.createPermit(), { id: "msg_in_flight" });
      const answers = await Promise.all([
        post({ headers: w.headers, body: w.body }),
        post({ headers: w.headers, body: w.body }),
      ]);
      const busy = answers.find((a) => a.statusCode === 409);
      const other = answers.find((a) => a !== busy);
      if (!busy || !other) throw new Error(`no 409 among ${answers.map((a) => a.statusCode).join(", ")}`);
      expect(checked(other)).toEqual({ response: "200", variant: "Deleted" });
      return busy;
    },
  },
  "a body over MAX_BODY_BYTES": {
    expect: { response: "413", variant: "TooLarge", status: "too_large" },
    run: () =>
      send("abc", {
        body: JSON.stringify({
          type: "permit.deleted",
          data: { referenceID: "abc" },
          pad: "x".repeat(70_000),
        }),
      }),
  },
  "a text/plain body": {
    expect: { response: "415", variant: "UnsupportedMediaType", status: "unsupported_media_type" },
    run: () => {
      const w = signed("abc");
      return post({ headers: { ...w.headers, "content-type": "text/plain" }, body: w.body });
    },
  },
  "OPS-COM rejecting the delete (9033)": {
    expect: { response: "422", variant: "RejectedByOpscom", status: "rejected" },
    run: () => {
      world.sandbox.queueFaults({ errorCode: 9033, message: "Reference ID is invalid." });
      return send(world.sandbox.createPermit());
    },
  },
  "OPS-COM answering 404 without an error code": {
    expect: { response: "202", variant: "Queued", status: "queued" },
    run: async () => {
      relay.close();
      // A wrong base path: the sandbox answers a plain 404 that OPS-COM did not write, which
      // proves nothing about the permit, so the delete is parked rather than refused for good.
      relay = buildRelay(world, { vendors: VENDORS, env: { OPSCOM_BASE_URL: `${world.sandbox.url}/wrong` } });
      return send(world.sandbox.createPermit());
    },
  },
  "a duplicate of a rejected webhook": {
    expect: { response: "422", variant: "RejectedByOpscom", status: "rejected", duplicate: true },
    run: () => {
      world.sandbox.queueFaults({ errorCode: 9031 });
      return twice(world.sandbox.createPermit(), "msg_dup_rejected");
    },
  },
  "a webhook id reused with a different body": {
    expect: { response: "422", variant: "RejectedReusedId", status: "rejected" },
    run: async () => {
      checked(await send(world.sandbox.createPermit(), { id: "msg_reused" }));
      return send(world.sandbox.createPermit(), { id: "msg_reused" });
    },
  },
  "something unexpected breaking in the handler": {
    expect: { response: "500", variant: "Error", status: "error" },
    run: () => {
      relay.close();
      relay = buildRelay(world, {
        vendors: VENDORS,
        opscom: () => ({
          deletePermit: async () => {
            throw new TypeError("Cannot read properties of undefined");
          },
        }),
      });
      return send(world.sandbox.createPermit());
    },
  },
  "OPS-COM failing and the retry queue refusing the message": {
    expect: { response: "503", variant: "Unavailable", status: "unavailable" },
    run: () => {
      world.sandbox.queueFaults("http503", "http503");
      (relay.queue as MemoryQueue).failSends = 1;
      return send(world.sandbox.createPermit());
    },
  },
  "a ledger that cannot take the claim": {
    expect: { response: "503", variant: "Unavailable", status: "unavailable" },
    run: () => {
      relay.close();
      relay = buildRelay(world, {
        vendors: VENDORS,
        ledger: failingLedger({
          claim: async () => {
            throw Object.assign(new Error("throttled"), { name: "ProvisionedThroughputExceededException" });
          },
        }),
      });
      return send(world.sandbox.createPermit());
    },
  },
  "a vendor whose signing secret cannot be read": {
    expect: { response: "503", variant: "Unavailable", status: "unavailable" },
    run: () => send("abc", { vendor: "secretless" }),
  },
};

describe("the real handler's answers match the document", () => {
  it.each(Object.entries(scenarios))("%s", async (_, scenario) => {
    const result = await scenario.run();
    const body = JSON.parse(result.body) as Answer;
    expect({ statusCode: result.statusCode, status: body.status, duplicate: body.duplicate }).toEqual({
      statusCode: Number(scenario.expect.response),
      status: scenario.expect.status,
      duplicate: scenario.expect.duplicate,
    });
    expect(checked(result)).toEqual({ response: scenario.expect.response, variant: scenario.expect.variant });
  });

  it.each([
    ["an HTTP API (v2) event", httpApiEvent],
    ["a Lambda function URL event", functionUrlEvent],
  ])("matches for %s too", async (_, build) => {
    const w = signed(world.sandbox.createPermit());
    const result = (await relay.ingest(build({ headers: w.headers, body: w.body }))) as APIGatewayProxyResult;
    expect(checked(result)).toEqual({ response: "200", variant: "Deleted" });
  });

  it("leaves no documented answer unproduced: every relay shape and status has a scenario", () => {
    const produced = new Set(Object.values(scenarios).map((s) => `${s.expect.response} ${s.expect.variant}`));
    const documented = contract.variants
      .filter((v) => v.answeredBy.includes("relay"))
      .map((v) => `${v.response} ${v.variant}`);
    expect(documented.filter((d) => !produced.has(d))).toEqual([]);
    expect([...produced].filter((p) => !documented.includes(p))).toEqual([]);
    const statuses = new Set(Object.values(scenarios).map((s) => s.expect.status));
    expect(
      contract.variants.flatMap((v) => v.statuses).filter((s) => !statuses.has(s as AnswerStatus)),
    ).toEqual([]);
    // Every documented duplicate flag is exercised as well.
    const withDuplicate = contract.variants
      .filter((v) => v.answeredBy.includes("relay") && v.schema.properties?.duplicate)
      .map((v) => `${v.response} ${v.variant}`);
    const duplicated = new Set(
      Object.values(scenarios)
        .filter((s) => s.expect.duplicate)
        .map((s) => `${s.expect.response} ${s.expect.variant}`),
    );
    expect(withDuplicate.filter((d) => !duplicated.has(d))).toEqual([]);
  });
});

// ---- the prose tables that restate the contract ----------------------------------------------

interface TableRow {
  readonly codes: readonly number[];
  /** The first `status` named in the row; undefined for the duplicate row. */
  readonly status: string | undefined;
  readonly text: string;
}

/** The rows of the first Markdown table after `heading` whose header has an HTTP and a `status` column. */
function answerTable(file: string, heading: string): TableRow[] {
  const text = readFileSync(join(__dirname, "..", file), "utf8");
  const lines = text.slice(text.indexOf(heading)).split("\n");
  const header = lines.findIndex((line) => /^\|.*\bHTTP\b.*`status`/.test(line));
  expect(header, `${file}: no answer table after ${heading}`).toBeGreaterThanOrEqual(0);
  const cells = (line: string) =>
    line
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim());
  const names = cells(lines[header] as string);
  const http = names.indexOf("HTTP");
  const status = names.indexOf("`status`");
  const rows: TableRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const row = cells(line);
    const first = /`([^`]*)`/.exec(row[status] ?? "")?.[1];
    rows.push({
      codes: [...(row[http] ?? "").matchAll(/\b[1-5]\d\d\b/g)].map((m) => Number(m[0])),
      status: first && /^[a-z_]+$/.test(first) ? first : undefined,
      text: line,
    });
  }
  return rows;
}

describe("the vendor guide's and the README's answer tables", () => {
  const documentedResponse = (code: number) =>
    contract.operation.responses[String(code)] ? String(code) : `${String(code)[0]}XX`;
  const gatewayBodies = () =>
    JSON.stringify((contract.raw.components as { schemas: Record<string, unknown> }).schemas.GatewayAnswer);

  it.each([
    ["docs/vendors.md", "## The answers, and when to send again"],
    ["README.md", "### The vendor contract"],
  ])(
    "%s: every row is an answer docs/openapi.yaml documents with that code, and every documented answer has its row",
    (file, heading) => {
      const rows = answerTable(file, heading);
      for (const row of rows) {
        expect(row.codes.length, row.text).toBeGreaterThan(0);
        if (row.status === undefined) {
          // The duplicate row: exactly the codes whose answers carry `duplicate`.
          expect(row.text).toContain("duplicate");
          const withDuplicate = new Set(
            contract.variants.filter((v) => v.schema.properties?.duplicate).map((v) => Number(v.response)),
          );
          expect([...row.codes].sort(), row.text).toEqual([...withDuplicate].sort());
          continue;
        }
        for (const code of row.codes) {
          const response = documentedResponse(code);
          const variants = contract.variants.filter((v) => v.response === response);
          expect(variants.length, `${row.text}: ${code} is not documented`).toBeGreaterThan(0);
          const byRelay = variants.flatMap((v) => v.statuses);
          if (byRelay.includes(row.status)) continue;
          // Answered only by API Gateway or the WAF: the body the document names for that code.
          expect(contract.operation.responses[response]?.["x-answered-by"], row.text).toEqual([
            "api-gateway",
          ]);
          expect(gatewayBodies(), row.text).toContain(`{\\"status\\":\\"${row.status}\\"}`);
        }
      }
      const listed = new Set(rows.flatMap((row) => row.codes.map((code) => `${code} ${row.status}`)));
      const missing = contract.variants
        .filter((v) => v.answeredBy.includes("relay"))
        .flatMap((v) => v.statuses.map((status) => `${v.response} ${status}`))
        .filter((pair) => !listed.has(pair));
      expect(missing, `${file} has no row for these documented answers`).toEqual([]);
    },
  );
});

describe("limits the contract sets", () => {
  // BUG (lambda/ingest-core.ts, the ledger claim in handle(); lambda/signature.ts takes any
  // webhook-id): a validly signed webhook whose webhook-id is longer than DynamoDB's 2048-byte
  // partition key (the ledger's pk is `${vendorId}#${webhookId}`) makes the claim fail with a
  // ValidationException, which is answered 503 `unavailable` with Retry-After: 30. The vendor
  // retries the same id forever and it can never succeed. Expected: a 4xx (400 `invalid`,
  // field "webhook-id") that tells the vendor to fix the request.
  it("answers a webhook id over DynamoDB's key limit with a 4xx, not 503 forever", async () => {
    const dynamo = await startDynalite();
    const client = new DynamoDBClient({ endpoint: dynamo.endpoint });
    try {
      useLocalAws({});
      await createLedgerTable(client, "ledger-openapi");
      relay.close();
      relay = buildRelay(world, { vendors: VENDORS, ledger: createDynamoLedger("ledger-openapi", client) });
      const short = await send(world.sandbox.createPermit(), { id: "m".repeat(100) });
      expect(short.statusCode).toBe(200);
      const long = await send(world.sandbox.createPermit(), { id: "m".repeat(2100) });
      expect(long.statusCode).toBeGreaterThanOrEqual(400);
      expect(long.statusCode).toBeLessThan(500);
      expect(checked(long).response).toBe("400");
    } finally {
      client.destroy();
      await dynamo.close();
    }
  });
});
