// `npm run smoke` (bin/smoke.ts) as a platform team runs it after a deploy: a child process
// through tsx against a relay listening on a real socket (the harness `npm start` runs), with
// the signing secret from a file, the environment or Secrets Manager (the real SDK client
// against the local endpoint). A relay holding another secret for the vendor fails the verdict.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordingTelemetry } from "../lambda/telemetry";
import { type AwsEndpoint, startAwsEndpoint } from "../local/aws/server";
import { DEMO_VENDOR, type LocalRelay, startLocalRelay } from "../local/harness";
import { generateSigningSecret } from "../local/vendor-kit";
import { version } from "../package.json";

const ROOT = join(__dirname, "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const CLI = join(ROOT, "bin", "smoke.ts");

let relay: LocalRelay;
/** Shares the sandbox, but holds a different signing secret for the same vendor. */
let rotatedAway: LocalRelay;
let aws: AwsEndpoint;
let vendorSecret: string;
let scratch: string;
let secretFile: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "smoke-cli-"));
  vendorSecret = generateSigningSecret();
  secretFile = join(scratch, "secret");
  writeFileSync(secretFile, `${vendorSecret}\n`);
  const token = "LOCAL-TOKEN-0123456789-abcdef";
  relay = await startLocalRelay({
    secrets: { opscomToken: token, vendorSecret },
    telemetry: new RecordingTelemetry(),
  });
  rotatedAway = await startLocalRelay({
    secrets: { opscomToken: token, vendorSecret: generateSigningSecret() },
    sandbox: relay.sandbox,
    telemetry: new RecordingTelemetry(),
  });
  aws = await startAwsEndpoint();
}, 30_000);
afterAll(async () => {
  await rotatedAway?.close();
  await relay?.close();
  await aws?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI without blocking this process, so the relays started here can answer it. */
function smoke(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [CLI, ...args],
      { cwd: scratch, timeout: 30_000, env: { ...process.env, SMOKE_SIGNING_SECRET: "", ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/** The verdict table's rows by check name: [expected, got, ms, verdict]. */
function rows(stdout: string): Record<string, string[]> {
  const table: Record<string, string[]> = {};
  for (const line of stdout.split("\n")) {
    const cells = line.split(/\s{2,}/);
    if (cells.length === 5) table[cells[0] as string] = cells.slice(1);
  }
  return table;
}

describe("npm run smoke", () => {
  it("passes every check against a healthy relay, and deletes, records and calls nothing", async () => {
    const before = relay.sandbox.stats();
    const run = await smoke(["--url", `${relay.url}/`, "--vendor", DEMO_VENDOR, "--secret-file", secretFile]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const table = rows(run.stdout);
    expect(Object.keys(table)).toEqual([
      "check",
      "unsigned post",
      "stale signature",
      "oversized body",
      "signed ping",
    ]);
    expect(table["unsigned post"]?.slice(0, 2)).toEqual(["401 unauthorized", "401 unauthorized"]);
    expect(table["stale signature"]?.slice(0, 2)).toEqual(["401 unauthorized", "401 unauthorized"]);
    expect(table["oversized body"]?.slice(0, 2)).toEqual(["413 too_large", "413 too_large"]);
    expect(table["signed ping"]?.slice(0, 2)).toEqual(["200 pong", `200 pong v${version}`]);
    for (const [name, row] of Object.entries(table)) {
      if (name === "check") continue;
      expect(row[2], name).toMatch(/^\d+$/);
      expect(row[3], name).toBe("pass");
    }
    expect(run.stdout).toContain("PASS: 4 of 4 checks as expected");
    expect(run.stdout).not.toContain(vendorSecret);
    const after = relay.sandbox.stats();
    expect([after.deleteRequests, after.connections]).toEqual([before.deleteRequests, before.connections]);
    expect(relay.ledger.records.size).toBe(0);
  }, 40_000);

  it("fails the verdict (exit 1) against a relay that holds another secret for the vendor", async () => {
    const run = await smoke(["--url", rotatedAway.url, "--vendor", DEMO_VENDOR], {
      SMOKE_SIGNING_SECRET: vendorSecret,
    });
    expect(run.code).toBe(1);
    const table = rows(run.stdout);
    expect(table["signed ping"]?.slice(1)).toEqual([
      "401 unauthorized",
      expect.stringMatching(/^\d+$/),
      "MISS",
    ]);
    expect(table["unsigned post"]?.[3]).toBe("pass");
    expect(run.stdout).toContain("FAIL: 3 of 4 checks as expected");
    expect(run.stdout).not.toContain(vendorSecret);
  }, 40_000);

  it("reads the secret from Secrets Manager with the caller's credentials, under --secret-prefix", async () => {
    aws.putSecret(`team/vendors/${DEMO_VENDOR}`, JSON.stringify({ signingSecrets: [vendorSecret] }));
    const env = {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    };
    const args = ["--url", relay.url, "--vendor", DEMO_VENDOR, "--secret-prefix", "team/vendors/"];
    const run = await smoke(args, env);
    expect(run.code).toBe(0);
    expect(aws.getSecretValueCalls(`team/vendors/${DEMO_VENDOR}`)).toBe(1);
    // No such secret under the default prefix: exit 2 naming the secret, not a verdict.
    const missing = await smoke(["--url", relay.url, "--vendor", DEMO_VENDOR], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`could not read the secret opscom-permit-relay/vendors/${DEMO_VENDOR}`);
  }, 60_000);

  it("misses every check when nothing listens at the URL", async () => {
    const closed = await freePort();
    const run = await smoke([
      "--url",
      `http://127.0.0.1:${closed}`,
      "--vendor",
      DEMO_VENDOR,
      "--secret-file",
      secretFile,
    ]);
    expect(run.code).toBe(1);
    expect(
      Object.values(rows(run.stdout))
        .slice(1)
        .map((r) => r[3]),
    ).toEqual(["MISS", "MISS", "MISS", "MISS"]);
    expect(run.stdout).toContain("no answer (ECONNREFUSED)");
  }, 40_000);

  it.each([
    [["--url", "http://127.0.0.1:1", "--vendr", "x"], /Unknown option '--vendr'/],
    [["--vendor", "x"], /--url is required/],
    [["--url", "http://127.0.0.1:1", "--vendor", "x", "--timeout", "soon"], /--timeout must be/],
  ])(
    "exits 2 with the usage for %j",
    async (args, message) => {
      const run = await smoke(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain("usage: npm run smoke");
    },
    40_000,
  );
});
