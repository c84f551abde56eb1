import { Fragment, useEffect, useRef, useState } from "react";
import { apiRoutes, isCairnError, type AuditRecord, type AuditVerifyResponse } from "@cairn/contract";
import { api, client, describeError } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FilterBar } from "../components/filter-bar.js";
import { KvTable } from "../components/kv-table.js";
import { changedKeys, isPlainObject, JsonView } from "../components/json-diff.js";
import type { PageProps } from "./registry.js";

const PAGE_SIZE = 100;
const PAGE_MAX = 1000;
const COLUMNS = 8;

/** The filters of the page, as they sit in the hash query (`#/audit?resource=model:churn*&actor=ada`). */
interface Filters {
  resource: string;
  actor: string;
  action: string;
  /** `datetime-local` text (`2025-01-31T14:05`) or epoch milliseconds. */
  since: string;
  until: string;
}
const FILTER_KEYS = ["resource", "actor", "action", "since", "until"] as const;

/** Epoch ms of a time filter: digits are ms already; `YYYY-MM-DDTHH:MM` is local time (`until` covers its whole minute). */
export function parseTime(s: string, end: boolean): number | undefined {
  const t = s.trim();
  if (!t) return undefined;
  if (/^\d+$/.test(t)) return Number(t);
  const ms = new Date(t).getTime();
  if (!Number.isFinite(ms)) return NaN;
  return end && /T\d\d:\d\d$/.test(t) ? ms + 59_999 : ms;
}

/**
 * The UI page of an audit resource, where there is one: `model:churn/3@prod` → the model,
 * `run:ID` → the run, `experiment:ID` → the experiment, `runs:a,b` → the run comparison.
 */
export function resourceHref(resource: string): string | undefined {
  const i = resource.indexOf(":");
  if (i <= 0) return undefined;
  const kind = resource.slice(0, i);
  const id = resource.slice(i + 1);
  if (!id) return undefined;
  switch (kind) {
    case "model": {
      // `NAME`, `NAME/VERSION`, `NAME@ALIAS` or `NAME/VERSION@ALIAS`.
      const name = id.replace(/@[^@/]*$/, "").replace(/\/\d+$/, "");
      return name ? href(`/models/${encodeURIComponent(name)}`) : undefined;
    }
    case "run":
      return href(`/runs/${encodeURIComponent(id)}`);
    case "experiment":
      return href(`/experiments/${encodeURIComponent(id)}`);
    case "runs":
      return href("/compare", { runs: id });
    default:
      return undefined;
  }
}

/** An HTTP status as a badge: green below 400, orange for 4xx, red for 5xx. */
function HttpStatus({ status }: { status: number }) {
  const color = status >= 500 ? "red" : status >= 400 ? "orange" : "green";
  return (
    <span className={`badge ${color}`} data-testid="audit-status" title={`HTTP ${status}`}>
      {status}
    </span>
  );
}

/** `after` as the recorder writes it around a snapshot: `{change, state}` (the request, the resource afterwards). */
function splitAfter(after: unknown): { change: unknown; state?: { value: unknown } } {
  if (isPlainObject(after) && Object.hasOwn(after, "change") && Object.hasOwn(after, "state") && Object.keys(after).length === 2) {
    return { change: after.change, state: { value: after.state } };
  }
  return { change: after };
}

const short = (h: string) => (h.length > 16 ? `${h.slice(0, 12)}…` : h);

/** One record, expanded: before/after side by side (changed keys highlighted), the request, ids and hashes. */
function RecordDetail({ r }: { r: AuditRecord }) {
  const { change, state } = splitAfter(r.after);
  const compare = state !== undefined && r.before !== null && r.before !== undefined && state.value !== null && state.value !== undefined;
  const changed = compare ? changedKeys(r.before, state.value) : [];
  return (
    <div className="audit-detail" data-testid="audit-detail" data-seq={r.seq}>
      {compare && (
        <div className="small" data-testid="audit-changed">
          {changed.length ? (
            <>
              <span className="muted">Changed:</span>{" "}
              {changed.map((k) => (
                <code key={k} className="audit-changed-key">
                  {k}
                </code>
              ))}
            </>
          ) : (
            <span className="muted">No change to the resource's state.</span>
          )}
        </div>
      )}
      <div className="audit-diff">
        <div className="audit-side">
          <div className="sig-title">Before</div>
          <JsonView value={r.before} testId="audit-before" side="before" {...(compare ? { compareTo: state } : {})} />
        </div>
        {state !== undefined && (
          <div className="audit-side">
            <div className="sig-title">After</div>
            <JsonView value={state.value} testId="audit-after" side="after" {...(compare ? { compareTo: { value: r.before } } : {})} />
          </div>
        )}
        <div className="audit-side">
          <div className="sig-title">{state !== undefined ? "Request" : "After (request)"}</div>
          <JsonView value={change} testId={state !== undefined ? "audit-change" : "audit-after"} />
        </div>
      </div>
      <KvTable
        testId="audit-ids"
        empty="—"
        keyLabel="Field"
        rows={[
          ["Sequence", <span className="mono">{r.seq}</span>, String(r.seq)],
          ["Time", <span title={`${r.time} ms`}>{formatDate(r.time)} <span className="muted">({formatAgo(r.time)})</span></span>, formatDate(r.time)],
          ["Request id", <span className="mono-ish" data-testid="audit-request-id">{r.requestId}</span>, r.requestId],
          ["Client", <span className="mono-ish">{r.client}</span>, r.client],
          ["Hash", <span className="mono-ish" data-testid="audit-hash">{r.hash}</span>, r.hash],
          ["Previous hash", <span className="mono-ish" data-testid="audit-prev-hash">{r.prevHash}</span>, r.prevHash],
        ]}
      />
    </div>
  );
}

