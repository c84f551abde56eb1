import { useMemo, useState, type ReactNode } from "react";
import { apiRoutes, type ManifestEntry } from "@cairn/contract";
import { api, client } from "../lib/api.js";
import { formatBytes, formatNumber } from "../lib/format.js";
import { usePaged } from "../lib/use-async.js";
import { ErrorBanner } from "./error-banner.js";

const PAGE = 10_000;
/** Children shown per directory before a "show more" button (keeps huge flat directories responsive). */
const CHILDREN_SHOWN = 300;
/** Up to this many files, every directory starts expanded. */
const EXPAND_ALL_UNDER = 200;

interface Dir {
  name: string;
  path: string;
  dirs: Map<string, Dir>;
  files: ManifestEntry[];
  size: number;
  count: number;
}

function buildTree(entries: ManifestEntry[]): Dir {
  const root: Dir = { name: "", path: "", dirs: new Map(), files: [], size: 0, count: 0 };
  for (const e of entries) {
    const parts = e.path.split("/");
    let d = root;
    d.size += e.size;
    d.count++;
    for (let i = 0; i < parts.length - 1; i++) {
      const seg = parts[i]!;
      let next = d.dirs.get(seg);
      if (!next) {
        next = { name: seg, path: parts.slice(0, i + 1).join("/"), dirs: new Map(), files: [], size: 0, count: 0 };
        d.dirs.set(seg, next);
      }
      d = next;
      d.size += e.size;
      d.count++;
    }
    d.files.push(e);
  }
  return root;
}

function allDirs(d: Dir, out: string[] = []): string[] {
  for (const c of d.dirs.values()) {
    out.push(c.path);
    allDirs(c, out);
  }
  return out;
}

/** The URL that downloads one stored file of a dataset version. */
export function datasetFileUrl(name: string, ref: string, path: string): string {
  return client.url(apiRoutes.downloadFile, { name, ref, "*": path });
}

/**
 * A version's manifest as a collapsible tree: directories with their total size and file count,
 * files with size, a mark on external files and a download link on stored ones. The manifest is
 * read in pages; "Load more" fetches the next. Key it by the version so another version starts afresh.
 */
