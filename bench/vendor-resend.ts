// What a vendor's sender does with a retryable answer: resend the same webhook (same id, same
// bytes, a fresh signature) after the answer's Retry-After, until the answer is final. The load
// run uses it for the few webhooks the relay answers `503 unavailable` (a ledger call that
// missed its deadline on a loaded machine) or `409 in_progress`, so its verdict is the one that
// matters to a vendor: every webhook ends in a final answer, none is lost.

/** One webhook to resend: its id and the exact body first sent. */
export interface PendingWebhook {
  readonly webhookId: string;
  readonly body: string;
}

export interface ResendOptions {
  /** The relay's webhook URL for the vendor. */
  readonly url: string;
  /** Signs `body` under `webhookId` now; returns the headers to send. */
  readonly sign: (webhookId: string, body: string) => Record<string, string>;
  /** Waits `ms`; injected so a test need not sleep. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Gives up on a webhook after this many sends (the first answer not counted). */
  readonly maxSends: number;
}

export interface ResendReport {
  /** Final answers to the resends, as `"<status> <status field>"`. */
  readonly finalAnswers: Record<string, number>;
  /** Retryable answers met on the way (each followed by another send). */
  readonly retryableAnswers: Record<string, number>;
  /** Webhooks still without a final answer after `maxSends`. */
  readonly unsettled: readonly string[];
}

/** Answers a vendor resends: the gateway's or the relay's "try again later". */
export function isRetryable(status: number): boolean {
  return status === 409 || status === 429 || status >= 500;
}

export async function resendUntilFinal(
  pending: readonly PendingWebhook[],
  options: ResendOptions,
): Promise<ResendReport> {
  const finalAnswers: Record<string, number> = {};
  const retryableAnswers: Record<string, number> = {};
  const unsettled: string[] = [];
  const tally = (into: Record<string, number>, key: string) => {
    into[key] = (into[key] ?? 0) + 1;
  };
  await Promise.all(
    pending.map(async ({ webhookId, body }) => {
      for (let send = 0; send < options.maxSends; send++) {
        const res = await fetch(options.url, {
          method: "POST",
          headers: options.sign(webhookId, body),
          body,
        });
        const text = await res.text();
        let status = "(no JSON)";
        try {
          status = String((JSON.parse(text) as { status?: unknown }).status);
        } catch {}
        const key = `${res.status} ${status}`;
        if (!isRetryable(res.status)) {
          tally(finalAnswers, key);
          return;
        }
        tally(retryableAnswers, key);
        const retryAfter = Number(res.headers.get("retry-after"));
        await options.sleep((Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1) * 1000);
      }
      unsettled.push(webhookId);
    }),
  );
  return { finalAnswers, retryableAnswers, unsettled };
}
