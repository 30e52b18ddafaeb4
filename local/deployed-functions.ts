// The two functions of the synthesized stack, loaded in this process as Lambda would run them:
// each bundle's index.js from the assembly, required with the environment the template gives
// that function, its references resolved to the local stand-ins (the ledger table on dynalite,
// the retry and dead-letter queues and the secrets on the local SQS and Secrets Manager
// endpoint), and OPS-COM's base URL pointed at the sandbox. The queues get the template's
// visibility timeout, retention and redrive. `npm start` (local/harness.ts) and the chaos run
// (bench/chaos.ts) both build their functions here, so a change to the stack is what they run.
//
// Every invocation, and each bundle's init, runs as its function (local/function-context.ts): the IAM
// recorder tags the calls made inside with that function's role, and `captureFunctionOutput`
// keeps the lines a function writes (Powertools logs and EMF metrics) out of the terminal.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { loadConfig, type RelayConfig } from "../lambda/config";
import { createLedgerTable } from "../testkit/dynalite";
import type { AwsEndpoint } from "./aws/server";
import { currentFunction, type FunctionRole, runAsFunction } from "./function-context";
import { type FunctionShape, type Reference, resolveEnvironment, type StackShape } from "./template-config";

/** The local names the template's resources get; a run picks its own so its calls can be told apart. */
export interface LocalNames {
  readonly ledgerTable: string;
  readonly retryQueue: string;
  readonly deadLetterQueue: string;
  /** The token secret the stack creates (a template resource), under this name. */
  readonly tokenSecret: string;
}

const DEFAULT_NAMES: LocalNames = {
  ledgerTable: "ledger",
  retryQueue: "retry",
  deadLetterQueue: "dead-letter",
  tokenSecret: "opscom-permit-relay/opscom-token",
};
const QUEUE_ARN_PREFIX = "arn:aws:sqs:us-east-1:000000000000:";

export interface DeployedFunctionsOptions {
  readonly shape: StackShape;
  readonly aws: AwsEndpoint;
  /** Creates the ledger table; the caller's own client, which may bypass what the functions meet. */
  readonly dynamodb: DynamoDBClient;
  /** The one value not taken from the template: OPS-COM is the local sandbox. */
  readonly opscomBaseUrl: string;
  /** Put in every token secret the functions read, and in every vendor's signing secret. */
  readonly opscomToken: string;
  readonly vendorSecret: string;
  readonly names?: Partial<LocalNames>;
}

export interface DeployedFunctions {
  /** The ingest function's configuration, as its bundle read it. */
  readonly config: RelayConfig;
  readonly ledgerTableName: string;
  readonly retryQueueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
  /** The OPS-COM token and the vendors' signing secret (and its bare key) as put in the stand-in, for leak checks. */
  readonly secretValues: readonly string[];
  /** One invocation each, run as its function; a thrown error is the invocation's failure. */
  readonly ingest: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
  readonly retryWorker: (event: SQSEvent) => Promise<SQSBatchResponse>;
}

/**
 * Sets up what the template's references name, then requires both bundles afresh (a second
 * load in the process gets its own module state). The bundles read process.env when they load,
 * as in Lambda; it is restored once both are loaded.
 */
