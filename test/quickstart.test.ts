// The README's quick start, run as a new user would: `npm start`, then the banner's own
// command deletes a sandbox permit, the same command again is a duplicate, and an unsigned
// post is refused. Child processes and real sockets, nothing in-process.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
let relay: ChildProcess;
let banner = "";
let env: NodeJS.ProcessEnv;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  env = {
    ...process.env,
    RELAY_PORT: String(await freePort()),
    OPSCOM_SANDBOX_PORT: String(await freePort()),
  };
  relay = spawn("npm", ["start"], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  await new Promise<void>((resolve, reject) => {
    // From a fresh clone the first start synthesizes the stack: about 10 s on a quiet machine,
    // several times that on a loaded 2-core one.
    const timer = setTimeout(() => reject(new Error(`no banner after 150 s:\n${banner}`)), 150_000);
    relay.stdout?.on("data", (chunk: Buffer) => {
      banner += chunk.toString();
      if (banner.includes("Ctrl-C stops it.")) {
        clearTimeout(timer);
        resolve();
      }
    });
    relay.on("exit", (code) => reject(new Error(`npm start exited with ${code}:\n${banner}`)));
  });
}, 180_000);

afterAll(() => {
  if (relay.pid) process.kill(-relay.pid, "SIGTERM");
});

/** Runs a printed command as a user would, in another shell that never set the ports. */
async function sh(command: string): Promise<string> {
  const fresh = { ...env };
  delete fresh.RELAY_PORT;
  delete fresh.OPSCOM_SANDBOX_PORT;
  const { stdout } = await run("sh", ["-c", command], { env: fresh });
  return stdout;
}

describe("the quick start", () => {
  it("prints a banner with the relay, the sandbox, permits and the command to delete one", () => {
    expect(banner).toContain(`http://127.0.0.1:${env.RELAY_PORT}/webhooks/demo-vendor`);
    expect(banner).toContain(`http://127.0.0.1:${env.OPSCOM_SANDBOX_PORT}`);
    expect(banner).toMatch(/npm run send -- .*--reference [0-9a-f-]{36} --id \S+/);
  });

  it("deletes a permit with the banner's command, then answers the same command as a duplicate", async () => {
    const command = /npm run send -- .*--reference [0-9a-f-]{36} --id \S+/.exec(banner)?.[0] as string;
    const reference = /--reference (\S+)/.exec(command)?.[1];
    const first = await sh(command);
    expect(first).toContain("HTTP 200");
    expect(JSON.parse(first.slice(first.indexOf("{")))).toMatchObject({
      status: "deleted",
      referenceID: reference,
    });
    const state = (await (
      await fetch(`http://127.0.0.1:${env.OPSCOM_SANDBOX_PORT}/__sandbox/state`)
    ).json()) as {
      stats: { deletesByReference: Record<string, number> };
    };
    expect(state.stats.deletesByReference[reference as string]).toBe(1);
    const again = await sh(command);
    expect(JSON.parse(again.slice(again.indexOf("{")))).toMatchObject({ status: "deleted", duplicate: true });
  }, 30_000);

  it("refuses an unsigned post with 401", async () => {
    const curl = /curl -i -X POST .*$/m.exec(banner)?.[0] as string;
    const answer = await sh(curl);
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    expect(JSON.parse(answer.slice(answer.indexOf("{")))).toEqual({ status: "unauthorized" });
  });
});
