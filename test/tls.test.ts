// With APIKEYS_TLS_CERT and APIKEYS_TLS_KEY, both listeners serve TLS: HTTP/1.1 and HTTP/2 by ALPN
// on the HTTP port, gRPC over TLS on the gRPC port.
import { execFile } from "node:child_process";
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCertificate, type TestCertificate } from "./support/certificate.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
let certificate: TestCertificate;
let server: TestServer;
beforeAll(async () => {
  certificate = await makeCertificate();
  server = await startTestServer({ APIKEYS_TLS_CERT: certificate.certFile, APIKEYS_TLS_KEY: certificate.keyFile });
});
afterAll(async () => {
  await server?.stop();
  await certificate?.remove();
});

describe("TLS", () => {
  it.each([
    ["HTTP/1.1", "--http1.1", "1.1"],
    ["HTTP/2", "--http2", "2"],
  ])("the HTTP port answers Connect JSON over %s", async (_name, flag, version) => {
    const { stdout } = await run("curl", [
      "-sS", flag, "--cacert", certificate.certFile, "-w", "\n%{http_version}",
      "-H", "content-type: application/json", "-H", `authorization: Bearer ${server.principals.member}`, "-d", "{}",
      `https://127.0.0.1:${server.app.httpPort}/apikeys.v1.ApiKeyService/ListScopes`,
    ]);
    const [body, negotiated] = stdout.trimEnd().split("\n");
    expect(negotiated).toBe(version);
    expect(JSON.parse(body!).scopes.length).toBeGreaterThan(0);
  });

  it("the HTTP port refuses plain text", async () => {
    const res = await run("curl", ["-sS", "--max-time", "5", `http://127.0.0.1:${server.app.httpPort}/`]).catch((e: { code: number }) => e);
    expect((res as { code: number }).code).not.toBe(0);
  });

  it("the gRPC port answers grpc-js over TLS", async () => {
    const definition = protoLoader.loadSync(["apikeys/v1/api_key_service.proto"], { includeDirs: ["proto"] });
    const Service = (grpc.loadPackageDefinition(definition) as unknown as { apikeys: { v1: { ApiKeyService: grpc.ServiceClientConstructor } } }).apikeys.v1.ApiKeyService;
    const client = new Service(`localhost:${server.app.grpcPort}`, grpc.credentials.createSsl(certificate.cert));
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${server.principals.member}`);
    const res = await new Promise<{ scopes: unknown[] }>((resolve, reject) =>
      (client as unknown as { listScopes: Function }).listScopes({}, metadata, (err: Error | null, r: { scopes: unknown[] }) => (err ? reject(err) : resolve(r))),
    );
    client.close();
    expect(res.scopes.length).toBeGreaterThan(0);
  });
});

/** Resolves with how long `socket` stayed open, once the server has closed it. */
function closedAfter(socket: Socket): Promise<number> {
  const opened = performance.now();
  socket.resume();
  socket.on("error", () => {});
  return new Promise((resolve) => socket.once("close", () => resolve(performance.now() - opened)));
}

describe("TLS connections that do nothing", () => {
  let idle: TestServer;
  // A short idle timeout; bounds below are generous, since a busy machine runs timers late.
  beforeAll(async () => {
    idle = await startTestServer({ APIKEYS_TLS_CERT: certificate.certFile, APIKEYS_TLS_KEY: certificate.keyFile, APIKEYS_IDLE_TIMEOUT_MS: "1000" });
  });
  afterAll(() => idle?.stop());

  it("a connection that never starts its TLS handshake is closed by the HTTP port", async () => {
    const socket = connectTcp(idle.app.httpPort, "127.0.0.1");
    expect(await closedAfter(socket)).toBeLessThan(30_000);
  });

  it("an HTTP/1.1 connection that sends no request after its handshake is closed", async () => {
    const socket = connectTls({ port: idle.app.httpPort, host: "127.0.0.1", ca: certificate.cert, servername: "localhost", ALPNProtocols: ["http/1.1"] });
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    expect(socket.alpnProtocol).toBe("http/1.1");
    expect(await closedAfter(socket)).toBeLessThan(30_000);
  });

  it("an HTTP/1.1 keep-alive connection is closed once idle after its answer", async () => {
    const socket = connectTls({ port: idle.app.httpPort, host: "127.0.0.1", ca: certificate.cert, servername: "localhost", ALPNProtocols: ["http/1.1"] });
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    const closed = closedAfter(socket);
    const body = "{}";
    socket.write(
      `POST /apikeys.v1.ApiKeyService/ListScopes HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n` +
        `authorization: Bearer ${idle.principals.member}\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    expect(await closed).toBeLessThan(30_000);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/keep-alive/i);
  });
});

