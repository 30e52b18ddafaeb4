// The construct's props, their defaults and their validation: what a reader of
// PermitDeleteRelay looks for first. Defaults and ranges come from the one settings
// description (SETTINGS in lambda/facts.ts), which the functions' start-up check reads too.
import { Duration } from "aws-cdk-lib";
import type * as acm from "aws-cdk-lib/aws-certificatemanager";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { ANSWER_CEILING_MS } from "../lambda/budget";
import { SETTINGS } from "../lambda/facts";
import { settingsContradiction } from "../lambda/settings";
import { CLIENT_CODE_PATTERN, parseVendors, type VendorConfig } from "../lambda/vendors";

export const DEFAULT_OPSCOM_BASE_URL = SETTINGS.opscomBaseUrl.default;
export const DEFAULT_VENDOR_SECRET_PREFIX = SETTINGS.vendorSecretPrefix.default;
/** Retry worker invocations at once: Lambda's smallest allowed maximum, so a recovery is gentle. */
export const DEFAULT_RETRY_WORKER_MAX_CONCURRENCY = SETTINGS.retryWorkerMaxConcurrency.default;
/** The ingest function's timeout unless set: well above the answer ceiling (lambda/budget.ts). */
export const DEFAULT_INGEST_TIMEOUT = Duration.seconds(SETTINGS.ingestTimeoutSeconds.default);

/**
 * A vendor as given in configuration: only `id` is required; everything else takes the
 * defaults of `parseVendors` (lambda/vendors.ts), which validates it.
 */
export type VendorInput = { readonly id: string } & Partial<Omit<VendorConfig, "id">>;

