// The whole relay as one L3 construct: API Gateway → ingest Lambda → OPS-COM, with an SQS
// retry queue drained by the retry worker, a DynamoDB ledger, alarms and a dashboard. Props,
// defaults and validation are in ./props.ts; the constructor reads as a table of contents
// over one builder per part (secrets, storage, functions, grants, API, WAF): the private ones
// below it in that order, the API and WAF in ./relay-api.ts, alarms and the dashboard in
// ./relay-monitoring.ts.
import * as path from "node:path";
import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import type * as apigw from "aws-cdk-lib/aws-apigateway";
import type * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type * as wafv2 from "aws-cdk-lib/aws-wafv2";
import { Construct } from "constructs";
import {
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
  LEDGER_INDEX,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from "../lambda/facts";
import { RETRY_QUEUE_RETENTION_DAYS } from "../lambda/settings";
import type { VendorConfig } from "../lambda/vendors";
import { type PermitDeleteRelayProps, type RelaySettings, validateProps } from "./props";
import { buildRelayApi, buildWebAcl } from "./relay-api";
import { type RelayAlarms, RelayMonitoring } from "./relay-monitoring";

// Re-exported so the construct's users (bench/, bin/, tests) import one module.
export { METRICS_NAMESPACE, SERVICE_NAME } from "../lambda/facts";
export {
  DEFAULT_INGEST_TIMEOUT,
  DEFAULT_OPSCOM_BASE_URL,
  DEFAULT_RETRY_WORKER_MAX_CONCURRENCY,
  DEFAULT_VENDOR_SECRET_PREFIX,
  type PermitDeleteRelayProps,
  type VendorInput,
} from "./props";
export type { RelayAlarms } from "./relay-monitoring";

/** Runtime and architecture of both functions (the newest Node.js runtime aws-cdk-lib offers). */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;
export const LAMBDA_ARCHITECTURE = lambda.Architecture.ARM_64;

/**
 * How both functions are bundled: one CommonJS file per function, built by the local
 * esbuild (never Docker), with the AWS SDK inside so the artifact is self-contained and
 * runs the SDK version the lock file pins. Kept in one place so it can be tuned; the
 * ingest bundle must stay at or below INGEST_BUNDLE_LIMIT (test/cdk/synth.test.ts).
 */
export const LAMBDA_BUNDLING: nodejs.BundlingOptions = {
  format: nodejs.OutputFormat.CJS,
  // The syntax the runtime runs natively: `nodejs24.x` → `node24`.
  target: LAMBDA_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, "node$1"),
  // Prefer packages' ES module builds: esbuild tree-shakes them far better than their
  // CommonJS builds (the AWS SDK shrinks by about a third), and the output is still CJS.
  mainFields: ["module", "main"],
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  externalModules: [],
  forceDockerBundling: false,
};

/** Room kept for each value known only at deploy time (table name, queue URL, secret ARN). */
const UNRESOLVED_VALUE_BYTES = 256;
const PROJECT_ROOT = path.join(__dirname, "..");

export class PermitDeleteRelay extends Construct {
  public readonly api: apigw.RestApi;
  public readonly accessLogGroup: logs.LogGroup;
  /** The stage's execution-log group, created here so it has the retention and goes with the stack. */
  public readonly executionLogGroup: logs.LogGroup;
  /** The custom domain; undefined without the `domain` prop. */
  public readonly domainName?: apigw.DomainName;
  public readonly ingestFunction: nodejs.NodejsFunction;
  public readonly ingestLogGroup: logs.LogGroup;
  public readonly retryWorkerFunction: nodejs.NodejsFunction;
  public readonly retryWorkerLogGroup: logs.LogGroup;
  public readonly retryQueue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly ledgerTable: dynamodb.Table;
  public readonly tokenSecret: secretsmanager.ISecret;
  /** Undefined when `waf` is false. */
  public readonly webAcl?: wafv2.CfnWebACL;
  public readonly monitoring: RelayMonitoring;
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: RelayAlarms;
  public readonly dashboard: cloudwatch.Dashboard;
  /** The vendors after validation, defaults filled in (the functions fill in the same from `VENDORS`). */
  public readonly vendors: readonly VendorConfig[];

