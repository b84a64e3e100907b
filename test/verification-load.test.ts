// A server whose argon2 pool holds one check and queues none: first verifications beyond it are
// refused at once with RESOURCE_EXHAUSTED, and cached verifications keep answering meanwhile.
// argon2 runs at the default cost here, so that a check holds the pool for tens of milliseconds.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { VerificationStatus } from "../contract/gen/apikeys/v1/api_key_service_pb.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    APIKEYS_ARGON2_MAX_CONCURRENT: "1",
    APIKEYS_ARGON2_MAX_QUEUED: "0",
    APIKEYS_ARGON2_MEMORY_KIB: "19456",
    APIKEYS_ARGON2_ITERATIONS: "2",
  });
});
afterAll(() => server?.stop());

describe("a full argon2 pool", () => {
  it("refuses first verifications with RESOURCE_EXHAUSTED and a retry hint, while cached ones keep answering", async () => {
    const owner = server.apiKeys(server.principals.owner);
    const verifier = server.apiKeys(server.principals.service, "grpc");
    const cached = await owner.createApiKey({ name: "Warm", access: AccessLevel.FULL });
    expect((await verifier.verifyApiKey({ key: cached.secret })).valid).toBe(true);
    const fresh = await Promise.all(Array.from({ length: 20 }, (_, i) => owner.createApiKey({ name: `Fresh ${i}`, access: AccessLevel.FULL })));

    const answeredAt: Record<string, number[]> = {};
    const note = (outcome: string) => ((answeredAt[outcome] ??= []).push(performance.now()), outcome);
    const outcomes = await Promise.all([
      ...fresh.map(({ secret }) =>
        verifier.verifyApiKey({ key: secret }).then(
          (r) => note(VerificationStatus[r.status]),
          (err: unknown) => {
            const error = ConnectError.from(err);
            expect(error.rawMessage).toBe("too many key checks in progress; retry shortly");
            return note(Code[error.code]);
          },
        ),
      ),
      ...Array.from({ length: 20 }, () => verifier.verifyApiKey({ key: cached.secret }).then((r) => note(`cached ${VerificationStatus[r.status]}`))),
    ]);
    const count = (what: string) => outcomes.filter((o) => o === what).length;
    expect(count("cached VALID")).toBe(20);
    expect(count("ResourceExhausted")).toBeGreaterThan(0);
    expect(count("VALID") + count("ResourceExhausted")).toBe(20);
    // The cached answers did not wait behind the check that held the pool.
    expect(Math.max(...answeredAt["cached VALID"]!)).toBeLessThan(Math.max(...answeredAt["VALID"]!));

    // Refused, not lost: each of those keys verifies once the pool has room.
    for (const { secret } of fresh) expect((await verifier.verifyApiKey({ key: secret })).valid).toBe(true);
  });
});
