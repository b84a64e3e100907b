// The running server answered by clients we did not write, on both ports: buf curl (gRPC with
// reflection, and Connect), @grpc/grpc-js loading our .proto files, curl with Connect JSON over
// HTTP/1.1 and h2c, and connect-node's gRPC-Web and gRPC transports.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService, VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
const buf = path.resolve("node_modules/.bin/buf");
let server: TestServer;
let key: { id: string; secret: string };
beforeAll(async () => {
  server = await startTestServer();
  const created = await server.apiKeys(server.principals.owner).createApiKey({ name: "Interop", access: AccessLevel.CUSTOM, scopes: ["orders:read"] });
  key = { id: created.apiKey!.id, secret: created.secret };
});
afterAll(() => server?.stop());

describe("gRPC port", () => {
  it("buf curl verifies a key over gRPC using reflection", async () => {
    const { stdout } = await run(buf, [
      "curl", "--protocol", "grpc", "--http2-prior-knowledge",
      "-H", `authorization: Bearer ${server.principals.service}`,
      "-d", JSON.stringify({ key: key.secret, required_scopes: ["orders:read"] }),
      `http://${server.grpcAddress}/apikeys.v1.ApiKeyService/VerifyApiKey`,
    ]);
    const res = JSON.parse(stdout);
    expect(res).toMatchObject({ valid: true, status: "VERIFICATION_STATUS_VALID", keyId: key.id, scopes: ["orders:read"] });
  });

  it("buf curl lists the services through reflection, health included", async () => {
    const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", `http://${server.grpcAddress}`]);
    expect(stdout.split("\n")).toEqual(expect.arrayContaining(["apikeys.v1.ApiKeyService", "apikeys.v1.SupportService", "grpc.health.v1.Health"]));
  });

  it("buf curl gets the gRPC status and message for a denied call", async () => {
    const err = await run(buf, [
      "curl", "--protocol", "grpc", "--http2-prior-knowledge",
      "-H", `authorization: Bearer ${server.principals.member}`,
      "-d", "{}",
      `http://${server.grpcAddress}/apikeys.v1.ApiKeyService/ListApiKeys`,
    ]).catch((e: { stderr: string }) => e);
    expect(JSON.parse((err as { stderr: string }).stderr)).toMatchObject({ code: "permission_denied", message: expect.stringContaining("owners and admins") });
  });

  describe("@grpc/grpc-js with our .proto files", () => {
    const definition = protoLoader.loadSync(["apikeys/v1/api_key_service.proto"], {
      includeDirs: ["proto"],
      keepCase: false,
      enums: String,
      longs: String,
      defaults: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      apikeys: { v1: { ApiKeyService: grpc.ServiceClientConstructor } };
      grpc?: unknown;
    };
    const call = (method: string, request: object, token?: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const client = new loaded.apikeys.v1.ApiKeyService(server.grpcAddress, grpc.credentials.createInsecure());
        const metadata = new grpc.Metadata();
        if (token) metadata.set("authorization", `Bearer ${token}`);
        // proto-loader clients are untyped: methods are looked up by name.
        (client as unknown as Record<string, Function>)[method]!.call(
          client,
          request,
          metadata,
          (err: grpc.ServiceError | null, res: Record<string, unknown>) => {
            client.close();
            if (err) reject(err);
            else resolve(res);
          },
        );
      });

    it("creates and verifies a key", async () => {
      const created = await call("CreateApiKey", { name: "From grpc-js", access: "ACCESS_LEVEL_FULL" }, server.principals.owner);
      const secret = created.secret as string;
      expect(secret).toMatch(/^ak_/);
      const verified = await call("VerifyApiKey", { key: secret, requiredScopes: ["customers:read"] }, server.principals.service);
      expect(verified).toMatchObject({ valid: true, status: "VERIFICATION_STATUS_VALID", access: "ACCESS_LEVEL_FULL" });
    });

    it("gets UNAUTHENTICATED without a token and INVALID_ARGUMENT for a bad name, with Connect's messages", async () => {
      await expect(call("ListScopes", {})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: expect.stringContaining("authorization: Bearer") });
      await expect(call("CreateApiKey", { name: "", access: "ACCESS_LEVEL_FULL" }, server.principals.owner)).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: "name: must not be empty, for example \"Snowflake production export\"",
      });
    });

    it("answers the standard health check with SERVING", async () => {
      const health = protoLoader.loadSync("health/v1/health.proto", { includeDirs: [path.resolve("node_modules/grpc-health-check/proto")], enums: String });
      const Health = (grpc.loadPackageDefinition(health) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
      const client = new Health(server.grpcAddress, grpc.credentials.createInsecure());
      const res = await new Promise<{ status: string }>((resolve, reject) =>
        (client as unknown as { check: Function }).check({ service: "" }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r))),
      );
      client.close();
      expect(res.status).toBe("SERVING");
    });
  });
});

