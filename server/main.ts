// The `apikeys` command: serve, migrate, and the administration commands that mint principals'
// tokens. Tokens are printed alone on stdout (so `TOKEN=$(apikeys ...)` works); everything meant
// for people goes to stderr. Arguments are checked before any database is touched.
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { startApp } from "./app.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { createDatabase, type Db } from "./db/database.js";
import { migrateToLatest } from "./db/migrate.js";
import { resolveDatabaseUrl } from "./db/resolve-database-url.js";
import { createHasher, type Hasher } from "./hashing.js";
import { LEGACY_MAX_LENGTH, LEGACY_MIN_LENGTH } from "./legacy/legacy-hint.js";
import { importLegacyKey } from "./legacy/legacy-import.js";
import { createLogger, type Logger } from "./logger.js";
import { addPrincipal, addToken, AdminInputError, createWorkspaceWithOwner, revokeTokens, type MintedPrincipal } from "./principal/principal.admin.js";
import { listPrincipals } from "./principal/principal.repository.js";
import type { Role } from "./principal/principal.table.js";
import { recordChange, SCOPES_SUBJECT } from "./replica/change.repository.js";
import { addScopes, listScopes } from "./scope/scope.repository.js";
import { SCOPE_NAME } from "./scope/scope-rules.js";
import { onStopSignals, signalExitCode, STOP_SIGNALS, type StopSignal } from "./stop-signals.js";
import { startTracing } from "./tracing/trace-export.js";

const USAGE = `usage: apikeys <command> [options]

  serve                                        start the gRPC and HTTP listeners (default)
  migrate                                      bring the database schema up to date
  bootstrap --workspace NAME --owner NAME      create the first workspace and owner; prints the owner's token once
  workspaces add --name NAME --owner NAME      create another workspace and its owner; prints the owner's token
  members add --workspace ID --name NAME --role owner|admin|member
                                               add a workspace member; prints their token once
  services add --name NAME [--workspace ID]    add a service that may verify keys (of one workspace, or all)
  support add --name NAME                      add a support staff principal; prints their token once
  principals list [--workspace ID]             list principals (never tokens): a header line, then tab-separated rows
  tokens add --principal ID                    mint another token for a principal; prints it once
  tokens revoke --principal ID                 revoke every token of a principal and end its browser sessions
  scopes add NAME [--description TEXT]         add a scope to the catalog
  scopes list                                  list the scope catalog: a header line, then tab-separated rows
  legacy import --workspace ID                 read a legacy account key's secret from stdin (${LEGACY_MIN_LENGTH}-${LEGACY_MAX_LENGTH} printable
                                               ASCII characters, no spaces) and store its hash

Configuration comes from environment variables; see the README.`;

class UsageError extends Error {}

interface Command {
  /** Option names; every option takes a value. */
  readonly options?: readonly string[];
  readonly required?: readonly string[];
  /** Checks positional arguments before the database is opened. */
  readonly check?: (positionals: string[]) => void;
  readonly run: (c: { db: Db; hasher: Hasher; legacyHasher: Hasher; values: Record<string, string | undefined>; positionals: string[] }) => Promise<void>;
}

const ROLES: readonly string[] = ["owner", "admin", "member"];

