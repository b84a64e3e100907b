// What Prometheus metrics cost the cached verification path: two servers as operators run them
// (`bin/apikeys serve`, each on its own embedded Postgres), one with APIKEYS_METRICS_PORT set and
// one without (no metrics at all), the same keys verified in rotation on both, in alternating
// rounds: gRPC (answers kept and sent again, the hottest path), and Connect JSON over HTTP/1.1 and
// h2c (the lean unary path, decided from the key cache). Server CPU per call from /proc; the
// metrics server is scraped every second meanwhile, as Prometheus would (more often than usual).
// Each round runs both servers back to back, so the overhead is the median of the rounds' ratios:
// on a shared machine, the load of the moment moves both alike. Then, in this process, what the
// per-call work itself costs (the call's series, the outcome), timed over millions of calls.
//
//   npx tsx bench/metrics-overhead.ts     (BENCH_KEYS, default 1,000; BENCH_SECONDS, default 5; BENCH_ROUNDS, default 8)
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { createMetrics } from "../server/metrics/metrics.js";
import type { LoadgenConfig, LoadgenProtocol, LoadgenResult } from "./loadgen.js";
import { grpcClient } from "./rpc.js";
import { cli, cpuSeconds, ROOT, startServer, type BenchServer } from "./serve.js";

const KEYS = Number(process.env.BENCH_KEYS ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SCOPE = "orders:read";

interface Side {
  readonly name: "metrics on" | "metrics off";
  readonly server: BenchServer;
  readonly service: string;
  readonly tokens: string[];
  readonly metricsUrl: string | undefined;
}

const dir = mkdtempSync(path.join(tmpdir(), "apikeys-metrics-overhead-"));
const sides: Side[] = [];
try {
  for (const name of ["metrics on", "metrics off"] as const) sides.push(await startSide(name));
  const protocols: LoadgenProtocol[] = ["grpc", "connect-http1", "connect-h2c"];
  const cpu = new Map<string, number[]>();
  const load0 = loadavg()[0]!;
  for (let round = 0; round <= ROUNDS; round++) {
    for (const protocol of protocols) {
      // Alternating which goes first, so that neither always follows the other's load.
      const ordered = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of ordered) {
        const us = await measure(side, protocol, round === 0 ? 2 : SECONDS);
        if (round === 0) continue; // warm-up
        const key = `${protocol}|${side.name}`;
        cpu.set(key, [...(cpu.get(key) ?? []), us]);
      }
    }
  }
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
  };
  const percent = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;
  const lines = [
    `metrics overhead — ${new Date().toISOString()}, Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), load ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`,
    `${KEYS} keys in rotation, bench/loadgen.ts 4 × 16 calls in flight, ${ROUNDS} rounds of ${SECONDS} s after a warm-up; server CPU µs per call, medians of the rounds;`,
    "overhead: the median of the rounds' on/off ratios (each round's in brackets)",
    "",
    `${"protocol".padEnd(16)} ${"metrics off".padStart(12)} ${"metrics on".padStart(12)} ${"overhead".padStart(9)}`,
  ];
  for (const protocol of protocols) {
    const off = cpu.get(`${protocol}|metrics off`)!;
    const on = cpu.get(`${protocol}|metrics on`)!;
    const ratios = on.map((x, i) => (x / off[i]! - 1) * 100);
    lines.push(
      `${protocol.padEnd(16)} ${median(off).toFixed(1).padStart(12)} ${median(on).toFixed(1).padStart(12)} ${percent(median(ratios)).padStart(9)}` +
        `   [${ratios.map((r) => percent(r)).join(", ")}]`,
    );
  }
  const perCall = perCallWork();
  lines.push("", `per-call work alone (the call's series and the outcome, as on a kept answer): ${perCall.toFixed(0)} ns per call, ${((perCall / 1000 / median(cpu.get("grpc|metrics off")!)) * 100).toFixed(2)} % of a gRPC call's server CPU here`);
  const scraped = await (await fetch(sides[0]!.metricsUrl!)).text();
  const counted = [...scraped.matchAll(/^apikeys_rpc_calls_total\{[^}]*method="VerifyApiKey"[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  lines.push("", `the metrics server counted ${counted.toLocaleString("en")} VerifyApiKey calls`);
  process.stdout.write(lines.join("\n") + "\n");
} finally {
  for (const side of sides) await side.server.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** What the metrics cost a call, in ns, measured here: a kept answer's series and outcome, with its two clock reads. */
function perCallWork(): number {
  const metrics = createMetrics();
  const observe = metrics.rpc.forMethod(ApiKeyService.method.verifyApiKey);
  const n = 5_000_000;
  const run = () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      metrics.verification(i % 8 === 0 ? "insufficient_scope" : "valid");
      observe("grpc", 0, performance.now() - started);
    }
    return performance.now() - t0;
  };
  const base = () => {
    const t0 = performance.now();
    let sink = 0;
    for (let i = 0; i < n; i++) sink += performance.now() - performance.now();
    return [performance.now() - t0, sink] as const;
  };
  run();
  base();
  const times = Array.from({ length: 5 }, () => run());
  // One of the two clock reads is paid without metrics too: the answer cache takes its start time either way.
  const clock = Array.from({ length: 5 }, () => base()[0]);
  const best = (xs: number[]) => Math.min(...xs);
  return ((best(times) - best(clock) / 2) * 1e6) / n;
}

async function startSide(name: Side["name"]): Promise<Side> {
  // info, so that the "apikeys is serving" line names the metrics port; calls log at debug.
  const env: Record<string, string> = { APIKEYS_LOG_LEVEL: "info", ...(name === "metrics on" ? { APIKEYS_METRICS_PORT: "0" } : {}) };
  const dataDir = path.join(dir, name.replace(" ", "-"));
  const server = await startServer(dataDir, env);
  const owner = await cli(dataDir, ["bootstrap", "--workspace", "Bench", "--owner", "bench-owner"]);
  const service = await cli(dataDir, ["services", "add", "--name", "bench-gateway"]);
  const api = grpcClient(server.grpcPort);
  const tokens: string[] = [];
  const headers = { authorization: `Bearer ${owner}` };
  for (let i = 0; i < KEYS; i += 8) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(8, KEYS - i) }, (_, j) => api.createApiKey({ name: `bench ${i + j}`, access: AccessLevel.CUSTOM, scopes: [SCOPE] }, { headers })),
    );
    tokens.push(...batch.map((b) => b.secret));
  }
  const serving = server.output().split("\n").find((line) => line.includes('"msg":"apikeys is serving"'));
  const metricsUrl = serving ? (JSON.parse(serving) as { metrics?: string }).metrics : undefined;
  if ((name === "metrics on") !== (metricsUrl !== undefined)) throw new Error(`${name}: the server's metrics port is ${metricsUrl ?? "off"}`);
  return { name, server, service, tokens, metricsUrl };
}

