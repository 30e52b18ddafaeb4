// The run's report: counts by answer, deciding check and signing intent for each pass, then
// every broken rule with its first cases.

import type { PassReport } from "./checks";
import type { FuzzReport } from "./passes";

export function formatFuzzReport(report: FuzzReport): string {
  const rows = (title: string, values: Record<string, number>) =>
    [
      title,
      ...Object.entries(values)
        .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
        .map(([k, v]) => `  ${k.padEnd(44)} ${String(v).padStart(8)}`),
    ].join("\n");
  const pass = (name: string, p: PassReport) =>
    [
      `${name}: ${p.cases} cases in ${p.seconds} s (${Math.round(p.cases / Math.max(p.seconds, 0.1))}/s)`,
      rows("  answers by status", p.byStatus),
      rows("  decided by", p.byStep),
      rows("  signing intent", p.bySigning),
      `  cases carrying Authorization/X-Api-Key/Cookie-style canaries: ${p.credentialCases}`,
      `  correctly signed valid first deletes: ${p.expectedForwards}; requests that reached OPS-COM: ${p.forwardedRequests}; OPS-COM calls: ${p.opscomCalls}`,
      ...(p.secretReads === undefined
        ? []
        : [rows("  Secrets Manager reads (virtual time advances 10 ms a case)", p.secretReads)]),
      `  log text searched: ${Math.round(p.logBytes / 1024)} KiB`,
      `  violations: ${p.violationCount}`,
      ...Object.entries(p.violationsByRule).map(([rule, n]) => `    ${String(n).padStart(7)} × ${rule}`),
      ...p.violations
        .slice(0, 10)
        .map((v) => `    #${v.index} ${v.rule}: ${v.detail}\n      case ${v.spec.slice(0, 600)}`),
    ].join("\n");
  return [
    `fuzz: seed ${report.options.seed}, ${report.options.runs} in-process cases, ${report.options.httpRuns ?? 0} over HTTP`,
    pass("in process (real handler, in-memory twins, counting OPS-COM)", report.inProcess),
    ...(report.http
      ? [pass("over HTTP (local relay in a child process, OPS-COM sandbox)", report.http)]
      : []),
    `wall time ${report.seconds} s`,
    report.ok
      ? "RESULT: no throw, no 5xx, every answer as the contract and the OpenAPI document say, OPS-COM reached only by correctly signed valid deletes, no secret in any answer or log line"
      : "RESULT: FAILED — see the violations above",
  ].join("\n");
}
