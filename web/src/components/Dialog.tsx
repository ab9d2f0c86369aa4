/*
 * Dialog.tsx - modal dialogs on the native <dialog> element.
 *
 * showModal() gives what an accessible modal needs without code of ours: the
 * rest of the page is inert, Tab stays inside, Esc closes (the `cancel`
 * event, which we route to onClose so the parent's state stays the truth).
 * On close, focus goes back to the element that opened the dialog.
 *
 * confirmDialog() is the promise-returning "Are you sure?" used before
 * destructive actions; <DialogHost/> (rendered once by the shell) shows it.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { createStore, useStore } from '../lib/store';

let idSeq = 0;

export interface DialogProps {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  /** Buttons in the footer; a <form method="dialog"> is not used, forms handle their own submit. */
  footer?: ComponentChildren;
  wide?: boolean;
}

export function Dialog({ open, title, onClose, children, footer, wide }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const titleId = useRef(`dialog-title-${++idSeq}`);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement;
      d.showModal();
      const first = d.querySelector<HTMLElement>('[autofocus], input, select, textarea, button:not(.dialog-close)');
      first?.focus();
    } else if (!open && d.open) {
      d.close();
      /* at once, not on the async `close` event, so the next key press lands on the opener */
      const o = opener.current as HTMLElement | null;
      if (o && document.contains(o)) o.focus();
    }
  }, [open]);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    const onCancel = (e: Event) => {
      e.preventDefault();
      onClose();
    };
    d.addEventListener('cancel', onCancel);
    return () => d.removeEventListener('cancel', onCancel);
  }, [onClose]);
  return (
    <dialog ref={ref} class={wide ? 'dialog dialog-wide' : 'dialog'} aria-labelledby={titleId.current}>
      {open && (
        <>
          <header class="dialog-header">
            <h2 id={titleId.current}>{title}</h2>
            <button type="button" class="icon-button dialog-close" aria-label="Close" onClick={onClose}>
              ×
            </button>
          </header>
          <div class="dialog-body">{children}</div>
          {footer && <footer class="dialog-footer">{footer}</footer>}
        </>
      )}
    </dialog>
  );
}

interface ConfirmRequest {
  title: string;
  message: string;
  confirmLabel: string;
  danger: boolean;
  resolve: (ok: boolean) => void;
}

const pending = createStore<ConfirmRequest | null>(null);

export function confirmDialog(opts: {
  title: string;
  message: string;
  confirmLabel?: string;
  danger?: boolean;
}): Promise<boolean> {
  return new Promise((resolve) => {
    pending.get()?.resolve(false);
    pending.set({
      title: opts.title,
      message: opts.message,
      confirmLabel: opts.confirmLabel ?? 'Confirm',
      danger: opts.danger ?? false,
      resolve,
    });
  });
}

export function DialogHost() {
  const req = useStore(pending);
  const answer = (ok: boolean) => {
    req?.resolve(ok);
    pending.set(null);
  };
  return (
    <Dialog
      open={!!req}
      title={req?.title ?? ''}
      onClose={() => answer(false)}
      footer={
        <>
          <button type="button" class="button" onClick={() => answer(false)}>
            Cancel
          </button>
          <button
            type="button"
            class={req?.danger ? 'button button-danger' : 'button button-primary'}
            autofocus
            onClick={() => answer(true)}
          >
            {req?.confirmLabel}
          </button>
        </>
      }
    >
      <p>{req?.message}</p>
    </Dialog>
  );
}
