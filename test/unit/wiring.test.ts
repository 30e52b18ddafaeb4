// The production wiring refuses to start without the ledger table or the retry queue: an
// in-memory twin in a deployed function would lose exactly-once without a word. Only the
// local harness and tests wire the twins, and they do so explicitly.
import { afterEach, describe, expect, it, vi } from "vitest";
import { sdkClientConfig, withDeadlines } from "../../lambda/adapters/aws-limits";
import { MemoryLedger, MemoryQueue } from "../../lambda/adapters/memory";
import { ANSWER_BUDGET } from "../../lambda/budget";
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

describe("the AWS clients' limits", () => {
  it.each([
    ["a secret read", ANSWER_BUDGET.secretReadMs],
    ["a ledger call", ANSWER_BUDGET.ledgerCallMs],
    ["an enqueue", ANSWER_BUDGET.enqueueMs],
  ])("%s: a connection timeout, a request timeout that throws, at most two attempts", (_what, callMs) => {
    const { maxAttempts, requestHandler } = sdkClientConfig(callMs);
    expect(maxAttempts).toBe(2);
    expect(requestHandler.throwOnRequestTimeout).toBe(true);
    expect(requestHandler.requestTimeout).toBe(callMs);
    expect(requestHandler.connectionTimeout).toBeGreaterThan(0);
    expect(requestHandler.connectionTimeout).toBeLessThan(callMs);
  });

  it("withDeadlines bounds every method of an adapter, its SDK retries included", async () => {
    vi.useFakeTimers();
    try {
      const adapter = {
        hangs: () => new Promise<never>(() => undefined),
        answers: async (n: number) => n * 2,
      };
      const bounded = withDeadlines(adapter, 600, "ledger");
      let error: unknown;
      bounded.hangs().catch((e: unknown) => {
        error = e;
      });
      await vi.advanceTimersByTimeAsync(600);
      expect(error).toMatchObject({ name: "TimeoutError", message: "ledger hangs took longer than 600 ms" });
      await expect(bounded.answers(21)).resolves.toBe(42);
    } finally {
      vi.useRealTimers();
    }
  });
});