/** The answer of the Verify chain button. */
function VerifyResult({ v, onShowLimit }: { v: AuditVerifyResponse; onShowLimit: string | undefined }) {
  if (v.ok) {
    return (
      <div className="verify-result ok" role="status" data-testid="verify-result" data-ok="true">
        <strong>Chain intact:</strong> {formatNumber(v.records)} record{v.records === 1 ? "" : "s"}, head hash{" "}
        <code title={v.headHash}>{short(v.headHash)}</code>
      </div>
    );
  }
  const bad = v.firstBadSeq;
  return (
    <div className="verify-result bad" role="alert" data-testid="verify-result" data-ok="false" data-first-bad-seq={v.firstBadSeq}>
      <strong>Chain broken{v.firstBadSeq !== undefined ? ` at record ${v.firstBadSeq}` : ""}:</strong> {v.problem ?? "the hash chain does not verify"}.{" "}
      <span className="small">
        {formatNumber(v.records)} record{v.records === 1 ? "" : "s"} before it verify (last good hash <code title={v.headHash}>{short(v.headHash)}</code>).
      </span>
      {bad !== undefined && (
        <>
          {" "}
          <button type="button" className="link-btn small" data-testid="verify-show-bad" onClick={() => navigate("/audit", { before: String(bad + 1), limit: onShowLimit }, { replace: true })}>
            Show it
          </button>
        </>
      )}
    </div>
  );
}

