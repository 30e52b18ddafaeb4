// Lambda entry point for POST /webhooks/{vendorId}. Configuration is read and validated here,
// once per environment: a bad variable fails the init with a message that names it.
import type { Context } from "aws-lambda";
import { loadConfig } from "./config";
import type { IngestEvent } from "./http";
import { createIngestHandler } from "./ingest-core";
import { productionDeps } from "./wiring";

const deps = productionDeps(loadConfig(process.env));
const ingest = createIngestHandler({ ...deps, prime: true });

/** `context` is always given by Lambda; only a caller outside Lambda (a test) leaves it out. */
export const handler = async (event: IngestEvent, context?: Context) => {
  if (context) deps.telemetry.addContext(context);
  return ingest(event);
};
