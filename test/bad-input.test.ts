// Bad input gets InvalidArgument with field violations that say what to fix, loses nothing, and
// the server keeps serving. Malformed and oversized bodies get the protocol's code.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { BadRequestSchema } from "../contract/gen/google/rpc/error_details_pb.js";
import { mintToken } from "../contract/key-format.js";
import { startTestServer, type Listener, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
let server: TestServer;
let keyId: string;
beforeAll(async () => {
  server = await startTestServer();
  keyId = (await server.apiKeys(server.principals.owner).createApiKey({ name: "Existing", access: AccessLevel.FULL })).apiKey!.id;
});
afterAll(() => server?.stop());

const validMaterial = () => mintToken("ak");
const typo = (t: string) => `${t.slice(0, 20)}${t[20] === "a" ? "b" : "a"}${t.slice(21)}`;

// Calls run lazily: the server starts after the table is built.
const owner = () => server.apiKeys(server.principals.owner);
const create = (req: Parameters<ReturnType<typeof owner>["createApiKey"]>[0]) => owner().createApiKey({ name: "Valid", access: AccessLevel.FULL, ...req });
type Case = [what: string, call: () => Promise<unknown>, field: string, mentions: string];
const cases: Case[] = [
  ["an empty name", () => create({ name: "" }), "name", "must not be empty"],
  ["a blank name", () => create({ name: "   \t " }), "name", "must not be empty"],
  ["a 101-character name", () => create({ name: "x".repeat(101) }), "name", "at most 100"],
  ["a name with a newline", () => create({ name: "Line\nbreak" }), "name", "control characters"],
  ["a name with a bell character", () => create({ name: "Ding\u0007" }), "name", "control characters"],
  ["no access level", () => create({ access: AccessLevel.UNSPECIFIED }), "access", "ACCESS_LEVEL_CUSTOM"],
  ["an unknown access level", () => create({ access: 7 as AccessLevel }), "access", "ACCESS_LEVEL_FULL"],
  ["CUSTOM without scopes", () => create({ access: AccessLevel.CUSTOM }), "scopes", "at least one scope"],
  ["FULL with scopes", () => create({ scopes: ["orders:read"] }), "scopes", "must be empty for ACCESS_LEVEL_FULL"],
  ["an unknown scope", () => create({ access: AccessLevel.CUSTOM, scopes: ["orders:read", "ordres:read"] }), "scopes[1]", '"ordres:read"; valid scopes: '],
  ["300 scopes", () => create({ access: AccessLevel.CUSTOM, scopes: Array.from({ length: 300 }, (_, i) => `s${i}`) }), "scopes", "at most 200"],
  ["key material with another prefix", () => create({ keyMaterial: validMaterial().replace(/^ak_/, "sk_") }), "key_material", 'start with "ak_"'],
  ["truncated key material", () => create({ keyMaterial: validMaterial().slice(0, -2) }), "key_material", "exactly 50 characters"],
  ["key material with a typo", () => create({ keyMaterial: typo(validMaterial()) }), "key_material", "checksum"],
  ["key material with a symbol", () => create({ keyMaterial: validMaterial().replace(/.$/, "!") }), "key_material", "base62"],
  ["an update without a mask", () => owner().updateApiKey({ apiKey: { id: keyId, name: "New" } }), "update_mask", "is required"],
  ["an update of a read-only field", () => owner().updateApiKey({ apiKey: { id: keyId }, updateMask: { paths: ["hint"] } }), "update_mask", 'cannot update "hint"'],
  ["an update without an id", () => owner().updateApiKey({ apiKey: { name: "New" }, updateMask: { paths: ["name"] } }), "api_key.id", "is required"],
  ["an update to a blank name", () => owner().updateApiKey({ apiKey: { id: keyId, name: " " }, updateMask: { paths: ["name"] } }), "api_key.name", "must not be empty"],
  ["a negative page size", () => owner().listApiKeys({ pageSize: -1 }), "page_size", "from 1 to 1000"],
  ["a huge page size", () => owner().listApiKeys({ pageSize: 5000 }), "page_size", "from 1 to 1000"],
  ["a forged page token", () => owner().listApiKeys({ pageToken: "not-a-token" }), "page_token", "previous response"],
  ["a page token with a forged time", () => owner().listApiKeys({ pageToken: Buffer.from('{"createdAt":"March 7","id":"x"}').toString("base64url") }), "page_token", "previous response"],
  ["a page token with an impossible time", () => owner().listApiKeys({ pageToken: Buffer.from('{"createdAt":"2026-13-45 99:00:00+00","id":"x"}').toString("base64url") }), "page_token", "previous response"],
  ["a forged audit page token", () => owner().listAuditEvents({ pageToken: Buffer.from('{"id":"x; drop"}').toString("base64url") }), "page_token", "previous response"],
  ["a negative grace period", () => owner().rotateApiKey({ id: keyId, gracePeriod: durationFromMs(-1000) }), "grace_period", "24 hours"],
  ["rotation material of another key", () => owner().rotateApiKey({ id: keyId, keyMaterial: validMaterial() }), "key_material", "must carry the id of the key being rotated"],
  ["a support call without a workspace", () => server.support(server.principals.support).getLegacyKey({}), "workspace_id", "is required"],
];

/** Expects `call` to fail with InvalidArgument and a violation of `field` whose description holds `mentions`. */
async function expectViolation(call: () => Promise<unknown>, field: string, mentions: string): Promise<void> {
  const err = await call().then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code, err?.message).toBe(Code.InvalidArgument);
  const violations = err!.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
  const violation = violations.find((v) => v.field === field);
  expect(violation, `violations: ${JSON.stringify(violations)}`).toBeDefined();
  expect(violation!.description).toContain(mentions);
  expect(err!.rawMessage).toContain(field);
}

