// Secrets are shown once and stored only as argon2id hashes: after creating, rotating and using
// keys, no table and no log line contains any secret, nor any principal token.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessLevel } from "../contract/gen/apikeys/v1/api_key_pb.js";
import { mintToken } from "../contract/key-format.js";
import { createHasher } from "../server/hashing.js";
import { importLegacyKey } from "../server/legacy/legacy-import.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
const secrets: string[] = [];
beforeAll(async () => {
  server = await startTestServer();
  const owner = server.apiKeys(server.principals.owner);
  for (const access of [AccessLevel.FULL, AccessLevel.CUSTOM]) {
    const created = await owner.createApiKey({ name: `Secret ${access}`, access, scopes: access === AccessLevel.CUSTOM ? ["orders:read"] : [] });
    secrets.push(created.secret);
    const rotated = await owner.rotateApiKey({ id: created.apiKey!.id, gracePeriod: { seconds: 60n } });
    secrets.push(rotated.secret);
    await server.apiKeys(server.principals.service).verifyApiKey({ key: created.secret });
    await server.apiKeys(server.principals.service).verifyApiKey({ key: rotated.secret, requiredScopes: ["orders:read"] });
  }
  const material = mintToken("ak");
  await owner.createApiKey({ name: "Client minted", access: AccessLevel.FULL, keyMaterial: material });
  secrets.push(material);
  // Bad input carrying secrets must not echo them either.
  await owner.createApiKey({ name: "Typo", access: AccessLevel.FULL, keyMaterial: material.slice(0, -1) + "!" }).catch(() => undefined);
  await server.apiKeys(secrets[0]).listApiKeys({}).catch(() => undefined);
  const legacy = "legacy_live_ZYXWVUTSRQPONMLKJIHGFEDCBA987";
  await importLegacyKey(server.app.db, createHasher(server.config.legacyArgon2), { workspaceId: server.principals.workspaceId, secret: legacy });
  await server.apiKeys(server.principals.service).verifyApiKey({ key: legacy });
  secrets.push(legacy);
  secrets.push(...Object.values(server.principals).filter((v) => v.startsWith("akp_")));
  await new Promise((r) => setTimeout(r, 300)); // let the last-used batch flush
});
afterAll(() => server?.stop());

/** The secret part of each token: what must never appear, in whole or as the secret segment. */
function needles(): string[] {
  return secrets.flatMap((s) => (s.startsWith("legacy") ? [s, s.slice(4, -4)] : [s, s.slice(s.indexOf("_") + 13, s.indexOf("_") + 45)]));
}

describe("secrets at rest and in logs", () => {
  it("no table holds a secret; key hashes are argon2id PHC strings", async () => {
    const tables = ["workspaces", "principals", "principal_tokens", "scopes", "api_keys", "legacy_keys", "audit_events"];
    let dump = "";
    for (const table of tables) {
      const { rows } = await sql`select to_jsonb(t)::text as row from ${sql.table(table)} t`.execute(server.app.db);
      dump += rows.map((r) => (r as { row: string }).row).join("\n");
    }
    expect(dump.length).toBeGreaterThan(1000);
    for (const needle of needles()) expect(dump).not.toContain(needle);
    const hashes = await server.app.db.selectFrom("api_keys").select(["hash", "previous_hash"]).execute();
    for (const { hash, previous_hash } of hashes) {
      expect(hash).toMatch(/^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/);
      if (previous_hash) expect(previous_hash).toMatch(/^\$argon2id\$/);
    }
  });

  it("no log line holds a secret, and the logger never had to mask one", () => {
    const logs = server.logs.join("");
    expect(server.logs.length).toBeGreaterThan(10);
    for (const needle of needles()) expect(logs).not.toContain(needle);
    // The logger masks token-shaped text as a last line of defence; code must not rely on it.
    expect(logs).not.toContain("_[redacted]");
  });
});
