// Production wiring: the AWS adapters, built once per Lambda environment at module scope, each
// with the deadlines of the answer budget (lambda/budget.ts). There is no in-memory fallback
// here: a deployed function without its ledger table or retry queue would lose exactly-once
// without a word, so it fails its start instead. The local harness and tests wire the
// in-memory twins themselves.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { sdkClientConfig, withDeadlines } from "./adapters/aws-limits";
import { createDynamoLedger } from "./adapters/dynamodb-ledger";
import { createOpscomHttpClient } from "./adapters/opscom-http";
import { createSecretsManagerSource } from "./adapters/secrets-manager";
import { ANSWER_BUDGET, type AnswerBudget } from "./budget";
import { ConfigError, type RelayConfig } from "./config";
import { type Clock, type RetryQueue, systemClock } from "./ports";
import { createPowertoolsTelemetry } from "./telemetry";

export interface WiringOptions {
  readonly clock?: Clock;
  /** Tests may shrink the deadlines; a deployed function always runs on ANSWER_BUDGET. */
  readonly budget?: AnswerBudget;
}

export function productionDeps(config: RelayConfig, options: WiringOptions = {}) {
  const ledgerTableName = deployed(config.ledgerTableName, "LEDGER_TABLE_NAME");
  const retryQueueUrl = deployed(config.retryQueueUrl, "RETRY_QUEUE_URL");
  const budget = options.budget ?? ANSWER_BUDGET;
  const ledgerClient = new DynamoDBClient(sdkClientConfig(budget.ledgerCallMs));
  return {
    config,
    clock: options.clock ?? systemClock,
    budget,
    // The secret cache holds each read to budget.secretReadMs, so a hung one is dropped there.
    secrets: createSecretsManagerSource(new SecretsManagerClient(sdkClientConfig(budget.secretReadMs))),
    ledger: withDeadlines(createDynamoLedger(ledgerTableName, ledgerClient), budget.ledgerCallMs, "ledger"),
    queue: lazySqsQueue(retryQueueUrl, budget.enqueueMs),
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
function lazySqsQueue(queueUrl: string, callMs: number): RetryQueue {
  let queue: Promise<RetryQueue> | undefined;
  const load = () => {
    queue ??= Promise.all([import("@aws-sdk/client-sqs"), import("./adapters/sqs-queue")]).then(([sdk, m]) =>
      withDeadlines(
        m.createSqsQueue(queueUrl, new sdk.SQSClient(sdkClientConfig(callMs))),
        callMs,
        "retry queue",
      ),
    );
    return queue;
  };
  return {
    enqueue: async (message, delaySeconds) => (await load()).enqueue(message, delaySeconds),
    retryLater: async (receiptHandle, delaySeconds) => (await load()).retryLater(receiptHandle, delaySeconds),
  };
}
