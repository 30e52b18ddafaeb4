// The runtime's Node, read from the template: what CI's second test pass and the bench run on,
// and what esbuild compiles the bundles for.
import { describe, expect, it } from "vitest";
import { LAMBDA_BUNDLING } from "../../lib/permit-delete-relay";
import { runtimeNodeMajor } from "../../scripts/runtime-node";
import { buildStack } from "../../testkit/cdk";

const fn = (runtime: string) => ({ Type: "AWS::Lambda::Function", Properties: { Runtime: runtime } });

describe("the functions' Node major", () => {
  const template = buildStack().template.toJSON() as Parameters<typeof runtimeNodeMajor>[0];

  it("is read from the synthesized functions' runtime", () => {
    const runtimes = Object.values(
      template.Resources as Record<string, { Type: string; Properties: { Runtime?: string } }>,
    )
      .filter((r) => r.Type === "AWS::Lambda::Function")
      .map((r) => r.Properties?.Runtime);
    expect(runtimes.length).toBeGreaterThanOrEqual(2);
    expect(runtimeNodeMajor(template)).toBe(Number(/^nodejs(\d+)\.x$/.exec(String(runtimes[0]))?.[1]));
  });

  it("is what esbuild targets", () => {
    expect(LAMBDA_BUNDLING.target).toBe(`node${runtimeNodeMajor(template)}`);
  });

  it.each([
    ["two majors", [fn("nodejs22.x"), fn("nodejs24.x")], /one Node.js runtime/],
    ["a runtime that is not Node.js", [fn("python3.13")], /not a nodejsNN.x runtime/],
    ["no function", [], /found: none/],
  ])("refuses %s", (_, functions, message) => {
    const resources = Object.fromEntries(functions.map((f, i) => [`F${i}`, f]));
    expect(() => runtimeNodeMajor({ Resources: resources })).toThrow(message);
  });
});
