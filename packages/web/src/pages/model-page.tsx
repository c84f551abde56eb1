import { Fragment, useState } from "react";
import { isCairnError, type AliasHistoryEntry, type ModelCardResponse, type ModelVersion, type RegisteredModel } from "@cairn/contract";
import { api, describeError } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { projectOf } from "../lib/session.js";
import { ErrorBanner } from "../components/error-banner.js";
import { AliasBadge, StageBadge, VersionStatusBadge, quoteFilterValue } from "../components/alias-badge.js";
import { RetirementBadge, SignatureView, signatureSummary } from "../components/governance.js";
import { sortedAliases } from "./models-page.js";
import { PromotionPolicySection } from "./promotions-page.js";
import type { PageProps } from "./registry.js";

/** Every version of a model, newest first (all pages). */
export async function loadVersions(name: string): Promise<ModelVersion[]> {
  const out: ModelVersion[] = [];
  let pageToken: string | undefined;
  do {
    const r = await api.searchModelVersions({
      body: { filter: `name = ${quoteFilterValue(name)}`, orderBy: ["version_number DESC"], maxResults: 10000, ...(pageToken ? { pageToken } : {}) },
    });
    out.push(...r.modelVersions);
    pageToken = r.nextPageToken || undefined;
  } while (pageToken);
  return out;
}

/** `#/models/:name`: a registered model's header, aliases with their history, and its versions. */
export function ModelPage({ params }: PageProps) {
  const name = params.name!;
  const model = useAsync(() => api.getRegisteredModel({ params: { name } }).then((r) => r.registeredModel), [name]);
  const versions = useAsync(() => loadVersions(name), [name]);

  if (!model.data) {
    return (
      <div className="page">
        <div className="crumbs">
          <a href="#/models">Models</a> /
        </div>
        <h1>{name}</h1>
        {model.loading ? <span className="spinner" /> : <ErrorBanner error={model.error} title="Could not load the model" onRetry={model.reload} />}
      </div>
    );
  }
  const m = model.data;
  return (
    <div className="page" data-testid="model-page">
      <div className="crumbs">
        <a href="#/models">Models</a> /
      </div>
      <ModelHeader model={m} versionCount={versions.data?.length} />
      <ModelCardSection name={name} />
      <AliasesSection model={m} />
      <PromotionPolicySection name={name} project={projectOf(m.tags)} />
      <section className="card">
        <VersionsSection name={name} versions={versions.data} loading={versions.loading} />
        <ErrorBanner error={versions.error} title="Could not load the versions" onRetry={versions.reload} />
      </section>
    </div>
  );
}

function ModelHeader({ model, versionCount }: { model: RegisteredModel; versionCount: number | undefined }) {
  const tags = Object.entries(model.tags).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="run-header" data-testid="model-header">
      <div className="page-head">
        <h1>{model.name}</h1>
        {sortedAliases(model).map((a) => (
          <AliasBadge key={a.alias} alias={a.alias} version={a.version} />
        ))}
      </div>
      <dl className="facts">
        <div>
          <dt>Versions</dt>
          <dd>{versionCount ?? "…"}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd title={formatAgo(model.creationTimestamp)}>{formatDate(model.creationTimestamp)}</dd>
        </div>
        <div>
          <dt>Last updated</dt>
          <dd title={formatAgo(model.lastUpdatedTimestamp)}>{formatDate(model.lastUpdatedTimestamp)}</dd>
        </div>
        {model.userId && (
          <div>
            <dt>Created by</dt>
            <dd>{model.userId}</dd>
          </div>
        )}
        {tags.length > 0 && (
          <div>
            <dt>Tags</dt>
            <dd className="badges" data-testid="model-tags">
              {tags.map(([k, v]) => (
                <span key={k} className="tag-chip" title={`${k}=${v}`}>
                  <span className="tag-key">{k}</span>
                  {v !== "" && <span className="tag-value">{v}</span>}
                </span>
              ))}
            </dd>
          </div>
        )}
      </dl>
      {model.description ? (
        <p className="note" data-testid="model-description">
          {model.description}
        </p>
      ) : (
        <p className="muted small" data-testid="model-description">
          No description.
        </p>
      )}
    </div>
  );
}

