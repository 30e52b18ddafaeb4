// Runtime configuration (the README's Configuration table): defaults, and a start-up failure
// that names the variable for every missing or malformed value.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../lambda/config";
import { SETTINGS, type SettingSpec } from "../../lambda/facts";

type Env = Record<string, string | undefined>;

/** The smallest valid environment, with overrides (`undefined` removes a variable). */
function env(overrides: Env = {}): Env {
  return {
    OPSCOM_CLIENT_CODE: "OC-TOMA",
    OPSCOM_TOKEN_SECRET_ID: "opscom-permit-relay/opscom-token",
    VENDORS: JSON.stringify([{ id: "acme" }]),
    ...overrides,
  };
}

function failure(values: Env): ConfigError {
  try {
    loadConfig(values);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected loadConfig to throw");
}

describe("loadConfig: defaults", () => {
  it("fills every optional value with the README's default", () => {
    const config = loadConfig(env());
    expect(config).toMatchObject({
      opscomBaseUrl: "https://controller.operationscommander.com",
      opscomClientCode: "OC-TOMA",
      opscomTokenSecretId: "opscom-permit-relay/opscom-token",
      vendorSecretPrefix: "opscom-permit-relay/vendors/",
      secretCacheTtlMs: 300_000,
      signatureToleranceSeconds: 300,
      forwardTimeoutMs: 5000,
      maxBodyBytes: 65_536,
      ledgerTtlDays: 30,
      retryMaxAttempts: 7,
      claimLeaseSeconds: 60,
    });
    expect(config).not.toHaveProperty("ledgerTableName");
    expect(config).not.toHaveProperty("retryQueueUrl");
  });

  it("parses VENDORS into a map with the default scheme and event mapping", () => {
    const vendor = loadConfig(env()).vendors.get("acme");
    expect(vendor).toEqual({
      id: "acme",
      signature: { scheme: "standard-webhooks" },
      event: { typePointer: "/type", deleteTypes: ["permit.deleted"] },
      opscom: {},
    });
  });

  it("treats blank optional values as unset", () => {
    const config = loadConfig(env({ OPSCOM_BASE_URL: "  ", LEDGER_TABLE_NAME: "", MAX_BODY_BYTES: " " }));
    expect(config.opscomBaseUrl).toBe("https://controller.operationscommander.com");
    expect(config.maxBodyBytes).toBe(65_536);
    expect(config).not.toHaveProperty("ledgerTableName");
  });

  it("takes values that are set, trimmed", () => {
    const config = loadConfig(
      env({
        OPSCOM_BASE_URL: "http://localhost:4010/",
        VENDOR_SECRET_PREFIX: "relay/v/",
        LEDGER_TABLE_NAME: " ledger ",
        RETRY_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/retry",
        SECRET_CACHE_TTL_SECONDS: "60",
        SIGNATURE_TOLERANCE_SECONDS: "120",
        FORWARD_TIMEOUT_MS: "2500",
        MAX_BODY_BYTES: "1024",
      }),
    );
    expect(config).toMatchObject({
      opscomBaseUrl: "http://localhost:4010",
      vendorSecretPrefix: "relay/v/",
      ledgerTableName: "ledger",
      retryQueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/retry",
      secretCacheTtlMs: 60_000,
      signatureToleranceSeconds: 120,
      forwardTimeoutMs: 2500,
      maxBodyBytes: 1024,
    });
  });
});

describe("loadConfig: required variables", () => {
  it.each(["OPSCOM_CLIENT_CODE", "OPSCOM_TOKEN_SECRET_ID", "VENDORS"])(
    "names %s when it is missing",
    (name) => {
      expect(failure(env({ [name]: undefined })).message).toBe(`${name} is required but not set`);
    },
  );

  it.each(["OPSCOM_CLIENT_CODE", "OPSCOM_TOKEN_SECRET_ID", "VENDORS"])(
    "treats a blank %s as missing",
    (name) => {
      expect(failure(env({ [name]: "   " })).message).toContain(name);
    },
  );
});

describe("loadConfig: numeric variables", () => {
  /** Name, range, and the lowest and highest value the other settings' defaults agree with. */
  const numeric: [string, number, number, number?, number?][] = [
    ["SECRET_CACHE_TTL_SECONDS", 0, 86_400],
    ["SIGNATURE_TOLERANCE_SECONDS", 1, 86_400],
    ["FORWARD_TIMEOUT_MS", 100, 25_000],
    ["MAX_BODY_BYTES", 256, 6_000_000],
    ["LEDGER_TTL_DAYS", 1, 3650, 17],
    ["RETRY_MAX_ATTEMPTS", 1, 1000, 1, 18],
    ["CLAIM_LEASE_SECONDS", 5, 3600, 16],
  ];

  it.each(numeric)("%s accepts its bounds %d and %d, where the other settings agree", (name, ...range) => {
    const [min, max, lowest = min, highest = max] = range;
    expect(() => loadConfig(env({ [name]: String(Math.max(min, lowest)) }))).not.toThrow();
    expect(() => loadConfig(env({ [name]: String(Math.min(max, highest)) }))).not.toThrow();
  });

  it("reads every numeric setting of the settings description, with its range and default", () => {
    const described = (Object.values(SETTINGS) as SettingSpec[]).flatMap((spec) =>
      spec.env !== undefined && spec.min !== undefined ? [[spec.env, spec.min, spec.max]] : [],
    );
    expect(described.sort()).toEqual(numeric.map(([name, min, max]) => [name, min, max]).sort());
    const config = loadConfig(env());
    expect(config.retryMaxAttempts).toBe(SETTINGS.retryMaxAttempts.default);
    expect(config.forwardTimeoutMs).toBe(SETTINGS.forwardTimeoutMs.default);
    expect(config.secretCacheTtlMs).toBe(SETTINGS.secretCacheTtlSeconds.default * 1000);
  });

  it.each(numeric)("%s refuses one past either end of its range %d-%d", (name, min, max) => {
    for (const outside of [min - 1, max + 1].filter((n) => n >= 0)) {
      expect(failure(env({ [name]: String(outside) })).message).toBe(
        `${name} must be a whole number from ${min} to ${max}, got "${outside}"`,
      );
    }
  });

  const malformed = ["abc", "-1", "1.5", "1e3", "0x10", "10s"];
  it.each(numeric.flatMap(([name]) => malformed.map((value) => [name, value] as const)))(
    "%s=%j fails and names the variable",
    (name, value) => {
      const message = failure(env({ [name]: value })).message;
      expect(message).toContain(name);
      expect(message).toContain(JSON.stringify(value));
    },
  );

  it.each(
    numeric.flatMap(([name, min, max]) => [
      // Below zero is a sign, already covered as malformed above.
      ...(min > 0 ? [[name, min - 1] as const] : []),
      [name, max + 1] as const,
    ]),
  )("%s=%d is out of range and named", (name, value) => {
    expect(failure(env({ [name]: String(value) })).message).toMatch(
      new RegExp(`^${name} must be a whole number`),
    );
  });
});

describe("loadConfig: malformed values", () => {
  it.each([
    "not a url",
    "controller.operationscommander.com",
    "ftp://controller.operationscommander.com",
    "file:///etc/passwd",
  ])("OPSCOM_BASE_URL=%j fails and names the variable", (value) => {
    expect(failure(env({ OPSCOM_BASE_URL: value })).message).toMatch(
      /^OPSCOM_BASE_URL must be an http\(s\) URL/,
    );
  });

  it.each(["OC TOMA", "OC_TOMA", "OC/TOMA", "A".repeat(65)])(
    "OPSCOM_CLIENT_CODE=%j fails and names the variable",
    (value) => {
      expect(failure(env({ OPSCOM_CLIENT_CODE: value })).message).toMatch(/^OPSCOM_CLIENT_CODE /);
    },
  );

  it("accepts a 64-character client code", () => {
    expect(loadConfig(env({ OPSCOM_CLIENT_CODE: "A".repeat(64) })).opscomClientCode).toBe("A".repeat(64));
  });

  it.each(["sqs.us-east-1.amazonaws.com/1/retry", "retry-queue"])(
    "RETRY_QUEUE_URL=%j fails and names the variable",
    (value) => {
      expect(failure(env({ RETRY_QUEUE_URL: value })).message).toMatch(/^RETRY_QUEUE_URL /);
    },
  );

  it.each([
    ["not JSON", "[{", "not valid JSON"],
    ["an empty array", "[]", "non-empty JSON array"],
    ["an object", JSON.stringify({ id: "acme" }), "non-empty JSON array"],
    ["a bad vendor id", JSON.stringify([{ id: "ACME" }]), 'field "id"'],
    ["a duplicate vendor", JSON.stringify([{ id: "acme" }, { id: "acme" }]), "listed twice"],
    ["an unknown field", JSON.stringify([{ id: "acme", colour: "red" }]), 'field "colour"'],
    [
      "a bad signature scheme",
      JSON.stringify([{ id: "acme", signature: { scheme: "rsa" } }]),
      "signature.scheme",
    ],
    [
      "a bad CIDR",
      JSON.stringify([{ id: "acme", allowedSourceCidrs: ["10.0.0.0/33"] }]),
      "allowedSourceCidrs[0]",
    ],
    ["a bad pointer", JSON.stringify([{ id: "acme", event: { typePointer: "type" } }]), "event.typePointer"],
  ])("VENDORS with %s fails with a message that starts with VENDORS", (_what, value, detail) => {
    const message = failure(env({ VENDORS: value })).message;
    expect(message).toMatch(/^VENDORS\b/);
    expect(message).not.toMatch(/^VENDORS: \[/);
    expect(message).toContain(detail);
  });
});

// Settings that each pass their own range but contradict one another (lambda/settings.ts):
// the same check runs at synth (test/cdk/permit-delete-relay.test.ts).
describe("loadConfig: settings that contradict each other", () => {
  it.each<[string, Env, string]>([
    [
      "retries that outlast the retry queue's retention",
      { RETRY_MAX_ATTEMPTS: "40", LEDGER_TTL_DAYS: "3650" },
      "RETRY_MAX_ATTEMPTS 40 makes the last attempt end up to 17.6 days after the webhook is parked, past " +
        "the retry queue's 14-day retention: the message would expire before reaching the dead-letter queue; at most 18",
    ],
    [
      "retries that leave less than a week to redrive",
      { RETRY_MAX_ATTEMPTS: "19", LEDGER_TTL_DAYS: "3650" },
      "RETRY_MAX_ATTEMPTS 19 makes the last attempt end up to 7.3 days after the webhook is parked, leaving " +
        "6.7 of the dead-letter queue's 14 days (counted from the parking) to redrive it; 7 are kept: at most 18",
    ],
    [
      "a ledger TTL shorter than the retry schedule",
      { LEDGER_TTL_DAYS: "1" },
      "LEDGER_TTL_DAYS 1 lets a ledger record expire while its delivery may still be attempted (a " +
        "dead-lettered delivery may be redriven up to 14 days after it was parked, then retried for up to " +
        "1.4 days): at least 17",
    ],
    [
      "a ledger TTL that ends inside the redrive window",
      { LEDGER_TTL_DAYS: "16" },
      "LEDGER_TTL_DAYS 16 lets a ledger record expire while its delivery may still be attempted (a " +
        "dead-lettered delivery may be redriven up to 14 days after it was parked, then retried for up to " +
        "1.4 days): at least 17",
    ],
    [
      "a ledger TTL too short for more retries",
      { RETRY_MAX_ATTEMPTS: "18", LEDGER_TTL_DAYS: "21" },
      "LEDGER_TTL_DAYS 21 lets a ledger record expire while its delivery may still be attempted (a " +
        "dead-lettered delivery may be redriven up to 14 days after it was parked, then retried for up to " +
        "6.8 days): at least 22",
    ],
    [
      "a claim lease a live ingest answer can outlast",
      { CLAIM_LEASE_SECONDS: "8" },
      "CLAIM_LEASE_SECONDS 8 is not longer than the 8 s an ingest answer can take: a live claim could be taken " +
        "over; at least 9",
    ],
  ])("refuses %s, naming the settings", (_what, values, message) => {
    expect(failure(env(values)).message).toBe(message);
  });

  it.each<[string, Env]>([
    ["the defaults", {}],
    [
      "the most retries with the shortest TTL they allow",
      { RETRY_MAX_ATTEMPTS: "18", LEDGER_TTL_DAYS: "22" },
    ],
    ["the shortest lease the answer ceiling allows", { CLAIM_LEASE_SECONDS: "9" }],
    [
      "a long forward timeout (the worker's) with a short lease",
      { FORWARD_TIMEOUT_MS: "25000", CLAIM_LEASE_SECONDS: "9" },
    ],
  ])("accepts %s", (_what, values) => {
    expect(() => loadConfig(env(values))).not.toThrow();
  });
});
