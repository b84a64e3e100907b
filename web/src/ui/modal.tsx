// A modal dialog on the native <dialog> element: the browser gives it the dialog role, the top
// layer, a focus trap and an inert page behind it, with no injected <style> (which a strict
// Content-Security-Policy would block, as scroll-lock libraries do).
import { useEffect, useId, useRef, type ReactNode } from "react";

export interface ModalProps {
  readonly title: ReactNode;
  readonly description?: ReactNode;
  /** Called on Escape and the close button; the dialog stays open until its owner unmounts it. */
  readonly onRequestClose: () => void;
  readonly children: ReactNode;
  /** "alertdialog" for confirmations of destructive actions. */
  readonly role?: "dialog" | "alertdialog";
  readonly size?: "small" | "medium" | "large";
  readonly className?: string;
}

/** A modal dialog, open while mounted; the element with `data-autofocus` gets the focus. */
export function Modal({ title, description, onRequestClose, children, role, size = "medium", className }: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const close = useRef(onRequestClose);
  close.current = onRequestClose;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    // showModal focuses the first focusable element (the close button); React's autoFocus ran
    // before the dialog was shown, so the element meant to have focus asks with data-autofocus.
    dialog.querySelector<HTMLElement>("[data-autofocus]")?.focus();
    // Escape asks the owner, which may first confirm (the secret step) instead of closing.
    const onCancel = (event: Event) => {
      event.preventDefault();
      close.current();
    };
    dialog.addEventListener("cancel", onCancel);
    return () => {
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      role={role === "alertdialog" ? "alertdialog" : undefined}
      className={`ak-modal ak-modal--${size}${className ? ` ${className}` : ""}`}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
    >
      <div className="ak-modal__header">
        <h2 id={titleId} className="ak-modal__title">
          {title}
        </h2>
        <button type="button" className="ak-icon-button" aria-label="Close dialog" onClick={() => close.current()}>
          <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
            <path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
          </svg>
        </button>
      </div>
      {description ? (
        <p id={descriptionId} className="ak-modal__description">
          {description}
        </p>
      ) : null}
      {children}
    </dialog>
  );
}
