import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type OidcConfig } from "../server/config.js";
import { mapClaims } from "../server/oidc/oidc-claims.js";

const OIDC_ENV = {
  APIKEYS_OIDC_ISSUER: "https://login.example.com",
  APIKEYS_OIDC_CLIENT_ID: "apikeys",
  APIKEYS_OIDC_CLIENT_SECRET: "s3cret",
  APIKEYS_PUBLIC_URL: "https://keys.example.com",
  APIKEYS_OIDC_WORKSPACE_CLAIM: "workspace",
  APIKEYS_OIDC_ROLE_CLAIM: "groups",
  APIKEYS_OIDC_OWNER_VALUES: "keys-owners",
  APIKEYS_OIDC_ADMIN_VALUES: "keys-admins, platform",
  APIKEYS_OIDC_MEMBER_VALUES: "staff",
  APIKEYS_OIDC_SUPPORT_VALUES: "support",
};

const oidc = (env: Record<string, string | undefined>): OidcConfig => loadConfig({ ...OIDC_ENV, ...env } as NodeJS.ProcessEnv).oidc!;
const refusal = (env: Record<string, string | undefined>): string => {
  try {
    loadConfig({ ...OIDC_ENV, ...env } as NodeJS.ProcessEnv);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("the configuration was accepted");
};

describe("OpenID Connect configuration", () => {
  it("when no issuer is set, then sign-in with OpenID Connect is off", () => {
    expect(loadConfig({}).oidc).toBeUndefined();
  });

  it("when it is complete, then the redirect URI is the public URL's /auth/oidc/callback", () => {
    const config = oidc({ APIKEYS_PUBLIC_URL: "https://example.com/apikeys" });
    expect(config.redirectUri.href).toBe("https://example.com/apikeys/auth/oidc/callback");
    expect(config.scopes).toEqual(["openid", "profile", "email"]);
    expect(config.displayName).toBe("Sign in with single sign-on");
    expect([...config.roleValues.admin]).toEqual(["keys-admins", "platform"]);
    expect(config.workspace).toEqual({ claim: "workspace" });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("when a value is missing or wrong, then the message names the variable and what to set", () => {
    expect(refusal({ APIKEYS_OIDC_ISSUER: undefined })).toMatch(/APIKEYS_OIDC_CLIENT_ID, .* set without APIKEYS_OIDC_ISSUER/);
    expect(refusal({ APIKEYS_OIDC_CLIENT_ID: "" })).toMatch(/APIKEYS_OIDC_CLIENT_ID must be set when APIKEYS_OIDC_ISSUER is/);
    expect(refusal({ APIKEYS_OIDC_CLIENT_SECRET: undefined })).toMatch(/APIKEYS_OIDC_CLIENT_SECRET must be set/);
    expect(refusal({ APIKEYS_PUBLIC_URL: undefined })).toMatch(/APIKEYS_PUBLIC_URL must be set .* such as https:\/\//);
    expect(refusal({ APIKEYS_OIDC_ISSUER: "login.example.com" })).toMatch(/APIKEYS_OIDC_ISSUER must be the absolute URL/);
    expect(refusal({ APIKEYS_OIDC_ISSUER: "http://login.example.com" })).toMatch(/APIKEYS_OIDC_ISSUER must be an https URL \(plain http only on 127.0.0.1/);
    expect(refusal({ APIKEYS_PUBLIC_URL: "https://keys.example.com/?a=1" })).toMatch(/APIKEYS_PUBLIC_URL must have no query/);
    expect(refusal({ APIKEYS_OIDC_SCOPES: "profile email" })).toMatch(/APIKEYS_OIDC_SCOPES must include "openid"/);
    expect(refusal({ APIKEYS_OIDC_WORKSPACE_CLAIM: undefined })).toMatch(/exactly one of APIKEYS_OIDC_WORKSPACE_ID .* and APIKEYS_OIDC_WORKSPACE_CLAIM/);
    expect(refusal({ APIKEYS_OIDC_WORKSPACE_ID: "ws_1" })).toMatch(/exactly one of APIKEYS_OIDC_WORKSPACE_ID/);
    const noRoles = { APIKEYS_OIDC_OWNER_VALUES: "", APIKEYS_OIDC_ADMIN_VALUES: " , ", APIKEYS_OIDC_MEMBER_VALUES: undefined, APIKEYS_OIDC_SUPPORT_VALUES: undefined };
    expect(refusal(noRoles)).toMatch(/set at least one of APIKEYS_OIDC_OWNER_VALUES/);
    expect(refusal({ APIKEYS_OIDC_MEMBER_VALUES: "staff,platform" })).toMatch(/"platform" is listed for both admin and member/);
  });

  it("when the provider runs on this machine, then plain http is accepted", () => {
    expect(oidc({ APIKEYS_OIDC_ISSUER: "http://127.0.0.1:9000", APIKEYS_PUBLIC_URL: "http://localhost:8080" }).issuer.href).toBe("http://127.0.0.1:9000/");
  });
});

describe("claims to principal", () => {
  const mapping = oidc({});

  it("when the groups hold several roles, then support comes first, then the highest role", () => {
    expect(mapClaims({ workspace: "ws_1", groups: ["staff", "keys-owners", "platform"] }, mapping)).toEqual({ kind: "member", workspaceId: "ws_1", role: "owner" });
    expect(mapClaims({ workspace: "ws_1", groups: ["staff", "platform"] }, mapping)).toEqual({ kind: "member", workspaceId: "ws_1", role: "admin" });
    expect(mapClaims({ workspace: "ws_1", groups: "staff" }, mapping)).toEqual({ kind: "member", workspaceId: "ws_1", role: "member" });
    expect(mapClaims({ groups: ["keys-owners", "support"] }, mapping)).toEqual({ kind: "support" });
  });

  it("when the claims name no role or no single workspace, then they are refused with what to fix", () => {
    expect(mapClaims({ workspace: "ws_1", groups: ["sales"] }, mapping)).toMatchObject({ refused: "oidc_no_role", detail: expect.stringContaining('claim "groups" holds none of the values') });
    expect(mapClaims({ workspace: "ws_1" }, mapping)).toMatchObject({ refused: "oidc_no_role" });
    expect(mapClaims({ groups: ["staff"] }, mapping)).toMatchObject({ refused: "oidc_no_workspace", detail: expect.stringContaining("holds none") });
    expect(mapClaims({ workspace: ["ws_1", "ws_2"], groups: ["staff"] }, mapping)).toMatchObject({ refused: "oidc_no_workspace", detail: expect.stringContaining("holds several") });
  });

  it("when the claim is nested or namespaced, then it is found by its dotted or full name", () => {
    const nested = oidc({ APIKEYS_OIDC_ROLE_CLAIM: "realm_access.roles", APIKEYS_OIDC_WORKSPACE_CLAIM: undefined, APIKEYS_OIDC_WORKSPACE_ID: "ws_fixed" });
    expect(mapClaims({ realm_access: { roles: ["platform"] } }, nested)).toEqual({ kind: "member", workspaceId: "ws_fixed", role: "admin" });
    const namespaced = oidc({ APIKEYS_OIDC_ROLE_CLAIM: "https://example.com/groups" });
    expect(mapClaims({ workspace: "ws_1", "https://example.com/groups": ["keys-owners"] }, namespaced)).toMatchObject({ role: "owner" });
  });
});
