// Records the AWS calls the real SDK clients make, where they meet the local stand-ins: a small
// HTTP proxy in front of dynalite or local/aws/server.ts reads each request (and its answer),
// names the IAM action it needs and the resource ARN a deployed account would check, and passes
// it on unchanged. Who made the call comes from the function an invocation runs as (the
// synthesized bundles, local/deployed-functions.ts) or from `asPrincipal` (a run that wraps the
// TypeScript handlers in it): every HTTP request started inside carries the principal in a header.
import { AsyncLocalStorage } from "node:async_hooks";
import { createServer, request as httpRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { currentFunction } from "../../local/function-context";
import { onOutgoingRequest } from "../../local/outgoing-requests";
import type { AwsCall } from "./iam-policy";

export const REGION = "us-east-1";
export const ACCOUNT = "000000000000";
const PRINCIPAL_HEADER = "x-recorded-principal";
/** Calls made outside any `asPrincipal` (the run's own set-up and checks). */
export const HARNESS = "harness";

export interface RecordedCall extends AwsCall {
  readonly principal: string;
  /** The wire operation, e.g. `DeleteMessageBatch` (its IAM action is `sqs:DeleteMessage`). */
  readonly operation: string;
}

const principal = new AsyncLocalStorage<string>();
const calls: RecordedCall[] = [];
/** Requests the recorder could not map to an IAM action: the IAM test fails on any. */
const unmapped: string[] = [];

/** Runs `fn` as `name`: every AWS call it makes, awaited or not, is recorded as that principal's. */
export function asPrincipal<T>(name: string, fn: () => T): T {
  return principal.run(name, fn);
}

// Each request is tagged in its caller's context, before its headers are written. A bundled
// function's invocations run as that function (local/function-context.ts), which names the
// role more precisely than any principal around it.
onOutgoingRequest((request) => {
  const name = currentFunction() ?? principal.getStore();
  if (name && !request.headersSent) request.setHeader(PRINCIPAL_HEADER, name);
});

export function recordedCalls(): readonly RecordedCall[] {
  return calls;
}

export function unmappedRequests(): readonly string[] {
  return unmapped;
}

export interface RecordingProxy {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A recording proxy in front of `upstream`; requests without a principal are `as`'s. */
export async function startRecordingProxy(upstream: string, as = HARNESS): Promise<RecordingProxy> {
  const target = new URL(upstream);
  const server = createServer(async (req, res) => {
    try {
      const body = await readAll(req);
      const headers = { ...req.headers };
      delete headers[PRINCIPAL_HEADER];
      const answer = await forward(target, req, headers, body);
      record(
        String(req.headers[PRINCIPAL_HEADER] ?? as),
        String(req.headers["x-amz-target"] ?? ""),
        body,
        answer,
      );
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

function forward(target: URL, req: IncomingMessage, headers: IncomingMessage["headers"], body: Buffer) {
  return new Promise<Answer>((resolve, reject) => {
    const out = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (upstream) => {
        readAll(upstream).then(
          (b) => resolve({ status: upstream.statusCode ?? 500, headers: upstream.headers, body: b }),
          reject,
        );
      },
    );
    out.on("error", reject);
    out.end(body);
  });
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function record(who: string, target: string, body: Buffer, answer: Answer): void {
  const [prefix, operation = ""] = target.split(".");
  let input: Record<string, unknown> = {};
  let output: Record<string, unknown> = {};
  try {
    input = JSON.parse(body.toString("utf8") || "{}");
    output = JSON.parse(answer.body.toString("utf8") || "{}");
  } catch {
    // Not JSON: left empty, and the mapping below says what is missing.
  }
  const mapped = iamCalls(prefix ?? "", operation, input, output);
  if (typeof mapped === "string") {
    unmapped.push(`${who}: ${target}: ${mapped}`);
    return;
  }
  for (const call of mapped) {
    calls.push({ ...call, principal: who, operation, context: { "aws:SecureTransport": "true" } });
  }
}

const SQS_ACTION: Record<string, string> = {
  SendMessageBatch: "SendMessage",
  DeleteMessageBatch: "DeleteMessage",
  ChangeMessageVisibilityBatch: "ChangeMessageVisibility",
};
const DYNAMODB_OPERATIONS = new Set([
  "GetItem",
  "PutItem",
  "UpdateItem",
  "DeleteItem",
  "Query",
  "Scan",
  "CreateTable",
  "DescribeTable",
]);

const tableArn = (name: unknown) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${String(name)}`;
const queueArn = (url: unknown) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${String(url).split("/").at(-1)}`;

/** The IAM action(s) and ARN(s) one wire request needs, or why it cannot be mapped. */
function iamCalls(
  prefix: string,
  operation: string,
  input: Record<string, unknown>,
  output: Record<string, unknown>,
): Array<{ action: string; resource: string }> | string {
  if (prefix.startsWith("DynamoDB_")) {
    if (operation === "BatchGetItem" && input.RequestItems && typeof input.RequestItems === "object") {
      return Object.keys(input.RequestItems).map((table) => ({
        action: "dynamodb:BatchGetItem",
        resource: tableArn(table),
      }));
    }
    if (!DYNAMODB_OPERATIONS.has(operation) || typeof input.TableName !== "string") {
      return "no IAM mapping for this DynamoDB request";
    }
    // A Query or Scan on an index is authorized against the index's ARN, not the table's.
    const index = typeof input.IndexName === "string" ? `/index/${input.IndexName}` : "";
    return [{ action: `dynamodb:${operation}`, resource: tableArn(input.TableName) + index }];
  }
  if (prefix === "AmazonSQS") {
    const action = `sqs:${SQS_ACTION[operation] ?? operation}`;
    if (typeof input.QueueUrl === "string") return [{ action, resource: queueArn(input.QueueUrl) }];
    if (operation === "ListMessageMoveTasks" && typeof input.SourceArn === "string") {
      return [{ action, resource: input.SourceArn }];
    }
    if (operation === "StartMessageMoveTask" && typeof input.SourceArn === "string") {
      // SQS moves the messages with the caller's permissions: it reads and deletes from the
      // dead-letter queue and sends to the destination (SQS Developer Guide, "DLQ redrive").
      if (typeof input.DestinationArn !== "string") return "a redrive without DestinationArn is not mapped";
      const source = input.SourceArn;
      return [
        { action, resource: source },
        { action: "sqs:ReceiveMessage", resource: source },
        { action: "sqs:DeleteMessage", resource: source },
        { action: "sqs:GetQueueAttributes", resource: source },
        { action: "sqs:SendMessage", resource: input.DestinationArn },
      ];
    }
    return "no IAM mapping for this SQS request";
  }
  if (prefix === "secretsmanager" && operation === "GetSecretValue") {
    const id = String(input.SecretId ?? "");
    // IAM checks the secret's full ARN (with its random suffix), which the answer carries; a
    // secret that does not exist is checked against the name as given.
    const arn =
      typeof output.ARN === "string"
        ? output.ARN
        : id.startsWith("arn:")
          ? id
          : `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}`;
    return [{ action: "secretsmanager:GetSecretValue", resource: arn }];
  }
  return "no IAM mapping for this request";
}