/** Server CPU µs per call while bench/loadgen.ts rotates the side's keys for `seconds` (scraping its metrics every second). */
async function measure(side: Side, protocol: LoadgenProtocol, seconds: number): Promise<number> {
  const port = protocol === "grpc" ? side.server.grpcPort : side.server.httpPort;
  const config: LoadgenConfig = {
    address: `127.0.0.1:${port}`, protocol, serviceToken: side.service, tokens: side.tokens, requiredScopes: [SCOPE],
    expected: side.tokens.map(() => "VALID"), connections: 4, streams: 16, retryExhausted: false, seconds,
  };
  const file = path.join(dir, `${side.name.replace(" ", "-")}-${protocol}.json`);
  writeFileSync(file, JSON.stringify(config));
  const scraper = side.metricsUrl ? setInterval(() => void fetch(side.metricsUrl!).then((r) => r.text()), 1000) : undefined;
  const cpu0 = cpuSeconds(side.server.pid);
  try {
    const { stdout } = await promisify(execFile)(path.join(ROOT, "node_modules", ".bin", "tsx"), [path.join(ROOT, "bench", "loadgen.ts"), file], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const cpu = cpuSeconds(side.server.pid) - cpu0;
    const r = JSON.parse(stdout) as LoadgenResult;
    if (r.unexpected > 0) throw new Error(`${side.name} ${protocol}: ${r.unexpected} unexpected answers (${JSON.stringify(r.outcomes)})`);
    const calls = Object.values(r.outcomes).reduce((a, b) => a + b, 0);
    return (cpu * 1e6) / calls;
  } finally {
    clearInterval(scraper);
  }
}
