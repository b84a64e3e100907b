// Reading what Prometheus reads: the text exposition format of a /metrics answer, and the metric
// names a PromQL expression (a Grafana panel's query) selects.

/** One sample line: `name{labels} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric family, from its `# HELP` and `# TYPE` lines. */
export interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
}

export interface Exposition {
  readonly families: ReadonlyMap<string, Family>;
  readonly samples: readonly Sample[];
  /** The sum of the samples named `name` whose labels include `labels`. */
  value(name: string, labels?: Record<string, string>): number;
  /** Whether some sample is named `name` with `labels` among its labels. */
  has(name: string, labels?: Record<string, string>): boolean;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;

/** Parses Prometheus' text format (version 0.0.4); throws on a line it cannot read. */
export function parseExposition(text: string): Exposition {
  const families = new Map<string, { name: string; type: string; help: string }>();
  const samples: Sample[] = [];
  const family = (name: string) => families.get(name) ?? families.set(name, { name, type: "untyped", help: "" }).get(name)!;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "HELP") family(meta[2]!).help = meta[3]!;
      else family(meta[2]!).type = meta[3]!;
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? "";
    LABEL.lastIndex = 0;
    let read = 0;
    for (let m = LABEL.exec(body); m; m = LABEL.exec(body)) {
      labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      read = LABEL.lastIndex;
    }
    if (read !== body.length) throw new Error(`unreadable labels: ${line}`);
    const value = match[3] === "+Inf" ? Infinity : match[3] === "-Inf" ? -Infinity : Number(match[3]);
    if (Number.isNaN(value) && match[3] !== "NaN") throw new Error(`unreadable value: ${line}`);
    samples.push({ name: match[1]!, labels, value });
  }
  const matching = (name: string, labels: Record<string, string>) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    families,
    samples,
    value: (name, labels = {}) => matching(name, labels).reduce((sum, s) => sum + s.value, 0),
    has: (name, labels = {}) => matching(name, labels).length > 0,
  };
}

/** The sample names a family of `type` exposes. */
export function sampleNames(family: Family): string[] {
  if (family.type === "histogram") return ["_bucket", "_sum", "_count"].map((suffix) => family.name + suffix);
  if (family.type === "summary") return [family.name, family.name + "_sum", family.name + "_count"];
  return [family.name];
}

// Words of PromQL that are not metric names: binary operators, modifiers and literals.
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers and range selectors are
 * removed, then the label lists of by/without/on/ignoring/group_*; what is left that is not a
 * function's name, a keyword or a number is a metric name. Grafana's `label_values(metric, label)`
 * names the metric.
 */
export function metricNamesIn(expr: string): string[] {
  let rest = expr.replace(/label_values\(\s*([^,()]+?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)/g, "$1");
  rest = rest.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  rest = rest.replace(/\{[^}]*\}/g, " ").replace(/\[[^\]]*\]/g, " ");
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names: string[] = [];
  for (const m of rest.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\()?)/g)) {
    const word = m[0];
    if (m[1] === "(" || KEYWORDS.has(word.toLowerCase())) continue;
    // A number's exponent ("1e3") is not a name.
    if (m.index > 0 && /[0-9.]/.test(rest[m.index - 1]!)) continue;
    names.push(word);
  }
  return names;
}
