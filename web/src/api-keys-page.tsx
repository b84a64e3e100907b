// The embeddable page: asks who the caller is first (SessionService.GetSession), then shows the
// keys to owners and admins, and to everyone else a message without fetching any key data.
import type { Transport } from "@connectrpc/connect";
import { useQuery } from "@connectrpc/connect-query";
import type { QueryClient } from "@tanstack/react-query";
import { PrincipalKind, Role, SessionService } from "../../contract/gen/apikeys/v1/session_service_pb.js";
import { KeysView } from "./keys/keys-view.js";
import { ErrorNotice } from "./ui/error-notice.js";
import { SignInAction } from "./ui/sign-in-action.js";
import { describeError } from "./ui/errors.js";
import { PageRoot, type StylingProps } from "./ui/page-root.js";

export interface ApiKeysPageProps extends StylingProps {
  /** How requests reach the apikeys server, with the host's credentials (cookies, a bearer token). */
  readonly transport: Transport;
  /** The host's TanStack Query client; by default the page keeps its own. */
  readonly queryClient?: QueryClient;
  /** Keys per ListApiKeys page; 50 by default. */
  readonly pageSize?: number;
  /** Called when a call says the caller is no longer signed in; offers a "Go to sign-in" button. */
  readonly onSignedOut?: () => void;
}

/** Settings → API keys, mounted with the host's transport. */
export function ApiKeysPage({ transport, queryClient, className, theme, pageSize = 50, onSignedOut }: ApiKeysPageProps) {
  return (
    <PageRoot transport={transport} queryClient={queryClient} className={className} theme={theme}>
      {/* A section, not <main>: the host's page has its own main landmark. */}
      <section className="ak-page" aria-label="API keys">
        <SignInAction.Provider value={onSignedOut}>
          <ApiKeysContent pageSize={pageSize} />
        </SignInAction.Provider>
      </section>
    </PageRoot>
  );
}

/** The page's content inside PageRoot (the standalone app renders it in its own shell). */
export function ApiKeysContent({ pageSize }: { readonly pageSize: number }) {
  const session = useQuery(SessionService.method.getSession, {});
  if (session.error) {
    return <ErrorNotice error={describeError(session.error)} onRetry={() => void session.refetch()} />;
  }
  if (session.isPending) {
    return (
      <div className="ak-card ak-loading" aria-busy="true">
        Loading…
      </div>
    );
  }
  const s = session.data.session;
  const manages = s?.kind === PrincipalKind.MEMBER && (s.role === Role.OWNER || s.role === Role.ADMIN);
  if (!s || !manages) {
    return (
      <div className="ak-card ak-empty ak-restricted">
        <div className="ak-empty__icon" aria-hidden="true">
          <svg viewBox="0 0 24 24" width="26" height="26">
            <rect x="5" y="10.5" width="14" height="10" rx="2" fill="none" stroke="currentColor" strokeWidth="1.8" />
            <path d="M8.5 10.5V8a3.5 3.5 0 0 1 7 0v2.5" fill="none" stroke="currentColor" strokeWidth="1.8" />
          </svg>
        </div>
        <h1 className="ak-empty__title">Only Owners and Admins have access to the API keys management page</h1>
        <p className="ak-empty__text">Ask an Owner or Admin of your workspace if you need a key, or to be given the Admin role.</p>
      </div>
    );
  }
  return <KeysView principalId={s.principalId} pageSize={pageSize} />;
}
