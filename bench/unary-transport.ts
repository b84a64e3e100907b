// What each transport costs the server per unary call, apart from the verification itself: one
// server process serves a VerifyApiKey that answers at once (behind the real RPC boundary) on the
// gRPC port (grpc-js), and on two HTTP listeners, one with the lean unary Connect path
// (server/connect-unary.ts) and one with connect-node only. bench/loadgen.ts (another process, 64
// calls in flight) drives each in turn, in rounds; the server's CPU comes from /proc. The server has
// no database and no background work, so its CPU per call is the transport's and the boundary's.
//
//   npx tsx bench/unary-transport.ts      (BENCH_SECONDS per run, default 5; BENCH_ROUNDS, default 3)
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { ApiKeyService, VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startGrpcServer } from "../server/grpc-server.js";
import { startHttpServer } from "../server/http-server.js";
import { createLogger } from "../server/logger.js";
import type { Caller } from "../server/principal/caller.js";
import { withRpcBoundary } from "../server/rpc-boundary.js";
import type { LoadgenConfig, LoadgenProtocol, LoadgenResult } from "./loadgen.js";
import { cpuSeconds, ROOT } from "./serve.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

if (process.argv[2] === "serve") await serve();
else await measure();

async function serve(): Promise<void> {
  const log = createLogger("warn");
  const caller: Caller = { id: "pr_bench", name: "bench", kind: "service", workspaceId: undefined } as unknown as Caller;
  const impl = withRpcBoundary(
    ApiKeyService,
    { verifyApiKey: () => ({ valid: true, status: VerificationStatus.VALID, keyId: "key_bench", workspaceId: "ws_bench", scopes: ["orders:read"] }) } as never,
    { authenticate: () => caller, log },
  );
  const listen = { host: "127.0.0.1", port: 0, maxMessageBytes: 65_536, log };
  const grpc = await startGrpcServer({ ...listen, services: [{ service: ApiKeyService, impl }] });
  const routes = (router: Parameters<Parameters<typeof startHttpServer>[0]["routes"]>[0]) => void router.service(ApiKeyService, impl);
  const lean = await startHttpServer({ ...listen, routes });
  const node = await startHttpServer({ ...listen, routes, connectUnary: false });
  // Exiting (rather than dying of the signal) lets `node --cpu-prof` write its profile.
  process.once("SIGTERM", () => process.exit(0));
  process.stdout.write(JSON.stringify({ grpc: grpc.port, lean: lean.port, node: node.port }) + "\n");
}

async function measure(): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "unary-transport.ts"), "serve"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const ports = await new Promise<{ grpc: number; lean: number; node: number }>((resolve) =>
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(JSON.parse(line) as { grpc: number; lean: number; node: number })),
  );
  const dir = mkdtempSync(path.join(tmpdir(), "unary-transport-"));
  const runs: Array<[string, LoadgenProtocol, number]> = [
    ["gRPC (grpc-js)", "grpc", ports.grpc],
    ["Connect JSON HTTP/1.1, lean path", "connect-http1", ports.lean],
    ["Connect JSON h2c, lean path", "connect-h2c", ports.lean],
    ["Connect JSON HTTP/1.1, connect-node", "connect-http1", ports.node],
    ["Connect JSON h2c, connect-node", "connect-h2c", ports.node],
  ];
  const results = new Map<string, Array<{ cpuUs: number; perSec: number; p50: number; p99: number }>>();
  const load0 = loadavg()[0]!;
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [name, protocol, port] of runs) {
        const config: LoadgenConfig = {
          address: `127.0.0.1:${port}`, protocol, serviceToken: "unused", tokens: ["ak_bench"], requiredScopes: ["orders:read"],
          expected: ["VALID"], connections: 4, streams: 16, retryExhausted: false, seconds: SECONDS,
        };
        const file = path.join(dir, `${protocol}-${port}.json`);
        writeFileSync(file, JSON.stringify(config));
        const cpu0 = cpuSeconds(child.pid!);
        const { stdout } = await promisify(execFile)(path.join(ROOT, "node_modules", ".bin", "tsx"), [path.join(ROOT, "bench", "loadgen.ts"), file], { cwd: ROOT });
        const cpu = cpuSeconds(child.pid!) - cpu0;
        const r = JSON.parse(stdout) as LoadgenResult;
        const calls = Object.values(r.outcomes).reduce((a, b) => a + b, 0);
        if (r.unexpected > 0) throw new Error(`${name}: ${r.unexpected} unexpected answers (${JSON.stringify(r.outcomes)})`);
        if (round === 0) continue; // warm-up
        const list = results.get(name) ?? [];
        list.push({ cpuUs: (cpu * 1e6) / calls, perSec: calls / (r.elapsedMs / 1000), p50: r.p50Ms, p99: r.p99Ms });
        results.set(name, list);
        process.stderr.write(`round ${round} ${name}: ${((cpu * 1e6) / calls).toFixed(0)} µs/call, ${(calls / (r.elapsedMs / 1000)).toFixed(0)} calls/s\n`);
      }
    }
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`server CPU per call, median of ${ROUNDS} rounds of ${SECONDS} s (64 calls in flight; Node ${process.version}; load average ${load0.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end)`);
  const grpcUs = median(results.get(runs[0]![0])!.map((x) => x.cpuUs));
  for (const [name] of runs) {
    const list = results.get(name)!;
    const us = median(list.map((x) => x.cpuUs));
    console.log(
      `${name.padEnd(38)} ${us.toFixed(0).padStart(5)} µs/call  ${(us / grpcUs).toFixed(2)}× gRPC  ${median(list.map((x) => x.perSec)).toFixed(0).padStart(6)} calls/s  p50 ${median(list.map((x) => x.p50)).toFixed(1)} ms  p99 ${median(list.map((x) => x.p99)).toFixed(1)} ms`,
    );
  }
}
