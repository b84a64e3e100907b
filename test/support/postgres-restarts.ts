// `bin/apikeys serve` on a Postgres that is restarted and killed under load, for the test that
// keeps the server alive through it (test/postgres-restarts.test.ts, a few restarts) and the
// script that runs fifty (bench/postgres-restarts.ts). The load: cached verifications and admin
// writes on both ports, running through every restart. After each restart the server must still
// run and, on its own, answer verifications from its caches again (checked with `api_keys`
// locked, so only a cached answer can come back) and accept writes.
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AccessLevel } from "../../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { loadConfig } from "../../server/config.js";
import { createDatabase } from "../../server/db/database.js";
import { createHasher } from "../../server/hashing.js";
import { addPrincipal, createWorkspaceWithOwner } from "../../server/principal/principal.admin.js";
import { lockTables } from "./database.js";
import { startPostgresCluster, type RestartMode } from "./postgres-cluster.js";
import { startServeProcess, type ServeProcess } from "./serve-process.js";
import { TEST_ARGON2_ENV } from "./test-server.js";

/** One restart: how long Postgres took to come back, then the server to serve from its caches again. */
export interface RestartRound {
  readonly mode: RestartMode;
  readonly postgresMs: number;
  readonly recoveredMs: number;
}

/** What a run saw. */
export interface RestartReport {
  readonly rounds: readonly RestartRound[];
  /** The load's calls by kind ("verify grpc", "write http", ...) and outcome ("ok" or a code's name). */
  readonly calls: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** The server's log lines at level error, and its outage lines (start and end). */
  readonly errorLines: readonly string[];
  readonly outageLines: readonly string[];
  /** The server's exit code on SIGTERM after the run (0: drained and stopped cleanly). */
  readonly exitCode: number | null;
}

const MODES: readonly RestartMode[] = ["fast", "immediate", "kill"];
const RECOVERY_TIMEOUT_MS = 120_000;
type Port = "http" | "grpc";
const PORTS: readonly Port[] = ["http", "grpc"];

/** Restarts Postgres `restarts` times (fast, immediate, killed, in turn) under load; throws if the server dies or does not recover. */
export async function restartPostgresUnderLoad(restarts: number, onRound?: (round: RestartRound, index: number) => void): Promise<RestartReport> {
  const cluster = await startPostgresCluster();
  let server: ServeProcess | undefined;
  const db = createDatabase(cluster.url, 2);
  try {
    server = await startServeProcess({ DATABASE_URL: cluster.url, ...TEST_ARGON2_ENV, APIKEYS_LOG_LEVEL: "info" });
    const running = server;
    const hasher = createHasher(loadConfig(TEST_ARGON2_ENV).argon2);
    const { token: owner } = await createWorkspaceWithOwner(db, hasher, { name: "Acme", ownerName: "Olivia Owner" });
    const { token: service } = await addPrincipal(db, hasher, { kind: "service", name: "api-gateway" });
    const client = (token: string, port: Port): Client<typeof ApiKeyService> => {
      const auth: Interceptor = (next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req));
      return createClient(
        ApiKeyService,
        port === "http"
          ? createConnectTransport({ baseUrl: `http://127.0.0.1:${running.httpPort}`, httpVersion: "1.1", interceptors: [auth] })
          : createGrpcTransport({ baseUrl: `http://127.0.0.1:${running.grpcPort}`, interceptors: [auth] }),
      );
    };
    const admin = { http: client(owner, "http"), grpc: client(owner, "grpc") };
    const verifier = { http: client(service, "http"), grpc: client(service, "grpc") };
    const verified = await admin.http.createApiKey({ name: "Verified under restarts", access: AccessLevel.FULL });
    const written = (await admin.http.createApiKey({ name: "Written under restarts", access: AccessLevel.FULL })).apiKey!.id;
    let writes = 0;
    const verify = (port: Port, timeoutMs: number) => verifier[port].verifyApiKey({ key: verified.secret }, { timeoutMs });
    const write = (port: Port, timeoutMs: number) =>
      admin[port].updateApiKey({ apiKey: { id: written, name: `Written ${++writes}` }, updateMask: { paths: ["name"] } }, { timeoutMs });

    // The load, until `stopped`: two verifying loops and one writing loop per port.
    const calls: Record<string, Record<string, number>> = {};
    let stopped = false;
    const loop = async (kind: string, call: () => Promise<unknown>, pauseMs: number) => {
      const counts = (calls[kind] ??= {});
      while (!stopped) {
        let outcome = "ok";
        try {
          const res = await call();
          if (res && typeof res === "object" && "valid" in res && !res.valid) outcome = "not valid";
        } catch (err) {
          outcome = Code[ConnectError.from(err).code];
        }
        counts[outcome] = (counts[outcome] ?? 0) + 1;
        await sleep(outcome === "ok" ? pauseMs : 20);
      }
    };
    const load = PORTS.flatMap((port) => [
      loop(`verify ${port}`, () => verify(port, 10_000), 2),
      loop(`verify ${port}`, () => verify(port, 10_000), 2),
      loop(`write ${port}`, () => write(port, 30_000), 10),
    ]);

    const alive = (after: string) => {
      if (running.child.exitCode !== null || running.child.signalCode !== null) {
        throw new Error(`the server exited (${running.child.exitCode ?? running.child.signalCode}) ${after}:\n${running.output().slice(-6000)}`);
      }
    };
    // Served from its caches again: a verification fills them (if they are on), and then, with
    // api_keys locked, only a cached verification can answer.
    const servingFromCache = async (): Promise<boolean> => {
      for (const port of PORTS) if (!(await verify(port, 10_000).then((r) => r.valid, () => false))) return false;
      const lock = await lockTables(cluster.url, ["api_keys"]).catch(() => undefined);
      if (!lock) return false;
      try {
        for (const port of PORTS) if (!(await verify(port, 1000).then((r) => r.valid, () => false))) return false;
        return true;
      } finally {
        await lock.release().catch(() => {});
      }
    };
    const writing = async () => {
      for (const port of PORTS) if (!(await write(port, 10_000).then(() => true, () => false))) return false;
      return true;
    };

    const rounds: RestartRound[] = [];
    try {
      for (let i = 0; i < restarts; i++) {
        const mode = MODES[i % MODES.length]!;
        const started = performance.now();
        await cluster.restart(mode);
        const postgresMs = Math.round(performance.now() - started);
        const deadline = performance.now() + RECOVERY_TIMEOUT_MS;
        for (;;) {
          alive(`after restart ${i + 1} (${mode})`);
          if ((await servingFromCache()) && (await writing())) break;
          alive(`after restart ${i + 1} (${mode})`);
          if (performance.now() > deadline) {
            throw new Error(`restart ${i + 1} (${mode}): not serving cached verifications and writes after ${RECOVERY_TIMEOUT_MS} ms:\n${running.output().slice(-6000)}`);
          }
          await sleep(200);
        }
        const round = { mode, postgresMs, recoveredMs: Math.round(performance.now() - started) };
        rounds.push(round);
        onRound?.(round, i);
      }
    } finally {
      stopped = true;
      await Promise.all(load);
    }
    const lines = running.output().split("\n");
    return {
      rounds,
      calls,
      errorLines: lines.filter((l) => l.includes('"level":"error"')),
      outageLines: lines.filter((l) => l.includes('"msg":"database unreachable') || l.includes('"msg":"database reachable again"')),
      exitCode: await running.stop(),
    };
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) await server.stop();
    await db.destroy();
    await cluster.destroy();
  }
}
