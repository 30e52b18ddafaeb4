// A small IAM identity-policy evaluator for the IAM test: does a role's policy allow one
// recorded call? The maintained npm evaluator (@cloud-copilot/iam-simulate) is AGPL, which a
// platform team's licence scanner blocks, so this implements the part of IAM's rules our
// policies can use — and throws on anything else, so a policy it does not understand fails the
// test instead of passing silently.
//
// Rules followed (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements"):
// an explicit Deny wins; otherwise any Allow allows; otherwise the call is implicitly denied.
// Action names match case-insensitively, with `*` and `?`; a resource ARN matches segment by
// segment (partition, service, region, account, then the resource part), case-sensitively, with
// `*` and `?` never crossing a segment's colons except in the resource part.

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: unknown;
}

export interface AwsCall {
  /** `service:Action`, e.g. `dynamodb:GetItem`. */
  readonly action: string;
  /** The resource's ARN as IAM sees it (a secret's with its 6-character suffix). */
  readonly resource: string;
  /** Condition keys the request carries, e.g. `{"aws:SecureTransport": "true"}`. */
  readonly context?: Readonly<Record<string, string>>;
}

export type Decision = "allow" | "explicitDeny" | "implicitDeny";

export interface Statement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Action?: readonly string[];
  readonly NotAction?: readonly string[];
  readonly Resource?: readonly string[];
  readonly NotResource?: readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

/** Thrown for any policy element, operator, key or value the evaluator does not implement. */
export class UnsupportedPolicy extends Error {
  override readonly name = "UnsupportedPolicy";
}

const STATEMENT_KEYS = new Set([
  "Sid",
  "Effect",
  "Action",
  "NotAction",
  "Resource",
  "NotResource",
  "Condition",
]);
const DOCUMENT_KEYS = new Set(["Version", "Statement", "Id"]);

/** Checks a document's shape and returns its statements; throws on anything unknown. */
export function parsePolicy(document: unknown): Statement[] {
  const doc = record(document, "policy document");
  for (const key of Object.keys(doc)) {
    if (!DOCUMENT_KEYS.has(key)) throw new UnsupportedPolicy(`policy element "${key}" is not understood`);
  }
  if (doc.Version !== undefined && doc.Version !== "2012-10-17") {
    throw new UnsupportedPolicy(`policy Version ${JSON.stringify(doc.Version)} is not understood`);
  }
  const raw = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  return raw.map((s, i) => parseStatement(s, `statement ${i}`));
}

function parseStatement(value: unknown, where: string): Statement {
  const s = record(value, where);
  const name = typeof s.Sid === "string" ? `statement ${s.Sid}` : where;
  for (const key of Object.keys(s)) {
    if (!STATEMENT_KEYS.has(key)) throw new UnsupportedPolicy(`${name}: element "${key}" is not understood`);
  }
  if (s.Effect !== "Allow" && s.Effect !== "Deny") {
    throw new UnsupportedPolicy(`${name}: Effect ${JSON.stringify(s.Effect)} is not understood`);
  }
  if ((s.Action === undefined) === (s.NotAction === undefined)) {
    throw new UnsupportedPolicy(`${name}: needs exactly one of Action and NotAction`);
  }
  if ((s.Resource === undefined) === (s.NotResource === undefined)) {
    throw new UnsupportedPolicy(`${name}: needs exactly one of Resource and NotResource`);
  }
  const strings = (key: string): readonly string[] | undefined => {
    const v = s[key];
    if (v === undefined) return undefined;
    const list = Array.isArray(v) ? v : [v];
    for (const item of list) {
      if (typeof item !== "string") {
        throw new UnsupportedPolicy(`${name}: ${key} holds ${JSON.stringify(item)}, not a string`);
      }
      if (item.includes("${")) {
        throw new UnsupportedPolicy(`${name}: policy variable in ${key} ${item} is not understood`);
      }
    }
    return list as string[];
  };
  const condition: Record<string, Record<string, string[]>> = {};
  if (s.Condition !== undefined) {
    for (const [operator, block] of Object.entries(record(s.Condition, `${name} Condition`))) {
      if (!(operator in OPERATORS)) {
        throw new UnsupportedPolicy(`${name}: condition operator ${operator} is not understood`);
      }
      condition[operator] = {};
      for (const [key, values] of Object.entries(record(block, `${name} ${operator}`))) {
        const list = Array.isArray(values) ? values : [values];
        if (!list.every((v) => typeof v === "string")) {
          throw new UnsupportedPolicy(`${name}: ${operator} ${key} must list strings`);
        }
        condition[operator][key] = list as string[];
      }
    }
  }
  return {
    ...(typeof s.Sid === "string" ? { Sid: s.Sid } : {}),
    Effect: s.Effect,
    ...optional("Action", strings("Action")),
    ...optional("NotAction", strings("NotAction")),
    ...optional("Resource", strings("Resource")),
    ...optional("NotResource", strings("NotResource")),
    ...(s.Condition === undefined ? {} : { Condition: condition }),
  };
}

