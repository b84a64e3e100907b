// How long Terraform waits for our provider, started as Terraform starts it (3 to 5 times per
// command): from spawning the built executable to its handshake line on stdout, and to the answer
// of its first call (GetProviderSchema over mutual TLS, as Terraform makes it). Reported next to a
// bare `node` start on the same machine in the same run, because absolute times vary with load.
//
//   npm run bench:provider
import { execFileSync, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPluginCertificate } from "../provider/protocol/certificate.js";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "../provider/protocol/handshake.js";
import { PROVIDER_SOURCE, PROVIDER_VERSION, providerPlatform } from "../provider/provider-address.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 40);

/**
 * Milliseconds from spawn until the first stdout line and, when `firstCall` is given, until it
 * answers; then the process is stopped.
 */
function timeToFirstLine(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  firstCall?: (line: string) => Promise<void>,
): Promise<{ ms: number; answeredMs: number; line: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - start) / 1e6;
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    let seen = false;
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
      const end = out.indexOf("\n");
      if (end < 0 || seen) return;
      seen = true;
      const ms = elapsed();
      const line = out.slice(0, end);
      (firstCall ? firstCall(line) : Promise.resolve()).then(
        () => {
          const answeredMs = elapsed();
          child.kill("SIGKILL");
          resolve({ ms, answeredMs, line });
        },
        (e: unknown) => {
          child.kill("SIGKILL");
          reject(e);
        },
      );
    });
    child.once("error", reject);
    // "close", not "exit": the line may still be in the pipe when the process has exited.
    child.once("close", (code) => {
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

/** Terraform's first call: GetProviderSchema, over mutual TLS with the certificate from the handshake. */
async function getProviderSchema(line: string): Promise<void> {
  const [{ create, fromBinary, toBinary }, grpc, { GetProviderSchema_RequestSchema, GetProviderSchema_ResponseSchema }] = await Promise.all([
    import("@bufbuild/protobuf"),
    import("@grpc/grpc-js"),
    import("../provider/gen/tfplugin6/tfplugin6_pb.js"),
  ]);
  const [, , , address, , cert] = line.split("|");
  if (!/^127\.0\.0\.1:\d+$/.test(address ?? "") || !cert) throw new Error(`unexpected handshake line: ${line}`);
  const serverPem = new X509Certificate(Buffer.from(cert, "base64")).toString();
  const credentials = grpc.credentials.createSsl(Buffer.from(serverPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
  const channel = new grpc.Client(address!, credentials, { "grpc.ssl_target_name_override": "localhost" });
  try {
    const schema = await new Promise<{ resourceSchemas: Record<string, unknown> }>((resolve, reject) =>
      channel.makeUnaryRequest(
        "/tfplugin6.Provider/GetProviderSchema",
        (m: unknown) => Buffer.from(toBinary(GetProviderSchema_RequestSchema, m as never)),
        (b: Buffer) => fromBinary(GetProviderSchema_ResponseSchema, b),
        create(GetProviderSchema_RequestSchema),
        (error, response) => (error || !response ? reject(error ?? new Error("no answer")) : resolve(response)),
      ),
    );
    if (!("apikeys_api_key" in schema.resourceSchemas)) throw new Error("GetProviderSchema lacks apikeys_api_key");
  } finally {
    channel.close();
  }
}

const handshake: number[] = [];
const answered: number[] = [];
const bareNode: number[] = [];
// First the handshake, interleaved with bare node so both see the same load, while this process
// is still small (a larger parent spawns more slowly); then, with a gRPC client loaded, the calls.
for (let i = 0; i < RUNS; i++) {
  handshake.push((await timeToFirstLine(executable, [], env)).ms);
  bareNode.push((await timeToFirstLine(process.execPath, ["-e", "console.log('ready')"], env)).ms);
}
for (let i = 0; i < RUNS; i++) answered.push((await timeToFirstLine(executable, [], env, getProviderSchema)).answeredMs);

const h = summary(handshake);
const a = summary(answered);
const n = summary(bareNode);
const f = (x: number) => `${x.toFixed(1)} ms`;
const row = (name: string, s: ReturnType<typeof summary>) => console.log(`  ${name.padEnd(36)} min ${f(s.min)}  p50 ${f(s.p50)}  p90 ${f(s.p90)}  max ${f(s.max)}`);
console.log(`provider start-up, ${RUNS} runs, ${process.version}, ${process.platform}/${process.arch}`);
row("spawn to handshake line", h);
row("spawn to GetProviderSchema answered", a);
row("bare node: spawn to first line", n);
console.log(`  handshake p50 / bare node p50: ${(h.p50 / n.p50).toFixed(2)}; handshake p50 ${f(h.p50)} of the 250 ms budget`);
rmSync(out, { recursive: true, force: true });
