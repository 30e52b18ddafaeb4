// The production wiring refuses to start without the ledger table or the retry queue: an
// in-memory twin in a deployed function would lose exactly-once without a word. Only the
// local harness and tests wire the twins, and they do so explicitly.
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryLedger, MemoryQueue } from "../../lambda/adapters/memory";
import { ConfigError, loadConfig } from "../../lambda/config";
import { productionDeps } from "../../lambda/wiring";

const ENV = {
  OPSCOM_CLIENT_CODE: "OC-TOMA",
  OPSCOM_TOKEN_SECRET_ID: "relay/token",
  VENDORS: '[{"id":"acme"}]',
  LEDGER_TABLE_NAME: "relay-ledger",
  RETRY_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/000000000000/relay-retry",
  AWS_REGION: "us-east-1",
};

describe("productionDeps", () => {
  it.each(["LEDGER_TABLE_NAME", "RETRY_QUEUE_URL"])("fails its start without %s, naming it", (name) => {
    const config = loadConfig({ ...ENV, [name]: undefined });
    expect(() => productionDeps(config)).toThrow(ConfigError);
    expect(() => productionDeps(config)).toThrow(name);
  });

  it("wires the AWS adapters, never an in-memory twin, when both are set", () => {
    const deps = productionDeps(loadConfig(ENV));
    expect(deps.ledger).not.toBeInstanceOf(MemoryLedger);
    expect(deps.queue).not.toBeInstanceOf(MemoryQueue);
  });
});

describe("the deployed entry points", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it.each([
    ["ingest", "LEDGER_TABLE_NAME"],
    ["retry-worker", "RETRY_QUEUE_URL"],
  ])("%s fails its init without %s", async (entry, missing) => {
    for (const [name, value] of Object.entries(ENV)) vi.stubEnv(name, name === missing ? "" : value);
    await expect(import(`../../lambda/${entry}`)).rejects.toThrow(missing);
  });
});
