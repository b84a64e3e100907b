// The test zip reader (test/support/zip.ts) against archives written by other programs: Info-ZIP's
// `zip` (stored and deflated entries, and a streamed archive whose local headers carry no sizes)
// and a real Terraform saved plan, the file the secret searches need to look inside.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseZip, readZipEntries } from "./support/zip.js";

const run = promisify(execFile);

/** Whether `command` can be run (it answers its version flag). */
function available(command: string, versionFlag: string): boolean {
  try {
    execFileSync(command, [versionFlag], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "apikeys-zip-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe.skipIf(!available("zip", "-v"))("readZipEntries on archives made by the zip command", () => {
  const text = Buffer.from("hello-zip-test line\n".repeat(500)); // compresses well: deflated
  const noise = randomBytes(4000); // does not compress: zip stores it
  const empty = Buffer.alloc(0);

  beforeAll(async () => {
    await mkdir(path.join(dir, "src", "sub"), { recursive: true });
    await writeFile(path.join(dir, "src", "text.txt"), text);
    await writeFile(path.join(dir, "src", "sub", "noise.bin"), noise);
    await writeFile(path.join(dir, "src", "empty"), empty);
  });

  it("reads deflated and stored entries by name, and the raw file does not show deflated text", async () => {
    const zip = path.join(dir, "plain.zip");
    await run("zip", ["-q", "-X", zip, "text.txt", "empty"], { cwd: path.join(dir, "src") });
    await run("zip", ["-q", "-X", "-0", zip, "sub/noise.bin"], { cwd: path.join(dir, "src") }); // forced stored
    const entries = await readZipEntries(zip);
    expect([...entries.keys()].sort()).toEqual(["empty", "sub/noise.bin", "text.txt"]);
    expect(entries.get("text.txt")?.equals(text)).toBe(true);
    expect(entries.get("sub/noise.bin")?.equals(noise)).toBe(true);
    expect(entries.get("empty")?.length).toBe(0);
    const raw = await readFile(zip);
    expect(raw.includes("hello-zip-test")).toBe(false); // deflated: only readable once inflated
    expect(raw.includes(noise)).toBe(true); // stored as is
  });

  it("reads a streamed archive whose local headers carry no compressed size (data descriptors)", async () => {
    const zip = path.join(dir, "streamed.zip");
    // Writing to a pipe, zip cannot seek back to fill in sizes, so it writes data descriptors,
    // as Go's archive/zip (and therefore Terraform) always does.
    await run("sh", ["-c", `zip -q - text.txt sub/noise.bin | cat > '${zip}'`], { cwd: path.join(dir, "src") });
    const raw = await readFile(zip);
    expect(raw.readUInt16LE(6) & 0x8).toBe(0x8); // first local header: "sizes in data descriptor"
    expect(raw.readUInt32LE(18)).toBe(0); // ... and compressed size 0
    const entries = parseZip(raw);
    expect(entries.get("text.txt")?.equals(text)).toBe(true);
    expect(entries.get("sub/noise.bin")?.equals(noise)).toBe(true);
  });

  it("throws on a file that is not a zip, and on a truncated one", async () => {
    expect(() => parseZip(Buffer.from("not a zip at all, just some text that is long enough"))).toThrow(/not a zip/);
    const raw = await readFile(path.join(dir, "plain.zip"));
    expect(() => parseZip(raw.subarray(0, raw.length - 30))).toThrow();
  });
});

describe.skipIf(!available("terraform", "version"))("readZipEntries on a Terraform saved plan", () => {
  it("finds the tfplan entry and a configured value that only decompression reveals", async () => {
    const work = path.join(dir, "tf");
    await mkdir(work);
    await writeFile(path.join(work, "main.tf"), 'resource "terraform_data" "x" { input = "hello-zip-test" }\n');
    // An empty CLI configuration, so a developer's own (dev_overrides, mirrors) cannot interfere.
    await writeFile(path.join(work, "empty.tfrc"), "");
    const env = {
      ...process.env,
      CHECKPOINT_DISABLE: "1",
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
      TF_CLI_CONFIG_FILE: path.join(work, "empty.tfrc"),
    };
    await run("terraform", ["init", "-no-color"], { cwd: work, env });
    await run("terraform", ["plan", "-no-color", "-out=p.tfplan"], { cwd: work, env });

    const file = path.join(work, "p.tfplan");
    const entries = await readZipEntries(file);
    expect(entries.has("tfplan")).toBe(true);
    const holding = [...entries].filter(([, content]) => content.includes("hello-zip-test")).map(([name]) => name);
    expect(holding.length).toBeGreaterThan(0);
    expect((await readFile(file)).includes("hello-zip-test")).toBe(false);
  });
});