const COMMANDS: Record<string, Command> = {
  migrate: {
    run: async ({ db }) => {
      const result = await migrateToLatest(db);
      say(`migrations applied: ${result.results?.map((r) => r.migrationName).join(", ") || "none (already up to date)"}`);
    },
  },
  bootstrap: {
    options: ["workspace", "owner"],
    required: ["workspace", "owner"],
    run: async ({ db, hasher, values }) => {
      await migrateToLatest(db);
      if (await db.selectFrom("workspaces").select("id").limit(1).executeTakeFirst()) {
        throw new AdminInputError("already bootstrapped; use `apikeys workspaces add` for another workspace");
      }
      printOwner(await createWorkspaceWithOwner(db, hasher, { name: values.workspace!, ownerName: values.owner! }));
    },
  },
  "workspaces add": {
    options: ["name", "owner"],
    required: ["name", "owner"],
    run: async ({ db, hasher, values }) => printOwner(await createWorkspaceWithOwner(db, hasher, { name: values.name!, ownerName: values.owner! })),
  },
  "members add": {
    options: ["workspace", "name", "role"],
    required: ["workspace", "name", "role"],
    run: ({ db, hasher, values }) => mint(db, hasher, { kind: "member", name: values.name!, workspaceId: values.workspace!, role: values.role as Role }),
  },
  "services add": {
    options: ["name", "workspace"],
    required: ["name"],
    run: ({ db, hasher, values }) => mint(db, hasher, { kind: "service", name: values.name!, workspaceId: values.workspace ?? null }),
  },
  "support add": {
    options: ["name"],
    required: ["name"],
    run: ({ db, hasher, values }) => mint(db, hasher, { kind: "support", name: values.name! }),
  },
  "principals list": {
    options: ["workspace"],
    run: async ({ db, values }) => {
      const principals = await listPrincipals(db, values.workspace);
      printTable(["id", "kind", "role", "workspace", "name"], principals.map((p) => [p.id, p.kind, p.role ?? "-", p.workspace_id ?? "-", p.name]));
    },
  },
  "tokens add": {
    options: ["principal"],
    required: ["principal"],
    run: async ({ db, hasher, values }) => {
      const minted = await addToken(db, hasher, values.principal!);
      say(`added a token for ${minted.principalId}. It follows, shown only this once.`);
      process.stdout.write(minted.token + "\n");
    },
  },
  "tokens revoke": {
    options: ["principal"],
    required: ["principal"],
    run: async ({ db, values }) => {
      const { revoked, sessions } = await revokeTokens(db, values.principal!);
      say(`revoked ${revoked} token(s) and ended ${sessions} browser session(s) of ${values.principal}`);
    },
  },
  "scopes add": {
    options: ["description"],
    check: ([name]) => {
      if (!name || !SCOPE_NAME.test(name)) throw new UsageError('scope name must be lowercase "resource:action", such as "orders:read"');
    },
    run: async ({ db, values, positionals: [name] }) => {
      // Running servers reload the catalog when this commits (the CLI does not wait for them).
      const added = await db.transaction().execute(async (tx) => {
        const names = await addScopes(tx, [{ name: name!, description: values.description ?? "" }]);
        if (names.length > 0) await recordChange(tx, [SCOPES_SUBJECT]);
        return names;
      });
      say(added.length ? `added scope ${name}; FULL keys pass it from now on, CUSTOM keys only when granted` : `scope ${name} already exists`);
    },
  },
  "scopes list": {
    run: async ({ db }) => {
      printTable(["name", "description"], (await listScopes(db)).map((s) => [s.name, s.description]));
    },
  },
  "legacy import": {
    options: ["workspace"],
    required: ["workspace"],
    run: async ({ db, legacyHasher, values }) => {
      const secret = (await readStdin()).trim();
      const row = await importLegacyKey(db, legacyHasher, { workspaceId: values.workspace!, secret });
      say(`imported the legacy account key ${row.id} (${row.hint}) for workspace ${row.workspace_id}; only its hash is stored`);
    },
  },
};

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "help" || argv[0] === "--help") {
    say(USAGE);
    return 0;
  }
  const [name, args] = splitCommand(argv);
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  routeGrpcLogs(log);
  if (name === "serve") return serve(config, log);
  // Interrupted, a command still stops an embedded Postgres it started: exiting runs its exit hook.
  for (const signal of STOP_SIGNALS) process.once(signal, () => process.exit(signalExitCode(signal)));
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}"`);
  const { values, positionals } = parseCommandArgs(command, args);
  if (values.role !== undefined && !ROLES.includes(values.role)) throw new UsageError("--role must be owner, admin or member");
  command.check?.(positionals);
  const database = await resolveDatabaseUrl(config, log, true);
  const db = createDatabase(database.url, 2);
  try {
    await command.run({ db, hasher: createHasher(config.argon2), legacyHasher: createHasher(config.legacyArgon2), values, positionals });
    return 0;
  } finally {
    await db.destroy();
    await database.stop();
  }
}