export async function loadDeployedFunctions(options: DeployedFunctionsOptions): Promise<DeployedFunctions> {
  const { shape, aws } = options;
  const names = { ...DEFAULT_NAMES, ...options.names };
  await createLedgerTable(options.dynamodb, names.ledgerTable);
  const deadLetterQueueUrl = aws.createQueue(names.deadLetterQueue, {
    MessageRetentionPeriod: String(shape.deadLetterQueue.retentionSeconds),
  });
  const deadLetterQueueArn = QUEUE_ARN_PREFIX + names.deadLetterQueue;
  const retryQueueUrl = aws.createQueue(names.retryQueue, {
    VisibilityTimeout: String(shape.retryQueue.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(shape.retryQueue.retentionSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetterQueueArn,
      maxReceiveCount: shape.retryQueue.maxReceiveCount,
    }),
  });
  const tokenSecretArn = shape.tokenSecret
    ? aws.putSecret(names.tokenSecret, options.opscomToken)
    : undefined;
  const local: Record<string, string | undefined> = {
    [shape.ledgerTable.logicalId]: names.ledgerTable,
    [shape.retryQueue.logicalId]: retryQueueUrl,
    ...(shape.tokenSecret ? { [shape.tokenSecret.logicalId]: tokenSecretArn } : {}),
  };
  const arns: Record<string, string> = {
    [shape.retryQueue.logicalId]: QUEUE_ARN_PREFIX + names.retryQueue,
    [shape.deadLetterQueue.logicalId]: deadLetterQueueArn,
  };
  const resolve = (ref: Reference) =>
    "Ref" in ref ? local[ref.Ref] : ref["Fn::GetAtt"][1] === "Arn" ? arns[ref["Fn::GetAtt"][0]] : undefined;
  const environmentOf = (fn: FunctionShape): Record<string, string> => {
    const environment: Record<string, string> = {
      ...resolveEnvironment(fn.environment, resolve),
      OPSCOM_BASE_URL: options.opscomBaseUrl,
    };
    // Lambda reads NODE_OPTIONS when it starts node; here node is already running.
    delete environment.NODE_OPTIONS;
    return environment;
  };
  const ingestEnvironment = environmentOf(shape.ingest);
  const config = loadConfig(ingestEnvironment);
  // An imported token secret is named by the template; the vendors' are found by prefix.
  if (!shape.tokenSecret) aws.putSecret(config.opscomTokenSecretId, options.opscomToken);
  const signingSecret = JSON.stringify({ signingSecrets: [options.vendorSecret] });
  for (const vendor of config.vendors.values()) {
    if (vendor.opscom?.tokenSecretId) aws.putSecret(vendor.opscom.tokenSecretId, options.opscomToken);
    aws.putSecret(config.vendorSecretPrefix + vendor.id, signingSecret);
  }
  const ingest = loadBundle<APIGatewayProxyEvent, APIGatewayProxyResult>(
    "ingest",
    shape.ingest,
    ingestEnvironment,
  );
  const retryWorker = loadBundle<SQSEvent, SQSBatchResponse>(
    "retryWorker",
    shape.retryWorker,
    environmentOf(shape.retryWorker),
  );
  return {
    config,
    ledgerTableName: names.ledgerTable,
    retryQueueUrl,
    deadLetterQueueUrl,
    deadLetterQueueArn,
    // The signing key is searched for with and without its `whsec_` prefix (the base64 key alone).
    secretValues: [options.opscomToken, options.vendorSecret, options.vendorSecret.replace(/^whsec_/, "")],
    ingest: (event) => runAsFunction("ingest", () => ingest(event)),
    retryWorker: (event) => runAsFunction("retryWorker", () => retryWorker(event)),
  };
}

type Handler<E, R> = (event: E) => Promise<R>;

function loadBundle<E, R>(
  role: FunctionRole,
  fn: FunctionShape,
  environment: Record<string, string>,
): Handler<E, R> {
  const saved = { ...process.env };
  Object.assign(process.env, environment);
  try {
    delete require.cache[fn.bundle];
    // The init runs as the function too: its calls (a ledger read that opens the connection) are its role's.
    const loaded = runAsFunction(role, () => require(fn.bundle) as Record<string, unknown>);
    const handler = loaded[fn.handlerExport];
    if (typeof handler !== "function") throw new Error(`${fn.bundle} exports no ${fn.handlerExport}`);
    return handler as Handler<E, R>;
  } finally {
    for (const name of Object.keys(environment)) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  }
}

export interface CapturedOutput {
  /** Every line the functions wrote to stdout or stderr since the capture began. */
  readonly lines: readonly string[];
  /** Hands stdout and stderr back as they were. */
  restore(): void;
}

/**
 * Keeps what the functions write (their Powertools log lines and EMF metrics) instead of
 * printing it: inside a function's invocation or init, writes to stdout and stderr are kept as
 * lines; anyone else's pass through.
 */
export function captureFunctionOutput(): CapturedOutput {
  const lines: string[] = [];
  const partial: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  const restores = (["stdout", "stderr"] as const).map((name) => {
    const stream = process[name];
    const write = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      if (currentFunction() === undefined)
        return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
      const text =
        partial[name] +
        (typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      const complete = text.split("\n");
      partial[name] = complete.pop() ?? "";
      lines.push(...complete);
      const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      callback?.();
      return true;
    } as typeof stream.write;
    return () => {
      stream.write = write;
    };
  });
  return {
    lines,
    restore() {
      for (const restore of restores) restore();
      for (const rest of Object.values(partial)) if (rest !== "") lines.push(rest);
    },
  };
}
