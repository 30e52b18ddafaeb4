// The vendor's side of the contract: build and sign a webhook the way a vendor's own tooling
// would. Standard Webhooks signatures come from the `standardwebhooks` package (what vendors
// use), HMAC ones from node:crypto. Used by the vendor CLI, the local harness and the tests.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { signedContent } from "../lambda/signature";
import type { SignatureScheme } from "../lambda/vendors";

export interface SignedWebhook {
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly webhookId: string;
}

export interface SignOptions {
  readonly body: string;
  readonly secret: string;
  readonly scheme?: SignatureScheme;
  readonly webhookId?: string;
  /** Unix seconds; defaults to now. */
  readonly timestamp?: number;
  /** Standard Webhooks only: send the `svix-*` header names instead of `webhook-*`. */
  readonly svixHeaders?: boolean;
}

export function canonicalEvent(referenceId: string, type = "permit.deleted"): string {
  return JSON.stringify({ type, data: { referenceID: referenceId } });
}

/** A new Standard Webhooks secret: `whsec_` + base64 of 24 random bytes. */
export function generateSigningSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

export function newWebhookId(): string {
  return `msg_${randomUUID().replace(/-/g, "")}`;
}

export function signWebhook(options: SignOptions): SignedWebhook {
  const scheme = options.scheme ?? { scheme: "standard-webhooks" };
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const webhookId = options.webhookId ?? newWebhookId();
  if (scheme.scheme === "standard-webhooks") {
    const signature = new Webhook(options.secret).sign(webhookId, new Date(timestamp * 1000), options.body);
    const prefix = options.svixHeaders ? "svix" : "webhook";
    return {
      body: options.body,
      webhookId,
      headers: {
        "content-type": "application/json",
        [`${prefix}-id`]: webhookId,
        [`${prefix}-timestamp`]: String(timestamp),
        [`${prefix}-signature`]: signature,
      },
    };
  }
  const content = signedContent(
    scheme.signedContent,
    webhookId,
    String(timestamp),
    Buffer.from(options.body),
  );
  const digest = createHmac(scheme.algorithm, Buffer.from(options.secret))
    .update(content)
    .digest(scheme.encoding);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    [scheme.header]: `${scheme.prefix}${digest}`,
  };
  if (scheme.idHeader) headers[scheme.idHeader] = webhookId;
  if (scheme.timestampHeader) headers[scheme.timestampHeader] = String(timestamp);
  return { body: options.body, webhookId, headers };
}
