// The sandbox's admin endpoints, for processes that did not start it (the harness's children,
// bench runs, a developer's curl): set and queue faults, create permits, read and reset stats.

import type http from "node:http";
import type { FaultConfig, FaultMode } from "./faults";
import { parseJsonObject, readBody, SandboxInputError, sendJson } from "./wire";

const ADMIN_PATHS = new Set([
  "/__sandbox/state",
  "/__sandbox/faults",
  "/__sandbox/faults/queue",
  "/__sandbox/permits",
  "/__sandbox/stats/reset",
]);

/** What the admin endpoints drive: the in-process API, and the state they answer with. */
export interface AdminTarget {
  readonly defaultClientCode: string;
  createPermit(clientCode?: string): string;
  setFaults(config: FaultConfig): void;
  queueFaults(...modes: FaultMode[]): void;
  clearFaults(): void;
  resetStats(): void;
}

export async function handleAdmin(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  sandbox: AdminTarget,
  state: () => unknown,
): Promise<void> {
  const route = `${req.method} ${path}`;
  try {
    switch (route) {
      case "GET /__sandbox/state":
        return sendJson(res, 200, state());
      case "POST /__sandbox/faults":
        sandbox.setFaults((await readAdminBody(req)) as FaultConfig);
        return sendJson(res, 200, state());
      case "POST /__sandbox/faults/queue": {
        const body = await readAdminBody(req);
        if (!Array.isArray(body.modes)) throw new SandboxInputError("modes must be an array");
        sandbox.queueFaults(...(body.modes as FaultMode[]));
        return sendJson(res, 200, state());
      }
      case "DELETE /__sandbox/faults":
        sandbox.clearFaults();
        return sendJson(res, 200, state());
      case "POST /__sandbox/permits": {
        const body = await readAdminBody(req);
        const count = body.count ?? 1;
        if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > 10_000) {
          throw new SandboxInputError("count must be an integer 1..10000");
        }
        const clientCode = body.clientCode ?? sandbox.defaultClientCode;
        if (typeof clientCode !== "string") throw new SandboxInputError("clientCode must be a string");
        const referenceIds = Array.from({ length: count as number }, () => sandbox.createPermit(clientCode));
        return sendJson(res, 200, { referenceIds });
      }
      case "POST /__sandbox/stats/reset":
        sandbox.resetStats();
        return sendJson(res, 200, state());
      default:
        if (ADMIN_PATHS.has(path)) {
          return sendJson(res, 405, { message: "Method Not Allowed" });
        }
        return sendJson(res, 404, { message: "Not Found" });
    }
  } catch (error) {
    if (error instanceof SandboxInputError) return sendJson(res, 400, { message: error.message });
    throw error;
  }
}

async function readAdminBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req);
  if (raw === undefined) throw new SandboxInputError("body too large");
  if (raw.trim() === "") return {};
  const body = parseJsonObject(raw);
  if (body === undefined) throw new SandboxInputError("body must be a JSON object");
  return body;
}

// Deliberately no tokens here: this is served over HTTP to any local process.
