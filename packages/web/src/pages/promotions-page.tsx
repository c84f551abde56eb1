import { useState } from "react";
import { describeGate, type PromotionPolicy, type PromotionRequest, type PromotionStatus } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { projectOf, useSession, type UiPermission } from "../lib/session.js";
import { ErrorBanner } from "../components/error-banner.js";
import { AliasBadge } from "../components/alias-badge.js";
import type { PageProps } from "./registry.js";

const STATUSES: PromotionStatus[] = ["open", "approved", "rejected", "cancelled"];
const STATUS_COLORS: Record<PromotionStatus, string> = { open: "blue", approved: "green", rejected: "red", cancelled: "gray" };
const PAGE_SIZE = 200;

/** A promotion request's status as a badge. */
export function PromotionStatusBadge({ status }: { status: PromotionStatus }) {
  return (
    <span className={`badge ${STATUS_COLORS[status]}`} data-testid="promotion-status">
      {status}
    </span>
  );
}

/** Whether every gate passed, as a badge (gray when the model has no gates). */
function GatesBadge({ r }: { r: PromotionRequest }) {
  if (r.gateResults.length === 0) return <span className="muted small">no gates</span>;
  const failed = r.gateResults.filter((g) => !g.passed).length;
  return (
    <span className={`badge ${failed ? "red" : "green"}`} data-testid="gates-badge" title={r.gateResults.map((g) => `${g.passed ? "✓" : "✗"} ${describeGate(g.gate)}: ${g.message}`).join("\n")}>
      {failed ? `${failed} of ${r.gateResults.length} failed` : `${r.gateResults.length} passed`}
    </span>
  );
}

const versionChange = (r: PromotionRequest) => (
  <span className="mono">
    {r.fromVersion === null ? <span className="muted">none</span> : `v${r.fromVersion}`} <span className="arrow">→</span> v{r.version}
  </span>
);

/** `#/promotions?status=open&model=…`: promotion requests, newest first, filtered by status and model. */
export function PromotionsPage({ query }: PageProps) {
  const status = (query.get("status") ?? "open") as PromotionStatus | "all";
  const model = query.get("model") ?? "";
  const list = useAsync(
    () => api.listPromotionRequests({ query: { maxResults: PAGE_SIZE, ...(status === "all" ? {} : { status }), ...(model ? { name: model } : {}) } }),
    [status, model],
  );
  const go = (patch: Record<string, string | undefined>) => navigate("/promotions", { status: status === "open" ? undefined : status, model: model || undefined, ...patch }, { replace: true });
  const rows = list.data?.promotionRequests ?? [];
  return (
    <div className="page" data-testid="promotions-page">
      <div className="page-head">
        <h1>Promotion requests</h1>
        {model && (
          <span className="badge gray" data-testid="promotions-model-filter">
            model {model}{" "}
            <button type="button" className="link-btn small" aria-label="Show every model" onClick={() => go({ model: undefined })}>
              ✕
            </button>
          </span>
        )}
      </div>
      <p className="muted small">A protected alias moves only when a request for it is approved by someone other than the requester, with every gate of the model's policy passing.</p>
      <div className="toolbar" role="group" aria-label="Status" data-testid="status-filter">
        {[...STATUSES, "all" as const].map((s) => (
          <button key={s} type="button" className={`btn small${s === status ? " primary" : ""}`} aria-pressed={s === status} data-status={s} onClick={() => go({ status: s === "open" ? undefined : s })}>
            {s}
          </button>
        ))}
        {list.loading && <span className="spinner" />}
      </div>
      <section className="card">
        <div className="table-wrap">
          <table className="table" data-testid="promotions-table">
            <thead>
              <tr>
                <th>#</th>
                <th>Model</th>
                <th>Alias</th>
                <th>Version</th>
                <th>Status</th>
                <th>Gates</th>
                <th>Requester</th>
                <th>Created</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} data-testid="promotion-row" data-id={r.id}>
                  <td>
                    <a href={href(`/promotions/${r.id}`)} data-testid="promotion-link">
                      #{r.id}
                    </a>
                  </td>
                  <td>
                    <a href={href(`/models/${encodeURIComponent(r.name)}`)}>{r.name}</a>
                  </td>
                  <td>
                    <AliasBadge alias={r.alias} />
                  </td>
                  <td>{versionChange(r)}</td>
                  <td>
                    <PromotionStatusBadge status={r.status} />
                  </td>
                  <td>
                    <GatesBadge r={r} />
                  </td>
                  <td>{r.requester || "anonymous"}</td>
                  <td title={formatAgo(r.createdAt)}>{formatDate(r.createdAt)}</td>
                  <td className="ellipsis-cell" title={r.reason}>
                    {r.reason}
                  </td>
                </tr>
              ))}
              {!list.loading && list.data && rows.length === 0 && (
                <tr>
                  <td colSpan={9} className="empty">
                    No {status === "all" ? "" : `${status} `}promotion requests{model ? ` for ${model}` : ""}.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
        {list.data?.nextPageToken && <p className="muted small">Showing the newest {PAGE_SIZE}; narrow by status or model to see older ones.</p>}
        <ErrorBanner error={list.error} title="Could not load the promotion requests" onRetry={list.reload} />
      </section>
    </div>
  );
}

