// The metrics port: `GET /metrics` in Prometheus' text format, and nothing else. A listener of its
// own, so that what Prometheus scrapes is never reachable through the public HTTP port and its
// network policy can differ (APIKEYS_METRICS_PORT; off when unset).
import * as http from "node:http";
import type { Socket } from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "../logger.js";

/** Where metrics are served. */
export const METRICS_PATH = "/metrics";

export interface MetricsServer {
  readonly port: number;
  /** Stops listening and closes every connection. Idempotent. */
  shutdown(): Promise<void>;
}

/** Starts the metrics listener on `host`:`port` (0 picks a free port). */
export async function startMetricsServer(opts: { host: string; port: number; registry: Registry; log: Logger }): Promise<MetricsServer> {
  const log = opts.log.child({ listener: "metrics" });
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== METRICS_PATH) return plain(res, 404, `not found: metrics are served at ${METRICS_PATH}\n`);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return plain(res, 405, "method not allowed: use GET\n");
    }
    opts.registry.metrics().then(
      (text) => {
        res.statusCode = 200;
        res.setHeader("content-type", opts.registry.contentType);
        res.setHeader("content-length", Buffer.byteLength(text));
        res.setHeader("cache-control", "no-store");
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        log.error("collecting metrics failed", { error });
        plain(res, 500, "collecting metrics failed\n");
      },
    );
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  let stopping: Promise<void> | undefined;
  return {
    port,
    shutdown: () =>
      (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scrape takes milliseconds; an idle keep-alive connection would hold close() open.
        for (const socket of sockets) socket.destroy();
      })),
  };
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}
