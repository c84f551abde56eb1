import { useEffect } from "react";
import type { ArmStatus, Deployment } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate, rowLink } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FilterBar } from "../components/filter-bar.js";
import { AliasBadge } from "../components/alias-badge.js";
import type { PageProps } from "./registry.js";

/** How often the list refreshes while a deployment is still loading. */
const LOADING_REFRESH_MS = 2000;

const STATE_COLORS: Record<string, string> = { ready: "green", loading: "blue", degraded: "orange", failed: "red" };

/** A deployment's (or an arm's) state as a colored badge: ready, loading, degraded, failed. */
export function DeploymentStateBadge({ state, title, testId }: { state: string; title?: string; testId?: string }) {
  return (
    <span className={`badge ${STATE_COLORS[state] ?? "gray"}`} title={title ?? state} data-testid={testId} data-state={state}>
      {state}
    </span>
  );
}

/** An arm's reference: `champion → v3` for an alias, `v3` for a fixed version. */
export function ArmRefLabel({ armRef: r, version, model }: { armRef: { alias?: string | undefined; version?: string | undefined }; version: string | undefined; model?: string }) {
  if (r.alias) return <AliasBadge alias={r.alias} {...(version !== undefined ? { version } : {})} {...(model !== undefined ? { model } : {})} />;
  const v = r.version ?? version;
  return <span className="mono">{v ? `v${v}` : "—"}</span>;
}

/** The status of one arm of a deployment, when it has it. */
export function armOf(d: Deployment, arm: ArmStatus["arm"]): ArmStatus | undefined {
  return d.arms.find((a) => a.arm === arm);
}

/** `#/deployments?model=…`: managed deployments with their arms, state and revision. */
export function DeploymentsPage({ query }: PageProps) {
  const model = query.get("model") ?? "";
  const list = useAsync(() => api.listDeployments({ query: model ? { model } : {} }).then((r) => r.deployments), [model]);
  const rows = [...(list.data ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const anyLoading = rows.some((d) => d.state === "loading");
  const { reload } = list;
  useEffect(() => {
    if (!anyLoading) return;
    const t = setInterval(reload, LOADING_REFRESH_MS);
    return () => clearInterval(t);
  }, [anyLoading, reload]);

  return (
    <div className="page" data-testid="deployments-page">
      <div className="page-head">
        <h1>Deployments</h1>
        <span className="muted">{list.data ? `${formatNumber(rows.length)} deployment${rows.length === 1 ? "" : "s"}` : ""}</span>
        {list.loading && <span className="spinner" />}
      </div>
      <FilterBar filter={model} testId="deployments-filter" placeholder="Filter by model name, e.g. fraud-scorer" onFilter={(f) => navigate("/deployments", { model: f }, { replace: true })} />
      <ErrorBanner error={list.error} title="Could not load deployments" onRetry={list.reload} />
      <div className="table-wrap">
        <table className="table" data-testid="deployments-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Model</th>
              <th>Primary</th>
              <th>Canary</th>
              <th>Shadow</th>
              <th>State</th>
              <th className="num">Revision</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => {
              const to = `/deployments/${encodeURIComponent(d.name)}`;
              const primary = armOf(d, "primary");
              const canary = armOf(d, "canary");
              const shadow = armOf(d, "shadow");
              return (
                <tr key={d.name} className="clickable" data-testid="deployment-row" data-deployment={d.name} onClick={rowLink(to)}>
                  <td>
                    <a href={href(to)} className="pl-name" data-testid="deployment-link">
                      {d.name}
                    </a>
                    {d.description && <div className="muted small ellipsis-cell">{d.description}</div>}
                  </td>
                  <td>
                    <a href={href(`/models/${encodeURIComponent(d.spec.model)}`)} data-testid="deployment-model">
                      {d.spec.model}
                    </a>
                  </td>
                  <td data-testid="deployment-primary">
                    <ArmRefLabel armRef={d.spec.primary} version={primary?.version} />
                  </td>
                  <td data-testid="deployment-canary">
                    {d.spec.canary ? (
                      <>
                        <ArmRefLabel armRef={d.spec.canary} version={canary?.version} /> <span className="muted small">{formatNumber(d.spec.canary.percent)}%</span>
                      </>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td data-testid="deployment-shadow">{d.spec.shadow ? <ArmRefLabel armRef={d.spec.shadow} version={shadow?.version} /> : <span className="muted">—</span>}</td>
                  <td>
                    <DeploymentStateBadge state={d.state} title={d.error ?? d.state} testId="deployment-state" />
                  </td>
                  <td className="num mono" data-testid="deployment-revision">
                    {d.revision}
                  </td>
                  <td title={formatAgo(d.updatedAt)}>{formatDate(d.updatedAt)}</td>
                </tr>
              );
            })}
            {!list.loading && rows.length === 0 && !list.error && (
              <tr>
                <td colSpan={8} className="empty" data-testid="deployments-empty">
                  {model ? (
                    <>
                      No deployment serves <code>{model}</code>.
                    </>
                  ) : (
                    <>
                      No deployments yet. Deploy a registered model with <code>cairn deploy create NAME --model MODEL --alias champion</code> (or <code>--version N</code>; <code>--help</code> lists canary and shadow options) or <code>POST /api/v1/deployments</code>; it then answers at{" "}
                      <code>/deployments/NAME/v2/models/MODEL/infer</code>.
                    </>
                  )}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
