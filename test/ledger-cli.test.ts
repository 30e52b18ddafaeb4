// npm run ledger (bin/ledger.ts), the on-call CLI, as a child process reading a ledger table on
// dynalite through the real SDK client.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import { type LedgerTables, startLedgerTables } from "../testkit/dynalite";
import { claimOf, iso, T0 } from "../testkit/ledger";

const ROOT = resolve(__dirname, "..");

let tables: LedgerTables;

beforeAll(async () => {
  tables = await startLedgerTables("ledger-cli");
});

afterAll(async () => {
  await tables?.close();
});

describe("npm run ledger (bin/ledger.ts)", () => {
  let table: string;
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      // Asynchronous: dynalite answers from this process's event loop.
      execFile(
        process.execPath,
        ["--import", "tsx", "bin/ledger.ts", ...args],
        {
          cwd: ROOT,
          env: { ...process.env, LEDGER_TABLE_NAME: table, ...env },
          timeout: 20_000,
        },
        (error, stdout, stderr) => done({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    table = await tables.fresh();
    const ledger = createDynamoLedger(table);
    await ledger.claim(claimOf({ vendorId: "acme", webhookId: "msg_a", referenceId: "ref-R", now: T0 }));
    await ledger.transition(
      { vendorId: "acme", webhookId: "msg_a" },
      { from: ["in_progress"] },
      { state: "queued", now: T0 + 5, attempts: 1, lastError: "OPS-COM answered 503" },
    );
    await ledger.claim(
      claimOf({ vendorId: "beta", webhookId: "msg_b", referenceId: "ref-R", now: T0 + 60_000 }),
    );
    await ledger.transition(
      { vendorId: "beta", webhookId: "msg_b" },
      { from: ["in_progress"] },
      { state: "deleted", now: T0 + 60_100, attempts: 1 },
    );
  });

  it("prints one webhook's record as a table", async () => {
    const { code, stdout } = await run(["--webhook", "acme/msg_a"]);
    expect(code).toBe(0);
    const [header, row, ...rest] = stdout.trimEnd().split("\n");
    expect(header).toMatch(/^created\s+updated\s+vendor\/webhook\s+reference\s+state\s+attempts/);
    expect(row).toContain(iso(T0));
    expect(row).toMatch(/acme\/msg_a\s+ref-R\s+queued\s+1\s/);
    expect(row).toMatch(/OPS-COM answered 503$/);
    expect(rest).toEqual([]);
  });

  it("prints a reference's history oldest first, as JSON with --json", async () => {
    const { code, stdout } = await run(["--reference", "ref-R", "--json"]);
    expect(code).toBe(0);
    const records = JSON.parse(stdout) as Array<{ vendorId: string; state: string }>;
    expect(records.map((r) => `${r.vendorId}:${r.state}`)).toEqual(["acme:queued", "beta:deleted"]);
  });

  it("reads the table named by --table over LEDGER_TABLE_NAME", async () => {
    const { code, stdout } = await run(["--reference", "ref-R", "--table", table], {
      LEDGER_TABLE_NAME: "elsewhere",
    });
    expect(code).toBe(0);
    expect(stdout.trimEnd().split("\n")).toHaveLength(3);
  });

  it("exits 1 with a message when there is no record", async () => {
    const { code, stdout, stderr } = await run(["--webhook", "acme/unknown"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("no record for webhook acme/unknown");
  });

  it.each([
    { args: [], complaint: "exactly one of --webhook or --reference" },
    {
      args: ["--webhook", "acme/x", "--reference", "R"],
      complaint: "exactly one of --webhook or --reference",
    },
    { args: ["--webhook", "acme"], complaint: "--webhook takes <vendorId>/<webhookId>" },
    { args: ["--refrence", "R"], complaint: "Unknown option '--refrence'" },
  ])("exits 2 on bad arguments: $args", async ({ args, complaint }) => {
    const { code, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stderr).toContain(complaint);
    expect(stderr).toContain("usage: npm run ledger");
  });

  it("exits 2 when no table is named", async () => {
    const { code, stderr } = await run(["--reference", "R"], { LEDGER_TABLE_NAME: "" });
    expect(code).toBe(2);
    expect(stderr).toContain("LEDGER_TABLE_NAME");
  });

  it("exits 3 naming the table when it cannot be read", async () => {
    const { code, stderr } = await run(["--reference", "R", "--table", "missing-table"]);
    expect(code).toBe(3);
    expect(stderr).toContain("could not read table missing-table: ResourceNotFoundException");
  });
});
