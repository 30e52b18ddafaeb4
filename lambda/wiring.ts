// Production wiring: the AWS adapters, built once per Lambda environment at module scope.
// There is no in-memory fallback here: a deployed function without its ledger table or retry
// queue would lose exactly-once without a word, so it fails its start instead. The local
// harness and tests wire the in-memory twins themselves.

import { createDynamoLedger } from "./adapters/dynamodb-ledger";
import { createOpscomHttpClient } from "./adapters/opscom-http";
import { createSecretsManagerSource } from "./adapters/secrets-manager";
import { ConfigError, type RelayConfig } from "./config";
import { type Clock, type RetryQueue, systemClock } from "./ports";
import { createPowertoolsTelemetry } from "./telemetry";

export function productionDeps(config: RelayConfig, clock: Clock = systemClock) {
  const ledgerTableName = deployed(config.ledgerTableName, "LEDGER_TABLE_NAME");
  const retryQueueUrl = deployed(config.retryQueueUrl, "RETRY_QUEUE_URL");
  return {
    config,
    clock,
    secrets: createSecretsManagerSource(),
    ledger: createDynamoLedger(ledgerTableName),
    queue: lazySqsQueue(retryQueueUrl),
    opscom: createOpscomHttpClient({ baseUrl: config.opscomBaseUrl, timeoutMs: config.forwardTimeoutMs }),
    telemetry: createPowertoolsTelemetry(),
  };
}

function deployed(value: string | undefined, name: string): string {
  if (value === undefined) {
    throw new ConfigError(
      `${name} is required in a deployed function (only the local harness and tests use an in-memory twin)`,
    );
  }
  return value;
}

/**
 * The SQS client is needed only when OPS-COM fails, so it is loaded on first use rather
 * than on every cold start's success path.
 */
function lazySqsQueue(queueUrl: string): RetryQueue {
  let queue: Promise<RetryQueue> | undefined;
  const load = () => {
    queue ??= import("./adapters/sqs-queue").then((m) => m.createSqsQueue(queueUrl));
    return queue;
  };
  return {
    enqueue: async (message, delaySeconds) => (await load()).enqueue(message, delaySeconds),
    retryLater: async (receiptHandle, delaySeconds) => (await load()).retryLater(receiptHandle, delaySeconds),
  };
}
