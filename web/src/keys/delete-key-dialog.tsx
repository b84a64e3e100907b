// Delete, after a confirmation that names the key and says what deleting means.
import { useState } from "react";
import type { ApiKey } from "../../../contract/gen/apikeys/v1/api_key_pb.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError, type ErrorView } from "../ui/errors.js";
import { Modal } from "../ui/modal.js";
import { useApiKeysClient, useRefreshKeys } from "./use-api-keys-client.js";

export interface DeleteKeyDialogProps {
  readonly apiKey: ApiKey;
  readonly onClose: () => void;
}

/** The delete confirmation. */
export function DeleteKeyDialog({ apiKey, onClose }: DeleteKeyDialogProps) {
  const client = useApiKeysClient();
  const refresh = useRefreshKeys();
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);
  const remove = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await client.deleteApiKey({ id: apiKey.id });
      await refresh();
      onClose();
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <Modal role="alertdialog" size="small" title={`Delete “${apiKey.name}”?`} onRequestClose={onClose}>
      <div className="ak-form">
        <p className="ak-modal__body-text">
          Deleting the key <strong>{apiKey.name}</strong> (<code className="ak-hint-code">{apiKey.hint}</code>) is immediate and cannot be undone. Applications using it lose access right away.
        </p>
        {error ? <ErrorNotice error={error} onRetry={() => void remove()} /> : null}
        <div className="ak-modal__actions">
          <button type="button" className="ak-button ak-button--secondary" onClick={onClose} data-autofocus>
            Cancel
          </button>
          <button type="button" className="ak-button ak-button--danger" disabled={busy} onClick={() => void remove()}>
            {busy ? "Deleting…" : "Delete key"}
          </button>
        </div>
      </div>
    </Modal>
  );
}
