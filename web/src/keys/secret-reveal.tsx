// The secret, shown once: copy it, read that it will never be shown again, confirm before closing.
// The secret lives only in the props of this component (its owner's state), never in a query
// cache, the URL or storage; closing the dialog unmounts it and drops the last reference.
import { useEffect, useRef, useState } from "react";

export interface SecretRevealProps {
  readonly secret: string;
  readonly keyName: string;
  /** Shown under the warning, such as how long the old secret keeps working. */
  readonly note?: string;
  /** True once the person asked to close: ask them to confirm they saved the key. */
  readonly confirming: boolean;
  readonly onConfirmingChange: (confirming: boolean) => void;
  /** Called when the person confirms they saved the key. */
  readonly onDone: () => void;
}

/** The once-only secret with its Copy button and the confirmation before closing. */
export function SecretReveal({ secret, keyName, note, confirming, onConfirmingChange, onDone }: SecretRevealProps) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setCopied("no"), 4000);
  };
  return (
    <div className="ak-secret">
      <p className="ak-secret__lead">
        Your new key for <strong>{keyName}</strong>. Copy it now and store it somewhere safe, such as your secret manager.
      </p>
      <div className="ak-secret__box">
        <div className="ak-secret__value" role="group" aria-label="API key secret">
          <code translate="no">{secret}</code>
        </div>
        <button type="button" className="ak-button ak-button--secondary ak-secret__copy" onClick={() => void copy()} autoFocus>
          <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
            <rect x="5" y="5" width="8" height="9" rx="1.5" fill="none" stroke="currentColor" strokeWidth="1.4" />
            <path d="M3.5 10.5V3.5A1.5 1.5 0 0 1 5 2h5" fill="none" stroke="currentColor" strokeWidth="1.4" />
          </svg>
          Copy
        </button>
      </div>
      <p className="ak-secret__status" role="status">
        {copied === "yes" ? (
          <span className="ak-copied">
            <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
              <path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
            Copied to your clipboard
          </span>
        ) : copied === "failed" ? (
          <span className="ak-field-error">Could not copy: your browser blocked the clipboard. Select the key and copy it by hand.</span>
        ) : null}
      </p>
      <div className="ak-alert ak-alert--warning">
        <svg className="ak-alert__icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
          <path d="M8 1.8l6.5 11.4H1.5z" fill="none" stroke="currentColor" strokeWidth="1.4" strokeLinejoin="round" />
          <path d="M8 6.2v3.3M8 11.4h.01" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
        </svg>
        <p className="ak-alert__text">
          This key will never be shown again. We store only a hash of it, so nobody (not even support) can show it to you later. If you lose it, create a new key.
          {note ? ` ${note}` : ""}
        </p>
      </div>
      {confirming ? (
        <div className="ak-confirm" role="group" aria-label="Confirm you saved the key">
          <p className="ak-confirm__text">Have you copied the key and stored it safely? Once you close this dialog, the key cannot be shown again.</p>
          <div className="ak-modal__actions">
            <button type="button" className="ak-button ak-button--secondary" onClick={() => onConfirmingChange(false)}>
              Back to the key
            </button>
            <button type="button" className="ak-button ak-button--primary" onClick={onDone} autoFocus>
              I saved it, close
            </button>
          </div>
        </div>
      ) : (
        <div className="ak-modal__actions">
          <button type="button" className="ak-button ak-button--primary" onClick={() => onConfirmingChange(true)}>
            Done
          </button>
        </div>
      )}
    </div>
  );
}
