// The built provider executable as a process, started the way Terraform starts it: the magic
// cookie, Terraform's client certificate in PLUGIN_CLIENT_CERT and protocol 6 in the environment;
// stdout and stderr on pipes. We read the handshake line, dial the address over mutual TLS with
// @grpc/grpc-js, and check what go-plugin relies on: the one stdout line, health, the schema,
// SIGINT ignored, GRPCController.Shutdown, exit when the parent dies, refusal without the cookie.
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import * as net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus, Health } from "../provider/gen/grpc/health/v1/health_pb.js";
import { GRPCController } from "../provider/gen/plugin/grpc_controller_pb.js";
import { Provider } from "../provider/gen/tfplugin6/tfplugin6_pb.js";
import { PROVIDER_SOURCE, PROVIDER_VERSION, providerPlatform } from "../provider/provider-address.js";
import { createPluginCertificate, type PluginCertificate } from "../provider/protocol/certificate.js";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "../provider/protocol/handshake.js";
import { buildProvider } from "./support/terraform.js";

const HANDSHAKE = /^1\|6\|tcp\|127\.0\.0\.1:(\d+)\|grpc\|([A-Za-z0-9+/]+)\n$/;

let buildDir: string;
let executable: string;
/** Plays Terraform's side of the mutual TLS: the certificate passed in PLUGIN_CLIENT_CERT. */
const terraformCert = createPluginCertificate();

beforeAll(async () => {
  const cliConfig = await buildProvider();
  buildDir = path.dirname(cliConfig);
  const type = PROVIDER_SOURCE.split("/")[2]!;
  executable = path.join(
    buildDir,
    "terraform-mirror",
    PROVIDER_SOURCE,
    PROVIDER_VERSION,
    providerPlatform(),
    `terraform-provider-${type}_v${PROVIDER_VERSION}`,
  );
});

// Everything a test starts is ended after it, whether the test passed or not.
const children: ChildProcess[] = [];
const strayPids: number[] = [];
const clients: grpc.Client[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const pid of strayPids.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
});
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

/** The environment Terraform gives a provider, on top of ours. */
function terraformEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
    PLUGIN_CLIENT_CERT: terraformCert.certPem,
    PLUGIN_PROTOCOL_VERSIONS: "6",
    // go-plugin always passes its port range (default 10000–25000).
    PLUGIN_MIN_PORT: "10000",
    PLUGIN_MAX_PORT: "25000",
    ...overrides,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

interface Handshake {
  readonly line: string;
  readonly port: number;
  /** The server certificate from the line, PEM, for the client to trust. */
  readonly certPem: string;
}

interface Started {
  readonly child: ChildProcess;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves on the first stdout line; rejects if the process ends first or takes > 20 s. */
  readonly handshake: Promise<Handshake>;
  /** Resolves once the process has exited and its pipes are closed. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `command` (the provider, unless given) with pipes, as Terraform does. */
function start(env: NodeJS.ProcessEnv = terraformEnv(), command: string[] = [executable]): Started {
  const child = spawn(command[0]!, command.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const handshake = new Promise<Handshake>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no handshake within 20 s; stderr:\n${err}`)), 20_000);
    const check = () => {
      const end = out.indexOf("\n");
      if (end < 0) return;
      clearTimeout(timer);
      const line = out.slice(0, end + 1);
      const match = HANDSHAKE.exec(line);
      if (!match) return reject(new Error(`not a handshake line: ${JSON.stringify(line)}`));
      const der = Buffer.from(match[2]!, "base64");
      resolve({ line, port: Number(match[1]), certPem: new X509Certificate(der).toString() });
    };
    child.stdout!.on("data", check);
    void closed.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before the handshake; stderr:\n${err}`));
    });
  });
  handshake.catch(() => {}); // tests that expect no handshake never await it
  return { child, stdout: () => out, stderr: () => err, handshake, closed };
}

/** A grpc-js client for the provider, over mutual TLS as Terraform dials it. */
function dial(hs: Handshake, cert: PluginCertificate = terraformCert): grpc.Client {
  const creds = grpc.credentials.createSsl(Buffer.from(hs.certPem), Buffer.from(cert.keyPem), Buffer.from(cert.certPem));
  const client = new grpc.Client(`127.0.0.1:${hs.port}`, creds, { "grpc.ssl_target_name_override": "localhost" });
  clients.push(client);
  return client;
}

/** One unary call, with protobuf-es serializers, on path /package.Service/Method. */
function call<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      `/${method.parent.typeName}/${method.name}`,
      (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
      (bytes: Buffer) => fromBinary(method.output, bytes),
      create(method.input, request),
      { deadline: Date.now() + 10_000 },
      (error, response) => (error || response === undefined ? reject(error ?? new Error("no response")) : resolve(response)),
    ),
  );
}

const healthCheck = (client: grpc.Client) => call(client, Health.method.check, { service: "plugin" });

/** Whether process `pid` still runs (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return process.platform !== "linux"; // no /proc: trust kill(pid, 0)
  }
}

/** /proc/PID/stat for failure messages ("gone" when unreadable). */
function procStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return "gone";
  }
}

/** Polls until `pid` is gone or `ms` pass; returns whether it is gone. */
async function gone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