/** `#/audit?resource=…&actor=…&action=…&since=…&until=…`: the hash-chained audit log, newest first (admins). */
export function AuditPage({ query }: PageProps) {
  const f: Filters = {
    resource: query.get("resource") ?? "",
    actor: query.get("actor") ?? "",
    action: query.get("action") ?? "",
    since: query.get("since") ?? "",
    until: query.get("until") ?? "",
  };
  /** Start below this seq (from "Show it" after a failed verify); not a filter of the export. */
  const startBefore = query.get("before") ?? "";
  const since = parseTime(f.since, false);
  const until = parseTime(f.until, true);
  const badTime = Number.isNaN(since) ? "since" : Number.isNaN(until) ? "until" : undefined;
  const filter = {
    ...(f.resource ? { resource: f.resource } : {}),
    ...(f.actor ? { actor: f.actor } : {}),
    ...(f.action ? { action: f.action } : {}),
    ...(since !== undefined && !Number.isNaN(since) ? { since } : {}),
    ...(until !== undefined && !Number.isNaN(until) ? { until } : {}),
  };
  const before = /^\d+$/.test(startBefore) ? Number(startBefore) : undefined;
  /** Records per page (`limit` in the hash; default 100). */
  const limitParam = query.get("limit") ?? "";
  const pageSize = /^\d+$/.test(limitParam) ? Math.min(Math.max(Number(limitParam), 1), PAGE_MAX) : PAGE_SIZE;
  const limit = limitParam && pageSize !== PAGE_SIZE ? String(pageSize) : undefined;
  const key = JSON.stringify([filter, before, pageSize]);

  const [draft, setDraft] = useState({ actor: f.actor, action: f.action, since: f.since, until: f.until });
  useEffect(() => setDraft({ actor: f.actor, action: f.action, since: f.since, until: f.until }), [f.actor, f.action, f.since, f.until]);

  const go = (patch: Partial<Filters>) => {
    const next: Record<string, string | undefined> = {};
    for (const k of FILTER_KEYS) next[k] = (patch[k] ?? f[k]).trim() || undefined;
    navigate("/audit", { ...next, limit }, { replace: true });
  };
  const search = (resource: string | undefined) =>
    go({ resource: resource ?? "", actor: draft.actor, action: draft.action, since: draft.since, until: draft.until });

  const first = useAsync(() => api.listAudit({ query: { ...filter, ...(before !== undefined ? { before } : {}), limit: pageSize } }), [key]);
  const [older, setOlder] = useState<{ records: AuditRecord[]; nextBefore?: number; loading: boolean; error: unknown; loaded: boolean }>({ records: [], loading: false, error: undefined, loaded: false });
  useEffect(() => setOlder({ records: [], loading: false, error: undefined, loaded: false }), [first.data]);
  const current = useRef(first.data);
  current.current = first.data;
  const rows = first.data ? [...first.data.records, ...older.records] : [];
  const nextBefore = older.loaded ? older.nextBefore : first.data?.nextBefore;
  const loadOlder = () => {
    if (nextBefore === undefined) return;
    const forKey = first.data;
    setOlder((o) => ({ ...o, loading: true, error: undefined }));
    api.listAudit({ query: { ...filter, before: nextBefore, limit: pageSize } }).then(
      (page) => {
        // A reload or a filter change meanwhile reset the list: drop this stale page.
        if (current.current !== forKey) return;
        setOlder((o) => {
          const seen = new Set(o.records.map((r) => r.seq));
          const records = o.records.concat(page.records.filter((r) => !seen.has(r.seq)));
          return { records, loading: false, error: undefined, loaded: true, ...(page.nextBefore !== undefined ? { nextBefore: page.nextBefore } : {}) };
        });
      },
      (error: unknown) => {
        if (current.current === forKey) setOlder((o) => ({ ...o, loading: false, error }));
      },
    );
  };

  const [open, setOpen] = useState<ReadonlySet<number>>(new Set());
  const toggle = (seq: number) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(seq)) n.delete(seq);
      else n.add(seq);
      return n;
    });

  const [verify, setVerify] = useState<{ loading: boolean; result?: AuditVerifyResponse; error?: unknown }>({ loading: false });
  const runVerify = () => {
    setVerify({ loading: true });
    api.verifyAudit({}).then(
      (result) => setVerify({ loading: false, result }),
      (error: unknown) => setVerify({ loading: false, error }),
    );
  };

  const exportUrl = client.url(apiRoutes.exportAudit, undefined, filter);
  const anyFilter = FILTER_KEYS.some((k) => f[k]) || before !== undefined;
  const denied = isCairnError(first.error) && first.error.code === "PERMISSION_DENIED";
  const described = first.error !== undefined ? describeError(first.error) : undefined;
  const filterError = described && anyFilter && ["INVALID_PARAMETER_VALUE", "BAD_REQUEST"].includes(described.code ?? "") ? described : undefined;

  return (
    <div className="page" data-testid="audit-page">
      <div className="page-head">
        <h1>Audit log</h1>
        <span className="muted" data-testid="audit-count">
          {formatNumber(rows.length)}
          {nextBefore !== undefined ? "+" : ""} shown
        </span>
        <span className="spacer" />
        <button type="button" className="btn" onClick={runVerify} disabled={verify.loading} data-testid="verify-chain" title="Recompute the hash chain over the whole log">
          {verify.loading ? "Verifying…" : "Verify chain"}
        </button>
        <a className="btn" href={exportUrl} download="cairn-audit.jsonl" data-testid="export-audit" title="The records matching the filters, oldest first, as JSON lines">
          Export JSONL
        </a>
        <button type="button" className="btn" onClick={first.reload} disabled={first.loading} title="Load the newest records">
          Refresh
        </button>
      </div>
      {verify.result && <VerifyResult v={verify.result} onShowLimit={limit} />}
      <ErrorBanner error={verify.error} title="Could not verify the audit log" />
      <FilterBar
        filter={f.resource}
        testId="audit-filter-resource"
        invalid={Boolean(filterError)}
        placeholder="Resource, e.g. model:churn@production, or a prefix ending in * (model:churn*)"
        onFilter={search}
      >
        <input
          className="filter-input small audit-filter-small"
          data-testid="audit-filter-actor"
          placeholder="Actor"
          value={draft.actor}
          onChange={(e) => setDraft((d) => ({ ...d, actor: e.target.value }))}
          spellCheck={false}
        />
        <input
          className="filter-input small audit-filter-small"
          data-testid="audit-filter-action"
          placeholder="Action, e.g. setAlias or mlflow:*"
          value={draft.action}
          onChange={(e) => setDraft((d) => ({ ...d, action: e.target.value }))}
          spellCheck={false}
        />
        <label className="audit-time">
          <span className="muted">since</span>
          <input type="datetime-local" className={badTime === "since" ? "filter-input invalid" : "filter-input"} data-testid="audit-filter-since" value={/^\d+$/.test(draft.since) ? "" : draft.since} onChange={(e) => setDraft((d) => ({ ...d, since: e.target.value }))} />
        </label>
        <label className="audit-time">
          <span className="muted">until</span>
          <input type="datetime-local" className={badTime === "until" ? "filter-input invalid" : "filter-input"} data-testid="audit-filter-until" value={/^\d+$/.test(draft.until) ? "" : draft.until} onChange={(e) => setDraft((d) => ({ ...d, until: e.target.value }))} />
        </label>
        {anyFilter && (
          <button type="button" className="btn" data-testid="audit-filter-reset" onClick={() => navigate("/audit", { limit }, { replace: true })}>
            Reset
          </button>
        )}
      </FilterBar>
      {badTime && (
        <div className="filter-error" role="alert">
          <strong>Invalid time</strong> <code>{badTime}</code> is neither a date and time nor epoch milliseconds; it is ignored.
        </div>
      )}
      {before !== undefined && (
        <div className="muted small" data-testid="audit-start-before">
          Starting below record {before}.{" "}
          <button type="button" className="link-btn small" onClick={() => go({})}>
            Show the newest
          </button>
        </div>
      )}
      {filterError ? (
        <div className="filter-error" role="alert" data-testid="filter-error">
          <strong>Invalid filter</strong>
          {filterError.code && <span className="error-code">{filterError.code}</span>} {filterError.message}
        </div>
      ) : (
        <ErrorBanner error={first.error} title={denied ? "The audit log is for admins" : "Could not load the audit log"} onRetry={first.reload} />
      )}
      {(first.data || first.error === undefined) && (
        <div className="table-wrap">
          <table className="table audit-table" data-testid="audit-table">
            <thead>
              <tr>
                <th className="audit-caret" aria-label="Expand" />
                <th className="num">Seq</th>
                <th>Time</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Resource</th>
                <th>Status</th>
                <th>Client</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const isOpen = open.has(r.seq);
                const to = resourceHref(r.resource);
                return (
                  <Fragment key={r.seq}>
                    <tr
                      className={`clickable${isOpen ? " selected" : ""}${r.status >= 400 ? " audit-failed" : ""}`}
                      data-testid="audit-row"
                      data-seq={r.seq}
                      data-actor={r.actor}
                      data-action={r.action}
                      data-resource={r.resource}
                      onClick={(e) => {
                        if (!(e.target as HTMLElement).closest("a")) toggle(r.seq);
                      }}
                    >
                      <td className="audit-caret">
                        <button type="button" className="link-btn" aria-expanded={isOpen} aria-label={isOpen ? `Collapse record ${r.seq}` : `Expand record ${r.seq}`}>
                          {isOpen ? "▾" : "▸"}
                        </button>
                      </td>
                      <td className="num mono">{r.seq}</td>
                      <td title={`${formatAgo(r.time)} (${r.time} ms)`} className="nowrap">
                        {formatDate(r.time)}
                      </td>
                      <td data-testid="audit-actor">
                        <a href={href("/audit", { ...f, actor: r.actor, limit })} className="plain-link" title={`Only ${r.actor}'s records`}>
                          {r.actor}
                        </a>
                      </td>
                      <td className="mono-ish" data-testid="audit-action">
                        <a href={href("/audit", { ...f, action: r.action, limit })} className="plain-link" title={`Only ${r.action} records`}>
                          {r.action}
                        </a>
                      </td>
                      <td className="mono-ish audit-resource" data-testid="audit-resource" title={r.resource}>
                        {to ? (
                          <a href={to} data-testid="audit-resource-link">
                            {r.resource}
                          </a>
                        ) : (
                          r.resource
                        )}
                      </td>
                      <td>
                        <HttpStatus status={r.status} />
                      </td>
                      <td className="mono-ish muted">{r.client}</td>
                    </tr>
                    {isOpen && (
                      <tr className="audit-detail-row">
                        <td colSpan={COLUMNS}>
                          <RecordDetail r={r} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
              {!first.loading && first.data && rows.length === 0 && (
                <tr>
                  <td colSpan={COLUMNS} className="empty">
                    {anyFilter ? "No audit record matches these filters." : "No audit records yet: every change made through the API is recorded here."}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      <ErrorBanner error={older.error} title="Could not load older records" onRetry={loadOlder} />
      <div className="table-foot">
        {(first.loading || older.loading) && <span className="spinner" />}
        {nextBefore !== undefined && !first.loading && !older.loading && (
          <button type="button" className="btn" onClick={loadOlder} data-testid="audit-load-older">
            Load older
          </button>
        )}
      </div>
    </div>
  );
}
