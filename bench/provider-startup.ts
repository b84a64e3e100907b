// How long Terraform waits for our provider: from spawning the built executable to its handshake
// line on stdout, the way Terraform starts it (3 to 5 times per command). Reported next to a bare
// `node` start on the same machine in the same run, because absolute times vary with load.
//
//   npm run bench:provider
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPluginCertificate } from "../provider/protocol/certificate.js";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "../provider/protocol/handshake.js";
import { PROVIDER_SOURCE, PROVIDER_VERSION, providerPlatform } from "../provider/provider-address.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 40);

/** Milliseconds from spawn until the first stdout line, then the process is stopped. */
function timeToFirstLine(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; line: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
      const end = out.indexOf("\n");
      if (end < 0) return;
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      child.kill("SIGKILL");
      resolve({ ms, line: out.slice(0, end) });
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (!out.includes("\n")) reject(new Error(`exited with ${code} before printing a line`));
    });
  });
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { min: sorted[0]!, p50: at(0.5), p90: at(0.9), max: sorted[sorted.length - 1]! };
}

const out = mkdtempSync(path.join(tmpdir(), "apikeys-bench-provider-"));
execFileSync("node_modules/.bin/tsx", ["provider/build.ts", out], { stdio: "ignore" });
const executable = path.join(out, "terraform-mirror", PROVIDER_SOURCE, PROVIDER_VERSION, providerPlatform(), `terraform-provider-apikeys_v${PROVIDER_VERSION}`);
const client = createPluginCertificate();
const env = { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_CLIENT_CERT: client.certPem, PLUGIN_PROTOCOL_VERSIONS: "6" };

const provider: number[] = [];
const bareNode: number[] = [];
let handshake = "";
for (let i = 0; i < RUNS; i++) {
  // Interleaved, so both see the same machine load.
  const p = await timeToFirstLine(executable, [], env);
  handshake = p.line;
  provider.push(p.ms);
  bareNode.push((await timeToFirstLine(process.execPath, ["-e", "console.log('ready')"], env)).ms);
}
if (!/^1\|6\|tcp\|127\.0\.0\.1:\d+\|grpc\|[A-Za-z0-9+/]+$/.test(handshake)) throw new Error(`unexpected handshake line: ${handshake}`);

const p = summary(provider);
const n = summary(bareNode);
const f = (x: number) => `${x.toFixed(1)} ms`;
console.log(`provider start-up to handshake, ${RUNS} runs, ${process.version}, ${process.platform}/${process.arch}`);
console.log(`  provider:  min ${f(p.min)}  p50 ${f(p.p50)}  p90 ${f(p.p90)}  max ${f(p.max)}`);
console.log(`  bare node: min ${f(n.min)}  p50 ${f(n.p50)}  p90 ${f(n.p90)}  max ${f(n.max)}`);
console.log(`  provider p50 / bare node p50: ${(p.p50 / n.p50).toFixed(2)}; budget 250 ms, p90 uses ${((p.p90 / 250) * 100).toFixed(0)}% of it`);
