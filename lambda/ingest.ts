// Lambda entry point for POST /webhooks/{vendorId}. Configuration is read and validated here,
// once per environment: a bad variable fails the init with a message that names it.
import { loadConfig } from "./config";
import { createIngestHandler } from "./ingest-core";
import { productionDeps } from "./wiring";

export const handler = createIngestHandler({ ...productionDeps(loadConfig(process.env)), prime: true });
