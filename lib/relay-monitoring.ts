// The relay's alarms, their SNS topic and its dashboard, built over what PermitDeleteRelay
// built. Relay alarms name their metric as the handlers' own `MetricName | GaugeName` type, so
// renaming a metric in lambda/telemetry.ts fails to compile here instead of orphaning an alarm.
// Every alarm's behaviour over real scenarios is proven in test/alarms.test.ts.
import { ArnFormat, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import type * as apigw from "aws-cdk-lib/aws-apigateway";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRICS_NAMESPACE, SERVICE_NAME, SETTINGS } from "../lambda/facts";
import type { GaugeName, MetricName, VendorMetricName } from "../lambda/telemetry";

/**
 * A delivery still parked this long after it was first received raises ParkedDeliveryAgeAlarm.
 * Below the retry schedule's second retry (5 minutes, at least 4 with jitter) and above its
 * first (5 seconds), so one failed retry of a transient fault stays quiet and an outage is
 * seen at the second.
 */
export const PARKED_DELIVERY_AGE_THRESHOLD_SECONDS = 240;
/** Alarms on relay counts that must persist (not one blip) look this many minutes back. */
export const PERSISTENCE_WINDOW_MINUTES = 15;
/** The 5xx-rate alarm ignores 5-minute periods with fewer requests: one 5xx at 3 a.m. is not a rate. */
export const DEFAULT_API_5XX_MINIMUM_REQUESTS = SETTINGS.api5xxMinimumRequests.default;

export interface RelayMonitoringProps {
  readonly api: apigw.RestApi;
  readonly ingestFunction: lambda.IFunction;
  readonly retryWorkerFunction: lambda.IFunction;
  readonly retryQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** Age of the oldest message SQS reports that raises RetryBacklogAgeAlarm. */
  readonly retryBacklogAgeThreshold: Duration;
  /** Percentage of API requests answered 5xx over 5 minutes that raises Api5xxRateAlarm. */
  readonly api5xxRateThresholdPercent: number;
  /**
   * Requests a 5-minute period needs before its 5xx rate counts.
   * @default 20
   */
  readonly api5xxMinimumRequests?: number;
  /**
   * The vendors that each get a SignatureFailuresAlarm.
   * @default the vendors of the PermitDeleteRelay it is built in (none in any other scope)
   */
  readonly vendorIds?: readonly string[];
}

/** The alarms the relay raises, all wired to `alarmTopic`. */
export interface RelayAlarms {
  /** A delivery used up its retries (DLQ not empty). */
  readonly deadLetters: cloudwatch.Alarm;
  /** SQS's oldest-message age: the worker is not draining the queue at all. */
  readonly retryBacklogAge: cloudwatch.Alarm;
  /** A delivery is still parked minutes after it arrived: OPS-COM down, wrong URL, no token. */
  readonly parkedDeliveryAge: cloudwatch.Alarm;
  readonly opscomUnrecognised: cloudwatch.Alarm;
  readonly secretUnavailable: cloudwatch.Alarm;
  readonly tokenRejected: cloudwatch.Alarm;
  readonly ledgerWriteFailed: cloudwatch.Alarm;
  /** The ingest function answered 500 (it does not throw, so Lambda's Errors never sees it). */
  readonly ingestHandledErrors: cloudwatch.Alarm;
  readonly ingestErrors: cloudwatch.Alarm;
  readonly ingestThrottles: cloudwatch.Alarm;
  readonly retryWorkerErrors: cloudwatch.Alarm;
  readonly api5xxRate: cloudwatch.Alarm;
}

interface AlarmSpec {
  readonly description: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly evaluationPeriods?: number;
  readonly datapointsToAlarm?: number;
  /** The runbook's section, when several alarms share one. @default the alarm's id */
  readonly runbookSection?: string;
}

/** The vendors of the relay construct that builds this one, which it validated before. */
function vendorsOfScope(scope: Construct): string[] {
  const vendors = (scope as { vendors?: readonly { readonly id: string }[] }).vendors;
  return vendors?.map((v) => v.id) ?? [];
}

