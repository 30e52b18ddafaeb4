// The figures issues 6 and 13 ask for, their targets, and the table `npm run bench` prints.

export const TARGETS = {
  ingestBundleBytes: { at: "most", limit: 500_000 },
  coldStartRatio: { at: "most", limit: 1.2 },
  throughputRatio: { at: "least", limit: 0.8 },
  handlerMicrosP50: { at: "most", limit: 100 },
  handlerMicrosP99: { at: "most", limit: 500 },
  peakRssMiB: { at: "most", limit: 100 },
  secretsCallsPer10k: { at: "most", limit: 2 },
  opscomConnectionsPer1k: { at: "most", limit: 2 },
  costRatioToFloor: { at: "most", limit: 1.5 },
} as const satisfies Record<string, { at: "most" | "least"; limit: number }>;

export type ResultKey = keyof typeof TARGETS;
/**
 * Exactly what bench/results.json holds: the judged figures, and the cost per million webhooks
 * (everything delivered), which has no target of its own: its ratio to the floor has.
 */
export type Results = Record<ResultKey, number> & { readonly costPerMillionUsd: number };

export interface Verdict {
  readonly key: ResultKey;
  readonly value: number;
  readonly target: string;
  readonly pass: boolean;
}

export function verdicts(results: Results): Verdict[] {
  return (Object.keys(TARGETS) as ResultKey[]).map((key) => {
    const { at, limit } = TARGETS[key];
    const value = results[key];
    return {
      key,
      value,
      target: `${at === "most" ? "≤" : "≥"} ${limit}`,
      pass: Number.isFinite(value) && (at === "most" ? value <= limit : value >= limit),
    };
  });
}

export function formatTable(rows: readonly Verdict[]): string {
  const cells = [
    ["key", "value", "target", "result"],
    ...rows.map((r) => [r.key, String(r.value), r.target, r.pass ? "pass" : "MISS"]),
  ];
  const widths = [0, 1, 2, 3].map((col) => Math.max(...cells.map((row) => (row[col] as string).length)));
  const line = (row: string[]) =>
    row
      .map((cell, col) =>
        col === 1 ? cell.padStart(widths[col] as number) : cell.padEnd(widths[col] as number),
      )
      .join("  ");
  return [
    line(cells[0] as string[]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.slice(1).map(line),
  ].join("\n");
}
