// Every outgoing HTTP request this process makes, seen in its caller's async context before a
// byte of it is written. A request reaches its agent from inside http.request, synchronously
// and before its headers are sent (Node 20's diagnostics channels fire too late for that), so
// a hook on Agent.prototype.addRequest can read the caller's AsyncLocalStorage, add a header,
// or hold the request back. The bundled functions' SDK clients and OPS-COM client use node:http
// agents too, so this reaches inside a bundle without touching it. Used by the IAM recorder
// (who made the call) and the chaos run (kill points at the network edge).
import { Agent, type ClientRequest } from "node:http";

export type OutgoingRequestHook = (request: ClientRequest) => void;

const hooks = new Set<OutgoingRequestHook>();

// addRequest is undocumented (so untyped) but present in every Node version. node:https's
// Agent inherits it, so one patch covers both.
type AddRequest = (this: Agent, request: ClientRequest, ...rest: unknown[]) => void;
const agentPrototype = Agent.prototype as unknown as { addRequest: AddRequest };
let original: AddRequest | undefined;

function install(): void {
  if (original) return;
  const addRequest = agentPrototype.addRequest;
  original = addRequest;
  agentPrototype.addRequest = function (request, ...rest) {
    for (const hook of hooks) hook(request);
    return addRequest.call(this, request, ...rest);
  };
}

/** Calls `hook` with each request made from now on, in its caller's context; answers the removal. */
export function onOutgoingRequest(hook: OutgoingRequestHook): () => void {
  install();
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}
