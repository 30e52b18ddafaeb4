// The webhooks the benchmark sends: distinct, correctly signed Permit Delete events, as API
// Gateway's REST integration would hand them to the function. Shared by the parent (cold
// starts, the secrets count, the throughput pools) and the handler-timing child.
import { createHmac, randomUUID } from "node:crypto";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { canonicalEvent, newWebhookId, signWebhook } from "../local/vendor-kit";
import { restEvent } from "../testkit/events";

export interface SignedRequest {
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * Signs Standard Webhooks with node:crypto: the `standardwebhooks` package takes ~45 µs per
 * signature, too slow to pre-sign the tens of thousands of requests of a throughput run. The
 * first signature is checked against the package's, so the two cannot drift apart.
 */
export function standardSigner(secret: string): (body: string) => SignedRequest {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const sign = (body: string, webhookId: string, timestamp: number): SignedRequest => ({
    body,
    headers: {
      "content-type": "application/json",
      "webhook-id": webhookId,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": `v1,${createHmac("sha256", key).update(`${webhookId}.${timestamp}.${body}`).digest("base64")}`,
    },
  });
  const probe = { body: canonicalEvent("probe"), webhookId: newWebhookId(), timestamp: nowSeconds() };
  const reference = signWebhook({ secret, ...probe });
  if (
    sign(probe.body, probe.webhookId, probe.timestamp).headers["webhook-signature"] !==
    reference.headers["webhook-signature"]
  ) {
    throw new Error("bench signer disagrees with the standardwebhooks package");
  }
  return (body) => sign(body, newWebhookId(), nowSeconds());
}

/** A Permit Delete event body of exactly `bytes` bytes (padded with a field the relay ignores). */
export function deleteBody(referenceId: string, bytes?: number): string {
  const body = canonicalEvent(referenceId);
  if (bytes === undefined) return body;
  const bare = JSON.stringify({ type: "permit.deleted", data: { referenceID: referenceId, note: "" } });
  if (bare.length > bytes) throw new Error(`a delete event needs at least ${bare.length} bytes`);
  return JSON.stringify({
    type: "permit.deleted",
    data: { referenceID: referenceId, note: "x".repeat(bytes - bare.length) },
  });
}

/** Headers API Gateway adds to every REST proxy event: the handler normalises all of them. */
const API_GATEWAY_HEADERS: Record<string, string> = {
  Accept: "*/*",
  "Accept-Encoding": "gzip, deflate, br",
  "CloudFront-Forwarded-Proto": "https",
  "CloudFront-Is-Desktop-Viewer": "true",
  "CloudFront-Is-Mobile-Viewer": "false",
  "CloudFront-Is-SmartTV-Viewer": "false",
  "CloudFront-Is-Tablet-Viewer": "false",
  "CloudFront-Viewer-ASN": "16509",
  "CloudFront-Viewer-Country": "CA",
  Host: "abc123.execute-api.ca-central-1.amazonaws.com",
  "User-Agent": "Svix-Webhooks/1.0",
  Via: "2.0 0123456789abcdef.cloudfront.net (CloudFront)",
  "X-Amz-Cf-Id": "2Jc4mS8yV3Zs0y1XJ1bq3o2yM3eQq8rF4p1m6a6kZr0Q8l1G2b3c4d==",
  "X-Amzn-Trace-Id": "Root=1-65f2c3a1-0123456789abcdef01234567",
  "X-Forwarded-For": "198.51.100.7, 130.176.0.1",
  "X-Forwarded-Port": "443",
  "X-Forwarded-Proto": "https",
};

/** One signed Permit Delete for `referenceId`, as the ingest function receives it. */
export function webhookEvent(
  sign: (body: string) => SignedRequest,
  vendorId: string,
  referenceId: string,
  bytes?: number,
): APIGatewayProxyEvent {
  const signed = sign(deleteBody(referenceId, bytes));
  return restEvent({
    vendorId,
    headers: { ...API_GATEWAY_HEADERS, ...signed.headers },
    body: signed.body,
    base64: false,
  });
}

/** Reference IDs for events whose permit does not matter (the OPS-COM side answers in-process). */
export function referenceIds(count: number): string[] {
  return Array.from({ length: count }, () => randomUUID());
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