/** The command's name (one word like "migrate", or two like "members add") and its arguments. */
function splitCommand(argv: string[]): [string, string[]] {
  const [first = "serve", second] = argv;
  if (first === "serve" || COMMANDS[first]) return [first, argv.slice(1)];
  return [`${first} ${second ?? ""}`.trim(), argv.slice(2)];
}

function parseCommandArgs(command: Command, args: string[]) {
  const options = Object.fromEntries((command.options ?? []).map((o) => [o, { type: "string" as const }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const known = (command.options ?? []).map((o) => `--${o}`).join(", ") || "no options";
    const unknown = /'(-[^']*)'/.exec((err as Error).message)?.[1];
    throw new UsageError(unknown ? `unknown option ${unknown}; this command takes ${known}` : (err as Error).message);
  }
  const values = parsed.values as Record<string, string | undefined>;
  for (const required of command.required ?? []) {
    if (!values[required]) throw new UsageError(`missing --${required}`);
  }
  return { values, positionals: parsed.positionals };
}

async function serve(config: Config, log: Logger): Promise<number> {
  // Before anything starts: node's default action for a signal would skip the exit hook that
  // stops an embedded Postgres. A signal during start-up stops the server once it is up.
  const stopRequested = new Promise<StopSignal>((resolve) =>
    onStopSignals({
      graceful: (signal) => {
        log.info("shutting down: finishing in-flight calls (send the signal again to stop at once)", { signal });
        resolve(signal);
      },
      immediate: (signal) => {
        log.warn("stopping at once: in-flight calls are cut off", { signal });
        process.exit(signalExitCode(signal)); // the exit hook stops the embedded Postgres
      },
    }),
  );
  // Off unless the OTEL_* variables turn it on; a value they cannot mean stops the start here.
  const tracing = await startTracing(log);
  const app = await startApp(config, log, tracing);
  say(`The API keys page: ${app.pageUrl} (sign in with a token from \`apikeys bootstrap\`)`);
  await stopRequested;
  await app.close();
  await tracing?.shutdown(); // sends the spans still buffered
  log.info("stopped");
  return 0;
}

// grpc-js writes its own messages as plain "E ..." lines; make them JSON lines like ours. A failed
// bind is also thrown, and explained by explainListenError with the port and its variable.
function routeGrpcLogs(log: Logger): void {
  const grpcLog = log.child({ component: "grpc-js" });
  const line = (level: "error" | "info" | "debug") => (message: unknown) => {
    const text = String(message);
    if (!text.startsWith("No address added")) grpcLog[level](text);
  };
  grpc.setLogger({ error: line("error"), info: line("info"), debug: line("debug") });
}

async function mint(db: Db, hasher: Hasher, p: Parameters<typeof addPrincipal>[2]): Promise<void> {
  const minted = await addPrincipal(db, hasher, p);
  say(`added ${p.kind} ${minted.principalId} (${p.name}). Their token follows, shown only this once.`);
  process.stdout.write(minted.token + "\n");
}

function printOwner(minted: MintedPrincipal): void {
  say(`created workspace ${minted.workspaceId} and its owner ${minted.principalId}. The owner's token follows; it is shown only this once.`);
  process.stdout.write(minted.token + "\n");
}

// A header line, then one line per row; columns are separated by tabs, so `awk -F'\t' 'NR > 1'`
// or `tail -n +2 | cut -f1` reads the rows.
function printTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  process.stdout.write([header, ...rows].map((cells) => cells.join("\t") + "\n").join(""));
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
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof AdminInputError) {
      process.stderr.write(`apikeys: ${err.message}\n${err instanceof UsageError ? `\n${USAGE}\n` : ""}`);
      process.exit(2);
    }
    const error = err as Error;
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    process.stderr.write(`apikeys: ${error.message}${cause}\n`);
    process.exit(1);
  },
);
