/**
 * What the local Secrets Manager and SQS stand-ins share: the account they pretend to be, the
 * error the JSON protocols answer with, and reading one request's input with the service's own
 * error codes.
 */
import { createHash } from "node:crypto";

export const REGION = "us-east-1";
export const ACCOUNT_ID = "000000000000";

export type Json = Record<string, unknown>;
/** Virtual time: `Date.now()` plus whatever `advanceClock` has added. */
export type Clock = () => number;

/** An error the service answers with; `code` is the modeled exception name. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

/** Reads one request's input, failing with the service's own error codes. */
export class Params {
  constructor(
    private readonly input: Json,
    private readonly invalidCode: string,
    private readonly missingCode: string,
  ) {}

  optString(key: string): string | undefined {
    const value = this.input[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw new AwsError(this.invalidCode, `${key} must be a string.`);
    return value;
  }

  string(key: string): string {
    const value = this.optString(key);
    if (value === undefined || value === "") {
      throw new AwsError(this.missingCode, `The request must contain the parameter ${key}.`);
    }
    return value;
  }

  optInt(key: string, min: number, max: number): number | undefined {
    const raw = this.input[key];
    if (raw === undefined || raw === null) return undefined;
    const value = typeof raw === "string" ? Number(raw) : raw;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new AwsError(
        this.invalidCode,
        `Value ${String(raw)} for parameter ${key} is invalid. Reason: must be between ${min} and ${max}.`,
      );
    }
    return value;
  }

  stringList(key: string): string[] {
    const value = this.input[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
      throw new AwsError(this.invalidCode, `${key} must be a list of strings.`);
    }
    return value;
  }

  objectList(key: string): Json[] {
    const value = this.input[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every(isObject)) {
      throw new AwsError(this.invalidCode, `${key} must be a list of objects.`);
    }
    return value;
  }
}

export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function md5Hex(data: string | Buffer): string {
  return createHash("md5").update(data).digest("hex");
}

export function epochSeconds(ms: number): number {
  return ms / 1000;
}
