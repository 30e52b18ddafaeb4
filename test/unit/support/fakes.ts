// Small fakes shared by the unit tests: a clock the test moves by hand and an OPS-COM client
// that answers from a script. In-memory twins of the ports, never network or AWS.
import type { Clock, DeleteRequest, OpscomClient, OpscomOutcome } from "../../../lambda/ports";

/** 2025-01-01T00:00:00Z: a fixed, round starting point so expected instants are easy to read. */
export const EPOCH_MS = Date.UTC(2025, 0, 1);

export class FakeClock implements Clock {
  constructor(private ms = EPOCH_MS) {}
  now(): number {
    return this.ms;
  }
  advanceSeconds(seconds: number): void {
    this.ms += seconds * 1000;
  }
  advanceMs(ms: number): void {
    this.ms += ms;
  }
}

/** Answers each reference ID from its own queue of outcomes; an unscripted call throws. */
export class ScriptedOpscom implements OpscomClient {
  readonly calls: DeleteRequest[] = [];
  private readonly scripts = new Map<string, OpscomOutcome[]>();

  answer(referenceId: string, ...outcomes: OpscomOutcome[]): this {
    this.scripts.set(referenceId, [...(this.scripts.get(referenceId) ?? []), ...outcomes]);
    return this;
  }

  async deletePermit(request: DeleteRequest): Promise<OpscomOutcome> {
    this.calls.push(request);
    const next = this.scripts.get(request.referenceId)?.shift();
    if (!next) throw new Error(`no scripted OPS-COM answer for ${request.referenceId}`);
    return next;
  }
}

export const outcomes = {
  deleted: (): OpscomOutcome => ({ kind: "deleted", httpStatus: 200 }),
  notFound: (): OpscomOutcome => ({ kind: "not_found", code: 9009, message: "Record not found." }),
  rejected: (code = 9033): OpscomOutcome => ({
    kind: "rejected",
    code,
    message: "A field's value is invalid.",
    httpStatus: 400,
  }),
  tokenRejected: (): OpscomOutcome => ({ kind: "token_rejected", code: 9002, message: "No permission." }),
  transient: (reason = "HTTP 503"): OpscomOutcome => ({ kind: "transient", reason, httpStatus: 503 }),
};
