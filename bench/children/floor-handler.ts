// The cold-start floor: the least any relay could do with one webhook. It reads the OPS-COM
// token with the Secrets Manager client (created at module scope, as the relay's is) and
// posts the reference ID with fetch. No signature check, no ledger, no logs, no metrics.
// Bundled with the relay's options and run with the relay's environment, so the ratio
// between the two is what the relay's own work costs.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";

const client = new SecretsManagerClient({});
const deleteUrl = `${process.env.OPSCOM_BASE_URL}/api/${process.env.OPSCOM_CLIENT_CODE}/v1/permits/delete`;

export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const secret = await client.send(
    new GetSecretValueCommand({ SecretId: process.env.OPSCOM_TOKEN_SECRET_ID }),
  );
  const text = event.isBase64Encoded
    ? Buffer.from(event.body ?? "", "base64").toString()
    : (event.body ?? "");
  const body = JSON.parse(text) as { data: { referenceID: string } };
  const response = await fetch(deleteUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ apiToken: secret.SecretString, referenceID: body.data.referenceID }),
  });
  const answer = (await response.json()) as { status?: string };
  const deleted = answer.status === "success";
  return {
    statusCode: deleted ? 200 : 502,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ status: deleted ? "deleted" : "error" }),
  };
}
