// The bundles under test, built the way the stack builds its functions: esbuild's JS API with
// LAMBDA_BUNDLING (lib/permit-delete-relay.ts) translated option for option into what
// aws-lambda-nodejs passes to the esbuild CLI. The floor, the bare forwarder and the
// benchmark's child processes get the same options, so every side pays the same bundling.
import { statSync } from "node:fs";
import path from "node:path";
import type { BundlingOptions } from "aws-cdk-lib/aws-lambda-nodejs";
import { type BuildOptions, build, type Metafile } from "esbuild";
import { LAMBDA_BUNDLING, LAMBDA_RUNTIME } from "../lib/permit-delete-relay";

const ROOT = path.join(__dirname, "..");
/** Under dist/, which git and biome ignore. */
export const OUT_DIR = path.join(ROOT, "dist", "bench");

/** What each bundle is built from; `ingest` is the deployed artifact, the rest are the bench's own. */
const ENTRIES = {
  ingest: "lambda/ingest.ts",
  floor: "bench/children/floor-handler.ts",
  httpFloor: "bench/children/floor-handler-http.ts",
  relayServer: "bench/children/relay-server.ts",
  bareForwarder: "bench/children/bare-forwarder.ts",
  sandboxServer: "bench/children/sandbox-server.ts",
  handlerTiming: "bench/children/handler-timing.ts",
} as const;

export type BundleName = keyof typeof ENTRIES;
export type Bundles = Record<BundleName, string>;

// BundlingOptions the translation below mirrors, and those that cannot change the bundle's
// bytes (Docker-only, asset bookkeeping). Anything else stops the bench: a new option in
// LAMBDA_BUNDLING must be taught here before the numbers can be trusted.
const MIRRORED = new Set([
  "format",
  "target",
  "mainFields",
  "minify",
  "sourceMap",
  "sourceMapMode",
  "sourcesContent",
  "externalModules",
  "bundleAwsSDK",
  "loader",
  "define",
  "keepNames",
  "tsconfig",
  "banner",
  "footer",
  "charset",
  "inject",
]);
const IRRELEVANT = new Set([
  "forceDockerBundling",
  "dockerImage",
  "buildArgs",
  "bundlingFileAccess",
  "assetHash",
  "esbuildVersion",
  "logLevel",
  "metafile",
  "environment",
]);

/** The esbuild options equivalent to the CLI call aws-lambda-nodejs makes for `bundling`. */
export function esbuildOptions(bundling: BundlingOptions, runtimeName = LAMBDA_RUNTIME.name): BuildOptions {
  const unmirrored = Object.entries(bundling)
    .filter(([key, value]) => value !== undefined && !MIRRORED.has(key) && !IRRELEVANT.has(key))
    .map(([key]) => key);
  if (unmirrored.length > 0) {
    throw new Error(
      `bench/bundles.ts does not mirror LAMBDA_BUNDLING.${unmirrored.join(", ")}; teach it before trusting the numbers`,
    );
  }
  const sourceMapMode = bundling.sourceMapMode ?? (bundling.sourceMap ? "default" : undefined);
  return {
    bundle: true,
    platform: "node",
    // As aws-lambda-nodejs: the runtime's Node version when no target is given.
    target: bundling.target ?? `node${/\d+/.exec(runtimeName)?.[0] ?? ""}`,
    ...(bundling.format ? { format: bundling.format } : {}),
    minify: bundling.minify ?? false,
    sourcemap: sourceMapMode === undefined ? false : sourceMapMode === "default" ? true : sourceMapMode,
    sourcesContent: bundling.sourcesContent ?? true,
    // aws-lambda-nodejs leaves the SDK out unless told otherwise; the stack bundles it.
    external: bundling.externalModules ?? (bundling.bundleAwsSDK ? [] : ["@aws-sdk/*"]),
    ...(bundling.loader ? { loader: bundling.loader as BuildOptions["loader"] } : {}),
    ...(bundling.define ? { define: bundling.define } : {}),
    ...(bundling.keepNames ? { keepNames: true } : {}),
    ...(bundling.tsconfig ? { tsconfig: path.resolve(ROOT, bundling.tsconfig) } : {}),
    ...(bundling.banner ? { banner: { js: bundling.banner } } : {}),
    ...(bundling.footer ? { footer: { js: bundling.footer } } : {}),
    ...(bundling.charset ? { charset: bundling.charset } : {}),
    ...(bundling.mainFields ? { mainFields: bundling.mainFields } : {}),
    ...(bundling.inject ? { inject: bundling.inject } : {}),
    logLevel: "warning",
  };
}

export interface BuiltBundles {
  readonly paths: Bundles;
  readonly ingestBytes: number;
  /** Bytes each package contributes to the ingest bundle (minified input), largest first. */
  readonly ingestPackages: Record<string, number>;
}

/** Builds every bundle into OUT_DIR/<name>.js; the ingest bundle's size is the deployed artifact's. */
export async function buildBundles(): Promise<BuiltBundles> {
  const options = esbuildOptions(LAMBDA_BUNDLING);
  const built = await Promise.all(
    Object.entries(ENTRIES).map(async ([name, entry]) => {
      const outfile = path.join(OUT_DIR, `${name}.js`);
      const result = await build({
        ...options,
        // In a bundle `module` is the bundle's own, so the `require.main === module` guards of
        // local/opscom-sandbox.ts would start its standalone
        // server in every child. The deployed ingest bundle is built exactly as the stack does.
        ...(name === "ingest" ? {} : { define: { ...options.define, "require.main": "undefined" } }),
        absWorkingDir: ROOT,
        entryPoints: [entry],
        outfile,
        metafile: name === "ingest",
      });
      return { name, outfile, metafile: result.metafile };
    }),
  );
  const paths = Object.fromEntries(built.map((b) => [b.name, b.outfile])) as Bundles;
  const ingest = built.find((b) => b.name === "ingest");
  return {
    paths,
    ingestBytes: statSync(paths.ingest).size,
    ingestPackages: ingest?.metafile ? packageSizes(ingest.metafile, paths.ingest) : {},
  };
}

function packageSizes(metafile: Metafile, outfile: string): Record<string, number> {
  const output = metafile.outputs[path.relative(ROOT, outfile)];
  const sizes: Record<string, number> = {};
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const owner = match?.[1] ?? "(project)";
    sizes[owner] = (sizes[owner] ?? 0) + bytesInOutput;
  }
  return Object.fromEntries(Object.entries(sizes).sort(([, a], [, b]) => b - a));
}
