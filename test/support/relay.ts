// A relay wired for integration tests: the real OPS-COM HTTP client against the sandbox, the
// real Secrets Manager SDK client against the local AWS endpoint (found only through
// AWS_ENDPOINT_URL_SECRETS_MANAGER), in-memory ledger and queue unless a test passes others.

import { MemoryLedger, MemoryQueue } from "../../lambda/adapters/memory";
import { createOpscomHttpClient } from "../../lambda/adapters/opscom-http";
import { createSecretsManagerSource } from "../../lambda/adapters/secrets-manager";
import { loadConfig, type RelayConfig } from "../../lambda/config";
import { createIngestHandler, type IngestHandler } from "../../lambda/ingest-core";
import type { Clock, Ledger, OpscomClient, RetryQueue } from "../../lambda/ports";
import { createRetryWorker, type RetryWorkerHandler } from "../../lambda/retry-core";
import { RecordingTelemetry, type Telemetry } from "../../lambda/telemetry";
import { type AwsEndpoint, startAwsEndpoint } from "../../local/aws/server";
import { type OpscomSandbox, startOpscomSandbox } from "../../local/opscom-sandbox";
import { generateSigningSecret } from "../../local/vendor-kit";

export const CLIENT_CODE = "OC-TOMA";
export const TOKEN_SECRET = "opscom-permit-relay/opscom-token";
export const VENDOR_PREFIX = "opscom-permit-relay/vendors/";

/** A clock that follows real time but can be moved forward (cache TTLs, leases, refresh limits). */
export class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

export interface TestWorld {
  readonly sandbox: OpscomSandbox;
  readonly aws: AwsEndpoint;
  readonly token: string;
  readonly vendorSecrets: Record<string, string>;
  close(): Promise<void>;
}

export async function startWorld(vendorIds: string[] = ["acme"]): Promise<TestWorld> {
  const aws = await startAwsEndpoint();
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = aws.url;
  process.env.AWS_ENDPOINT_URL_SQS = aws.url;
  process.env.AWS_REGION ??= "us-east-1";
  process.env.AWS_ACCESS_KEY_ID ??= "test";
  process.env.AWS_SECRET_ACCESS_KEY ??= "test";
  const token = `TOKEN-${Math.random().toString(36).slice(2, 14)}-0123456789`;
  const sandbox = await startOpscomSandbox({ clients: { [CLIENT_CODE]: { tokens: [token] } }, seed: 7 });
  aws.putSecret(TOKEN_SECRET, JSON.stringify({ apiToken: token }));
  const vendorSecrets: Record<string, string> = {};
  for (const id of vendorIds) {
    vendorSecrets[id] = generateSigningSecret();
    aws.putSecret(VENDOR_PREFIX + id, JSON.stringify({ signingSecrets: [vendorSecrets[id]] }));
  }
  return {
    sandbox,
    aws,
    token,
    vendorSecrets,
    async close() {
      await sandbox.close();
      await aws.close();
    },
  };
}

export interface RelayUnderTest {
  readonly config: RelayConfig;
  readonly ingest: IngestHandler;
  readonly worker: RetryWorkerHandler;
  readonly ledger: Ledger;
  readonly queue: RetryQueue;
  readonly telemetry: Telemetry;
  readonly clock: ShiftedClock;
  close(): void;
}

export function buildRelay(
  world: TestWorld,
  options: {
    env?: Record<string, string>;
    vendors?: unknown[];
    ledger?: Ledger;
    queue?: RetryQueue;
    telemetry?: Telemetry;
    /** Wraps the real OPS-COM client (to break it on purpose). */
    opscom?: (real: OpscomClient) => OpscomClient;
  } = {},
): RelayUnderTest {
  const config = loadConfig({
    OPSCOM_BASE_URL: world.sandbox.url,
    OPSCOM_CLIENT_CODE: CLIENT_CODE,
    OPSCOM_TOKEN_SECRET_ID: TOKEN_SECRET,
    VENDORS: JSON.stringify(options.vendors ?? Object.keys(world.vendorSecrets).map((id) => ({ id }))),
    FORWARD_TIMEOUT_MS: "1000",
    ...options.env,
  });
  const clock = new ShiftedClock();
  const ledger = options.ledger ?? new MemoryLedger();
  const queue = options.queue ?? new MemoryQueue(clock, config.retryMaxAttempts);
  const telemetry = options.telemetry ?? new RecordingTelemetry();
  const opscom = createOpscomHttpClient({
    baseUrl: config.opscomBaseUrl,
    timeoutMs: config.forwardTimeoutMs,
  });
  const deps = {
    config,
    clock,
    secrets: createSecretsManagerSource(),
    ledger,
    queue,
    opscom: options.opscom ? options.opscom(opscom) : opscom,
    telemetry,
  };
  return {
    config,
    ingest: createIngestHandler({ ...deps, sleep: async () => undefined }),
    worker: createRetryWorker(deps),
    ledger,
    queue,
    telemetry,
    clock,
    close: () => opscom.close(),
  };
}
