// Reads the Dockerfile's stages and performs their file and shell steps on this machine, which has
// no container engine: each stage's filesystem is a folder, absolute paths in WORKDIR and COPY
// are taken inside it, and RUN lines run with sh in the stage's working folder. What the test does
// is therefore what the Dockerfile says, line by line, and cannot drift from it.
import { execFile } from "node:child_process";
import { cp, mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** One instruction: its keyword (upper case) and the rest of the line. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** A stage: its base image, its name (AS ...) and its instructions after FROM. */
export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

/** The stages of the Dockerfile at `file`; comments and blank lines dropped, continuations joined. */
export async function readDockerfile(file: string): Promise<Stage[]> {
  const text = (await readFile(file, "utf8")).replace(/\\\n/g, " ");
  const stages: Array<{ image: string; name: string | undefined; instructions: Instruction[] }> = [];
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (line === "" || line.startsWith("#")) continue;
    const [, keyword, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (!keyword || args === undefined) throw new Error(`unreadable Dockerfile line: ${line}`);
    if (keyword.toUpperCase() === "FROM") {
      const [image, as, name] = args.split(/\s+/);
      stages.push({ image: image!, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** The arguments of every `keyword` instruction of `stage`. */
export function argsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** ENV instructions as a map (the `KEY=value KEY2=value2` form). */
export function envOf(stage: Stage): Record<string, string> {
  return Object.fromEntries(argsOf(stage, "ENV").flatMap((args) => args.split(/\s+/).map((pair) => pair.split("=", 2) as [string, string])));
}

/** A JSON (exec form) instruction's words. */
export function execForm(args: string): string[] {
  return JSON.parse(args) as string[];
}

/** How to perform one stage here. */
export interface PerformOptions {
  /** The folder standing for the stage's filesystem root. */
  readonly root: string;
  /** Where `COPY` without --from reads (the build context, as .dockerignore leaves it). */
  readonly context: string;
  /** Folders standing for earlier stages' roots, by stage name. */
  readonly stages: Readonly<Record<string, string>>;
  /** Environment for RUN lines, on top of the stage's ENV. */
  readonly env: Readonly<Record<string, string>>;
  /** Performs a RUN line itself instead of running it (returns true), e.g. one it stands in for. */
  readonly instead?: (command: string, cwd: string) => Promise<boolean>;
}

/** Performs WORKDIR, COPY and RUN of `stage`; returns its final working folder. */
export async function performStage(stage: Stage, opts: PerformOptions): Promise<string> {
  const inside = (root: string, p: string) => path.join(root, p);
  let workdir = "/";
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    const cwd = inside(opts.root, workdir);
    if (keyword === "WORKDIR") {
      workdir = path.posix.resolve(workdir, args);
      await mkdir(inside(opts.root, workdir), { recursive: true });
    } else if (keyword === "ENV") {
      Object.assign(env, envOf({ ...stage, instructions: [{ keyword, args }] }));
    } else if (keyword === "COPY") {
      const words = args.split(/\s+/);
      const from = words[0]!.startsWith("--from=") ? words.shift()!.slice("--from=".length) : undefined;
      const dest = words.pop()!;
      const sourceRoot = from === undefined ? opts.context : opts.stages[from];
      if (!sourceRoot) throw new Error(`COPY --from=${from}: no such stage performed`);
      for (const source of words) {
        // Without --from, sources are relative to the context; with it, to the stage's root.
        const src = from === undefined ? path.join(sourceRoot, source) : inside(sourceRoot, source);
        const target = inside(opts.root, path.posix.resolve(workdir, dest));
        // Docker copies a folder's contents, and a file into a destination ending in "/".
        const into = !(await stat(src)).isDirectory() && dest.endsWith("/") ? path.join(target, path.basename(source)) : target;
        await cp(src, into, { recursive: true });
      }
    } else if (keyword === "RUN") {
      if (args.split(/\s+/).some((word) => word.startsWith("/"))) {
        throw new Error(`RUN with an absolute path cannot be performed here: ${args}`);
      }
      if (await opts.instead?.(args, cwd)) continue;
      await run("sh", ["-c", args], { cwd, env: { ...opts.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    }
  }
  return inside(opts.root, workdir);
}
