import { useEffect, useState } from "react";

/** The current hash location, split into a path and its query. */
export interface Location {
  path: string;
  query: URLSearchParams;
}

function readLocation(): Location {
  const raw = window.location.hash.replace(/^#/, "") || "/";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  return { path: path.startsWith("/") ? path : `/${path}`, query: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
}

/** Subscribes to hash changes and returns the current location. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(readLocation);
  useEffect(() => {
    const on = () => setLoc(readLocation());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return loc;
}

/** Builds an href for a hash route: `href("/compare", { runs: "a,b" })` → `#/compare?runs=a,b`. */
export function href(path: string, query?: Record<string, string | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== "") qs.set(k, v);
  const s = qs.toString().replace(/%2C/g, ",");
  return `#${path}${s ? `?${s}` : ""}`;
}

/** Goes to a hash route; `replace` keeps the browser history from growing (for filter edits). */
export function navigate(path: string, query?: Record<string, string | undefined>, opts: { replace?: boolean } = {}): void {
  const h = href(path, query);
  if (opts.replace) {
    window.history.replaceState(null, "", h);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = h.slice(1);
  }
}

/**
 * Matches a path against a pattern with `:name` segments.
 * @example matchPath("/runs/:runId", "/runs/abc") // { runId: "abc" }
 */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/").filter(Boolean);
  const s = path.split("/").filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    const val = s[i]!;
    if (seg.startsWith(":")) params[seg.slice(1)] = decodeURIComponent(val);
    else if (seg !== val) return null;
  }
  return params;
}

/** A table row's click handler that opens `path`, unless the click landed on a link inside the row (the link handles it). */
export function rowLink(path: string): (e: { target: EventTarget }) => void {
  return (e) => {
    if (!(e.target as HTMLElement).closest("a")) navigate(path);
  };
}
