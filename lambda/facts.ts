// One home for the names, limits and settings that the functions (lambda/) and the construct
// and stack (lib/) must agree on. Imported by both, so it imports nothing: esbuild bundles it
// into the functions, and the CDK side reads the same values at synth.

/** The Powertools service name: the `service` dimension of every EMF metric and log line. */
export const SERVICE_NAME = "opscom-permit-relay";
/** The CloudWatch namespace of every metric the handlers emit and the alarms watch. */
export const METRICS_NAMESPACE = "OpscomPermitRelay";

/** The ledger's global secondary indexes (partition and sort keys: lambda/adapters/dynamodb-ledger.ts). */
export const LEDGER_INDEX = {
  /** "What happened to reference ID R?": partition `referenceId`, sort `createdAt`. */
  byReference: "byReference",
  /** A day's webhooks without a scan: partition `createdHour`, sort `createdAt`, keys only. */
  byHour: "byHour",
} as const;

/** Every state a ledger record can be in. */
export const DELIVERY_STATES = [
  "in_progress",
  "queued",
  "deleted",
  "not_found",
  "rejected",
  "dead_lettered",
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** SQS's own limits. */
export const SQS_LIMITS = {
  /** Longest message timer (`DelaySeconds`). */
  maxDelaySeconds: 900,
  /** Longest visibility timeout. */
  maxVisibilitySeconds: 43_200,
  /** Longest message retention: both queues keep messages this long. */
  maxRetentionDays: 14,
} as const;

/** Lambda's and API Gateway's limits the construct and the retry schedule depend on. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
/** API Gateway's integration timeout: a function that takes longer is cut off with a 504. */
export const API_GATEWAY_TIMEOUT_SECONDS = 29;
/** Lambda's limit on the total size of a function's environment variables. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * One deploy setting, described once: where it is read (the functions' environment variable,
 * the construct's prop, the stack's context key), its default and its range. `loadConfig`
 * (lambda/config.ts), the construct's validation (lib/props.ts), the stack's context parsing
 * (lib/permit-relay-stack.ts) and the runbook's table (docs/deploy.md, checked by a test)
 * all read it from here.
 */
export interface SettingSpec {
  /** Environment variable the functions read, if any. */
  readonly env?: string;
  /** `PermitDeleteRelay` prop, if any. */
  readonly prop?: string;
  /** CDK context key the stack reads, if any. */
  readonly context?: string;
  /** Default in the unit of `min`/`max`; absent: required, or off when not given. */
  readonly default?: number | string | boolean;
  /** Inclusive range of a whole number, in the setting's unit. */
  readonly min?: number;
  readonly max?: number;
  /** The unit of the number: the construct takes a `Duration` where it is a time. */
  readonly unit?: "ms" | "seconds" | "days" | "count";
}

export const SETTINGS = {
  clientCode: { env: "OPSCOM_CLIENT_CODE", prop: "clientCode", context: "clientCode" },
  vendors: { env: "VENDORS", prop: "vendors", context: "vendors" },
  opscomBaseUrl: {
    env: "OPSCOM_BASE_URL",
    prop: "opscomBaseUrl",
    context: "opscomBaseUrl",
    default: "https://controller.operationscommander.com",
  },
  tokenSecretId: { env: "OPSCOM_TOKEN_SECRET_ID", prop: "tokenSecret", context: "tokenSecretId" },
  vendorSecretPrefix: {
    env: "VENDOR_SECRET_PREFIX",
    prop: "vendorSecretPrefix",
    context: "vendorSecretPrefix",
    default: "opscom-permit-relay/vendors/",
  },
  alarmEmail: { context: "alarmEmail" },
  waf: { prop: "waf", context: "waf", default: true },
  // WAF's own bounds for a rate-based rule.
  wafRateLimit: { prop: "wafRateLimit", context: "wafRateLimit", default: 2000, min: 10, max: 2_000_000_000 },
  throttleRate: { prop: "throttlingRateLimit", context: "throttleRate", default: 50, min: 1, max: 1_000_000 },
  throttleBurst: {
    prop: "throttlingBurstLimit",
    context: "throttleBurst",
    default: 100,
    min: 1,
    max: 1_000_000,
  },
  retryMaxAttempts: {
    env: "RETRY_MAX_ATTEMPTS",
    prop: "retryMaxAttempts",
    context: "retryMaxAttempts",
    default: 7,
    min: 1,
    max: 1000,
    unit: "count",
  },
  dualStack: { prop: "dualStack", context: "dualStack", default: false },
  // Lambda's own bounds for an SQS event source mapping's maximum concurrency; the default is
  // the smallest, so a recovery after an outage is gentle on OPS-COM.
  retryWorkerMaxConcurrency: {
    prop: "retryWorkerMaxConcurrency",
    context: "retryWorkerMaxConcurrency",
    default: 2,
    min: 2,
    max: 1000,
  },
  ingestReservedConcurrency: {
    prop: "ingestReservedConcurrency",
    context: "ingestReservedConcurrency",
    min: 1,
    max: 10_000,
  },
  logRetentionDays: {
    prop: "logRetention",
    context: "logRetentionDays",
    default: 90,
    min: 1,
    max: 3653,
    unit: "days",
  },
  stage: { context: "stage" },
  account: { context: "account" },
  region: { context: "region" },
  domainName: { context: "domainName" },
  certificateArn: { context: "certificateArn" },
  cloudWatchRole: { context: "cloudWatchRole", default: true },
  ledgerTtlDays: {
    env: "LEDGER_TTL_DAYS",
    prop: "ledgerTtlDays",
    default: 30,
    min: 1,
    max: 3650,
    unit: "days",
  },
  claimLeaseSeconds: {
    env: "CLAIM_LEASE_SECONDS",
    prop: "claimLease",
    default: 60,
    min: 5,
    max: 3600,
    unit: "seconds",
  },
  secretCacheTtlSeconds: {
    env: "SECRET_CACHE_TTL_SECONDS",
    prop: "secretCacheTtl",
    default: 300,
    min: 0,
    max: 86_400,
    unit: "seconds",
  },
  signatureToleranceSeconds: {
    env: "SIGNATURE_TOLERANCE_SECONDS",
    prop: "signatureTolerance",
    default: 300,
    min: 1,
    max: 86_400,
    unit: "seconds",
  },
  forwardTimeoutMs: {
    env: "FORWARD_TIMEOUT_MS",
    prop: "forwardTimeout",
    default: 5000,
    min: 100,
    max: 25_000,
    unit: "ms",
  },
  maxBodyBytes: { env: "MAX_BODY_BYTES", prop: "maxBodyBytes", default: 65_536, min: 256, max: 6_000_000 },
  // Below API Gateway's integration timeout, so the function always answers.
  ingestTimeoutSeconds: {
    prop: "ingestTimeout",
    default: 15,
    min: 1,
    max: API_GATEWAY_TIMEOUT_SECONDS - 1,
    unit: "seconds",
  },
  retryWorkerTimeoutSeconds: {
    prop: "retryWorkerTimeout",
    default: 60,
    min: 1,
    max: LAMBDA_MAX_TIMEOUT_SECONDS,
    unit: "seconds",
  },
  retryBacklogAgeThresholdSeconds: {
    prop: "retryBacklogAgeThreshold",
    default: 3600,
    min: 60,
    max: SQS_LIMITS.maxRetentionDays * 86_400,
    unit: "seconds",
  },
  api5xxRateThresholdPercent: { prop: "api5xxRateThresholdPercent", default: 5 },
  api5xxMinimumRequests: { prop: "api5xxMinimumRequests", default: 20, min: 1, max: 1_000_000 },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

/** Every context key the stack reads; any other camelCase key is a mistake (lib/context.ts). */
export const CONTEXT_KEYS: readonly string[] = Object.values(SETTINGS as Record<string, SettingSpec>).flatMap(
  (spec) => (spec.context === undefined ? [] : [spec.context]),
);