function AliasesSection({ model }: { model: RegisteredModel }) {
  const aliases = sortedAliases(model);
  const history = useAsync(async () => {
    const res = await Promise.allSettled(aliases.map((a) => api.getAliasHistory({ params: { name: model.name, alias: a.alias } })));
    return res.map((r) => (r.status === "fulfilled" ? { entries: r.value.history, error: undefined } : { entries: [] as AliasHistoryEntry[], error: describeError(r.reason).message }));
  }, [model.name, aliases.map((a) => `${a.alias}=${a.version}`).join(",")]);
  return (
    <section className="card" data-testid="aliases-section">
      <h2>
        Aliases <span className="count">{aliases.length}</span>
      </h2>
      {aliases.length === 0 && <p className="muted small">No aliases. An alias such as <code>champion</code> names the version to deploy; every change of it is recorded here.</p>}
      <div className="alias-grid">
        {aliases.map((a, i) => {
          const h = history.data?.[i];
          return (
            <div key={a.alias} className="alias-card" data-testid="alias-history" data-alias={a.alias}>
              <div className="alias-card-head">
                <AliasBadge alias={a.alias} version={a.version} />
                <span className="muted small">{h ? `${h.entries.length} change${h.entries.length === 1 ? "" : "s"}` : ""}</span>
              </div>
              {history.loading && !history.data && <span className="spinner" />}
              {h?.error && <div className="filter-error">{h.error}</div>}
              {h && h.entries.length > 0 && (
                <ol className="timeline">
                  {h.entries.map((e, j) => (
                    <li key={j} className="timeline-item" data-testid="alias-history-entry">
                      <span className="timeline-dot" />
                      <div>
                        <div className="timeline-change">
                          {e.fromVersion === null ? <span className="muted">created</span> : <span className="mono">v{e.fromVersion}</span>}
                          <span className="arrow">→</span>
                          {e.toVersion === null ? <span className="muted">deleted</span> : <span className="mono">v{e.toVersion}</span>}
                        </div>
                        <div className="muted small">
                          {e.actor || (
                            <span title="No user was recorded (the server runs without authentication)">anonymous</span>
                          )}{" "}
                          · <span title={formatAgo(e.time)}>{formatDate(e.time)}</span>
                          {e.requestId !== null && (
                            <>
                              {" "}
                              · <a href={href(`/promotions/${e.requestId}`)} data-testid="alias-history-request">request #{e.requestId}</a>
                            </>
                          )}
                        </div>
                      </div>
                    </li>
                  ))}
                </ol>
              )}
            </div>
          );
        })}
      </div>
      <ErrorBanner error={history.error} title="Could not load the alias history" onRetry={history.reload} />
    </section>
  );
}

const MAX_COMPARE = 20;