  constructor(scope: Construct, id: string, props: PermitDeleteRelayProps) {
    super(scope, id);
    const settings = validateProps(props);
    this.vendors = settings.vendors;

    this.tokenSecret = props.tokenSecret ?? this.createTokenSecret();
    this.ledgerTable = this.buildLedger();
    const queues = this.buildQueues(settings);
    this.retryQueue = queues.retryQueue;
    this.deadLetterQueue = queues.deadLetterQueue;

    const environment = this.functionEnvironment(props, settings);
    const functions = this.buildFunctions(settings, environment);
    this.ingestFunction = functions.ingestFunction;
    this.ingestLogGroup = functions.ingestLogs;
    this.retryWorkerFunction = functions.retryWorkerFunction;
    this.retryWorkerLogGroup = functions.workerLogs;
    this.grantLeastPrivilege(settings, functions.ingestRole, functions.workerRole);

    const gateway = buildRelayApi(this, settings, this.ingestFunction, props.domain);
    this.api = gateway.api;
    this.accessLogGroup = gateway.accessLogGroup;
    this.executionLogGroup = gateway.executionLogGroup;
    this.domainName = gateway.domainName;
    this.webAcl = buildWebAcl(this, settings, this.api);

    this.monitoring = new RelayMonitoring(this, "Monitoring", {
      api: this.api,
      ingestFunction: this.ingestFunction,
      retryWorkerFunction: this.retryWorkerFunction,
      retryQueue: this.retryQueue,
      deadLetterQueue: this.deadLetterQueue,
      retryBacklogAgeThreshold: settings.retryBacklogAgeThreshold,
      api5xxRateThresholdPercent: settings.api5xxRateThresholdPercent,
      api5xxMinimumRequests: settings.api5xxMinimumRequests,
    });
    this.alarmTopic = this.monitoring.alarmTopic;
    this.alarms = this.monitoring.alarms;
    this.dashboard = this.monitoring.dashboard;
  }