// Identifiers reach Postgres, which refuses a NUL byte (that was INTERNAL); every id field of every
// method is checked by one rule at the boundary, on both ports.
const token = (json: string) => Buffer.from(json).toString("base64url");
const idCases = (listener: Listener): Case[] => {
  const keys = () => server.apiKeys(server.principals.owner, listener);
  const support = () => server.support(server.principals.support, listener);
  const nul = "a\u0000b";
  const rule = "1 to 64 letters";
  return [
    ["GetApiKey with a NUL in the id", () => keys().getApiKey({ id: nul }), "id", rule],
    ["GetApiKey with a space in the id", () => keys().getApiKey({ id: "a b" }), "id", rule],
    ["GetApiKey with a 65-character id", () => keys().getApiKey({ id: "a".repeat(65) }), "id", rule],
    ["UpdateApiKey with a NUL in the id", () => keys().updateApiKey({ apiKey: { id: nul, name: "x" }, updateMask: { paths: ["name"] } }), "api_key.id", rule],
    ["DeleteApiKey with a NUL in the id", () => keys().deleteApiKey({ id: nul }), "id", rule],
    ["RotateApiKey with a NUL in the id", () => keys().rotateApiKey({ id: nul }), "id", rule],
    ["ListAuditEvents with a NUL in api_key_id", () => keys().listAuditEvents({ apiKeyId: nul }), "api_key_id", rule],
    ["GetLegacyKey with a NUL in workspace_id", () => support().getLegacyKey({ workspaceId: nul }), "workspace_id", rule],
    ["RevokeLegacyKey with a NUL in workspace_id", () => support().revokeLegacyKey({ workspaceId: nul }), "workspace_id", rule],
    ["an audit page token whose id is beyond bigint", () => keys().listAuditEvents({ pageToken: token('{"id":"9999999999999999999"}') }), "page_token", "previous response"],
    ["an audit page token whose id is bigint's maximum plus one", () => keys().listAuditEvents({ pageToken: token('{"id":"9223372036854775808"}') }), "page_token", "previous response"],
    ["a key page token with a NUL in its id", () => keys().listApiKeys({ pageToken: token('{"createdAt":"2026-01-01 00:00:00+00","id":"a\\u0000b"}') }), "page_token", "previous response"],
  ];
};

// Durations cannot be invalid in JSON (protobuf JSON writes them as "1.5s"), so these go as protobuf:
// Connect binary on the HTTP port and gRPC on the gRPC port.
const durationCases = (listener: Listener): Case[] => {
  const keys = () => createClient(ApiKeyService, binaryTransport(listener));
  const grace = (seconds: bigint, nanos: number) => ({ $typeName: "google.protobuf.Duration" as const, seconds, nanos });
  return [
    ["a grace period with nanos over a second", () => keys().rotateApiKey({ id: keyId, gracePeriod: grace(1n, 1_000_000_000) }), "grace_period", "nanos must be from"],
    ["a grace period with nanos far out of range", () => keys().deleteApiKey({ id: keyId, gracePeriod: grace(0n, 2_000_000_000) }), "grace_period", "nanos must be from"],
    ["a grace period with negative nanos and positive seconds", () => keys().rotateApiKey({ id: keyId, gracePeriod: grace(60n, -500_000_000) }), "grace_period", "sign of seconds"],
    ["a grace period with positive nanos and negative seconds", () => keys().deleteApiKey({ id: keyId, gracePeriod: grace(-60n, 500_000_000) }), "grace_period", "sign of seconds"],
    ["a grace period beyond 10,000 years", () => keys().rotateApiKey({ id: keyId, gracePeriod: grace(315_576_000_001n, 0) }), "grace_period", "seconds must be from"],
  ];
};
const binaryTransport = (listener: Listener) => {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${server.principals.owner}`);
    return next(req);
  };
  return listener === "http"
    ? createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [auth] })
    : createGrpcTransport({ baseUrl: `http://${server.grpcAddress}`, interceptors: [auth] });
};