describe("HTTP port", () => {
  const connectJson = async (httpFlag: string, method: string, body: object, token: string) => {
    const { stdout } = await run("curl", [
      "-sS", httpFlag, "-w", "\n%{http_version} %{http_code}",
      "-H", "content-type: application/json", "-H", `authorization: Bearer ${token}`,
      "--data", JSON.stringify(body),
      `${server.httpUrl}/apikeys.v1.ApiKeyService/${method}`,
    ]);
    const [json, status] = stdout.trimEnd().split("\n");
    return { body: JSON.parse(json!), version: status!.split(" ")[0], status: Number(status!.split(" ")[1]) };
  };

  it.each([
    ["HTTP/1.1", "--http1.1", "1.1"],
    ["h2c (prior knowledge)", "--http2-prior-knowledge", "2"],
  ])("curl with Connect JSON over %s creates, lists and verifies", async (_name, flag, version) => {
    const created = await connectJson(flag, "CreateApiKey", { name: `curl ${version}`, access: "ACCESS_LEVEL_CUSTOM", scopes: ["orders:read"] }, server.principals.owner);
    expect(created.version).toBe(version);
    expect(created.status).toBe(200);
    expect(created.body.secret).toMatch(/^ak_/);
    const listed = await connectJson(flag, "ListApiKeys", {}, server.principals.owner);
    expect(listed.body.apiKeys.map((k: { id: string }) => k.id)).toContain(created.body.apiKey.id);
    const verified = await connectJson(flag, "VerifyApiKey", { key: created.body.secret, requiredScopes: ["orders:read"] }, server.principals.service);
    expect(verified.body).toMatchObject({ valid: true, status: "VERIFICATION_STATUS_VALID" });
    const denied = await connectJson(flag, "DeleteApiKey", { id: created.body.apiKey.id }, server.principals.member);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe("permission_denied");
  });

  it("buf curl speaks Connect to the HTTP port using the local schema", async () => {
    const { stdout } = await run(buf, [
      "curl", "--schema", "proto", "--protocol", "connect",
      "-H", `authorization: Bearer ${server.principals.service}`,
      "-d", JSON.stringify({ key: key.secret }),
      `${server.httpUrl}/apikeys.v1.ApiKeyService/VerifyApiKey`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ valid: true, keyId: key.id });
  });

  it("buf curl speaks gRPC-Web to the HTTP port", async () => {
    const { stdout } = await run(buf, [
      "curl", "--schema", "proto", "--protocol", "grpcweb",
      "-H", `authorization: Bearer ${server.principals.service}`,
      "-d", JSON.stringify({ key: key.secret, required_scopes: ["orders:read"] }),
      `${server.httpUrl}/apikeys.v1.ApiKeyService/VerifyApiKey`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ valid: true, keyId: key.id });
  });

  it("refuses VerifyApiKey as a GET, so a key never travels in a URL", async () => {
    const message = encodeURIComponent(JSON.stringify({ key: key.secret }));
    const { stdout } = await run("curl", [
      "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", `authorization: Bearer ${server.principals.service}`,
      `${server.httpUrl}/apikeys.v1.ApiKeyService/VerifyApiKey?encoding=json&message=${message}`,
    ]);
    expect(stdout).toBe("405");
  });

  it.each([
    ["gRPC-Web", () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" })],
    ["gRPC", () => createGrpcTransport({ baseUrl: server.httpUrl })],
  ])("connect-node's %s transport verifies a key", async (_name, transport) => {
    const client = createClient(ApiKeyService, transport());
    const res = await client.verifyApiKey({ key: key.secret, requiredScopes: ["orders:write"] }, { headers: { authorization: `Bearer ${server.principals.service}` } });
    expect(res).toMatchObject({ valid: false, status: VerificationStatus.INSUFFICIENT_SCOPE, missingScopes: ["orders:write"] });
  });
});
