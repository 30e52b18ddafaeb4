// CloudWatch, as far as the relay's alarms use it: a store of metric samples keyed by
// namespace, name and dimensions exactly as written, and each alarm read from the synthesized
// template and evaluated with CloudWatch's documented semantics — period statistics over
// aligned periods, M out of N datapoints, the comparison, missing-data treatment and metric
// math (IF, comparisons, arithmetic). A sample under another name or dimension is simply not
// seen, as in CloudWatch: that is what makes a renamed metric fail the alarm tests.

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/** The identity CloudWatch matches on: namespace, name and every dimension, order aside. */
export function metricKey(namespace: string, name: string, dimensions: Record<string, unknown>): string {
  const dims = Object.keys(dimensions)
    .sort()
    .map((k) => [k, dimensions[k]]);
  return JSON.stringify([namespace, name, dims]);
}

export class MetricStore {
  private readonly series = new Map<string, { t: number; value: number }[]>();

  add(key: string, t: number, value: number): void {
    const list = this.series.get(key) ?? [];
    list.push({ t, value });
    this.series.set(key, list);
  }

  /** Parses one Powertools EMF line and files each value under its metric's identity. */
  addEmf(line: string, t: number): boolean {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(line);
    } catch {
      return false;
    }
    const aws = doc._aws as
      | { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] }
      | undefined;
    if (!aws) return false;
    for (const directive of aws.CloudWatchMetrics) {
      for (const dimensionSet of directive.Dimensions) {
        const dims = Object.fromEntries(dimensionSet.map((d) => [d, doc[d]]));
        for (const { Name } of directive.Metrics) {
          const raw = doc[Name];
          for (const value of Array.isArray(raw) ? raw : [raw]) {
            this.add(metricKey(directive.Namespace, Name, dims), t, Number(value));
          }
        }
      }
    }
    return true;
  }

  /** The period's statistic, or undefined when the period has no sample (missing data). */
  statistic(key: string, statistic: string, start: number, end: number): number | undefined {
    const values = (this.series.get(key) ?? []).filter((s) => s.t >= start && s.t < end).map((s) => s.value);
    if (values.length === 0) return undefined;
    switch (statistic) {
      case "Sum":
        return values.reduce((a, b) => a + b, 0);
      case "Maximum":
        return Math.max(...values);
      case "Minimum":
        return Math.min(...values);
      case "Average":
        return values.reduce((a, b) => a + b, 0) / values.length;
      case "SampleCount":
        return values.length;
      default:
        throw new Error(`statistic ${statistic} is not modelled`);
    }
  }

  keys(): string[] {
    return [...this.series.keys()];
  }
}

interface TemplateDimension {
  Name: string;
  Value: unknown;
}
interface TemplateMetric {
  Namespace: string;
  MetricName: string;
  Dimensions?: TemplateDimension[];
}

export interface AlarmDefinition {
  readonly id: string;
  readonly periodMs: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly threshold: number;
  readonly comparison: string;
  readonly treatMissingData: string;
  /** The metric keys the alarm reads (for diagnostics). */
  readonly reads: readonly string[];
  /** The alarm's datapoint for the period starting at `start`. */
  datapoint(store: MetricStore, start: number): number | undefined;
}

const keyOf = (m: TemplateMetric) =>
  metricKey(
    m.Namespace,
    m.MetricName,
    Object.fromEntries((m.Dimensions ?? []).map((d) => [d.Name, d.Value])),
  );

/**
 * Every `AWS::CloudWatch::Alarm` of a template, keyed by the runbook section its description
 * names, or by its logical id where several alarms share a section (one per vendor).
 */
export function alarmsFromTemplate(resources: Record<string, Record<string, unknown>>) {
  const alarms = new Map<string, AlarmDefinition>();
  const sectionOf = (resource: Record<string, unknown>) =>
    /, (\w+)\.$/.exec(String((resource.Properties as Record<string, unknown>).AlarmDescription))?.[1];
  const sections = Object.values(resources).map(sectionOf);
  for (const [logicalId, resource] of Object.entries(resources)) {
    const p = resource.Properties as Record<string, unknown>;
    const section = sectionOf(resource);
    const shared = sections.filter((s) => s === section).length > 1;
    const id = section !== undefined && !shared ? section : logicalId;
    const common = {
      id,
      evaluationPeriods: Number(p.EvaluationPeriods),
      datapointsToAlarm: Number(p.DatapointsToAlarm ?? p.EvaluationPeriods),
      threshold: Number(p.Threshold),
      comparison: String(p.ComparisonOperator),
      treatMissingData: String(p.TreatMissingData ?? "missing"),
    };
    if (p.MetricName !== undefined) {
      const key = keyOf(p as unknown as TemplateMetric);
      const periodMs = Number(p.Period) * 1000;
      const statistic = String(p.Statistic);
      alarms.set(id, {
        ...common,
        periodMs,
        reads: [key],
        datapoint: (store, start) => store.statistic(key, statistic, start, start + periodMs),
      });
      continue;
    }
    const queries = p.Metrics as {
      Id: string;
      Expression?: string;
      MetricStat?: { Metric: TemplateMetric; Period: number; Stat: string };
    }[];
    const stats = queries.filter((q) => q.MetricStat);
    const [expression] = queries.filter((q) => q.Expression);
    if (!expression?.Expression || stats.length === 0)
      throw new Error(`alarm ${id}: unsupported metric query`);
    const periodMs = Number(stats[0]?.MetricStat?.Period) * 1000;
    const formula = parseExpression(expression.Expression);
    alarms.set(id, {
      ...common,
      periodMs,
      reads: stats.map((q) => keyOf((q.MetricStat as { Metric: TemplateMetric }).Metric)),
      datapoint(store, start) {
        const values: Record<string, number> = {};
        for (const q of stats) {
          const stat = q.MetricStat as { Metric: TemplateMetric; Stat: string };
          const value = store.statistic(keyOf(stat.Metric), stat.Stat, start, start + periodMs);
          // Metric math drops a timestamp where an input series has no value.
          if (value === undefined) return undefined;
          values[q.Id] = value;
        }
        return formula(values);
      },
    });
  }
  return alarms;
}

