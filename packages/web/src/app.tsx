import { Component, type ErrorInfo, type ReactNode } from "react";
import { matchPath, useLocation } from "./lib/router.js";
import { HOME_PATH, pages, type PageDef } from "./pages/registry.js";
import { ErrorBanner } from "./components/error-banner.js";
import { SessionInfo } from "./components/session-info.js";
import { useSession } from "./lib/session.js";

/** Catches render errors so a bug shows a banner instead of a blank page. */
class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: unknown }> {
  override state: { error: unknown } = { error: undefined };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  override componentDidUpdate(prev: { resetKey: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error !== undefined) this.setState({ error: undefined });
  }
  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error("UI error", error, info.componentStack);
  }
  override render() {
    if (this.state.error !== undefined) return <ErrorBanner error={this.state.error} title="This page failed to render" />;
    return this.props.children;
  }
}

function Nav({ active }: { active: string | undefined }) {
  const session = useSession();
  const sections = new Map<string, PageDef[]>();
  for (const p of pages) {
    if (!p.label) continue;
    // `requires: "admin"` is global: the project argument is irrelevant to it.
    if (p.requires && !session.can(p.requires, "")) continue;
    const s = p.section ?? "Tracking";
    sections.set(s, [...(sections.get(s) ?? []), p]);
  }
  return (
    <nav className="nav" data-testid="nav">
      <a className="brand" href={`#${HOME_PATH}`}>
        <svg width="18" height="18" viewBox="0 0 16 16" aria-hidden="true">
          <ellipse cx="8" cy="13" rx="6" ry="2.2" fill="#355e8a" />
          <ellipse cx="8" cy="8.6" rx="4.4" ry="1.9" fill="#4f7fb3" />
          <ellipse cx="8" cy="4.6" rx="2.8" ry="1.6" fill="#7aa5d6" />
        </svg>
        Cairn
      </a>
      <SessionInfo />
      {[...sections].map(([section, items]) => (
        <div className="nav-section" key={section}>
          <div className="nav-heading">{section}</div>
          {items.map((p) => (
            <a key={p.path} href={`#${p.path}`} className={active === p.path ? "nav-item active" : "nav-item"} data-testid={`nav-${p.path.slice(1).replace(/\//g, "-")}`}>
              {p.label}
            </a>
          ))}
        </div>
      ))}
    </nav>
  );
}

/** The app shell: left nav plus the page matched by the hash route. */
export function App() {
  const loc = useLocation();
  const path = loc.path === "/" ? HOME_PATH : loc.path;
  let page: PageDef | undefined;
  let params: Record<string, string> = {};
  for (const p of pages) {
    const m = matchPath(p.path, path);
    if (m) {
      page = p;
      params = m;
      break;
    }
  }
  const Page = page?.component;
  return (
    <div className="shell">
      <aside className="nav-rail">
        <Nav active={page ? (page.label ? page.path : page.navParent) : undefined} />
      </aside>
      <main className="main">
        <ErrorBoundary resetKey={path}>
          {Page ? (
            // Keyed by the concrete path: another run or experiment is a fresh page, never stale data.
            <Page key={path} params={params} query={loc.query} />
          ) : (
            <div className="page">
              <h1>Not found</h1>
              <p className="muted">
                No page at <code>{path}</code>. <a href={`#${HOME_PATH}`}>Go to experiments</a>.
              </p>
            </div>
          )}
        </ErrorBoundary>
      </main>
    </div>
  );
}
