// The chaos run's kill points at the network edge: the classifier tells the ledger's claim, a
// transition and a release, an enqueue and an OPS-COM delete apart by target and body, and a
// fate destroys requests unsent ("before") or dies when an answer arrives ("after"), against a
// tiny local server that records what reached it.
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyRequest, Fate, type KillSwitch, startKillSwitch } from "../bench/chaos-edge";

const OPSCOM = "http://127.0.0.1:4010/base";
const dynamo = (operation: string, body: unknown) => ({
  host: "127.0.0.1:8000",
  path: "/",
  target: `DynamoDB_20120810.${operation}`,
  body: JSON.stringify(body),
});

describe("classifyRequest", () => {
  it("tells the ledger's writes apart by their expression values", () => {
    const claim = { ExpressionAttributeValues: { ":bodyHash": { S: "ab" }, ":claimId": { S: "c" } } };
    expect(classifyRequest(dynamo("UpdateItem", claim), OPSCOM)).toBe("claim");
    const settle = {
      ExpressionAttributeValues: { ":state": { S: "deleted" }, ":from0": { S: "in_progress" } },
    };
    expect(classifyRequest(dynamo("UpdateItem", settle), OPSCOM)).toBe("ledger update");
    expect(classifyRequest(dynamo("DeleteItem", { Key: {} }), OPSCOM)).toBe("release");
    expect(classifyRequest(dynamo("GetItem", { Key: {} }), OPSCOM)).toBe("ledger read");
    expect(classifyRequest(dynamo("Query", {}), OPSCOM)).toBe("ledger read");
    expect(classifyRequest(dynamo("UpdateItem", "not json"), OPSCOM)).toBe("other");
  });

  it("tells an enqueue from the worker's other queue calls, and OPS-COM by host and path", () => {
    const aws = (target: string) => ({ host: "127.0.0.1:9324", path: "/", target, body: "{}" });
    expect(classifyRequest(aws("AmazonSQS.SendMessage"), OPSCOM)).toBe("enqueue");
    expect(classifyRequest(aws("AmazonSQS.ChangeMessageVisibility"), OPSCOM)).toBe("queue");
    expect(classifyRequest(aws("secretsmanager.GetSecretValue"), OPSCOM)).toBe("secret read");
    const post = (host: string, path: string) => ({ host, path, body: "{}" });
    expect(classifyRequest(post("127.0.0.1:4010", "/base/api/OC-TOMA/v1/permits/delete"), OPSCOM)).toBe(
      "opscom delete",
    );
    expect(classifyRequest(post("127.0.0.1:4011", "/base/api/OC-TOMA/v1/permits/delete"), OPSCOM)).toBe(
      "other",
    );
    expect(classifyRequest(post("127.0.0.1:4010", "/base/api/OC-TOMA/v1/permits/push"), OPSCOM)).toBe(
      "other",
    );
  });
});

describe("a fate at the network edge", () => {
  let server: Server;
  let port: number;
  let kill: KillSwitch;
  /** What reached the server, as "<target or path>". */
  const received: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        received.push(String(req.headers["x-amz-target"] ?? req.url));
        res.end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
    kill = startKillSwitch(`http://127.0.0.1:${port}`);
  });
  afterAll(async () => {
    kill.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** One request, answered "answered" or failed with the error's name. */
  const send = (target: string | undefined, body: unknown, path = "/") =>
    new Promise<string>((resolve) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path,
          headers: target ? { "x-amz-target": target } : {},
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve("answered"));
        },
      );
      req.on("error", (error) => resolve(error.name));
      req.end(JSON.stringify(body));
    });
  const claim = () =>
    send("DynamoDB_20120810.UpdateItem", { ExpressionAttributeValues: { ":bodyHash": {} } });
  const settle = () => send("DynamoDB_20120810.UpdateItem", { ExpressionAttributeValues: { ":state": {} } });
  const opscomDelete = () => send(undefined, {}, "/api/OC-TOMA/v1/permits/delete");

  it("leaves requests alone outside a fate, and under a fate with another site", async () => {
    received.length = 0;
    expect(await claim()).toBe("answered");
    const fate = new Fate("after enqueue");
    expect(await kill.run(fate, async () => [await claim(), await settle(), await opscomDelete()])).toEqual([
      "answered",
      "answered",
      "answered",
    ]);
    expect(fate.dead).toBe(false);
    expect(received).toHaveLength(4);
  });

  it("before X: destroys X's request unsent, and every later one of the fate", async () => {
    received.length = 0;
    const fate = new Fate("before claim");
    const before = kill.kills["before claim"] ?? 0;
    const answers = await kill.run(fate, async () => [await claim(), await settle()]);
    expect(answers).toEqual(["Killed", "Killed"]);
    expect(fate.dead).toBe(true);
    expect(received).toEqual([]);
    expect(kill.kills["before claim"]).toBe(before + 1);
    // Another invocation is not touched by this one's fate.
    expect(await kill.run(new Fate(), claim)).toBe("answered");
  });

  it("after X: X happens, the fate dies with its answer, and nothing after it is sent", async () => {
    received.length = 0;
    const fate = new Fate("after OPS-COM answered");
    let diedBeforeSettle: boolean | undefined;
    const answers = await kill.run(fate, async () => {
      const first = [await claim(), await opscomDelete()];
      diedBeforeSettle = fate.dead;
      return [...first, await settle()];
    });
    expect(answers).toEqual(["answered", "answered", "Killed"]);
    expect(diedBeforeSettle).toBe(true);
    await fate.died;
    expect(received).toEqual(["DynamoDB_20120810.UpdateItem", "/api/OC-TOMA/v1/permits/delete"]);
    expect(kill.kills["after OPS-COM answered"]).toBe(1);
    expect(kill.requests["opscom delete"]).toBeGreaterThan(0);
  });
});
