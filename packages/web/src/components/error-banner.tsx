import { useState } from "react";
import { describeError, signIn } from "../lib/api.js";

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
      {d.code === "UNAUTHENTICATED" && <TokenForm />}
      {onRetry && (
        <button type="button" className="btn small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** Sign-in for servers with auth on: the token goes into a same-site cookie the server accepts. */
function TokenForm() {
  const [token, setToken] = useState("");
  return (
    <form
      className="toolbar"
      onSubmit={(e) => {
        e.preventDefault();
        if (token.trim()) signIn(token.trim());
      }}
    >
      <input className="filter-input" type="password" placeholder="API token (CAIRN_AUTH_TOKENS)" value={token} onChange={(e) => setToken(e.target.value)} data-testid="token-input" />
      <button type="submit" className="btn primary">
        Sign in
      </button>
    </form>
  );
}
