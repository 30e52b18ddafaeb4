// Structured logs (Powertools Logger) and CloudWatch EMF metrics (Powertools Metrics) behind
// one narrow interface, so domain code never sees either library and tests can capture both.
// Callers pass only the fields below: never an event, a header set, a token or a secret.
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";

import { METRICS_NAMESPACE, SERVICE_NAME } from "./facts";

export { METRICS_NAMESPACE, SERVICE_NAME } from "./facts";

export type MetricName =
  | "WebhookReceived"
  | "WebhookRejected"
  | "PermitDeleted"
  | "PermitNotFound"
  | "DeliveryQueued"
  | "DeliveryFailed"
  | "TokenRejected"
  | "DeadLettered"
  | "QueueUnavailable"
  | "EventIgnored"
  | "DuplicateWebhook"
  | "RetryRejected"
  /** An OPS-COM answer without an OPS-COM error code or success body (a proxy page, a wrong base URL): parked. */
  | "OpscomUnrecognised"
  /** The OPS-COM token secret or a vendor's signing secret could not be read or parsed. */
  | "SecretUnavailable"
  /** A ledger write that failed after the outcome was known (the answer still says the outcome). */
  | "LedgerWriteFailed"
  /** The ingest handler answered 500 (it does not throw, so Lambda's Errors metric never sees it). */
  | "HandlerError";

/**
 * Counts that also carry the vendor's id as a dimension, so one vendor's burst stands out from
 * the service-wide sum (one alarm per configured vendor reads them).
 */
export type VendorMetricName =
  /** A configured vendor's request whose signature did not verify: a botched rotation, a prober. */
  "SignatureFailed";

/** Metrics that carry a measured value rather than a count of one. */
export type GaugeName =
  /** Seconds since the delivery was first received, for each parked delivery the retry worker sees (statistic Maximum). */
  "ParkedDeliveryAge";

export interface LogFields {
  /** API Gateway's request id: the access log's `requestId`, on every line of one ingest invocation. */
  readonly requestId?: string;
  readonly vendorId?: string;
  readonly webhookId?: string;
  /** An `hmac` vendor's unsigned id header: the sender's name for the webhook, not the ledger key. */
  readonly senderId?: string;
  readonly referenceId?: string;
  readonly outcome?: string;
  readonly httpStatus?: number;
  readonly opscomLatencyMs?: number;
  readonly attempts?: number;
  readonly reason?: string;
  readonly opscomErrorCode?: number;
  readonly retryInSeconds?: number;
}

export interface Telemetry {
  info(message: string, fields: LogFields): void;
  warn(message: string, fields: LogFields): void;
  error(message: string, fields: LogFields): void;
  count(metric: MetricName): void;
  /** Counts one under the service and the vendor, as its own EMF entry. */
  countFor(metric: VendorMetricName, dimensions: { readonly vendorId: string }): void;
  latency(milliseconds: number): void;
  /** Records one measured value of a gauge metric (in seconds). */
  gauge(metric: GaugeName, seconds: number): void;
  /** Writes the invocation's metrics; call once at the end of each invocation. */
  flush(): void;
}

export interface TelemetryOptions {
  /**
   * A long-running server (the local relay) publishes its metrics on this interval, as one
   * EMF line with many values, instead of one line per request. Lambda functions leave it
   * unset: an environment may be frozen or ended after any invocation, so each invocation
   * publishes its own.
   */
  readonly publishEveryMs?: number;
}

export interface PowertoolsTelemetry extends Telemetry {
  close(): void;
  /**
   * Lambda's context for this invocation: the logger adds its request id, cold start and function
   * name to every line (what Powertools' decorator would do, without a class).
   */
  addContext(context: Context): void;
}

export function createPowertoolsTelemetry(options: TelemetryOptions = {}): PowertoolsTelemetry {
  const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME });
  const metrics = new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
  });
  let pending = false;
  const timer =
    options.publishEveryMs === undefined ? undefined : setInterval(() => publish(), options.publishEveryMs);
  timer?.unref();
  const telemetry: PowertoolsTelemetry = {
    addContext: (context) => logger.addContext(context),
    info: (message, fields) => logger.info(message, fields as Record<string, unknown>),
    warn: (message, fields) => logger.warn(message, fields as Record<string, unknown>),
    error: (message, fields) => logger.error(message, fields as Record<string, unknown>),
    count(metric) {
      metrics.addMetric(metric, MetricUnit.Count, 1);
      pending = true;
    },
    countFor(metric, { vendorId }) {
      // A single-metric entry is written at once with its own dimensions, so the vendor's id
      // never joins the dimensions of the invocation's other metrics.
      const single = metrics.singleMetric();
      single.addDimension("vendorId", vendorId);
      single.addMetric(metric, MetricUnit.Count, 1);
    },
    latency(milliseconds) {
      metrics.addMetric("OpscomLatency", MetricUnit.Milliseconds, milliseconds);
      pending = true;
    },
    gauge(metric, seconds) {
      metrics.addMetric(metric, MetricUnit.Seconds, seconds);
      pending = true;
    },
    flush() {
      if (timer === undefined) publish();
    },
    close() {
      if (timer !== undefined) clearInterval(timer);
      publish();
    },
  };
  function publish() {
    if (!pending) return;
    pending = false;
    metrics.publishStoredMetrics();
  }
  return telemetry;
}

/**
 * Adds `requestId` to every line logged through it. Per invocation rather than a key on the
 * shared logger: the local relay serves concurrent requests through one logger, and a shared
 * key would label one request's lines with another's id.
 */
export function withRequestId(telemetry: Telemetry, requestId: string): Telemetry {
  return {
    info: (message, fields) => telemetry.info(message, { ...fields, requestId }),
    warn: (message, fields) => telemetry.warn(message, { ...fields, requestId }),
    error: (message, fields) => telemetry.error(message, { ...fields, requestId }),
    count: (metric) => telemetry.count(metric),
    countFor: (metric, dimensions) => telemetry.countFor(metric, dimensions),
    latency: (milliseconds) => telemetry.latency(milliseconds),
    gauge: (metric, seconds) => telemetry.gauge(metric, seconds),
    flush: () => telemetry.flush(),
  };
}

/** Records everything in memory: for unit tests and the local harness's quiet mode. */
export class RecordingTelemetry implements Telemetry {
  readonly lines: { level: string; message: string; fields: LogFields }[] = [];
  readonly metrics: Record<string, number> = {};
  readonly gauges: Record<string, number[]> = {};
  /** Per-vendor counts, keyed by metric and then vendor id. */
  readonly vendorMetrics: Record<string, Record<string, number>> = {};
  info(message: string, fields: LogFields): void {
    this.lines.push({ level: "INFO", message, fields });
  }
  warn(message: string, fields: LogFields): void {
    this.lines.push({ level: "WARN", message, fields });
  }
  error(message: string, fields: LogFields): void {
    this.lines.push({ level: "ERROR", message, fields });
  }
  count(metric: MetricName): void {
    this.metrics[metric] = (this.metrics[metric] ?? 0) + 1;
  }
  countFor(metric: VendorMetricName, { vendorId }: { readonly vendorId: string }): void {
    const perVendor = this.vendorMetrics[metric] ?? {};
    perVendor[vendorId] = (perVendor[vendorId] ?? 0) + 1;
    this.vendorMetrics[metric] = perVendor;
  }
  latency(): void {}
  gauge(metric: GaugeName, seconds: number): void {
    const values = this.gauges[metric] ?? [];
    values.push(seconds);
    this.gauges[metric] = values;
  }
  flush(): void {}
}
