import { useEffect, useState } from "react";
import type { Dataset, DatasetVersion } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatBytes, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync, usePaged } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FileTree } from "../components/file-tree.js";
import { ProfileView } from "../components/profile-view.js";
import { ValidationBadge, ValidationReportView, describeExpectation } from "../components/validation-report.js";
import type { PageProps } from "./registry.js";

const VERSIONS_PAGE = 100;

/** A version reference from the URL: `3` → `v3`; tags and other refs pass through. */
export function toRef(v: string): string {
  return /^\d+$/.test(v) ? `v${v}` : v;
}

/** A dataset's versions, newest first, a page at a time ("load more" appends). */
export function useVersions(name: string, pageSize = VERSIONS_PAGE) {
  const list = usePaged(
    async (pageToken) => {
      const r = await api.listVersions({ params: { name }, query: { maxResults: pageSize, ...(pageToken ? { pageToken } : {}) } });
      return { items: r.versions, next: r.nextPageToken };
    },
    [name, pageSize],
    { key: (v: DatasetVersion) => v.id },
  );
  return { versions: list.items, next: list.next, loading: list.loading, error: list.error, loadMore: list.loadMore, reload: list.reload };
}

/** `#/datasets/:name?version=N`: a dataset's versions, and the files, validation and profiles of one. */
export function DatasetPage({ params, query }: PageProps) {
  const name = params.name!;
  const want = query.get("version") ?? "";
  const ds = useAsync(() => api.getDataset({ params: { name } }).then((r) => r.dataset), [name]);
  const versions = useVersions(name);
  const latest = ds.data?.latestVersion;
  const selected = useAsync(
    async () => (latest === undefined || latest === 0 ? undefined : (await api.getVersion({ params: { name, ref: want ? toRef(want) : "latest" } })).version),
    [name, want, latest],
  );

  if (!ds.data) {
    return (
      <div className="page">
        <div className="crumbs">
          <a href="#/datasets">Datasets</a> /
        </div>
        <h1>{name}</h1>
        {ds.loading ? <span className="spinner" /> : <ErrorBanner error={ds.error} title="Could not load the dataset" onRetry={ds.reload} />}
      </div>
    );
  }
  const d = ds.data;
  const v = selected.data;
  return (
    <div className="page" data-testid="dataset-page">
      <div className="crumbs">
        <a href="#/datasets">Datasets</a> /
      </div>
      <DatasetHeader dataset={d} />
      {d.latestVersion === 0 ? (
        <section className="card">
          <p className="empty" data-testid="no-versions">
            This dataset has no versions yet.
          </p>
        </section>
      ) : (
        <div className="ds-layout">
          <section className="card ds-timeline-card">
            <div className="section-head">
              <h2>
                Versions <span className="count">{formatNumber(d.versionCount)}</span>
              </h2>
              {versions.loading && <span className="spinner" />}
            </div>
            <ErrorBanner error={versions.error} title="Could not load the versions" onRetry={versions.reload} />
            <ol className="timeline ds-timeline" data-testid="versions-timeline">
              {versions.versions.map((x) => (
                <li key={x.id} className={`timeline-item ds-timeline-item${v?.id === x.id ? " active" : ""}`} data-testid="dataset-version" data-version={x.number} data-validation={x.validation.status} aria-current={v?.id === x.id ? "true" : undefined}>
                  <span className="timeline-dot" />
                  <a className="ds-timeline-link" href={href(`/datasets/${encodeURIComponent(name)}`, { version: String(x.number) })}>
                    <div className="ds-timeline-title">
                      <span className="mono">v{x.number}</span>
                      <ValidationBadge status={x.validation.status} />
                      {x.tags.map((t) => (
                        <span key={t} className="badge alias" data-testid="version-tag">
                          {t}
                        </span>
                      ))}
                    </div>
                    {x.message && <div className="ds-timeline-message">{x.message}</div>}
                    <div className="muted small">
                      {x.author || "anonymous"} · <span title={formatAgo(x.createdAt)}>{formatDate(x.createdAt)}</span>
                    </div>
                    <div className="muted small">
                      {formatNumber(x.fileCount)} file{x.fileCount === 1 ? "" : "s"} · {formatBytes(x.totalBytes)}
                      {x.externalCount > 0 && ` · ${formatNumber(x.externalCount)} external`}
                    </div>
                  </a>
                </li>
              ))}
            </ol>
            {versions.next && !versions.loading && (
              <button type="button" className="btn small" onClick={versions.loadMore}>
                Load older versions
              </button>
            )}
          </section>
          <div className="ds-detail">
            {v ? (
              <VersionDetail dataset={d} version={v} versions={versions.versions} />
            ) : selected.loading ? (
              <span className="spinner" />
            ) : (
              <ErrorBanner error={selected.error} title={`Could not load version ${want || "latest"}`} onRetry={selected.reload} />
            )}
          </div>
        </div>
      )}
    </div>
  );
}

