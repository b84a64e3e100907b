// Browser sessions from a test's side: sign in over Connect JSON as the page does, and clients
// that send the session cookie (and the CSRF token, and any Origin) the way a browser would.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { parseSetCookie } from "cookie";
import { SessionService, type Session } from "../../contract/gen/apikeys/v1/session_service_pb.js";

/** A signed-in browser: its cookie (as a Cookie header sends it), the Set-Cookie it got, and its session. */
export interface SignedIn {
  /** `apikeys_session=<token>`. */
  readonly cookie: string;
  /** The session token itself (the cookie's value). */
  readonly token: string;
  /** The Set-Cookie header SignIn answered with. */
  readonly setCookie: string;
  readonly session: Session;
}

/** What a request carries besides its body. */
export interface BrowserHeaders {
  readonly cookie?: string;
  readonly csrf?: string;
  readonly origin?: string;
  readonly bearer?: string;
}

/** A Connect JSON transport over HTTP/1.1 to `baseUrl` that sends `headers` with every call. */
export function browserTransport(baseUrl: string, headers: BrowserHeaders): Transport {
  const set: Interceptor = (next) => (req) => {
    if (headers.cookie !== undefined) req.header.set("cookie", headers.cookie);
    if (headers.csrf !== undefined) req.header.set("x-csrf-token", headers.csrf);
    if (headers.origin !== undefined) req.header.set("origin", headers.origin);
    if (headers.bearer !== undefined) req.header.set("authorization", `Bearer ${headers.bearer}`);
    return next(req);
  };
  return createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [set] });
}

/** A client of `service` that sends `headers` with every call. */
export function browserClient<S extends DescService>(service: S, baseUrl: string, headers: BrowserHeaders): Client<S> {
  return createClient(service, browserTransport(baseUrl, headers));
}

/** Signs in with principal token `token` and returns the session and its cookie. */
export async function signIn(baseUrl: string, token: string): Promise<SignedIn> {
  let setCookie: string | undefined;
  const { session } = await browserClient(SessionService, baseUrl, {}).signIn({ token }, { onHeader: (h) => (setCookie = h.getSetCookie()[0]) });
  if (!setCookie || !session) throw new Error("SignIn answered without a Set-Cookie header or a session");
  const parsed = parseSetCookie(setCookie);
  return { cookie: `${parsed.name}=${parsed.value ?? ""}`, token: parsed.value ?? "", setCookie, session };
}

/** Clients for a signed-in browser: with the cookie and the session's CSRF token, as the page sends them. */
export function signedInClient<S extends DescService>(service: S, baseUrl: string, signedIn: SignedIn): Client<S> {
  return browserClient(service, baseUrl, { cookie: signedIn.cookie, csrf: signedIn.session.csrfToken });
}
