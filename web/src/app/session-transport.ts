// The standalone page's transport: same-origin requests that carry the HttpOnly session cookie,
// and the session's CSRF token in `x-csrf-token` on every call. The token is taken from the
// SignIn and GetSession answers and kept in memory only: it is not a credential by itself.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

/** A connect-web transport for the page served by the apikeys server itself. */
export function createSessionTransport(baseUrl: string): Transport {
  let csrfToken = "";
  const csrf: Interceptor = (next) => async (req) => {
    if (csrfToken) req.header.set("x-csrf-token", csrfToken);
    const res = await next(req);
    if (!res.stream) {
      const message = res.message as { readonly $typeName?: string; readonly session?: { readonly csrfToken: string } };
      if (message.$typeName === "apikeys.v1.SignInResponse" || message.$typeName === "apikeys.v1.GetSessionResponse") csrfToken = message.session?.csrfToken ?? "";
      if (message.$typeName === "apikeys.v1.SignOutResponse") csrfToken = "";
    }
    return res;
  };
  return createConnectTransport({
    baseUrl,
    // The cookie is sent to our own origin only; "include" would also send it cross-origin.
    fetch: (input, init) => globalThis.fetch(input, { ...init, credentials: "same-origin" }),
    interceptors: [csrf],
  });
}
