// The benchmark's own logic (bench/): that it bundles what the stack deploys, signs what the
// relay accepts, and judges figures against issue 6's targets. The measurements themselves run
// in `npm run bench` (CI: `npm run bench -- --short`), not here.
import { OutputFormat, SourceMapMode } from "aws-cdk-lib/aws-lambda-nodejs";
import { describe, expect, it } from "vitest";
import { esbuildOptions } from "../bench/bundles";
import { formatTable, type Results, verdicts } from "../bench/report";
import { deleteBody, standardSigner, webhookEvent } from "../bench/webhooks";
import { parseWebhookBody } from "../lambda/event";
import { normalizeEvent } from "../lambda/http";
import { prepareSecrets, verifySignature } from "../lambda/signature";
import { LAMBDA_BUNDLING } from "../lib/permit-delete-relay";
import { generateSigningSecret } from "../local/vendor-kit";

describe("bench bundles", () => {
  it("builds with the stack's LAMBDA_BUNDLING, as aws-lambda-nodejs passes it to esbuild", () => {
    expect(esbuildOptions(LAMBDA_BUNDLING)).toMatchObject({
      bundle: true,
      platform: "node",
      format: "cjs",
      target: LAMBDA_BUNDLING.target,
      mainFields: LAMBDA_BUNDLING.mainFields,
      minify: LAMBDA_BUNDLING.minify,
      sourcemap: true,
      sourcesContent: false,
      external: LAMBDA_BUNDLING.externalModules,
    });
  });

  it("falls back as aws-lambda-nodejs does: the runtime's target, the SDK left out, no source map", () => {
    expect(esbuildOptions({}, "nodejs24.x")).toMatchObject({
      target: "node24",
      external: ["@aws-sdk/*"],
      sourcemap: false,
      sourcesContent: true,
    });
    expect(esbuildOptions({ bundleAwsSDK: true, format: OutputFormat.ESM })).toMatchObject({
      external: [],
      format: "esm",
    });
    expect(esbuildOptions({ sourceMapMode: SourceMapMode.INLINE }).sourcemap).toBe("inline");
  });

  it("refuses a bundling option it does not mirror rather than measure another bundle", () => {
    expect(() => esbuildOptions({ ...LAMBDA_BUNDLING, nodeModules: ["left-pad"] })).toThrow(
      /does not mirror LAMBDA_BUNDLING\.nodeModules/,
    );
  });
});

describe("bench webhooks", () => {
  it("signs webhooks the relay's verifier accepts", () => {
    const secret = generateSigningSecret();
    const event = webhookEvent(standardSigner(secret), "acme", "ref-1");
    const request = normalizeEvent(event);
    const verified = verifySignature({
      scheme: { scheme: "standard-webhooks" },
      secrets: prepareSecrets({ scheme: "standard-webhooks" }, [secret]),
      headers: request.headers,
      rawBody: request.rawBody,
      nowSeconds: Math.floor(Date.now() / 1000),
      toleranceSeconds: 300,
    });
    expect(verified.ok).toBe(true);
  });

  it("gives every webhook its own id", () => {
    const sign = standardSigner(generateSigningSecret());
    expect(sign("{}").headers["webhook-id"]).not.toBe(sign("{}").headers["webhook-id"]);
  });

  it("pads a delete event to exactly the size asked, still a delete of the same permit", () => {
    const body = deleteBody("1a9b5375-cb75-4c71-9939-eeae550b09ac", 1024);
    expect(Buffer.byteLength(body)).toBe(1024);
    expect(
      parseWebhookBody(Buffer.from(body), { typePointer: "/type", deleteTypes: ["permit.deleted"] }),
    ).toMatchObject({ kind: "delete", referenceId: "1a9b5375-cb75-4c71-9939-eeae550b09ac" });
  });
});

describe("bench report", () => {
  const passing: Results = {
    ingestBundleBytes: 449_000,
    coldStartRatio: 1.2,
    throughputRatio: 0.8,
    handlerMicrosP50: 80,
    handlerMicrosP99: 400,
    peakRssMiB: 90,
    secretsCallsPer10k: 2,
    opscomConnectionsPer1k: 1,
    costRatioToFloor: 1.5,
    costPerMillionUsd: 9.99,
  };

  it("passes figures at their limits", () => {
    expect(verdicts(passing).every((v) => v.pass)).toBe(true);
  });

  it.each([
    ["ingestBundleBytes", 500_001],
    ["coldStartRatio", 1.21],
    ["throughputRatio", 0.79],
    ["handlerMicrosP50", 100.1],
    ["handlerMicrosP99", 501],
    ["peakRssMiB", 101],
    ["secretsCallsPer10k", 3],
    ["opscomConnectionsPer1k", 3],
    ["costRatioToFloor", 1.51],
    ["coldStartRatio", Number.NaN],
  ] as const)("misses %s at %d", (key, value) => {
    const missed = verdicts({ ...passing, [key]: value }).filter((v) => !v.pass);
    expect(missed.map((v) => v.key)).toEqual([key]);
  });

  it("prints one row per figure with its target and verdict", () => {
    const table = formatTable(verdicts({ ...passing, throughputRatio: 0.6 }));
    expect(table).toMatch(/throughputRatio\s+0\.6\s+≥ 0\.8\s+MISS/);
    expect(table).toMatch(/ingestBundleBytes\s+449000\s+≤ 500000\s+pass/);
    expect(table.split("\n")).toHaveLength(2 + 9);
  });
});
