// The delivery console: a local page over a relay's ledger and dead-letter queue.
//
//   npm run console -- [--stack <name>] [--port <n>]                  a deployed stack
//   npm run console -- --table <name> --dead-letter-queue-url <url> --retry-queue-url <url> [--port <n>]
//
// The first reads the names from the stack's outputs with the caller's AWS credentials; the second
// is for local stand-ins (AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS) or any named table and
// queues. The page listens on 127.0.0.1 only. Exit 2 on bad arguments, 3 when the stack or the
// queues cannot be read.
import { parseArgs } from "node:util";
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import { systemClock } from "../lambda/ports";
import { startConsole } from "../local/console-server";

const USAGE = `usage: npm run console -- [--stack <name>] [--port <n>]
       npm run console -- --table <name> --dead-letter-queue-url <url> --retry-queue-url <url> [--port <n>]`;
const DEFAULT_STACK = "OpscomPermitRelay";
const DEFAULT_PORT = 8642;

interface Target {
  readonly label: string;
  readonly table: string;
  readonly deadLetterQueueUrl: string;
  readonly retryQueueUrl: string;
}

/** Parses the command line; a string is the complaint to print ("" asks for the usage). */
export function parseCli(argv: readonly string[]): { port: number; stack?: string; local?: Target } | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        stack: { type: "string" },
        table: { type: "string" },
        "dead-letter-queue-url": { type: "string" },
        "retry-queue-url": { type: "string" },
        port: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return "";
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) return "--port takes a port number (0-65535)";
  const local = [values.table, values["dead-letter-queue-url"], values["retry-queue-url"]];
  if (local.some((v) => v !== undefined)) {
    if (values.stack !== undefined) return "give either --stack or --table with the queue URLs, not both";
    if (local.some((v) => typeof v !== "string" || v === ""))
      return "--table, --dead-letter-queue-url and --retry-queue-url go together";
    const [table, deadLetterQueueUrl, retryQueueUrl] = local as string[];
    return { port, local: { label: `table ${table}`, table, deadLetterQueueUrl, retryQueueUrl } } as {
      port: number;
      local: Target;
    };
  }
  return { port, stack: (values.stack as string | undefined) ?? DEFAULT_STACK };
}

async function fromStack(stackName: string): Promise<Target> {
  const cloudformation = new CloudFormationClient({});
  try {
    const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = new Map((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    const need = (key: string): string => {
      const value = outputs.get(key);
      if (!value) throw new Error(`stack ${stackName} has no output ${key}`);
      return value;
    };
    return {
      label: `stack ${stackName}`,
      table: need("LedgerTableName"),
      deadLetterQueueUrl: need("DeadLetterQueueUrl"),
      retryQueueUrl: need("RetryQueueUrl"),
    };
  } finally {
    cloudformation.destroy();
  }
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  if (!Attributes?.QueueArn) throw new Error(`queue ${url} has no ARN`);
  return Attributes.QueueArn;
}

async function main(): Promise<number> {
  const parsed = parseCli(process.argv.slice(2));
  if (parsed === "") {
    console.log(USAGE);
    return 0;
  }
  if (typeof parsed === "string") {
    console.error(`console: ${parsed}\n${USAGE}`);
    return 2;
  }
  const sqs = new SQSClient({});
  let target: Target;
  let arns: [string, string];
  try {
    target = parsed.local ?? (await fromStack(parsed.stack as string));
    arns = [await queueArn(sqs, target.deadLetterQueueUrl), await queueArn(sqs, target.retryQueueUrl)];
  } catch (error) {
    const { name, message } = error as Error;
    console.error(`console: could not find the relay's table and queues: ${name}: ${message}`);
    sqs.destroy();
    return 3;
  }
  const running = await startConsole(
    {
      ledger: createDynamoLedger(target.table),
      sqs,
      deadLetterQueueUrl: target.deadLetterQueueUrl,
      deadLetterQueueArn: arns[0],
      retryQueueArn: arns[1],
      clock: systemClock,
      label: target.label,
    },
    { port: parsed.port },
  );
  console.log(`Delivery console for ${target.label}: ${running.url}/  (Ctrl-C stops it)`);
  const stop = () => {
    running.close().finally(() => sqs.destroy());
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 3;
    },
  );
}
