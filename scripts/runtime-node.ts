// The Node.js the deployed functions run on, for running the tests and the bench on it too:
// reads the runtime of every Lambda function in the synthesized stack (`nodejs24.x` → 24),
// installs that major's binary from the npm registry's `node-linux-<arch>` package into
// `.cache/node-<major>` (outside the project's dependencies, so `npm ci` never fetches a second
// Node) unless it is there already, and prints the binary's path.
//
//   npx tsx scripts/runtime-node.ts            install if missing, print the path
//   npx tsx scripts/runtime-node.ts --major    print only the major
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { App } from "aws-cdk-lib";
import cdkJson from "../cdk.json";
import { PermitRelayStack } from "../lib/permit-relay-stack";

const ROOT = path.join(__dirname, "..");

/** The one Node major of the stack's functions; more than one is a mistake worth stopping for. */
export function runtimeNodeMajor(template: {
  Resources: Record<string, { Type: string; Properties?: { Runtime?: unknown } }>;
}): number {
  const runtimes = new Set(
    Object.values(template.Resources)
      .filter((r) => r.Type === "AWS::Lambda::Function")
      .map((r) => String(r.Properties?.Runtime)),
  );
  const majors = [...runtimes].map((runtime) => {
    const match = /^nodejs(\d+)\.x$/.exec(runtime);
    if (!match) throw new Error(`a function runs ${runtime}, not a nodejsNN.x runtime`);
    return Number(match[1]);
  });
  if (majors.length !== 1)
    throw new Error(`expected one Node.js runtime, found: ${[...runtimes].join(", ") || "none"}`);
  return majors[0] as number;
}

/** The deployable stack's template, synthesized without bundling (only the runtimes are read). */
function synthesizedTemplate() {
  const app = new App({ context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] } });
  const stack = new PermitRelayStack(app, "OpscomPermitRelay");
  return app.synth().getStackByName(stack.stackName).template;
}

function installedNode(major: number): string {
  const arch = { x64: "x64", arm64: "arm64" }[process.arch as string];
  if (process.platform !== "linux" || !arch) {
    throw new Error(
      `node-linux-* binaries are for Linux x64/arm64; this is ${process.platform}/${process.arch}`,
    );
  }
  const prefix = path.join(ROOT, ".cache", `node-${major}`);
  const binary = path.join(prefix, "node_modules", `node-linux-${arch}`, "bin", "node");
  if (!existsSync(binary)) {
    execFileSync(
      "npm",
      ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", `node-linux-${arch}@${major}`],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  }
  const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim();
  if (!version.startsWith(`v${major}.`)) throw new Error(`${binary} is ${version}, not Node ${major}`);
  return binary;
}

if (require.main === module) {
  const major = runtimeNodeMajor(synthesizedTemplate());
  console.log(process.argv.includes("--major") ? String(major) : installedNode(major));
}
