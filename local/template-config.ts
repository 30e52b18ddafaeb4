// The synthesized stack as the local runs' configuration: what `cdk deploy` would ship (the
// bundles under the assembly, each function's environment and timeout, the retry queue's
// redrive, the event source mapping, the stage's throttling) read from the template, so a
// change to the stack is what the harness exercises. References are resolved to the local
// stand-ins by the caller; any intrinsic this reader does not know stops it rather than
// passing a CloudFormation object through as a string.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const STACK_NAME = "OpscomPermitRelay";
/** What a synthesized assembly depends on; a change to any of them synthesizes again. */
const SOURCES = ["lib", "lambda", "cdk.json", "package-lock.json"];

type Json = unknown;
interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, Json>;
  readonly Metadata?: Record<string, Json>;
}
export interface Template {
  readonly Resources: Record<string, Resource>;
}

/** A template value that is not a literal, handed to the caller's resolver. */
export type Reference = { readonly Ref: string } | { readonly "Fn::GetAtt": readonly [string, string] };

export interface FunctionShape {
  readonly logicalId: string;
  /** The bundled `index.js` in the assembly, as uploaded to Lambda. */
  readonly bundle: string;
  readonly handlerExport: string;
  /** Literals as given; references left for `resolveEnvironment`. */
  readonly environment: Readonly<Record<string, Json>>;
  readonly timeoutMs: number;
}

export interface StackShape {
  readonly ingest: FunctionShape;
  readonly retryWorker: FunctionShape;
  readonly ledgerTable: { readonly logicalId: string };
  readonly tokenSecret?: { readonly logicalId: string };
  readonly retryQueue: {
    readonly logicalId: string;
    readonly visibilityTimeoutSeconds: number;
    readonly retentionSeconds: number;
    readonly maxReceiveCount: number;
  };
  readonly deadLetterQueue: { readonly logicalId: string; readonly retentionSeconds: number };
  readonly eventSource: {
    readonly batchSize: number;
    readonly maxConcurrency: number;
    readonly reportBatchItemFailures: boolean;
  };
  readonly gateway: { readonly rateLimit: number; readonly burstLimit: number };
}

export interface Assembly {
  readonly directory: string;
  readonly template: Template;
  /** True when this call synthesized; false when a cached assembly for the same sources was reused. */
  readonly synthesized: boolean;
  readonly milliseconds: number;
}

/**
 * The deployable stack synthesized with its real bundling, as `cdk synth -c …` builds it, into
 * `.cache/assembly/<hash>`. Synthesis costs seconds (esbuild twice, aws-cdk-lib's load), so an
 * assembly is reused while lib/, lambda/, cdk.json, the lockfile and the context are unchanged.
 */
