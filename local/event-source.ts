// What Lambda's SQS event source mapping does for the retry worker, in a few lines: receive
// a batch (with ApproximateReceiveCount), hand it over as an SQS event, delete what the
// worker did not report as a batch item failure. Used by the chaos run and local tests.
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

/** The event source mapping's settings (from the template, in the local harness). */
export interface PollOptions {
  readonly batchSize?: number;
  /** Without it Lambda deletes nothing of a batch that reported any failure. */
  readonly reportBatchItemFailures?: boolean;
}

export async function pollOnce(
  client: SQSClient,
  queueUrl: string,
  worker: (event: SQSEvent) => Promise<SQSBatchResponse>,
  options: PollOptions = {},
): Promise<number> {
  const received = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: options.batchSize ?? 10,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "ApproximateFirstReceiveTimestamp",
      ],
    }),
  );
  const messages = received.Messages ?? [];
  if (messages.length === 0) return 0;
  const records = messages.map((m) => toRecord(m, queueUrl));
  const { batchItemFailures } = await worker({ Records: records });
  const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
  const done =
    options.reportBatchItemFailures === false && failed.size > 0
      ? []
      : records.filter((r) => !failed.has(r.messageId));
  if (done.length > 0) {
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );
  }
  return messages.length;
}

function toRecord(message: Message, queueUrl: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    body: message.Body ?? "",
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
      SentTimestamp: attributes.SentTimestamp ?? "0",
      SenderId: "local",
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? "0",
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queueUrl.split("/").pop()}`,
    awsRegion: "us-east-1",
  };
}
