import type { ModelVersion, Run } from "@cairn/contract";
import { api, describeError, toNumber } from "../lib/api.js";
import { formatAgo, formatDate } from "../lib/format.js";
import { href } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { StatusBadge } from "../components/status-badge.js";
import { AliasBadge, StageBadge } from "../components/alias-badge.js";
import { FindingsTable, RetirementBadge } from "../components/governance.js";
import { LatestMetricsSection, ParamsDiffSection, type CompareColumn } from "../components/compare-tables.js";
import { seriesColor } from "../components/metric-chart.js";
import type { PageProps } from "./registry.js";

const MAX_COMPARE = 20;

interface Loaded {
  items: { version: ModelVersion; run: Run | undefined; runError: string | undefined }[];
  missing: { version: string; message: string }[];
}

/** `#/models/:name/compare?versions=1,2`: versions side by side with their source runs' params and latest metrics. */
export function ModelComparePage({ params, query }: PageProps) {
  const name = params.name!;
  const versions = [...new Set((query.get("versions") ?? "").split(",").map((s) => s.trim()).filter(Boolean))].slice(0, MAX_COMPARE);
  const loaded = useAsync(async (): Promise<Loaded> => {
    const res = await Promise.allSettled(versions.map((version) => api.getModelVersion({ params: { name, version } }).then((r) => r.modelVersion)));
    const found: ModelVersion[] = [];
    const missing: Loaded["missing"] = [];
    res.forEach((r, i) => {
      if (r.status === "fulfilled") found.push(r.value);
      else missing.push({ version: versions[i]!, message: describeError(r.reason).message });
    });
    if (found.length === 0 && res[0]?.status === "rejected") throw res[0].reason;
    // Several versions may come from one run: fetch each run once.
    const runIds = [...new Set(found.map((v) => v.runId).filter(Boolean))];
    const runs = await Promise.allSettled(runIds.map((id) => api.getRun({ params: { id } }).then((r) => r.run)));
    const byId = new Map<string, { run?: Run; error?: string }>();
    runs.forEach((r, i) => byId.set(runIds[i]!, r.status === "fulfilled" ? { run: r.value } : { error: describeError(r.reason).message }));
    return {
      items: found.map((version) => {
        const got = version.runId ? byId.get(version.runId) : undefined;
        return { version, run: got?.run, runError: version.runId ? got?.error : undefined };
      }),
      missing,
    };
  }, [name, versions.join(",")]);

  return (
    <div className="page" data-testid="model-compare-view">
      <div className="crumbs">
        <a href="#/models">Models</a> / <a href={href(`/models/${encodeURIComponent(name)}`)}>{name}</a> /
      </div>
      <div className="page-head">
        <h1>
          Compare {versions.length} versions of {name}
        </h1>
      </div>
      {versions.length === 0 && <p className="muted">No versions selected. Pick versions with the checkboxes on the model page and press Compare.</p>}
      {loaded.loading && !loaded.data && <span className="spinner" />}
      <ErrorBanner error={loaded.error} title="Could not load the versions" onRetry={loaded.reload} />
      {loaded.data && loaded.data.missing.length > 0 && (
        <div className="error-banner" role="alert">
          <strong>Some versions could not be loaded</strong>
          {loaded.data.missing.map((m) => (
            <div key={m.version} className="error-message">
              <span className="mono">v{m.version}</span>: {m.message}
            </div>
          ))}
        </div>
      )}
      {loaded.data && loaded.data.items.length > 0 && <CompareVersions name={name} items={loaded.data.items} />}
    </div>
  );
}

function VersionLabel({ version, i }: { version: ModelVersion; i: number }) {
  return (
    <span className="run-label">
      <span className="swatch" style={{ background: seriesColor(i) }} />
      <span className="mono">v{version.version}</span>
    </span>
  );
}