export async function synthesizeStack(context: Record<string, unknown> = {}): Promise<Assembly> {
  const started = Date.now();
  const key = sourceHash(context);
  const directory = path.join(ROOT, ".cache", "assembly", key);
  const templateFile = path.join(directory, `${STACK_NAME}.template.json`);
  if (existsSync(path.join(directory, "manifest.json")) && existsSync(templateFile)) {
    const template = JSON.parse(readFileSync(templateFile, "utf8")) as Template;
    return { directory, template, synthesized: false, milliseconds: Date.now() - started };
  }
  // Loaded only on a cache miss: aws-cdk-lib alone takes seconds to require.
  const [{ App }, { PermitRelayStack }, cdkJson] = await Promise.all([
    import("aws-cdk-lib"),
    import("../lib/permit-relay-stack"),
    import("../cdk.json"),
  ]);
  // Written aside and renamed into place, so a run started meanwhile never reads half an
  // assembly; the asset paths in the template are relative to it.
  const staging = `${directory}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  const app = new App({
    outdir: staging,
    // The CLI sets the asset-metadata key; it records where each function's bundle was written.
    context: { ...cdkJson.context, "aws:cdk:enable-asset-metadata": true, ...context },
  });
  new PermitRelayStack(app, STACK_NAME);
  const template = app.synth().getStackByName(STACK_NAME).template as Template;
  try {
    renameSync(staging, directory);
  } catch {
    // Another run put the same assembly there first; it is as good as this one.
    rmSync(staging, { recursive: true, force: true });
  }
  return { directory, template, synthesized: true, milliseconds: Date.now() - started };
}

function sourceHash(context: Record<string, unknown>): string {
  const hash = createHash("sha256").update(JSON.stringify(context));
  const visit = (relative: string) => {
    const full = path.join(ROOT, relative);
    if (statSync(full).isDirectory()) {
      for (const entry of readdirSync(full).sort()) visit(path.join(relative, entry));
      return;
    }
    hash.update(relative).update(readFileSync(full));
  };
  for (const source of SOURCES) visit(source);
  return hash.digest("hex").slice(0, 16);
}

/** Reads what the local runs model from the template; a missing piece is an error naming it. */
export function readStackShape(template: Template, assemblyDir: string): StackShape {
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const one = (type: string, what: string, match: (r: Resource) => boolean = () => true) => {
    const found = ofType(type).filter(([, r]) => match(r));
    if (found.length !== 1)
      throw new Error(`template: expected one ${what} (${type}), found ${found.length}`);
    return found[0] as [string, Resource];
  };
  const props = (r: Resource) => r.Properties ?? {};

  const [retryId, retry] = one("AWS::SQS::Queue", "retry queue", (r) => props(r).RedrivePolicy !== undefined);
  const redrive = props(retry).RedrivePolicy as { deadLetterTargetArn: Json; maxReceiveCount: number };
  const dlqId = getAttTarget(redrive.deadLetterTargetArn, "Arn", "the retry queue's deadLetterTargetArn");
  const dlq = template.Resources[dlqId];
  if (!dlq) throw new Error(`template: the dead-letter queue ${dlqId} is not a resource`);

  const fn = (role: string): FunctionShape => {
    const [logicalId, resource] = one("AWS::Lambda::Function", `${role} function`, (r) =>
      String(r.Metadata?.["aws:cdk:path"] ?? props(r).Description ?? "").includes(
        role === "ingest" ? "verifies vendor webhooks" : "retries parked",
      ),
    );
    const p = props(resource);
    const assetPath = resource.Metadata?.["aws:asset:path"];
    if (typeof assetPath !== "string") {
      throw new Error(`template: ${role} function has no aws:asset:path (synthesize with asset metadata)`);
    }
    const [file, handlerExport] = String(p.Handler).split(".") as [string, string];
    return {
      logicalId,
      bundle: path.join(assemblyDir, assetPath, `${file}.js`),
      handlerExport,
      environment: ((p.Environment as { Variables?: Record<string, Json> } | undefined)?.Variables ??
        {}) as Record<string, Json>,
      // Lambda's default when the template leaves it out.
      timeoutMs: Number(p.Timeout ?? 3) * 1000,
    };
  };

  const [, mapping] = one("AWS::Lambda::EventSourceMapping", "event source mapping", (r) => {
    return getAttTarget(props(r).EventSourceArn, "Arn", "the event source mapping's queue") === retryId;
  });
  const m = props(mapping);
  const [, stage] = one("AWS::ApiGateway::Stage", "API stage");
  const throttle = ((props(stage).MethodSettings as Record<string, Json>[] | undefined) ?? []).find(
    (s) => s.HttpMethod === "*" && s.ResourcePath === "/*",
  );
  const secrets = ofType("AWS::SecretsManager::Secret");
  return {
    ingest: fn("ingest"),
    retryWorker: fn("retry worker"),
    ledgerTable: { logicalId: one("AWS::DynamoDB::Table", "ledger table")[0] },
    ...(secrets.length === 1 ? { tokenSecret: { logicalId: (secrets[0] as [string, Resource])[0] } } : {}),
    retryQueue: {
      logicalId: retryId,
      // SQS's defaults where the template leaves a property out.
      visibilityTimeoutSeconds: Number(props(retry).VisibilityTimeout ?? 30),
      retentionSeconds: Number(props(retry).MessageRetentionPeriod ?? 345_600),
      maxReceiveCount: Number(redrive.maxReceiveCount),
    },
    deadLetterQueue: {
      logicalId: dlqId,
      retentionSeconds: Number(props(dlq).MessageRetentionPeriod ?? 345_600),
    },
    eventSource: {
      batchSize: Number(m.BatchSize ?? 10),
      // Lambda's own ceiling without a ScalingConfig is the account's concurrency; 1,000 stands in.
      maxConcurrency: Number(
        (m.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency ?? 1000,
      ),
      reportBatchItemFailures: ((m.FunctionResponseTypes as string[] | undefined) ?? []).includes(
        "ReportBatchItemFailures",
      ),
    },
    gateway: {
      // API Gateway's account-level defaults when the stage sets none.
      rateLimit: Number(throttle?.ThrottlingRateLimit ?? 10_000),
      burstLimit: Number(throttle?.ThrottlingBurstLimit ?? 5_000),
    },
  };
}

function getAttTarget(value: Json, attribute: string, what: string): string {
  const att = (value as { "Fn::GetAtt"?: [string, string] } | undefined)?.["Fn::GetAtt"];
  if (!att || att[1] !== attribute) throw new Error(`template: ${what} is not a Fn::GetAtt of ${attribute}`);
  return att[0];
}

/** Pseudo parameters as the local stand-ins answer them. */
const PSEUDO: Record<string, string> = {
  "AWS::Partition": "aws",
  "AWS::Region": "us-east-1",
  "AWS::AccountId": "000000000000",
  "AWS::URLSuffix": "amazonaws.com",
};

/**
 * A function's environment with every reference resolved: `resolve` answers a `Ref` or
 * `Fn::GetAtt` with the local value (table name, queue URL, secret ARN) or undefined, and an
 * unresolved reference or an unknown intrinsic is an error that names the variable.
 */
export function resolveEnvironment(
  environment: Readonly<Record<string, Json>>,
  resolve: (reference: Reference) => string | undefined,
): Record<string, string> {
  const value = (name: string, v: Json): string => {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (v && typeof v === "object") {
      const obj = v as Record<string, Json>;
      const keys = Object.keys(obj);
      if (keys.length === 1 && "Ref" in obj && typeof obj.Ref === "string") {
        const local = PSEUDO[obj.Ref] ?? resolve({ Ref: obj.Ref });
        if (local !== undefined) return local;
      } else if (keys.length === 1 && "Fn::GetAtt" in obj) {
        const local = resolve({ "Fn::GetAtt": obj["Fn::GetAtt"] as [string, string] });
        if (local !== undefined) return local;
      } else if (keys.length === 1 && "Fn::Join" in obj) {
        const [separator, parts] = obj["Fn::Join"] as [string, Json[]];
        return parts.map((part) => value(name, part)).join(separator);
      }
    }
    throw new Error(`template: ${name} is ${JSON.stringify(v)}, which the local run cannot resolve`);
  };
  return Object.fromEntries(Object.entries(environment).map(([name, v]) => [name, value(name, v)]));
}
