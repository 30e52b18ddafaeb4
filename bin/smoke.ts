// `npm run smoke -- --url <ApiUrl> --vendor <id>`: checks a deployed relay from the outside,
// the way a vendor reaches it, without deleting anything: an unsigned post and a stale
// signature must get 401, an oversized body 413, and a signed relay.ping the pong. Prints a
// verdict table with latencies; exits 0 when every check passes, 1 on any miss, 2 on bad
// arguments or an unreadable secret. The signing secret never reaches the output.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { PING_TYPE } from "../lambda/event";
import { parseSigningSecrets } from "../lambda/secret-cache";
import { signWebhook } from "../local/vendor-kit";

const SECRET_ENV = "SMOKE_SIGNING_SECRET";
const DEFAULT_MAX_BODY_BYTES = 65_536;
/** Far outside any sensible SIGNATURE_TOLERANCE_SECONDS, so the relay must refuse it. */
const STALE_BY_SECONDS = 24 * 3600;

const USAGE = `usage: npm run smoke -- --url <the API's URL> --vendor <id> [options]
  --url <url>             the stage's base URL (the stack output ApiUrl)
  --vendor <id>           the vendor to sign as
  --secret-file <file>    the signing secret: a whsec_… line, or the secret's JSON {"signingSecrets": [...]}
  --secret-prefix <p>     otherwise read the Secrets Manager secret <p><vendor> with your AWS credentials
                          (default: the stack's default vendorSecretPrefix)
  --max-body-bytes <n>    the relay's MAX_BODY_BYTES, to send one byte more (default ${DEFAULT_MAX_BODY_BYTES})
  --timeout <ms>          per request (default 10000)
The secret may also come from the environment variable ${SECRET_ENV} (--secret-file wins).`;

class UsageError extends Error {}

interface Options {
  readonly url: string;
  readonly vendor: string;
  readonly secretFile: string | undefined;
  readonly secretPrefix: string | undefined;
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
}

