// An example host product ("Acme Cloud") that mounts the API keys page in its own settings, with
// its own look and its own way of authenticating requests: here a bearer token the host holds in
// memory. A real host attaches whatever its gateway expects (its session cookie, a token).
import { StrictMode, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ApiKeysPage } from "@apikeys/web";
import "@apikeys/web/styles.css";
import "./host.css";

function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

function Host() {
  const [token, setToken] = useState("");
  const [draft, setDraft] = useState("");
  const transport = useMemo(() => createConnectTransport({ baseUrl: window.location.origin, interceptors: [bearer(token)] }), [token]);
  return (
    <div className="host">
      <aside className="host-nav">
        <strong className="host-logo">Acme Cloud</strong>
        <nav aria-label="Settings">
          <a href="#general">General</a>
          <a href="#members">Members</a>
          <a href="#api-keys" aria-current="page">
            API keys
          </a>
          <a href="#billing">Billing</a>
        </nav>
      </aside>
      <div className="host-content">
        {token ? (
          <ApiKeysPage transport={transport} className="host-api-keys" theme={{ "--ak-accent": "#0f766e", "--ak-accent-hover": "#115e59", "--ak-bg": "transparent" }} onSignedOut={() => setToken("")} />
        ) : (
          <form
            className="host-sign-in"
            onSubmit={(e) => {
              e.preventDefault();
              setToken(draft.trim());
            }}
          >
            <label htmlFor="host-token">Token (the host's own sign-in would supply this)</label>
            <input id="host-token" value={draft} onChange={(e) => setDraft(e.target.value)} autoComplete="off" />
            <button type="submit">Open API keys</button>
          </form>
        )}
      </div>
    </div>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Host />
  </StrictMode>,
);
