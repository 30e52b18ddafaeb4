// Cold starts: a fresh `node` process loads a handler bundle and handles one signed webhook,
// with the production configuration: the ledger on dynalite, a retry queue URL, secrets from
// the local Secrets Manager endpoint, OPS-COM on the loopback sandbox, and the variables the
// stack sets (PermitDeleteRelay's `environment`, NODE_OPTIONS included) plus those Lambda
// sets. Three bundles take turns, each run in a rotated order (relay, floor, http floor; then
// floor, http floor, relay; ...) so drift on a shared machine falls on all of them alike; one
// discarded round warms the page cache.
//
// The floor is issue 6's: the token read with the Secrets Manager client, posted with fetch.
// On Node 20 the first fetch alone costs ~60 ms (undici loads on first use), which the relay,
// posting with node:http, never pays; so the same floor posting with node:http (as the relay
// and the SDK do) is measured beside it: the stricter comparison, reported in the detail.
//
// Each run is timed from spawn to its done line. The runner also reports, on the process's
// own clock, when it started running JavaScript and when the bundle finished loading, which
// splits every run into node's boot, the bundle's load and the first invocation.
import { spawn } from "node:child_process";
import path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../lib/permit-delete-relay";
import { startAwsEndpoint } from "../local/aws/server";
import { startOpscomSandbox } from "../local/opscom-sandbox";
import { generateSigningSecret } from "../local/vendor-kit";
import { createLedgerTable, startDynalite, useLocalAws } from "../testkit/dynalite";
import { median, round } from "./stats";
import { standardSigner, webhookEvent } from "./webhooks";

const RUNNER = path.join(__dirname, "children", "cold-start.cjs");
const VENDOR = "acme";
const CLIENT_CODE = "OC-TOMA";
const TOKEN = "BENCH-COLD-START-TOKEN-0123456789";

/** One run's timings in milliseconds: wall clock in the parent, the rest on the child's clock. */
interface Run {
  readonly wallMs: number;
  /** Process start until the runner's first line of JavaScript. */
  readonly bootMs: number;
  /** `require` of the bundle: module-scope code, SDK clients, config. */
  readonly loadMs: number;
  /** The first invocation, from the handler call to its answer. */
  readonly invokeMs: number;
}

export interface Phases {
  readonly wallMs: number;
  readonly bootMs: number;
  readonly loadMs: number;
  readonly invokeMs: number;
}

export type Contender = "relay" | "floor" | "httpFloor";

export interface ColdStartReport {
  /** The relay's median wall time over the floor's. */
  readonly ratio: number;
  /** The same over the node:http floor's. */
  readonly ratioToHttpFloor: number;
  readonly runsEach: number;
  /** Medians of each phase. */
  readonly phases: Record<Contender, Phases>;
  /** Every run's wall time, in the order they ran. */
  readonly wallMs: Record<Contender, number[]>;
}

