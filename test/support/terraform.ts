// The real `terraform` binary against a provider built from this checkout: each test file builds
// the provider into its own temporary folder (a filesystem mirror) and runs terraform there.
// Commands run asynchronously: the server under test may live in this very process. The folders
// are made with tempDir(): a test file using these helpers removes them with afterAll(removeTempDirs).
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { tempDir } from "./temp-dir.js";

const run = promisify(execFile);

export interface TerraformResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Builds the provider (`npm run build:provider -- DIR`); returns the CLI configuration file. */
export async function buildProvider(): Promise<string> {
  const out = tempDir("apikeys-provider-");
  await run("node_modules/.bin/tsx", ["provider/build.ts", out]);
  return path.join(out, "terraformrc");
}

/** A working directory with its own configuration, run with the given environment. */
export interface TerraformDir {
  readonly dir: string;
  write(files: Record<string, string>): Promise<void>;
  /** Runs terraform; never throws on a non-zero exit, the caller asserts on `code`. */
  run(...args: string[]): Promise<TerraformResult>;
  /** Runs terraform and throws with its output when it fails. */
  ok(...args: string[]): Promise<string>;
}

/** A working directory for terraform (a fresh one unless given), offline, pointed at the built provider. */
export async function terraformDir(cliConfig: string, env: Record<string, string>, existing?: string): Promise<TerraformDir> {
  const dir = existing ?? tempDir("apikeys-tf-");
  const fullEnv = {
    ...process.env,
    TF_CLI_CONFIG_FILE: cliConfig,
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    ...env,
  };
  const runIn = async (...args: string[]): Promise<TerraformResult> => {
    try {
      const { stdout, stderr } = await run("terraform", [...args], { cwd: dir, env: fullEnv, maxBuffer: 64 << 20 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      if (typeof err.code !== "number") throw e;
      return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
  };
  return {
    dir,
    async write(files) {
      for (const [name, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), text);
      }
    },
    run: runIn,
    async ok(...args) {
      const result = await runIn(...args);
      if (result.code !== 0) throw new Error(`terraform ${args.join(" ")} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
      return result.stdout;
    },
  };
}
