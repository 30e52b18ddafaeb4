/**
 * Secrets Manager as far as the relay uses it: GetSecretValue over the JSON protocol, and secrets
 * put in-process by the test or harness that owns the endpoint (a new value becomes AWSCURRENT,
 * as a rotation would make it).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { ACCOUNT_ID, AwsError, type Clock, epochSeconds, type Json, Params, REGION } from "./protocol";

export const SECRETS_MANAGER_OPERATIONS = ["GetSecretValue"] as const;

const SECRET_ARN_PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:`;

interface Secret {
  readonly name: string;
  readonly arn: string;
  versionId: string;
  secretString: string;
  versionCreatedAt: number;
}

export class SecretsManagerService {
  private readonly secrets = new Map<string, Secret>();
  /** For each GetSecretValue request, every identifier it could be counted under. */
  private readonly getCalls: Array<ReadonlySet<string>> = [];

  constructor(private readonly now: Clock) {}

  putSecret(name: string, secretString: string): string {
    const existing = this.secrets.get(name);
    const secret = existing ?? { name, arn: `${SECRET_ARN_PREFIX}${name}-${arnSuffix()}` };
    this.secrets.set(name, {
      ...secret,
      versionId: randomUUID(),
      secretString,
      versionCreatedAt: this.now(),
    });
    return secret.arn;
  }

  deleteSecret(nameOrArn: string): void {
    const secret = this.find(nameOrArn);
    if (secret) this.secrets.delete(secret.name);
  }

  getSecretValueCalls(nameOrArn?: string): number {
    if (nameOrArn === undefined) return this.getCalls.length;
    const secret = this.find(nameOrArn);
    const keys = secret ? [secret.name, secret.arn] : [nameOrArn];
    return this.getCalls.filter((ids) => keys.some((key) => ids.has(key))).length;
  }

  /** Counts a GetSecretValue request under every identifier its secret goes by. */
  recordGetSecretValue(input: Json): void {
    const secretId = typeof input.SecretId === "string" ? input.SecretId : "";
    const found = this.find(secretId);
    this.getCalls.push(new Set([secretId, ...(found ? [found.name, found.arn] : [])]));
  }

  handle(operation: string, input: Json): Json {
    if (operation !== "GetSecretValue") {
      throw new AwsError("UnknownOperationException", `Operation ${operation} is not supported locally.`);
    }
    const params = new Params(input, "InvalidParameterException", "InvalidParameterException");
    const secretId = params.string("SecretId");
    this.recordGetSecretValue(input);
    const secret = this.find(secretId);
    if (!secret) {
      throw new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: secret.versionId,
      SecretString: secret.secretString,
      VersionStages: ["AWSCURRENT"],
      CreatedDate: epochSeconds(secret.versionCreatedAt),
    };
  }

  /** A secret by name, full ARN, or partial ARN (the ARN without its random six-character suffix). */
  private find(secretId: string): Secret | undefined {
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    if (!secretId.startsWith(SECRET_ARN_PREFIX)) return undefined;
    return [...this.secrets.values()].find(
      (secret) => secret.arn === secretId || `${SECRET_ARN_PREFIX}${secret.name}` === secretId,
    );
  }
}

/** Secrets Manager appends six random characters to a secret's ARN. */
function arnSuffix(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(6)].map((byte) => alphabet[byte % alphabet.length]).join("");
}