function DatasetHeader({ dataset: d }: { dataset: Dataset }) {
  const tags = Object.entries(d.tags).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="run-header" data-testid="dataset-header">
      <div className="page-head">
        <h1>{d.name}</h1>
        <span className="spacer" />
        {d.latestVersion > 0 && (
          <a className="btn small" href={href("/lineage", { node: `dataset:${d.name}@v${d.latestVersion}` })} data-testid="dataset-lineage-link-latest">
            Lineage of latest
          </a>
        )}
      </div>
      <dl className="facts">
        <div>
          <dt>Latest</dt>
          <dd className="mono">{d.latestVersion > 0 ? `v${d.latestVersion}` : "—"}</dd>
        </div>
        <div>
          <dt>Versions</dt>
          <dd>{formatNumber(d.versionCount)}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd title={formatAgo(d.createdAt)}>{formatDate(d.createdAt)}</dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd title={formatAgo(d.updatedAt)}>{formatDate(d.updatedAt)}</dd>
        </div>
        <div>
          <dt>Expectations</dt>
          <dd data-testid="dataset-expectations" title={d.expectations.map(describeExpectation).join("\n")}>
            {d.expectations.length}
          </dd>
        </div>
        {tags.length > 0 && (
          <div>
            <dt>Tags</dt>
            <dd className="badges">
              {tags.map(([k, val]) => (
                <span key={k} className="tag-chip" title={`${k}=${val}`}>
                  <span className="tag-key">{k}</span>
                  {val !== "" && <span className="tag-value">{val}</span>}
                </span>
              ))}
            </dd>
          </div>
        )}
      </dl>
      {d.description ? (
        <p className="note" data-testid="dataset-description">
          {d.description}
        </p>
      ) : (
        <p className="muted small" data-testid="dataset-description">
          No description.
        </p>
      )}
    </div>
  );
}

