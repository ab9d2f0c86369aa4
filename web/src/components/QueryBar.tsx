/*
 * QueryBar.tsx - a search box for the query language (docs/query.md):
 * suggestions from the API as you type, and the API's error shown under the
 * box with the columns it names marked in the text.
 *
 * Suggestions follow the WAI-ARIA combobox pattern: the input keeps focus,
 * ArrowDown/ArrowUp move through the list (aria-activedescendant), Tab takes
 * the highlighted or first suggestion, Enter takes the highlighted one or,
 * with none highlighted, runs the search; Esc closes the list, then clears
 * the text. Nothing is highlighted until asked, so Enter after a complete
 * query searches rather than taking "and".
 *
 * Taking a suggestion replaces the range the API names (UTF-8 byte offsets,
 * converted) and adds what naturally follows: a space, or the dot after
 * `meta`/`exif`, or the parenthesis after `similar`; the next suggestions are
 * asked for at once (after a field come its operators, then its values).
 *
 * The marks sit in a mirror of the text behind a transparent layer over the
 * input (same font, padding, horizontal scroll), so they line up with the
 * characters whatever their width.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorMarks, indexOfUtf8, utf8Offset, type Mark } from '../lib/datalake';
import type { Completion, Suggestion } from '../lib/types';

export interface QueryBarProps {
  value: string;
  onChange: (v: string) => void;
  onSubmit: (v: string) => void;
  /** Asks the API what may come at `cursorBytes` (UTF-8 offset) in q. */
  complete: (q: string, cursorBytes: number, signal: AbortSignal) => Promise<Completion>;
  /** The API's error for `error.q` (shown while the text is still that query). */
  error: { q: string; message: string } | null;
  label: string;
  placeholder?: string;
  inputRef?: { current: HTMLInputElement | null };
}

let qbSeq = 0;

