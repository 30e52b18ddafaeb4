// The IAM test's evaluator on its own: IAM's matching and precedence rules, and a loud failure
// for every policy element it does not implement.
import { describe, expect, it } from "vitest";
import { type AwsCall, evaluate, parsePolicy, UnsupportedPolicy } from "../support/iam-policy";

const SECRET = "arn:aws:secretsmanager:us-east-1:000000000000:secret:opscom-permit-relay/vendors/acme-AbC123";
const TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/ledger";

const decide = (statement: Record<string, unknown> | Record<string, unknown>[], call: AwsCall) =>
  evaluate(parsePolicy({ Version: "2012-10-17", Statement: statement }), call).decision;

describe("IAM evaluation", () => {
  it.each([
    ["the exact action and ARN", "secretsmanager:GetSecretValue", SECRET, "allow"],
    ["an action in another case", "SecretsManager:getsecretvalue", SECRET, "allow"],
    ["another action", "secretsmanager:PutSecretValue", SECRET, "implicitDeny"],
    [
      "another vendor's secret",
      "secretsmanager:GetSecretValue",
      SECRET.replace("acme", "parkco"),
      "implicitDeny",
    ],
    ["a suffix of 7 characters", "secretsmanager:GetSecretValue", `${SECRET}x`, "implicitDeny"],
    [
      "a name that only starts like it",
      "secretsmanager:GetSecretValue",
      SECRET.replace("acme", "acme-x"),
      "implicitDeny",
    ],
  ])("Secrets Manager's -?????? suffix: %s", (_, action, resource, expected) => {
    const statement = {
      Effect: "Allow",
      Action: "secretsmanager:GetSecretValue",
      Resource:
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:opscom-permit-relay/vendors/acme-??????",
    };
    expect(decide(statement, { action, resource })).toBe(expected);
  });

  it("matches action wildcards, and ARN wildcards within a segment only", () => {
    const statement = {
      Effect: "Allow",
      Action: "dynamodb:*Item",
      Resource: "arn:aws:dynamodb:*:*:table/ledger*",
    };
    expect(decide(statement, { action: "dynamodb:GetItem", resource: TABLE })).toBe("allow");
    expect(decide(statement, { action: "dynamodb:Query", resource: TABLE })).toBe("implicitDeny");
    expect(decide(statement, { action: "dynamodb:GetItem", resource: `${TABLE}/index/byReference` })).toBe(
      "allow",
    );
    // Each segment matches on its own: a wildcard region does not stand in for the account.
    const account = { Effect: "Allow", Action: "*", Resource: "arn:aws:dynamodb:*:111111111111:*" };
    expect(decide(account, { action: "dynamodb:GetItem", resource: TABLE })).toBe("implicitDeny");
    expect(decide({ Effect: "Allow", Action: "*", Resource: "*" }, { action: "x:Y", resource: TABLE })).toBe(
      "allow",
    );
  });

  it("lets an explicit Deny win over any Allow, and denies what nothing allows", () => {
    const statements = [
      { Effect: "Allow", Action: "dynamodb:*", Resource: "*" },
      { Effect: "Deny", Action: "dynamodb:DeleteItem", Resource: TABLE },
    ];
    expect(decide(statements, { action: "dynamodb:DeleteItem", resource: TABLE })).toBe("explicitDeny");
    expect(decide(statements, { action: "dynamodb:GetItem", resource: TABLE })).toBe("allow");
    expect(decide(statements.slice(1), { action: "dynamodb:GetItem", resource: TABLE })).toBe("implicitDeny");
  });

  it("applies NotAction and NotResource as complements", () => {
    const notAction = { Effect: "Deny", NotAction: "dynamodb:GetItem", Resource: "*" };
    const allowAll = { Effect: "Allow", Action: "*", Resource: "*" };
    expect(decide([allowAll, notAction], { action: "dynamodb:GetItem", resource: TABLE })).toBe("allow");
    expect(decide([allowAll, notAction], { action: "dynamodb:PutItem", resource: TABLE })).toBe(
      "explicitDeny",
    );
    const notResource = { Effect: "Allow", Action: "dynamodb:GetItem", NotResource: `${TABLE}/index/*` };
    expect(decide(notResource, { action: "dynamodb:GetItem", resource: TABLE })).toBe("allow");
    expect(decide(notResource, { action: "dynamodb:GetItem", resource: `${TABLE}/index/x` })).toBe(
      "implicitDeny",
    );
  });

  it("evaluates the conditions it knows against the call's context", () => {
    const statement = {
      Effect: "Deny",
      Action: "*",
      Resource: "*",
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    };
    const call = { action: "sqs:SendMessage", resource: "arn:aws:sqs:us-east-1:000000000000:q" };
    expect(decide(statement, { ...call, context: { "aws:SecureTransport": "false" } })).toBe("explicitDeny");
    expect(decide(statement, { ...call, context: { "aws:SecureTransport": "true" } })).toBe("implicitDeny");
    const notLike = {
      Effect: "Allow",
      Action: "*",
      Resource: "*",
      Condition: { StringNotLike: { "aws:RequestedRegion": ["eu-*", "ap-*"] } },
    };
    expect(decide(notLike, { ...call, context: { "aws:RequestedRegion": "us-east-1" } })).toBe("allow");
    expect(decide(notLike, { ...call, context: { "aws:RequestedRegion": "eu-west-1" } })).toBe(
      "implicitDeny",
    );
  });

  it.each([
    [
      "an unknown condition operator",
      { Condition: { NumericLessThan: { "aws:MultiFactorAuthAge": "3600" } } },
    ],
    ["an IfExists operator", { Condition: { StringEqualsIfExists: { "aws:SourceVpc": "vpc-1" } } }],
    ["a set operator", { Condition: { "ForAnyValue:StringEquals": { "aws:TagKeys": "a" } } }],
    ["a Principal (a resource policy's element)", { Principal: "*" }],
    ["an unknown element", { Effekt: "Allow" }],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a template
    ["a policy variable", { Resource: "arn:aws:s3:::bucket/${aws:username}" }],
    ["an unknown Effect", { Effect: "Maybe" }],
    ["both Action and NotAction", { NotAction: "s3:*" }],
  ])("fails on %s instead of deciding", (_, change) => {
    const statement = { Effect: "Allow", Action: "*", Resource: "*", ...change };
    expect(() => decide(statement, { action: "s3:GetObject", resource: "arn:aws:s3:::bucket/x" })).toThrow(
      UnsupportedPolicy,
    );
  });

  it("fails on a condition key the recorded call does not carry", () => {
    const statement = {
      Effect: "Allow",
      Action: "*",
      Resource: "*",
      Condition: { StringEquals: { "aws:PrincipalOrgID": "o-123" } },
    };
    expect(() =>
      decide(statement, { action: "s3:GetObject", resource: "arn:aws:s3:::b/x", context: {} }),
    ).toThrow(/aws:PrincipalOrgID/);
  });

  it("fails on a policy version or document element it does not know", () => {
    expect(() => parsePolicy({ Version: "2008-10-17", Statement: [] })).toThrow(UnsupportedPolicy);
    expect(() => parsePolicy({ Statement: [], Extra: 1 })).toThrow(UnsupportedPolicy);
  });
});
