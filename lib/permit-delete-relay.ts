// The whole relay as one L3 construct: API Gateway → ingest Lambda → OPS-COM, with an SQS
// retry queue drained by the retry worker, a DynamoDB ledger, alarms and a dashboard. Props,
// defaults and validation are in ./props.ts; the constructor reads as a table of contents
// over one private builder per part (secrets, storage, functions, grants, API, WAF), each
// below it in that order; alarms and the dashboard are ./relay-monitoring.ts.
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
import {
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
  LEDGER_INDEX,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from "../lambda/facts";
import { RETRY_QUEUE_RETENTION_DAYS } from "../lambda/settings";
import type { VendorConfig } from "../lambda/vendors";
import { type PermitDeleteRelayProps, type RelaySettings, validateProps } from "./props";
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

    const gateway = this.buildApi(settings);
    this.api = gateway.api;
    this.accessLogGroup = gateway.accessLogGroup;
    this.webAcl = this.buildWaf(settings);

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

  private buildApi(settings: RelaySettings): { api: apigw.RestApi; accessLogGroup: logs.LogGroup } {
    const ingestFunction = this.ingestFunction;
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

    const accessLogGroup = new logs.LogGroup(this, "ApiAccessLogs", { retention: settings.logRetention });
    const api = new apigw.RestApi(this, "Api", {
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
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
        tracingEnabled: true,
        dataTraceEnabled: false,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        throttlingRateLimit: settings.throttlingRateLimit,
        throttlingBurstLimit: settings.throttlingBurstLimit,
      },
    });
    const cloudWatchRole = api.node.tryFindChild("CloudWatchRole");
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
      restApi: api,
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    const webhook = api.root
      .addResource("webhooks")
      .addResource("{vendorId}")
      .addMethod("POST", new apigw.LambdaIntegration(ingestFunction, { allowTestInvoke: false }), {
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
    Validations.of(api).acknowledge({
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
      api.addGatewayResponse(id, {
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
    return { api, accessLogGroup };
  }

  /** A per-source-IP rate limit in front of the stage; undefined when `waf` is false. */
  private buildWaf(settings: RelaySettings): wafv2.CfnWebACL | undefined {
    const api = this.api;
    if (settings.waf) {
      const metricPrefix = Names.uniqueId(this).slice(-200);
      const webAcl = new wafv2.CfnWebACL(this, "WebAcl", {
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
        resourceArn: api.deploymentStage.stageArn,
        webAclArn: webAcl.attrArn,
      });
    } else {
      Validations.of(api.deploymentStage).acknowledge({
        id: "AwsSolutions-APIG3",
        reason:
          "The deployer turned the WAF web ACL off (waf = false), e.g. because the account fronts APIs with " +
          "its own firewall; the stage keeps API Gateway throttling and every request must carry a valid " +
          "vendor signature.",
      });
    }
    return undefined;
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
