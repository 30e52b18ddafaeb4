// The whole relay as one L3 construct: API Gateway → ingest Lambda → OPS-COM, with an SQS
// retry queue drained by the retry worker, a DynamoDB ledger, alarms and a dashboard.
// Everything it builds is in this file, top to bottom, so a reviewer sees every default.
import * as path from "node:path";
import { ArnFormat, Duration, Names, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import * as apigw from "aws-cdk-lib/aws-apigateway";
import type * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import * as wafv2 from "aws-cdk-lib/aws-wafv2";
import { Construct } from "constructs";
import { ANSWER_CEILING_MS } from "../lambda/budget";
import { RETRY_QUEUE_RETENTION_DAYS, settingsContradiction } from "../lambda/settings";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../lambda/telemetry";
import { CLIENT_CODE_PATTERN, parseVendors, type VendorConfig } from "../lambda/vendors";
import { DEFAULT_API_5XX_MINIMUM_REQUESTS, type RelayAlarms, RelayMonitoring } from "./relay-monitoring";

// The Powertools service name (the `service` dimension of every EMF metric) and the metrics
// namespace have one home, the handlers' telemetry; re-exported for the construct's users.
export { METRICS_NAMESPACE, SERVICE_NAME } from "../lambda/telemetry";
export type { RelayAlarms } from "./relay-monitoring";
export const DEFAULT_OPSCOM_BASE_URL = "https://controller.operationscommander.com";
export const DEFAULT_VENDOR_SECRET_PREFIX = "opscom-permit-relay/vendors/";
/** Retry worker invocations at once: Lambda's smallest allowed maximum, so a recovery is gentle. */
export const DEFAULT_RETRY_WORKER_MAX_CONCURRENCY = 2;

/** Runtime and architecture of both functions (the newest Node.js runtime aws-cdk-lib offers). */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;
export const LAMBDA_ARCHITECTURE = lambda.Architecture.ARM_64;

/**
 * How both functions are bundled: one CommonJS file per function, built by the local
 * esbuild (never Docker), with the AWS SDK inside so the artifact is self-contained and
 * runs the SDK version the lock file pins. Kept in one place so it can be tuned; the
 * ingest bundle must stay at or below 500 kB (test/cdk/bundle.test.ts).
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

/** Lambda's limit on the total size of a function's environment variables. */
const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;
/** Room kept for each value known only at deploy time (table name, queue URL, secret ARN). */
const UNRESOLVED_VALUE_BYTES = 256;
/** API Gateway's integration timeout: a function that takes longer is cut off with a 504. */
const API_GATEWAY_TIMEOUT_SECONDS = 29;
/** The ingest function's timeout unless set: well above the answer ceiling (lambda/budget.ts). */
export const DEFAULT_INGEST_TIMEOUT = Duration.seconds(15);
const PROJECT_ROOT = path.join(__dirname, "..");

/**
 * One JSON object per request. API Gateway does not escape values, so only fields that
 * cannot hold a quote are interpolated raw (no user agent); the error message uses the
 * pre-quoted `messageString` variant.
 */
const ACCESS_LOG_FORMAT = [
  '{"requestId":"$context.requestId"',
  '"extendedRequestId":"$context.extendedRequestId"',
  '"requestTime":"$context.requestTime"',
  '"sourceIp":"$context.identity.sourceIp"',
  '"httpMethod":"$context.httpMethod"',
  '"path":"$context.path"',
  '"status":"$context.status"',
  '"responseLength":"$context.responseLength"',
  '"responseLatency":"$context.responseLatency"',
  '"integrationStatus":"$context.integrationStatus"',
  '"integrationLatency":"$context.integrationLatency"',
  '"wafResponseCode":"$context.wafResponseCode"',
  '"xrayTraceId":"$context.xrayTraceId"',
  '"errorMessage":$context.error.messageString}',
].join(",");

/**
 * A vendor as given in configuration: only `id` is required; everything else takes the
 * defaults of `parseVendors` (lambda/vendors.ts), which validates it.
 */
export type VendorInput = { readonly id: string } & Partial<Omit<VendorConfig, "id">>;

export interface PermitDeleteRelayProps {
  /** OPS-COM client code used in the API path, e.g. `OC-TOMA`. */
  readonly clientCode: string;
  /**
   * The vendors allowed to post (the `VENDORS` contract). Each vendor's signing secret is
   * the Secrets Manager secret named `vendorSecretPrefix + id`.
   */
  readonly vendors: readonly VendorInput[];
  /**
   * OPS-COM controller base URL.
   * @default "https://controller.operationscommander.com"
   */
  readonly opscomBaseUrl?: string;
  /**
   * The secret holding the OPS-COM API token (the token itself, or JSON `{"apiToken": "…"}`).
   * @default - a new, empty secret whose description says how to fill it
   */
  readonly tokenSecret?: secretsmanager.ISecret;
  /**
   * Name prefix of the vendors' signing secrets.
   * @default "opscom-permit-relay/vendors/"
   */
  readonly vendorSecretPrefix?: string;
  /**
   * Deliveries a parked webhook gets before it moves to the dead-letter queue: both the
   * retry queue's `maxReceiveCount` and the worker's `RETRY_MAX_ATTEMPTS`.
   * The default matches the retry schedule (lambda/retry-schedule.ts): 7 attempts over about 27.6 h.
   * @default 7
   */
  readonly retryMaxAttempts?: number;
  /**
   * Stage-wide steady request rate (requests per second).
   * @default 50
   */
  readonly throttlingRateLimit?: number;
  /**
   * Stage-wide burst (requests).
   * @default 100
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Put an AWS WAF web ACL with a per-source-IP rate-based rule in front of the API.
   * @default true
   */
  readonly waf?: boolean;
  /**
   * Requests one source IP may send in any 5-minute window before WAF answers 429.
   * @default 2000
   */
  readonly wafRateLimit?: number;
  /**
   * Accept IPv6 clients as well as IPv4 (a dual-stack regional endpoint). Needed when a
   * vendor's `allowedSourceCidrs` lists IPv6 blocks.
   * @default false
   */
  readonly dualStack?: boolean;
  /**
   * Retention of the API access logs and both functions' logs.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Days a finished webhook stays in the ledger (duplicate detection window).
   * @default 30
   */
  readonly ledgerTtlDays?: number;
  /**
   * How long a fetched secret is reused.
   * @default Duration.minutes(5)
   */
  readonly secretCacheTtl?: Duration;
  /**
   * Accepted clock skew of the signed timestamp.
   * @default Duration.minutes(5)
   */
  readonly signatureTolerance?: Duration;
  /**
   * Timeout of one OPS-COM attempt.
   * @default Duration.seconds(5)
   */
  readonly forwardTimeout?: Duration;
  /**
   * Largest accepted body, in bytes.
   * @default 65536
   */
  readonly maxBodyBytes?: number;
  /**
   * Ingest function timeout; below API Gateway's 29 s so the function always answers, and
   * above the 8 s ceiling the ingest handler holds every answer to.
   * @default Duration.seconds(15)
   */
  readonly ingestTimeout?: Duration;
  /**
   * Retry worker timeout; the retry queue's visibility timeout is six times this.
   * @default Duration.seconds(60)
   */
  readonly retryWorkerTimeout?: Duration;
  /**
   * How long an in-flight claim on a webhook blocks a duplicate before it may be taken over;
   * longer than the ingest timeout so a live invocation never loses its claim.
   * @default Duration.seconds(60)
   */
  readonly claimLease?: Duration;
  /**
   * Age of the oldest parked delivery that raises the retry backlog alarm. The retry
   * schedule's first three retries (5 s, 5 min, 30 min) fit inside the default.
   * @default Duration.hours(1)
   */
  readonly retryBacklogAgeThreshold?: Duration;
  /**
   * Percentage of API requests answered 5xx (over 5 minutes) that raises the alarm.
   * @default 5
   */
  readonly api5xxRateThresholdPercent?: number;
  /**
   * Requests a 5-minute period needs before its 5xx rate can raise the alarm.
   * @default 20
   */
  readonly api5xxMinimumRequests?: number;
  /**
   * Most retry worker invocations the retry queue's event source mapping runs at once (its
   * `maximumConcurrency`, 2-1000). Each invocation delivers at most `RECORD_CONCURRENCY`
   * (lambda/retry-core.ts) records at a time, so OPS-COM sees at most this times that many
   * concurrent calls from the worker, however long the backlog an outage left.
   * @default 2
   */
  readonly retryWorkerMaxConcurrency?: number;
  /**
   * Reserved concurrency of the ingest function: caps how many webhooks reach OPS-COM at once
   * and keeps that many instances for the relay whatever else runs in the account. Requests
   * over it are throttled; vendors get `503 unavailable` with Retry-After.
   * @default - none (the account's unreserved pool)
   */
  readonly ingestReservedConcurrency?: number;
}

export class PermitDeleteRelay extends Construct {
  public readonly api: apigw.RestApi;
  public readonly accessLogGroup: logs.LogGroup;
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
    const stack = Stack.of(this);

    // ---- Secrets ---------------------------------------------------------------------
    if (props.tokenSecret) {
      this.tokenSecret = props.tokenSecret;
    } else {
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
      this.tokenSecret = created;
    }
    const secretArn = (nameOrArn: string): string =>
      nameOrArn.startsWith("arn:")
        ? nameOrArn
        : stack.formatArn({
            service: "secretsmanager",
            resource: "secret",
            // Secrets Manager appends "-" and 6 random characters to a secret's name in its ARN.
            resourceName: `${nameOrArn}-??????`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          });
    const tokenSecretArns = unique([
      this.tokenSecret.secretFullArn ?? `${this.tokenSecret.secretArn}-??????`,
      ...settings.vendors.flatMap((v) => (v.opscom.tokenSecretId ? [secretArn(v.opscom.tokenSecretId)] : [])),
    ]);
    const signingSecretArns = settings.vendors.map((v) => secretArn(`${settings.vendorSecretPrefix}${v.id}`));

    // ---- Ledger and queues -----------------------------------------------------------
    this.ledgerTable = new dynamodb.Table(this, "Ledger", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: "expiresAt",
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.ledgerTable.addGlobalSecondaryIndex({
      indexName: "byReference",
      partitionKey: { name: "referenceId", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "createdAt", type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // The delivery console's "last 24 hours" without a scan; why an hour key and keys only: at
    // BY_HOUR_INDEX in lambda/adapters/dynamodb-ledger.ts.
    this.ledgerTable.addGlobalSecondaryIndex({
      indexName: "byHour",
      partitionKey: { name: "createdHour", type: dynamodb.AttributeType.STRING },
      sortKey: { name: "createdAt", type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });

    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      retentionPeriod: Duration.days(RETRY_QUEUE_RETENTION_DAYS),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.retryQueue = new sqs.Queue(this, "RetryQueue", {
      // AWS guidance for Lambda event sources: at least six times the function timeout.
      visibilityTimeout: Duration.seconds(settings.retryWorkerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(RETRY_QUEUE_RETENTION_DAYS),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.retryMaxAttempts },
    });

    // ---- Functions -------------------------------------------------------------------
    const environment: Record<string, string> = {
      OPSCOM_BASE_URL: settings.opscomBaseUrl,
      OPSCOM_CLIENT_CODE: settings.clientCode,
      OPSCOM_TOKEN_SECRET_ID: this.tokenSecret.secretFullArn ?? this.tokenSecret.secretName,
      // As given, not expanded with defaults: Lambda allows 4 KB of environment in all.
      VENDORS: JSON.stringify(props.vendors),
      VENDOR_SECRET_PREFIX: settings.vendorSecretPrefix,
      LEDGER_TABLE_NAME: this.ledgerTable.tableName,
      RETRY_QUEUE_URL: this.retryQueue.queueUrl,
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
    this.ingestLogGroup = ingestLogs;
    const ingestRole = functionRole(this, "IngestRole", ingestLogs);
    this.ingestFunction = relayFunction(
      "Ingest",
      "ingest.ts",
      "opscom-permit-relay: verifies vendor webhooks and forwards OPS-COM Permit Delete calls",
      settings.ingestTimeout,
      ingestLogs,
      ingestRole,
      settings.ingestReservedConcurrency,
    );

    const workerLogs = new logs.LogGroup(this, "RetryWorkerLogs", { retention: settings.logRetention });
    this.retryWorkerLogGroup = workerLogs;
    const workerRole = functionRole(this, "RetryWorkerRole", workerLogs);
    this.retryWorkerFunction = relayFunction(
      "RetryWorker",
      "retry-worker.ts",
      "opscom-permit-relay: retries parked OPS-COM Permit Delete calls from the retry queue",
      settings.retryWorkerTimeout,
      workerLogs,
      workerRole,
    );
    // The event source mapping is declared directly (not with SqsEventSource) so the grant
    // below is exactly the four actions the poller uses, without GetQueueUrl.
    this.retryWorkerFunction.addEventSourceMapping("RetryQueueSource", {
      eventSourceArn: this.retryQueue.queueArn,
      batchSize: 10,
      reportBatchItemFailures: true,
      // Without it, Lambda scales the pollers up with the backlog an outage left behind and
      // meets OPS-COM's recovery with hundreds of concurrent calls.
      maxConcurrency: settings.retryWorkerMaxConcurrency,
    });

    // ---- Least-privilege grants ------------------------------------------------------
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
        resources: [this.ledgerTable.tableArn],
      }),
    );
    ingestRole.addToPolicy(
      new iam.PolicyStatement({
        sid: "ParkDeliveriesForRetry",
        actions: ["sqs:SendMessage"],
        resources: [this.retryQueue.queueArn],
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
        resources: [this.ledgerTable.tableArn],
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
        resources: [this.retryQueue.queueArn],
      }),
    );
    workerRole.addToPolicy(
      new iam.PolicyStatement({
        // An OPS-COM answer whose ledger write failed goes back to the queue to be recorded later.
        sid: "HandBackKnownOutcomes",
        actions: ["sqs:SendMessage"],
        resources: [this.retryQueue.queueArn],
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

    // ---- API Gateway -----------------------------------------------------------------
    const restricted = settings.vendors.filter((v) => v.allowedSourceCidrs !== undefined);
    const policy =
      restricted.length === 0
        ? undefined
        : new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({
                sid: "AllowInvoke",
                principals: [new iam.AnyPrincipal()],
                actions: ["execute-api:Invoke"],
                resources: ["execute-api:/*"],
              }),
              ...restricted.map(
                (v) =>
                  new iam.PolicyStatement({
                    sid: `OnlyAllowedSources${v.id.replace(/[^A-Za-z0-9]/g, "")}`,
                    effect: iam.Effect.DENY,
                    principals: [new iam.AnyPrincipal()],
                    actions: ["execute-api:Invoke"],
                    resources: [`execute-api:/*/POST/webhooks/${v.id}`],
                    conditions: { NotIpAddress: { "aws:SourceIp": [...(v.allowedSourceCidrs ?? [])] } },
                  }),
              ),
            ],
          });

    this.accessLogGroup = new logs.LogGroup(this, "ApiAccessLogs", { retention: settings.logRetention });
    this.api = new apigw.RestApi(this, "Api", {
      restApiName: Names.uniqueResourceName(this, { maxLength: 100, separator: "-" }),
      description: "opscom-permit-relay: parking vendors post signed webhooks to POST /webhooks/{vendorId}",
      endpointConfiguration: {
        types: [apigw.EndpointType.REGIONAL],
        ipAddressType: settings.dualStack ? apigw.IpAddressType.DUAL_STACK : apigw.IpAddressType.IPV4,
      },
      // API Gateway writes access and execution logs through an account-level role.
      cloudWatchRole: true,
      policy,
      deployOptions: {
        stageName: "prod",
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
        tracingEnabled: true,
        dataTraceEnabled: false,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        throttlingRateLimit: settings.throttlingRateLimit,
        throttlingBurstLimit: settings.throttlingBurstLimit,
      },
    });
    const cloudWatchRole = this.api.node.tryFindChild("CloudWatchRole");
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        reason:
          "This is the account-level role API Gateway needs to write access and execution logs; it can only be " +
          "assumed by apigateway.amazonaws.com and the AWS-managed policy is the purpose-built, AWS-maintained " +
          "policy for exactly that.",
      });
    }

    const pathValidator = new apigw.RequestValidator(this, "PathValidator", {
      restApi: this.api,
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    const webhook = this.api.root
      .addResource("webhooks")
      .addResource("{vendorId}")
      .addMethod("POST", new apigw.LambdaIntegration(this.ingestFunction, { allowTestInvoke: false }), {
        operationName: "PostWebhook",
        requestParameters: { "method.request.path.vendorId": true },
        requestValidator: pathValidator,
      });
    Validations.of(webhook).acknowledge(
      {
        id: "AwsSolutions-APIG4",
        reason:
          "Vendors authenticate by an HMAC signature over the raw request body (Standard Webhooks or a " +
          "configured HMAC scheme), verified inside the ingest function with a per-vendor secret before any " +
          "other work. API Gateway authorizers never see the request body, so they cannot verify it; unsigned " +
          "or badly signed requests get 401.",
      },
      {
        id: "AwsSolutions-COG4",
        reason:
          "Callers are vendors' webhook senders (machines), not users: there is no Cognito user to sign in. " +
          "Authentication is the body signature checked in the ingest function (see AwsSolutions-APIG4).",
      },
    );
    Validations.of(this.api).acknowledge({
      id: "AwsSolutions-APIG2",
      reason:
        "The path parameter is validated by API Gateway. The body is validated in the ingest function, after " +
        "the signature over its raw bytes has been checked: payload shapes differ per vendor by configuration, " +
        "and a gateway-side 400 would answer unauthenticated callers with schema details and bypass the " +
        "vendor contract.",
    });

    // Gateway-generated answers speak the same JSON contract as the function.
    const gatewayAnswer = (
      id: string,
      type: apigw.ResponseType,
      statusCode: string | undefined,
      body: string,
      headers?: Record<string, string>,
    ) =>
      this.api.addGatewayResponse(id, {
        type,
        ...(statusCode ? { statusCode } : {}),
        ...(headers ? { responseHeaders: headers } : {}),
        templates: { "application/json": body },
      });
    gatewayAnswer("SourceNotAllowed", apigw.ResponseType.ACCESS_DENIED, "403", '{"status":"forbidden"}');
    gatewayAnswer("Throttled", apigw.ResponseType.THROTTLED, "429", '{"status":"throttled"}', {
      "Retry-After": "'1'",
    });
    gatewayAnswer("TooLarge", apigw.ResponseType.REQUEST_TOO_LARGE, "413", '{"status":"too_large"}');
    gatewayAnswer(
      "UnknownRoute",
      apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      "404",
      '{"status":"no_route","reason":"POST /webhooks/{vendorId}"}',
    );
    gatewayAnswer(
      "Other4xx",
      apigw.ResponseType.DEFAULT_4XX,
      undefined,
      '{"status":"refused","message":$context.error.messageString}',
    );
    // A throttled ingest function (reserved concurrency, the account's limit) reaches API
    // Gateway as an integration failure; by default the vendor would get a bare 500 or 504.
    // A resend is always safe (the ledger makes it a duplicate), so say so: 503 + Retry-After.
    const unavailableBody = '{"status":"unavailable"}';
    const retryAfter = { "Retry-After": "'30'" };
    gatewayAnswer(
      "IntegrationFailure",
      apigw.ResponseType.INTEGRATION_FAILURE,
      "503",
      unavailableBody,
      retryAfter,
    );
    gatewayAnswer(
      "IntegrationTimeout",
      apigw.ResponseType.INTEGRATION_TIMEOUT,
      "503",
      unavailableBody,
      retryAfter,
    );
    gatewayAnswer("Other5xx", apigw.ResponseType.DEFAULT_5XX, undefined, '{"status":"error"}');

    // ---- WAF -------------------------------------------------------------------------
    if (settings.waf) {
      const metricPrefix = Names.uniqueId(this).slice(-200);
      this.webAcl = new wafv2.CfnWebACL(this, "WebAcl", {
        scope: "REGIONAL",
        defaultAction: { allow: {} },
        visibilityConfig: {
          cloudWatchMetricsEnabled: true,
          metricName: `${metricPrefix}WebAcl`,
          sampledRequestsEnabled: true,
        },
        customResponseBodies: {
          throttled: { contentType: "APPLICATION_JSON", content: '{"status":"throttled"}' },
        },
        rules: [
          {
            name: "RateLimitPerSourceIp",
            priority: 0,
            statement: {
              rateBasedStatement: {
                limit: settings.wafRateLimit,
                aggregateKeyType: "IP",
                evaluationWindowSec: 300,
              },
            },
            action: {
              block: {
                customResponse: {
                  responseCode: 429,
                  customResponseBodyKey: "throttled",
                  responseHeaders: [{ name: "Retry-After", value: "60" }],
                },
              },
            },
            visibilityConfig: {
              cloudWatchMetricsEnabled: true,
              metricName: `${metricPrefix}RateLimitPerSourceIp`,
              sampledRequestsEnabled: true,
            },
          },
        ],
      });
      // The stage ARN refers to the stage resource, so the association waits for the stage.
      new wafv2.CfnWebACLAssociation(this, "WebAclAssociation", {
        resourceArn: this.api.deploymentStage.stageArn,
        webAclArn: this.webAcl.attrArn,
      });
    } else {
      Validations.of(this.api.deploymentStage).acknowledge({
        id: "AwsSolutions-APIG3",
        reason:
          "The deployer turned the WAF web ACL off (waf = false), e.g. because the account fronts APIs with " +
          "its own firewall; the stage keeps API Gateway throttling and every request must carry a valid " +
          "vendor signature.",
      });
    }

    // ---- Alarms and dashboard ---------------------------------------------------------
    const monitoring = new RelayMonitoring(this, "Monitoring", {
      api: this.api,
      ingestFunction: this.ingestFunction,
      retryWorkerFunction: this.retryWorkerFunction,
      retryQueue: this.retryQueue,
      deadLetterQueue: this.deadLetterQueue,
      retryBacklogAgeThreshold: settings.retryBacklogAgeThreshold,
      api5xxRateThresholdPercent: settings.api5xxRateThresholdPercent,
      api5xxMinimumRequests: settings.api5xxMinimumRequests,
    });
    this.monitoring = monitoring;
    this.alarmTopic = monitoring.alarmTopic;
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;
  }
}

/** Settings after defaults, checked. */
interface RelaySettings {
  readonly clientCode: string;
  readonly vendors: VendorConfig[];
  readonly opscomBaseUrl: string;
  readonly vendorSecretPrefix: string;
  readonly retryMaxAttempts: number;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
  readonly waf: boolean;
  readonly wafRateLimit: number;
  readonly dualStack: boolean;
  readonly logRetention: logs.RetentionDays;
  readonly ledgerTtlDays: number;
  readonly secretCacheTtl: Duration;
  readonly signatureTolerance: Duration;
  readonly forwardTimeout: Duration;
  readonly maxBodyBytes: number;
  readonly ingestTimeout: Duration;
  readonly retryWorkerTimeout: Duration;
  readonly claimLease: Duration;
  readonly retryBacklogAgeThreshold: Duration;
  readonly api5xxRateThresholdPercent: number;
  readonly api5xxMinimumRequests: number;
  readonly retryWorkerMaxConcurrency: number;
  readonly ingestReservedConcurrency?: number;
}

const SECRET_NAME_PREFIX_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,256}$/;
const COMPLETE_SECRET_ARN_PATTERN =
  /^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;

function validateProps(props: PermitDeleteRelayProps): RelaySettings {
  const fail = (message: string): never => {
    throw new Error(`PermitDeleteRelay: ${message}`);
  };
  if (!CLIENT_CODE_PATTERN.test(props.clientCode)) {
    fail(`clientCode must be 1-64 of [A-Za-z0-9-], e.g. OC-TOMA; got ${JSON.stringify(props.clientCode)}`);
  }
  const opscomBaseUrl = props.opscomBaseUrl ?? DEFAULT_OPSCOM_BASE_URL;
  if (!/^https:\/\/[^/\s?#]+(\/[^\s?#]*)?$/.test(opscomBaseUrl)) {
    fail(
      `opscomBaseUrl must be an https:// URL without query or fragment; got ${JSON.stringify(opscomBaseUrl)}`,
    );
  }
  let vendors: VendorConfig[] = [];
  try {
    vendors = parseVendors(props.vendors, "vendors");
  } catch (error) {
    fail((error as Error).message);
  }
  for (const vendor of vendors) {
    const tokenSecretId = vendor.opscom.tokenSecretId;
    if (tokenSecretId?.startsWith("arn:") && !COMPLETE_SECRET_ARN_PATTERN.test(tokenSecretId)) {
      fail(
        `vendor "${vendor.id}": field "opscom.tokenSecretId" must be a secret name or a complete secret ARN ` +
          `(ending in the 6-character suffix Secrets Manager adds); got ${JSON.stringify(tokenSecretId)}`,
      );
    }
  }
  const vendorSecretPrefix = props.vendorSecretPrefix ?? DEFAULT_VENDOR_SECRET_PREFIX;
  if (!SECRET_NAME_PREFIX_PATTERN.test(vendorSecretPrefix)) {
    fail(
      `vendorSecretPrefix must be 1-256 of the characters allowed in secret names ([A-Za-z0-9/_+=.@-]); got ${JSON.stringify(vendorSecretPrefix)}`,
    );
  }
  const retryMaxAttempts = props.retryMaxAttempts ?? 7;
  wholeNumber(retryMaxAttempts, "retryMaxAttempts", 1, 1000, fail);
  const throttlingRateLimit = props.throttlingRateLimit ?? 50;
  if (!Number.isFinite(throttlingRateLimit) || throttlingRateLimit <= 0) {
    fail(`throttlingRateLimit must be a positive number of requests per second; got ${throttlingRateLimit}`);
  }
  const throttlingBurstLimit = props.throttlingBurstLimit ?? 100;
  wholeNumber(throttlingBurstLimit, "throttlingBurstLimit", 1, 1_000_000, fail);
  const wafRateLimit = props.wafRateLimit ?? 2000;
  wholeNumber(wafRateLimit, "wafRateLimit", 10, 2_000_000_000, fail);
  const ledgerTtlDays = props.ledgerTtlDays ?? 30;
  wholeNumber(ledgerTtlDays, "ledgerTtlDays", 1, 3650, fail);
  const maxBodyBytes = props.maxBodyBytes ?? 65_536;
  wholeNumber(maxBodyBytes, "maxBodyBytes", 256, 6_000_000, fail);
  const api5xxRateThresholdPercent = props.api5xxRateThresholdPercent ?? 5;
  if (!(api5xxRateThresholdPercent > 0 && api5xxRateThresholdPercent <= 100)) {
    fail(`api5xxRateThresholdPercent must be more than 0 and at most 100; got ${api5xxRateThresholdPercent}`);
  }

  const api5xxMinimumRequests = props.api5xxMinimumRequests ?? DEFAULT_API_5XX_MINIMUM_REQUESTS;
  wholeNumber(api5xxMinimumRequests, "api5xxMinimumRequests", 1, 1_000_000, fail);
  const retryWorkerMaxConcurrency = props.retryWorkerMaxConcurrency ?? DEFAULT_RETRY_WORKER_MAX_CONCURRENCY;
  // Lambda's own bounds for an SQS event source mapping's maximum concurrency.
  wholeNumber(retryWorkerMaxConcurrency, "retryWorkerMaxConcurrency", 2, 1000, fail);
  if (props.ingestReservedConcurrency !== undefined)
    wholeNumber(props.ingestReservedConcurrency, "ingestReservedConcurrency", 1, 10_000, fail);

  const secretCacheTtl = props.secretCacheTtl ?? Duration.minutes(5);
  seconds(secretCacheTtl, "secretCacheTtl", 0, 86_400, fail);
  const signatureTolerance = props.signatureTolerance ?? Duration.minutes(5);
  seconds(signatureTolerance, "signatureTolerance", 1, 86_400, fail);
  const forwardTimeout = props.forwardTimeout ?? Duration.seconds(5);
  const forwardMs = forwardTimeout.toMilliseconds();
  if (!Number.isInteger(forwardMs) || forwardMs < 100 || forwardMs > 25_000) {
    fail(`forwardTimeout must be from 100 ms to 25 seconds; got ${forwardTimeout.toHumanString()}`);
  }
  const ingestTimeout = props.ingestTimeout ?? DEFAULT_INGEST_TIMEOUT;
  seconds(ingestTimeout, "ingestTimeout", 1, API_GATEWAY_TIMEOUT_SECONDS - 1, fail);
  // The ingest handler holds every answer to the ceiling whatever forwardTimeout is (its
  // inline attempts share a budget); Lambda must not cut it off first.
  if (ingestTimeout.toMilliseconds() <= ANSWER_CEILING_MS) {
    fail(
      `ingestTimeout (${ingestTimeout.toHumanString()}) must be longer than the ingest answer ceiling (${ANSWER_CEILING_MS} ms, lambda/budget.ts)`,
    );
  }
  const retryWorkerTimeout = props.retryWorkerTimeout ?? Duration.seconds(60);
  seconds(retryWorkerTimeout, "retryWorkerTimeout", 1, 900, fail);
  if (retryWorkerTimeout.toMilliseconds() <= 2 * forwardMs) {
    fail(
      `retryWorkerTimeout (${retryWorkerTimeout.toHumanString()}) must be longer than twice forwardTimeout (${forwardTimeout.toHumanString()})`,
    );
  }
  const claimLease = props.claimLease ?? Duration.seconds(60);
  seconds(claimLease, "claimLease", 5, 3600, fail);
  const contradiction = settingsContradiction(
    {
      retryMaxAttempts,
      ledgerTtlDays,
      claimLeaseSeconds: claimLease.toSeconds(),
      ingestTimeoutSeconds: ingestTimeout.toSeconds(),
    },
    {
      retryMaxAttempts: "retryMaxAttempts",
      ledgerTtlDays: "ledgerTtlDays",
      claimLeaseSeconds: "claimLease",
      ingestTimeoutSeconds: "ingestTimeout",
    },
  );
  if (contradiction !== undefined) fail(contradiction);
  const retryBacklogAgeThreshold = props.retryBacklogAgeThreshold ?? Duration.hours(1);
  seconds(retryBacklogAgeThreshold, "retryBacklogAgeThreshold", 60, 14 * 86_400, fail);

  return {
    clientCode: props.clientCode,
    vendors,
    opscomBaseUrl,
    vendorSecretPrefix,
    retryMaxAttempts,
    throttlingRateLimit,
    throttlingBurstLimit,
    waf: props.waf ?? true,
    wafRateLimit,
    dualStack: props.dualStack ?? false,
    logRetention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    ledgerTtlDays,
    secretCacheTtl,
    signatureTolerance,
    forwardTimeout,
    maxBodyBytes,
    ingestTimeout,
    retryWorkerTimeout,
    claimLease,
    retryBacklogAgeThreshold,
    api5xxRateThresholdPercent,
    api5xxMinimumRequests,
    retryWorkerMaxConcurrency,
    ...(props.ingestReservedConcurrency === undefined
      ? {}
      : { ingestReservedConcurrency: props.ingestReservedConcurrency }),
  };
}

function wholeNumber(
  value: number,
  name: string,
  min: number,
  max: number,
  fail: (m: string) => never,
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(`${name} must be a whole number from ${min} to ${max}; got ${value}`);
  }
}

function seconds(value: Duration, name: string, min: number, max: number, fail: (m: string) => never): void {
  const ms = value.toMilliseconds();
  if (ms % 1000 !== 0 || ms / 1000 < min || ms / 1000 > max) {
    fail(`${name} must be whole seconds from ${min} to ${max}; got ${value.toHumanString()}`);
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
