// Lambda entry point for the SQS retry queue (with ReportBatchItemFailures).
import type { Context, SQSEvent } from "aws-lambda";
import { loadConfig } from "./config";
import { createRetryWorker } from "./retry-core";
import { productionDeps } from "./wiring";

const deps = productionDeps(loadConfig(process.env));
const work = createRetryWorker(deps);

/** `context` is always given by Lambda; only a caller outside Lambda (a test) leaves it out. */
export const handler = async (event: SQSEvent, context?: Context) => {
  if (context) deps.telemetry.addContext(context);
  return work(event);
};
