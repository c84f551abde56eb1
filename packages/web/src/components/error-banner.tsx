import { describeError } from "../lib/api.js";

/** A visible error box with the server's code, message and request id. */
export function ErrorBanner({ error, title, onRetry }: { error: unknown; title?: string; onRetry?: () => void }) {
  if (error === undefined || error === null) return null;
  const d = describeError(error);
  return (
    <div className="error-banner" role="alert" data-testid="error-banner">
      <div>
        <strong>{title ?? "Request failed"}</strong>
        {d.code && <span className="error-code">{d.code}</span>}
      </div>
      <div className="error-message">{d.message}</div>
      {d.requestId && <div className="muted small">request id {d.requestId}</div>}
      {onRetry && (
        <button type="button" className="btn small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