function breaches(alarm: AlarmDefinition, value: number): boolean {
  switch (alarm.comparison) {
    case "GreaterThanOrEqualToThreshold":
      return value >= alarm.threshold;
    case "GreaterThanThreshold":
      return value > alarm.threshold;
    case "LessThanThreshold":
      return value < alarm.threshold;
    case "LessThanOrEqualToThreshold":
      return value <= alarm.threshold;
    default:
      throw new Error(`comparison ${alarm.comparison} is not modelled`);
  }
}

/**
 * The alarm's state at each minute from `from` to `to`: at each evaluation, the last N periods
 * that have ended; ALARM when at least M of them breach, missing datapoints treated as the
 * alarm says (notBreaching: good; breaching: bad; ignore: the state stays when all are
 * missing; missing: INSUFFICIENT_DATA when all are missing).
 */
export function evaluateAlarm(
  alarm: AlarmDefinition,
  store: MetricStore,
  from: number,
  to: number,
): { t: number; state: AlarmState }[] {
  const timeline: { t: number; state: AlarmState }[] = [];
  let state: AlarmState = "INSUFFICIENT_DATA";
  for (let t = Math.ceil(from / 60_000) * 60_000; t <= to; t += 60_000) {
    const lastEnd = Math.floor(t / alarm.periodMs) * alarm.periodMs;
    let breaching = 0;
    let present = 0;
    for (let i = 1; i <= alarm.evaluationPeriods; i++) {
      const value = alarm.datapoint(store, lastEnd - i * alarm.periodMs);
      if (value === undefined) {
        if (alarm.treatMissingData === "breaching") breaching++;
        if (alarm.treatMissingData === "breaching" || alarm.treatMissingData === "notBreaching") present++;
        continue;
      }
      present++;
      if (breaches(alarm, value)) breaching++;
    }
    if (breaching >= alarm.datapointsToAlarm) state = "ALARM";
    else if (present > 0) state = "OK";
    else if (alarm.treatMissingData === "missing") state = "INSUFFICIENT_DATA";
    // ignore: all missing keeps the state as it was.
    timeline.push({ t, state });
  }
  return timeline;
}

/** A parser for the metric math the alarms use: IF, comparisons, + - * /, numbers and ids. */
export function parseExpression(source: string): (values: Record<string, number>) => number {
  const tokens = source
    .match(/\s*(>=|<=|==|!=|[A-Za-z_]\w*|\d+(?:\.\d+)?|[-+*/(),<>])/g)
    ?.map((t) => t.trim());
  if (!tokens || tokens.join("") !== source.replace(/\s+/g, "")) throw new Error(`cannot parse ${source}`);
  let i = 0;
  type Node = (v: Record<string, number>) => number;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const token = tokens[i++];
    if (expected !== undefined && token !== expected) throw new Error(`expected ${expected} in ${source}`);
    return token as string;
  };
  const primary = (): Node => {
    const token = take();
    if (token === "(") {
      const inner = comparison();
      take(")");
      return inner;
    }
    if (token === "IF") {
      take("(");
      const condition = comparison();
      take(",");
      const then = comparison();
      take(",");
      const otherwise = comparison();
      take(")");
      return (v) => (condition(v) !== 0 ? then(v) : otherwise(v));
    }
    if (/^\d/.test(token)) return () => Number(token);
    return (v) => {
      const value = v[token];
      if (value === undefined) throw new Error(`no metric ${token} in ${source}`);
      return value;
    };
  };
  const binary = (next: () => Node, ops: Record<string, (a: number, b: number) => number>) => (): Node => {
    let left = next();
    while (peek() !== undefined && ops[peek() as string]) {
      const op = ops[take()] as (a: number, b: number) => number;
      const right = next();
      const l = left;
      left = (v) => op(l(v), right(v));
    }
    return left;
  };
  const term = binary(primary, { "*": (a, b) => a * b, "/": (a, b) => a / b });
  const sum = binary(term, { "+": (a, b) => a + b, "-": (a, b) => a - b });
  const comparison = binary(sum, {
    ">=": (a, b) => Number(a >= b),
    ">": (a, b) => Number(a > b),
    "<=": (a, b) => Number(a <= b),
    "<": (a, b) => Number(a < b),
    "==": (a, b) => Number(a === b),
    "!=": (a, b) => Number(a !== b),
  });
  const root = comparison();
  if (i !== tokens.length) throw new Error(`trailing input in ${source}`);
  return root;
}
