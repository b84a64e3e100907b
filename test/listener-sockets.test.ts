// Connections that a client leaves behind (issue 15): h2c connections half-closed by the client
// (FIN), idle raw TCP connections and idle HTTP/2 sessions on both ports, and request bodies that
// stall halfway on the HTTP port. Each must be closed by the server, and a graceful stop must not
// wait for them. Timeouts are short here; their defaults are in the README's configuration table.
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import type { ServiceImpl } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startGrpcServer } from "../server/grpc-server.js";
import { startHttpServer } from "../server/http-server.js";
import { createLogger } from "../server/logger.js";
import { makeCertificate } from "./support/certificate.js";

const log = createLogger("error");
const impl = { listScopes: () => ({ scopes: [] }) } satisfies Partial<ServiceImpl<typeof ApiKeyService>>;
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function httpPort(options: { idleTimeoutMs?: number; requestTimeoutMs?: number; shutdownTimeoutMs?: number; tls?: { cert: Buffer; key: Buffer }; log?: typeof log } = {}) {
  const server = await startHttpServer({ host: "127.0.0.1", port: 0, maxMessageBytes: 65536, log, routes: (r) => r.service(ApiKeyService, impl), ...options });
  stops.push(() => server.shutdown());
  return server;
}

async function grpcPort(idleTimeoutMs: number) {
  const server = await startGrpcServer({ host: "127.0.0.1", port: 0, maxMessageBytes: 65536, log, services: [], idleTimeoutMs });
  stops.push(() => server.shutdown());
  return server;
}

/** An empty SETTINGS frame: what an HTTP/2 client sends right after the preface. */
const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
const PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), SETTINGS]);

/** A TCP connection, once connected; `closed` settles when the server has closed it too. */
async function connect(port: number, send?: Buffer) {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  let received = "";
  const answered = new Promise<void>((resolve) => socket.once("data", () => resolve()));
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  if (send) socket.write(send);
  return { socket, answered, closed, received: () => received };
}

/** Resolves true when every promise settles within `ms`, false otherwise. */
async function allWithin(promises: Array<Promise<unknown>>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([Promise.all(promises).then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("h2c connections the client half-closes", () => {
  it("are closed by the server, and a graceful stop does not wait for them", async () => {
    // A drain bound far beyond the test's own timeout: a stop that waited for the half-closed
    // connections would show as a test timeout, or as the drain's warning, not as a slow clock.
    const lines: string[] = [];
    const server = await httpPort({ shutdownTimeoutMs: 600_000, log: createLogger("warn", {}, (line) => void lines.push(line)) });
    const connections = await Promise.all(Array.from({ length: 200 }, () => connect(server.port, PREFACE)));
    await Promise.all(connections.map((c) => c.answered));
    for (const c of connections) c.socket.end(); // FIN: the client sends nothing more
    expect(await allWithin(connections.map((c) => c.closed), 30_000)).toBe(true);

    const more = await Promise.all(Array.from({ length: 50 }, () => connect(server.port, PREFACE)));
    await Promise.all(more.map((c) => c.answered));
    for (const c of more) c.socket.end();
    const stopped = await allWithin([server.shutdown()], 60_000);

    expect(stopped).toBe(true);
    expect(lines.filter((line) => line.includes("did not finish in time"))).toEqual([]);
    expect(await allWithin(more.map((c) => c.closed), 30_000)).toBe(true);
  }, 90_000);
});

describe("idle connections", () => {
  for (const listener of ["grpc", "http"] as const) {
    it(`on the ${listener} port, TCP connections that send nothing or half the HTTP/2 preface, and HTTP/2 sessions without calls, are closed after the idle timeout`, async () => {
      const { port } = listener === "grpc" ? await grpcPort(300) : await httpPort({ idleTimeoutMs: 300 });
      const raw = await Promise.all(Array.from({ length: 100 }, () => connect(port)));
      const partial = await Promise.all(Array.from({ length: 50 }, (_, i) => connect(port, PREFACE.subarray(0, [1, 10, 16, 23][i % 4]))));
      const sessions = Array.from({ length: 40 }, () => {
        const session = http2.connect(`http://127.0.0.1:${port}`);
        session.on("error", () => {});
        return new Promise<void>((resolve) => session.once("close", () => resolve()));
      });
      expect(await allWithin([...raw.map((c) => c.closed), ...partial.map((c) => c.closed), ...sessions], 30_000)).toBe(true);
    }, 60_000);
  }

  it("on the http port, a session with a call in progress is not closed as idle", async () => {
    const { port } = await httpPort({ idleTimeoutMs: 300, requestTimeoutMs: 60_000 });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    const stream = session.request({ ":method": "POST", ":path": "/apikeys.v1.ApiKeyService/ListScopes", "content-type": "application/json" });
    stream.write("{");
    // Several idle timeouts pass while the request is open (its body has not ended yet).
    expect(await allWithin([closed], 1_500)).toBe(false);
    stream.end("}");
    stream.resume();
    const status = await new Promise<number>((resolve) => stream.once("response", (h) => resolve(Number(h[":status"]))));
    expect(status).toBe(200);
    expect(await allWithin([closed], 30_000)).toBe(true);
  }, 60_000);
});

describe("a request body that stalls halfway", () => {
  const path = "/apikeys.v1.ApiKeyService/ListScopes";

  it("over HTTP/1.1, is answered 408 and its connection closed after the request timeout", async () => {
    const { port } = await httpPort({ requestTimeoutMs: 500 });
    const c = await connect(port, Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"ha`, "latin1"));
    expect(await allWithin([c.closed], 30_000)).toBe(true);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);

  it("over HTTP/1.1 with TLS, has its connection closed after the request timeout", async () => {
    const certificate = await makeCertificate();
    stops.push(() => certificate.remove());
    const { port } = await httpPort({ requestTimeoutMs: 500, tls: { cert: certificate.cert, key: certificate.key } });
    const socket = tls.connect({ port, host: "127.0.0.1", ca: certificate.cert, servername: "localhost", ALPNProtocols: ["http/1.1"] });
    socket.on("error", () => {});
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()));
    socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"ha`);
    expect(await allWithin([closed], 30_000)).toBe(true);
  }, 60_000);

  it("over h2c, has its stream reset after the request timeout, and the connection keeps serving", async () => {
    const { port } = await httpPort({ requestTimeoutMs: 500 });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/json", "content-length": "20" });
    stream.on("error", () => {});
    stream.write('{"ha');
    const reset = new Promise<number>((resolve) => stream.once("close", () => resolve(stream.rstCode)));
    expect(await allWithin([reset], 30_000)).toBe(true);
    expect(await reset).toBe(http2.constants.NGHTTP2_CANCEL);
    // The same session still answers a whole request.
    const next = session.request({ ":method": "POST", ":path": path, "content-type": "application/json" });
    next.end("{}");
    next.resume();
    expect(await new Promise((resolve) => next.once("response", (h) => resolve(h[":status"])))).toBe(200);
    session.close();
    await sleep(0);
  }, 60_000);
});
