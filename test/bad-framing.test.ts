// Requests whose gRPC framing or headers are broken get the code the README promises, on both ports
// and in every protocol: an undecodable request INVALID_ARGUMENT (never INTERNAL, never accepted
// as if it were fine), and more than one authorization header UNAUTHENTICATED (never "the first
// one decides").
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerifyApiKeyRequestSchema } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { rawGrpc } from "./support/raw-grpc.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
let server: TestServer;
let secret: string;
beforeAll(async () => {
  server = await startTestServer();
  secret = (await server.apiKeys(server.principals.owner).createApiKey({ name: "Framing", access: AccessLevel.FULL })).secret;
});
afterAll(() => server?.stop());

const LIST_SCOPES = "/apikeys.v1.ApiKeyService/ListScopes";
const VERIFY = "/apikeys.v1.ApiKeyService/VerifyApiKey";
// Where a gRPC request can go: the gRPC port (grpc-js), and the HTTP port (connect-node) over h2c
// and as gRPC-Web over HTTP/1.1.
const routes = [
  ["the gRPC port", () => `http://${server.grpcAddress}`, "application/grpc"],
  ["the HTTP port (gRPC)", () => server.httpUrl, "application/grpc"],
  ["the HTTP port (gRPC-Web)", () => server.httpUrl, "application/grpc-web+proto"],
] as const;
const bearer = () => `authorization: Bearer ${server.principals.owner}`;

describe("broken gRPC framing → INVALID_ARGUMENT", () => {
  const cases = [
    ["a grpc-timeout that is not a timeout", { headers: ["grpc-timeout: abc"], message: new Uint8Array(), flag: 0 }, /grpc.timeout/],
    ["a grpc-timeout with trailing junk", { headers: ["grpc-timeout: 5Sx"], message: new Uint8Array(), flag: 0 }, /grpc.timeout/],
    ["a compressed flag without grpc-encoding", { headers: [], message: new Uint8Array(), flag: 1 }, /compressed/],
    ["a compressed flag with grpc-encoding identity", { headers: ["grpc-encoding: identity"], message: new Uint8Array(), flag: 1 }, /compressed/],
    ["a gzip flag on bytes that are not gzip", { headers: ["grpc-encoding: gzip"], message: Buffer.from("not gzip at all"), flag: 1 }, /decompress/],
    ["a gzip flag on truncated gzip", { headers: ["grpc-encoding: gzip"], message: gzipSync(Buffer.alloc(64)).subarray(0, 12), flag: 1 }, /decompress/],
  ] as const;
  for (const [where, base, contentType] of routes) {
    it.each(cases)(`on ${where}: %s`, async (_what, req, mentions) => {
      const answer = await rawGrpc({ url: `${base()}${LIST_SCOPES}`, contentType, ...req, headers: [bearer(), ...req.headers] });
      expect(answer.code, answer.raw).toBe(3);
      expect(answer.message).toMatch(mentions);
      // The server keeps serving.
      const ok = await rawGrpc({ url: `${base()}${LIST_SCOPES}`, contentType, headers: [bearer()], message: new Uint8Array() });
      expect(ok.code, ok.raw).toBe(0);
    });
  }

  // Only grpc-js takes deflate (the HTTP port answers UNIMPLEMENTED: an encoding it does not support).
  it("a deflate flag on bytes that are not deflate, on the gRPC port", async () => {
    const url = `http://${server.grpcAddress}${LIST_SCOPES}`;
    const answer = await rawGrpc({ url, contentType: "application/grpc", headers: [bearer(), "grpc-encoding: deflate"], message: Buffer.from("not deflate at all"), flag: 1 });
    expect(answer.code, answer.raw).toBe(3);
    expect(answer.message).toMatch(/decompress/);
  });

  it("a well-formed gzip message is still taken on the gRPC port", async () => {
    const answer = await rawGrpc({
      url: `http://${server.grpcAddress}${LIST_SCOPES}`,
      contentType: "application/grpc",
      headers: [bearer(), "grpc-encoding: gzip"],
      message: gzipSync(new Uint8Array()),
      flag: 1,
    });
    expect(answer.code, answer.raw).toBe(0);
  });
});

describe("two authorization headers → UNAUTHENTICATED", () => {
  const verify = () => toBinary(VerifyApiKeyRequestSchema, create(VerifyApiKeyRequestSchema, { key: secret }));
  const twoOf = (first: string, second: string) => [`authorization: Bearer ${first}`, `authorization: Bearer ${second}`];

  for (const [where, base, contentType] of routes) {
    it(`on ${where}, whichever comes first`, async () => {
      const url = `${base()}${VERIFY}`;
      const { service, owner } = server.principals;
      const one = await rawGrpc({ url, contentType, headers: [`authorization: Bearer ${service}`], message: verify() });
      expect(one.code, one.raw).toBe(0);
      for (const headers of [twoOf(service, "akp_forged"), twoOf("akp_forged", service), twoOf(service, owner), twoOf(service, service)]) {
        const answer = await rawGrpc({ url, contentType, headers, message: verify() });
        expect(answer.code, answer.raw).toBe(16);
        expect(answer.message).toContain("more than one credential");
      }
    });
  }

  it.each([
    ["HTTP/1.1", []],
    ["h2c", ["--http2-prior-knowledge"]],
  ])("on the HTTP port with Connect JSON over %s", async (_what, protocol) => {
    const { stdout } = await run("curl", [
      "-sS", "-w", "\n%{http_code}", ...protocol,
      "-H", "content-type: application/json", "-H", `authorization: Bearer ${server.principals.owner}`, "-H", "authorization: Bearer akp_other",
      "--data", "{}", `${server.httpUrl}${LIST_SCOPES}`,
    ]);
    const lines = stdout.trimEnd().split("\n");
    expect(Number(lines.pop())).toBe(401);
    expect(JSON.parse(lines.join("\n"))).toMatchObject({ code: "unauthenticated", message: expect.stringContaining("more than one credential") });
  });
});