/**
 * The project of the request's model (its `cairn.project` tag), which decides who may act on the
 * request. Undefined while loading, or when the model could not be read.
 */
function useModelProject(name: string | undefined): { project: string | undefined; settled: boolean } {
  const model = useAsync(async () => (name === undefined ? undefined : projectOf((await api.getRegisteredModel({ params: { name } })).registeredModel.tags)), [name]);
  return { project: model.data, settled: name !== undefined && !model.loading };
}

/**
 * `#/promotions/:id`: one request with its gate results, comments, and approve / reject / cancel.
 * Actions show only to who may take them (approve / reject: approvers of the model's project;
 * cancel: the requester; comment: editors and above); the server still decides, and a refusal
 * shows as a banner.
 */
export function PromotionPage({ params }: PageProps) {
  const id = Number(params.id);
  const req = useAsync(() => api.getPromotionRequest({ params: { id } }).then((r) => r.promotionRequest), [id]);
  const session = useSession();
  const model = useModelProject(req.data?.name);
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<unknown>(undefined);

  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setActionError(undefined);
    try {
      await fn();
      setComment("");
      req.reload();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };
  const text = comment.trim();

  if (!req.data) {
    return (
      <div className="page">
        <div className="crumbs">
          <a href="#/promotions">Promotion requests</a> /
        </div>
        <h1>Request #{params.id}</h1>
        {req.loading ? <span className="spinner" /> : <ErrorBanner error={req.error} title="Could not load the promotion request" onRetry={req.reload} />}
      </div>
    );
  }
  const r = req.data;
  const open = r.status === "open";
  // Unknown project (the model could not be read): offer the actions and let the server decide.
  const can = (p: UiPermission) => (model.project === undefined ? model.settled && session.who !== undefined : session.can(p, model.project));
  const ready = model.settled && !session.loading;
  const mine = session.isMe(r.requester);
  const canDecide = open && can("approve");
  const canCancel = open && mine;
  const canComment = can("write");
  const anyAction = canDecide || canCancel || canComment;
  return (
    <div className="page" data-testid="promotion-page" data-status={r.status} data-actions-ready={String(ready)}>
      <div className="crumbs">
        <a href="#/promotions">Promotion requests</a> / <a href={href(`/models/${encodeURIComponent(r.name)}`)}>{r.name}</a> /
      </div>
      <div className="page-head">
        <h1>
          Request #{r.id}: {r.name} <AliasBadge alias={r.alias} />
        </h1>
        <PromotionStatusBadge status={r.status} />
      </div>
      <dl className="facts">
        <div>
          <dt>Version</dt>
          <dd data-testid="promotion-version">{versionChange(r)}</dd>
        </div>
        <div>
          <dt>Requested by</dt>
          <dd data-testid="promotion-requester">{r.requester || "anonymous"}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd title={formatAgo(r.createdAt)}>{formatDate(r.createdAt)}</dd>
        </div>
        {r.decidedBy !== null && (
          <div>
            <dt>{r.status === "cancelled" ? "Cancelled by" : r.status === "approved" ? "Approved by" : "Rejected by"}</dt>
            <dd data-testid="promotion-decided-by">
              {r.decidedBy || "anonymous"}
              {r.decidedAt !== null && <span className="muted small"> · {formatDate(r.decidedAt)}</span>}
            </dd>
          </div>
        )}
      </dl>
      <p className="note" data-testid="promotion-reason">
        {r.reason}
      </p>
      {r.decisionComment && (
        <p className="note" data-testid="promotion-decision-comment">
          <strong>Decision:</strong> {r.decisionComment}
        </p>
      )}

      <section className="card" data-testid="gate-results">
        <div className="section-head">
          <h2>
            Gates <span className="count">{r.gateResults.length}</span>
          </h2>
          <GatesBadge r={r} />
          <span className="muted small">{open ? "checked when the request was made; checked again on approval" : r.status === "approved" ? "as checked at approval" : "as checked when the request was made"}</span>
        </div>
        {r.gateResults.length === 0 ? (
          <p className="muted small">The model's policy has no gates.</p>
        ) : (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>Result</th>
                  <th>Gate</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>
                {r.gateResults.map((g, i) => (
                  <tr key={i} data-testid="gate-result" data-passed={String(g.passed)} data-kind={g.gate.kind}>
                    <td>
                      <span className={`badge ${g.passed ? "green" : "red"}`}>{g.passed ? "passed" : "failed"}</span>
                    </td>
                    <td className="mono-ish">{describeGate(g.gate)}</td>
                    <td data-testid="gate-message">{g.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section className="card" data-testid="promotion-comments">
        <h2>
          Comments <span className="count">{r.comments.length}</span>
        </h2>
        {r.comments.length > 0 && (
          <ol className="timeline">
            {r.comments.map((c, i) => (
              <li key={i} className="timeline-item" data-testid="promotion-comment">
                <span className="timeline-dot" />
                <div>
                  <div className="muted small">
                    {c.author || "anonymous"} · <span title={formatAgo(c.time)}>{formatDate(c.time)}</span>
                  </div>
                  <div className="card-text">{c.text}</div>
                </div>
              </li>
            ))}
          </ol>
        )}
        {anyAction && (
          <>
            <textarea
              className="filter-input"
              style={{ width: "100%", minHeight: 60, boxSizing: "border-box" }}
              placeholder={canDecide ? "A comment; required to reject, optional to approve" : "A comment"}
              value={comment}
              onChange={(e) => setComment(e.target.value)}
              data-testid="promotion-comment-input"
            />
            <div className="toolbar" style={{ marginTop: 8 }}>
              {canComment && (
                <button type="button" className="btn" disabled={busy || !text} data-testid="comment-button" onClick={() => act(() => api.commentPromotionRequest({ params: { id }, body: { text } }))}>
                  Comment
                </button>
              )}
              {(canDecide || canCancel) && <span className="spacer" />}
              {canDecide && (
                <>
                  <button
                    type="button"
                    className="btn primary"
                    disabled={busy || mine}
                    data-testid="approve-button"
                    title={
                      mine
                        ? "You cannot approve your own request"
                        : r.gatesPassed
                          ? "Approve: the gates are checked again and the alias moves"
                          : "Gates failed when the request was made; approval checks them again"
                    }
                    onClick={() => act(() => api.approvePromotionRequest({ params: { id }, body: text ? { comment: text } : {} }))}
                  >
                    Approve
                  </button>
                  <button
                    type="button"
                    className="btn"
                    disabled={busy || !text}
                    data-testid="reject-button"
                    title={text ? "Reject with this comment" : "Write a comment saying why, then reject"}
                    onClick={() => act(() => api.rejectPromotionRequest({ params: { id }, body: { comment: text } }))}
                  >
                    Reject
                  </button>
                </>
              )}
              {canCancel && (
                <button type="button" className="btn" disabled={busy} data-testid="cancel-button" title="Cancel your own request" onClick={() => act(() => api.cancelPromotionRequest({ params: { id }, body: text ? { comment: text } : {} }))}>
                  Cancel request
                </button>
              )}
              {busy && <span className="spinner" />}
            </div>
          </>
        )}
        {ready && !anyAction && session.who && (
          <p className="muted small" data-testid="promotion-read-only">
            Read only: commenting needs the editor role{open ? " and deciding the approver role" : ""} in project <code>{model.project ?? "?"}</code>.
          </p>
        )}
        <ErrorBanner error={actionError} title="The action was refused" />
      </section>
    </div>
  );
}

/**
 * On a model's page: its protected aliases and gates, and a link to its promotion requests. Owners
 * of the model's project (and admins) may edit the policy as JSON; the server validates it.
 */
export function PromotionPolicySection({ name, project }: { name: string; project: string }) {
  const session = useSession();
  const canManage = session.can("manage", project);
  const [draft, setDraft] = useState<string | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(undefined);
  const data = useAsync(
    async () => {
      const [policy, open] = await Promise.all([api.getPromotionPolicy({ params: { name } }), api.listPromotionRequests({ query: { name, status: "open", maxResults: 100 } })]);
      return { policy: policy.policy, open: open.promotionRequests.length, more: Boolean(open.nextPageToken) };
    },
    [name],
  );
  const p = data.data?.policy;
  const save = async (text: string) => {
    setSaving(true);
    setSaveError(undefined);
    try {
      let body: PromotionPolicy;
      try {
        body = JSON.parse(text) as PromotionPolicy;
      } catch (e) {
        throw new Error(`The policy is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
      }
      await api.setPromotionPolicy({ params: { name }, body });
      setDraft(undefined);
      data.reload();
    } catch (e) {
      setSaveError(e);
    } finally {
      setSaving(false);
    }
  };
  return (
    <section className="card" data-testid="promotion-policy">
      <div className="section-head">
        <h2>Promotion</h2>
        {data.loading && <span className="spinner" />}
        <span className="spacer" />
        {canManage && p && draft === undefined && (
          <button
            type="button"
            className="btn small"
            data-testid="edit-policy-button"
            title="Edit the protected aliases and gates (owners of the model's project)"
            onClick={() => {
              setSaveError(undefined);
              setDraft(JSON.stringify(p, null, 2));
            }}
          >
            Edit policy
          </button>
        )}
        {data.data && (
          <a href={href("/promotions", { model: name })} data-testid="model-promotions-link">
            {data.data.open}
            {data.data.more ? "+" : ""} open request{data.data.open === 1 ? "" : "s"} →
          </a>
        )}
      </div>
      {p && (
        <dl className="facts">
          <div>
            <dt>Protected aliases</dt>
            <dd className="badges" data-testid="protected-aliases">
              {p.protectedAliases.length === 0 ? (
                <span className="muted small">none: every alias can be set directly</span>
              ) : (
                p.protectedAliases.map((a) => (
                  <span key={a} className="badge alias" title={`'${a}' changes only through an approved promotion request`} data-testid="protected-alias">
                    {a}
                  </span>
                ))
              )}
            </dd>
          </div>
          <div>
            <dt>Gates</dt>
            <dd data-testid="policy-gates">
              {p.gates.length === 0 ? (
                <span className="muted small">none</span>
              ) : (
                <ul className="card-list">
                  {p.gates.map((g, i) => (
                    <li key={i} className="mono-ish small" data-testid="policy-gate">
                      {describeGate(g)}
                    </li>
                  ))}
                </ul>
              )}
            </dd>
          </div>
        </dl>
      )}
      {draft !== undefined && (
        <div data-testid="policy-editor">
          <textarea
            className="filter-input mono"
            style={{ width: "100%", minHeight: 160, boxSizing: "border-box" }}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            aria-label="Promotion policy (JSON)"
            data-testid="policy-editor-input"
          />
          <div className="toolbar" style={{ marginTop: 8 }}>
            <button type="button" className="btn primary" disabled={saving} data-testid="save-policy-button" onClick={() => save(draft)}>
              Save policy
            </button>
            <button
              type="button"
              className="btn"
              disabled={saving}
              data-testid="cancel-policy-button"
              onClick={() => {
                setDraft(undefined);
                setSaveError(undefined);
              }}
            >
              Cancel
            </button>
            <span className="muted small">
              <code>protectedAliases</code>: aliases that move only by an approved request; <code>gates</code>: <code>metric</code>, <code>champion_regression</code> or <code>signature_compatible</code> checks.
            </span>
            {saving && <span className="spinner" />}
          </div>
        </div>
      )}
      <ErrorBanner error={saveError} title="Could not save the policy" />
      <ErrorBanner error={data.error} title="Could not load the promotion policy" onRetry={data.reload} />
    </section>
  );
}