export interface PermitDeleteRelayProps {
  /** OPS-COM client code used in the API path, e.g. `OC-TOMA`. */
  readonly clientCode: string;
  /**
   * The vendors allowed to post (the `VENDORS` contract). Each vendor's signing secret is
   * the Secrets Manager secret named `vendorSecretPrefix + id`.
   */
  readonly vendors: readonly VendorInput[];
  /**
   * OPS-COM controller base URL.
   * @default "https://controller.operationscommander.com"
   */
  readonly opscomBaseUrl?: string;
  /**
   * The secret holding the OPS-COM API token (the token itself, or JSON `{"apiToken": "…"}`).
   * @default - a new, empty secret whose description says how to fill it
   */
  readonly tokenSecret?: secretsmanager.ISecret;
  /**
   * Name prefix of the vendors' signing secrets.
   * @default "opscom-permit-relay/vendors/"
   */
  readonly vendorSecretPrefix?: string;
  /**
   * Deliveries a parked webhook gets before it moves to the dead-letter queue: both the
   * retry queue's `maxReceiveCount` and the worker's `RETRY_MAX_ATTEMPTS`.
   * The default matches the retry schedule (lambda/retry-schedule.ts): 7 attempts over about 27.6 h.
   * @default 7
   */
  readonly retryMaxAttempts?: number;
  /**
   * Stage-wide steady request rate (requests per second).
   * @default 50
   */
  readonly throttlingRateLimit?: number;
  /**
   * Stage-wide burst (requests).
   * @default 100
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Put an AWS WAF web ACL with a per-source-IP rate-based rule in front of the API.
   * @default true
   */
  readonly waf?: boolean;
  /**
   * Requests one source IP may send in any 5-minute window before WAF answers 429.
   * @default 2000
   */
  readonly wafRateLimit?: number;
  /**
   * Accept IPv6 clients as well as IPv4 (a dual-stack regional endpoint). Needed when a
   * vendor's `allowedSourceCidrs` lists IPv6 blocks.
   * @default false
   */
  readonly dualStack?: boolean;
  /**
   * Retention of the API access logs and both functions' logs.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Days a finished webhook stays in the ledger (duplicate detection window).
   * @default 30
   */
  readonly ledgerTtlDays?: number;
  /**
   * How long a fetched secret is reused.
   * @default Duration.minutes(5)
   */
  readonly secretCacheTtl?: Duration;
  /**
   * Accepted clock skew of the signed timestamp.
   * @default Duration.minutes(5)
   */
  readonly signatureTolerance?: Duration;
  /**
   * Timeout of one OPS-COM attempt.
   * @default Duration.seconds(5)
   */
  readonly forwardTimeout?: Duration;
  /**
   * Largest accepted body, in bytes.
   * @default 65536
   */
  readonly maxBodyBytes?: number;
  /**
   * Ingest function timeout; below API Gateway's 29 s so the function always answers, and
   * above the 8 s ceiling the ingest handler holds every answer to.
   * @default Duration.seconds(15)
   */
  readonly ingestTimeout?: Duration;
  /**
   * Retry worker timeout; the retry queue's visibility timeout is six times this.
   * @default Duration.seconds(60)
   */
  readonly retryWorkerTimeout?: Duration;
  /**
   * How long an in-flight claim on a webhook blocks a duplicate before it may be taken over;
   * longer than the ingest timeout so a live invocation never loses its claim.
   * @default Duration.seconds(60)
   */
  readonly claimLease?: Duration;
  /**
   * Age of the oldest parked delivery that raises the retry backlog alarm. The retry
   * schedule's first three retries (5 s, 5 min, 30 min) fit inside the default.
   * @default Duration.hours(1)
   */
  readonly retryBacklogAgeThreshold?: Duration;
  /**
   * Percentage of API requests answered 5xx (over 5 minutes) that raises the alarm.
   * @default 5
   */
  readonly api5xxRateThresholdPercent?: number;
  /**
   * Requests a 5-minute period needs before its 5xx rate can raise the alarm.
   * @default 20
   */
  readonly api5xxMinimumRequests?: number;
  /**
   * Most retry worker invocations the retry queue's event source mapping runs at once (its
   * `maximumConcurrency`, 2-1000). Each invocation delivers at most `RECORD_CONCURRENCY`
   * (lambda/retry-core.ts) records at a time, so OPS-COM sees at most this times that many
   * concurrent calls from the worker, however long the backlog an outage left.
   * @default 2
   */
  readonly retryWorkerMaxConcurrency?: number;
  /**
   * Reserved concurrency of the ingest function: caps how many webhooks reach OPS-COM at once
   * and keeps that many instances for the relay whatever else runs in the account. Requests
   * over it are throttled; vendors get `503 unavailable` with Retry-After.
   * @default - none (the account's unreserved pool)
   */
  readonly ingestReservedConcurrency?: number;
  /**
   * Create API Gateway's CloudWatch Logs role and set it as the account's (API Gateway has one
   * such role per account and region, shared by every REST API there). Turn it off when the
   * account already has one, so this stack does not replace it.
   * @default true
   */
  readonly cloudWatchRole?: boolean;
  /**
   * A custom domain in front of the stage (a regional API Gateway domain name and a base path
   * mapping), so the URL vendors hold survives a redeploy or a rebuilt API.
   * @default - none: vendors post to the execute-api URL
   */
  readonly domain?: {
    /** E.g. `webhooks.example.com`; point DNS at `PermitDeleteRelay.domainName.domainNameAliasDomainName`. */
    readonly domainName: string;
    /** An ACM certificate in the stack's region that covers `domainName`. */
    readonly certificate: acm.ICertificate;
  };
}

/** Settings after defaults, checked. */
export interface RelaySettings {
  readonly clientCode: string;
  readonly vendors: VendorConfig[];
  readonly opscomBaseUrl: string;
  readonly vendorSecretPrefix: string;
  readonly retryMaxAttempts: number;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
  readonly waf: boolean;
  readonly wafRateLimit: number;
  readonly dualStack: boolean;
  readonly logRetention: logs.RetentionDays;
  readonly ledgerTtlDays: number;
  readonly secretCacheTtl: Duration;
  readonly signatureTolerance: Duration;
  readonly forwardTimeout: Duration;
  readonly maxBodyBytes: number;
  readonly ingestTimeout: Duration;
  readonly retryWorkerTimeout: Duration;
  readonly claimLease: Duration;
  readonly retryBacklogAgeThreshold: Duration;
  readonly api5xxRateThresholdPercent: number;
  readonly api5xxMinimumRequests: number;
  readonly retryWorkerMaxConcurrency: number;
  readonly ingestReservedConcurrency?: number;
  readonly cloudWatchRole: boolean;
}

const SECRET_NAME_PREFIX_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,256}$/;
const COMPLETE_SECRET_ARN_PATTERN =
  /^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;

