// Production wiring: the AWS adapters when the stack set their variables, the in-memory twins
// otherwise (the local harness). Runs once per Lambda environment, at module scope.

import { createDynamoLedger } from "./adapters/dynamodb-ledger";
import { MemoryLedger, MemoryQueue } from "./adapters/memory";
import { createOpscomHttpClient } from "./adapters/opscom-http";
import { createSecretsManagerSource } from "./adapters/secrets-manager";
import type { RelayConfig } from "./config";
import { type Clock, type RetryQueue, systemClock } from "./ports";
import { createPowertoolsTelemetry } from "./telemetry";

export function productionDeps(config: RelayConfig, clock: Clock = systemClock) {
  return {
    config,
    clock,
    secrets: createSecretsManagerSource(),
    ledger: config.ledgerTableName ? createDynamoLedger(config.ledgerTableName) : new MemoryLedger(),
    queue: config.retryQueueUrl
      ? lazySqsQueue(config.retryQueueUrl)
      : new MemoryQueue(clock, config.retryMaxAttempts),
    opscom: createOpscomHttpClient({ baseUrl: config.opscomBaseUrl, timeoutMs: config.forwardTimeoutMs }),
    telemetry: createPowertoolsTelemetry(),
  };
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
