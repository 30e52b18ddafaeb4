// Two counts that do not depend on the machine's speed, taken in this process:
// - GetSecretValue calls at the local Secrets Manager endpoint while one vendor's webhooks go
//   through the ingest handler with the real Secrets Manager source (32 in flight, so the
//   first misses arrive together, as they do when a new Lambda environment takes traffic);
// - new TCP connections the sandbox accepts while the real OPS-COM HTTP client makes
//   deliveries one after the other.
import { MemoryLedger, MemoryQueue } from "../lambda/adapters/memory";
import { createOpscomHttpClient } from "../lambda/adapters/opscom-http";
import { createSecretsManagerSource } from "../lambda/adapters/secrets-manager";
import { loadConfig } from "../lambda/config";
import { createIngestHandler } from "../lambda/ingest-core";
import { type OpscomOutcome, systemClock } from "../lambda/ports";
import { RecordingTelemetry } from "../lambda/telemetry";
import { startAwsEndpoint } from "../local/aws/server";
import { startOpscomSandbox } from "../local/opscom-sandbox";
import { generateSigningSecret } from "../local/vendor-kit";
import { useLocalAws } from "../testkit/dynalite";
import { referenceIds, standardSigner, webhookEvent } from "./webhooks";

const VENDOR = "acme";
const CLIENT_CODE = "OC-TOMA";
const TOKEN = "BENCH-COUNTS-TOKEN-0123456789";
const DELETED: OpscomOutcome = { kind: "deleted", httpStatus: 200 };

export async function countSecretsCalls(webhooks: number, concurrency: number) {
  const aws = await startAwsEndpoint();
  useLocalAws({ secretsManager: aws.url });
  try {
    const vendorSecret = generateSigningSecret();
    aws.putSecret("bench/opscom-token", TOKEN);
    aws.putSecret(
      `opscom-permit-relay/vendors/${VENDOR}`,
      JSON.stringify({ signingSecrets: [vendorSecret] }),
    );
    const config = loadConfig({
      OPSCOM_BASE_URL: "http://opscom.invalid",
      OPSCOM_CLIENT_CODE: CLIENT_CODE,
      OPSCOM_TOKEN_SECRET_ID: "bench/opscom-token",
      VENDORS: JSON.stringify([{ id: VENDOR }]),
    });
    const handler = createIngestHandler({
      config,
      clock: systemClock,
      secrets: createSecretsManagerSource(),
      ledger: new MemoryLedger(),
      queue: new MemoryQueue(systemClock, config.retryMaxAttempts),
      opscom: { deletePermit: () => Promise.resolve(DELETED) },
      telemetry: new RecordingTelemetry(),
    });
    const sign = standardSigner(vendorSecret);
    const events = referenceIds(webhooks).map((ref) => webhookEvent(sign, VENDOR, ref));

    const answers: Record<number, number> = {};
    let next = 0;
    const worker = async () => {
      while (next < events.length) {
        const { statusCode } = await handler(events[next++] as (typeof events)[number]);
        answers[statusCode] = (answers[statusCode] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (answers[200] !== webhooks) throw new Error(`secrets count: answers ${JSON.stringify(answers)}`);
    return { calls: aws.getSecretValueCalls(), webhooks, concurrency };
  } finally {
    await aws.close();
  }
}

export async function countOpscomConnections(deliveries: number) {
  const sandbox = await startOpscomSandbox({ clients: { [CLIENT_CODE]: { tokens: [TOKEN] } } });
  const client = createOpscomHttpClient({ baseUrl: sandbox.url, timeoutMs: 5000 });
  try {
    const refs = Array.from({ length: deliveries }, () => sandbox.createPermit());
    sandbox.resetStats();
    for (const referenceId of refs) {
      const outcome = await client.deletePermit({ clientCode: CLIENT_CODE, token: TOKEN, referenceId });
      if (outcome.kind !== "deleted")
        throw new Error(`OPS-COM connections: delivery answered ${outcome.kind}`);
    }
    const stats = sandbox.stats();
    return { connections: stats.connections, deliveries: stats.deletesSucceeded };
  } finally {
    client.close();
    await sandbox.close();
  }
}