export function FileTree({ name, versionRef, profiled, onProfile }: { name: string; versionRef: string; profiled?: Set<string>; onProfile?: (path: string) => void }) {
  const [open, setOpen] = useState<Set<string>>(() => new Set());
  const [shown, setShown] = useState<Record<string, number>>({});
  const listing = usePaged(
    async (pageToken) => {
      const r = await api.listFiles({ params: { name, ref: versionRef }, query: { maxResults: PAGE, ...(pageToken ? { pageToken } : {}) } });
      return { items: r.files, next: r.nextPageToken };
    },
    [name, versionRef],
    {
      onFirstPage: (first) => {
        if (first.length <= EXPAND_ALL_UNDER) setOpen(new Set(allDirs(buildTree(first))));
      },
    },
  );
  const { items: entries, next, loading, error } = listing;

  const tree = useMemo(() => buildTree(entries), [entries]);

  const toggle = (path: string) =>
    setOpen((o) => {
      const s = new Set(o);
      if (s.has(path)) s.delete(path);
      else s.add(path);
      return s;
    });

  const renderDir = (d: Dir, depth: number): ReactNode => {
    const dirs = [...d.dirs.values()].sort((a, b) => a.name.localeCompare(b.name));
    const files = [...d.files].sort((a, b) => a.path.localeCompare(b.path));
    const limit = shown[d.path] ?? CHILDREN_SHOWN;
    const children: ReactNode[] = [];
    let n = 0;
    for (const c of dirs) {
      if (n++ >= limit) break;
      const isOpen = open.has(c.path);
      children.push(
        <li key={`d:${c.path}`} role="treeitem" aria-expanded={isOpen} aria-label={c.path}>
          <div className="tree-item ds-tree-row" style={{ paddingLeft: 8 + depth * 16 }} onClick={() => toggle(c.path)} data-testid="tree-dir" data-path={c.path}>
            <span className="tree-icon">{isOpen ? "▾" : "▸"}</span>
            <span className="dir">{c.name}/</span>
            <span className="muted small">{formatNumber(c.count)} file{c.count === 1 ? "" : "s"}</span>
            <span className="spacer" />
            <span className="ds-tree-size num muted">{formatBytes(c.size)}</span>
            <span className="ds-tree-actions" />
          </div>
          {isOpen && <ul role="group">{renderDir(c, depth + 1)}</ul>}
        </li>,
      );
    }
    for (const f of files) {
      if (n++ >= limit) break;
      const base = f.path.slice(f.path.lastIndexOf("/") + 1);
      const external = f.uri !== undefined;
      const hasProfile = profiled?.has(f.path) ?? false;
      children.push(
        <li key={`f:${f.path}`} role="treeitem" aria-label={f.path}>
          <div className="tree-item ds-tree-row ds-tree-file" style={{ paddingLeft: 8 + depth * 16 }} data-testid="tree-file" data-path={f.path} data-external={external ? "true" : "false"}>
            <span className="tree-icon" />
            <span className="ds-tree-name" title={f.sha256 ? `${f.path}\nsha256 ${f.sha256}` : f.path}>
              {base}
            </span>
            {external && (
              <span className="badge orange" title={`External: ${f.uri}`} data-testid="external-badge">
                external
              </span>
            )}
            {hasProfile && onProfile && (
              <button type="button" className="link-btn small" onClick={() => onProfile(f.path)} data-testid="tree-profile-link">
                profile
              </button>
            )}
            <span className="spacer" />
            <span className="ds-tree-size num">{formatBytes(f.size)}</span>
            <span className="ds-tree-actions">
              {external ? (
                <span className="muted small mono ds-tree-uri" title={f.uri}>
                  {f.uri}
                </span>
              ) : (
                <a className="dl" href={datasetFileUrl(name, versionRef, f.path)} download={base} title={`Download ${f.path}`} aria-label={`Download ${f.path}`} data-testid="file-download">
                  ⤓
                </a>
              )}
            </span>
          </div>
        </li>,
      );
    }
    const total = dirs.length + files.length;
    if (total > limit) {
      children.push(
        <li key="more" style={{ paddingLeft: 8 + depth * 16 }}>
          <button type="button" className="link-btn small" onClick={() => setShown((s) => ({ ...s, [d.path]: limit + CHILDREN_SHOWN }))}>
            Show {formatNumber(Math.min(CHILDREN_SHOWN, total - limit))} more of {formatNumber(total - limit)}
          </button>
        </li>,
      );
    }
    return children;
  };

  return (
    <div className="ds-file-tree" data-testid="file-tree">
      <div className="mini-toolbar">
        <span className="muted small" data-testid="file-tree-summary">
          {formatNumber(entries.length)}
          {next ? "+" : ""} file{entries.length === 1 ? "" : "s"} · {formatBytes(tree.size)}
          {next ? " loaded" : ""}
        </span>
        {tree.dirs.size > 0 && (
          <>
            <button type="button" className="link-btn small" onClick={() => setOpen(new Set(allDirs(tree)))}>
              Expand all
            </button>
            <button type="button" className="link-btn small" onClick={() => setOpen(new Set())}>
              Collapse all
            </button>
          </>
        )}
        {loading && <span className="spinner" />}
      </div>
      <ErrorBanner error={error} title="Could not load the files" onRetry={listing.retry} />
      <ul className="ds-tree" role="tree" aria-label="Files">
        {renderDir(tree, 0)}
      </ul>
      {!loading && !error && entries.length === 0 && <div className="empty">This version has no files.</div>}
      {next && !loading && (
        <div className="table-foot">
          <button type="button" className="btn small" onClick={listing.loadMore} data-testid="files-load-more">
            Load more files
          </button>
        </div>
      )}
    </div>
  );
}