function CompareVersions({ name, items }: { name: string; items: Loaded["items"] }) {
  const columns: CompareColumn[] = items.map(({ version, run }, i) => {
    let metrics: Map<string, number> | undefined;
    if (run) {
      metrics = new Map();
      for (const x of run.data.metrics) metrics.set(x.key, toNumber(x.value));
    }
    return { id: version.version, label: <VersionLabel version={version} i={i} />, params: run?.data.params, metrics };
  });
  return (
    <>
      <section className="card">
        <h2>Versions</h2>
        <div className="table-wrap">
          <table className="table" data-testid="compare-versions-table">
            <thead>
              <tr>
                <th>Version</th>
                <th>Stage</th>
                <th>Aliases</th>
                <th>Source run</th>
                <th>Run status</th>
                <th>Source</th>
                <th>Registered</th>
              </tr>
            </thead>
            <tbody>
              {items.map(({ version: v, run, runError }, i) => (
                <tr key={v.version}>
                  <td>
                    <a href={href(`/models/${encodeURIComponent(name)}`)} title={v.description || undefined}>
                      <VersionLabel version={v} i={i} />
                    </a>
                    <RetirementBadge retirement={v.retirement} />
                  </td>
                  <td>
                    <StageBadge stage={v.currentStage} />
                  </td>
                  <td className="badges">
                    {[...v.aliases].sort().map((a) => (
                      <AliasBadge key={a} alias={a} />
                    ))}
                  </td>
                  <td>
                    {v.runId ? (
                      <a href={href(`/runs/${encodeURIComponent(v.runId)}`)} title={v.runId}>
                        {run?.info.runName || v.runId.slice(0, 12)}
                      </a>
                    ) : (
                      <span className="muted">no source run</span>
                    )}
                    {runError && <span className="filter-error small-inline">{runError}</span>}
                  </td>
                  <td>{run ? <StatusBadge status={run.info.status} deleted={run.info.lifecycleStage === "deleted"} /> : <span className="muted">—</span>}</td>
                  <td className="ellipsis-cell mono-ish" title={v.source}>
                    {v.source}
                  </td>
                  <td title={formatAgo(v.creationTimestamp)}>{formatDate(v.creationTimestamp)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <CompatibilitySection name={name} items={items} />
      <ParamsDiffSection columns={columns} />
      <LatestMetricsSection columns={columns} legend="versions" />
    </>
  );
}

/**
 * Signature compatibility from the first compared version to each other one
 * (one panel for a pair; with more versions, one block per pair against the first).
 */
function CompatibilitySection({ name, items }: { name: string; items: Loaded["items"] }) {
  const base = items[0]!.version.version;
  const targets = items.slice(1).map((it) => it.version.version);
  const compat = useAsync(
    () => Promise.allSettled(targets.map((to) => api.getCompatibility({ params: { name }, query: { from: base, to } }))),
    [name, base, targets.join(",")],
  );
  if (targets.length === 0) return null;
  return (
    <section className="card" data-testid="compatibility-panel">
      <div className="section-head">
        <h2>Signature compatibility</h2>
        {targets.length > 1 && <span className="muted small">v{base} against each other version</span>}
        {compat.loading && <span className="spinner" />}
      </div>
      <ErrorBanner error={compat.error} title="Could not compare the signatures" onRetry={compat.reload} />
      {compat.data?.map((r, i) => {
        const to = targets[i]!;
        if (r.status === "rejected") {
          return (
            <div key={to} className="compat-pair">
              <ErrorBanner error={r.reason} title={`Could not compare v${base} → v${to}`} />
            </div>
          );
        }
        const c = r.value;
        const breaking = c.findings.filter((f) => f.breaking).length;
        return (
          <div key={to} className="compat-pair" data-testid="compatibility-pair" data-from={c.from} data-to={c.to} data-compatible={c.compatible ? "true" : "false"}>
            <div className="compat-head">
              <span className="mono">v{c.from}</span>
              <span className="muted">→</span>
              <span className="mono">v{c.to}</span>
              <span className="muted small">compatible:</span>
              <span className={`badge ${c.compatible ? "green" : "red"}`} data-testid="compatibility-verdict">
                {c.compatible ? "yes" : "no"}
              </span>
              <span className="muted small">
                {c.findings.length} finding{c.findings.length === 1 ? "" : "s"}
                {breaking > 0 ? `, ${breaking} breaking` : ""}
              </span>
            </div>
            <FindingsTable findings={c.findings} />
          </div>
        );
      })}
    </section>
  );
}
