// The deployable stack: reads CDK context, validates it with messages that name the context
// key, and composes one PermitDeleteRelay. Context keys and defaults: docs/deploy.md.
import { Annotations, CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct, Node } from "constructs";
import { settingsContradiction } from "../lambda/settings";
import { CLIENT_CODE_PATTERN, parseVendors } from "../lambda/vendors";
import { PermitDeleteRelay } from "./permit-delete-relay";
import type { VendorInput } from "./props";

/** Used when no `clientCode` context is given, so a fresh clone synthesizes. */
export const PLACEHOLDER_CLIENT_CODE = "OC-TOMA";
/** Used when no `vendors` context is given, so a fresh clone synthesizes. */
export const PLACEHOLDER_VENDORS: readonly VendorInput[] = [{ id: "demo-vendor" }];

/** The context keys this stack reads, after parsing. */
export interface RelayContext {
  readonly clientCode: string;
  readonly opscomBaseUrl?: string;
  /** Name or complete ARN of an existing token secret; absent: the stack creates one. */
  readonly tokenSecretId?: string;
  /** As given (validated): the functions receive them as given and apply the same defaults. */
  readonly vendors: readonly VendorInput[];
  readonly vendorSecretPrefix?: string;
  readonly alarmEmail?: string;
  readonly waf?: boolean;
  readonly wafRateLimit?: number;
  readonly throttleRate?: number;
  readonly throttleBurst?: number;
  readonly retryMaxAttempts?: number;
  readonly dualStack?: boolean;
  readonly logRetentionDays?: logs.RetentionDays;
  readonly retryWorkerMaxConcurrency?: number;
  readonly ingestReservedConcurrency?: number;
  /** Context keys that fell back to placeholders. */
  readonly placeholders: readonly string[];
}

export class PermitRelayStack extends Stack {
  public readonly relay: PermitDeleteRelay;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, {
      description: "opscom-permit-relay: signed parking-vendor webhooks become OPS-COM Permit Delete calls",
      ...props,
    });
    const context = readRelayContext(this.node);
    for (const key of context.placeholders) {
      Annotations.of(this).addWarningV2(
        `opscom-permit-relay:placeholder-${key}`,
        `No "${key}" context given: using a placeholder (see docs/deploy.md, "Context values"). Fine for synth; set it before deploying.`,
      );
    }

    const tokenSecret =
      context.tokenSecretId === undefined
        ? undefined
        : context.tokenSecretId.startsWith("arn:")
          ? secretsmanager.Secret.fromSecretCompleteArn(this, "OpscomTokenSecret", context.tokenSecretId)
          : secretsmanager.Secret.fromSecretNameV2(this, "OpscomTokenSecret", context.tokenSecretId);

    this.relay = new PermitDeleteRelay(this, "Relay", {
      clientCode: context.clientCode,
      vendors: context.vendors,
      opscomBaseUrl: context.opscomBaseUrl,
      tokenSecret,
      vendorSecretPrefix: context.vendorSecretPrefix,
      waf: context.waf,
      wafRateLimit: context.wafRateLimit,
      throttlingRateLimit: context.throttleRate,
      throttlingBurstLimit: context.throttleBurst,
      retryMaxAttempts: context.retryMaxAttempts,
      dualStack: context.dualStack,
      logRetention: context.logRetentionDays,
      retryWorkerMaxConcurrency: context.retryWorkerMaxConcurrency,
      ingestReservedConcurrency: context.ingestReservedConcurrency,
    });
    if (context.alarmEmail !== undefined) {
      this.relay.alarmTopic.addSubscription(new subscriptions.EmailSubscription(context.alarmEmail));
    } else {
      Annotations.of(this).addWarningV2(
        "opscom-permit-relay:no-alarm-subscription",
        'No "alarmEmail" context given: the alarms notify an SNS topic nobody is subscribed to (see docs/deploy.md, "Answer an alarm"). Set it, or subscribe to the AlarmTopicArn output, before relying on them.',
      );
    }

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output(
      "WebhookUrl",
      `${this.relay.api.url}webhooks/{vendorId}`,
      "Where vendors post (replace {vendorId} with the vendor's id)",
    );
    output("ApiUrl", this.relay.api.url, "Base URL of the stage (the vendor CLI's --url)");
    output("TokenSecretArn", this.relay.tokenSecret.secretArn, "Secret holding the OPS-COM API token");
    output("LedgerTableName", this.relay.ledgerTable.tableName, "DynamoDB ledger of every webhook");
    output("RetryQueueUrl", this.relay.retryQueue.queueUrl, "SQS queue of parked deliveries");
    output("RetryQueueArn", this.relay.retryQueue.queueArn, "Destination of a dead-letter redrive");
    output(
      "DeadLetterQueueUrl",
      this.relay.deadLetterQueue.queueUrl,
      "Deliveries that used up their retries",
    );
    output("DeadLetterQueueArn", this.relay.deadLetterQueue.queueArn, "For aws sqs start-message-move-task");
    output("IngestFunctionName", this.relay.ingestFunction.functionName, "The ingest function");
    output(
      "RetryWorkerFunctionName",
      this.relay.retryWorkerFunction.functionName,
      "The retry worker function",
    );
    output("IngestLogGroup", this.relay.ingestLogGroup.logGroupName, "Logs of the ingest function");
    output("RetryWorkerLogGroup", this.relay.retryWorkerLogGroup.logGroupName, "Logs of the retry worker");
    output("ApiAccessLogGroup", this.relay.accessLogGroup.logGroupName, "API Gateway access logs");
    output("AlarmTopicArn", this.relay.alarmTopic.topicArn, "SNS topic every alarm notifies");
    output(
      "DashboardUrl",
      `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.relay.dashboard.dashboardName}`,
      "CloudWatch dashboard",
    );
  }
}

