// A fault proxy in front of dynalite: the real DynamoDB client talks to it through
// AWS_ENDPOINT_URL_DYNAMODB, and it passes each request on unchanged unless the caller's
// `decide` picks a fault for it. The faults are the partial failures a plain endpoint never
// shows: a write applied whose answer is lost, throttling, and a request accepted but never
// answered. Which request gets which fault is the caller's policy (the chaos run's), so this
// file only knows how to inflict each one.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type DynamoFault =
  /** Passed on and applied, then the connection is reset instead of answered, so the SDK retries it. */
  | { readonly kind: "lose-response" }
  /** Answered `ProvisionedThroughputExceededException` without reaching the table. */
  | { readonly kind: "throttle" }
  /** Accepted and never answered; the connection is reset after `holdMs` of wall time (or on close). */
  | { readonly kind: "stall"; readonly holdMs: number };

export interface DynamoRequest {
  /** The operation from `X-Amz-Target`, e.g. "UpdateItem". */
  readonly operation: string;
  /** The request's JSON body (`{}` when it does not parse). */
  readonly input: Record<string, unknown>;
}

export interface DynamoFaultProxy {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Requests whose fault was inflicted, by kind. */
  injected(): Record<DynamoFault["kind"], number>;
  /** Closes the proxy, every held connection and its pool to the table. */
  close(): Promise<void>;
}

const THROTTLED = JSON.stringify({
  __type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
  message: "The level of configured provisioned throughput for the table was exceeded.",
});

export async function startDynamoFaultProxy(options: {
  /** dynalite's endpoint, e.g. http://127.0.0.1:4567 */
  readonly target: string;
  readonly decide: (request: DynamoRequest) => DynamoFault | undefined;
}): Promise<DynamoFaultProxy> {
  const target = new URL(options.target);
  const agent = new http.Agent({ keepAlive: true });
  const injected = { "lose-response": 0, throttle: 0, stall: 0 };
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", () => res.destroy());
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const operation = String(req.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
      const fault = options.decide({ operation, input: parseObject(body.toString("utf8")) });
      if (fault) injected[fault.kind] += 1;
      if (fault?.kind === "throttle") {
        res.writeHead(400, {
          "content-type": "application/x-amz-json-1.0",
          "content-length": Buffer.byteLength(THROTTLED),
        });
        res.end(THROTTLED);
        return;
      }
      if (fault?.kind === "stall") {
        const timer = setTimeout(() => {
          timers.delete(timer);
          req.socket.resetAndDestroy();
        }, fault.holdMs);
        timers.add(timer);
        return;
      }
      forward(req, body, (status, headers, answer) => {
        // The table has applied the write; the client never hears so.
        if (fault?.kind === "lose-response") {
          req.socket.resetAndDestroy();
          return;
        }
        res.writeHead(status, headers);
        res.end(answer);
      }).catch(() => res.destroy());
    });
  });

  function forward(
    req: http.IncomingMessage,
    body: Buffer,
    reply: (status: number, headers: http.IncomingHttpHeaders, answer: Buffer) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        {
          agent,
          hostname: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on("data", (chunk: Buffer) => parts.push(chunk));
          answer.on("error", reject);
          answer.on("end", () => {
            reply(answer.statusCode ?? 502, answer.headers, Buffer.concat(parts));
            resolve();
          });
        },
      );
      upstream.on("error", reject);
      upstream.end(body);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected: () => ({ ...injected }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return closing;
    },
  };
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
