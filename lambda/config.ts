// Runtime configuration, read and validated once at start-up. Names, defaults and ranges come
// from the one settings description (SETTINGS in facts.ts) the construct validates against too.
// A missing or malformed value throws a ConfigError that names the variable, so a bad deploy
// fails at init with a readable message instead of at the first webhook.
import { SETTINGS } from "./facts";
import { type SettingNames, settingsContradiction } from "./settings";
import { CLIENT_CODE_PATTERN, parseVendors, type VendorConfig, VendorConfigError } from "./vendors";

const SETTING_NAMES: SettingNames = {
  retryMaxAttempts: SETTINGS.retryMaxAttempts.env,
  ledgerTtlDays: SETTINGS.ledgerTtlDays.env,
  claimLeaseSeconds: SETTINGS.claimLeaseSeconds.env,
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
  const baseUrl = optional(env, SETTINGS.opscomBaseUrl.env) ?? SETTINGS.opscomBaseUrl.default;
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(baseUrl);
  } catch {
    throw new ConfigError(`OPSCOM_BASE_URL must be an http(s) URL, got ${JSON.stringify(baseUrl)}`);
  }
  if (parsedUrl.protocol !== "https:" && parsedUrl.protocol !== "http:") {
    throw new ConfigError(`OPSCOM_BASE_URL must be an http(s) URL, got ${JSON.stringify(baseUrl)}`);
  }
  const clientCode = required(env, SETTINGS.clientCode.env);
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
  const forwardTimeoutMs = integer(env, SETTINGS.forwardTimeoutMs);
  const ledgerTtlDays = integer(env, SETTINGS.ledgerTtlDays);
  const retryMaxAttempts = integer(env, SETTINGS.retryMaxAttempts);
  const claimLeaseSeconds = integer(env, SETTINGS.claimLeaseSeconds);
  const contradiction = settingsContradiction(
    { retryMaxAttempts, ledgerTtlDays, claimLeaseSeconds },
    SETTING_NAMES,
  );
  if (contradiction !== undefined) throw new ConfigError(contradiction);
  return {
    opscomBaseUrl: baseUrl.replace(/\/+$/, ""),
    opscomClientCode: clientCode,
    opscomTokenSecretId: required(env, SETTINGS.tokenSecretId.env),
    vendors: new Map(vendors.map((v) => [v.id, v])),
    vendorSecretPrefix: optional(env, SETTINGS.vendorSecretPrefix.env) ?? SETTINGS.vendorSecretPrefix.default,
    ...(ledgerTableName ? { ledgerTableName } : {}),
    ...(retryQueueUrl ? { retryQueueUrl } : {}),
    secretCacheTtlMs: integer(env, SETTINGS.secretCacheTtlSeconds) * 1000,
    signatureToleranceSeconds: integer(env, SETTINGS.signatureToleranceSeconds),
    forwardTimeoutMs,
    maxBodyBytes: integer(env, SETTINGS.maxBodyBytes),
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

/** A whole-number setting read from its environment variable, with its default and range. */
function integer(
  env: Env,
  { env: name, default: fallback, min, max }: { env: string; default: number; min: number; max: number },
): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}