export function QueryBar(p: QueryBarProps) {
  const id = useRef(`qbar-${++qbSeq}`).current;
  const input = useRef<HTMLInputElement | null>(null);
  const [sugg, setSugg] = useState<{ list: Suggestion[]; from: number; to: number; text: string } | null>(null);
  const [hi, setHi] = useState(-1);
  const [open, setOpen] = useState(false);
  const [scroll, setScroll] = useState(0);
  const ac = useRef<AbortController | null>(null);
  const timer = useRef<number | null>(null);

  useEffect(
    () => () => {
      ac.current?.abort();
      if (timer.current) window.clearTimeout(timer.current);
    },
    [],
  );

  const ask = (text: string, caret: number, delay: number) => {
    if (timer.current) window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      ac.current?.abort();
      const c = new AbortController();
      ac.current = c;
      p.complete(text, utf8Offset(text, caret), c.signal).then(
        (r) => {
          if (c.signal.aborted) return;
          setSugg({ list: r.suggestions, from: indexOfUtf8(text, r.replace_from), to: indexOfUtf8(text, r.replace_to), text });
          setHi(-1);
        },
        () => {
          /* a partial query the API cannot complete: no suggestions */
          if (!c.signal.aborted) setSugg(null);
        },
      );
    }, delay);
  };

  const accept = (s: Suggestion) => {
    if (!sugg || sugg.text !== p.value) return;
    const v = p.value;
    let add = s.text;
    const next = v.slice(sugg.to);
    if (s.kind === 'field' && (s.text === 'meta' || s.text === 'exif')) add += '.';
    else if (s.kind === 'field' && s.text === 'similar') add += '(';
    else if (!/^[\s)]/.test(next)) add += ' ';
    const text = v.slice(0, sugg.from) + add + next;
    const caret = sugg.from + add.length;
    p.onChange(text);
    setHi(-1);
    window.requestAnimationFrame(() => {
      input.current?.setSelectionRange(caret, caret);
      syncScroll();
    });
    ask(text, caret, 0);
  };

  const syncScroll = () => setScroll(input.current?.scrollLeft ?? 0);

  /* only suggestions made for the text as it is now */
  const list = open && sugg && sugg.text === p.value && sugg.list.length ? sugg.list : null;

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!list) {
        setOpen(true);
        ask(p.value, input.current?.selectionStart ?? p.value.length, 0);
        e.preventDefault();
        return;
      }
      const n = list.length;
      setHi((h) => (e.key === 'ArrowDown' ? (h + 1) % n : h <= 0 ? n - 1 : h - 1));
      e.preventDefault();
    } else if (e.key === 'Tab' && list && !e.shiftKey) {
      accept(list[hi >= 0 ? hi : 0]);
      e.preventDefault();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (list && hi >= 0) accept(list[hi]);
      else {
        setOpen(false);
        p.onSubmit(p.value);
      }
    } else if (e.key === 'Escape') {
      if (list) setOpen(false);
      else if (p.value) p.onChange('');
      else return;
      e.preventDefault();
      e.stopPropagation();
    }
  };

  const marks = p.error && p.error.q === p.value ? errorMarks(p.value, p.error.message) : [];
  const showError = !!p.error && p.error.q === p.value;
  const listId = `${id}-list`;
  const errId = `${id}-err`;

  return (
    <div class={'qbar' + (showError ? ' qbar-invalid' : '')}>
      <label for={`${id}-input`} class="sr-only">
        {p.label}
      </label>
      <div class="qbar-field">
        <input
          ref={(el) => {
            input.current = el;
            if (p.inputRef) p.inputRef.current = el;
          }}
          id={`${id}-input`}
          class="qbar-input"
          type="text"
          role="combobox"
          aria-expanded={!!list}
          aria-controls={listId}
          aria-autocomplete="list"
          aria-activedescendant={list && hi >= 0 ? `${id}-opt-${hi}` : undefined}
          aria-invalid={showError || undefined}
          aria-describedby={showError ? errId : undefined}
          autoComplete="off"
          autoCapitalize="off"
          spellcheck={false}
          placeholder={p.placeholder}
          value={p.value}
          onInput={(e) => {
            const el = e.target as HTMLInputElement;
            p.onChange(el.value);
            setOpen(true);
            ask(el.value, el.selectionStart ?? el.value.length, 120);
            syncScroll();
          }}
          onFocus={(e) => {
            const el = e.target as HTMLInputElement;
            setOpen(true);
            ask(el.value, el.selectionStart ?? el.value.length, 0);
          }}
          onClick={(e) => {
            const el = e.target as HTMLInputElement;
            setOpen(true);
            ask(el.value, el.selectionStart ?? el.value.length, 60);
          }}
          onBlur={() => setOpen(false)}
          onScroll={syncScroll}
          onKeyDown={onKeyDown}
          onKeyUp={(e) => {
            if (e.key === 'ArrowLeft' || e.key === 'ArrowRight' || e.key === 'Home' || e.key === 'End') {
              const el = e.target as HTMLInputElement;
              ask(el.value, el.selectionStart ?? el.value.length, 60);
              syncScroll();
            }
          }}
        />
        {marks.length > 0 && <Mirror text={p.value} marks={marks} scroll={scroll} />}
        {list && (
          <ul class="qbar-list" id={listId} role="listbox" aria-label="Suggestions">
            {list.map((s, i) => (
              <li
                key={s.text + i}
                id={`${id}-opt-${i}`}
                role="option"
                aria-selected={i === hi}
                class={'qbar-option' + (i === hi ? ' qbar-option-hi' : '')}
                onMouseDown={(e) => {
                  e.preventDefault(); /* keep focus in the input */
                  accept(s);
                }}
              >
                <code class="qbar-text">{s.text}</code>
                <span class="qbar-kind">{s.kind}</span>
                {s.help && <span class="qbar-help">{s.help}</span>}
              </li>
            ))}
          </ul>
        )}
      </div>
      {showError && (
        <div class="qbar-error" id={errId} role="alert" data-testid="query-error">
          {p.error!.message}
        </div>
      )}
    </div>
  );
}

function Mirror({ text, marks, scroll }: { text: string; marks: Mark[]; scroll: number }) {
  const parts = [];
  let at = 0;
  const sorted = [...marks].sort((a, b) => a.start - b.start);
  for (const m of sorted) {
    if (m.start < at) continue;
    parts.push(<span key={`t${at}`}>{text.slice(at, m.start)}</span>);
    parts.push(
      <mark key={`m${m.start}`} class={m.end > m.start ? 'qbar-mark' : 'qbar-mark qbar-mark-end'} data-testid="query-mark">
        {m.end > m.start ? text.slice(m.start, m.end) : '\u00a0'}
      </mark>,
    );
    at = Math.max(at, m.end);
  }
  parts.push(<span key="rest">{text.slice(at)}</span>);
  return (
    <div class="qbar-mirror" aria-hidden="true">
      <div class="qbar-mirror-text" style={{ transform: `translateX(${-scroll}px)` }}>
        {parts}
      </div>
    </div>
  );
}

/** A page's search form: the QueryBar, then `children` (the submit button, help,
 *  ordering); submitting the form runs `onSubmit` with the text in the box. */
export function QueryForm(p: QueryBarProps & { children?: ComponentChildren }) {
  const { children, ...bar } = p;
  return (
    <form
      class="dl-search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        bar.onSubmit(bar.value);
      }}
    >
      <QueryBar {...bar} />
      {children}
    </form>
  );
}
