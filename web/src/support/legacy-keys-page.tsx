// Support staff: look up a workspace's legacy account key (metadata only: its secret cannot be
// shown, only a hash is stored) and revoke it after a confirmation.
import { useId, useMemo, useState } from "react";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { useTransport } from "@connectrpc/connect-query";
import type { LegacyKey } from "../../../contract/gen/apikeys/v1/support_service_pb.js";
import { SupportService } from "../../../contract/gen/apikeys/v1/support_service_pb.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError, type ErrorView } from "../ui/errors.js";
import { formatDateTime, formatRelative } from "../ui/format.js";
import { Modal } from "../ui/modal.js";
import { PageRoot, type StylingProps } from "../ui/page-root.js";

export interface LegacyKeysPageProps extends StylingProps {
  readonly transport: Transport;
}

/** The support page, mounted with the host's transport. */
export function LegacyKeysPage({ transport, className, theme }: LegacyKeysPageProps) {
  return (
    <PageRoot transport={transport} className={className} theme={theme}>
      <section className="ak-page" aria-label="Legacy account keys">
        <LegacyKeysContent />
      </section>
    </PageRoot>
  );
}

/** The support page's content inside PageRoot. */
export function LegacyKeysContent() {
  const id = useId();
  const transport = useTransport();
  const client = useMemo(() => createClient(SupportService, transport), [transport]);
  const [workspaceId, setWorkspaceId] = useState("");
  const [result, setResult] = useState<{ readonly workspaceId: string; readonly key?: LegacyKey | undefined }>();
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);

  const lookUp = async () => {
    const wanted = workspaceId.trim();
    if (wanted === "") {
      setError({ message: "Enter a workspace ID.", fields: { workspace_id: "Enter the ID of the workspace to look up." }, retryable: false, signedOut: false, stale: false });
      return;
    }
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const res = await client.getLegacyKey({ workspaceId: wanted });
      setResult({ workspaceId: wanted, key: res.legacyKey });
    } catch (err) {
      // NotFound: no such workspace, or one without a legacy key; both read the same to support.
      if (ConnectError.from(err).code === Code.NotFound) setResult({ workspaceId: wanted });
      else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <header className="ak-page-header">
        <div>
          <h1 className="ak-page-title">Legacy account keys</h1>
          <p className="ak-page-lead">
            A workspace migrated from the older system may hold one full-access legacy key. Look it up by workspace ID to see when it was last used, and revoke it once the customer has moved to
            API keys. Its secret cannot be shown: only a hash is stored.
          </p>
        </div>
      </header>
      <form
        className="ak-card ak-card--padded ak-lookup"
        onSubmit={(e) => {
          e.preventDefault();
          void lookUp();
        }}
      >
        <div className="ak-field ak-lookup__field">
          <label className="ak-label" htmlFor={id}>
            Workspace ID
          </label>
          <input
            id={id}
            className="ak-input"
            type="text"
            value={workspaceId}
            autoComplete="off"
            spellCheck={false}
            aria-invalid={error?.fields.workspace_id ? true : undefined}
            onChange={(e) => setWorkspaceId(e.target.value)}
          />
          {error?.fields.workspace_id ? <p className="ak-field-error">{error.fields.workspace_id}</p> : null}
        </div>
        <button type="submit" className="ak-button ak-button--primary" disabled={busy}>
          {busy ? "Looking up…" : "Look up"}
        </button>
      </form>
      {error && !error.fields.workspace_id ? <ErrorNotice error={error} onRetry={() => void lookUp()} /> : null}
      {result && !result.key ? (
        <div className="ak-card ak-card--padded" role="status">
          Workspace <code>{result.workspaceId}</code> has no legacy account key.
        </div>
      ) : null}
      {result?.key ? (
        <section className="ak-card ak-card--padded" aria-label="Legacy account key">
          <dl className="ak-details">
            <div>
              <dt>Workspace</dt>
              <dd>
                <code>{result.key.workspaceId}</code>
              </dd>
            </div>
            <div>
              <dt>Key</dt>
              <dd>
                <code className="ak-hint-code">{result.key.hint}</code>
              </dd>
            </div>
            <div>
              <dt>Imported</dt>
              <dd>{formatDateTime(result.key.createTime)}</dd>
            </div>
            <div>
              <dt>Last used</dt>
              <dd>{formatRelative(result.key.lastUsedTime)}</dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd>
                {result.key.revokeTime ? (
                  <span className="ak-status ak-status--revoked">Revoked {formatDateTime(result.key.revokeTime)}</span>
                ) : (
                  <span className="ak-status ak-status--active">Active</span>
                )}
              </dd>
            </div>
          </dl>
          {!result.key.revokeTime ? (
            <div className="ak-details__actions">
              <button type="button" className="ak-button ak-button--danger" onClick={() => setConfirming(true)}>
                Revoke
              </button>
            </div>
          ) : null}
        </section>
      ) : null}
      {confirming && result?.key ? (
        <RevokeDialog
          legacyKey={result.key}
          onClose={() => setConfirming(false)}
          revoke={async () => {
            const res = await client.revokeLegacyKey({ workspaceId: result.workspaceId });
            setResult({ workspaceId: result.workspaceId, key: res.legacyKey });
            setConfirming(false);
          }}
        />
      ) : null}
    </>
  );
}

function RevokeDialog({ legacyKey, onClose, revoke }: { readonly legacyKey: LegacyKey; readonly onClose: () => void; readonly revoke: () => Promise<void> }) {
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await revoke();
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <Modal role="alertdialog" size="small" title="Revoke the legacy account key?" onRequestClose={onClose}>
      <div className="ak-form">
        <p className="ak-modal__body-text">
          The legacy key <code className="ak-hint-code">{legacyKey.hint}</code> of workspace <code>{legacyKey.workspaceId}</code> stops working immediately. This cannot be undone: every
          application still using it loses access.
        </p>
        {error ? <ErrorNotice error={error} onRetry={() => void run()} /> : null}
        <div className="ak-modal__actions">
          <button type="button" className="ak-button ak-button--secondary" onClick={onClose} data-autofocus>
            Cancel
          </button>
          <button type="button" className="ak-button ak-button--danger" disabled={busy} onClick={() => void run()}>
            {busy ? "Revoking…" : "Revoke key"}
          </button>
        </div>
      </div>
    </Modal>
  );
}
