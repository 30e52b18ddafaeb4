// The vendor kit's CLI: sign, send and verify webhooks for any signature scheme the relay takes.
//   npm run send -- --reference <id>                 sign a canonical event and post it
//   npx tsx bin/vendor.ts sign --reference <id>      print the headers, the body and a curl line
//   npx tsx bin/vendor.ts verify --headers-file h.txt --body-file b.json --secret whsec_…
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { prepareSecrets, verifySignature } from "../lambda/signature";
import { parseVendors, type SignatureScheme } from "../lambda/vendors";
import { DEMO_VENDOR } from "../local/harness";
import { canonicalEvent, type SignedWebhook, signWebhook } from "../local/vendor-kit";

const USAGE = `usage: vendor <sign|send|verify> [options]
  --reference <id>     reference ID for a canonical permit.deleted event
  --type <type>        event type (default permit.deleted)
  --body-file <file>   send this body instead of a canonical event
  --url <url>          relay base URL (default http://127.0.0.1:$RELAY_PORT or 3000)
  --vendor <id>        vendor id in the path (default ${DEMO_VENDOR})
  --secret <secret>    signing secret (default: the local demo secret in .relay/local.json); repeat for verify
  --scheme <json>      signature scheme JSON, as in VENDORS (default standard-webhooks)
  --svix               send svix-* headers instead of webhook-*
  --id <webhook-id>    webhook id (default: a new one)
  --timestamp <secs>   Unix seconds to sign with (default: now)
  --headers-file <f>   verify: captured headers, "Name: value" lines or a JSON object
  --tolerance <secs>   verify: timestamp tolerance (default 300)`;

class UsageError extends Error {}

function options() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      reference: { type: "string" },
      type: { type: "string" },
      "body-file": { type: "string" },
      url: { type: "string" },
      vendor: { type: "string" },
      secret: { type: "string", multiple: true },
      scheme: { type: "string" },
      svix: { type: "boolean" },
      id: { type: "string" },
      timestamp: { type: "string" },
      "headers-file": { type: "string" },
      tolerance: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  return { command: positionals[0], values };
}

type Values = ReturnType<typeof options>["values"];

function schemeFrom(values: Values): SignatureScheme {
  if (!values.scheme) return { scheme: "standard-webhooks" };
  let signature: unknown;
  try {
    signature = JSON.parse(values.scheme);
  } catch {
    throw new UsageError('--scheme must be JSON, e.g. \'{"scheme":"hmac","header":"x-signature"}\'');
  }
  const [vendor] = parseVendors([{ id: "cli", signature }], "--scheme");
  return (vendor as { signature: SignatureScheme }).signature;
}

function secretsFrom(values: Values): string[] {
  if (values.secret?.length) return values.secret;
  if (existsSync(".relay/local.json")) {
    return [(JSON.parse(readFileSync(".relay/local.json", "utf8")) as { vendorSecret: string }).vendorSecret];
  }
  throw new UsageError("--secret is required (no .relay/local.json from `npm start` here)");
}

function bodyFrom(values: Values): string {
  if (values["body-file"]) return readFileSync(values["body-file"], "utf8");
  if (!values.reference) throw new UsageError("--reference <id> or --body-file <file> is required");
  return canonicalEvent(values.reference, values.type);
}

function sign(values: Values): SignedWebhook {
  const timestamp = values.timestamp === undefined ? undefined : Number(values.timestamp);
  if (timestamp !== undefined && !Number.isInteger(timestamp))
    throw new UsageError("--timestamp must be Unix seconds");
  return signWebhook({
    body: bodyFrom(values),
    secret: secretsFrom(values)[0] as string,
    scheme: schemeFrom(values),
    ...(values.id ? { webhookId: values.id } : {}),
    ...(timestamp === undefined ? {} : { timestamp }),
    svixHeaders: values.svix ?? false,
  });
}

