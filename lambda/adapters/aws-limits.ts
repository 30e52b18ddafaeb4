// Deadlines for the AWS SDK clients. Left alone, the SDK has no connection or request timeout
// (an endpoint that accepts the connection and never answers holds the call until Lambda kills
// the function) and makes up to three attempts, multiplying any timeout it is given.
import { withinMs } from "../budget";

/**
 * Client settings for calls that must end within `callMs`: one attempt may use all of it, and
 * the SDK's one retry is for a call that failed fast (a refused connection, a throttle), which
 * a failed connect leaves room for. `withDeadlines` holds the total, retries included.
 */
export function sdkClientConfig(callMs: number) {
  return {
    maxAttempts: 2,
    requestHandler: {
      connectionTimeout: Math.ceil(callMs / 2),
      requestTimeout: callMs,
      // Without it the SDK only logs a warning when requestTimeout passes.
      throwOnRequestTimeout: true,
    },
  };
}

/**
 * The adapter with every method bounded by `ms`, however many SDK calls it makes. A call cut
 * off here ends by itself soon after: each SDK attempt has its own requestTimeout.
 */
export function withDeadlines<T extends object>(adapter: T, ms: number, what: string): T {
  const bounded: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(adapter)) {
    bounded[name] =
      typeof member === "function"
        ? (...args: unknown[]) =>
            withinMs(Promise.resolve(member.apply(adapter, args)), ms, `${what} ${name}`)
        : member;
  }
  return bounded as T;
}