function VersionsSection({ name, versions, loading }: { name: string; versions: ModelVersion[] | undefined; loading: boolean }) {
  const [selected, setSelected] = useState<Set<string>>(() => new Set());
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set());
  const rows = versions ?? [];
  const toggleSig = (v: string) =>
    setExpanded((prev) => {
      const s = new Set(prev);
      if (s.has(v)) s.delete(v);
      else s.add(v);
      return s;
    });
  const toggle = (v: string) =>
    setSelected((prev) => {
      const s = new Set(prev);
      if (s.has(v)) s.delete(v);
      else s.add(v);
      return s;
    });
  const all = rows.length > 0 && rows.every((v) => selected.has(v.version));
  const sel = rows.filter((v) => selected.has(v.version)).map((v) => v.version).sort((a, b) => Number(a) - Number(b));
  return (
    <>
      <div className="section-head">
        <h2>
          Versions <span className="count">{rows.length}</span>
        </h2>
        {loading && <span className="spinner" />}
        <span className="spacer" />
        {selected.size > 0 && <span className="muted small">{selected.size} selected</span>}
        <button
          type="button"
          className="btn primary"
          data-testid="compare-versions-button"
          disabled={sel.length < 2 || sel.length > MAX_COMPARE}
          title={sel.length > MAX_COMPARE ? `Compare at most ${MAX_COMPARE} versions` : "Select two or more versions to compare"}
          onClick={() => navigate(`/models/${encodeURIComponent(name)}/compare`, { versions: sel.join(",") })}
        >
          Compare{sel.length ? ` (${sel.length})` : ""}
        </button>
      </div>
      <div className="table-wrap">
        <table className="table" data-testid="versions-table">
          <thead>
            <tr>
              <th className="check-col">
                <input type="checkbox" aria-label="Select all versions" checked={all} onChange={() => setSelected(all ? new Set() : new Set(rows.map((v) => v.version)))} />
              </th>
              <th>Version</th>
              <th>Status</th>
              <th>Stage</th>
              <th>Signature</th>
              <th>Source</th>
              <th>Run</th>
              <th>Created</th>
              <th>Aliases</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((v) => (
              <Fragment key={v.version}>
              <tr
                className={[selected.has(v.version) ? "selected" : "", v.retirement?.state === "archived" ? "archived" : ""].filter(Boolean).join(" ")}
                data-testid="version-row"
                data-version={v.version}
                data-retirement={v.retirement?.state ?? ""}
              >
                <td className="check-col">
                  <input type="checkbox" aria-label={`Select version ${v.version}`} checked={selected.has(v.version)} onChange={() => toggle(v.version)} />
                </td>
                <td className="mono" title={v.description || undefined}>
                  v{v.version}
                  <RetirementBadge retirement={v.retirement} />
                  {v.description && <span className="muted small block-note">{v.description}</span>}
                </td>
                <td>
                  <VersionStatusBadge status={v.status} message={v.statusMessage} />
                  {v.flavors.length > 0 && (
                    <span className="block-note" data-testid="version-flavors" title="Flavors of the version's MLmodel package">
                      {v.flavors.map((f) => (
                        <span key={f.name} className="badge gray">
                          {f.name}
                        </span>
                      ))}
                    </span>
                  )}
                  {v.status === "FAILED_REGISTRATION" && v.statusMessage && (
                    <span className="small block-note status-note" data-testid="version-status-message" title={v.statusMessage}>
                      {v.statusMessage}
                    </span>
                  )}
                </td>
                <td>
                  <StageBadge stage={v.currentStage} />
                </td>
                <td>
                  {v.signature ? (
                    <button
                      type="button"
                      className="link-btn small"
                      aria-expanded={expanded.has(v.version)}
                      data-testid="signature-toggle"
                      title={expanded.has(v.version) ? "Hide the signature" : "Show the input and output tensors"}
                      onClick={() => toggleSig(v.version)}
                    >
                      {expanded.has(v.version) ? "▾" : "▸"} {signatureSummary(v.signature)}
                    </button>
                  ) : (
                    <span className="muted" title="No signature was set for this version">
                      —
                    </span>
                  )}
                </td>
                <td className="ellipsis-cell mono-ish" title={v.source}>
                  {v.source}
                </td>
                <td>
                  {v.runId ? (
                    <a href={href(`/runs/${encodeURIComponent(v.runId)}`)} className="mono" title={v.runId} data-testid="version-run-link">
                      {v.runId.slice(0, 12)}
                    </a>
                  ) : (
                    <span className="muted">—</span>
                  )}
                  {v.runId && <> · <a href={href("/lineage", { node: `model:${v.name}/${v.version}` })} className="small" data-testid="version-lineage-link">lineage</a></>}
                </td>
                <td title={formatAgo(v.creationTimestamp)}>
                  {formatDate(v.creationTimestamp)}
                  {v.userId && <span className="muted small"> · {v.userId}</span>}
                </td>
                <td className="badges">
                  {[...v.aliases].sort().map((a) => (
                    <AliasBadge key={a} alias={a} />
                  ))}
                </td>
              </tr>
              {v.signature && expanded.has(v.version) && (
                <tr className="sig-row" data-testid="signature-row" data-version={v.version}>
                  <td />
                  <td colSpan={8}>
                    <SignatureView signature={v.signature} />
                  </td>
                </tr>
              )}
              </Fragment>
            ))}
            {!loading && versions && rows.length === 0 && (
              <tr>
                <td colSpan={9} className="empty">
                  No versions yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </>
  );
}

const RISK_COLORS: Record<string, string> = { minimal: "green", limited: "blue", high: "orange", unacceptable: "red" };

/** Fetches a model's card; null when the model has none (404 RESOURCE_DOES_NOT_EXIST). */
async function loadCard(name: string): Promise<ModelCardResponse | null> {
  try {
    return await api.getModelCard({ params: { name } });
  } catch (e) {
    if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return null;
    throw e;
  }
}

function CardText({ label, text, testId }: { label: string; text: string | undefined; testId: string }) {
  if (!text) return null;
  return (
    <div className="card-field" data-testid={testId}>
      <h3>{label}</h3>
      <p className="card-text">{text}</p>
    </div>
  );
}

