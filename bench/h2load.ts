// h2load (Debian's nghttp2-client) as the load generator: installed when missing, run in its own
// process with one thread, its summary parsed and its per-request log turned into percentiles.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

/** Makes sure h2load is on the PATH, installing nghttp2-client with apt-get as .ci/run installs curl. */
export function ensureH2load(): string {
  const version = () => spawnSync("h2load", ["--version"], { encoding: "utf8" });
  let found = version();
  if (found.status === 0) return found.stdout.trim();
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"]).status === 0;
  if (hasApt && process.getuid?.() === 0) {
    console.error("h2load is missing: installing Debian's nghttp2-client with apt-get");
    try {
      execFileSync("sh", ["-c", "apt-get update -qq && apt-get install -y -qq nghttp2-client"], { stdio: ["ignore", "ignore", "inherit"] });
    } catch {
      // reported below
    }
    found = version();
    if (found.status === 0) return found.stdout.trim();
  }
  throw new Error(
    "h2load is not installed and could not be installed here" +
      (hasApt ? (process.getuid?.() === 0 ? " (apt-get install nghttp2-client failed)" : " (not root: run `sudo apt-get install nghttp2-client`)") : " (no apt-get: install nghttp2's h2load with your package manager)") +
      "; the benchmark drives its load with it",
  );
}

export interface H2loadRun {
  readonly url: string;
  /** File holding the request body, sent as is (POST). */
  readonly bodyFile: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly clients: number;
  readonly streams: number;
  readonly seconds: number;
  /** Where h2load writes one line per request. */
  readonly logFile: string;
}

export interface H2loadResult {
  readonly reqPerSec: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  readonly statusOther: number;
  /** Response body bytes received (DATA frames), to count answers of a known size. */
  readonly dataBytes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Cores h2load itself used on average (sampled from /proc while it ran). */
  readonly generatorCores: number;
  readonly command: string;
}

/** The h2load arguments for `run`: one thread, a fixed number of clients and streams, timed. */
export function h2loadArgs(run: H2loadRun): string[] {
  return [
    "-t", "1", "-c", String(run.clients), "-m", String(run.streams), "-D", String(run.seconds),
    "--log-file", run.logFile, "-d", run.bodyFile,
    ...Object.entries(run.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    run.url,
  ];
}

/** Starts h2load; resolves with its parsed summary and the percentiles of its log. */
export function startH2load(run: H2loadRun): Promise<H2loadResult> {
  writeFileSync(run.logFile, "");
  const args = h2loadArgs(run);
  const command = `h2load ${args.map((a) => (/^[\w./:=-]+$/.test(a) ? a : JSON.stringify(a.replace(/Bearer \S+/, "Bearer <service token>")))).join(" ")}`;
  return new Promise((resolve, reject) => {
    const child = spawn("h2load", args, { stdio: ["ignore", "pipe", "pipe"] });
    // h2load's CPU time, read until it exits: the load generator must not be the bottleneck.
    const t0 = performance.now();
    let cpu = 0;
    let cpuAt = t0;
    const sampler = setInterval(() => {
      const seconds = cpuSecondsOf(child.pid!);
      if (seconds !== undefined) [cpu, cpuAt] = [seconds, performance.now()];
    }, 100);
    let out = "";
    child.stdout.on("data", (d: Buffer) => void (out += d));
    child.stderr.on("data", (d: Buffer) => void (out += d));
    child.once("error", reject);
    // "close", not "exit": the summary may still be in the pipe when the process has exited.
    child.once("close", (code) => {
      clearInterval(sampler);
      const generatorCores = cpu / Math.max(0.001, (cpuAt - t0) / 1000);
      if (code !== 0) return reject(new Error(`h2load exited with ${code}:\n${out}`));
      try {
        resolve({ ...parseSummary(out), ...percentiles(run.logFile), generatorCores, command });
      } catch (err) {
        reject(err);
      }
    });
  });
}

function parseSummary(out: string) {
  const num = (re: RegExp, what: string) => {
    const m = re.exec(out);
    if (!m) throw new Error(`h2load printed no ${what}:\n${out}`);
    return Number(m[1]);
  };
  return {
    reqPerSec: num(/finished in [\d.]+\w+, ([\d.]+) req\/s/, "throughput"),
    done: num(/requests: \d+ total, \d+ started, (\d+) done/, "request counts"),
    succeeded: num(/ (\d+) succeeded/, "succeeded count"),
    failed: num(/ (\d+) failed/, "failed count"),
    errored: num(/ (\d+) errored/, "errored count"),
    timeout: num(/ (\d+) timeout/, "timeout count"),
    status2xx: num(/status codes: (\d+) 2xx/, "status codes"),
    statusOther: ["3xx", "4xx", "5xx"].reduce((sum, c) => sum + num(new RegExp(`(\\d+) ${c}`), c), 0),
    dataBytes: num(/traffic: .*?, .*? headers .*?, [\d.]+\w*B \((\d+)\) data/, "traffic"),
  };
}

/** p50 and p99 in ms from h2load's log: start (µs since epoch), status, µs to the end of the response. */
export function percentiles(logFile: string): { p50Ms: number; p99Ms: number } {
  const durations: number[] = [];
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const [, , us] = line.split("\t");
    if (us) durations.push(Number(us) / 1000);
  }
  return { p50Ms: quantile(durations, 0.5), p99Ms: quantile(durations, 0.99) };
}

/** CPU seconds (user + system) of a running process, or undefined once it is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
    // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** The q-quantile (nearest rank) of `samples`; NaN when there are none. */
export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