function VersionDetail({ dataset, version: v, versions }: { dataset: Dataset; version: DatasetVersion; versions: DatasetVersion[] }) {
  const name = dataset.name;
  const ref = `v${v.number}`;
  const profile = useAsync(() => api.getProfile({ params: { name, ref } }), [name, ref]);
  const profiles = profile.data?.files ?? [];
  const [profilePath, setProfilePath] = useState<string | undefined>(undefined);
  useEffect(() => setProfilePath(undefined), [ref]);
  const shownProfile = profiles.find((p) => p.path === profilePath) ?? profiles[0];
  const others = versions.filter((x) => x.number !== v.number);
  const defaultOther = others.find((x) => x.number < v.number)?.number ?? others[0]?.number;
  const [other, setOther] = useState<number | undefined>(undefined);
  useEffect(() => setOther(undefined), [ref]);
  const compareWith = other ?? defaultOther;
  const diffHref =
    compareWith === undefined
      ? undefined
      : href(`/datasets/${encodeURIComponent(name)}/diff`, { from: `v${Math.min(compareWith, v.number)}`, to: `v${Math.max(compareWith, v.number)}` });

  return (
    <>
      <section className="card" data-testid="version-detail" data-version={v.number}>
        <div className="section-head">
          <h2>Version v{v.number}</h2>
          <ValidationBadge status={v.validation.status} />
          {v.tags.map((t) => (
            <span key={t} className="badge alias">
              {t}
            </span>
          ))}
          <span className="spacer" />
          <label className="check small">
            Version
            <select
              className="ds-select"
              value={String(v.number)}
              aria-label="Version"
              data-testid="version-select"
              onChange={(e) => navigate(`/datasets/${encodeURIComponent(name)}`, { version: e.target.value }, { replace: true })}
            >
              {(versions.some((x) => x.number === v.number) ? versions : [v, ...versions]).map((x) => (
                <option key={x.id} value={String(x.number)}>
                  v{x.number}
                  {x.tags.length ? ` (${x.tags.join(", ")})` : ""}
                </option>
              ))}
            </select>
          </label>
          <a className="btn small" href={href("/lineage", { node: `dataset:${name}@v${v.number}` })} data-testid="dataset-lineage-link">
            Lineage
          </a>
        </div>
        <dl className="facts">
          <div>
            <dt>Author</dt>
            <dd>{v.author || "anonymous"}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd title={formatAgo(v.createdAt)}>{formatDate(v.createdAt)}</dd>
          </div>
          <div>
            <dt>Files</dt>
            <dd data-testid="version-file-count">
              {formatNumber(v.fileCount)}
              {v.externalCount > 0 && <span className="muted"> ({formatNumber(v.externalCount)} external)</span>}
            </dd>
          </div>
          <div>
            <dt>Size</dt>
            <dd>{formatBytes(v.totalBytes)}</dd>
          </div>
          <div>
            <dt>Digest</dt>
            <dd className="mono" title={v.digest}>
              {v.digest.slice(0, 16)}
            </dd>
          </div>
          <div>
            <dt>URI</dt>
            <dd className="mono">
              datasets:/{name}@v{v.number}
            </dd>
          </div>
          {v.sourceRunId && (
            <div>
              <dt>Produced by run</dt>
              <dd>
                <a className="mono" href={href(`/runs/${encodeURIComponent(v.sourceRunId)}`)} data-testid="version-source-run">
                  {v.sourceRunId.slice(0, 12)}
                </a>
              </dd>
            </div>
          )}
        </dl>
        {v.message && (
          <p className="note" data-testid="version-message">
            {v.message}
          </p>
        )}
        <div className="toolbar ds-compare" data-testid="compare-control">
          <span className="muted small">Compare with</span>
          {others.length === 0 ? (
            <span className="muted small">no other version</span>
          ) : (
            <>
              <select className="ds-select" aria-label="Compare with version" data-testid="compare-select" value={compareWith === undefined ? "" : String(compareWith)} onChange={(e) => setOther(Number(e.target.value))}>
                {others.map((x) => (
                  <option key={x.id} value={String(x.number)}>
                    v{x.number}
                  </option>
                ))}
              </select>
              {diffHref && (
                <a className="btn small primary" href={diffHref} data-testid="compare-link">
                  Compare
                </a>
              )}
            </>
          )}
        </div>
      </section>

      <section className="card" data-testid="files-section">
        <h2>
          Files <span className="count">{formatNumber(v.fileCount)}</span>
        </h2>
        <FileTree
          key={`${name}@${ref}`}
          name={name}
          versionRef={ref}
          profiled={new Set(profiles.map((p) => p.path))}
          onProfile={(p) => {
            setProfilePath(p);
            document.getElementById("ds-profiles")?.scrollIntoView({ behavior: "smooth", block: "start" });
          }}
        />
      </section>

      <section className="card" data-testid="validation-section">
        <h2>Validation</h2>
        <ValidationReportView report={v.validation} />
      </section>

      <section className="card" id="ds-profiles" data-testid="profiles-section">
        <div className="section-head">
          <h2>
            Profiles <span className="count">{profiles.length}</span>
          </h2>
          {profile.loading && <span className="spinner" />}
          {profiles.length > 1 && (
            <select className="ds-select" aria-label="Profiled file" data-testid="profile-file-select" value={shownProfile?.path ?? ""} onChange={(e) => setProfilePath(e.target.value)}>
              {profiles.map((p) => (
                <option key={p.path} value={p.path}>
                  {p.path}
                </option>
              ))}
            </select>
          )}
        </div>
        <ErrorBanner error={profile.error} title="Could not load the profiles" onRetry={profile.reload} />
        {shownProfile ? (
          <ProfileView key={shownProfile.path} path={shownProfile.path} profile={shownProfile.profile} />
        ) : (
          !profile.loading &&
          !profile.error && (
            <p className="muted small" data-testid="no-profiles">
              No tabular files (CSV, Parquet, JSON lines) were profiled in this version.
            </p>
          )
        )}
      </section>
    </>
  );
}
