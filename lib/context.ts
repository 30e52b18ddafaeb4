// The stack's CDK context: every key it reads is in the one settings description (SETTINGS in
// lambda/facts.ts); a key it does not know is an error naming the closest one, so a typo in
// cdk.json fails the synth instead of silently falling back to a default. Context keys and
// defaults: docs/deploy.md, "Context values".
import type { Environment } from "aws-cdk-lib";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Node } from "constructs";
import { CONTEXT_KEYS, SETTINGS } from "../lambda/facts";
import { settingsContradiction } from "../lambda/settings";
import { CLIENT_CODE_PATTERN, parseVendors } from "../lambda/vendors";
import type { VendorInput } from "./props";

/** Used when no `clientCode` context is given, so a fresh clone synthesizes. */
export const PLACEHOLDER_CLIENT_CODE = "OC-TOMA";
/** Used when no `vendors` context is given, so a fresh clone synthesizes. */
export const PLACEHOLDER_VENDORS: readonly VendorInput[] = [{ id: "demo-vendor" }];
/** The stack's name without a `stage`; with one, the stage is appended (`OpscomPermitRelay-staging`). */
export const BASE_STACK_NAME = "OpscomPermitRelay";

/** The context keys this stack reads, after parsing. */
export interface RelayContext {
  readonly clientCode: string;
  readonly opscomBaseUrl?: string;
  /** Name or complete ARN of an existing token secret; absent: the stack creates one. */
  readonly tokenSecretId?: string;
  /** As given (validated): the functions receive them as given and apply the same defaults. */
  readonly vendors: readonly VendorInput[];
  readonly vendorSecretPrefix?: string;
  readonly alarmEmail?: string;
  readonly waf?: boolean;
  readonly wafRateLimit?: number;
  readonly throttleRate?: number;
  readonly throttleBurst?: number;
  readonly retryMaxAttempts?: number;
  readonly dualStack?: boolean;
  readonly logRetentionDays?: logs.RetentionDays;
  readonly retryWorkerMaxConcurrency?: number;
  readonly ingestReservedConcurrency?: number;
  /** The API Gateway CloudWatch Logs role (account-wide); false when the account already has one. */
  readonly cloudWatchRole?: boolean;
  /** A custom domain for the API, so a redeploy never changes the URL vendors hold. */
  readonly domain?: { readonly domainName: string; readonly certificateArn: string };
  /** Context keys that fell back to placeholders. */
  readonly placeholders: readonly string[];
}

/** Where the stack goes: its name (with the stage) and, when pinned, its account and region. */
export interface DeployTarget {
  readonly stackName: string;
  readonly stage?: string;
  readonly env?: Environment;
}

type Get = (key: string) => unknown;

/**
 * Reads and validates this stack's context. Values given on the command line (`-c key=value`)
 * arrive as strings, values in cdk.json as JSON; both are accepted.
 */
export function readRelayContext(node: Node): RelayContext {
  rejectUnknownKeys(node);
  const { get, fail, text, flag, whole } = readers(node);
  const placeholders: string[] = [];

  let clientCode = text("clientCode", CLIENT_CODE_PATTERN, "must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA");
  if (clientCode === undefined) {
    placeholders.push("clientCode");
    clientCode = PLACEHOLDER_CLIENT_CODE;
  }
  const rawVendors = get("vendors");
  let vendors: readonly VendorInput[];
  if (rawVendors === undefined) {
    placeholders.push("vendors");
    vendors = PLACEHOLDER_VENDORS;
  } else {
    vendors = readVendors(rawVendors);
  }
  const retryMaxAttempts = whole(SETTINGS.retryMaxAttempts);
  if (retryMaxAttempts !== undefined) {
    // Only the schedule is a context value; the construct checks the rest against it too.
    const key = 'Context "retryMaxAttempts"';
    const contradiction = settingsContradiction(
      { retryMaxAttempts },
      { retryMaxAttempts: key, ledgerTtlDays: key, claimLeaseSeconds: key, ingestTimeoutSeconds: key },
    );
    if (contradiction !== undefined) throw new Error(contradiction);
  }
  const logRetention = whole(SETTINGS.logRetentionDays);
  if (logRetention !== undefined && !Object.values(logs.RetentionDays).includes(logRetention)) {
    fail(
      "logRetentionDays",
      "must be a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)",
      get("logRetentionDays"),
    );
  }
  const domainName = text(
    "domainName",
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    "must be a lower-case DNS name, e.g. webhooks.example.com",
  );
  const certificateArn = text(
    "certificateArn",
    /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/,
    "must be the ARN of an ACM certificate in the stack's region",
  );
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new Error(
      'Context "domainName" and "certificateArn" go together: a custom domain needs the ACM certificate that covers it',
    );
  }
  return {
    clientCode,
    vendors,
    placeholders,
    opscomBaseUrl: text(
      "opscomBaseUrl",
      /^https:\/\/[^/\s?#]+(\/[^\s?#]*)?$/,
      "must be an https:// URL without query or fragment",
    ),
    tokenSecretId: text(
      "tokenSecretId",
      /^(arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}|[A-Za-z0-9/_+=.@-]{1,512})$/,
      "must be a secret name or a complete secret ARN (with the 6-character suffix)",
    ),
    vendorSecretPrefix: text(
      "vendorSecretPrefix",
      /^[A-Za-z0-9/_+=.@-]{1,256}$/,
      "must be 1-256 of [A-Za-z0-9/_+=.@-]",
    ),
    alarmEmail: text("alarmEmail", /^[^@\s]+@[^@\s]+\.[^@\s]+$/, "must be an e-mail address"),
    waf: flag("waf"),
    wafRateLimit: whole(SETTINGS.wafRateLimit),
    throttleRate: whole(SETTINGS.throttleRate),
    throttleBurst: whole(SETTINGS.throttleBurst),
    retryMaxAttempts,
    dualStack: flag("dualStack"),
    logRetentionDays: logRetention,
    retryWorkerMaxConcurrency: whole(SETTINGS.retryWorkerMaxConcurrency),
    ingestReservedConcurrency: whole(SETTINGS.ingestReservedConcurrency),
    cloudWatchRole: flag("cloudWatchRole"),
    ...(domainName !== undefined && certificateArn !== undefined
      ? { domain: { domainName, certificateArn } }
      : {}),
  };
}

