// The chaos run's kill points, at the network edge. The functions are the synthesized bundles,
// so there is no adapter to wrap: each invocation instead carries a fate (AsyncLocalStorage),
// and every HTTP request it makes is seen before a byte is sent (local/outgoing-requests.ts)
// and told apart by what it asks for: the ledger's claim, a transition or a release, an
// enqueue, an OPS-COM delete. "Before X" destroys X's request unsent and the fate dies there;
// "after X" lets X happen and the fate dies when X's answer arrives. A dead fate's later
// requests are destroyed unsent, as nothing runs after Lambda cuts a function off.
import { AsyncLocalStorage } from "node:async_hooks";
import type { ClientRequest } from "node:http";
import { onOutgoingRequest } from "../local/outgoing-requests";

export const KILL_SITES = [
  "before claim",
  "after claim",
  "after OPS-COM answered",
  "after enqueue",
  "before ledger update",
  "after ledger update",
] as const;
export type KillSite = (typeof KILL_SITES)[number];

export type RequestKind =
  | "claim"
  | "ledger update"
  | "release"
  | "ledger read"
  | "enqueue"
  | "queue"
  | "secret read"
  | "opscom delete"
  | "other";

/** What the classifier reads of a request: where it goes, the AWS operation header, the body. */
export interface OutgoingRequest {
  /** host:port */
  readonly host: string;
  readonly path: string;
  readonly target?: string;
  readonly body: string;
}

/**
 * What a request does. The ledger's writes are all UpdateItem but for the release (DeleteItem):
 * a claim carries the body hash it claims for, a transition the state it moves to.
 */
export function classifyRequest(request: OutgoingRequest, opscomBaseUrl: string): RequestKind {
  const [service, operation] = (request.target ?? "").split(".");
  if (service?.startsWith("DynamoDB_")) {
    if (operation === "DeleteItem") return "release";
    if (operation === "UpdateItem") {
      const values = parseObject(request.body)?.ExpressionAttributeValues as
        | Record<string, unknown>
        | undefined;
      if (values && ":bodyHash" in values) return "claim";
      if (values && ":state" in values) return "ledger update";
      return "other";
    }
    return ["GetItem", "Query", "BatchGetItem"].includes(operation ?? "") ? "ledger read" : "other";
  }
  if (service === "AmazonSQS") return operation === "SendMessage" ? "enqueue" : "queue";
  if (service === "secretsmanager") return "secret read";
  const opscom = new URL(opscomBaseUrl);
  if (request.host === opscom.host && request.path.endsWith("/permits/delete")) return "opscom delete";
  return "other";
}

/** The kill site a request of each kind meets before it is sent, and when its answer arrives. */
const BEFORE: Partial<Record<RequestKind, KillSite>> = {
  claim: "before claim",
  "ledger update": "before ledger update",
  release: "before ledger update",
};
const AFTER: Partial<Record<RequestKind, KillSite>> = {
  claim: "after claim",
  "ledger update": "after ledger update",
  enqueue: "after enqueue",
  "opscom delete": "after OPS-COM answered",
};

/** One invocation's fate: where it is to be killed, if anywhere, and whether it is dead. */
export class Fate {
  dead = false;
  /** Settles when the fate dies, so the caller need not wait for the rest of a dead invocation. */
  readonly died: Promise<void>;
  private settle: () => void = () => undefined;
  constructor(readonly killAt?: KillSite) {
    this.died = new Promise((resolve) => {
      this.settle = resolve;
    });
  }
  die(): void {
    this.dead = true;
    this.settle();
  }
}

/** What a request destroyed by a fate fails with, in its caller (an SDK client, the OPS-COM client). */
export class KilledRequest extends Error {
  override readonly name = "Killed";
  readonly code = "ECHAOSKILLED";
}

export interface KillSwitch {
  /** Runs `fn` under `fate`: every request it makes, awaited or not, meets the fate. */
  run<T>(fate: Fate, fn: () => Promise<T>): Promise<T>;
  /** Kills that happened, by site. */
  readonly kills: Record<string, number>;
  /** Requests seen under a fate, by kind (what the classifier told apart). */
  readonly requests: Record<string, number>;
  close(): void;
}

export function startKillSwitch(opscomBaseUrl: string): KillSwitch {
  const fates = new AsyncLocalStorage<Fate>();
  const kills: Record<string, number> = {};
  const requests: Record<string, number> = {};
  const kill = (fate: Fate, site: KillSite) => {
    if (fate.dead) return;
    fate.die();
    kills[site] = (kills[site] ?? 0) + 1;
  };
  const remove = onOutgoingRequest((request) => {
    const fate = fates.getStore();
    if (!fate) return;
    // The body is known only when the request is ended; nothing is on the wire before that.
    const end = request.end as (...args: unknown[]) => ClientRequest;
    request.end = function (this: ClientRequest, ...args: unknown[]) {
      if (fate.dead) return this.destroy(new KilledRequest("the invocation was cut off"));
      const kind = classifyRequest(describe(this, args[0]), opscomBaseUrl);
      requests[kind] = (requests[kind] ?? 0) + 1;
      const before = BEFORE[kind];
      if (before !== undefined && fate.killAt === before) {
        kill(fate, before);
        return this.destroy(new KilledRequest(`killed ${before}`));
      }
      const after = AFTER[kind];
      if (after !== undefined && fate.killAt === after) this.once("response", () => kill(fate, after));
      return end.apply(this, args);
    } as ClientRequest["end"];
  });
  return {
    run: (fate, fn) => fates.run(fate, fn),
    kills,
    requests,
    close: remove,
  };
}

function describe(request: ClientRequest, chunk: unknown): OutgoingRequest {
  const target = request.getHeader("x-amz-target");
  const host = String(request.getHeader("host") ?? request.host);
  return {
    host,
    path: request.path,
    ...(typeof target === "string" ? { target } : {}),
    body:
      typeof chunk === "string"
        ? chunk
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("utf8")
          : "",
  };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
