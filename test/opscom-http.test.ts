// The OPS-COM HTTP client over real HTTP, against small servers that misbehave the ways the
// sandbox does not: echoing the request's token back, and forgetting a kept-alive socket.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createOpscomHttpClient, IDLE_SOCKET_TIMEOUT_MS } from "../lambda/adapters/opscom-http";
import type { OpscomOutcome } from "../lambda/ports";

const CLIENT_CODE = "OC-TOMA";
const REF = "1a9b5375-cb75-4c71-9939-eeae550b09ac";

/** A token in OPS-COM's shape: 50 letters, digits and dashes. */
function newToken(): string {
  return randomBytes(40).toString("base64url").replace(/_/g, "x").slice(0, 50);
}

interface Exchange {
  readonly body: string;
  readonly token: string;
  /** 1 for the first request on its TCP connection, 2 for the second, and so on. */
  readonly nthOnSocket: number;
}

interface TestServer {
  readonly url: string;
  readonly connections: number;
  readonly requests: number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const clients: { close(): void }[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(
  answer: (req: http.IncomingMessage, res: http.ServerResponse, exchange: Exchange) => void,
): Promise<TestServer> {
  let connections = 0;
  let requests = 0;
  const perSocket = new WeakMap<object, number>();
  const server = http.createServer((req, res) => {
    requests += 1;
    const nthOnSocket = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, nthOnSocket);
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const token = String((JSON.parse(body) as { apiToken?: unknown }).apiToken ?? "");
      answer(req, res, { body, token, nthOnSocket });
    });
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

function client(server: TestServer, timeoutMs = 2000) {
  const opscom = createOpscomHttpClient({ baseUrl: server.url, timeoutMs });
  clients.push(opscom);
  return opscom;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** True when any 8 consecutive characters of the token appear in the outcome. */
function leaksToken(outcome: OpscomOutcome, token: string): boolean {
  const text = JSON.stringify(outcome);
  for (let i = 0; i + 8 <= token.length; i += 1) {
    if (text.includes(token.slice(i, i + 8))) return true;
  }
  return false;
}

describe("an OPS-COM answer that echoes the request's token", () => {
  it.each([
    [400, 9033, "rejected"],
    [404, 9009, "not_found"],
    [401, 9002, "token_rejected"],
  ])(
    "HTTP %d with ErrorCode %d: the %s outcome keeps the message, not the token",
    async (status, code, kind) => {
      const server = await serve((_req, res, { body, token }) =>
        json(res, status, {
          ErrorCode: code,
          ErrorMessage: `Refused ${body} (token ${token.toUpperCase()})`,
        }),
      );
      const token = newToken();
      const outcome = await client(server).deletePermit({ clientCode: CLIENT_CODE, token, referenceId: REF });
      expect(outcome).toMatchObject({ kind, code, message: expect.stringContaining("Refused") });
      expect(outcome).toMatchObject({ message: expect.stringContaining(REF) });
      expect(outcome).toMatchObject({ message: expect.stringContaining("[redacted]") });
      expect(leaksToken(outcome, token)).toBe(false);
    },
  );

  it("a token that straddles the 300-character cut leaves no fragment behind", async () => {
    const server = await serve((_req, res, { token }) =>
      json(res, 400, { ErrorCode: 9033, ErrorMessage: `${"x".repeat(290)}${token} and more` }),
    );
    const token = newToken();
    const outcome = await client(server).deletePermit({ clientCode: CLIENT_CODE, token, referenceId: REF });
    expect(outcome).toMatchObject({ kind: "rejected", message: `${"x".repeat(290)}[redacted]` });
    expect(leaksToken(outcome, token)).toBe(false);
  });

  it("an HTML page that echoes the token is parked with its title, and the token redacted", async () => {
    const server = await serve((_req, res, { body, token }) => {
      const page = `<html><head><title>Blocked ${token}</title></head><body><pre>${body}</pre></body></html>`;
      res.writeHead(403, { "content-type": "text/html" });
      res.end(page);
    });
    const token = newToken();
    const outcome = await client(server).deletePermit({ clientCode: CLIENT_CODE, token, referenceId: REF });
    expect(outcome).toEqual({
      kind: "transient",
      reason: 'HTTP 403 answer OPS-COM did not write: "Blocked [redacted]"',
      httpStatus: 403,
      unrecognised: true,
    });
    expect(leaksToken(outcome, token)).toBe(false);
  });
});

describe("a kept-alive socket the peer or a NAT forgot", () => {
  const success = (res: http.ServerResponse) => json(res, 200, { status: "success", reference_id: REF });
  const request = { clientCode: CLIENT_CODE, token: newToken(), referenceId: REF };
  // Lets the agent take the first exchange's socket back into its pool before the next request.
  const pooled = () => new Promise((resolve) => setImmediate(resolve));

  it("a reused socket reset before any answer byte is retried once, at once, on a fresh connection", async () => {
    let resets = 0;
    const server = await serve((req, res, { nthOnSocket }) => {
      if (nthOnSocket === 1) return success(res);
      resets += 1;
      req.socket.resetAndDestroy();
    });
    const opscom = client(server);
    expect(await opscom.deletePermit(request)).toEqual({ kind: "deleted", httpStatus: 200 });
    await pooled();
    expect(await opscom.deletePermit(request)).toEqual({ kind: "deleted", httpStatus: 200 });
    expect({ resets, requests: server.requests, connections: server.connections }).toEqual({
      resets: 1,
      requests: 3,
      connections: 2,
    });
  });

  it("a fresh socket that is reset is transient, with no retry", async () => {
    const server = await serve((req) => req.socket.resetAndDestroy());
    const outcome = await client(server).deletePermit(request);
    expect(outcome).toEqual({ kind: "transient", reason: "network error ECONNRESET" });
    expect(server.requests).toBe(1);
  });

  it("a reused socket reset, then its fresh retry reset too, is transient after exactly one retry", async () => {
    const server = await serve((req, res) =>
      server.requests === 1 ? success(res) : req.socket.resetAndDestroy(),
    );
    const opscom = client(server);
    await opscom.deletePermit(request);
    await pooled();
    const outcome = await opscom.deletePermit(request);
    expect(outcome).toEqual({ kind: "transient", reason: "network error ECONNRESET" });
    expect({ requests: server.requests, connections: server.connections }).toEqual({
      requests: 3,
      connections: 2,
    });
  });

  it.each([
    [
      "part of a status line",
      (req: http.IncomingMessage) => req.socket.write("HTTP/1.1 20", () => req.socket.destroy()),
    ],
    [
      "headers and part of a body",
      (req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": 100 });
        res.write('{"status":"suc', () => req.socket.destroy());
      },
    ],
  ])("a reused socket that fails after %s is not retried: OPS-COM may have acted", async (_what, fail) => {
    const server = await serve((req, res, { nthOnSocket }) =>
      nthOnSocket === 1 ? success(res) : fail(req, res),
    );
    const opscom = client(server);
    await opscom.deletePermit(request);
    await pooled();
    expect(await opscom.deletePermit(request)).toMatchObject({ kind: "transient" });
    expect({ requests: server.requests, connections: server.connections }).toEqual({
      requests: 2,
      connections: 1,
    });
  });

  it("the fresh retry shares the attempt's deadline", async () => {
    const server = await serve((req, res, { nthOnSocket }) => {
      if (server.connections === 1) return nthOnSocket === 1 ? success(res) : req.socket.resetAndDestroy();
      // The fresh connection never answers.
    });
    const opscom = client(server, 300);
    await opscom.deletePermit(request);
    await pooled();
    const started = performance.now();
    expect(await opscom.deletePermit(request)).toEqual({ kind: "transient", reason: "timeout after 300 ms" });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(server.requests).toBe(3);
  });

  it("closes a socket left idle for the agent's idle timeout, which stays under NAT idle timeouts", async () => {
    expect(IDLE_SOCKET_TIMEOUT_MS).toBeLessThan(350_000);
    let closed = false;
    const server = await serve((req, res) => {
      req.socket.on("close", () => {
        closed = true;
      });
      success(res);
    });
    const opscom = createOpscomHttpClient({ baseUrl: server.url, timeoutMs: 2000, idleSocketTimeoutMs: 100 });
    clients.push(opscom);
    await opscom.deletePermit(request);
    await vi.waitFor(() => expect(closed).toBe(true), { timeout: 2000, interval: 20 });
  });
});
