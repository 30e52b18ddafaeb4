// What OPS-COM answers in the in-process pass: a pure function of the reference ID, so the oracle
// can know the answer without asking.

import type { DeleteRequest, OpscomClient, OpscomOutcome } from "../../lambda/ports";

export type Programmed = "deleted" | "not_found" | "rejected" | "transient" | "token_rejected";

/** In process, OPS-COM's answer is a pure function of the reference ID, known to the oracle too. */
export function programmedOutcome(referenceId: string): Programmed {
  let h = 2166136261;
  for (let i = 0; i < referenceId.length; i++) h = Math.imul(h ^ referenceId.charCodeAt(i), 16777619);
  const bucket = (h >>> 0) % 100;
  if (bucket < 70) return "deleted";
  if (bucket < 80) return "not_found";
  if (bucket < 88) return "transient";
  if (bucket < 94) return "rejected";
  return "token_rejected";
}

const OUTCOMES: Record<Programmed, OpscomOutcome> = {
  deleted: { kind: "deleted", httpStatus: 200 },
  not_found: { kind: "not_found", code: 9009, message: "Record not found." },
  rejected: { kind: "rejected", code: 9033, message: "Reference ID is invalid.", httpStatus: 400 },
  transient: { kind: "transient", reason: "HTTP 503", httpStatus: 503 },
  token_rejected: { kind: "token_rejected", code: 9002, message: "API Token does not have permission." },
};

/** OPS-COM in process: records every call and answers as programmed. */
export class CountingOpscom implements OpscomClient {
  readonly calls: DeleteRequest[] = [];
  async deletePermit(request: DeleteRequest): Promise<OpscomOutcome> {
    this.calls.push(request);
    return OUTCOMES[programmedOutcome(request.referenceId)];
  }
}
