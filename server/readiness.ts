// Whether this process should get traffic, from state it already keeps: the outage log knows when
// the database is unreachable (and probes, bounded, until it answers), the replica knows when its
// listener is down (its caches are off, and it reconnects by itself). A probe reads this state; it
// never queries Postgres. The gRPC health service and GET /readyz on the HTTP port both answer
// from it; GET /livez answers while the process runs.
import type { PlainHandler, Request as PlainRequest, Response as PlainResponse } from "./http-server.js";

/** What readiness says, as /readyz's JSON body. */
export interface ReadinessState {
  readonly status: "serving" | "not_serving";
  readonly database: "reachable" | "unreachable";
  readonly replicaListener: "listening" | "down";
  /** Present while the server shuts down. */
  readonly server?: "stopping";
}

/** The readiness of this process, set by the parts that know, read by probes. */
export interface Readiness {
  state(): ReadinessState;
  /** Set by the outage log: false from the first unreachable call until a probe answers. */
  setDatabaseReachable(reachable: boolean): void;
  /** Set by the replica: false while changes may be missed (its caches are off). */
  setListening(listening: boolean): void;
  /** Not serving from now on (shutdown). */
  stop(): void;
  /** Calls `listener` on every change of `state().status`; returns an unsubscribe function. */
  onChange(listener: (state: ReadinessState) => void): () => void;
}

/** Readiness starting not serving until the replica listens. */
export function createReadiness(): Readiness {
  let reachable = true;
  let listening = false;
  let stopping = false;
  const listeners = new Set<(state: ReadinessState) => void>();
  const state = (): ReadinessState => {
    const ok = reachable && listening && !stopping;
    return {
      status: ok ? "serving" : "not_serving",
      database: reachable ? "reachable" : "unreachable",
      replicaListener: listening ? "listening" : "down",
      ...(stopping ? { server: "stopping" as const } : {}),
    };
  };
  const update = (change: () => void) => {
    const before = state().status;
    change();
    const after = state();
    if (after.status !== before) for (const listener of listeners) listener(after);
  };
  return {
    state,
    setDatabaseReachable: (value) => update(() => (reachable = value)),
    setListening: (value) => update(() => (listening = value)),
    stop: () => update(() => (stopping = true)),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** The HTTP paths probes call. */
export const READINESS_PATH = "/readyz";
export const LIVENESS_PATH = "/livez";

/** Answers GET and HEAD on /readyz (200 or 503 with the state) and /livez (200 while running). */
export function createHealthHandler(readiness: Readiness): PlainHandler {
  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path === LIVENESS_PATH) answer(req, res, 200, { status: "alive" });
    else if (path === READINESS_PATH) {
      const state = readiness.state();
      answer(req, res, state.status === "serving" ? 200 : 503, state);
    } else return false;
    return true;
  };
}

function answer(req: PlainRequest, res: PlainResponse, status: number, body: object): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.statusCode = 405;
    res.setHeader("allow", "GET, HEAD");
    res.setHeader("content-length", "0");
    res.end();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(text));
  // A probe must see each answer as it is now, never a copy kept by a proxy.
  res.setHeader("cache-control", "no-store");
  if (req.method === "HEAD") res.end();
  else res.end(text);
}
