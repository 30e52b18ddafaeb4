// What AWS charges, as the cost model (bench/cost.ts) uses it: one region, list prices, no
// free tier (a platform team's account has usually spent it elsewhere), first volume tier.
// Each price names the page it comes from and whether it was checked against that page or a
// copy of it when the table was written; a wrong figure here moves every figure in the README,
// so change the date when you change a price.

export const PRICE_TABLE_DATE = "2026-07";
export const PRICE_REGION = "us-east-1";

export interface Price {
  readonly usd: number;
  /** What one `usd` buys. */
  readonly per: string;
  readonly source: string;
  /** False when the figure could not be confirmed against the source (or a copy of it) when written. */
  readonly confirmed: boolean;
}

const price = (usd: number, per: string, source: string, confirmed: boolean): Price => ({
  usd,
  per,
  source,
  confirmed,
});

export const PRICES = {
  apiGatewayRestRequest: price(
    3.5 / 1e6,
    "REST API request (first 333 million a month)",
    "https://aws.amazon.com/api-gateway/pricing/",
    true,
  ),
  wafRequest: price(0.6 / 1e6, "request inspected by a web ACL", "https://aws.amazon.com/waf/pricing/", true),
  lambdaRequest: price(0.2 / 1e6, "invocation", "https://aws.amazon.com/lambda/pricing/", true),
  /** arm64 (the stack's architecture), first 7.5 billion GB-s a month. */
  lambdaArmGbSecond: price(0.0000133334, "GB-second, arm64", "https://aws.amazon.com/lambda/pricing/", true),
  lambdaX86GbSecond: price(0.0000166667, "GB-second, x86_64", "https://aws.amazon.com/lambda/pricing/", true),
  /** On-demand capacity, after the November 2024 price cut. */
  dynamoWriteRequestUnit: price(
    0.625 / 1e6,
    "on-demand write request unit (1 KB)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    true,
  ),
  dynamoReadRequestUnit: price(
    0.125 / 1e6,
    "on-demand read request unit (4 KB strongly consistent, 8 KB eventually)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    true,
  ),
  dynamoStorageGbMonth: price(
    0.25,
    "GB-month of table and index storage (Standard table class)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    false,
  ),
  dynamoPitrGbMonth: price(
    0.2,
    "GB-month of continuous backup (point-in-time recovery)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    false,
  ),
  secretsManagerCall: price(
    0.05 / 10_000,
    "API call",
    "https://aws.amazon.com/secrets-manager/pricing/",
    true,
  ),
  sqsRequest: price(
    0.4 / 1e6,
    "standard queue request (each 64 KB chunk of a payload is one)",
    "https://aws.amazon.com/sqs/pricing/",
    true,
  ),
  logsIngestedGb: price(
    0.5,
    "GB ingested, Standard log class (Lambda logs: first 10 TB tier)",
    "https://aws.amazon.com/cloudwatch/pricing/",
    true,
  ),
  xrayTraceRecorded: price(5 / 1e6, "trace recorded", "https://aws.amazon.com/xray/pricing/", true),
} as const satisfies Record<string, Price>;

export type PriceKey = keyof typeof PRICES;
