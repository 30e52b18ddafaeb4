// Builders for CDK template tests. Apps get the feature flags `cdk synth` runs with (cdk.json),
// so tests build what the CLI builds. Bundling and CloudFormation's built-in schema check are
// off unless a test asks for them: they cost seconds per app and only a few tests need them.
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import cdkJson from "../cdk.json";
import { PermitDeleteRelay, type PermitDeleteRelayProps } from "../lib/permit-delete-relay";
import { PermitRelayStack } from "../lib/permit-relay-stack";

export interface AppOptions {
  /** Run esbuild for the functions' assets. */
  readonly bundle?: boolean;
  /** Run CloudFormation's built-in template validation at synth. */
  readonly validate?: boolean;
}

export function testApp(context: Record<string, unknown> = {}, options: AppOptions = {}): App {
  return new App({
    context: {
      ...cdkJson.context,
      ...(options.bundle ? {} : { "aws:cdk:bundling-stacks": [] }),
      ...context,
    },
    builtinCloudFormationValidation: options.validate ?? false,
  });
}

export const TEST_VENDORS: PermitDeleteRelayProps["vendors"] = [
  { id: "acme" },
  {
    id: "parkco",
    opscom: { clientCode: "OC-PARK", tokenSecretId: "opscom-permit-relay/tokens/parkco" },
    allowedSourceCidrs: ["203.0.113.0/24", "2001:db8::/32"],
  },
];

export function relayProps(overrides: Partial<PermitDeleteRelayProps> = {}): PermitDeleteRelayProps {
  return { clientCode: "OC-TEST", vendors: TEST_VENDORS, ...overrides };
}

/** The construct alone in a bare stack. */
export function buildRelay(
  overrides: Partial<PermitDeleteRelayProps> | ((stack: Stack) => Partial<PermitDeleteRelayProps>) = {},
) {
  const app = testApp();
  const stack = new Stack(app, "Test");
  const relay = new PermitDeleteRelay(
    stack,
    "Relay",
    relayProps(typeof overrides === "function" ? overrides(stack) : overrides),
  );
  return { app, stack, relay, template: Template.fromStack(stack) };
}

/** The deployable stack with the given context, as `cdk synth -c key=value` would build it. */
export function buildStack(context: Record<string, unknown> = {}, options: AppOptions = {}) {
  const app = testApp(context, options);
  const stack = new PermitRelayStack(app, "OpscomPermitRelay");
  return { app, stack, template: Template.fromStack(stack) };
}

/** Flattens `Fn::Join` of literals and intrinsics into one string, `{Ref}` as `<Ref>`. */
export function flat(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if ("Fn::Join" in obj) {
      const [sep, parts] = obj["Fn::Join"] as [string, unknown[]];
      return parts.map(flat).join(sep);
    }
    if ("Ref" in obj) return `<${obj.Ref}>`;
    if ("Fn::GetAtt" in obj) return `<${(obj["Fn::GetAtt"] as string[]).join(".")}>`;
  }
  return JSON.stringify(value);
}

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown };

/** Every statement of the inline policies attached to the role whose logical id starts with `rolePrefix`. */
export function roleStatements(template: Template, rolePrefix: string): Statement[] {
  const policies = template.findResources("AWS::IAM::Policy");
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref.startsWith(rolePrefix)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

export function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}
