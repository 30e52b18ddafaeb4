// Every command in the README's development table has a short version that CI really runs:
// a line of .ci/run, or a test file that runs the command itself. A documented command that
// nothing runs can break unnoticed (as `npm run load` once did).
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");
const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;

interface Row {
  readonly commands: string[];
  readonly shortVersions: string[];
  readonly line: string;
}

function developmentTable(): Row[] {
  const readme = read("README.md");
  const lines = readme.slice(readme.indexOf("## Development\n")).split("\n");
  const header = lines.findIndex((line) => line.startsWith("| command |"));
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const [command = "", , short = ""] = line.split("|").slice(1, -1);
    const code = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    rows.push({ commands: code(command), shortVersions: code(short), line });
  }
  return rows;
}

/** The npm script a command runs (`npm start`, `npm run send -- …` → start, send). */
function scriptOf(command: string): string | undefined {
  return /^npm (?:run )?([a-z]+)/.exec(command)?.[1];
}

describe("the README's development table", () => {
  const rows = developmentTable();
  const ci = read(".ci/run");

  it("lists the commands package.json defines", () => {
    expect(rows.length).toBeGreaterThan(8);
    const documented = new Set(rows.flatMap((row) => row.commands.map(scriptOf)));
    for (const script of [
      "start",
      "test",
      "typecheck",
      "lint",
      "send",
      "smoke",
      "ledger",
      "chaos",
      "fuzz",
      "load",
      "bench",
    ])
      expect(documented, script).toContain(script);
  });

  it.each(developmentTable().map((row) => [row.commands[0] as string, row] as const))(
    "%s has a short version that CI runs",
    (_, row) => {
      if (row.line.includes("| itself |")) {
        expect(row.commands[0]).toBe("bash .ci/run");
        return;
      }
      expect(row.shortVersions.length, row.line).toBeGreaterThan(0);
      for (const short of row.shortVersions) {
        if (short.startsWith("test/")) {
          expect(existsSync(join(ROOT, short)), short).toBe(true);
          // The test runs the documented command: through npm, or its entry point directly.
          const source = read(short);
          const runsOne = row.commands.some((command) => {
            const script = scriptOf(command);
            const entry = script ? /\b(?:bin|bench)\/[\w-]+\.ts/.exec(scripts[script] ?? "")?.[0] : undefined;
            return (
              (script !== undefined &&
                (source.includes(`npm run ${script}`) || source.includes(`["${script}"]`))) ||
              (entry !== undefined && source.includes(basename(entry)))
            );
          });
          expect(runsOne, `${short} runs none of ${row.commands.join(", ")}`).toBe(true);
        } else if (/^(npm|npx) /.test(short)) {
          expect(ci, `.ci/run does not run ${short}`).toMatch(
            // A line of its own, after any VAR=value assignments for that one command.
            new RegExp(`^(?:[A-Z_]+=\\S+ )*${short.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}( |$)`, "m"),
          );
        }
      }
    },
  );
});