/**
 * Reads and validates this stack's context. Values given on the command line (`-c key=value`)
 * arrive as strings, values in cdk.json as JSON; both are accepted.
 */
export function readRelayContext(node: Node): RelayContext {
  const placeholders: string[] = [];
  const get = (key: string): unknown => {
    const value = node.tryGetContext(key);
    return value === "" ? undefined : value;
  };
  const fail = (key: string, rule: string, value: unknown): never => {
    throw new Error(`Context "${key}" ${rule}; got ${JSON.stringify(value)}`);
  };
  const text = (key: string, pattern: RegExp, rule: string): string | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !pattern.test(value)) return fail(key, rule, value);
    return value;
  };
  const flag = (key: string): boolean | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    return fail(key, "must be true or false", value);
  };
  const whole = (key: string, min: number, max: number): number | undefined => {
    const value = get(key);
    if (value === undefined) return undefined;
    const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== "number" || !Number.isInteger(number) || number < min || number > max) {
      return fail(key, `must be a whole number from ${min} to ${max}`, value);
    }
    return number;
  };

  let clientCode = text("clientCode", CLIENT_CODE_PATTERN, "must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA");
  if (clientCode === undefined) {
    placeholders.push("clientCode");
    clientCode = PLACEHOLDER_CLIENT_CODE;
  }
  const rawVendors = get("vendors");
  let vendors: readonly VendorInput[];
  if (rawVendors === undefined) {
    placeholders.push("vendors");
    vendors = PLACEHOLDER_VENDORS;
  } else {
    const source = 'Context "vendors"';
    try {
      const list = typeof rawVendors === "string" ? JSON.parse(rawVendors) : rawVendors;
      parseVendors(list, source);
      // parseVendors accepted it, so it is a list of vendor objects.
      vendors = list as VendorInput[];
    } catch (error) {
      const message =
        error instanceof SyntaxError
          ? `${source} must be a JSON array of vendors; it is not valid JSON`
          : (error as Error).message;
      throw new Error(message.startsWith(source) ? message : `${source}: ${message}`);
    }
  }
  const retryMaxAttempts = whole("retryMaxAttempts", 1, 1000);
  if (retryMaxAttempts !== undefined) {
    // Only the schedule is a context value; the construct checks the rest against it too.
    const key = 'Context "retryMaxAttempts"';
    const contradiction = settingsContradiction(
      { retryMaxAttempts },
      {
        retryMaxAttempts: key,
        ledgerTtlDays: key,
        claimLeaseSeconds: key,
        ingestTimeoutSeconds: key,
      },
    );
    if (contradiction !== undefined) throw new Error(contradiction);
  }
  const logRetention = whole("logRetentionDays", 1, 3653);
  if (logRetention !== undefined && !Object.values(logs.RetentionDays).includes(logRetention)) {
    fail(
      "logRetentionDays",
      "must be a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)",
      get("logRetentionDays"),
    );
  }
  return {
    clientCode,
    vendors,
    placeholders,
    opscomBaseUrl: text(
      "opscomBaseUrl",
      /^https:\/\/[^/\s?#]+(\/[^\s?#]*)?$/,
      "must be an https:// URL without query or fragment",
    ),
    tokenSecretId: text(
      "tokenSecretId",
      /^(arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}|[A-Za-z0-9/_+=.@-]{1,512})$/,
      "must be a secret name or a complete secret ARN (with the 6-character suffix)",
    ),
    vendorSecretPrefix: text(
      "vendorSecretPrefix",
      /^[A-Za-z0-9/_+=.@-]{1,256}$/,
      "must be 1-256 of [A-Za-z0-9/_+=.@-]",
    ),
    alarmEmail: text("alarmEmail", /^[^@\s]+@[^@\s]+\.[^@\s]+$/, "must be an e-mail address"),
    waf: flag("waf"),
    wafRateLimit: whole("wafRateLimit", 10, 2_000_000_000),
    throttleRate: whole("throttleRate", 1, 1_000_000),
    throttleBurst: whole("throttleBurst", 1, 1_000_000),
    retryMaxAttempts,
    dualStack: flag("dualStack"),
    logRetentionDays: logRetention,
    // Lambda's bounds for an SQS event source mapping's maximum concurrency.
    retryWorkerMaxConcurrency: whole("retryWorkerMaxConcurrency", 2, 1000),
    ingestReservedConcurrency: whole("ingestReservedConcurrency", 1, 10_000),
  };
}
