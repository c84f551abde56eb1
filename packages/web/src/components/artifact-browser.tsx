import { useEffect, useState, type ReactNode } from "react";
import type { ArtifactEntry } from "@cairn/contract";
import { api, artifactUrl, client } from "../lib/api.js";
import { formatBytes } from "../lib/format.js";
import { ErrorBanner } from "./error-banner.js";

const TEXT_EXT = new Set(["txt", "log", "json", "jsonl", "yaml", "yml", "md", "csv", "tsv", "py", "toml", "ini", "cfg", "conf", "xml", "html", "sh", "js", "ts", "sql", "r", "ipynb", "env", "properties", "mlmodel"]);
const IMAGE_EXT = new Set(["png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico"]);
const MAX_TEXT_PREVIEW = 1024 * 1024;
const MAX_IMAGE_PREVIEW = 20 * 1024 * 1024;

function baseName(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? p : p.slice(i + 1);
}

function kindOf(e: ArtifactEntry): "text" | "image" | "other" {
  const name = baseName(e.path);
  const dot = name.lastIndexOf(".");
  const ext = dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
  if (IMAGE_EXT.has(ext)) return "image";
  if (TEXT_EXT.has(ext) || name === "MLmodel" || name === "requirements.txt" || ext === "") return "text";
  return "other";
}

interface DirState {
  entries: ArtifactEntry[];
  error: unknown;
  loading: boolean;
}

/**
 * A run's artifacts as a lazily expanded tree with sizes and download links, and an inline
 * preview of small text, JSON and image files.
 */
export function ArtifactBrowser({ runId }: { runId: string }) {
  const [dirs, setDirs] = useState<Record<string, DirState>>({});
  const [open, setOpen] = useState<Set<string>>(() => new Set([""]));
  const [selected, setSelected] = useState<ArtifactEntry | undefined>(undefined);

  const load = (path: string) => {
    setDirs((d) => ({ ...d, [path]: { entries: d[path]?.entries ?? [], error: undefined, loading: true } }));
    const query: { path?: string } = {};
    if (path) query.path = path;
    api.listArtifacts({ params: { id: runId }, query }).then(
      (r) =>
        setDirs((d) => ({
          ...d,
          [path]: {
            entries: [...r.files].sort((a, b) => Number(b.isDir) - Number(a.isDir) || a.path.localeCompare(b.path)),
            error: undefined,
            loading: false,
          },
        })),
      (error: unknown) => setDirs((d) => ({ ...d, [path]: { entries: d[path]?.entries ?? [], error, loading: false } })),
    );
  };

  useEffect(() => {
    setDirs({});
    setOpen(new Set([""]));
    setSelected(undefined);
    load("");
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runId]);

  const toggleDir = (path: string) => {
    setOpen((o) => {
      const s = new Set(o);
      if (s.has(path)) s.delete(path);
      else {
        s.add(path);
        if (!dirs[path]) load(path);
      }
      return s;
    });
  };

  const renderDir = (path: string, depth: number): ReactNode => {
    const d = dirs[path];
    if (!d) return null;
    return (
      <>
        {d.error !== undefined && <ErrorBanner error={d.error} title="Could not list artifacts" onRetry={() => load(path)} />}
        {d.entries.map((e) => (
          <div key={e.path}>
            <div
              className={`tree-item ${selected?.path === e.path ? "active" : ""}`}
              style={{ paddingLeft: 8 + depth * 16 }}
              data-testid="artifact-entry"
              data-path={e.path}
              onClick={() => (e.isDir ? toggleDir(e.path) : setSelected(e))}
            >
              <span className="tree-icon">{e.isDir ? (open.has(e.path) ? "▾" : "▸") : "·"}</span>
              <span className={`ellipsis ${e.isDir ? "dir" : ""}`} title={e.path}>
                {baseName(e.path)}
              </span>
              <span className="spacer" />
              {!e.isDir && <span className="muted small">{formatBytes(e.fileSize)}</span>}
              {!e.isDir && (
                <a className="dl" href={artifactUrl(runId, e.path)} download={baseName(e.path)} title="Download" onClick={(ev) => ev.stopPropagation()}>
                  ⤓
                </a>
              )}
            </div>
            {e.isDir && open.has(e.path) && renderDir(e.path, depth + 1)}
          </div>
        ))}
        {d.loading && (
          <div className="tree-item muted" style={{ paddingLeft: 8 + depth * 16 }}>
            <span className="spinner" /> loading…
          </div>
        )}
        {!d.loading && d.error === undefined && d.entries.length === 0 && (
          <div className="tree-item muted" style={{ paddingLeft: 8 + depth * 16 }}>
            {depth === 0 ? "No artifacts." : "Empty directory."}
          </div>
        )}
      </>
    );
  };

  return (
    <div className="artifacts" data-testid="artifact-browser">
      <div className="artifact-tree">{renderDir("", 0)}</div>
      <div className="artifact-preview">{selected ? <Preview runId={runId} entry={selected} /> : <div className="muted empty">Select a file to preview it.</div>}</div>
    </div>
  );
}

function Preview({ runId, entry }: { runId: string; entry: ArtifactEntry }) {
  const url = artifactUrl(runId, entry.path);
  const kind = kindOf(entry);
  const size = entry.fileSize ?? 0;
  const [text, setText] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const canText = kind === "text" && size <= MAX_TEXT_PREVIEW;

  useEffect(() => {
    setText(undefined);
    setError(undefined);
    if (!canText) return;
    let live = true;
    client
      .fetchRaw(url)
      .then((r) => r.text())
      .then(
        (t) => {
          if (!live) return;
          if (t.includes("\u0000")) {
            setText("(binary file: no preview)");
            return;
          }
          if (/\.(json|ipynb)$/i.test(entry.path)) {
            try {
              t = JSON.stringify(JSON.parse(t), null, 2);
            } catch {
              // not valid JSON: show it raw
            }
          }
          setText(t);
        },
        (e: unknown) => live && setError(e),
      );
    return () => {
      live = false;
    };
  }, [url, canText, entry.path]);

  return (
    <div data-testid="artifact-preview">
      <div className="preview-head">
        <span className="mono ellipsis" title={entry.path}>
          {entry.path}
        </span>
        <span className="muted small">{formatBytes(entry.fileSize)}</span>
        <span className="spacer" />
        <a className="btn small" href={url} download={baseName(entry.path)}>
          Download
        </a>
      </div>
      <ErrorBanner error={error} title="Could not load the file" />
      {kind === "image" && size <= MAX_IMAGE_PREVIEW && <img className="preview-img" src={url} alt={entry.path} />}
      {canText && text !== undefined && <pre className="preview-text">{text}</pre>}
      {canText && text === undefined && error === undefined && <span className="spinner" />}
      {kind === "other" && <div className="muted empty">No preview for this file type.</div>}
      {((kind === "text" && !canText) || (kind === "image" && size > MAX_IMAGE_PREVIEW)) && <div className="muted empty">Too large to preview ({formatBytes(size)}).</div>}
    </div>
  );
}