/** The model card: documentation fields, risk class, owners and the described version's evaluation results. */
function ModelCardSection({ name }: { name: string }) {
  const card = useAsync(() => loadCard(name), [name]);
  const r = card.data;
  const c = r?.card;
  const metrics = r?.evaluationResults ? Object.entries(r.evaluationResults.metrics).sort(([a], [b]) => a.localeCompare(b)) : [];
  return (
    <section className="card" data-testid="model-card">
      <div className="section-head">
        <h2>Model card</h2>
        {c?.riskClass && (
          <span className={`badge ${RISK_COLORS[c.riskClass] ?? "gray"}`} title="Risk class (EU AI Act style)" data-testid="risk-class">
            {c.riskClass} risk
          </span>
        )}
        {c?.version !== undefined && <span className="muted small">describes v{c.version}</span>}
        {card.loading && <span className="spinner" />}
        <span className="spacer" />
        {r && (
          <span className="muted small" title={formatAgo(r.lastUpdatedTimestamp)}>
            updated {formatDate(r.lastUpdatedTimestamp)}
          </span>
        )}
      </div>
      {card.data === null && (
        <p className="muted small" data-testid="model-card-empty">
          No model card yet. A card documents intended use, limitations, training data and risk; set one with <code>PUT /api/v1/models/{name}/card</code>.
        </p>
      )}
      {c && (
        <>
          {((c.owners && c.owners.length > 0) || c.contact) && (
            <dl className="facts card-facts">
              {c.owners && c.owners.length > 0 && (
                <div>
                  <dt>Owners</dt>
                  <dd data-testid="card-owners">{c.owners.join(", ")}</dd>
                </div>
              )}
              {c.contact && (
                <div>
                  <dt>Contact</dt>
                  <dd data-testid="card-contact">{c.contact}</dd>
                </div>
              )}
            </dl>
          )}
          <div className="card-grid">
            <CardText label="Intended use" text={c.intendedUse} testId="card-intended-use" />
            <CardText label="Out-of-scope use" text={c.outOfScopeUse} testId="card-out-of-scope-use" />
            <CardText label="Limitations" text={c.limitations} testId="card-limitations" />
            <CardText label="Ethical considerations" text={c.ethicalConsiderations} testId="card-ethical-considerations" />
            {c.trainingDatasets && c.trainingDatasets.length > 0 && (
              <div className="card-field" data-testid="card-training-datasets">
                <h3>Training datasets</h3>
                <ul className="card-list">
                  {c.trainingDatasets.map((d, i) => (
                    <li key={i}>
                      <strong>{d.name}</strong>
                      {d.version && <span className="muted"> v{d.version}</span>}
                      {d.uri && (
                        <span className="mono muted small card-uri" title={d.uri}>
                          {" "}
                          · {d.uri}
                        </span>
                      )}
                    </li>
                  ))}
                </ul>
              </div>
            )}
            {(c.evaluation || r?.evaluationResults) && (
              <div className="card-field" data-testid="card-evaluation">
                <h3>
                  Evaluation results
                  {r?.evaluationResults && (
                    <span className="muted small">
                      {" "}
                      v{r.evaluationResults.version}
                      {r.evaluationResults.runId && (
                        <>
                          {" "}
                          · run{" "}
                          <a href={href(`/runs/${encodeURIComponent(r.evaluationResults.runId)}`)} className="mono">
                            {r.evaluationResults.runId.slice(0, 12)}
                          </a>
                        </>
                      )}
                    </span>
                  )}
                </h3>
                {c.evaluation && <p className="card-text">{c.evaluation}</p>}
                {r?.evaluationResults && (
                  <div className="table-wrap">
                    <table className="table" data-testid="card-evaluation-results">
                      <thead>
                        <tr>
                          <th>Metric</th>
                          <th className="num">Latest value</th>
                        </tr>
                      </thead>
                      <tbody>
                        {metrics.map(([k, v]) => (
                          <tr key={k} data-testid="card-metric" data-metric={k}>
                            <td className="kv-key" title={k}>
                              {k}
                            </td>
                            <td className="num">{formatNumber(v)}</td>
                          </tr>
                        ))}
                        {metrics.length === 0 && (
                          <tr>
                            <td colSpan={2} className="empty">
                              No metrics: the version has no source run, or the run is gone.
                            </td>
                          </tr>
                        )}
                      </tbody>
                    </table>
                  </div>
                )}
              </div>
            )}
          </div>
        </>
      )}
      <ErrorBanner error={card.error} title="Could not load the model card" onRetry={card.reload} />
    </section>
  );
}
