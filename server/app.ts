// Starts everything `apikeys serve` runs: database, migrations, catalog seed, and both listeners.
import { readFile } from "node:fs/promises";
import type { Config } from "./config.js";
import { createDatabase, type Db } from "./db/database.js";
import { migrateToLatest } from "./db/migrate.js";
import { resolveDatabaseUrl } from "./db/resolve-database-url.js";
import { startGrpcServer } from "./grpc-server.js";
import { startHttpServer, type PlainHandler } from "./http-server.js";
import { explainListenError } from "./listen-error.js";
import type { Logger } from "./logger.js";
import { startMetricsServer } from "./metrics/metrics-server.js";
import { createOidcRoutes } from "./oidc/oidc-routes.js";
import { createRelyingParty } from "./oidc/oidc-relying-party.js";
import { createHealthHandler } from "./readiness.js";
import { recordChange, SCOPES_SUBJECT } from "./replica/change.repository.js";
import { createRoutes, createServices, type Wiring } from "./routes.js";
import { addScopes } from "./scope/scope.repository.js";
import { readScopeCatalogFile } from "./scope/scope-catalog-file.js";
import type { Tracing } from "./tracing/tracing.js";
import { createWebAssetsHandler, loadWebAssets, PAGE_ROUTES } from "./web-assets.js";

export interface App {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The metrics port (GET /metrics), when APIKEYS_METRICS_PORT is set. */
  readonly metricsPort: number | undefined;
  /** The API keys page on the HTTP port. */
  readonly pageUrl: string;
  readonly databaseUrl: string;
  readonly db: Db;
  /** This process among the replicas on the database (its id, confirmation of changes). */
  readonly replica: Wiring["replica"];
  /** The in-memory caches the replica listener keeps true (for tests and diagnostics). */
  readonly caches: Wiring["caches"];
  /** The argon2 pool's counters, for diagnostics and a metrics layer. */
  readonly argon2: Wiring["argon2"];
  /** Whether this process should get traffic, as the health service and /readyz report it. */
  readonly readiness: Wiring["readiness"];
  /** Graceful stop: listeners finish in-flight calls, buffers flush, the pool closes. */
  close(): Promise<void>;
}

/** Starts the service as configured; with `tracing`, its calls and their queries make spans. */
export async function startApp(config: Config, log: Logger, tracing?: Tracing): Promise<App> {
  const database = await resolveDatabaseUrl(config, log);
  const db = createDatabase(database.url, undefined, tracing);
  const closers: Array<() => Promise<void> | void> = [() => database.stop(), () => db.destroy()];
  const close = async () => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  try {
    if (config.migrateOnStart) await migrateToLatest(db);
    if (config.scopesFile) {
      const catalog = await readScopeCatalogFile(config.scopesFile);
      // Replicas already running reload their catalog when this commits.
      const added = await db.transaction().execute(async (tx) => {
        const names = await addScopes(tx, catalog);
        if (names.length > 0) await recordChange(tx, [SCOPES_SUBJECT]);
        return names;
      });
      if (added.length > 0) log.info("scopes added from catalog file", { file: config.scopesFile, added });
    }
    const { services, replica, readiness, caches, argon2, sessions, metrics, stop } = await createServices(db, config, log, database.url);
    closers.push(stop);

    const tls = config.tls && {
      cert: await readFile(config.tls.certFile),
      key: await readFile(config.tls.keyFile),
    };
    const listen = {
      host: config.host,
      tls,
      maxMessageBytes: config.maxMessageBytes,
      log,
      idleTimeoutMs: config.idleTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      tracing,
    };
    // Both listeners drain at once: both report not serving while in-flight calls finish.
    const listeners: Array<{ shutdown(): Promise<void> }> = [];
    closers.push(async () => {
      readiness.stop();
      await Promise.all(listeners.map((l) => l.shutdown()));
    });
    const grpc = await startGrpcServer({ ...listen, port: config.grpcPort, services: [...services], readiness }).catch((err: unknown) => {
      throw explainListenError(err, { listener: "gRPC", host: config.host, port: config.grpcPort, variable: "APIKEYS_GRPC_PORT" });
    });
    listeners.push(grpc);
    // Health first: no page route may shadow a probe's path.
    const plainHandlers: PlainHandler[] = [createHealthHandler(readiness), createWebAssetsHandler(await loadWebAssets(), log)];
    if (config.oidc) {
      plainHandlers.push(
        createOidcRoutes({
          config: config.oidc,
          db,
          log: log.child({ component: "oidc" }),
          relyingParty: createRelyingParty(config.oidc),
          startSession: async (principalId) => (await sessions.start({ principalId, method: "oidc", signedInWith: null })).setCookie,
          awaitConfirmation: (change) => replica.awaitConfirmation(change, "The role from the identity provider is saved"),
        }),
      );
    }
    const http = await startHttpServer({ ...listen, port: config.httpPort, routes: createRoutes(services), plainHandlers }).catch((err: unknown) => {
      throw explainListenError(err, { listener: "HTTP", host: config.host, port: config.httpPort, variable: "APIKEYS_HTTP_PORT" });
    });
    listeners.push(http);
    const metricsServer =
      metrics &&
      (await startMetricsServer({ host: config.host, port: config.metricsPort!, registry: metrics.registry, log }).catch((err: unknown) => {
        throw explainListenError(err, { listener: "metrics", host: config.host, port: config.metricsPort!, variable: "APIKEYS_METRICS_PORT" });
      }));
    if (metricsServer) listeners.push(metricsServer);
    const scheme = tls ? "https" : "http";
    const pageUrl = `${scheme}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${http.port}${PAGE_ROUTES[0]}`;
    log.info("apikeys is serving", {
      grpc: `${config.host}:${grpc.port}`,
      http: `${scheme}://${config.host}:${http.port}`,
      ...(metricsServer ? { metrics: `http://${config.host}:${metricsServer.port}/metrics` } : {}),
      keyPrefix: config.keyPrefix,
      page: pageUrl,
    });
    return { grpcPort: grpc.port, httpPort: http.port, metricsPort: metricsServer?.port, pageUrl, databaseUrl: database.url, db, replica, readiness, caches, argon2, close };
  } catch (err) {
    await close();
    throw err;
  }
}
