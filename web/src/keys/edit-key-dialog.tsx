// Edit a key's name and permissions. The etag makes a stale edit fail instead of overwriting
// someone else's change; the form then shows the key's current values.
import { useState } from "react";
import { AccessLevel, type ApiKey } from "../../../contract/gen/apikeys/v1/api_key_pb.js";
import { ActivityList } from "../activity/activity-list.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError, type ErrorView } from "../ui/errors.js";
import { Modal } from "../ui/modal.js";
import { AccessField, NameField, validateKeyForm } from "./key-form-fields.js";
import { useApiKeysClient, useRefreshKeys } from "./use-api-keys-client.js";

export interface EditKeyDialogProps {
  readonly apiKey: ApiKey;
  readonly onClose: () => void;
}

/** The edit dialog, with the key's own activity below the form. */
export function EditKeyDialog({ apiKey, onClose }: EditKeyDialogProps) {
  const client = useApiKeysClient();
  const refresh = useRefreshKeys();
  const [current, setCurrent] = useState(apiKey);
  const [name, setName] = useState(apiKey.name);
  const [access, setAccess] = useState(apiKey.access);
  const [scopes, setScopes] = useState<readonly string[]>(apiKey.access === AccessLevel.CUSTOM ? apiKey.scopes : []);
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);

  const showValues = (key: ApiKey) => {
    setCurrent(key);
    setName(key.name);
    setAccess(key.access);
    setScopes(key.access === AccessLevel.CUSTOM ? key.scopes : []);
  };

  const submit = async () => {
    const found = validateKeyForm({ name, access, scopes });
    setProblems(found);
    setError(undefined);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      await client.updateApiKey({
        apiKey: { id: current.id, etag: current.etag, name: name.trim(), access, scopes: access === AccessLevel.CUSTOM ? [...scopes] : [] },
        updateMask: { paths: ["name", "access", "scopes"] },
      });
      await refresh();
      onClose();
    } catch (err) {
      const view = describeError(err);
      setProblems(view.fields);
      setError(view);
      if (view.stale) {
        try {
          const fresh = await client.getApiKey({ id: current.id });
          if (fresh.apiKey) showValues(fresh.apiKey);
          void refresh();
        } catch (again) {
          setError(describeError(again));
        }
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title="Edit API key" description="Changes apply immediately to every request made with this key." onRequestClose={onClose} size="large">
      <form
        className="ak-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {error?.stale ? (
          <div className="ak-alert ak-alert--warning" role="alert">
            <p className="ak-alert__text">{error.message}</p>
          </div>
        ) : null}
        <NameField value={name} onChange={setName} error={problems.name} autoFocus />
        <AccessField access={access} scopes={scopes} onAccessChange={setAccess} onScopesChange={setScopes} scopesError={problems.scopes} />
        {error && !error.stale && Object.keys(error.fields).length === 0 ? <ErrorNotice error={error} onRetry={() => void submit()} /> : null}
        <div className="ak-modal__actions">
          <button type="button" className="ak-button ak-button--secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="ak-button ak-button--primary" disabled={busy}>
            {busy ? "Saving…" : "Save changes"}
          </button>
        </div>
      </form>
      <section className="ak-modal__section" aria-labelledby="ak-key-activity">
        <h3 className="ak-section-title" id="ak-key-activity">
          Activity of this key
        </h3>
        <ActivityList apiKeyId={current.id} pageSize={5} compact />
      </section>
    </Modal>
  );
}