function options(): Options | "help" {
  const { values } = parseArgs({
    strict: true,
    options: {
      url: { type: "string" },
      vendor: { type: "string" },
      "secret-file": { type: "string" },
      "secret-prefix": { type: "string" },
      "max-body-bytes": { type: "string" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  if (!values.url) throw new UsageError("--url is required (the stack output ApiUrl)");
  if (!values.vendor) throw new UsageError("--vendor is required");
  return {
    url: values.url,
    vendor: values.vendor,
    secretFile: values["secret-file"],
    secretPrefix: values["secret-prefix"],
    maxBodyBytes: positiveInteger(values["max-body-bytes"], DEFAULT_MAX_BODY_BYTES, "--max-body-bytes"),
    timeoutMs: positiveInteger(values.timeout, 10_000, "--timeout"),
  };
}

function positiveInteger(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`${flag} must be a positive whole number`);
  return Number(value);
}

/** The first of the vendor's current secrets: the relay accepts a signature by any of them. */
async function signingSecret(opts: Options): Promise<string> {
  if (opts.secretFile !== undefined) {
    const text = readFileSync(opts.secretFile, "utf8").trim();
    return text.startsWith("{") ? firstSecret(text, opts.secretFile) : text;
  }
  const fromEnv = process.env[SECRET_ENV]?.trim();
  if (fromEnv) return fromEnv;
  // Loaded only on this path: the CDK library that holds the default is heavy.
  const [{ DEFAULT_VENDOR_SECRET_PREFIX }, { createSecretsManagerSource }] = await Promise.all([
    import("../lib/permit-delete-relay"),
    import("../lambda/adapters/secrets-manager"),
  ]);
  const secretId = (opts.secretPrefix ?? DEFAULT_VENDOR_SECRET_PREFIX) + opts.vendor;
  let raw: string;
  try {
    raw = await createSecretsManagerSource().getSecretString(secretId);
  } catch (error) {
    throw new UsageError(
      `could not read the secret ${secretId} from Secrets Manager (${(error as Error).name}); pass --secret-file or ${SECRET_ENV}`,
    );
  }
  return firstSecret(raw, secretId);
}

function firstSecret(raw: string, where: string): string {
  try {
    return parseSigningSecrets(raw, where)[0] as string;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

interface Check {
  readonly name: string;
  readonly expected: string;
  readonly request: { headers: Record<string, string>; body: string };
  /** Undefined when the answer is the expected one, else what was wrong with it. */
  readonly judge: (status: number, answer: Record<string, unknown>) => string | undefined;
}

interface Verdict {
  readonly name: string;
  readonly expected: string;
  readonly got: string;
  readonly ms: number;
  readonly pass: boolean;
}

function checks(opts: Options, secret: string): Check[] {
  const ping = JSON.stringify({ type: PING_TYPE });
  const now = Math.floor(Date.now() / 1000);
  const pinged = signWebhook({ body: ping, secret, webhookId: `smoke_ping_${now}` });
  // Exactly one byte over the limit, and a ping inside, so only the size can refuse it.
  const padding = opts.maxBodyBytes + 1 - JSON.stringify({ type: PING_TYPE, pad: "" }).length;
  const oversized = JSON.stringify({ type: PING_TYPE, pad: "x".repeat(Math.max(0, padding)) });
  const status = (code: number, want: string) => (got: number, answer: Record<string, unknown>) =>
    got === code && answer.status === want ? undefined : `want ${code} ${want}`;
  return [
    {
      name: "unsigned post",
      expected: "401 unauthorized",
      request: { headers: { "content-type": "application/json" }, body: ping },
      judge: status(401, "unauthorized"),
    },
    {
      name: "stale signature",
      expected: "401 unauthorized",
      request: signWebhook({ body: ping, secret, timestamp: now - STALE_BY_SECONDS }),
      judge: status(401, "unauthorized"),
    },
    {
      name: "oversized body",
      expected: "413 too_large",
      request: signWebhook({ body: oversized, secret }),
      judge: status(413, "too_large"),
    },
    {
      name: "signed ping",
      expected: "200 pong",
      request: pinged,
      judge: (got, answer) =>
        status(200, "pong")(got, answer) ??
        (answer.vendorId === opts.vendor && answer.webhookId === pinged.webhookId
          ? undefined
          : "the pong names another vendor or webhook id"),
    },
  ];
}

async function run(url: string, check: Check, timeoutMs: number): Promise<Verdict> {
  const started = performance.now();
  let got: string;
  let pass = false;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: check.request.headers,
      body: check.request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let answer: Record<string, unknown> = {};
    try {
      answer = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not JSON (a proxy's page): judged on the status alone, and it will not match.
    }
    const problem = check.judge(response.status, answer);
    pass = problem === undefined;
    const version =
      answer.status === "pong" && typeof answer.version === "string" ? ` v${answer.version}` : "";
    got = `${response.status} ${String(answer.status ?? "(not JSON)")}${version}`;
  } catch (error) {
    const { cause } = error as Error & { cause?: { code?: string; message?: string } };
    const reason = cause?.code ?? cause?.message ?? (error as Error).name;
    got = `no answer (${reason})`;
  }
  return { name: check.name, expected: check.expected, got, ms: performance.now() - started, pass };
}

function table(verdicts: Verdict[]): string {
  const rows = [
    ["check", "expected", "got", "ms", "verdict"],
    ...verdicts.map((v) => [v.name, v.expected, v.got, v.ms.toFixed(0), v.pass ? "pass" : "MISS"]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] as number))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

async function main(): Promise<number> {
  const opts = options();
  if (opts === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const url = `${opts.url.replace(/\/+$/, "")}/webhooks/${encodeURIComponent(opts.vendor)}`;
  const secret = await signingSecret(opts);
  const verdicts: Verdict[] = [];
  // One at a time, so each latency is the relay's alone.
  for (const check of checks(opts, secret)) verdicts.push(await run(url, check, opts.timeoutMs));
  const passed = verdicts.filter((v) => v.pass).length;
  const ok = passed === verdicts.length;
  process.stdout.write(
    `smoke test of ${url}\n\n${table(verdicts)}\n\n${ok ? "PASS" : "FAIL"}: ${passed} of ${verdicts.length} checks as expected\n`,
  );
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const usage =
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`smoke: ${(error as Error).message}\n${usage ? `${USAGE}\n` : ""}`);
    process.exit(2);
  },
);
