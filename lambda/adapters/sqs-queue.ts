// The retry queue on SQS. A delay is a message timer on the first send and a visibility change
// on every later attempt, so one message carries a delivery from its first retry to the
// dead-letter queue and SQS's receive count is the attempt count.
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SQS_LIMITS } from "../facts";
import type { RetryMessage, RetryQueue } from "../ports";

/** SQS's limits: a message timer of at most 15 minutes, a visibility timeout of at most 12 hours. */
export const MAX_DELAY_SECONDS = SQS_LIMITS.maxDelaySeconds;
export const MAX_VISIBILITY_SECONDS = SQS_LIMITS.maxVisibilitySeconds;

/** Out-of-range delays are clamped, not refused: a retry waiting at the limit beats a lost one. */
const clamp = (seconds: number, max: number) =>
  Number.isNaN(seconds) ? max : Math.min(max, Math.max(0, Math.round(seconds)));

export function createSqsQueue(queueUrl: string, client = new SQSClient({})): RetryQueue {
  return {
    async enqueue(message, delaySeconds) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: toBody(message),
          DelaySeconds: clamp(delaySeconds, MAX_DELAY_SECONDS),
        }),
      );
    },

    async retryLater(receiptHandle, delaySeconds) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: clamp(delaySeconds, MAX_VISIBILITY_SECONDS),
        }),
      );
    },
  };
}

/** Only the message's own fields: whatever else a caller's object carries never reaches the queue. */
function toBody(message: RetryMessage): string {
  const { vendorId, webhookId, referenceId, attempt, firstSeenAt, claimId, known } = message;
  return JSON.stringify({ vendorId, webhookId, referenceId, attempt, firstSeenAt, claimId, known });
}
