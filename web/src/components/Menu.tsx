/*
 * Menu.tsx - a menu button (the organization switcher, the user menu),
 * following the WAI-ARIA menu button pattern: Enter, Space or ArrowDown opens
 * it on the first item; ArrowUp/ArrowDown/Home/End move; Enter activates; Esc
 * closes and puts focus back on the button; Tab or a click outside closes.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { navigate } from '../lib/router';

export interface MenuItem {
  label: ComponentChildren;
  /** Either an action or a link. */
  onSelect?: () => void;
  href?: string;
  checked?: boolean;
  separatorBefore?: boolean;
  testId?: string;
}

let menuSeq = 0;

export function Menu(props: { label: ComponentChildren; buttonLabel?: string; items: MenuItem[]; align?: 'left' | 'right'; id?: string }) {
  const [open, setOpen] = useState(false);
  const btn = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const id = useRef(props.id ?? `menu-${++menuSeq}`).current;

  const items = () => Array.from(list.current?.querySelectorAll<HTMLElement>('[role^="menuitem"]') ?? []);
  const focusItem = (i: number) => {
    const xs = items();
    if (xs.length) xs[(i + xs.length) % xs.length].focus();
  };
  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) btn.current?.focus();
  };

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      const t = e.target as Node;
      if (!list.current?.contains(t) && !btn.current?.contains(t)) setOpen(false);
    };
    document.addEventListener('mousedown', onDown);
    return () => document.removeEventListener('mousedown', onDown);
  }, [open]);

  /* the list is rendered by then; focus already moved into it (a click, a test's
     focus()) is left where it is */
  const openAt = (i: number) => {
    setOpen(true);
    window.requestAnimationFrame(() => {
      if (!list.current?.contains(document.activeElement)) focusItem(i);
    });
  };

  const onButtonKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown' || e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      openAt(0);
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      openAt(-1);
    }
  };

  const onListKey = (e: KeyboardEvent) => {
    const xs = items();
    const i = xs.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'ArrowDown') focusItem(i + 1);
    else if (e.key === 'ArrowUp') focusItem(i - 1);
    else if (e.key === 'Home') focusItem(0);
    else if (e.key === 'End') focusItem(-1);
    else if (e.key === 'Escape') close(true);
    else if (e.key === 'Tab') {
      setOpen(false);
      return;
    } else return;
    e.preventDefault();
  };

  const activate = (it: MenuItem) => {
    close(true);
    if (it.onSelect) it.onSelect();
    else if (it.href) navigate(it.href);
  };

  return (
    <div class="menu">
      <button
        ref={btn}
        type="button"
        class="menu-button"
        id={id + '-button'}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={id}
        aria-label={props.buttonLabel}
        onClick={() => (open ? setOpen(false) : openAt(0))}
        onKeyDown={onButtonKey}
      >
        {props.label}
        <span class="menu-caret" aria-hidden="true">
          ▾
        </span>
      </button>
      {open && (
        <ul ref={list} class={`menu-list menu-${props.align ?? 'left'}`} role="menu" id={id} aria-labelledby={id + '-button'} onKeyDown={onListKey}>
          {props.items.map((it, i) => (
            <li key={i} role="none" class={it.separatorBefore ? 'menu-sep' : undefined}>
              <button
                type="button"
                role={it.checked === undefined ? 'menuitem' : 'menuitemradio'}
                aria-checked={it.checked === undefined ? undefined : it.checked}
                tabIndex={-1}
                data-testid={it.testId}
                onClick={() => activate(it)}
              >
                {it.checked !== undefined && (
                  <span class="menu-check" aria-hidden="true">
                    {it.checked ? '✓' : ''}
                  </span>
                )}
                {it.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
