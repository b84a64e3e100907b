// The Session message describes a caller; the caller's session (if any) gives its expiry and CSRF token.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PrincipalKind, Role, SessionSchema, SignInMethod, type Session } from "../../contract/gen/apikeys/v1/session_service_pb.js";
import type { Caller } from "../principal/caller.js";

const KINDS = { member: PrincipalKind.MEMBER, service: PrincipalKind.SERVICE, support: PrincipalKind.SUPPORT } as const;
const ROLES = { owner: Role.OWNER, admin: Role.ADMIN, member: Role.MEMBER } as const;
const METHODS = { token: SignInMethod.TOKEN, oidc: SignInMethod.OIDC } as const;

/** The Session message of `caller`, whose workspace is named `workspaceName` ("" when it has none). */
export function callerToSession(caller: Caller, workspaceName: string): Session {
  return create(SessionSchema, {
    principalId: caller.id,
    principalName: caller.name,
    kind: KINDS[caller.kind],
    workspaceId: caller.workspaceId ?? "",
    workspaceName,
    role: caller.role ? ROLES[caller.role] : Role.UNSPECIFIED,
    expireTime: caller.session && timestampFromDate(caller.session.expiresAt),
    csrfToken: caller.session?.csrfToken ?? "",
    method: caller.session ? METHODS[caller.session.method] : SignInMethod.UNSPECIFIED,
  });
}
