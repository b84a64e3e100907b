// The `apikeys` command: serve, migrate, and the administration commands that mint principals'
// tokens. Tokens are printed alone on stdout (so `TOKEN=$(apikeys ...)` works); everything meant
// for people goes to stderr.
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { startApp } from "./app.js";
import { createDatabase, type Db } from "./db/database.js";
import { migrateToLatest } from "./db/migrate.js";
import { resolveDatabaseUrl } from "./db/resolve-database-url.js";
import { createHasher } from "./hashing.js";
import { importLegacyKey } from "./legacy/legacy-import.js";
import { createLogger, type Logger } from "./logger.js";
import { addPrincipal, createWorkspaceWithOwner } from "./principal/principal.admin.js";
import { listPrincipals, revokePrincipalTokens } from "./principal/principal.repository.js";
import type { Role } from "./principal/principal.table.js";
import { addScopes, listScopes } from "./scope/scope.repository.js";
import { SCOPE_NAME } from "./scope/scope-rules.js";

const USAGE = `usage: apikeys <command> [options]

  serve                                        start the gRPC and HTTP listeners (default)
  migrate                                      bring the database schema up to date
  bootstrap --workspace NAME --owner NAME      create the first workspace and owner; prints the owner's token once
  workspaces add --name NAME --owner NAME      create another workspace and its owner; prints the owner's token
  members add --workspace ID --name NAME --role owner|admin|member
                                               add a workspace member; prints their token once
  services add --name NAME [--workspace ID]    add a service that may verify keys (of one workspace, or all)
  support add --name NAME                      add a support staff principal; prints their token once
  principals list [--workspace ID]             list principals (never tokens)
  tokens revoke --principal ID                 revoke every token of a principal
  scopes add NAME [--description TEXT]         add a scope to the catalog
  scopes list                                  list the scope catalog
  legacy import --workspace ID                 read a legacy account key's secret from stdin and store its hash

Configuration comes from environment variables; see the README.`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command = "serve", sub, ...rest] = argv;
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  if (command === "serve") return serve(config, log);
  if (command === "help" || command === "--help") {
    process.stderr.write(USAGE + "\n");
    return 0;
  }
  const args = command === "migrate" || command === "bootstrap" ? [sub, ...rest].filter((a) => a !== undefined) : rest;
  return withDatabase(config, log, async (db) => {
    const hasher = createHasher(config.argon2);
    const opts = (spec: Record<string, { type: "string" }>) => parseArgs({ args, options: spec, allowPositionals: true });
    const need = (values: Record<string, unknown>, ...names: string[]) => {
      for (const n of names) if (typeof values[n] !== "string" || values[n] === "") throw new UsageError(`missing --${n}`);
    };
    switch (`${command} ${command === "migrate" || command === "bootstrap" ? "" : sub ?? ""}`.trim()) {
      case "migrate": {
        const result = await migrateToLatest(db);
        say(`migrations applied: ${result.results?.map((r) => r.migrationName).join(", ") || "none (already up to date)"}`);
        return 0;
      }
      case "bootstrap": {
        const { values } = opts({ workspace: { type: "string" }, owner: { type: "string" } });
        need(values, "workspace", "owner");
        await migrateToLatest(db);
        const existing = await db.selectFrom("workspaces").select("id").limit(1).executeTakeFirst();
        if (existing) throw new UsageError("already bootstrapped; use `apikeys workspaces add` for another workspace");
        const minted = await createWorkspaceWithOwner(db, hasher, { name: values.workspace!, ownerName: values.owner! });
        say(`created workspace ${minted.workspaceId} and its owner ${minted.principalId}. The owner's token follows; it is shown only this once.`);
        process.stdout.write(minted.token + "\n");
        return 0;
      }
      case "workspaces add": {
        const { values } = opts({ name: { type: "string" }, owner: { type: "string" } });
        need(values, "name", "owner");
        const minted = await createWorkspaceWithOwner(db, hasher, { name: values.name!, ownerName: values.owner! });
        say(`created workspace ${minted.workspaceId} and its owner ${minted.principalId}. The owner's token follows, shown once.`);
        process.stdout.write(minted.token + "\n");
        return 0;
      }
      case "members add": {
        const { values } = opts({ workspace: { type: "string" }, name: { type: "string" }, role: { type: "string" } });
        need(values, "workspace", "name", "role");
        if (!["owner", "admin", "member"].includes(values.role!)) throw new UsageError("--role must be owner, admin or member");
        return mint(db, { kind: "member", name: values.name!, workspaceId: values.workspace!, role: values.role as Role });
      }
      case "services add": {
        const { values } = opts({ name: { type: "string" }, workspace: { type: "string" } });
        need(values, "name");
        return mint(db, { kind: "service", name: values.name!, workspaceId: values.workspace ?? null });
      }
      case "support add": {
        const { values } = opts({ name: { type: "string" } });
        need(values, "name");
        return mint(db, { kind: "support", name: values.name! });
      }
      case "principals list": {
        const { values } = opts({ workspace: { type: "string" } });
        for (const p of await listPrincipals(db, values.workspace)) {
          process.stdout.write(`${p.id}\t${p.kind}\t${p.role ?? "-"}\t${p.workspace_id ?? "-"}\t${p.name}\n`);
        }
        return 0;
      }
      case "tokens revoke": {
        const { values } = opts({ principal: { type: "string" } });
        need(values, "principal");
        say(`revoked ${await revokePrincipalTokens(db, values.principal!)} token(s) of ${values.principal}`);
        return 0;
      }
      case "scopes add": {
        const { values, positionals } = opts({ description: { type: "string" } });
        const name = positionals[0];
        if (!name || !SCOPE_NAME.test(name)) throw new UsageError('scope name must be lowercase "resource:action", such as "orders:read"');
        const added = await addScopes(db, [{ name, description: values.description ?? "" }]);
        say(added.length ? `added scope ${name}; FULL keys pass it from now on, CUSTOM keys only when granted` : `scope ${name} already exists`);
        return 0;
      }
      case "scopes list": {
        for (const s of await listScopes(db)) process.stdout.write(`${s.name}\t${s.description}\n`);
        return 0;
      }
      case "legacy import": {
        const { values } = opts({ workspace: { type: "string" } });
        need(values, "workspace");
        const secret = (await readStdin()).trim();
        const row = await importLegacyKey(db, hasher, { workspaceId: values.workspace!, secret });
        say(`imported the legacy account key ${row.id} (${row.hint}) for workspace ${row.workspace_id}; only its hash is stored`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${[command, sub].filter(Boolean).join(" ")}"`);
    }

    async function mint(db: Db, p: Parameters<typeof addPrincipal>[2]): Promise<number> {
      const minted = await addPrincipal(db, hasher, p);
      say(`added ${p.kind} ${minted.principalId} (${p.name}). Their token follows, shown only this once.`);
      process.stdout.write(minted.token + "\n");
      return 0;
    }
  });
}

async function serve(config: Config, log: Logger): Promise<number> {
  const app = await startApp(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info("shutting down: finishing in-flight calls", { signal });
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  await app.close();
  log.info("stopped");
  return 0;
}

/** Runs an administration command on the configured database (the embedded one if none). */
async function withDatabase(config: Config, log: Logger, run: (db: Db) => Promise<number>): Promise<number> {
  const database = await resolveDatabaseUrl(config, log);
  const db = createDatabase(database.url, 2);
  try {
    return await run(db);
  } finally {
    await db.destroy();
    await database.stop();
  }
}

function say(line: string): void {
  process.stderr.write(line + "\n");
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`apikeys: ${err.message}\n\n${err instanceof UsageError ? USAGE : ""}\n`);
      process.exit(2);
    }
    process.stderr.write(`apikeys: ${(err as Error).message}${(err as Error).cause ? `: ${((err as Error).cause as Error).message}` : ""}\n`);
    process.exit(1);
  },
);
