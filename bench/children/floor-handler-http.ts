// The floor of bench/children/floor-handler.ts, posting with node:http instead of fetch: the
// module the relay's OPS-COM client and the AWS SDK use, already loaded at start-up, where
// fetch loads undici on its first call. The stricter of the two cold-start comparisons.
import http from "node:http";
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
  const answer = await post(
    JSON.stringify({ apiToken: secret.SecretString, referenceID: body.data.referenceID }),
  );
  const deleted = (JSON.parse(answer) as { status?: string }).status === "success";
  return {
    statusCode: deleted ? 200 : 502,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ status: deleted ? "deleted" : "error" }),
  };
}

function post(payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      deleteUrl,
      { method: "POST", headers: { "content-type": "application/json" } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve(Buffer.concat(chunks).toString()));
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}
