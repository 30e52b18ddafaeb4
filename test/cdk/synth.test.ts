// The app as `npx cdk synth` builds it from a fresh clone: no context, real esbuild bundling,
// CloudFormation's built-in template validation and cdk-nag, and the artifacts it writes.
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Validations } from "aws-cdk-lib";
import type { CloudAssembly } from "aws-cdk-lib/cx-api";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { PermitRelayStack } from "../../lib/permit-relay-stack";
import { startAwsEndpoint } from "../../local/aws/server";
import { startOpscomSandbox } from "../../local/opscom-sandbox";
import { canonicalEvent, generateSigningSecret, signWebhook } from "../../local/vendor-kit";
import { version } from "../../package.json";
import { testApp } from "../../testkit/cdk";
import { createLedgerTable, startDynalite, useLocalAws } from "../../testkit/dynalite";
import { restEvent } from "../../testkit/events";

/** The budget for the ingest bundle (index.js), in bytes. */
const INGEST_BUNDLE_LIMIT = 500 * 1000;

let assembly: CloudAssembly;
let template: {
  Resources: Record<
    string,
    { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> }
  >;
};

beforeAll(() => {
  // The CLI sets this context key; it records where each function's bundle was written.
  const app = testApp({ "aws:cdk:enable-asset-metadata": true }, { bundle: true, validate: true });
  new PermitRelayStack(app, "OpscomPermitRelay");
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  assembly = app.synth();
  template = assembly.getStackByName("OpscomPermitRelay").template;
});

function assetDir(descriptionPattern: RegExp): string {
  const fn = Object.values(template.Resources).find(
    (r) => r.Type === "AWS::Lambda::Function" && descriptionPattern.test(String(r.Properties.Description)),
  );
  const assetPath = fn?.Metadata?.["aws:asset:path"];
  if (!assetPath) throw new Error(`no bundled asset for ${descriptionPattern}`);
  return path.join(assembly.directory, assetPath);
}

