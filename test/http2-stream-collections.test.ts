// The stand-ins for node:http2's per-session stream Map and Set (server/http2-stream-collections.ts):
// they must answer exactly as Map and Set do for every method node:http2 calls, including a
// forEach that destroys streams (and so deletes them) while it runs; real sessions of a plain
// node:http2 server and of the gRPC listener must get them; and a session must still open,
// answer and tear down streams with them.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startGrpcServer, type GrpcServer } from "../server/grpc-server.js";
import { grpcHttp2Servers, PendingStreams, replaceStreamCollections, StreamsById, useStreamCollections } from "../server/http2-stream-collections.js";
import { createLogger } from "../server/logger.js";

// A fixed seed: a failure is reproducible.
let seed = 20261127;
const random = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n);

/** What node:http2 keeps under its `state` symbol (read here only to check what the server installed). */
function sessionState(session: http2.Http2Session): { streams: unknown; pendingStreams: unknown } {
  const key = Object.getOwnPropertySymbols(session).find((s) => s.description === "state")!;
  return (session as unknown as Record<symbol, { streams: unknown; pendingStreams: unknown }>)[key]!;
}

describe("StreamsById", () => {
  it("answers get, set, delete, size and forEach as a Map does, with deletions during forEach", () => {
    for (let round = 0; round < 300; round++) {
      const ours = new StreamsById<string>();
      const map = new Map<number, string>();
      // Ids as node:http2 gives them to a server: odd and rising, sometimes far apart; it inserts
      // each id once, so insertion order (Map's) and id order (ours) are the same.
      let next = 1;
      for (let op = 0; op < 60; op++) {
        const kind = random(4);
        const id = kind < 2 ? (next += 2 * (1 + random(op % 10 === 0 ? 2000 : 3))) : 1 + 2 * random((next + 1) / 2);
        const value = `stream-${id}-${op}`;
        if (kind < 2) expect(ours.set(id, value)).toBe(ours), map.set(id, value);
        else if (kind === 2) expect(ours.delete(id)).toBe(map.delete(id));
        expect(ours.get(id)).toBe(map.get(id));
        expect(ours.size).toBe(map.size);
      }
      // Each visit deletes a few ids, visited or not: destroying a stream deletes it, and
      // destroying one can end others.
      const doomed = new Map<number, number[]>();
      const ids = [...map.keys()];
      for (const id of ids) doomed.set(id, [id, ...Array.from({ length: random(3) }, () => ids[random(ids.length)]!)]);
      const visit = (into: Array<[number, string]>, remove: (id: number) => void) => (value: string, id: number) => {
        into.push([id, value]);
        for (const d of doomed.get(id) ?? []) remove(d);
      };
      const seenOurs: Array<[number, string]> = [];
      const seenMap: Array<[number, string]> = [];
      ours.forEach(visit(seenOurs, (id) => ours.delete(id)));
      map.forEach(visit(seenMap, (id) => map.delete(id)));
      expect(seenOurs).toEqual(seenMap);
      expect(ours.size).toBe(map.size);
    }
  });
});

describe("PendingStreams", () => {
  it("answers add, delete, size and forEach as a Set does, with deletions during forEach", () => {
    const items = Array.from({ length: 12 }, (_, i) => ({ i }));
    for (let round = 0; round < 300; round++) {
      const ours = new PendingStreams<{ i: number }>();
      const set = new Set<{ i: number }>();
      for (let op = 0; op < 30; op++) {
        const item = items[random(items.length)]!;
        if (random(3) < 2) expect(ours.add(item)).toBe(ours), set.add(item);
        else expect(ours.delete(item)).toBe(set.delete(item));
        expect(ours.size).toBe(set.size);
      }
      const doomed = new Map(items.map((item) => [item, [item, items[random(items.length)]!]]));
      const seenOurs: number[] = [];
      const seenSet: number[] = [];
      ours.forEach((item) => (seenOurs.push(item.i), doomed.get(item)!.forEach((d) => ours.delete(d))));
      set.forEach((item) => (seenSet.push(item.i), doomed.get(item)!.forEach((d) => set.delete(d))));
      expect(seenOurs).toEqual(seenSet);
      expect(ours.size).toBe(set.size);
    }
  });
});

