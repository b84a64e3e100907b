// `bin/apikeys serve` as a child process, as an operator runs it: for tests of start-up, signals,
// the embedded Postgres default and the README's commands.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Everything the process wrote (JSON log lines on stderr). */
  readonly output: () => string;
  /** Resolves once a line containing `text` has been written. */
  waitFor(text: string): Promise<void>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** How to start the server; `bin/apikeys serve` unless told otherwise. */
export interface ServeCommand {
  readonly command?: string;
  readonly args?: readonly string[];
  /** In a process group of its own (a terminal's foreground job), which the child leads. */
  readonly detached?: boolean;
  /** The working folder (this one by default). */
  readonly cwd?: string;
}

/** Starts the server on free ports (port 0 unless `env` says otherwise) and reads them from its "serving" line. */
export async function startServeProcess(env: Record<string, string>, how: ServeCommand = {}): Promise<ServeProcess> {
  const run = spawnServe(env, how);
  const { output, waitFor, exited, child } = run;
  try {
    await waitFor('"msg":"apikeys is serving"');
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const serving = JSON.parse(output().split("\n").find((line) => line.includes('"msg":"apikeys is serving"'))!) as { grpc: string; http: string };
  return {
    child,
    grpcPort: Number(serving.grpc.split(":").pop()),
    httpPort: Number(serving.http.split(":").pop()),
    output,
    waitFor: (text) => waitFor(text),
    exited,
    stop: async (signal = "SIGTERM") => {
      child.kill(signal);
      return exited;
    },
  };
}

/** Runs the server until it exits by itself (it fails to start): its exit code and output. */
export async function runServeToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const { exited, output } = spawnServe(env, {});
  return { code: await exited, output: output() };
}

function spawnServe(env: Record<string, string>, how: ServeCommand) {
  const child = spawn(how.command ?? "bin/apikeys", how.args ?? ["serve"], {
    env: { ...process.env, APIKEYS_GRPC_PORT: "0", APIKEYS_HTTP_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: how.detached ?? false,
    cwd: how.cwd,
  });
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d;
    for (const listener of listeners) listener();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  // "close", not "exit": by then every line the process wrote has been read.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const waitFor = (text: string, timeoutMs = 120_000) =>
    new Promise<void>((resolve, reject) => {
      const done = () => {
        listeners.delete(check);
        clearTimeout(timer);
      };
      const check = () => {
        if (output.includes(text)) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => (done(), reject(new Error(`no "${text}" within ${timeoutMs} ms:\n${output}`))), timeoutMs);
      listeners.add(check);
      void exited.then((code) => (done(), reject(new Error(`server exited with ${code} before "${text}":\n${output}`))));
      check();
    });
  return { child, output: () => output, waitFor, exited };
}

/** The pid in the postmaster.pid of the embedded cluster in `dataDir` (APIKEYS_DATA_DIR), if any. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]) || undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a running process (a zombie, gone but not yet reaped, is not). */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** The pids whose parent is `pid`, from /proc. */
export function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}