export function validateProps(props: PermitDeleteRelayProps): RelaySettings {
  const fail = (message: string): never => {
    throw new Error(`PermitDeleteRelay: ${message}`);
  };
  if (!CLIENT_CODE_PATTERN.test(props.clientCode)) {
    fail(`clientCode must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA; got ${JSON.stringify(props.clientCode)}`);
  }
  const opscomBaseUrl = props.opscomBaseUrl ?? DEFAULT_OPSCOM_BASE_URL;
  if (!/^https:\/\/[^/\s?#]+(\/[^\s?#]*)?$/.test(opscomBaseUrl)) {
    fail(
      `opscomBaseUrl must be an https:// URL without query or fragment; got ${JSON.stringify(opscomBaseUrl)}`,
    );
  }
  let vendors: VendorConfig[] = [];
  try {
    vendors = parseVendors(props.vendors, "vendors");
  } catch (error) {
    fail((error as Error).message);
  }
  for (const vendor of vendors) {
    const tokenSecretId = vendor.opscom.tokenSecretId;
    if (tokenSecretId?.startsWith("arn:") && !COMPLETE_SECRET_ARN_PATTERN.test(tokenSecretId)) {
      fail(
        `vendor "${vendor.id}": field "opscom.tokenSecretId" must be a secret name or a complete secret ARN ` +
          `(ending in the 6-character suffix Secrets Manager adds); got ${JSON.stringify(tokenSecretId)}`,
      );
    }
  }
  const vendorSecretPrefix = props.vendorSecretPrefix ?? DEFAULT_VENDOR_SECRET_PREFIX;
  if (!SECRET_NAME_PREFIX_PATTERN.test(vendorSecretPrefix)) {
    fail(
      `vendorSecretPrefix must be 1-256 of the characters allowed in secret names ([A-Za-z0-9/_+=.@-]); got ${JSON.stringify(vendorSecretPrefix)}`,
    );
  }
  const retryMaxAttempts = whole(SETTINGS.retryMaxAttempts, props.retryMaxAttempts, fail);
  const throttlingRateLimit = props.throttlingRateLimit ?? SETTINGS.throttleRate.default;
  // The construct takes any positive rate (API Gateway does); the context key takes whole numbers.
  if (!Number.isFinite(throttlingRateLimit) || throttlingRateLimit <= 0) {
    fail(`throttlingRateLimit must be a positive number of requests per second; got ${throttlingRateLimit}`);
  }
  const throttlingBurstLimit = whole(SETTINGS.throttleBurst, props.throttlingBurstLimit, fail);
  const wafRateLimit = whole(SETTINGS.wafRateLimit, props.wafRateLimit, fail);
  const ledgerTtlDays = whole(SETTINGS.ledgerTtlDays, props.ledgerTtlDays, fail);
  const maxBodyBytes = whole(SETTINGS.maxBodyBytes, props.maxBodyBytes, fail);
  const api5xxRateThresholdPercent =
    props.api5xxRateThresholdPercent ?? SETTINGS.api5xxRateThresholdPercent.default;
  if (!(api5xxRateThresholdPercent > 0 && api5xxRateThresholdPercent <= 100)) {
    fail(`api5xxRateThresholdPercent must be more than 0 and at most 100; got ${api5xxRateThresholdPercent}`);
  }
  const api5xxMinimumRequests = whole(SETTINGS.api5xxMinimumRequests, props.api5xxMinimumRequests, fail);
  const retryWorkerMaxConcurrency = whole(
    SETTINGS.retryWorkerMaxConcurrency,
    props.retryWorkerMaxConcurrency,
    fail,
  );
  if (props.ingestReservedConcurrency !== undefined) {
    inRange(SETTINGS.ingestReservedConcurrency, props.ingestReservedConcurrency, fail);
  }

  const secretCacheTtl = wholeSeconds(SETTINGS.secretCacheTtlSeconds, props.secretCacheTtl, fail);
  const signatureTolerance = wholeSeconds(SETTINGS.signatureToleranceSeconds, props.signatureTolerance, fail);
  const forwardSpec = SETTINGS.forwardTimeoutMs;
  const forwardTimeout = props.forwardTimeout ?? Duration.millis(forwardSpec.default);
  const forwardMs = forwardTimeout.toMilliseconds();
  if (!Number.isInteger(forwardMs) || forwardMs < forwardSpec.min || forwardMs > forwardSpec.max) {
    fail(
      `forwardTimeout must be from ${forwardSpec.min} ms to ${forwardSpec.max / 1000} seconds; got ${forwardTimeout.toHumanString()}`,
    );
  }
  const ingestTimeout = wholeSeconds(SETTINGS.ingestTimeoutSeconds, props.ingestTimeout, fail);
  // The ingest handler holds every answer to the ceiling whatever forwardTimeout is (its
  // inline attempts share a budget); Lambda must not cut it off first.
  if (ingestTimeout.toMilliseconds() <= ANSWER_CEILING_MS) {
    fail(
      `ingestTimeout (${ingestTimeout.toHumanString()}) must be longer than the ingest answer ceiling (${ANSWER_CEILING_MS} ms, lambda/budget.ts)`,
    );
  }
  const retryWorkerTimeout = wholeSeconds(SETTINGS.retryWorkerTimeoutSeconds, props.retryWorkerTimeout, fail);
  if (retryWorkerTimeout.toMilliseconds() <= 2 * forwardMs) {
    fail(
      `retryWorkerTimeout (${retryWorkerTimeout.toHumanString()}) must be longer than twice forwardTimeout (${forwardTimeout.toHumanString()})`,
    );
  }
  const claimLease = wholeSeconds(SETTINGS.claimLeaseSeconds, props.claimLease, fail);
  const contradiction = settingsContradiction(
    {
      retryMaxAttempts,
      ledgerTtlDays,
      claimLeaseSeconds: claimLease.toSeconds(),
      ingestTimeoutSeconds: ingestTimeout.toSeconds(),
    },
    {
      retryMaxAttempts: SETTINGS.retryMaxAttempts.prop,
      ledgerTtlDays: SETTINGS.ledgerTtlDays.prop,
      claimLeaseSeconds: SETTINGS.claimLeaseSeconds.prop,
      ingestTimeoutSeconds: SETTINGS.ingestTimeoutSeconds.prop,
    },
  );
  if (contradiction !== undefined) fail(contradiction);
  const retryBacklogAgeThreshold = wholeSeconds(
    SETTINGS.retryBacklogAgeThresholdSeconds,
    props.retryBacklogAgeThreshold,
    fail,
  );

  return {
    clientCode: props.clientCode,
    vendors,
    opscomBaseUrl,
    vendorSecretPrefix,
    retryMaxAttempts,
    throttlingRateLimit,
    throttlingBurstLimit,
    waf: props.waf ?? SETTINGS.waf.default,
    cloudWatchRole: props.cloudWatchRole ?? SETTINGS.cloudWatchRole.default,
    wafRateLimit,
    dualStack: props.dualStack ?? SETTINGS.dualStack.default,
    logRetention: props.logRetention ?? SETTINGS.logRetentionDays.default,
    ledgerTtlDays,
    secretCacheTtl,
    signatureTolerance,
    forwardTimeout,
    maxBodyBytes,
    ingestTimeout,
    retryWorkerTimeout,
    claimLease,
    retryBacklogAgeThreshold,
    api5xxRateThresholdPercent,
    api5xxMinimumRequests,
    retryWorkerMaxConcurrency,
    ...(props.ingestReservedConcurrency === undefined
      ? {}
      : { ingestReservedConcurrency: props.ingestReservedConcurrency }),
  };
}

interface RangeSpec {
  readonly prop: string;
  readonly min: number;
  readonly max: number;
}
type Fail = (message: string) => never;

function inRange(spec: RangeSpec, value: number, fail: Fail): number {
  if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
    fail(`${spec.prop} must be a whole number from ${spec.min} to ${spec.max}; got ${value}`);
  }
  return value;
}

/** A whole-number prop, its default applied, checked against the settings description. */
function whole(
  spec: RangeSpec & { readonly default: number },
  value: number | undefined,
  fail: Fail,
): number {
  return inRange(spec, value ?? spec.default, fail);
}

/** A time prop in whole seconds, its default applied, checked against the settings description. */
function wholeSeconds(
  spec: RangeSpec & { readonly default: number },
  value: Duration | undefined,
  fail: Fail,
): Duration {
  const duration = value ?? Duration.seconds(spec.default);
  const ms = duration.toMilliseconds();
  if (ms % 1000 !== 0 || ms / 1000 < spec.min || ms / 1000 > spec.max) {
    fail(
      `${spec.prop} must be whole seconds from ${spec.min} to ${spec.max}; got ${duration.toHumanString()}`,
    );
  }
  return duration;
}
