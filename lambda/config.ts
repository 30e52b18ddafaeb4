// Runtime configuration, read and validated once at start-up (the README's Configuration table).
// A missing or malformed value throws a ConfigError that names the variable, so a bad deploy
// fails at init with a readable message instead of at the first webhook.
import { type SettingNames, settingsContradiction } from "./settings";
import { CLIENT_CODE_PATTERN, parseVendors, type VendorConfig, VendorConfigError } from "./vendors";

const SETTING_NAMES: SettingNames = {
  retryMaxAttempts: "RETRY_MAX_ATTEMPTS",
  ledgerTtlDays: "LEDGER_TTL_DAYS",
  claimLeaseSeconds: "CLAIM_LEASE_SECONDS",
  ingestTimeoutSeconds: "the ingest function's timeout",
};

export interface RelayConfig {
  readonly opscomBaseUrl: string;
  readonly opscomClientCode: string;
  readonly opscomTokenSecretId: string;
  readonly vendors: ReadonlyMap<string, VendorConfig>;
  readonly vendorSecretPrefix: string;
  readonly ledgerTableName?: string;
  readonly retryQueueUrl?: string;
  readonly secretCacheTtlMs: number;
  readonly signatureToleranceSeconds: number;
  readonly forwardTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly ledgerTtlDays: number;
  readonly retryMaxAttempts: number;
  readonly claimLeaseSeconds: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env): RelayConfig {
  const baseUrl = optional(env, "OPSCOM_BASE_URL") ?? "https://controller.operationscommander.com";
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(baseUrl);
  } catch {
    throw new ConfigError(`OPSCOM_BASE_URL must be an http(s) URL, got ${JSON.stringify(baseUrl)}`);
  }
  if (parsedUrl.protocol !== "https:" && parsedUrl.protocol !== "http:") {
    throw new ConfigError(`OPSCOM_BASE_URL must be an http(s) URL, got ${JSON.stringify(baseUrl)}`);
  }
  const clientCode = required(env, "OPSCOM_CLIENT_CODE");
  if (!CLIENT_CODE_PATTERN.test(clientCode)) {
    throw new ConfigError(`OPSCOM_CLIENT_CODE must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA`);
  }
  let vendors: VendorConfig[];
  try {
    vendors = parseVendors(required(env, "VENDORS"), "VENDORS");
  } catch (error) {
    if (error instanceof VendorConfigError) {
      throw new ConfigError(
        error.message.startsWith("VENDORS") ? error.message : `VENDORS: ${error.message}`,
      );
    }
    throw error;
  }
  const ledgerTableName = optional(env, "LEDGER_TABLE_NAME");
  const retryQueueUrl = optional(env, "RETRY_QUEUE_URL");
  if (retryQueueUrl !== undefined && !/^https?:\/\//.test(retryQueueUrl)) {
    throw new ConfigError(`RETRY_QUEUE_URL must be an SQS queue URL, got ${JSON.stringify(retryQueueUrl)}`);
  }
  const forwardTimeoutMs = integer(env, "FORWARD_TIMEOUT_MS", 5000, 100, 25_000);
  const ledgerTtlDays = integer(env, "LEDGER_TTL_DAYS", 30, 1, 3650);
  const retryMaxAttempts = integer(env, "RETRY_MAX_ATTEMPTS", 7, 1, 1000);
  const claimLeaseSeconds = integer(env, "CLAIM_LEASE_SECONDS", 60, 5, 3600);
  const contradiction = settingsContradiction(
    { retryMaxAttempts, ledgerTtlDays, claimLeaseSeconds },
    SETTING_NAMES,
  );
  if (contradiction !== undefined) throw new ConfigError(contradiction);
  return {
    opscomBaseUrl: baseUrl.replace(/\/+$/, ""),
    opscomClientCode: clientCode,
    opscomTokenSecretId: required(env, "OPSCOM_TOKEN_SECRET_ID"),
    vendors: new Map(vendors.map((v) => [v.id, v])),
    vendorSecretPrefix: optional(env, "VENDOR_SECRET_PREFIX") ?? "opscom-permit-relay/vendors/",
    ...(ledgerTableName ? { ledgerTableName } : {}),
    ...(retryQueueUrl ? { retryQueueUrl } : {}),
    secretCacheTtlMs: integer(env, "SECRET_CACHE_TTL_SECONDS", 300, 0, 86_400) * 1000,
    signatureToleranceSeconds: integer(env, "SIGNATURE_TOLERANCE_SECONDS", 300, 1, 86_400),
    forwardTimeoutMs,
    maxBodyBytes: integer(env, "MAX_BODY_BYTES", 65_536, 256, 6_000_000),
    ledgerTtlDays,
    retryMaxAttempts,
    claimLeaseSeconds,
  };
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function required(env: Env, name: string): string {
  const value = optional(env, name);
  if (value === undefined) throw new ConfigError(`${name} is required but not set`);
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}
