// The one way the page shows a failed call: a sentence, and a retry when trying again may help.
import { useContext } from "react";
import type { ErrorView } from "./errors.js";
import { SignInAction } from "./sign-in-action.js";

export interface ErrorNoticeProps {
  readonly error: ErrorView;
  readonly onRetry?: () => void;
}

/** An alert with the error's message and the action that may fix it. */
export function ErrorNotice({ error, onRetry }: ErrorNoticeProps) {
  const onSignIn = useContext(SignInAction);
  return (
    <div className="ak-alert ak-alert--error" role="alert">
      <svg className="ak-alert__icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
        <circle cx="8" cy="8" r="7" fill="none" stroke="currentColor" strokeWidth="1.5" />
        <path d="M8 4.5v4M8 11h.01" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
      </svg>
      <p className="ak-alert__text">{error.message}</p>
      {error.signedOut && onSignIn ? (
        <button type="button" className="ak-button ak-button--secondary ak-button--small" onClick={onSignIn}>
          Go to sign-in
        </button>
      ) : error.retryable && onRetry ? (
        <button type="button" className="ak-button ak-button--secondary ak-button--small" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}
