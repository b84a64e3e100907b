// The standalone page served by the apikeys server: sign-in, Settings → API keys and the support
// page, in a product shell with the signed-in principal and "Sign out".
import { StrictMode, useEffect, useMemo, useState, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectQueryKey, useQuery, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { PrincipalKind, Role, SessionService, type Session } from "../../../contract/gen/apikeys/v1/session_service_pb.js";
import { signInErrorMessage } from "../../../contract/sign-in-errors.js";
import { ApiKeysContent } from "../api-keys-page.js";
import { SignInContent } from "../sign-in/sign-in-page.js";
import { LegacyKeysContent } from "../support/legacy-keys-page.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { SignInAction } from "../ui/sign-in-action.js";
import { describeError } from "../ui/errors.js";
import { createPageQueryClient, PageRoot } from "../ui/page-root.js";
import "../styles.css";
import { createSessionTransport } from "./session-transport.js";
import { ROUTES, useLocationPath } from "./use-location.js";

function App() {
  const [path, navigate] = useLocationPath();
  const [notice, setNotice] = useState<string>();
  // The OpenID Connect callback redirects here with a code (never words) when it refuses a sign-in.
  const [refusal] = useState(() => signInErrorMessage(new URLSearchParams(window.location.search).get("error")));
  const queryClient = useQueryClient();
  const home = (s: Session) => (s.kind === PrincipalKind.SUPPORT ? ROUTES.support : ROUTES.keys);

  useEffect(() => {
    if (path !== ROUTES.keys && path !== ROUTES.signIn && path !== ROUTES.support) navigate(ROUTES.keys, true);
  }, [path, navigate]);

  if (path === ROUTES.signIn) {
    return (
      <SignInContent
        notice={notice}
        refusal={refusal}
        onSignedIn={(session) => {
          setNotice(undefined);
          queryClient.setQueryData(createConnectQueryKey({ schema: SessionService.method.getSession, input: {}, cardinality: "finite", transport: undefined }), {
            $typeName: "apikeys.v1.GetSessionResponse",
            session,
          });
          navigate(home(session), true);
        }}
      />
    );
  }
  const signedOut = (message?: string) => {
    setNotice(message);
    queryClient.clear();
    navigate(ROUTES.signIn, true);
  };
  return (
    <Shell path={path} navigate={navigate} onSignedOut={signedOut}>
      <SignInAction.Provider value={() => signedOut("Your session has ended. Sign in again to continue.")}>
        {path === ROUTES.support ? <LegacyKeysContent /> : <ApiKeysContent pageSize={50} />}
      </SignInAction.Provider>
    </Shell>
  );
}

interface ShellProps {
  readonly path: string;
  readonly navigate: (path: string, replace?: boolean) => void;
  readonly onSignedOut: (message?: string) => void;
  readonly children: ReactNode;
}

function Shell({ path, navigate, onSignedOut, children }: ShellProps) {
  const transport = useTransport();
  const session = useQuery(SessionService.method.getSession, {});
  const client = useMemo(() => createClient(SessionService, transport), [transport]);
  const [signOutError, setSignOutError] = useState<unknown>();
  const code = session.error ? ConnectError.from(session.error).code : undefined;
  useEffect(() => {
    // Not signed in: the sign-in page, without a history entry to come back to.
    if (code === Code.Unauthenticated) onSignedOut();
  }, [code, onSignedOut]);
  const s = session.data?.session;
  const signOut = async () => {
    try {
      await client.signOut({});
      onSignedOut("You signed out.");
    } catch (err) {
      setSignOutError(err);
    }
  };
  const roleName = s ? (s.kind === PrincipalKind.SUPPORT ? "Support" : s.role === Role.OWNER ? "Owner" : s.role === Role.ADMIN ? "Admin" : s.role === Role.MEMBER ? "Member" : "Service") : "";
  return (
    <div className="ak-shell">
      <header className="ak-topbar">
        <div className="ak-topbar__inner">
          <a
            className="ak-brand"
            href={ROUTES.keys}
            onClick={(e) => {
              e.preventDefault();
              navigate(s?.kind === PrincipalKind.SUPPORT ? ROUTES.support : ROUTES.keys);
            }}
          >
            <span className="ak-brand__mark" aria-hidden="true">
              <svg viewBox="0 0 24 24" width="16" height="16">
                <circle cx="8.5" cy="12" r="4" fill="none" stroke="currentColor" strokeWidth="2.4" />
                <path d="M12.5 12H20m-2.5 0v3" fill="none" stroke="currentColor" strokeWidth="2.4" strokeLinecap="round" />
              </svg>
            </span>
            <span className="ak-brand__name">{s?.workspaceName || "apikeys"}</span>
          </a>
          <nav className="ak-breadcrumb" aria-label="Breadcrumb">
            <span>{path === ROUTES.support ? "Support" : "Settings"}</span>
            <span aria-hidden="true">/</span>
            <span aria-current="page">{path === ROUTES.support ? "Legacy keys" : "API keys"}</span>
          </nav>
          {s ? (
            <div className="ak-account">
              <span className="ak-account__who">
                <span className="ak-avatar" aria-hidden="true">
                  {initials(s.principalName)}
                </span>
                <span className="ak-account__text">
                  <span className="ak-account__name">{s.principalName}</span>
                  <span className="ak-account__role">{roleName}</span>
                </span>
              </span>
              <button type="button" className="ak-button ak-button--ghost ak-button--small" onClick={() => void signOut()}>
                Sign out
              </button>
            </div>
          ) : null}
        </div>
      </header>
      <main className="ak-page">
        {signOutError ? <ErrorNotice error={describeError(signOutError)} onRetry={() => void signOut()} /> : null}
        {code === Code.Unauthenticated ? null : children}
      </main>
    </div>
  );
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? "") : "")).toUpperCase();
}

const transport = createSessionTransport(window.location.origin);
const queryClient = createPageQueryClient();
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <PageRoot transport={transport} queryClient={queryClient}>
      <App />
    </PageRoot>
  </StrictMode>,
);
