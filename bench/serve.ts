// The server as an operator runs it, for benchmarks: `bin/apikeys serve` as a child process on
// the embedded Postgres in its own data folder, the CLI next to it, and what /proc says about the
// node process that serves (bin/apikeys execs node on the built bundle: the child is the server).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildServer } from "../server/build.js";
import { findRunningEmbeddedPostgres } from "../server/db/embedded-postgres.js";
import { cpuSecondsOf } from "./h2load.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "apikeys");
const START_TIMEOUT_MS = 120_000;
// Built once per run, so that the benchmark measures the sources as they are.
let built: Promise<void> | undefined;

export interface BenchServer {
  readonly dataDir: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The node process that serves (bin/apikeys's own pid, since it execs node). */
  readonly pid: number;
  /** Listening ports of that process other than the two listeners (an inspector, when asked for). */
  readonly otherPorts: readonly number[];
  /** Everything the server wrote to stdout and stderr. */
  output(): string;
  /** SIGTERM, then the exit code (the server drains calls and stops its embedded Postgres). */
  stop(): Promise<number | null>;
}

/**
 * Starts `bin/apikeys serve` with APIKEYS_DATA_DIR=`dataDir`, ports 0 and the given environment.
 * The ports come from the "apikeys is serving" log line when the log level lets it through;
 * at `warn` it does not, so they are read from /proc: the listening sockets of the server's node
 * process, told apart by how each answers an HTTP/1.1 request (the gRPC port answers in HTTP/2).
 */
export async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<BenchServer> {
  await (built ??= buildServer());
  const child = spawn(BIN, ["serve"], {
    cwd: ROOT,
    env: { ...process.env, APIKEYS_DATA_DIR: dataDir, APIKEYS_GRPC_PORT: "0", APIKEYS_HTTP_PORT: "0", APIKEYS_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => void (output += d));
  child.stderr!.on("data", (d: Buffer) => void (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => void (exitCode = code));
  const stop = async () => {
    if (exitCode === undefined) child.kill("SIGTERM");
    return exited;
  };

  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the server exited with ${exitCode} while starting:\n${output}`);
      if (Date.now() > deadline) throw new Error(`the server did not start within ${START_TIMEOUT_MS} ms:\n${output}`);
      const found = await findListeners(child, output);
      if (found) return { dataDir, ...found, output: () => output, stop };
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

async function findListeners(child: ChildProcess, output: string) {
  const pid = child.pid!;
  const serving = output.split("\n").find((line) => line.includes('"msg":"apikeys is serving"'));
  const ports = listeningPorts(pid);
  if (serving) {
    const { grpc, http } = JSON.parse(serving) as { grpc: string; http: string };
    const grpcPort = Number(grpc.split(":").pop());
    const httpPort = Number(http.split(":").pop());
    return { pid, grpcPort, httpPort, otherPorts: ports.filter((p) => p !== grpcPort && p !== httpPort) };
  }
  // Without the log line: both listeners are up once their sockets are (the line follows at once).
  // An inspector (--inspect) is a third port, which names itself in the output.
  const inspectors = [...output.matchAll(/Debugger listening on ws:\/\/[^:]+:(\d+)\//g)].map((m) => Number(m[1]));
  const candidates = ports.filter((p) => !inspectors.includes(p));
  if (candidates.length < 2) return undefined;
  if (candidates.length > 2) throw new Error(`the server listens on more ports than expected: ${candidates.join(", ")}`);
  const kinds = await Promise.all(candidates.map(probe));
  const grpcPort = candidates[kinds.indexOf("http2")];
  const httpPort = candidates[kinds.indexOf("http1")];
  if (grpcPort === undefined || httpPort === undefined) return undefined; // not answering yet
  return { pid, grpcPort, httpPort, otherPorts: ports.filter((p) => p !== grpcPort && p !== httpPort) };
}

/** Every process below `root`: for the server, its embedded Postgres. */
export function descendants(root: number): number[] {
  const children = childrenByParent();
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(root);
  return found;
}

function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(readProc(`/proc/${entry}/stat`)?.replace(/^.*\) /s, "").split(" ")[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(entry));
  }
  return children;
}

/** CPU seconds of the processes below `pid` (its embedded Postgres), by process. */
export function descendantCpu(pid: number): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const child of descendants(pid)) {
    const seconds = cpuSecondsOf(child);
    if (seconds !== undefined) cpu.set(child, seconds);
  }
  return cpu;
}

/** TCP ports `pid` listens on (IPv4 and IPv6), from its socket inodes and /proc/net/tcp{,6}. */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    for (const line of (readProc(`/proc/${pid}/net/${table}`) ?? "").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === "0A" && inodes.has(f[9]!)) ports.push(Number.parseInt(f[1]!.split(":")[1]!, 16));
    }
  }
  return [...new Set(ports)];
}

/** How a port answers an HTTP/1.1 request: HTTP/1.1 (the HTTP port) or HTTP/2 frames (grpc-js). */
function probe(port: number): Promise<"http1" | "http2" | "none"> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    let settled = false;
    const done = (kind: "http1" | "http2" | "none") => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(kind);
    };
    socket.once("data", (d: Buffer) => done(d.toString("latin1").startsWith("HTTP/1.") ? "http1" : "http2"));
    socket.once("error", () => done("none"));
    socket.once("close", () => done("none"));
    socket.setTimeout(2000, () => done("none"));
  });
}

/** Runs the CLI against the same data folder (it joins the server's embedded Postgres); returns stdout. */
export async function cli(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(BIN, args, {
      cwd: ROOT,
      env: { ...process.env, APIKEYS_DATA_DIR: dataDir, APIKEYS_LOG_LEVEL: "warn", ...env },
    });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`bin/apikeys ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

/** The URL of the embedded cluster a server runs in `dataDir`, found the way the CLI finds it. */
export async function databaseUrl(dataDir: string): Promise<string> {
  const url = await findRunningEmbeddedPostgres(path.join(dataDir, "postgres"));
  if (!url) throw new Error(`no running embedded Postgres in ${dataDir}/postgres`);
  return url;
}

/** Resident memory (VmRSS) of `pid`, in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readProc(`/proc/${pid}/status`) ?? "");
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** CPU time (user + system, every thread) `pid` has used, in seconds. */
export function cpuSeconds(pid: number): number {
  const seconds = cpuSecondsOf(pid);
  if (seconds === undefined) throw new Error(`process ${pid} is gone`);
  return seconds;
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
