import { isCairnError } from "@cairn/contract";
import { signOut } from "../lib/api.js";
import { useSession } from "../lib/session.js";

/** Who the UI acts as (from whoami): the user with an admin badge and Sign out, "auth off", or "not signed in". */
export function SessionInfo() {
  const who = useSession();
  const w = who.who;
  if (!w) {
    if (who.loading) return null;
    const unauthenticated = isCairnError(who.error) && who.error.code === "UNAUTHENTICATED";
    return (
      <div className="nav-user" data-testid="session-info">
        <span className="nav-user-note" title={unauthenticated ? "This server has auth on: sign in with an API token on any page" : "Could not ask the server who you are"}>
          {unauthenticated ? "not signed in" : "session unknown"}
        </span>
      </div>
    );
  }
  if (!w.authEnabled) {
    return (
      <div className="nav-user" data-testid="session-info">
        <span className="nav-user-note" data-testid="auth-off" title="This server runs without auth: every caller acts as the anonymous admin">
          auth off
        </span>
      </div>
    );
  }
  return (
    <div className="nav-user" data-testid="session-info">
      <span className="nav-user-name" data-testid="session-user" title={`Signed in as ${w.user}`}>
        {w.user}
      </span>
      {w.admin && (
        <span className="badge blue" data-testid="session-admin">
          admin
        </span>
      )}
      <button type="button" className="nav-signout" data-testid="sign-out" onClick={signOut}>
        Sign out
      </button>
    </div>
  );
}