describe("the provider process, started as Terraform starts it", () => {
  it("writes exactly one line on stdout, the handshake, and nothing else during the whole session", async () => {
    const p = start();
    const hs = await p.handshake;
    expect(hs.line).toMatch(HANDSHAKE);
    // The certificate on the line is unpadded base64 DER of a localhost certificate.
    expect(hs.line).not.toContain("=");
    expect(new X509Certificate(hs.certPem).checkHost("localhost")).toBe("localhost");
    // A session: health, schema, then Shutdown; stdout must still hold the handshake line alone.
    const client = dial(hs);
    await healthCheck(client);
    await call(client, Provider.method.getProviderSchema, {});
    await call(client, Provider.method.getMetadata, {});
    await call(client, GRPCController.method.shutdown, {}).catch(() => {});
    const { code } = await p.closed;
    expect(code).toBe(0);
    expect(p.stdout()).toBe(hs.line);
  });

  it("answers Health/Check for the service \"plugin\" with SERVING, over mutual TLS", async () => {
    const p = start();
    const client = dial(await p.handshake);
    expect((await healthCheck(client)).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("refuses a client that presents another certificate than PLUGIN_CLIENT_CERT", async () => {
    const p = start();
    const hs = await p.handshake;
    await expect(healthCheck(dial(hs, createPluginCertificate()))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((await healthCheck(dial(hs))).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("GetProviderSchema lists apikeys_api_key (secret_wo write-only), apikeys_key_material and apikeys_scopes", async () => {
    const p = start();
    const schema = await call(dial(await p.handshake), Provider.method.getProviderSchema, {});
    expect(schema.diagnostics).toEqual([]);
    const apiKey = schema.resourceSchemas["apikeys_api_key"];
    expect(apiKey).toBeDefined();
    const secretWo = apiKey?.block?.attributes.find((a) => a.name === "secret_wo");
    expect(secretWo).toBeDefined();
    expect(secretWo?.writeOnly).toBe(true);
    // Only secret_wo-like arguments are write-only; the key's id, say, is ordinary state.
    expect(apiKey?.block?.attributes.find((a) => a.name === "id")?.writeOnly).toBe(false);
    expect(Object.keys(schema.ephemeralResourceSchemas)).toContain("apikeys_key_material");
    expect(Object.keys(schema.dataSourceSchemas)).toContain("apikeys_scopes");
  });

  it("ignores SIGINT (Terraform sends StopProvider instead) and keeps answering", async () => {
    const p = start();
    const client = dial(await p.handshake);
    expect(p.child.kill("SIGINT")).toBe(true);
    await sleep(500);
    expect(p.child.exitCode).toBeNull();
    expect(p.child.signalCode).toBeNull();
    expect((await healthCheck(client)).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect(p.stdout()).toBe((await p.handshake).line);
  });

  it("answers plugin.GRPCController/Shutdown, then exits with code 0", async () => {
    const p = start();
    const client = dial(await p.handshake);
    await healthCheck(client);
    const startedAt = Date.now();
    await expect(call(client, GRPCController.method.shutdown, {})).resolves.toBeDefined();
    const exit = await Promise.race([p.closed, sleep(10_000).then(() => "still running" as const)]);
    expect(exit).toEqual({ code: 0, signal: null });
    console.log(`exited ${Date.now() - startedAt} ms after Shutdown`);
    expect(p.stderr()).toBe("");
  });

  it("listens within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT, past a port that is taken", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    try {
      const min = (taken.address() as net.AddressInfo).port;
      // Two ports, the first taken: wherever in the range it starts, only the second can be bound.
      const p = start(terraformEnv({ PLUGIN_MIN_PORT: String(min), PLUGIN_MAX_PORT: String(min + 1) }));
      const hs = await p.handshake;
      expect(hs.port).toBe(min + 1);
      expect(p.stderr()).toBe("");
      expect((await healthCheck(dial(hs))).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it("exits when its parent process dies", async () => {
    // The parent is a shell that starts the provider in the background, prints its pid, waits.
    const parent = start(terraformEnv(), ["sh", "-c", '"$0" & echo "pid $!"; wait', executable]);
    await expect.poll(() => /^pid (\d+)$/m.test(parent.stdout()), { timeout: 20_000 }).toBe(true);
    const pid = Number(/^pid (\d+)$/m.exec(parent.stdout())![1]);
    strayPids.push(pid);
    // Wait for the provider's handshake on the shared stdout, so it has started serving.
    await expect.poll(() => /^1\|6\|tcp\|/m.test(parent.stdout()), { timeout: 20_000 }).toBe(true);
    expect(alive(pid)).toBe(true);
    parent.child.kill("SIGKILL");
    expect(await gone(pid, 5_000), `provider ${pid} still there: ${procStat(pid)}`).toBe(true);
  });

  it("started without the magic cookie, prints nothing on stdout, explains on stderr and exits 1", async () => {
    const p = start(terraformEnv({ [MAGIC_COOKIE_KEY]: undefined }));
    const { code } = await p.closed;
    expect(code).toBe(1);
    expect(p.stdout()).toBe("");
    expect(p.stderr()).toContain("Terraform");
    expect(p.stderr()).toMatch(/dev_overrides|filesystem_mirror/);
  });
});
