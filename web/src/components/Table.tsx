/*
 * Table.tsx - data tables and keyset "load more".
 *
 * <DataTable> renders rows from columns {header, cell(row)}; <LoadMore>
 * fetches the next page of a useKeysetList(). <KeysetTable> puts the two
 * together with the loading, error and empty states every list page needs.
 */
import type { ComponentChildren, JSX } from 'preact';
import type { KeysetList } from '../lib/hooks';

export interface Column<T> {
  header: ComponentChildren;
  cell: (row: T) => ComponentChildren;
  class?: string;
  /** Visually hidden header (e.g. for an actions column). */
  srOnlyHeader?: boolean;
}

export function DataTable<T>(props: {
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string | number;
  caption?: string;
  empty?: ComponentChildren;
  rowClass?: (row: T) => string | undefined;
}): JSX.Element {
  return (
    <div class="table-wrap">
      <table class="table">
        {props.caption && <caption class="sr-only">{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c, i) => (
              <th key={i} scope="col" class={c.class}>
                {c.srOnlyHeader ? <span class="sr-only">{c.header}</span> : c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.length === 0 && props.empty && (
            <tr>
              <td colSpan={props.columns.length} class="table-empty">
                {props.empty}
              </td>
            </tr>
          )}
          {props.rows.map((r) => (
            <tr key={props.rowKey(r)} class={props.rowClass?.(r)}>
              {props.columns.map((c, i) => (
                <td key={i} class={c.class}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function LoadMore({ list }: { list: Pick<KeysetList<unknown>, 'hasMore' | 'loading' | 'loadMore'> }) {
  if (!list.hasMore) return null;
  return (
    <div class="load-more">
      <button type="button" class="button" disabled={list.loading} onClick={list.loadMore}>
        {list.loading ? 'Loading…' : 'Load more'}
      </button>
    </div>
  );
}

export function KeysetTable<T>(props: {
  list: KeysetList<T>;
  columns: Column<T>[];
  rowKey: (row: T) => string | number;
  caption?: string;
  empty: ComponentChildren;
  rowClass?: (row: T) => string | undefined;
}) {
  const { list } = props;
  return (
    <div aria-busy={list.loading}>
      {list.error && <ErrorBox message={list.error} onRetry={list.reload} />}
      <DataTable
        columns={props.columns}
        rows={list.items}
        rowKey={props.rowKey}
        caption={props.caption}
        rowClass={props.rowClass}
        empty={list.loading ? 'Loading…' : list.error ? null : props.empty}
      />
      <LoadMore list={list} />
    </div>
  );
}

export function ErrorBox({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <span>{message}</span>
      {onRetry && (
        <button type="button" class="button button-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
