// A role's identity policies as a synthesized template states them, with the template's
// references (Ref, Fn::GetAtt, Fn::Join, pseudo parameters) resolved to the ARNs a recorded run
// used. Anything the IAM test cannot evaluate — a managed policy, a permissions boundary, an
// intrinsic without a binding — throws instead of being skipped.
import { ACCOUNT, REGION } from "./aws-recorder";
import { parsePolicy, type Statement, UnsupportedPolicy } from "./iam-policy";

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** Values of `{Ref: id}` and `{"Fn::GetAtt": [id, attribute]}` (keyed `id.attribute`). */
export interface Bindings {
  readonly refs: Readonly<Record<string, string>>;
  readonly getAtts: Readonly<Record<string, string>>;
}

const PSEUDO: Record<string, string> = {
  "AWS::Partition": "aws",
  "AWS::Region": REGION,
  "AWS::AccountId": ACCOUNT,
  "AWS::URLSuffix": "amazonaws.com",
};

export function resolve(value: unknown, bindings: Bindings): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, bindings));
  if (!value || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  const intrinsic = keys.find((k) => k === "Ref" || k.startsWith("Fn::"));
  if (intrinsic === undefined) {
    return Object.fromEntries(keys.map((k) => [k, resolve(obj[k], bindings)]));
  }
  if (intrinsic === "Ref") {
    const id = String(obj.Ref);
    const known = PSEUDO[id] ?? bindings.refs[id];
    if (known === undefined) throw new UnsupportedPolicy(`no binding for {"Ref": "${id}"}`);
    return known;
  }
  if (intrinsic === "Fn::GetAtt") {
    const key = (obj[intrinsic] as string[]).join(".");
    const known = bindings.getAtts[key];
    if (known === undefined) throw new UnsupportedPolicy(`no binding for {"Fn::GetAtt": "${key}"}`);
    return known;
  }
  if (intrinsic === "Fn::Join") {
    const [separator, parts] = obj[intrinsic] as [string, unknown[]];
    return parts.map((p) => resolve(p, bindings)).join(separator);
  }
  throw new UnsupportedPolicy(`intrinsic ${intrinsic} is not understood`);
}

/** Every statement that applies to the role with logical id `roleId`. */
export function roleStatements(
  template: { Resources: Resources },
  roleId: string,
  bindings: Bindings,
): Statement[] {
  const role = template.Resources[roleId];
  if (role?.Type !== "AWS::IAM::Role") throw new Error(`${roleId} is not a role in the template`);
  for (const key of ["ManagedPolicyArns", "PermissionsBoundary"]) {
    if (role.Properties?.[key] !== undefined) {
      throw new UnsupportedPolicy(`${roleId} has ${key}: the test cannot read what it grants`);
    }
  }
  const inline = ((role.Properties?.Policies ?? []) as Array<{ PolicyDocument: unknown }>).map(
    (p) => p.PolicyDocument,
  );
  const attached = Object.values(template.Resources)
    .filter((r) => r.Type === "AWS::IAM::Policy" || r.Type === "AWS::IAM::ManagedPolicy")
    .filter((r) => ((r.Properties?.Roles ?? []) as Array<{ Ref?: string }>).some((ref) => ref.Ref === roleId))
    .map((r) => r.Properties?.PolicyDocument);
  return [...inline, ...attached].flatMap((document) => parsePolicy(resolve(document, bindings)));
}
