// Builders for the three event shapes the ingest handler accepts. Tests describe the request;
// the builders know where API Gateway puts each part.
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from "aws-lambda";

export interface RequestSpec {
  readonly vendorId?: string;
  readonly path?: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  readonly base64?: boolean;
  readonly sourceIp?: string;
}

function bodyOf(spec: RequestSpec): { body: string; isBase64Encoded: boolean } {
  const raw = spec.body ?? "";
  const base64 = spec.base64 ?? Buffer.isBuffer(raw);
  return {
    body: base64 ? Buffer.from(raw).toString("base64") : raw.toString(),
    isBase64Encoded: base64,
  };
}

/** API Gateway REST proxy (payload v1): header names keep the sender's case. */
export function restEvent(spec: RequestSpec): APIGatewayProxyEvent {
  const vendorId = spec.vendorId ?? "acme";
  return {
    resource: "/webhooks/{vendorId}",
    path: spec.path ?? `/webhooks/${vendorId}`,
    httpMethod: spec.method ?? "POST",
    headers: spec.headers ?? {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: spec.path ? null : { vendorId },
    stageVariables: null,
    ...bodyOf(spec),
    requestContext: {
      identity: { sourceIp: spec.sourceIp ?? "198.51.100.7" },
    } as APIGatewayProxyEvent["requestContext"],
  };
}

/** HTTP API (payload v2): header names arrive in lower case. */
export function httpApiEvent(spec: RequestSpec): APIGatewayProxyEventV2 {
  const vendorId = spec.vendorId ?? "acme";
  const path = spec.path ?? `/webhooks/${vendorId}`;
  return {
    version: "2.0",
    routeKey: "POST /webhooks/{vendorId}",
    rawPath: path,
    rawQueryString: "",
    headers: Object.fromEntries(Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    pathParameters: spec.path ? undefined : { vendorId },
    ...bodyOf(spec),
    requestContext: {
      http: {
        method: spec.method ?? "POST",
        path,
        protocol: "HTTP/1.1",
        sourceIp: spec.sourceIp ?? "198.51.100.7",
        userAgent: "test",
      },
    } as APIGatewayProxyEventV2["requestContext"],
  };
}

/** Lambda function URL: like v2 but with no route, so the vendor comes from the raw path. */
export function functionUrlEvent(spec: RequestSpec): APIGatewayProxyEventV2 {
  const event = httpApiEvent(spec);
  const { pathParameters: _unused, ...rest } = event;
  return { ...rest, routeKey: "$default" };
}
