// One delivery of a reference ID to OPS-COM, shared by the ingest handler (with one quick
// inline retry) and the retry worker (one attempt per queue receive). The token is read
// from the cache and refetched once when OPS-COM rejects it, so a rotated token heals itself.
import type { Clock, OpscomClient, OpscomOutcome } from "./ports";
import type { SecretCache } from "./secret-cache";
import type { VendorConfig } from "./vendors";

export interface Route {
  readonly clientCode: string;
  readonly tokenSecretId: string;
}

export interface DeliveryDeps {
  readonly opscom: OpscomClient;
  readonly tokens: SecretCache<string>;
  readonly clock: Clock;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
}

export interface DeliveryResult {
  /** The last answer; `transient` also stands for "the token could not be read". */
  readonly outcome: OpscomOutcome;
  readonly attempts: number;
  /** Time spent waiting on OPS-COM, summed over attempts. */
  readonly latencyMs: number;
  /** The OPS-COM token could not be read (no attempt was made): an operator problem. */
  readonly tokenUnavailable?: true;
}

/** A refetch is skipped when the last one was less than this ago: bounds Secrets Manager calls. */
const TOKEN_REFRESH_MIN_AGE_MS = 2000;

export function routeFor(
  vendor: VendorConfig,
  defaults: { opscomClientCode: string; opscomTokenSecretId: string },
): Route {
  return {
    clientCode: vendor.opscom.clientCode ?? defaults.opscomClientCode,
    tokenSecretId: vendor.opscom.tokenSecretId ?? defaults.opscomTokenSecretId,
  };
}

export interface DeliveryOptions {
  readonly inlineRetry: boolean;
  /**
   * The ingest handler's inline budget (lambda/budget.ts): the token read and every attempt
   * share it, and a second attempt is made only if `minAttemptMs` of it is left. Without one
   * (the retry worker) each attempt has the client's own timeout, FORWARD_TIMEOUT_MS.
   */
  readonly budget?: { readonly totalMs: number; readonly minAttemptMs: number };
}

export async function deliver(
  deps: DeliveryDeps,
  route: Route,
  referenceId: string,
  options: DeliveryOptions,
): Promise<DeliveryResult> {
  let attempts = 0;
  let latencyMs = 0;
  const budget = options.budget;
  const deadline = budget ? deps.clock.now() + budget.totalMs : Number.POSITIVE_INFINITY;
  const left = () => deadline - deps.clock.now();
  const anotherFits = () => left() >= (budget?.minAttemptMs ?? 0);
  let token: string;
  try {
    token = await deps.tokens.get(route.tokenSecretId);
  } catch (error) {
    return {
      outcome: { kind: "transient", reason: `token unavailable: ${errorName(error)}` },
      attempts,
      latencyMs,
      tokenUnavailable: true,
    };
  }
  const attempt = async (): Promise<OpscomOutcome> => {
    attempts++;
    const started = deps.clock.now();
    const outcome = await deps.opscom.deletePermit(
      { clientCode: route.clientCode, token, referenceId },
      budget ? { timeoutMs: Math.max(1, left()) } : {},
    );
    latencyMs += deps.clock.now() - started;
    return outcome;
  };

  let outcome = await attempt();
  // The refetch itself waits on Secrets Manager: start it only while a retry could still fit.
  if (outcome.kind === "token_rejected" && anotherFits()) {
    let fresh: string | undefined;
    try {
      fresh =
        (await deps.tokens.refresh(route.tokenSecretId, TOKEN_REFRESH_MIN_AGE_MS)) ??
        (await deps.tokens.get(route.tokenSecretId));
    } catch {
      fresh = undefined;
    }
    // Only a different token can change OPS-COM's mind; the same one would be refused again.
    if (fresh !== undefined && fresh !== token && anotherFits()) {
      token = fresh;
      outcome = await attempt();
    }
  }
  // At most two OPS-COM calls inline, the second only while the inline budget has room for it.
  if (outcome.kind === "transient" && options.inlineRetry && attempts < 2 && anotherFits()) {
    await deps.sleep(50 + Math.floor(deps.random() * 100));
    if (anotherFits()) outcome = await attempt();
  }
  return { outcome, attempts, latencyMs };
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "unknown error";
}