describe("cdk synth with no context", () => {
  it("writes the template with both functions and a validation report without failures", () => {
    const functions = Object.values(template.Resources).filter((r) => r.Type === "AWS::Lambda::Function");
    expect(functions).toHaveLength(2);
    const report = JSON.parse(
      fs.readFileSync(path.join(assembly.directory, "validation-report.json"), "utf8"),
    );
    const failures = report.pluginReports.flatMap((p: { violations: { severity: string }[] }) =>
      p.violations.filter((v) => v.severity !== "warning"),
    );
    expect(failures).toEqual([]);
  });

  it.each([
    ["ingest", /verifies vendor webhooks/],
    ["retry worker", /retries parked/],
  ])("bundles the %s into one CommonJS file and its source map", (_name, pattern) => {
    const dir = assetDir(pattern);
    expect(fs.readdirSync(dir).sort()).toEqual(["index.js", "index.js.map"]);
    const code = fs.readFileSync(path.join(dir, "index.js"), "utf8");
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.js\.map\s*$/);
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
  });

  it(`keeps the ingest bundle at or below ${INGEST_BUNDLE_LIMIT / 1000} kB`, () => {
    const size = fs.statSync(path.join(assetDir(/verifies vendor webhooks/), "index.js")).size;
    expect(size).toBeLessThanOrEqual(INGEST_BUNDLE_LIMIT);
  });

  it("requires nothing at run time but Node's built-in modules (the AWS SDK is inside)", () => {
    for (const pattern of [/verifies vendor webhooks/, /retries parked/]) {
      const code = fs.readFileSync(path.join(assetDir(pattern), "index.js"), "utf8");
      // A `[require("x")]` inside an error message's text is prose, not a call.
      const required = [...code.matchAll(/(?<![\w$.[])require\(\s*["']([^"']+)["']\s*\)/g)].map(
        (m) => m[1] as string,
      );
      const external = required.filter((name) => !name.startsWith("node:") && !builtinModules.includes(name));
      expect(external).toEqual([]);
    }
  });

  it("the ingest bundle loads under plain node, copied away from node_modules, and exports handler", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ingest-bundle-"));
    for (const file of ["index.js", "index.js.map"]) {
      fs.copyFileSync(path.join(assetDir(/verifies vendor webhooks/), file), path.join(dir, file));
    }
    const out = execFileSync(
      process.execPath,
      ["-e", `process.stdout.write(typeof require(${JSON.stringify(path.join(dir, "index.js"))}).handler)`],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? "",
          AWS_REGION: "eu-west-1",
          OPSCOM_CLIENT_CODE: "OC-TOMA",
          OPSCOM_TOKEN_SECRET_ID: "opscom-token",
          VENDORS: '[{"id":"demo-vendor"}]',
          LEDGER_TABLE_NAME: "ledger",
          RETRY_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/retry",
          NODE_OPTIONS: "--enable-source-maps --no-warnings",
        },
        encoding: "utf8",
      },
    );
    fs.rmSync(dir, { recursive: true, force: true });
    expect(out).toBe("function");
  });

  it("the deployable ingest bundle, run by plain node, deletes a permit on the local sandbox and answers a ping with package.json's version", async () => {
    const dynamo = await startDynalite();
    const aws = await startAwsEndpoint();
    const token = "BUNDLE-TOKEN-0123456789";
    const sandbox = await startOpscomSandbox({ clients: { "OC-TOMA": { tokens: [token] } } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ingest-run-"));
    try {
      useLocalAws({ dynamodb: dynamo.endpoint });
      const client = new DynamoDBClient({});
      await createLedgerTable(client, "bundle-ledger");
      client.destroy();
      const secret = generateSigningSecret();
      aws.putSecret("opscom-token", token);
      aws.putSecret("opscom-permit-relay/vendors/demo-vendor", JSON.stringify({ signingSecrets: [secret] }));
      const queueUrl = aws.createQueue("bundle-retry");
      const ref = sandbox.createPermit();
      const webhook = signWebhook({ body: canonicalEvent(ref), secret });
      const event = restEvent({
        vendorId: "demo-vendor",
        headers: webhook.headers,
        body: webhook.body,
        base64: true,
      });
      const ping = signWebhook({ body: JSON.stringify({ type: "relay.ping" }), secret });
      const pingEvent = restEvent({ vendorId: "demo-vendor", headers: ping.headers, body: ping.body });
      for (const file of ["index.js", "index.js.map"]) {
        fs.copyFileSync(path.join(assetDir(/verifies vendor webhooks/), file), path.join(dir, file));
      }
      const script = `(async () => { for (const event of JSON.parse(process.env.EVENTS)) {
        const r = await require("./index.js").handler(event);
        process.stdout.write("RESULT " + JSON.stringify(r) + "\\n"); } process.exit(0); })();`;
      // The servers live in this process, so the child must run asynchronously.
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ["-e", script],
          {
            cwd: dir,
            env: {
              PATH: process.env.PATH ?? "",
              AWS_REGION: "us-east-1",
              AWS_ACCESS_KEY_ID: "test",
              AWS_SECRET_ACCESS_KEY: "test",
              AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
              AWS_ENDPOINT_URL_SQS: aws.url,
              AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
              AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
              OPSCOM_BASE_URL: sandbox.url,
              OPSCOM_CLIENT_CODE: "OC-TOMA",
              OPSCOM_TOKEN_SECRET_ID: "opscom-token",
              VENDORS: '[{"id":"demo-vendor"}]',
              LEDGER_TABLE_NAME: "bundle-ledger",
              RETRY_QUEUE_URL: queueUrl,
              NODE_OPTIONS: "--enable-source-maps",
              EVENTS: JSON.stringify([event, pingEvent]),
            },
            encoding: "utf8",
            timeout: 30_000,
          },
          (error, out) => (error ? reject(error) : resolve(out)),
        ),
      );
      const [result, pong] = stdout
        .split("\n")
        .filter((l) => l.startsWith("RESULT "))
        .map((l) => JSON.parse(l.slice("RESULT ".length)));
      expect(result.statusCode).toBe(200);
      expect(JSON.parse(result.body)).toEqual({
        status: "deleted",
        webhookId: webhook.webhookId,
        referenceID: ref,
      });
      expect(sandbox.stats().deletesByReference[ref]).toBe(1);
      expect(JSON.parse(pong.body)).toEqual({
        status: "pong",
        vendorId: "demo-vendor",
        version,
        webhookId: ping.webhookId,
      });
      // The structured delivery line came out of the bundle too, without the token.
      expect(stdout).toContain('"message":"webhook handled"');
      expect(stdout).not.toContain(token);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await sandbox.close();
      await aws.close();
      await dynamo.close();
    }
  }, 60_000);
});