/**
 * The stack's name and environment from the `stage`, `account` and `region` context keys, so
 * two stages sit side by side in one account and a pinned stack cannot be deployed elsewhere.
 */
export function readDeployTarget(node: Node): DeployTarget {
  rejectUnknownKeys(node);
  const { text } = readers(node);
  const stage = text(
    "stage",
    /^[a-z][a-z0-9-]{0,23}$/,
    "must be 1-24 of [a-z0-9-] starting with a letter, e.g. staging or prod",
  );
  const account = text("account", /^\d{12}$/, "must be a 12-digit AWS account ID");
  const region = text("region", /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, "must be an AWS region, e.g. eu-west-1");
  const env = account === undefined && region === undefined ? undefined : { account, region };
  return {
    stackName: stage === undefined ? BASE_STACK_NAME : `${BASE_STACK_NAME}-${stage}`,
    ...(stage === undefined ? {} : { stage }),
    ...(env === undefined ? {} : { env }),
  };
}

function readVendors(raw: unknown): readonly VendorInput[] {
  const source = 'Context "vendors"';
  let list: unknown;
  try {
    list = typeof raw === "string" ? JSON.parse(raw) : raw;
  } catch (error) {
    // The parser's own message carries the position (`at position 2 (line 1 column 3)`).
    throw new Error(
      `${source} must be a JSON array of vendors; it is not valid JSON: ${(error as Error).message}`,
    );
  }
  try {
    parseVendors(list, source);
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.startsWith(source) ? message : `${source}: ${message}`);
  }
  // parseVendors accepted it, so it is a list of vendor objects.
  return list as VendorInput[];
}

/**
 * A camelCase context key this stack does not read is a typo of one it does. CDK's own keys
 * (`@aws-cdk/…`, `aws:cdk:…`, lookups such as `availability-zones:…`) never are camelCase.
 */
function rejectUnknownKeys(node: Node): void {
  for (const key of Object.keys(node.getAllContext())) {
    if (!/^[a-z][A-Za-z0-9]*$/.test(key) || CONTEXT_KEYS.includes(key)) continue;
    const closest = closestKey(key);
    throw new Error(
      `Context "${key}" is not a setting of this stack${closest === undefined ? "" : `; did you mean ${closest}?`} ` +
        `(known keys: docs/deploy.md, "Context values")`,
    );
  }
}

/** The known key fewest edits away (case ignored), if it is close enough to be the one meant. */
export function closestKey(key: string): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const known of CONTEXT_KEYS) {
    const distance = editDistance(key.toLowerCase(), known.toLowerCase());
    if (best === undefined || distance < best.distance) best = { key: known, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(key.length / 3))
    ? best.key
    : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** Typed readers over the node's context, each failing with a message naming the key. */
function readers(node: Node) {
  const get: Get = (key) => {
    const value = node.tryGetContext(key);
    return value === "" ? undefined : value;
  };
  const fail = (key: string, rule: string, value: unknown): never => {
    throw new Error(`Context "${key}" ${rule}; got ${JSON.stringify(value)}`);
  };
  const text = (key: string, pattern: RegExp, rule: string): string | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !pattern.test(value)) return fail(key, rule, value);
    return value;
  };
  const flag = (key: string): boolean | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    return fail(key, "must be true or false", value);
  };
  /** A whole-number key, checked against the range in the settings description. */
  const whole = (spec: { readonly context: string; readonly min: number; readonly max: number }) => {
    const { context: key, min, max } = spec;
    const value = get(key);
    if (value === undefined) return undefined;
    const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== "number" || !Number.isInteger(number) || number < min || number > max) {
      return fail(key, `must be a whole number from ${min} to ${max}`, value);
    }
    return number;
  };
  return { get, fail, text, flag, whole };
}
