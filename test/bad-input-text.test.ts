// A JSON body that is not Unicode text is refused as undecodable (INVALID_ARGUMENT, no field
// violations) in every JSON content type of the HTTP port, as the same bytes in protobuf are:
// invalid UTF-8 was stored as U+FFFD, and an escaped unpaired surrogate in a key, an enum name or a
// FieldMask path left gRPC+JSON and gRPC-Web+JSON calls unanswered ("URI malformed" while writing
// the status). Status messages that hold one are sent well-formed on both ports.
import { execFile } from "node:child_process";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { addConnectService } from "../contract/grpc-adapter.js";
import { NotFoundError } from "../server/errors.js";
import { startHttpServer } from "../server/http-server.js";
import { createLogger } from "../server/logger.js";
import type { Caller } from "../server/principal/caller.js";
import { withRpcBoundary } from "../server/rpc-boundary.js";
import { rawGrpc } from "./support/raw-grpc.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

const keyCount = async () => Number((await sql<{ n: string }>`select count(*)::text as n from api_keys`.execute(server.app.db)).rows[0]!.n);
const CREATE = "/apikeys.v1.ApiKeyService/CreateApiKey";
const UPDATE = "/apikeys.v1.ApiKeyService/UpdateApiKey";
const latin1 = (text: string) => Buffer.from(text, "latin1");

// Bodies as bytes: "\\ud800" is the six characters of a JSON escape.
const bodies = [
  ["invalid UTF-8 in a name", CREATE, latin1('{"name":"bad \xff\xfe","access":"ACCESS_LEVEL_FULL"}'), "not valid UTF-8"],
  ["an unpaired surrogate in a name", CREATE, latin1('{"name":"bad \\ud800","access":"ACCESS_LEVEL_FULL"}'), "unpaired"],
  ["an unpaired surrogate as an unknown field", CREATE, latin1('{"\\ud800":1}'), "unpaired"],
  ["an unpaired low surrogate as an enum name", CREATE, latin1('{"name":"x","access":"\\udc00"}'), "unpaired"],
  ["an unpaired surrogate as a FieldMask path", UPDATE, latin1('{"apiKey":{"id":"abc"},"updateMask":"\\ud800"}'), "unpaired"],
] as const;

describe("a JSON body that is not Unicode text → INVALID_ARGUMENT, nothing stored", () => {
  const auth = () => `authorization: Bearer ${server.principals.owner}`;

  it.each(bodies)("Connect JSON: %s", async (_what, path, body, mentions) => {
    const before = await keyCount();
    const res = await curlBody(path, body);
    expect(res.status).toBe(400);
    const error = JSON.parse(res.body) as { code: string; message: string; details?: unknown[] };
    expect(error).toMatchObject({ code: "invalid_argument", message: expect.stringContaining(mentions) });
    expect(error.details ?? []).toEqual([]);
    expect(await keyCount()).toBe(before);
  });

  for (const contentType of ["application/grpc+json", "application/grpc-web+json"]) {
    it.each(bodies)(`${contentType}: %s`, async (_what, path, body, mentions) => {
      const before = await keyCount();
      const answer = await rawGrpc({ url: `${server.httpUrl}${path}`, contentType, headers: [auth()], message: body, maxSeconds: 30 });
      expect(answer.code, answer.raw).toBe(3);
      expect(answer.message).toContain(mentions);
      expect(answer.raw).not.toContain("grpc-status-details-bin");
      expect(await keyCount()).toBe(before);
    });
  }

  it("paired surrogates (an emoji written as escapes) are still taken", async () => {
    const res = await curlBody(CREATE, latin1('{"name":"Key \\ud83d\\udd11","access":"ACCESS_LEVEL_FULL"}'));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).apiKey.name).toBe("Key \u{1F511}");
  });

  async function curlBody(path: string, body: Buffer): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        "curl",
        ["-sS", "-m", "30", "-w", "\n%{http_code}", "-H", "content-type: application/json", "-H", auth(), "--data-binary", "@-", `${server.httpUrl}${path}`],
        (err, stdout) => {
          if (err) return reject(err);
          const lines = stdout.trimEnd().split("\n");
          resolve({ status: Number(lines.pop()), body: lines.join("\n") });
        },
      );
      child.stdin!.end(body);
    });
  }
});

describe("a status message holding an unpaired surrogate is still sent", () => {
  it.each(["application/grpc", "application/grpc-web+proto"])("through the RPC boundary on connect-node, over %s", async (contentType) => {
    const caller: Caller = { id: "pr_test", name: "Test", kind: "member", workspaceId: "ws_test", role: "owner" };
    const impl = {
      getApiKey: (req: { id: string }) => {
        throw new NotFoundError(`API key "${req.id}\ud800" not found`);
      },
    };
    const http = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      maxMessageBytes: 65_536,
      log: createLogger("error", {}, () => undefined),
      routes: (router) => router.service(ApiKeyService, withRpcBoundary(ApiKeyService, impl as never, { authenticate: () => caller, log: createLogger("error", {}, () => undefined) })),
    });
    try {
      const answer = await rawGrpc({ url: `http://127.0.0.1:${http.port}/apikeys.v1.ApiKeyService/GetApiKey`, contentType, message: new Uint8Array(), maxSeconds: 30 });
      expect(answer.code, answer.raw).toBe(5);
      expect(answer.message).toBe('API key "\ufffd" not found');
    } finally {
      await http.shutdown();
    }
  });

  it("on a grpc-js server through the adapter", async () => {
    const grpcServer = new grpc.Server();
    addConnectService(grpcServer, ApiKeyService, {
      getApiKey: (req) => {
        throw new ConnectError(`API key "${req.id}\ud800" not found`, Code.NotFound);
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    try {
      const answer = await rawGrpc({ url: `http://127.0.0.1:${port}/apikeys.v1.ApiKeyService/GetApiKey`, contentType: "application/grpc", message: new Uint8Array(), maxSeconds: 30 });
      expect(answer.code, answer.raw).toBe(5);
      expect(answer.message).toBe('API key "\ufffd" not found');
    } finally {
      grpcServer.forceShutdown();
    }
  });
});
