// One delivery's inline policy: a token refetch when OPS-COM refuses the token, one quick
// retry for a transient failure, and never more than two OPS-COM calls inline.
import { describe, expect, it } from "vitest";
import { MemorySecrets } from "../../lambda/adapters/memory";
import { deliver } from "../../lambda/delivery";
import type { DeleteRequest, OpscomClient, OpscomOutcome } from "../../lambda/ports";
import { parseTokenSecret, SecretCache } from "../../lambda/secret-cache";
import { FakeClock, outcomes, ScriptedOpscom } from "./support/fakes";

const ROUTE = { clientCode: "OC-TOMA", tokenSecretId: "token" };

function setup(token = "OLD-TOKEN") {
  const clock = new FakeClock();
  const secrets = new MemorySecrets({ token });
  const opscom = new ScriptedOpscom();
  const deps = {
    opscom,
    tokens: new SecretCache(secrets, clock, 300_000, parseTokenSecret),
    clock,
    sleep: async () => undefined,
    random: () => 0.5,
  };
  return { clock, secrets, opscom, deps };
}

describe("deliver", () => {
  it("retries a transient failure once inline", async () => {
    const { opscom, deps } = setup();
    opscom.answer("r1", outcomes.transient(), outcomes.deleted());
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true });
    expect(result.outcome.kind).toBe("deleted");
    expect(result.attempts).toBe(2);
  });

  it("does not retry inline when asked not to (the retry worker)", async () => {
    const { opscom, deps } = setup();
    opscom.answer("r1", outcomes.transient());
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: false });
    expect(result).toMatchObject({ outcome: { kind: "transient" }, attempts: 1 });
  });

  it("refetches the token after 9002 and retries with the new one", async () => {
    const { clock, secrets, opscom, deps } = setup();
    await deps.tokens.get("token");
    secrets.values.set("token", "NEW-TOKEN");
    clock.advanceSeconds(3);
    opscom.answer("r1", outcomes.tokenRejected(), outcomes.deleted());
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true });
    expect(result.outcome.kind).toBe("deleted");
    expect(opscom.calls.map((c) => c.token)).toEqual(["OLD-TOKEN", "NEW-TOKEN"]);
  });

  it("does not call again with a token OPS-COM just refused", async () => {
    const { opscom, deps } = setup();
    opscom.answer("r1", outcomes.tokenRejected());
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true });
    expect(result).toMatchObject({ outcome: { kind: "token_rejected" }, attempts: 1 });
  });

  it("makes at most two OPS-COM calls inline, so two timeouts fit the function's budget", async () => {
    const { clock, secrets, opscom, deps } = setup();
    await deps.tokens.get("token");
    secrets.values.set("token", "NEW-TOKEN");
    clock.advanceSeconds(3);
    opscom.answer("r1", outcomes.tokenRejected(), outcomes.transient(), outcomes.deleted());
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true });
    expect(result).toMatchObject({ outcome: { kind: "transient" }, attempts: 2 });
    expect(opscom.calls).toHaveLength(2);
  });

  it("answers transient without calling OPS-COM when the token cannot be read", async () => {
    const { opscom, deps } = setup();
    const result = await deliver(deps, { ...ROUTE, tokenSecretId: "missing" }, "r1", { inlineRetry: true });
    expect(result.outcome).toMatchObject({
      kind: "transient",
      reason: "token unavailable: ResourceNotFoundException",
    });
    expect(opscom.calls).toHaveLength(0);
  });
});

describe("deliver within the ingest handler's inline budget", () => {
  const BUDGET = { totalMs: 2800, minAttemptMs: 1000 };

  /**
   * OPS-COM answering from a script after the time given, on the fake clock; an attempt whose
   * timeout is shorter ends at its timeout as the HTTP client would, as a transient failure.
   */
  function slowOpscom(clock: FakeClock, script: [tookMs: number, outcome: OpscomOutcome][]) {
    const timeouts: (number | undefined)[] = [];
    const client: OpscomClient = {
      async deletePermit(_request: DeleteRequest, options?: { timeoutMs?: number }) {
        timeouts.push(options?.timeoutMs);
        const [tookMs, outcome] = script.shift() ?? [0, outcomes.deleted()];
        const limit = options?.timeoutMs ?? Number.POSITIVE_INFINITY;
        clock.advanceMs(Math.min(tookMs, limit));
        return tookMs > limit ? { kind: "transient", reason: `timeout after ${limit} ms` } : outcome;
      },
    };
    return { client, timeouts };
  }

  function budgetSetup(script: [number, OpscomOutcome][]) {
    const { clock, secrets, deps } = setup();
    const opscom = slowOpscom(clock, script);
    return { clock, secrets, timeouts: opscom.timeouts, deps: { ...deps, opscom: opscom.client } };
  }

  it("gives the first attempt the whole inline budget, not two full forward timeouts", async () => {
    const { deps, timeouts } = budgetSetup([[4900, outcomes.deleted()]]);
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true, budget: BUDGET });
    expect(timeouts).toEqual([2800]);
    expect(result).toMatchObject({ outcome: { kind: "transient" }, attempts: 1 });
  });

  it("makes a second attempt after a fast failure, with only what is left of the budget", async () => {
    const { deps, timeouts } = budgetSetup([
      [300, outcomes.transient()],
      [100, outcomes.deleted()],
    ]);
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true, budget: BUDGET });
    expect(timeouts).toEqual([2800, 2500]);
    expect(result).toMatchObject({ outcome: { kind: "deleted" }, attempts: 2 });
  });

  it("makes no second attempt when less than the minimum attempt time is left", async () => {
    const { deps, timeouts } = budgetSetup([
      [1801, outcomes.transient()],
      [100, outcomes.deleted()],
    ]);
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true, budget: BUDGET });
    expect(timeouts).toEqual([2800]);
    expect(result).toMatchObject({ outcome: { kind: "transient" }, attempts: 1 });
  });

  it("neither refetches the token nor retries after a 9002 when no second attempt would fit", async () => {
    const { clock, secrets, deps, timeouts } = budgetSetup([
      [2000, outcomes.tokenRejected()],
      [100, outcomes.deleted()],
    ]);
    await deps.tokens.get("token");
    secrets.values.set("token", "NEW-TOKEN");
    clock.advanceSeconds(3);
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: true, budget: BUDGET });
    expect(timeouts).toEqual([2800]);
    expect(result).toMatchObject({ outcome: { kind: "token_rejected" }, attempts: 1 });
    // A refetch could outlast the budget; only the first read reached Secrets Manager.
    expect(secrets.calls.get("token")).toBe(1);
  });

  it("without a budget (the retry worker), leaves each attempt the client's own timeout", async () => {
    const { deps, timeouts } = budgetSetup([[4900, outcomes.deleted()]]);
    const result = await deliver(deps, ROUTE, "r1", { inlineRetry: false });
    expect(timeouts).toEqual([undefined]);
    expect(result.outcome.kind).toBe("deleted");
  });
});
