// SessionService: signs browsers in to the API keys page with a principal token, describes the
// caller, signs out. SignIn and GetSignInOptions need no credential (see routes.ts); the cookie
// travels in Set-Cookie headers, never in a message.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { PRINCIPAL_TOKEN_PREFIX } from "../config.js";
import { GetSignInOptionsResponseSchema, type GetSignInOptionsResponse, type SessionService } from "../../contract/gen/apikeys/v1/session_service_pb.js";
import { inspectToken } from "../../contract/key-format.js";
import { FailedPreconditionError, UnauthenticatedError } from "../errors.js";
import type { AuthenticateToken } from "../principal/authenticate.js";
import { callerOf } from "../principal/caller.js";
import { refuseForeignOrigin } from "./request-origin.js";
import { requireBrowserPrincipal, type Sessions } from "./sessions.js";

/** What GetSignInOptions answers besides the principal token, which always works (OpenID Connect fills it in). */
export type SignInOptions = () => GetSignInOptionsResponse | Promise<GetSignInOptionsResponse>;

export interface SessionServiceDeps {
  readonly sessions: Sessions;
  /** Checks a principal token as a bearer token is checked. */
  readonly authenticateToken: AuthenticateToken;
  readonly signInOptions?: SignInOptions;
}

const TOKEN_PROBLEMS = {
  prefix: `it does not start with "${PRINCIPAL_TOKEN_PREFIX}_"`,
  length: "it is too short or too long",
  characters: "it holds characters a token never has",
  checksum: "a character is mistyped",
} as const;
const TOKEN_HELP = "paste the whole principal token (akp_…) printed by `apikeys bootstrap`, `members add` or `tokens add`";

/** Builds the SessionService implementation. */
export function createSessionService(deps: SessionServiceDeps): ServiceImpl<typeof SessionService> {
  const { sessions } = deps;
  const setCookie = (ctx: HandlerContext, value: string) => ctx.responseHeader.append("set-cookie", value);

  return {
    async signIn(req, ctx) {
      refuseForeignOrigin(ctx);
      const token = req.token.trim();
      const problem = inspectToken(token, PRINCIPAL_TOKEN_PREFIX);
      if (typeof problem === "string") {
        throw new UnauthenticatedError(
          token === ""
            ? `no token given; ${TOKEN_HELP}`
            : `this is not a principal token (${TOKEN_PROBLEMS[problem]}); ${TOKEN_HELP}`,
        );
      }
      const caller = await (async () => deps.authenticateToken(token))().catch((err: unknown) => {
        throw err instanceof UnauthenticatedError
          ? new UnauthenticatedError(`this token is not valid or was revoked; check it, or ask an owner to mint you a new one (\`apikeys tokens add\`)`)
          : err;
      });
      requireBrowserPrincipal(caller.kind);
      const started = await sessions.start({ principalId: caller.id, method: "token", signedInWith: problem.id });
      setCookie(ctx, started.setCookie);
      return { session: started.session };
    },

    async getSession(_req, ctx) {
      return { session: await sessions.describe(callerOf(ctx)) };
    },

    async signOut(_req, ctx) {
      const caller = callerOf(ctx);
      if (!caller.session) {
        throw new FailedPreconditionError(
          "this call carried a bearer token, not a session cookie: there is no session to end (`apikeys tokens revoke` revokes a principal's tokens)",
        );
      }
      await sessions.end(caller.id, caller.session);
      setCookie(ctx, sessions.clearCookie);
      return {};
    },

    async getSignInOptions() {
      return deps.signInOptions ? await deps.signInOptions() : create(GetSignInOptionsResponseSchema);
    },
  };
}
