// The on-call engineer's view of the ledger: what happened to one webhook, or to every webhook
// that named a reference ID.
//
//   npm run ledger -- --webhook <vendorId>/<webhookId> [--table <name>] [--json]
//   npm run ledger -- --reference <referenceID>       [--table <name>] [--json]
//
// The table defaults to LEDGER_TABLE_NAME; the SDK finds region, credentials and endpoint as
// usual (AWS_ENDPOINT_URL_DYNAMODB for a local table). Exit 0 found, 1 no record, 2 bad
// arguments, 3 the ledger could not be read.
import { parseArgs } from "node:util";
import { createDynamoLedger } from "../lambda/adapters/dynamodb-ledger";
import type { LedgerRecord } from "../lambda/ports";

const USAGE = `usage: npm run ledger -- (--webhook <vendorId>/<webhookId> | --reference <referenceID>) [--table <name>] [--json]`;

type Query =
  | { kind: "webhook"; vendorId: string; webhookId: string }
  | { kind: "reference"; referenceId: string };

/** Parses the command line; a string is the complaint to print. */
function parseCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): { query: Query; table: string; json: boolean } | string {
  let values: { webhook?: string; reference?: string; table?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        webhook: { type: "string" },
        reference: { type: "string" },
        table: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return "";
  if ((values.webhook === undefined) === (values.reference === undefined)) {
    return "give exactly one of --webhook or --reference";
  }
  const table = values.table ?? env.LEDGER_TABLE_NAME;
  if (!table) return "no table: pass --table <name> or set LEDGER_TABLE_NAME";
  const json = values.json ?? false;
  if (values.reference !== undefined) {
    if (values.reference === "") return "--reference needs a reference ID";
    return { query: { kind: "reference", referenceId: values.reference }, table, json };
  }
  const slash = (values.webhook as string).indexOf("/");
  const vendorId = (values.webhook as string).slice(0, slash);
  const webhookId = (values.webhook as string).slice(slash + 1);
  if (slash < 0 || vendorId === "" || webhookId === "")
    return "--webhook takes <vendorId>/<webhookId>, e.g. acme/msg_2x7";
  return { query: { kind: "webhook", vendorId, webhookId }, table, json };
}

const COLUMNS: ReadonlyArray<[string, (r: LedgerRecord) => string]> = [
  ["created", (r) => r.createdAt],
  ["updated", (r) => r.updatedAt],
  ["vendor/webhook", (r) => `${r.vendorId}/${r.webhookId}`],
  ["reference", (r) => r.referenceId],
  ["state", (r) => r.state],
  ["attempts", (r) => String(r.attempts)],
  ["lease until", (r) => (r.state === "in_progress" ? new Date(r.leaseUntil).toISOString() : "-")],
  ["opscom code", (r) => (r.opscomErrorCode === undefined ? "-" : String(r.opscomErrorCode))],
  ["last error", (r) => (r.lastError ?? "-").replace(/\s+/g, " ")],
];

/** A plain aligned table: the last column (the error) is left unpadded so long errors wrap naturally. */
function formatTable(records: readonly LedgerRecord[]): string {
  const rows = [COLUMNS.map(([title]) => title), ...records.map((r) => COLUMNS.map(([, cell]) => cell(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] as number))).join("  "),
    )
    .join("\n");
}

async function main(): Promise<number> {
  const parsed = parseCli(process.argv.slice(2), process.env);
  if (parsed === "") {
    console.log(USAGE);
    return 0;
  }
  if (typeof parsed === "string") {
    console.error(`ledger: ${parsed}\n${USAGE}`);
    return 2;
  }
  const { query, table, json } = parsed;
  const ledger = createDynamoLedger(table);
  let records: LedgerRecord[];
  try {
    if (query.kind === "webhook") {
      const record = await ledger.get(query);
      records = record ? [record] : [];
    } else {
      records = await ledger.byReference(query.referenceId);
    }
  } catch (error) {
    const { name, message } = error as Error;
    console.error(`ledger: could not read table ${table}: ${name}: ${message}`);
    return 3;
  }
  if (records.length === 0) {
    const what =
      query.kind === "webhook"
        ? `webhook ${query.vendorId}/${query.webhookId}`
        : `reference ID ${query.referenceId}`;
    console.error(`ledger: no record for ${what} in table ${table}`);
    return 1;
  }
  console.log(json ? JSON.stringify(records, null, 2) : formatTable(records));
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 3;
    },
  );
}