type Operator = (actual: string, expected: string) => boolean;
// Only single-valued keys are supported (ForAnyValue/ForAllValues are not understood).
const OPERATORS: Record<string, Operator> = {
  StringEquals: (a, e) => a === e,
  StringNotEquals: (a, e) => a !== e,
  StringLike: (a, e) => glob(e, a, false),
  StringNotLike: (a, e) => !glob(e, a, false),
  ArnEquals: (a, e) => arnMatches(e, a),
  ArnLike: (a, e) => arnMatches(e, a),
  ArnNotEquals: (a, e) => !arnMatches(e, a),
  ArnNotLike: (a, e) => !arnMatches(e, a),
  Bool: (a, e) => a.toLowerCase() === e.toLowerCase(),
};
const NEGATED = new Set(["StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"]);

/** Whether every condition of a statement holds; a key the call does not carry is not guessed. */
function conditionsHold(statement: Statement, call: AwsCall): boolean {
  for (const [operator, block] of Object.entries(statement.Condition ?? {})) {
    const test = OPERATORS[operator] as Operator;
    for (const [key, expected] of Object.entries(block)) {
      const actual = call.context?.[key];
      if (actual === undefined) {
        throw new UnsupportedPolicy(
          `condition key ${key} (${operator}) is not in the recorded call's context: its value is unknown`,
        );
      }
      // Positive operators hold if any value matches; negated ones only if none does.
      const holds = NEGATED.has(operator)
        ? expected.every((e) => test(actual, e))
        : expected.some((e) => test(actual, e));
      if (!holds) return false;
    }
  }
  return true;
}

/** Whether a statement applies to the call (its Effect then decides). */
export function statementMatches(statement: Statement, call: AwsCall): boolean {
  const actionHit = (patterns: readonly string[]) => patterns.some((p) => glob(p, call.action, true));
  const resourceHit = (patterns: readonly string[]) => patterns.some((p) => arnMatches(p, call.resource));
  const action = statement.Action ? actionHit(statement.Action) : !actionHit(statement.NotAction ?? []);
  if (!action) return false;
  const resource = statement.Resource
    ? resourceHit(statement.Resource)
    : !resourceHit(statement.NotResource ?? []);
  return resource && conditionsHold(statement, call);
}

/** IAM's decision for one call under the given identity policies. */
export function evaluate(
  statements: readonly Statement[],
  call: AwsCall,
): { decision: Decision; matched: Statement[] } {
  const matched = statements.filter((s) => statementMatches(s, call));
  if (matched.some((s) => s.Effect === "Deny")) return { decision: "explicitDeny", matched };
  if (matched.some((s) => s.Effect === "Allow")) return { decision: "allow", matched };
  return { decision: "implicitDeny", matched };
}

/** `*` and `?` wildcards over the whole string. */
function glob(pattern: string, value: string, ignoreCase: boolean): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`, ignoreCase ? "is" : "s").test(value);
}

/** An ARN pattern against an ARN, segment by segment; `*` alone matches every resource. */
export function arnMatches(pattern: string, arn: string): boolean {
  if (pattern === "*") return true;
  const p = splitArn(pattern);
  const a = splitArn(arn);
  if (!p || !a) throw new UnsupportedPolicy(`${p ? arn : pattern} is not an ARN`);
  return p.every((segment, i) => glob(segment, a[i] as string, false));
}

function splitArn(arn: string): string[] | undefined {
  const parts = arn.split(":");
  if (parts.length < 6 || parts[0] !== "arn") return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(":")];
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new UnsupportedPolicy(`${what} is not an object`);
  }
  return value as Record<string, unknown>;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
