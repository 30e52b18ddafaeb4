// Turns a verified body into what the relay acts on: a delete of one reference ID, a
// connectivity check, an event type it ignores, or a precise complaint about which field is wrong.
import type { EventMapping } from "./vendors";

export type ParsedBody =
  | { readonly kind: "delete"; readonly referenceId: string; readonly type?: string }
  | { readonly kind: "ping" }
  | { readonly kind: "ignored"; readonly type: string }
  | { readonly kind: "invalid"; readonly field: string; readonly reason: string };

/** OPS-COM's own names for the reference ID. */
export const REFERENCE_ALIASES = ["referenceID", "referenceid", "reference_id"] as const;
export const REFERENCE_ID_PATTERN = /^[A-Za-z0-9-]{1,50}$/;
/**
 * The event type of a connectivity check. A body is a ping when its top-level `type` is this,
 * whatever the vendor's mapping (so `typePointer: null` vendors and the smoke test need no
 * vendor-specific body), or when the type at the vendor's `typePointer` is.
 */
export const PING_TYPE = "relay.ping";

export function parseWebhookBody(rawBody: Buffer, mapping: EventMapping): ParsedBody {
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString("utf8"));
  } catch {
    return { kind: "invalid", field: "body", reason: "the body is not valid JSON" };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { kind: "invalid", field: "body", reason: "the body must be a JSON object" };
  }
  if ((body as Record<string, unknown>).type === PING_TYPE) return { kind: "ping" };
  let type: string | undefined;
  if (mapping.typePointer !== null) {
    const value = resolvePointer(body, mapping.typePointer);
    if (typeof value !== "string" || value.length === 0) {
      return {
        kind: "invalid",
        field: fieldName(mapping.typePointer),
        reason: "the event type is missing or not a string",
      };
    }
    type = value;
    if (type === PING_TYPE) return { kind: "ping" };
    if (!mapping.deleteTypes.includes(type)) return { kind: "ignored", type };
  }
  const { value, field } = findReference(body as Record<string, unknown>, mapping.referenceIdPointer);
  const referenceId =
    typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? String(value) : value;
  if (referenceId === undefined || referenceId === null || referenceId === "") {
    return { kind: "invalid", field, reason: "the reference ID is missing" };
  }
  if (typeof referenceId !== "string" || !REFERENCE_ID_PATTERN.test(referenceId)) {
    return { kind: "invalid", field, reason: "the reference ID must be 1-50 of [A-Za-z0-9-]" };
  }
  return type === undefined ? { kind: "delete", referenceId } : { kind: "delete", referenceId, type };
}

function findReference(
  body: Record<string, unknown>,
  pointer: string | undefined,
): { value: unknown; field: string } {
  if (pointer !== undefined) return { value: resolvePointer(body, pointer), field: fieldName(pointer) };
  const data = body.data;
  for (const scope of [data, body]) {
    if (typeof scope !== "object" || scope === null || Array.isArray(scope)) continue;
    for (const alias of REFERENCE_ALIASES) {
      if (alias in scope) {
        return {
          value: (scope as Record<string, unknown>)[alias],
          field: scope === data ? `data.${alias}` : alias,
        };
      }
    }
  }
  return { value: undefined, field: "data.referenceID" };
}

/** RFC 6901: `/a/0/b~1c` → body.a[0]["b/c"]. */
export function resolvePointer(document: unknown, pointer: string): unknown {
  if (pointer === "") return document;
  let current: unknown = document;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(current)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
      current = current[Number(token)];
    } else if (typeof current === "object" && current !== null && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return current;
}

/** `/data/referenceID` → `data.referenceID`, the way the 400 answer names a field. */
function fieldName(pointer: string): string {
  return pointer === ""
    ? "body"
    : pointer.slice(1).replace(/\//g, ".").replace(/~1/g, "/").replace(/~0/g, "~");
}
