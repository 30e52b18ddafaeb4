// The deployable stack: reads its CDK context (./context.ts, which names the key in every
// error) and composes one PermitDeleteRelay. Context keys and defaults: docs/deploy.md.
import { Annotations, CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import { readRelayContext } from "./context";
import { PermitDeleteRelay } from "./permit-delete-relay";

export {
  PLACEHOLDER_CLIENT_CODE,
  PLACEHOLDER_VENDORS,
  type RelayContext,
  readRelayContext,
} from "./context";

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
      cloudWatchRole: context.cloudWatchRole,
      ...(context.domain === undefined
        ? {}
        : {
            domain: {
              domainName: context.domain.domainName,
              certificate: acm.Certificate.fromCertificateArn(
                this,
                "Certificate",
                context.domain.certificateArn,
              ),
            },
          }),
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
    // With a custom domain, vendors hold a URL that no redeploy changes.
    const baseUrl =
      context.domain === undefined ? this.relay.api.url : `https://${context.domain.domainName}/`;
    output(
      "WebhookUrl",
      `${baseUrl}webhooks/{vendorId}`,
      "Where vendors post (replace {vendorId} with the vendor's id)",
    );
    if (this.relay.domainName !== undefined) {
      output(
        "CustomDomainTarget",
        this.relay.domainName.domainNameAliasDomainName,
        "Point a DNS CNAME (or a Route 53 alias) for the custom domain at this name",
      );
    }
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
