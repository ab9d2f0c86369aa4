/*
 * ExperimentOutput.tsx - the Output tab: the run's text output, live.
 *
 * It starts from the last 1,000 lines (?tail=1000; earlier ones on demand)
 * and then follows with the API's long poll (?after=N&wait=20: the request
 * returns as soon as a line arrives or the run ends), so a run with
 * millions of lines opens as fast as one with ten. At most 20,000 lines are
 * kept on the page; the view sticks to the bottom unless scrolled up.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorBox } from '../../components/Table';
import { api, errorMessage, isAbort } from '../../lib/api';
import { formatTime } from '../../lib/format';
import type { Experiment, OutputLine, OutputPage } from '../../lib/tracking';

const TAIL = 1000;
const KEEP = 20_000;

export function OutputTab({ e }: { e: Experiment }) {
  const [lines, setLines] = useState<OutputLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(true);
  const [loadingEarlier, setLoadingEarlier] = useState(false);
  const [showTimes, setShowTimes] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const prepended = useRef(false);

  useEffect(() => {
    const ac = new AbortController();
    setLines([]);
    setFollowing(true);
    (async () => {
      let after = 0;
      let first = true;
      while (!ac.signal.aborted) {
        try {
          const q = first ? { tail: TAIL } : { after, wait: 20, limit: 1000 };
          const page = await api.get<OutputPage>(`/experiments/${e.id}/output`, q, ac.signal);
          if (ac.signal.aborted) return;
          setError(null);
          if (page.items.length)
            setLines((xs) => {
              const all = xs.concat(page.items);
              return all.length > KEEP ? all.slice(all.length - KEEP) : all;
            });
          after = page.next_after;
          if (page.finished && (first || page.items.length < 1000)) break;
          first = false;
        } catch (err) {
          if (ac.signal.aborted || isAbort(err)) return;
          setError(errorMessage(err));
          await new Promise((r) => window.setTimeout(r, 3000));
        }
      }
      if (!ac.signal.aborted) setFollowing(false);
    })();
    return () => ac.abort();
  }, [e.id]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    if (prepended.current) {
      prepended.current = false;
      return;
    }
    if (stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const firstSeq = lines.length ? lines[0].seq : 0;
  const earlier = async () => {
    setLoadingEarlier(true);
    try {
      const from = Math.max(0, firstSeq - 1 - TAIL);
      const page = await api.get<OutputPage>(`/experiments/${e.id}/output`, { after: from, limit: firstSeq - 1 - from });
      prepended.current = true;
      setLines((xs) => page.items.filter((l) => l.seq < firstSeq).concat(xs));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setLoadingEarlier(false);
    }
  };

  return (
    <section class="card" aria-labelledby="output-title">
      <div class="card-title-row">
        <h2 id="output-title">Output</h2>
        <span class="output-tools">
          <label class="chart-check">
            <input type="checkbox" checked={showTimes} onChange={(ev) => setShowTimes((ev.target as HTMLInputElement).checked)} />
            Times
          </label>
          <span class="muted" data-testid="output-state">
            {following ? 'following live' : 'complete'} · {e.output_lines.toLocaleString('en-US')} lines
          </span>
        </span>
      </div>
      {error && <ErrorBox message={error} />}
      {firstSeq > 1 && (
        <button type="button" class="button button-small output-earlier" disabled={loadingEarlier} onClick={earlier}>
          {loadingEarlier ? 'Loading…' : `Show earlier lines (${(firstSeq - 1).toLocaleString('en-US')} more)`}
        </button>
      )}
      <div
        ref={box}
        class="log output-log"
        role="log"
        aria-label="Run output"
        tabIndex={0}
        data-testid="exp-output"
        onScroll={(ev) => {
          const el = ev.currentTarget as HTMLElement;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {lines.length === 0 && <div class="log-empty">{following ? 'Waiting for the first line…' : 'The run wrote no output.'}</div>}
        {lines.map((l) => (
          <div key={l.seq} class="log-row">
            <span class="line-no" aria-hidden="true">
              {l.seq}
            </span>
            {showTimes && <time dateTime={l.at}>{formatTime(l.at)}</time>}
            <span class="log-line">{l.line}</span>
          </div>
        ))}
      </div>
    </section>
  );
}
