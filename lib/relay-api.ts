// The relay's front door: the REST API (resource policy, stage, logs, gateway answers, custom
// domain) and the WAF web ACL before it. Built into the PermitDeleteRelay construct's scope,
// so the resources keep the construct's logical IDs.
import { Names, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as apigw from "aws-cdk-lib/aws-apigateway";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as wafv2 from "aws-cdk-lib/aws-wafv2";
import type { Construct } from "constructs";
import type { PermitDeleteRelayProps, RelaySettings } from "./props";

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

export interface RelayApi {
  readonly api: apigw.RestApi;
  readonly accessLogGroup: logs.LogGroup;
  readonly executionLogGroup: logs.LogGroup;
  readonly domainName?: apigw.DomainName;
}

/** The stage vendors post to: the last segment of the execute-api URL. */
export const API_STAGE_NAME = "prod";

export function buildRelayApi(
  scope: Construct,
  settings: RelaySettings,
  ingestFunction: lambda.IFunction,
  domain?: PermitDeleteRelayProps["domain"],
): RelayApi {
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

  const accessLogGroup = new logs.LogGroup(scope, "ApiAccessLogs", { retention: settings.logRetention });
  const api = new apigw.RestApi(scope, "Api", {
    restApiName: Names.uniqueResourceName(scope, { maxLength: 100, separator: "-" }),
    description: "opscom-permit-relay: parking vendors post signed webhooks to POST /webhooks/{vendorId}",
    endpointConfiguration: {
      types: [apigw.EndpointType.REGIONAL],
      ipAddressType: settings.dualStack ? apigw.IpAddressType.DUAL_STACK : apigw.IpAddressType.IPV4,
    },
    // API Gateway writes access and execution logs through one role per account and region,
    // shared by every REST API there: an account that already has one opts out.
    cloudWatchRole: settings.cloudWatchRole,
    policy,
    deployOptions: {
      stageName: API_STAGE_NAME,
      accessLogDestination: new apigw.LogGroupLogDestination(accessLogGroup),
      accessLogFormat: apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      tracingEnabled: true,
      dataTraceEnabled: false,
      loggingLevel: apigw.MethodLoggingLevel.ERROR,
      throttlingRateLimit: settings.throttlingRateLimit,
      throttlingBurstLimit: settings.throttlingBurstLimit,
    },
  });
  // API Gateway would create this group itself on the first error, with no retention and
  // outside the stack; created first, it keeps the configured retention and goes at teardown.
  const executionLogGroup = new logs.LogGroup(scope, "ApiExecutionLogs", {
    logGroupName: `API-Gateway-Execution-Logs_${api.restApiId}/${API_STAGE_NAME}`,
    retention: settings.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  api.deploymentStage.node.addDependency(executionLogGroup);
  const domainName =
    domain === undefined
      ? undefined
      : api.addDomainName("CustomDomain", {
          domainName: domain.domainName,
          certificate: domain.certificate,
          endpointType: apigw.EndpointType.REGIONAL,
          securityPolicy: apigw.SecurityPolicy.TLS_1_2,
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

  const pathValidator = new apigw.RequestValidator(scope, "PathValidator", {
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
  return { api, accessLogGroup, executionLogGroup, ...(domainName ? { domainName } : {}) };
}

/** A per-source-IP rate limit in front of the stage; undefined when `waf` is false. */
export function buildWebAcl(
  scope: Construct,
  settings: RelaySettings,
  api: apigw.RestApi,
): wafv2.CfnWebACL | undefined {
  if (settings.waf) {
    const metricPrefix = Names.uniqueId(scope).slice(-200);
    const webAcl = new wafv2.CfnWebACL(scope, "WebAcl", {
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
    new wafv2.CfnWebACLAssociation(scope, "WebAclAssociation", {
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
