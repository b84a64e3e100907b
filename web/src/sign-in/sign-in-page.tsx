// Sign in with a principal token (exchanged for an HttpOnly session cookie; the token is never
// stored by the browser) or, when the server offers it, with the company's OpenID Connect provider.
import { useId, useMemo, useState } from "react";
import { createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import type { Session } from "../../../contract/gen/apikeys/v1/session_service_pb.js";
import { SessionService } from "../../../contract/gen/apikeys/v1/session_service_pb.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError, type ErrorView } from "../ui/errors.js";

export interface SignInContentProps {
  /** Called with the new session once the cookie is set. */
  readonly onSignedIn: (session: Session) => void;
  /** A message to show above the form, such as why the person was signed out. */
  readonly notice?: string | undefined;
  /** Why the last sign-in was refused (an OpenID Connect callback's `?error=` code, in words). */
  readonly refusal?: string | undefined;
}

/** The sign-in card. */
export function SignInContent({ onSignedIn, notice, refusal }: SignInContentProps) {
  const id = useId();
  const transport = useTransport();
  const client = useMemo(() => createClient(SessionService, transport), [transport]);
  const options = useQuery(SessionService.method.getSignInOptions, {});
  const [token, setToken] = useState("");
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);

  const signIn = async () => {
    if (token.trim() === "") {
      setError({ message: "Paste your token first.", fields: { token: "Paste the token that `apikeys bootstrap` or `apikeys members add` printed." }, retryable: false, signedOut: false, stale: false });
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const res = await client.signIn({ token: token.trim() });
      setToken("");
      if (res.session) onSignedIn(res.session);
    } catch (err) {
      const view = describeError(err);
      // A wrong token answers Unauthenticated, which elsewhere means "your session ended".
      setError(view.signedOut ? { ...view, signedOut: false, message: "This token was not accepted. Check that you pasted all of it, and that it has not been revoked." } : view);
    } finally {
      setBusy(false);
    }
  };

  const oidc = options.data?.oidc;
  return (
    <main className="ak-sign-in">
      <div className="ak-card ak-sign-in__card">
        <div className="ak-brand ak-brand--large" aria-hidden="true">
          <span className="ak-brand__mark">
            <svg viewBox="0 0 24 24" width="20" height="20">
              <circle cx="8.5" cy="12" r="4" fill="none" stroke="currentColor" strokeWidth="2.2" />
              <path d="M12.5 12H20m-2.5 0v3" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" />
            </svg>
          </span>
        </div>
        <h1 className="ak-sign-in__title">Sign in to manage API keys</h1>
        {notice ? <p className="ak-alert ak-alert--info">{notice}</p> : null}
        {refusal ? (
          <p className="ak-alert ak-alert--error" role="alert">
            {refusal}
          </p>
        ) : null}
        {oidc ? (
          <>
            <a className="ak-button ak-button--secondary ak-button--block" href={oidc.startPath}>
              {oidc.displayName || "Sign in with your company account"}
            </a>
            <div className="ak-divider">
              <span>or use a token</span>
            </div>
          </>
        ) : null}
        <form
          className="ak-form"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void signIn();
          }}
        >
          <div className="ak-field">
            <label className="ak-label" htmlFor={id}>
              Principal token
            </label>
            <input
              id={id}
              className="ak-input ak-input--mono"
              type="text"
              value={token}
              autoComplete="off"
              spellCheck={false}
              autoCapitalize="off"
              placeholder="akp_…"
              aria-invalid={error?.fields.token ? true : undefined}
              aria-describedby={`${id}-hint`}
              onChange={(e) => setToken(e.target.value)}
            />
            {error?.fields.token ? (
              <p className="ak-field-error" id={`${id}-hint`}>
                {error.fields.token}
              </p>
            ) : (
              <p className="ak-hint" id={`${id}-hint`}>
                The token printed by <code>apikeys bootstrap</code> or <code>apikeys members add</code>. It is exchanged for a session; your browser does not keep it.
              </p>
            )}
          </div>
          {error && !error.fields.token ? <ErrorNotice error={error} onRetry={() => void signIn()} /> : null}
          <button type="submit" className="ak-button ak-button--primary ak-button--block" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      </div>
    </main>
  );
}
