// HTTP/1.0 lets a request omit Host, and connect-node throws for such a request outside any
// promise, which used to end the process: one line from anyone who can reach the HTTP port.
// Every path of the HTTP port now answers 400 and the server keeps serving. So does a Host that no
// URL can hold, which node takes as it comes and connect-node threw for (answered 500 and logged
// as a server error, once per request, for a client's mistake).
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let secret: string;
beforeAll(async () => {
  server = await startTestServer();
  secret = (await server.apiKeys(server.principals.owner).createApiKey({ name: "No host", access: AccessLevel.FULL })).secret;
});
afterAll(() => server?.stop());

/** Sends `request` as raw bytes and resolves with everything the server wrote before closing. */
function rawHttp(request: string): Promise<string> {
  const { hostname, port } = new URL(server.httpUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(request));
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("an HTTP/1.0 request without a Host header", () => {
  const body = JSON.stringify({ key: "ak_x" });
  const requests = [
    ["a Connect JSON call", `POST /apikeys.v1.ApiKeyService/VerifyApiKey HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`],
    ["an enveloped Connect call", "POST /apikeys.v1.ApiKeyService/VerifyApiKey HTTP/1.0\r\nContent-Type: application/connect+json\r\nContent-Length: 7\r\n\r\n\x00\x00\x00\x00\x02{}"],
    ["a Connect GET", "GET /apikeys.v1.ApiKeyService/ListScopes?connect=v1&encoding=json&message=%7B%7D HTTP/1.0\r\n\r\n"],
    ["the page", "GET /settings/api-keys HTTP/1.0\r\n\r\n"],
    ["the readiness path", "GET /readyz HTTP/1.0\r\n\r\n"],
    ["an unknown path", "GET /nowhere HTTP/1.0\r\n\r\n"],
  ] as const;

  it.each(requests)("is answered 400 asking for a Host header (%s), and the server keeps serving", async (_name, request) => {
    const answer = await rawHttp(request);
    expect(answer).toMatch(/^HTTP\/1\.[01] 400 /);
    expect(answer).toContain("Send a Host header");
    const verified = await server.apiKeys(server.principals.service).verifyApiKey({ key: secret });
    expect(verified.status).toBe(VerificationStatus.VALID);
  });

  it("with a Host header, is served as usual", async () => {
    const answer = await rawHttp("GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.[01] 200 /);
  });
});

describe("a request whose Host header no URL can hold", () => {
  const body = JSON.stringify({ key: "ak_x" });
  const hosts = ["a b", "", "localhost:99999", "[::1"];
  const calls = [
    ["a Connect JSON call (the lean path)", (host: string) => `POST /apikeys.v1.ApiKeyService/VerifyApiKey HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${server.principals.service}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`],
    ["a Connect GET (connect-node)", (host: string) => `GET /apikeys.v1.ApiKeyService/ListScopes?connect=v1&encoding=json&message=%7B%7D HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`],
  ] as const;

  it.each(calls.flatMap(([name, request]) => hosts.map((host) => [name, host, request] as const)))(
    "is answered 400 asking for a Host naming this server (%s, Host %j), and the server keeps serving",
    async (_name, host, request) => {
      const answer = await rawHttp(request(host));
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain("Send a Host header naming this server");
      const verified = await server.apiKeys(server.principals.service).verifyApiKey({ key: secret });
      expect(verified.status).toBe(VerificationStatus.VALID);
    },
  );
});
