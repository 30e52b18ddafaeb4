// The template read as the local runs' configuration: each setting the harness models comes
// from the synthesized stack, a context change shows up in it, and references resolve to the
// local stand-ins or stop the run with the variable's name.
import { describe, expect, it } from "vitest";
import { readStackShape, resolveEnvironment, type Template } from "../../local/template-config";
import { buildStack } from "../../testkit/cdk";

// Bundling off (seconds per app); the asset metadata still names each function's directory.
const shapeOf = (context: Record<string, unknown> = {}) =>
  readStackShape(
    buildStack({ "aws:cdk:enable-asset-metadata": true, ...context }).template.toJSON() as Template,
    "/assembly",
  );

describe("readStackShape", () => {
  it("reads the default stack's functions, retry queue, event source mapping and throttle", () => {
    const shape = shapeOf();
    expect(shape.ingest.timeoutMs).toBe(15_000);
    expect(shape.retryWorker.timeoutMs).toBe(60_000);
    // Unbundled, the asset is the project directory; test/harness.test.ts loads real bundles.
    expect(shape.ingest.bundle).toMatch(/^\/assembly\/.+\/index\.js$/);
    expect(shape.ingest.handlerExport).toBe("handler");
    expect(shape.ingest.environment.MAX_BODY_BYTES).toBe("65536");
    expect(shape.ingest.environment.LEDGER_TABLE_NAME).toEqual({ Ref: shape.ledgerTable.logicalId });
    expect(shape.retryQueue).toMatchObject({
      visibilityTimeoutSeconds: 360,
      retentionSeconds: 14 * 86_400,
      maxReceiveCount: 7,
    });
    expect(shape.deadLetterQueue.retentionSeconds).toBe(14 * 86_400);
    expect(shape.eventSource).toEqual({ batchSize: 10, maxConcurrency: 2, reportBatchItemFailures: true });
    expect(shape.gateway).toEqual({ rateLimit: 50, burstLimit: 100 });
    expect(shape.tokenSecret).toBeDefined();
  });

  it("follows the stack's context: attempts, the worker's concurrency and the stage throttle", () => {
    const shape = shapeOf({
      retryMaxAttempts: 3,
      retryWorkerMaxConcurrency: 5,
      throttleRate: 7,
      throttleBurst: 9,
    });
    expect(shape.retryQueue.maxReceiveCount).toBe(3);
    expect(shape.ingest.environment.RETRY_MAX_ATTEMPTS).toBe("3");
    expect(shape.eventSource.maxConcurrency).toBe(5);
    expect(shape.gateway).toEqual({ rateLimit: 7, burstLimit: 9 });
  });

  it("takes an imported token secret's name as a literal and declares no secret to resolve", () => {
    const shape = shapeOf({ tokenSecretId: "team/opscom-token" });
    expect(shape.tokenSecret).toBeUndefined();
    expect(shape.ingest.environment.OPSCOM_TOKEN_SECRET_ID).toBe("team/opscom-token");
  });

  it("names what is missing rather than guessing", () => {
    const template = buildStack({ "aws:cdk:enable-asset-metadata": true }).template.toJSON() as Template;
    const withoutMapping = {
      Resources: Object.fromEntries(
        Object.entries(template.Resources).filter(([, r]) => r.Type !== "AWS::Lambda::EventSourceMapping"),
      ),
    };
    expect(() => readStackShape(withoutMapping, "/a")).toThrow(
      "template: expected one event source mapping (AWS::Lambda::EventSourceMapping), found 0",
    );
  });
});

describe("resolveEnvironment", () => {
  const resolve = (ref: { Ref: string } | { "Fn::GetAtt": readonly [string, string] }) =>
    "Ref" in ref
      ? ({ Table: "ledger", Queue: "http://127.0.0.1:1/000000000000/retry" } as Record<string, string>)[
          ref.Ref
        ]
      : undefined;

  it("resolves references, joins and pseudo parameters to the local values", () => {
    expect(
      resolveEnvironment(
        {
          LEDGER_TABLE_NAME: { Ref: "Table" },
          RETRY_QUEUE_URL: { Ref: "Queue" },
          ARN: { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":x:", { Ref: "AWS::Region" }]] },
          MAX_BODY_BYTES: "65536",
        },
        resolve,
      ),
    ).toEqual({
      LEDGER_TABLE_NAME: "ledger",
      RETRY_QUEUE_URL: "http://127.0.0.1:1/000000000000/retry",
      ARN: "arn:aws:x:us-east-1",
      MAX_BODY_BYTES: "65536",
    });
  });

  it.each([
    ["a reference with no local value", { Ref: "Unknown" }],
    ["an intrinsic it does not know", { "Fn::Sub": "arn:aws:dynamodb:table/x" }],
    ["a GetAtt with no local value", { "Fn::GetAtt": ["Table", "StreamArn"] }],
  ])("stops on %s, naming the variable", (_what, value) => {
    expect(() => resolveEnvironment({ LEDGER_TABLE_NAME: value }, resolve)).toThrow(
      /^template: LEDGER_TABLE_NAME is .* which the local run cannot resolve$/,
    );
  });
});