describe("bad input", () => {
  it.each(cases)("%s → InvalidArgument with a field violation", async (_what, call, field, mentions) => {
    await expectViolation(call, field, mentions);
  });

  for (const listener of ["http", "grpc"] as const) {
    it.each([...idCases(listener), ...durationCases(listener)])(`on the ${listener} port, %s → InvalidArgument with a field violation`, async (_what, call, field, mentions) => {
      await expectViolation(call, field, mentions);
    });
  }

  it("a well-formed id of no key is still NOT_FOUND, and a valid grace period is still taken", async () => {
    for (const listener of ["http", "grpc"] as const) {
      const err = await server.apiKeys(server.principals.owner, listener).getApiKey({ id: "ws_nothingHere" }).catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code).toBe(Code.NotFound);
      const rotated = await createClient(ApiKeyService, binaryTransport(listener)).rotateApiKey({ id: keyId, gracePeriod: { seconds: 1n, nanos: 500_000_000 } });
      expect(rotated.apiKey?.id).toBe(keyId);
    }
  });

  it("names every problem of a request at once", async () => {
    const err = await server
      .apiKeys(server.principals.owner)
      .createApiKey({ name: "", access: AccessLevel.CUSTOM, scopes: ["nope:x"] })
      .catch((e: unknown) => ConnectError.from(e));
    const fields = (err as ConnectError).findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
    expect(fields).toEqual(["name", "scopes[0]"]);
  });

  it("loses nothing: rejected requests leave the keys as they were", async () => {
    const before = await owner().getApiKey({ id: keyId });
    await owner().updateApiKey({ apiKey: { id: keyId, name: "" }, updateMask: { paths: ["name"] } }).catch(() => undefined);
    await owner().rotateApiKey({ id: keyId, gracePeriod: durationFromMs(-1) }).catch(() => undefined);
    expect((await owner().getApiKey({ id: keyId })).apiKey).toEqual(before.apiKey);
  });
});

describe("malformed requests over HTTP", () => {
  const curl = async (path: string, args: string[]) => {
    const { stdout } = await run("curl", ["-sS", "-w", "\n%{http_code}", ...args, `${server.httpUrl}${path}`]);
    const lines = stdout.trimEnd().split("\n");
    return { status: Number(lines.pop()), body: lines.join("\n") };
  };
  const auth = () => ["-H", `authorization: Bearer ${server.principals.owner}`];
  const route = "/apikeys.v1.ApiKeyService/CreateApiKey";

  it.each([
    ["broken JSON", ["-H", "content-type: application/json", "--data", '{"name": '], 400, "invalid_argument", "JSON"],
    ["a wrong JSON type", ["-H", "content-type: application/json", "--data", '{"name": 5}'], 400, "invalid_argument", "name"],
    ["an unknown JSON field", ["-H", "content-type: application/json", "--data", '{"nmae": "x", "access": "ACCESS_LEVEL_FULL"}'], 400, "invalid_argument", "nmae"],
    ["garbage protobuf", ["-H", "content-type: application/proto", "--data-binary", "\u00ff\u00ff\u00ff\u00ff"], 400, "invalid_argument", "cannot decode the request as protobuf"],
    ["a body over the size limit", ["-H", "content-type: application/json", "--data", JSON.stringify({ name: "x".repeat(70_000) })], 429, "resource_exhausted", "65536"],
  ])("%s → %i %s, and the server keeps serving", async (_what, args, status, code, mentions) => {
    const res = await curl(route, [...auth(), ...(args as string[])]);
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body)).toMatchObject({ code, message: expect.stringContaining(mentions as string) });
    const again = await server.apiKeys(server.principals.owner).listScopes({});
    expect(again.scopes.length).toBeGreaterThan(0);
  });

  it.each([
    ["gRPC over h2c", ["--http2-prior-knowledge", "-H", "content-type: application/grpc", "-H", "te: trailers"]],
    ["gRPC-Web", ["-H", "content-type: application/grpc-web+proto"]],
  ])("garbage protobuf over %s → grpc-status 3 (INVALID_ARGUMENT)", async (_what, args) => {
    // One uncompressed envelope whose 4 payload bytes are not a CreateApiKeyRequest.
    const envelope = Buffer.from([0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    const { stdout } = await run("bash", [
      "-c",
      `printf '${[...envelope].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")}' | curl -sS -D - --data-binary @- ${args.map((a) => `'${a}'`).join(" ")} -H 'authorization: Bearer ${server.principals.owner}' ${server.httpUrl}${route} | tr -d '\\000-\\010\\200'`,
    ]);
    expect(stdout).toMatch(/grpc-status: ?3/);
    expect(decodeURIComponent(stdout)).toContain("cannot decode the request as protobuf");
  });

  it("on the gRPC port, an unknown method is UNIMPLEMENTED and the server keeps serving", async () => {
    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const status = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest("/apikeys.v1.ApiKeyService/Nope", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => resolve(err!)),
    );
    client.close();
    expect(status.code).toBe(grpc.status.UNIMPLEMENTED);
    expect((await server.apiKeys(server.principals.owner).listScopes({})).scopes.length).toBeGreaterThan(0);
  });

  it("an unknown route is 404 and a PUT is 405", async () => {
    expect((await curl("/apikeys.v1.ApiKeyService/Nope", [...auth(), "-H", "content-type: application/json", "--data", "{}"])).status).toBe(404);
    expect((await curl("/nothing/here", [])).status).toBe(404);
    expect((await curl(route, ["-X", "PUT"])).status).toBe(405);
  });
});
