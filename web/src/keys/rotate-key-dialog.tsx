// Rotate: a new secret for the same key (id, name and permissions stay), shown once, with an
// optional grace period during which the old secret keeps working.
import { useId, useState } from "react";
import type { ApiKey } from "../../../contract/gen/apikeys/v1/api_key_pb.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError, type ErrorView } from "../ui/errors.js";
import { Modal } from "../ui/modal.js";
import { SecretReveal } from "./secret-reveal.js";
import { useApiKeysClient, useRefreshKeys } from "./use-api-keys-client.js";

const GRACE_CHOICES: ReadonlyArray<{ readonly seconds: number; readonly label: string }> = [
  { seconds: 0, label: "No grace period: the old secret stops working now" },
  { seconds: 15 * 60, label: "15 minutes" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 6 * 3600, label: "6 hours" },
  { seconds: 24 * 3600, label: "24 hours (the longest)" },
];

export interface RotateKeyDialogProps {
  readonly apiKey: ApiKey;
  readonly onClose: () => void;
}

/** The rotate dialog; unmounting it drops the new secret. */
export function RotateKeyDialog({ apiKey, onClose }: RotateKeyDialogProps) {
  const id = useId();
  const client = useApiKeysClient();
  const refresh = useRefreshKeys();
  const [grace, setGrace] = useState(0);
  const [error, setError] = useState<ErrorView>();
  const [busy, setBusy] = useState(false);
  const [secret, setSecret] = useState<string>();
  const [confirming, setConfirming] = useState(false);

  const rotate = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const res = await client.rotateApiKey({ id: apiKey.id, gracePeriod: grace > 0 ? { seconds: BigInt(grace) } : undefined });
      setSecret(res.secret);
      void refresh();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  if (secret !== undefined) {
    const label = GRACE_CHOICES.find((c) => c.seconds === grace)?.label ?? "";
    const note = grace > 0 ? `The old secret keeps working for ${label.replace(/ \(.*\)$/, "")}, then stops.` : "The old secret has stopped working.";
    return (
      <Modal title="Save your new API key" onRequestClose={() => setConfirming(true)}>
        <SecretReveal secret={secret} keyName={apiKey.name} note={note} confirming={confirming} onConfirmingChange={setConfirming} onDone={onClose} />
      </Modal>
    );
  }
  return (
    <Modal title={`Rotate “${apiKey.name}”`} description="Rotating replaces the key's secret. The key keeps its name, permissions and history." onRequestClose={onClose}>
      <form
        className="ak-form"
        onSubmit={(e) => {
          e.preventDefault();
          void rotate();
        }}
      >
        <div className="ak-field">
          <label className="ak-label" htmlFor={id}>
            Keep the old secret working for
          </label>
          <select id={id} data-autofocus className="ak-input ak-select" value={grace} onChange={(e) => setGrace(Number(e.target.value))} aria-describedby={`${id}-hint`}>
            {GRACE_CHOICES.map((c) => (
              <option key={c.seconds} value={c.seconds}>
                {c.label}
              </option>
            ))}
          </select>
          <p className="ak-hint" id={`${id}-hint`}>
            A grace period gives you time to put the new secret into every application that uses this key: until it ends, both the old and the new secret work. At most 24 hours.
          </p>
        </div>
        {error ? <ErrorNotice error={error} onRetry={() => void rotate()} /> : null}
        <div className="ak-modal__actions">
          <button type="button" className="ak-button ak-button--secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="ak-button ak-button--primary" disabled={busy}>
            {busy ? "Rotating…" : "Rotate key"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