describe("node:http2 sessions with the stand-ins", () => {
  let server: http2.Http2Server | undefined;
  let grpcServer: GrpcServer | undefined;
  const clients: http2.ClientHttp2Session[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await grpcServer?.shutdown();
    server = grpcServer = undefined;
  });

  it("when a client opens streams and drops the connection, then answered and open streams behave as before", async () => {
    server = http2.createServer();
    useStreamCollections(server);
    const sessions: http2.Http2Session[] = [];
    server.on("session", (session) => sessions.push(session));
    const open: http2.ServerHttp2Stream[] = [];
    server.on("stream", (stream, headers) => {
      if (headers[":path"] === "/answer") stream.respond({ ":status": 200 }, { endStream: true });
      else open.push(stream);
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    clients.push(client);

    const answered = await Promise.all(
      Array.from({ length: 10 }, () => new Promise<number>((resolve, reject) => {
        const req = client.request({ ":path": "/answer" });
        req.on("response", (h) => resolve(h[":status"] as number)).on("error", reject);
        req.end();
      })),
    );
    const pending = Array.from({ length: 10 }, () => client.request({ ":path": "/hold" }).on("error", () => {}));
    await expect.poll(() => open.length).toBe(10);

    expect(answered).toEqual(Array(10).fill(200));
    expect(sessions).toHaveLength(1);
    const state = sessionState(sessions[0]!);
    expect(state.streams).toBeInstanceOf(StreamsById);
    expect(state.pendingStreams).toBeInstanceOf(PendingStreams);
    expect(replaceStreamCollections(sessions[0]!)).toBe(false); // given once, never replaced again
    expect((state.streams as StreamsById<unknown>).size).toBe(10); // the held ones; answered ones are gone

    // Dropping the connection closes the session, which destroys every open stream through forEach.
    const closed = Promise.all(open.map((stream) => new Promise((resolve) => stream.once("close", resolve))));
    client.destroy();
    await closed;
    expect(open.every((stream) => stream.destroyed)).toBe(true);
    expect((state.streams as StreamsById<unknown>).size).toBe(0);
    expect(pending.every((req) => req.destroyed)).toBe(true);
  });

  it("a session that already opened streams, or was given the stand-ins, is left as it is", async () => {
    server = http2.createServer();
    const sessions: http2.Http2Session[] = [];
    server.on("session", (session) => sessions.push(session));
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    clients.push(client);
    client.request({ ":path": "/" }).on("error", () => {}); // never answered: the stream stays open
    await expect.poll(() => sessions.length).toBe(1);
    await expect.poll(() => (sessionState(sessions[0]!).streams as Map<number, unknown>).size).toBe(1);

    expect(replaceStreamCollections(sessions[0]!)).toBe(false);
    expect(sessionState(sessions[0]!).streams).not.toBeInstanceOf(StreamsById);
  });

  it("the gRPC listener's sessions get the stand-ins (grpc-js's private http2Servers field is still there)", async () => {
    grpcServer = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [{ service: ApiKeyService, impl: {} }],
      maxMessageBytes: 1024,
      log: createLogger("error", {}, () => {}),
    });
    const http2Servers = grpcHttp2Servers(grpcServer.server);
    expect(http2Servers).toHaveLength(1);
    const sessions: http2.Http2Session[] = [];
    http2Servers[0]!.on("session", (session: http2.Http2Session) => sessions.push(session));

    const client = new grpc.Client(`127.0.0.1:${grpcServer.port}`, grpc.credentials.createInsecure());
    const status = await new Promise<grpc.status>((resolve) =>
      client.makeUnaryRequest("/grpc.health.v1.Health/Check", (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (err) => resolve(err?.code ?? grpc.status.OK)),
    );
    client.close();

    expect(status).toBe(grpc.status.OK);
    expect(sessions).toHaveLength(1);
    expect(sessionState(sessions[0]!).streams).toBeInstanceOf(StreamsById);
    expect(sessionState(sessions[0]!).pendingStreams).toBeInstanceOf(PendingStreams);
  });
});
