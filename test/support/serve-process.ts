// `bin/apikeys serve` as a child process, as an operator runs it: for tests of start-up,
// SIGTERM, the embedded Postgres default and the README's commands.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Everything the process wrote to stderr (JSON log lines). */
  readonly output: () => string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `bin/apikeys serve` with `env` and waits for its "apikeys is serving" line. */
export async function startServeProcess(env: Record<string, string>): Promise<ServeProcess> {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const child = spawn("bin/apikeys", ["serve"], {
    env: { ...process.env, APIKEYS_GRPC_PORT: String(grpcPort), APIKEYS_HTTP_PORT: String(httpPort), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 90 s:\n${output}`)), 90_000);
    const check = () => {
      if (output.includes('"msg":"apikeys is serving"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before serving:\n${output}`));
    });
  });
  return {
    child,
    grpcPort,
    httpPort,
    output: () => output,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}
