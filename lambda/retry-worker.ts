// Lambda entry point for the SQS retry queue (with ReportBatchItemFailures).
import { loadConfig } from "./config";
import { createRetryWorker } from "./retry-core";
import { productionDeps } from "./wiring";

export const handler = createRetryWorker(productionDeps(loadConfig(process.env)));
