// node:http2 keeps each session's open streams in a Map (by id) and the streams that have no id
// yet in a Set, so every call adds to and deletes from both. V8 rebuilds such a table every few
// changes, and each obsolete table points to its successor (live iterators follow that link).
// Once one of these tables has lived through two young-generation GCs it is promoted, and from
// then on, dead in the old generation, it keeps the chain of every later table alive through each
// scavenge, with the streams those tables held and everything the streams reach. All of that is
// promoted in turn, and a full GC that runs while it happens does not always end it.
//
// On Node 20 under steady load this state came and went every few seconds, for the health check
// as for VerifyApiKey: scavenges took 3 to 10 ms instead of about 2, a mark-compact ran every one
// or two seconds, throughput fell by a quarter to a third and p99 doubled. With the stand-ins
// below, whose storage is replaced without any link from old to new, it did not occur (see the
// issue 4 notes). They are installed only on the Node major whose http2 internals they were
// checked against, and only while the session has not opened a stream yet.
import type { Http2Server, Http2Session, Http2SecureServer } from "node:http2";
import { types } from "node:util";
import type * as grpc from "@grpc/grpc-js";

/** The open streams by id, with the Map methods node:http2 calls: get, set, delete, size, forEach. */
export class StreamsById<T> {
  // An object with integer keys: its storage, once sparse, is a dictionary that is reallocated
  // when it grows or shrinks, and the old one keeps no pointer to the new.
  #byId: Record<number, T> = Object.create(null) as Record<number, T>;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(id: number): T | undefined {
    return this.#byId[id];
  }

  set(id: number, stream: T): this {
    if (this.#byId[id] === undefined) this.#size++;
    this.#byId[id] = stream;
    return this;
  }

  delete(id: number): boolean {
    if (this.#byId[id] === undefined) return false;
    delete this.#byId[id];
    this.#size--;
    return true;
  }

  /** In id order, which is creation order; a stream deleted before its turn is skipped, as Map does. */
  forEach(visit: (stream: T, id: number, self: this) => void): void {
    for (const key in this.#byId) {
      const stream = this.#byId[key];
      if (stream !== undefined) visit(stream, Number(key), this);
    }
  }
}

/** Streams not numbered yet, with the Set methods node:http2 calls: add, delete, size, forEach. */
export class PendingStreams<T> {
  // A server session holds at most one here, and only while the stream is being set up.
  #streams: T[] = [];

  get size(): number {
    return this.#streams.length;
  }

  add(stream: T): this {
    if (!this.#streams.includes(stream)) this.#streams.push(stream);
    return this;
  }

  delete(stream: T): boolean {
    const at = this.#streams.indexOf(stream);
    if (at < 0) return false;
    this.#streams.splice(at, 1);
    return true;
  }

  /** In insertion order; a stream deleted before its turn is skipped, as Set does. */
  forEach(visit: (stream: T, same: T, self: this) => void): void {
    for (const stream of [...this.#streams]) if (this.#streams.includes(stream)) visit(stream, stream, this);
  }
}

// The Node major whose http2 internals the stand-ins were checked against.
const CHECKED_NODE = process.versions.node.split(".")[0] === "20";

interface StreamState {
  streams: Map<number, unknown> | StreamsById<unknown>;
  pendingStreams: Set<unknown> | PendingStreams<unknown>;
}

/** Gives `session` the stand-ins; false (and nothing changed) where its internals are not the ones checked. */
export function replaceStreamCollections(session: Http2Session): boolean {
  if (!CHECKED_NODE) return false;
  const key = Object.getOwnPropertySymbols(session).find((s) => s.description === "state");
  const state: unknown = key && (session as unknown as Record<symbol, unknown>)[key];
  if (!isNodeStreamState(state) || state.streams.size > 0 || state.pendingStreams.size > 0) return false;
  state.streams = new StreamsById();
  state.pendingStreams = new PendingStreams();
  return true;
}

function isNodeStreamState(value: unknown): value is StreamState {
  if (typeof value !== "object" || value === null) return false;
  const { streams, pendingStreams } = value as Partial<StreamState>;
  // Node's own SafeMap and SafeSet have no prototype chain to Map and Set: check the internal slots.
  return types.isMap(streams) && types.isSet(pendingStreams);
}

/** Every future session of `server` gets the stand-ins. */
export function useStreamCollections(server: Http2Server | Http2SecureServer): void {
  server.on("session", (session: Http2Session) => void replaceStreamCollections(session));
}

/** The node:http2 servers behind a bound grpc-js server (a private field: empty if it is renamed). */
export function grpcHttp2Servers(server: grpc.Server): Array<Http2Server | Http2SecureServer> {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  return servers instanceof Map ? [...(servers.keys() as Iterable<Http2Server | Http2SecureServer>)] : [];
}
