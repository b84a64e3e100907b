// Create API key: name, access and scopes, then the secret, shown once.
import { useState } from "react";
import { AccessLevel } from "../../../contract/gen/apikeys/v1/api_key_pb.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError, type ErrorView } from "../ui/errors.js";
import { Modal } from "../ui/modal.js";
import { AccessField, NameField, validateKeyForm } from "./key-form-fields.js";
import { SecretReveal } from "./secret-reveal.js";
import { useApiKeysClient, useRefreshKeys } from "./use-api-keys-client.js";

export interface CreateKeyDialogProps {
  readonly onClose: () => void;
}

/** The create dialog; unmounting it drops the secret. */
export function CreateKeyDialog({ onClose }: CreateKeyDialogProps) {
  const client = useApiKeysClient();
  const refresh = useRefreshKeys();
  const [name, setName] = useState("");
  const [access, setAccess] = useState<AccessLevel>(AccessLevel.FULL);
  const [scopes, setScopes] = useState<readonly string[]>([]);
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ readonly secret: string; readonly name: string }>();
  const [confirming, setConfirming] = useState(false);

  const submit = async () => {
    const values = { name, access, scopes };
    const found = validateKeyForm(values);
    setProblems(found);
    setError(undefined);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const res = await client.createApiKey({ name: name.trim(), access, scopes: access === AccessLevel.CUSTOM ? [...scopes] : [] });
      setCreated({ secret: res.secret, name: res.apiKey?.name ?? name.trim() });
      void refresh();
    } catch (err) {
      const view = describeError(err);
      setProblems(view.fields);
      setError(view);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      <Modal title="Save your API key" onRequestClose={() => setConfirming(true)}>
        <SecretReveal secret={created.secret} keyName={created.name} confirming={confirming} onConfirmingChange={setConfirming} onDone={onClose} />
      </Modal>
    );
  }
  return (
    <Modal title="Create API key" description="A key lets an application call the API on behalf of this workspace." onRequestClose={onClose} size="large">
      <form
        className="ak-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <NameField value={name} onChange={setName} error={problems.name} autoFocus />
        <AccessField
          access={access}
          scopes={scopes}
          onAccessChange={setAccess}
          onScopesChange={(s) => {
            setScopes(s);
            if (s.length > 0) setProblems(({ scopes: _, ...rest }) => rest);
          }}
          scopesError={problems.scopes}
        />
        {error && Object.keys(error.fields).length === 0 ? <ErrorNotice error={error} onRetry={() => void submit()} /> : null}
        <div className="ak-modal__actions">
          <button type="button" className="ak-button ak-button--secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="ak-button ak-button--primary" disabled={busy}>
            {busy ? "Creating…" : "Create key"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