function endpoint(values: Values): string {
  const base = values.url ?? `http://127.0.0.1:${process.env.RELAY_PORT ?? 3000}`;
  return `${base.replace(/\/+$/, "")}/webhooks/${encodeURIComponent(values.vendor ?? DEMO_VENDOR)}`;
}

async function send(values: Values): Promise<number> {
  const signed = sign(values);
  const url = endpoint(values);
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", headers: signed.headers, body: signed.body });
  } catch (error) {
    throw new UsageError(`could not reach ${url}: ${(error as Error).cause ?? (error as Error).message}`);
  }
  const retryAfter = response.headers.get("retry-after");
  process.stdout.write(
    `HTTP ${response.status}${retryAfter ? ` (Retry-After: ${retryAfter})` : ""} webhook-id ${signed.webhookId}\n${await response.text()}\n`,
  );
  return response.ok ? 0 : 1;
}

function printSigned(values: Values): number {
  const signed = sign(values);
  const headerFlags = Object.entries(signed.headers)
    .map(([name, value]) => `-H '${name}: ${value}'`)
    .join(" \\\n  ");
  process.stdout.write(
    `${Object.entries(signed.headers)
      .map(([n, v]) => `${n}: ${v}`)
      .join(
        "\n",
      )}\n\n${signed.body}\n\ncurl -i -X POST '${endpoint(values)}' \\\n  ${headerFlags} \\\n  --data-binary '${signed.body.replace(/'/g, "'\\''")}'\n`,
  );
  return 0;
}

function readHeaders(file: string): Record<string, string> {
  const text = readFileSync(file, "utf8").trim();
  const headers: Record<string, string> = {};
  if (text.startsWith("{")) {
    for (const [name, value] of Object.entries(JSON.parse(text) as Record<string, string>)) {
      headers[name.toLowerCase()] = String(value);
    }
    return headers;
  }
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return headers;
}

function verify(values: Values): number {
  if (!values["headers-file"] || !values["body-file"]) {
    throw new UsageError("verify needs --headers-file and --body-file (the request as captured)");
  }
  const scheme = schemeFrom(values);
  const secrets = secretsFrom(values);
  const tolerance = Number(values.tolerance ?? 300);
  if (!Number.isInteger(tolerance) || tolerance < 0)
    throw new UsageError("--tolerance must be whole seconds");
  if (values.timestamp !== undefined && !/^\d+$/.test(values.timestamp)) {
    throw new UsageError("--timestamp must be Unix seconds");
  }
  const nowSeconds =
    values.timestamp === undefined ? Math.floor(Date.now() / 1000) : Number(values.timestamp);
  const result = verifySignature({
    scheme,
    secrets: prepareSecrets(scheme, secrets),
    headers: readHeaders(values["headers-file"]),
    rawBody: readFileSync(values["body-file"]),
    nowSeconds,
    toleranceSeconds: tolerance,
  });
  if (result.ok) {
    process.stdout.write(
      `valid: signed with secret #${result.secretIndex + 1} of ${secrets.length}; webhook id ${result.webhookId}\n`,
    );
    return 0;
  }
  const hints: Record<typeof result.reason, string> = {
    missing_header: "the request lacks a header the scheme needs",
    bad_timestamp: "the timestamp header must be whole Unix seconds",
    stale: "the timestamp is too old: sign at send time, and check the sender's clock",
    future: "the timestamp is ahead of the relay's clock: check the sender's clock (NTP)",
    no_match:
      "the signature does not match: sign the exact bytes you send (no re-serialised JSON), with the right secret",
  };
  process.stdout.write(`invalid (${result.reason}): ${result.detail}\n  hint: ${hints[result.reason]}\n`);
  return 1;
}

async function main(): Promise<number> {
  const { command, values } = options();
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  switch (command) {
    case "send":
      return send(values);
    case "sign":
      return printSigned(values);
    case "verify":
      return verify(values);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const usage =
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`vendor: ${(error as Error).message}\n${usage ? `${USAGE}\n` : ""}`);
    process.exit(2);
  },
);
