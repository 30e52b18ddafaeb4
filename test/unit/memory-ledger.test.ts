// The local ledger's bound: past maxRecords it forgets the oldest settled webhooks, never one
// still in flight or queued (in AWS, DynamoDB's TTL does this job).
import { describe, expect, it } from "vitest";
import { MemoryLedger } from "../../lambda/adapters/memory";
import type { DeliveryState } from "../../lambda/ports";

async function add(ledger: MemoryLedger, id: string, state: DeliveryState): Promise<void> {
  const key = { vendorId: "acme", webhookId: id };
  await ledger.claim({
    ...key,
    referenceId: `ref-${id}`,
    bodyHash: "h",
    claimId: id,
    now: 0,
    leaseMs: 60_000,
    expiresAt: 0,
  });
  if (state !== "in_progress") await ledger.transition(key, { from: ["in_progress"] }, { state, now: 0 });
}

describe("MemoryLedger bound", () => {
  it("drops the oldest settled records first and keeps open ones", async () => {
    const ledger = new MemoryLedger(10);
    await add(ledger, "open-1", "in_progress");
    await add(ledger, "queued-1", "queued");
    for (let i = 0; i < 8; i++) await add(ledger, `done-${i}`, "deleted");
    expect(ledger.records.size).toBe(10);
    await add(ledger, "new", "deleted");
    expect(ledger.records.size).toBeLessThanOrEqual(10);
    expect(await ledger.get({ vendorId: "acme", webhookId: "open-1" })).toBeDefined();
    expect(await ledger.get({ vendorId: "acme", webhookId: "queued-1" })).toBeDefined();
    expect(await ledger.get({ vendorId: "acme", webhookId: "new" })).toBeDefined();
    expect(await ledger.get({ vendorId: "acme", webhookId: "done-0" })).toBeUndefined();
    expect(await ledger.get({ vendorId: "acme", webhookId: "done-7" })).toBeDefined();
    // What it dropped is counted, so a run can still account for every webhook.
    expect(ledger.records.size + (ledger.forgotten.deleted ?? 0)).toBe(11);
    expect(Object.keys(ledger.forgotten)).toEqual(["deleted"]);
  });

  it("is unbounded by default (the contract tests' twin)", async () => {
    const ledger = new MemoryLedger();
    for (let i = 0; i < 50; i++) await add(ledger, `done-${i}`, "deleted");
    expect(ledger.records.size).toBe(50);
  });
});
