// The throughput floor: the least an HTTP relay could do per webhook. Read the body, parse
// the JSON, post its reference ID with the token to OPS-COM over a keep-alive agent (as many
// sockets as the relay's client may open), answer with OPS-COM's status and body. No
// signature, no ledger, no logs, no metrics.
import http from "node:http";
import type { AddressInfo } from "node:net";

const sandbox = new URL(process.env.BENCH_SANDBOX_URL as string);
const token = process.env.BENCH_OPSCOM_TOKEN as string;
const deletePath = `/api/${process.env.BENCH_CLIENT_CODE}/v1/permits/delete`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    let referenceID: unknown;
    try {
      referenceID = (JSON.parse(Buffer.concat(chunks).toString()) as { data?: { referenceID?: unknown } })
        .data?.referenceID;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const payload = JSON.stringify({ apiToken: token, referenceID });
    const upstream = http.request(
      {
        agent,
        hostname: sandbox.hostname,
        port: sandbox.port,
        method: "POST",
        path: deletePath,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (answer) => {
        const parts: Buffer[] = [];
        answer.on("data", (part: Buffer) => parts.push(part));
        answer.on("end", () => {
          res.writeHead(answer.statusCode ?? 502, { "content-type": "application/json" });
          res.end(Buffer.concat(parts));
        });
      },
    );
    upstream.on("error", () => res.writeHead(502).end());
    upstream.end(payload);
  });
});

server.listen(0, "127.0.0.1", () => {
  process.send?.({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
process.on("disconnect", () => process.exit(0));
