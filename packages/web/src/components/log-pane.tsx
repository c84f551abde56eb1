import { useEffect, useRef, useState } from "react";
import { apiRoutes, type LogEntry, type LogsPage } from "@cairn/contract";
import { client, describeError } from "../lib/api.js";

/** Lines kept in the pane; older ones are dropped as new ones arrive. */
const MAX_LINES = 5000;
/** How long one long-poll read waits for new lines. */
const WAIT_MS = 10_000;
const RETRY_MS = 2000;

/**
 * A run's log lines (one step's, or every step's when `step` is undefined), followed live: it reads
 * pages with a long poll (`after` + `waitMs`) until the server says the run ended and everything was
 * read. The request in flight is aborted when the step changes or the pane unmounts. Sticks to the
 * bottom while the reader is at the bottom.
 */
export function LogPane({ runId, step }: { runId: string; step: string | undefined }) {
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [following, setFollowing] = useState(true);
  const [error, setError] = useState<string | undefined>(undefined);
  const box = useRef<HTMLPreElement>(null);
  const atBottom = useRef(true);

  useEffect(() => {
    const abort = new AbortController();
    let after = 0;
    setEntries([]);
    setError(undefined);
    setFollowing(true);
    void (async () => {
      while (!abort.signal.aborted) {
        try {
          const url = client.url(apiRoutes.getPipelineLogs, { id: runId }, { step, after, waitMs: WAIT_MS });
          const res = await client.fetchRaw(url, { signal: abort.signal });
          const page = (await res.json()) as LogsPage;
          if (abort.signal.aborted) return;
          setError(undefined);
          if (page.entries.length > 0) setEntries((prev) => prev.concat(page.entries).slice(-MAX_LINES));
          after = page.next;
          if (page.done) break;
        } catch (e) {
          if (abort.signal.aborted) return;
          setError(describeError(e).message);
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
      if (!abort.signal.aborted) setFollowing(false);
    })();
    return () => abort.abort();
  }, [runId, step]);

  useEffect(() => {
    const el = box.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [entries]);

  return (
    <div className="pl-logs" data-testid="log-pane" data-following={following ? "true" : "false"}>
      <div className="pl-logs-head">
        <strong>Logs</strong>
        <span className="muted small">{step ? `step ${step}` : "all steps"}</span>
        {following && (
          <span className="pl-live small" data-testid="logs-live">
            <span className="pl-live-dot" /> live
          </span>
        )}
        <span className="spacer" />
        <span className="muted small">{entries.length === 1 ? "1 line" : `${entries.length} lines`}</span>
      </div>
      {error && <div className="filter-error">Could not read logs: {error}</div>}
      <pre
        className="pl-logs-body"
        ref={box}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {entries.length === 0 ? (
          <span className="muted">{following ? "Waiting for output…" : "No output."}</span>
        ) : (
          entries.map((e) => (
            <div key={e.seq} className={`pl-log-line${e.stream === "stderr" ? " pl-stderr" : ""}`} data-testid="log-line" data-seq={e.seq}>
              {!step && <span className="pl-log-step">{e.step}</span>}
              {e.attempt > 1 && <span className="pl-log-step">#{e.attempt}</span>}
              {e.text}
            </div>
          ))
        )}
      </pre>
    </div>
  );
}