export async function measureColdStarts(
  bundles: Record<Contender, string>,
  runs: number,
): Promise<ColdStartReport> {
  const dynamo = await startDynalite();
  const aws = await startAwsEndpoint();
  useLocalAws({ dynamodb: dynamo.endpoint, sqs: aws.url, secretsManager: aws.url });
  const sandbox = await startOpscomSandbox({ clients: { [CLIENT_CODE]: { tokens: [TOKEN] } } });
  try {
    const vendorSecret = generateSigningSecret();
    const tokenArn = aws.putSecret("bench/opscom-token", TOKEN);
    aws.putSecret(
      `opscom-permit-relay/vendors/${VENDOR}`,
      JSON.stringify({ signingSecrets: [vendorSecret] }),
    );
    const queueUrl = aws.createQueue("bench-retry");
    const dynamoClient = new DynamoDBClient({});
    await createLedgerTable(dynamoClient, "bench-ledger");
    dynamoClient.destroy();

    const env: Record<string, string> = {
      // What PermitDeleteRelay puts in the function's environment, with local endpoints.
      OPSCOM_BASE_URL: sandbox.url,
      OPSCOM_CLIENT_CODE: CLIENT_CODE,
      OPSCOM_TOKEN_SECRET_ID: tokenArn,
      VENDORS: JSON.stringify([{ id: VENDOR }]),
      VENDOR_SECRET_PREFIX: "opscom-permit-relay/vendors/",
      LEDGER_TABLE_NAME: "bench-ledger",
      RETRY_QUEUE_URL: queueUrl,
      SECRET_CACHE_TTL_SECONDS: "300",
      SIGNATURE_TOLERANCE_SECONDS: "300",
      FORWARD_TIMEOUT_MS: "5000",
      MAX_BODY_BYTES: "65536",
      LEDGER_TTL_DAYS: "30",
      RETRY_MAX_ATTEMPTS: "8",
      CLAIM_LEASE_SECONDS: "60",
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
      // What Lambda itself sets (credentials as environment variables, as in Lambda).
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_LAMBDA_FUNCTION_NAME: "bench-ingest",
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "512",
      // Local stand-ins.
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SQS: aws.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const sign = standardSigner(vendorSecret);
    // A fresh permit and a fresh webhook id per run, so every run really deletes.
    const once = (bundle: string) =>
      coldStart(bundle, webhookEvent(sign, VENDOR, sandbox.createPermit()), env);

    const contenders: Contender[] = ["relay", "floor", "httpFloor"];
    for (const contender of contenders) await once(bundles[contender]);
    const measured: Record<Contender, Run[]> = { relay: [], floor: [], httpFloor: [] };
    for (let i = 0; i < runs; i++) {
      for (let turn = 0; turn < contenders.length; turn++) {
        const contender = contenders[(i + turn) % contenders.length] as Contender;
        measured[contender].push(await once(bundles[contender]));
      }
    }
    const wall = (contender: Contender) => median(measured[contender].map((r) => r.wallMs));
    return {
      ratio: wall("relay") / wall("floor"),
      ratioToHttpFloor: wall("relay") / wall("httpFloor"),
      runsEach: runs,
      phases: {
        relay: medians(measured.relay),
        floor: medians(measured.floor),
        httpFloor: medians(measured.httpFloor),
      },
      wallMs: {
        relay: measured.relay.map((r) => round(r.wallMs, 1)),
        floor: measured.floor.map((r) => round(r.wallMs, 1)),
        httpFloor: measured.httpFloor.map((r) => round(r.wallMs, 1)),
      },
    };
  } finally {
    await sandbox.close();
    await aws.close();
    await dynamo.close();
  }
}

/**
 * The Node that cold starts run on: the functions' runtime major when CI passes its binary
 * (`BENCH_NODE=$(npx tsx scripts/runtime-node.ts)`), else this process's own.
 */
export const COLD_START_NODE = process.env.BENCH_NODE || process.execPath;

function coldStart(bundle: string, event: APIGatewayProxyEvent, env: Record<string, string>): Promise<Run> {
  const started = performance.now();
  const child = spawn(COLD_START_NODE, [RUNNER, bundle, JSON.stringify(event)], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let answer: RunnerAnswer | undefined;
  let wallMs = 0;
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.on("data", (chunk: Buffer) => {
    if (answer) return;
    const now = performance.now();
    stdout += chunk.toString();
    const line = /^BENCH_DONE (.*)$/m.exec(stdout);
    if (!line) return;
    wallMs = now - started;
    answer = JSON.parse(line[1] as string) as RunnerAnswer;
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      const name = path.basename(bundle);
      if (!answer) return reject(new Error(`cold start of ${name} failed (exit ${code}): ${stderr.trim()}`));
      if (answer.statusCode !== 200 || answer.status !== "deleted") {
        return reject(new Error(`cold start of ${name} answered ${answer.statusCode} ${answer.status}`));
      }
      resolve({
        wallMs,
        bootMs: answer.startedMs,
        loadMs: answer.loadedMs - answer.startedMs,
        invokeMs: answer.doneMs - answer.loadedMs,
      });
    });
  });
}

/** The runner's done line: the handler's answer and its own clock (ms since the process started). */
interface RunnerAnswer {
  readonly statusCode: number;
  readonly status: string;
  readonly startedMs: number;
  readonly loadedMs: number;
  readonly doneMs: number;
}

function medians(runs: readonly Run[]): Phases {
  return {
    wallMs: round(median(runs.map((r) => r.wallMs)), 1),
    bootMs: round(median(runs.map((r) => r.bootMs)), 1),
    loadMs: round(median(runs.map((r) => r.loadMs)), 1),
    invokeMs: round(median(runs.map((r) => r.invokeMs)), 1),
  };
}
