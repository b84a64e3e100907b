// `bin/apikeys serve` as a child process, as an operator runs it: for tests of start-up,
// SIGTERM, the embedded Postgres default and the README's commands.
import { spawn, type ChildProcess } from "node:child_process";

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Everything the process wrote (JSON log lines on stderr). */
  readonly output: () => string;
  /** Resolves once a line containing `text` has been written. */
  waitFor(text: string): Promise<void>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `bin/apikeys serve` on free ports (port 0) and reads them from its "serving" line. */
export async function startServeProcess(env: Record<string, string>): Promise<ServeProcess> {
  const child = spawn("bin/apikeys", ["serve"], {
    env: { ...process.env, APIKEYS_GRPC_PORT: "0", APIKEYS_HTTP_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d;
    for (const listener of listeners) listener();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const waitFor = (text: string, timeoutMs = 90_000) =>
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
  await waitFor('"msg":"apikeys is serving"');
  const serving = JSON.parse(output.split("\n").find((line) => line.includes('"msg":"apikeys is serving"'))!) as { grpc: string; http: string };
  return {
    child,
    grpcPort: Number(serving.grpc.split(":").pop()),
    httpPort: Number(serving.http.split(":").pop()),
    output: () => output,
    waitFor: (text) => waitFor(text),
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}
