// Secrets Manager through the real SDK client. The endpoint comes from the SDK's own
// resolution, so AWS_ENDPOINT_URL_SECRETS_MANAGER points it at a local stand-in in tests.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SecretSource } from "../ports";

export function createSecretsManagerSource(client = new SecretsManagerClient({})): SecretSource {
  return {
    async getSecretString(secretId) {
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (out.SecretString !== undefined) return out.SecretString;
      if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString("utf8");
      throw new Error(`secret ${secretId} has no value`);
    },
  };
}
