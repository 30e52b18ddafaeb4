// A ledger claim at a fixed instant, shared by the ledger contract's tests and the ledger CLI's,
// so both read records written the same way.
import type { ClaimRequest } from "../lambda/ports";

export const T0 = Date.UTC(2025, 0, 15, 9, 30);
export const LEASE_MS = 60_000;
export const iso = (ms: number): string => new Date(ms).toISOString();

/** A claim request for acme/msg_1 at T0, kept 30 days; every field can be overridden. */
export function claimOf(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    vendorId: "acme",
    webhookId: "msg_1",
    referenceId: "ref-1",
    bodyHash: "a".repeat(64),
    claimId: "claim-1",
    now: T0,
    leaseMs: LEASE_MS,
    expiresAt: Math.floor(T0 / 1000) + 30 * 86_400,
    ...overrides,
  };
}