  /** The OPS-COM token secret when none is given: created empty, filled by hand (docs/deploy.md). */
  private createTokenSecret(): secretsmanager.Secret {
    const created = new secretsmanager.Secret(this, "OpscomTokenSecret", {
      description:
        "OPS-COM API token for opscom-permit-relay. Fill it with: aws secretsmanager put-secret-value " +
        "--secret-id <this secret ARN> --secret-string '<token>' (or '{\"apiToken\":\"<token>\"}'). See docs/deploy.md.",
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Created empty on purpose: a generated random value would be sent to OPS-COM as a token.
    (created.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride(
      "GenerateSecretString",
    );
    Validations.of(created).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "The secret holds an API token that OPS-COM issues by hand per client; there is no API that mints a " +
        "new token, so a Secrets Manager rotation function would have nothing to call. Rotation is the " +
        "documented runbook step in docs/deploy.md (put the new value; the relay refetches on 9002).",
    });
    return created;
  }

  /** ARNs (or ARN patterns) of the OPS-COM token secrets and of the vendors' signing secrets. */
  private secretArns(settings: RelaySettings): { tokenSecretArns: string[]; signingSecretArns: string[] } {
    const tokenSecret = this.tokenSecret;
    const secretArn = (nameOrArn: string): string =>
      nameOrArn.startsWith("arn:")
        ? nameOrArn
        : Stack.of(this).formatArn({
            service: "secretsmanager",
            resource: "secret",
            // Secrets Manager appends "-" and 6 random characters to a secret's name in its ARN.
            resourceName: `${nameOrArn}-??????`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          });
    const tokenSecretArns = unique([
      tokenSecret.secretFullArn ?? `${tokenSecret.secretArn}-??????`,
      ...settings.vendors.flatMap((v) => (v.opscom.tokenSecretId ? [secretArn(v.opscom.tokenSecretId)] : [])),
    ]);
    const signingSecretArns = settings.vendors.map((v) => secretArn(`${settings.vendorSecretPrefix}${v.id}`));
    return { tokenSecretArns, signingSecretArns };
  }

  private buildLedger(): dynamodb.Table {
    const table = new dynamodb.Table(this, "Ledger", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: "expiresAt",
      removalPolicy: RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: LEDGER_INDEX.byReference,
      partitionKey: { name: "referenceId", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "createdAt", type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // The delivery console's "last 24 hours" without a scan; why an hour key and keys only: at
    // BY_HOUR_INDEX in lambda/adapters/dynamodb-ledger.ts.
    table.addGlobalSecondaryIndex({
      indexName: LEDGER_INDEX.byHour,
      partitionKey: { name: "createdHour", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "createdAt", type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
    return table;
  }

  private buildQueues(settings: RelaySettings): { retryQueue: sqs.Queue; deadLetterQueue: sqs.Queue } {
    const deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      retentionPeriod: Duration.days(RETRY_QUEUE_RETENTION_DAYS),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const retryQueue = new sqs.Queue(this, "RetryQueue", {
      // AWS guidance for Lambda event sources: at least six times the function timeout.
      visibilityTimeout: Duration.seconds(settings.retryWorkerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(RETRY_QUEUE_RETENTION_DAYS),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: settings.retryMaxAttempts },
    });
    return { retryQueue, deadLetterQueue };
  }

  /** What both functions read at start-up (lambda/config.ts), refused at synth if over Lambda's limit. */
  private functionEnvironment(
    props: PermitDeleteRelayProps,
    settings: RelaySettings,
  ): Record<string, string> {
    const { tokenSecret, ledgerTable, retryQueue } = this;
    const environment: Record<string, string> = {
      OPSCOM_BASE_URL: settings.opscomBaseUrl,
      OPSCOM_CLIENT_CODE: settings.clientCode,
      OPSCOM_TOKEN_SECRET_ID: tokenSecret.secretFullArn ?? tokenSecret.secretName,
      // As given, not expanded with defaults: Lambda allows 4 KB of environment in all.
      VENDORS: JSON.stringify(props.vendors),
      VENDOR_SECRET_PREFIX: settings.vendorSecretPrefix,
      LEDGER_TABLE_NAME: ledgerTable.tableName,
      RETRY_QUEUE_URL: retryQueue.queueUrl,
      SECRET_CACHE_TTL_SECONDS: String(settings.secretCacheTtl.toSeconds()),
      SIGNATURE_TOLERANCE_SECONDS: String(settings.signatureTolerance.toSeconds()),
      FORWARD_TIMEOUT_MS: String(settings.forwardTimeout.toMilliseconds()),
      MAX_BODY_BYTES: String(settings.maxBodyBytes),
      LEDGER_TTL_DAYS: String(settings.ledgerTtlDays),
      RETRY_MAX_ATTEMPTS: String(settings.retryMaxAttempts),
      CLAIM_LEASE_SECONDS: String(settings.claimLease.toSeconds()),
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
    };

    const environmentBytes = Object.entries(environment).reduce(
      (sum, [key, value]) =>
        sum +
        Buffer.byteLength(key) +
        (Token.isUnresolved(value) ? UNRESOLVED_VALUE_BYTES : Buffer.byteLength(value)),
      0,
    );
    if (environmentBytes > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
      throw new Error(
        `PermitDeleteRelay: the functions' environment would take up to ${environmentBytes} bytes, over Lambda's ` +
          `${LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte limit; VENDORS alone is ${Buffer.byteLength(environment.VENDORS ?? "")} ` +
          "bytes. Leave defaults out of the vendor entries, or split the vendors over two relays.",
      );
    }
    return environment;
  }

  private buildFunctions(settings: RelaySettings, environment: Record<string, string>) {
    const retryQueue = this.retryQueue;
    // Both functions share everything but their entry, timeout, log group and role.
    const relayFunction = (
      id: string,
      entry: string,
      description: string,
      timeout: Duration,
      logGroup: logs.LogGroup,
      role: iam.Role,
      reservedConcurrentExecutions?: number,
    ) =>
      new nodejs.NodejsFunction(this, id, {
        ...(reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions }),
        description,
        entry: path.join(PROJECT_ROOT, "lambda", entry),
        handler: "handler",
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: path.join(PROJECT_ROOT, "package-lock.json"),
        runtime: LAMBDA_RUNTIME,
        architecture: LAMBDA_ARCHITECTURE,
        memorySize: 512,
        timeout,
        tracing: lambda.Tracing.ACTIVE,
        logGroup,
        role,
        environment,
        bundling: LAMBDA_BUNDLING,
      });

    const ingestLogs = new logs.LogGroup(this, "IngestLogs", { retention: settings.logRetention });
    const ingestRole = functionRole(this, "IngestRole", ingestLogs);
    const ingestFunction = relayFunction(
      "Ingest",
      "ingest.ts",
      "opscom-permit-relay: verifies vendor webhooks and forwards OPS-COM Permit Delete calls",
      settings.ingestTimeout,
      ingestLogs,
      ingestRole,
      settings.ingestReservedConcurrency,
    );

    const workerLogs = new logs.LogGroup(this, "RetryWorkerLogs", { retention: settings.logRetention });
    const workerRole = functionRole(this, "RetryWorkerRole", workerLogs);
    const retryWorkerFunction = relayFunction(
      "RetryWorker",
      "retry-worker.ts",
      "opscom-permit-relay: retries parked OPS-COM Permit Delete calls from the retry queue",
      settings.retryWorkerTimeout,
      workerLogs,
      workerRole,
    );
    // The event source mapping is declared directly (not with SqsEventSource) so the grant
    // below is exactly the four actions the poller uses, without GetQueueUrl.
    retryWorkerFunction.addEventSourceMapping("RetryQueueSource", {
      eventSourceArn: retryQueue.queueArn,
      batchSize: 10,
      reportBatchItemFailures: true,
      // Without it, Lambda scales the pollers up with the backlog an outage left behind and
      // meets OPS-COM's recovery with hundreds of concurrent calls.
      maxConcurrency: settings.retryWorkerMaxConcurrency,
    });
    return { ingestFunction, ingestLogs, ingestRole, retryWorkerFunction, workerLogs, workerRole };
  }

  /** Each role gets exactly the actions its handler calls, on exactly the resources it uses. */
  private grantLeastPrivilege(settings: RelaySettings, ingestRole: iam.Role, workerRole: iam.Role): void {
    const { ledgerTable, retryQueue } = this;
    const { tokenSecretArns, signingSecretArns } = this.secretArns(settings);
    ingestRole.addToPolicy(
      new iam.PolicyStatement({
        sid: "ReadOpscomTokenAndVendorSigningSecrets",
        actions: ["secretsmanager:GetSecretValue"],
        resources: unique([...tokenSecretArns, ...signingSecretArns]),
      }),
    );
    ingestRole.addToPolicy(
      new iam.PolicyStatement({
        sid: "ClaimAndRecordWebhooksInLedger",
        actions: ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem"],
        resources: [ledgerTable.tableArn],
      }),
    );
    ingestRole.addToPolicy(
      new iam.PolicyStatement({
        sid: "ParkDeliveriesForRetry",
        actions: ["sqs:SendMessage"],
        resources: [retryQueue.queueArn],
      }),
    );
    workerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: "ReadOpscomTokens",
        actions: ["secretsmanager:GetSecretValue"],
        resources: tokenSecretArns,
      }),
    );
    workerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: "RecordDeliveryOutcomesInLedger",
        actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
        resources: [ledgerTable.tableArn],
      }),
    );
    workerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: "ConsumeRetryQueue",
        actions: [
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:GetQueueAttributes",
        ],
        resources: [retryQueue.queueArn],
      }),
    );
    workerRole.addToPolicy(
      new iam.PolicyStatement({
        // An OPS-COM answer whose ledger write failed goes back to the queue to be recorded later.
        sid: "HandBackKnownOutcomes",
        actions: ["sqs:SendMessage"],
        resources: [retryQueue.queueArn],
      }),
    );
    for (const role of [ingestRole, workerRole]) {
      Validations.of(role).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "Only xray:PutTraceSegments and xray:PutTelemetryRecords (added for active tracing) use Resource *: " +
          "X-Ray does not support resource-level permissions for these actions. Every other statement names " +
          "exact ARNs.",
      });
    }
  }
}

/** An execution role that may write only to the function's own log group. */
function functionRole(scope: Construct, id: string, logGroup: logs.ILogGroup): iam.Role {
  const role = new iam.Role(scope, id, { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com") });
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: "WriteOwnLogGroup",
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      resources: [logGroup.logGroupArn],
    }),
  );
  return role;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