export class RelayMonitoring extends Construct {
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: RelayAlarms;
  /**
   * One per configured vendor, by vendor id: that vendor's requests fail their signature (a
   * botched secret rotation answers it 401 until its sender gives up).
   */
  public readonly signatureFailureAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RelayMonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { api, ingestFunction, retryWorkerFunction, retryQueue, deadLetterQueue } = props;
    const minimumRequests = props.api5xxMinimumRequests ?? DEFAULT_API_5XX_MINIMUM_REQUESTS;
    const vendorIds = props.vendorIds ?? vendorsOfScope(scope);

    // ---- Topic -----------------------------------------------------------------------
    const alarmTopicKey = new kms.Key(this, "AlarmTopicKey", {
      description: "Encrypts the opscom-permit-relay alarm topic",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch alarms publish to an encrypted topic only if the key lets CloudWatch use it.
    alarmTopicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowCloudWatchAlarmsToPublish",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
      }),
    );
    this.alarmTopic = new sns.Topic(this, "AlarmTopic", {
      displayName: "opscom-permit-relay alarms",
      masterKey: alarmTopicKey,
      enforceSSL: true,
    });
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowThisAccountsAlarmsToPublish",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          ArnLike: {
            "aws:SourceArn": stack.formatArn({
              service: "cloudwatch",
              resource: "alarm",
              resourceName: "*",
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { "aws:SourceAccount": stack.account },
        },
      }),
    );

    // ---- Alarms ----------------------------------------------------------------------
    const relayMetric = (
      metricName: MetricName | GaugeName | "OpscomLatency",
      statistic = "Sum",
      period = Duration.minutes(5),
      label?: string,
    ) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME },
        statistic,
        period,
        ...(label ? { label } : {}),
      });
    const fiveMinutes = { period: Duration.minutes(5), statistic: "Sum" };
    const oneMinute = Duration.minutes(1);
    const alarm = (alarmId: string, spec: AlarmSpec): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: `${spec.description} Runbook: docs/deploy.md, "Answer an alarm", ${spec.runbookSection ?? alarmId}.`,
        metric: spec.metric,
        threshold: spec.threshold,
        evaluationPeriods: spec.evaluationPeriods ?? 1,
        datapointsToAlarm: spec.datapointsToAlarm ?? 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // Every metric here is written only when something happens (or is 0 when idle).
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
      created.addOkAction(new cwActions.SnsAction(this.alarmTopic));
      return created;
    };
    // A count seen in 2 different minutes of the last 15: a fault that persists (every webhook
    // and every retry of it counts again) raises it within minutes; one blip does not.
    const persistent = { evaluationPeriods: PERSISTENCE_WINDOW_MINUTES, datapointsToAlarm: 2 };
    this.alarms = {
      deadLetters: alarm("DeadLettersAlarm", {
        description: "A delivery used up all its retries and is in the dead-letter queue.",
        metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: oneMinute,
          statistic: "Maximum",
        }),
        threshold: 1,
      }),
      retryBacklogAge: alarm("RetryBacklogAgeAlarm", {
        description:
          `A retry message has waited ${props.retryBacklogAgeThreshold.toHumanString()} or more without being received ` +
          "three times: the retry worker is not draining the queue.",
        metric: retryQueue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: "Maximum",
        }),
        threshold: props.retryBacklogAgeThreshold.toSeconds(),
      }),
      parkedDeliveryAge: alarm("ParkedDeliveryAgeAlarm", {
        description:
          `A delivery is still parked ${PARKED_DELIVERY_AGE_THRESHOLD_SECONDS / 60} minutes after it arrived: OPS-COM ` +
          "down or refusing, a wrong base URL, or an unreadable token.",
        metric: relayMetric("ParkedDeliveryAge", "Maximum", oneMinute),
        threshold: PARKED_DELIVERY_AGE_THRESHOLD_SECONDS,
        // Held for 15 minutes after the last such retry, so a steady outage does not flap.
        evaluationPeriods: PERSISTENCE_WINDOW_MINUTES,
      }),
      opscomUnrecognised: alarm("OpscomUnrecognisedAlarm", {
        description:
          "OPS-COM's address answered with something OPS-COM did not write (a proxy page, a 404): a wrong base URL?",
        metric: relayMetric("OpscomUnrecognised", "Sum", oneMinute),
        threshold: 1,
        ...persistent,
      }),
      secretUnavailable: alarm("SecretUnavailableAlarm", {
        description: "The OPS-COM token secret or a vendor's signing secret could not be read or parsed.",
        metric: relayMetric("SecretUnavailable", "Sum", oneMinute),
        threshold: 1,
        ...persistent,
      }),
      tokenRejected: alarm("TokenRejectedAlarm", {
        description:
          "OPS-COM rejected the API token or client code (error 9000, 9001 or 9002) even after a refetch: the token was revoked, rotated or is for another client code.",
        metric: relayMetric("TokenRejected"),
        threshold: 1,
      }),
      ledgerWriteFailed: alarm("LedgerWriteFailedAlarm", {
        description:
          "A ledger write failed after OPS-COM's outcome was known: the ledger may not say what happened.",
        metric: relayMetric("LedgerWriteFailed"),
        threshold: 1,
      }),
      ingestHandledErrors: alarm("IngestHandledErrorsAlarm", {
        description:
          "The ingest function answered 500 (an error it caught, so Lambda's Errors metric misses it).",
        metric: relayMetric("HandlerError"),
        threshold: 1,
      }),
      ingestErrors: alarm("IngestErrorsAlarm", {
        description:
          "The ingest function failed (unhandled error, timeout or start-up failure such as bad configuration).",
        metric: ingestFunction.metricErrors(fiveMinutes),
        threshold: 1,
      }),
      ingestThrottles: alarm("IngestThrottlesAlarm", {
        description:
          "The ingest function was throttled (concurrency limit reached); vendors got 503 answers.",
        metric: ingestFunction.metricThrottles(fiveMinutes),
        threshold: 1,
      }),
      retryWorkerErrors: alarm("RetryWorkerErrorsAlarm", {
        description:
          "The retry worker failed (timeout, crash or start-up failure); its batch is received again.",
        metric: retryWorkerFunction.metricErrors(fiveMinutes),
        threshold: 1,
      }),
      api5xxRate: alarm("Api5xxRateAlarm", {
        description:
          `${props.api5xxRateThresholdPercent}% or more of webhook requests were answered 5xx over 5 minutes ` +
          `(periods with fewer than ${minimumRequests} requests do not count).`,
        metric: new cloudwatch.MathExpression({
          expression: `IF(requests >= ${minimumRequests}, 100 * errors / requests, 0)`,
          usingMetrics: {
            errors: api.metricServerError(fiveMinutes),
            requests: api.metricCount(fiveMinutes),
          },
          period: Duration.minutes(5),
          label: "5xx rate (%)",
        }),
        threshold: props.api5xxRateThresholdPercent,
      }),
    };

    const vendorMetric = (metricName: VendorMetricName, vendorId: string, period: Duration, label = false) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME, vendorId },
        statistic: "Sum",
        period,
        // A label would turn an alarm's metric into a metric math query: the dashboard's only.
        ...(label ? { label: vendorId } : {}),
      });
    // Per vendor, because the service-wide WebhookRejected sum hides one vendor's 401s among
    // everyone's 4xx; in 2 different minutes so a single stray request does not page.
    this.signatureFailureAlarms = Object.fromEntries(
      vendorIds.map((vendorId) => [
        vendorId,
        alarm(`SignatureFailuresAlarm-${vendorId}`, {
          description:
            `Requests for vendor ${vendorId} fail their signature: a botched signing-secret rotation ` +
            "(the vendor gets 401 until its sender gives up), or someone probing its URL.",
          metric: vendorMetric("SignatureFailed", vendorId, oneMinute),
          threshold: 1,
          runbookSection: "SignatureFailuresAlarm",
          ...persistent,
        }),
      ]),
    );

    // ---- Dashboard -------------------------------------------------------------------
    const graph = (title: string, metrics: cloudwatch.IMetric[], width = 12) =>
      new cloudwatch.GraphWidget({ title, left: metrics, width, height: 6 });
    const fiveMinuteSum = (name: MetricName, label: string) =>
      relayMetric(name, "Sum", Duration.minutes(5), label);
    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          graph("Webhooks in", [
            fiveMinuteSum("WebhookReceived", "received"),
            fiveMinuteSum("WebhookRejected", "rejected"),
            fiveMinuteSum("DuplicateWebhook", "duplicate"),
            fiveMinuteSum("EventIgnored", "ignored (not a delete)"),
          ]),
          graph("Delivery outcomes", [
            fiveMinuteSum("PermitDeleted", "deleted"),
            fiveMinuteSum("PermitNotFound", "not found (9009)"),
            fiveMinuteSum("DeliveryQueued", "parked for retry"),
            fiveMinuteSum("DeliveryFailed", "rejected by OPS-COM"),
            fiveMinuteSum("DeadLettered", "dead-lettered"),
            fiveMinuteSum("TokenRejected", "token rejected (9000–9002)"),
            fiveMinuteSum("QueueUnavailable", "retry queue unavailable (503)"),
          ]),
        ],
        [
          graph("Operator faults", [
            fiveMinuteSum("OpscomUnrecognised", "OPS-COM answer not recognised"),
            fiveMinuteSum("SecretUnavailable", "secret unreadable"),
            fiveMinuteSum("LedgerWriteFailed", "ledger write failed"),
            fiveMinuteSum("HandlerError", "ingest answered 500"),
          ]),
          graph("OPS-COM latency (ms)", [
            relayMetric("OpscomLatency", "p50", Duration.minutes(5), "p50"),
            relayMetric("OpscomLatency", "p99", Duration.minutes(5), "p99"),
          ]),
        ],
        [
          graph("Retry queue depth", [
            retryQueue.metricApproximateNumberOfMessagesVisible({ label: "retry: waiting" }),
            retryQueue.metricApproximateNumberOfMessagesNotVisible({
              label: "retry: in flight / backing off",
            }),
            deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: "dead-letter queue" }),
          ]),
          graph("Oldest parked delivery (s)", [
            relayMetric("ParkedDeliveryAge", "Maximum", Duration.minutes(5), "still parked after a retry"),
            retryQueue.metricApproximateAgeOfOldestMessage({
              statistic: "Maximum",
              label: "SQS (leaves out messages received 3+ times)",
            }),
          ]),
        ],
        [
          graph(
            "API answers",
            [
              api.metricCount({ statistic: "Sum", label: "requests" }),
              api.metricClientError({ statistic: "Sum", label: "4xx" }),
              api.metricServerError({ statistic: "Sum", label: "5xx" }),
            ],
            12,
          ),
          graph(
            "Functions",
            [
              ingestFunction.metricErrors({ label: "ingest errors" }),
              ingestFunction.metricThrottles({ label: "ingest throttles" }),
              retryWorkerFunction.metricErrors({ label: "retry worker errors" }),
              retryWorkerFunction.metricThrottles({ label: "retry worker throttles" }),
            ],
            12,
          ),
        ],
        ...(vendorIds.length === 0
          ? []
          : [
              [
                graph(
                  "Signature failures by vendor",
                  vendorIds.map((id) => vendorMetric("SignatureFailed", id, Duration.minutes(5), true)),
                  24,
                ),
              ],
            ]),
        [
          new cloudwatch.AlarmStatusWidget({
            title: "Alarms",
            alarms: [...Object.values(this.alarms), ...Object.values(this.signatureFailureAlarms)],
            width: 24,
            height: 4,
          }),
        ],
      ],
    });
  }
}
