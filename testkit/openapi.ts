// The vendor-facing OpenAPI document (docs/openapi.yaml) as a test oracle: validated as an
// OpenAPI 3.1 document by swagger-parser (which also dereferences it), its schemas compiled with Ajv's JSON Schema 2020-12 dialect, the
// one OpenAPI 3.1 uses. `expectMatchesOpenApi` throws when a real answer of the handler is
// not what the document promises for POST /webhooks/{vendorId}.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import type { ErrorObject, ValidateFunction } from "ajv";
import Ajv2020 from "ajv/dist/2020";
import YAML from "yaml";

export const OPENAPI_PATH = join(__dirname, "..", "docs", "openapi.yaml");
const ROUTE = "/webhooks/{vendorId}";
/** swagger-parser's own document type, without importing its transitive `openapi-types`. */
type ApiDocument = NonNullable<Parameters<SwaggerParser.ApiCallback>[1]>;

/** A JSON Schema as it appears in the dereferenced document. */
export interface Schema {
  readonly title?: string;
  readonly type?: string | string[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly pattern?: string;
  readonly oneOf?: readonly Schema[];
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | Schema;
}

interface HeaderObject {
  readonly required?: boolean;
  readonly schema: Schema;
}

interface ResponseObject {
  readonly description: string;
  readonly headers?: Readonly<Record<string, HeaderObject>>;
  readonly content?: Readonly<Record<string, { readonly schema: Schema }>>;
  readonly "x-answered-by"?: readonly ("relay" | "api-gateway")[];
}

interface ParameterObject {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly schema: Schema;
}

interface Operation {
  readonly parameters?: readonly ParameterObject[];
  readonly requestBody: { readonly content: Readonly<Record<string, { readonly schema: Schema }>> };
  readonly responses: Readonly<Record<string, ResponseObject>>;
}

/** One answer shape the document promises: a response code and, for a `oneOf`, one branch. */
export interface DocumentedVariant {
  /** The key in `responses`: "200", "5XX". */
  readonly response: string;
  /** The schema's `title`, e.g. "Deleted". */
  readonly variant: string;
  /** The `status` values this variant allows; empty when the body is not the relay's own. */
  readonly statuses: readonly string[];
  readonly answeredBy: readonly string[];
  readonly schema: Schema;
}

/** What an answer matched. */
export interface Match {
  readonly response: string;
  readonly variant: string;
}

export interface OpenApiContract {
  /** The document as parsed from YAML, before dereferencing. */
  readonly raw: Record<string, unknown>;
  readonly operation: Operation;
  readonly variants: readonly DocumentedVariant[];
  /** Throws unless the answer is documented for POST /webhooks/{vendorId} and matches it. */
  expectMatchesOpenApi(
    statusCode: number,
    headers: Readonly<Record<string, unknown>> | undefined,
    body: string | unknown,
  ): Match;
  /** Ajv's complaints about a request body, or `[]` when the canonical event schema takes it. */
  requestBodyErrors(body: unknown): string[];
  parameter(name: string): ParameterObject;
}

let loading: Promise<OpenApiContract> | undefined;

/** Loads, validates and compiles the document once per test file. */
export function loadOpenApiContract(): Promise<OpenApiContract> {
  loading ??= load();
  return loading;
}

/** The document as swagger-parser reads it: the OpenAPI version and whether it is valid. */
export async function validateDocument(): Promise<{
  readonly version: string;
  readonly swaggerParser: { valid: boolean; error?: string };
}> {
  const raw = readDocument();
  let swaggerParser: { valid: boolean; error?: string };
  try {
    await SwaggerParser.validate(structuredClone(raw) as ApiDocument);
    swaggerParser = { valid: true };
  } catch (error) {
    swaggerParser = { valid: false, error: (error as Error).message };
  }
  return { version: String(raw.openapi).split(".").slice(0, 2).join("."), swaggerParser };
}

function readDocument(): Record<string, unknown> {
  return YAML.parse(readFileSync(OPENAPI_PATH, "utf8")) as Record<string, unknown>;
}

async function load(): Promise<OpenApiContract> {
  const raw = readDocument();
  const dereferenced = (await SwaggerParser.dereference(structuredClone(raw) as ApiDocument)) as {
    paths: Record<string, { post?: Operation; parameters?: ParameterObject[] }>;
  };
  const path = dereferenced.paths[ROUTE];
  if (!path?.post) throw new Error(`${OPENAPI_PATH} has no POST ${ROUTE}`);
  const operation: Operation = {
    ...path.post,
    parameters: [...(path.parameters ?? []), ...(path.post.parameters ?? [])],
  };

  // strictSchema, so a keyword Ajv does not know (a typo, an OpenAPI 3.0 leftover such as
  // `nullable`) fails the load; Ajv's stylistic strictTypes/strictRequired are not JSON Schema.
  const strictness = { strict: true, strictTypes: false, strictRequired: false } as const;
  const ajv = new Ajv2020({ ...strictness, allErrors: true });
  // Header values are strings on the wire; coerce them to the schema's type before checking.
  const headerAjv = new Ajv2020({ ...strictness, coerceTypes: true });
  const compiled = new Map<Schema, ValidateFunction>();
  const compile = (schema: Schema, engine = ajv): ValidateFunction => {
    let validate = compiled.get(schema);
    if (!validate) {
      validate = engine.compile(schema as object);
      compiled.set(schema, validate);
    }
    return validate;
  };
  const headerValidators = new Map<Schema, ValidateFunction>();
  const headerValid = (schema: Schema, value: string): string | undefined => {
    let validate = headerValidators.get(schema);
    if (!validate) {
      validate = headerAjv.compile({ type: "object", properties: { value: schema }, required: ["value"] });
      headerValidators.set(schema, validate);
    }
    return validate({ value }) ? undefined : describe(validate.errors);
  };

  const variants: DocumentedVariant[] = [];
  for (const [response, object] of Object.entries(operation.responses)) {
    for (const media of Object.values(object.content ?? {})) {
      const branches = media.schema.oneOf ?? [media.schema];
      for (const schema of branches) {
        compile(schema);
        variants.push({
          response,
          variant: schema.title ?? "(untitled)",
          statuses: (schema.properties?.status?.enum ?? []).map(String),
          answeredBy: object["x-answered-by"] ?? [],
          schema,
        });
      }
    }
  }
  const requestSchema = operation.requestBody.content["application/json"]?.schema;
  if (!requestSchema) throw new Error("the request body has no application/json schema");
  const validateRequest = compile(requestSchema);

  function expectMatchesOpenApi(
    statusCode: number,
    headers: Readonly<Record<string, unknown>> | undefined,
    body: string | unknown,
  ): Match {
    const where = `HTTP ${statusCode} from POST ${ROUTE}`;
    const key = responseKey(operation.responses, statusCode);
    if (key === undefined) throw new Error(`${where}: the status code is not documented`);
    const response = operation.responses[key] as ResponseObject;
    if (!(response["x-answered-by"] ?? []).includes("relay")) {
      throw new Error(`${where}: the document says only API Gateway answers ${key}, but the relay did`);
    }

    const actual = new Map<string, string>();
    for (const [name, value] of Object.entries(headers ?? {})) actual.set(name.toLowerCase(), String(value));
    const mediaType = actual.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    const media = mediaType === undefined ? undefined : response.content?.[mediaType];
    if (!media) {
      throw new Error(
        `${where}: content type ${JSON.stringify(mediaType)} is not one of ${Object.keys(response.content ?? {}).join(", ")}`,
      );
    }
    const documented = new Map(
      Object.entries(response.headers ?? {}).map(([name, header]) => [name.toLowerCase(), header]),
    );
    for (const [name, header] of documented) {
      const value = actual.get(name);
      if (value === undefined) {
        if (header.required) throw new Error(`${where}: required header ${name} is missing`);
        continue;
      }
      const problem = headerValid(header.schema, value);
      if (problem) throw new Error(`${where}: header ${name}: ${JSON.stringify(value)} ${problem}`);
    }
    for (const name of actual.keys()) {
      if (name !== "content-type" && !documented.has(name)) {
        throw new Error(`${where}: header ${name} is not documented for ${key}`);
      }
    }

    let parsed: unknown = body;
    if (typeof body === "string") {
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new Error(`${where}: the body is not JSON: ${body.slice(0, 200)}`);
      }
    }
    const branches = media.schema.oneOf ?? [media.schema];
    const results = branches.map((schema) => {
      const validate = compile(schema);
      return { schema, ok: validate(parsed), errors: describe(validate.errors) };
    });
    const matched = results.filter((r) => r.ok);
    if (matched.length !== 1) {
      const why =
        matched.length === 0
          ? results.map((r) => `${r.schema.title ?? "schema"}: ${r.errors}`).join("; ")
          : `it matches ${matched.map((r) => r.schema.title).join(" and ")} (oneOf needs exactly one)`;
      throw new Error(`${where}: body ${JSON.stringify(parsed)} does not match the document: ${why}`);
    }
    return { response: key, variant: (matched[0] as { schema: Schema }).schema.title ?? "(untitled)" };
  }

  return {
    raw,
    operation,
    variants,
    expectMatchesOpenApi,
    requestBodyErrors(body) {
      return validateRequest(body) ? [] : (validateRequest.errors ?? []).map(errorText);
    },
    parameter(name) {
      const found = operation.parameters?.find((p) => p.name === name);
      if (!found) throw new Error(`no parameter ${name}`);
      return found;
    },
  };
}

/** OpenAPI's lookup: the exact code, then its range ("5XX"), then `default`. */
function responseKey(responses: Readonly<Record<string, unknown>>, statusCode: number): string | undefined {
  return [String(statusCode), `${String(statusCode)[0]}XX`, "default"].find((key) => key in responses);
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map(errorText).join(", ");
}

function errorText(error: ErrorObject): string {
  const extra =
    error.keyword === "additionalProperties"
      ? ` (${(error.params as { additionalProperty: string }).additionalProperty})`
      : error.keyword === "enum"
        ? ` (${JSON.stringify((error.params as { allowedValues: unknown }).allowedValues)})`
        : "";
  return `${error.instancePath || "/"} ${error.message ?? error.keyword}${extra}`;
}
