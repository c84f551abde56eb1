import { useEffect, useRef, useState } from "react";

/** Which metric and param columns the runs table shows. */
export interface ColumnChoice {
  metrics: string[];
  params: string[];
}

/** A "Columns" button with a popover of checkboxes over every metric and param key. */
export function ColumnPicker(props: {
  metricKeys: string[];
  paramKeys: string[];
  metrics: string[];
  params: string[];
  onChange: (c: ColumnChoice) => void;
  onReset: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState("");
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", esc);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", esc);
    };
  }, [open]);

  const needle = q.trim().toLowerCase();
  const match = (k: string) => !needle || k.toLowerCase().includes(needle);
  const toggle = (family: "metrics" | "params", key: string) => {
    const cur = props[family];
    const nextList = cur.includes(key) ? cur.filter((k) => k !== key) : [...cur, key];
    props.onChange({ metrics: props.metrics, params: props.params, [family]: nextList });
  };
  const section = (title: string, family: "metrics" | "params", keys: string[]) => {
    const shown = keys.filter(match);
    return (
      <div className="picker-section">
        <div className="picker-title">
          {title} <span className="muted">({props[family].length}/{keys.length})</span>
          <span className="spacer" />
          <button type="button" className="link-btn" onClick={() => props.onChange({ metrics: props.metrics, params: props.params, [family]: [...new Set([...props[family], ...shown])] })}>
            all
          </button>
          <button type="button" className="link-btn" onClick={() => props.onChange({ metrics: props.metrics, params: props.params, [family]: props[family].filter((k) => !shown.includes(k)) })}>
            none
          </button>
        </div>
        {shown.length === 0 && <div className="muted small">none</div>}
        {shown.slice(0, 500).map((k) => (
          <label key={k} className="check picker-item">
            <input type="checkbox" checked={props[family].includes(k)} onChange={() => toggle(family, k)} />
            <span className="ellipsis">{k}</span>
          </label>
        ))}
      </div>
    );
  };
  return (
    <div className="picker" ref={ref}>
      <button type="button" className="btn" data-testid="columns-button" onClick={() => setOpen((o) => !o)}>
        Columns ({props.metrics.length + props.params.length}/{props.metricKeys.length + props.paramKeys.length})
      </button>
      {open && (
        <div className="picker-pop" data-testid="columns-picker">
          <div className="picker-top">
            <input className="filter-input" placeholder="Find a key" value={q} onChange={(e) => setQ(e.target.value)} autoFocus />
            <button type="button" className="btn small" onClick={props.onReset}>
              Default
            </button>
          </div>
          <div className="picker-body">
            {section("Metrics", "metrics", props.metricKeys)}
            {section("Parameters", "params", props.paramKeys)}
          </div>
        </div>
      )}
    </div>
  );
}
