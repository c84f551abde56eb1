import { useEffect, useState, type ReactNode } from "react";

export interface FilterBarProps {
  /** The filter in force (from the URL). */
  filter: string;
  placeholder: string;
  testId: string;
  /** Marks the input red, e.g. after the server rejected the filter. */
  invalid?: boolean;
  showDeleted?: boolean;
  /** Called with the new filter (undefined to clear) when the user searches or clears. */
  onFilter(filter: string | undefined): void;
  /** Without it there is no show-deleted toggle (e.g. the registry, which has no deleted state). */
  onShowDeleted?(show: boolean): void;
  /** Extra controls after the built-in ones. */
  children?: ReactNode;
}

/** The search toolbar of list pages: an MLflow-grammar filter box, Search/Clear and (optionally) a show-deleted toggle. */
export function FilterBar(props: FilterBarProps) {
  const [draft, setDraft] = useState(props.filter);
  useEffect(() => setDraft(props.filter), [props.filter]);
  return (
    <form
      className="toolbar"
      onSubmit={(e) => {
        e.preventDefault();
        props.onFilter(draft.trim() || undefined);
      }}
    >
      <input
        className={props.invalid ? "filter-input invalid" : "filter-input"}
        data-testid={props.testId}
        placeholder={props.placeholder}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        spellCheck={false}
      />
      <button type="submit" className="btn primary">
        Search
      </button>
      {props.filter && (
        <button type="button" className="btn" onClick={() => props.onFilter(undefined)}>
          Clear
        </button>
      )}
      {props.onShowDeleted && (
        <label className="check">
          <input type="checkbox" data-testid="show-deleted" checked={props.showDeleted ?? false} onChange={(e) => props.onShowDeleted?.(e.target.checked)} />
          Show deleted
        </label>
      )}
      {props.children}
    </form>
  );
}
