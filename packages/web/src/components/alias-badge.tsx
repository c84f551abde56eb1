import { href } from "../lib/router.js";

/** An alias as a badge, `champion → v3`; a link to the model when `model` is given. */
export function AliasBadge({ alias, version, model }: { alias: string; version?: string; model?: string }) {
  const text = version === undefined ? alias : `${alias} → v${version}`;
  const title = version === undefined ? `alias ${alias}` : `alias ${alias} points to version ${version}`;
  if (model !== undefined) {
    return (
      <a className="badge alias" href={href(`/models/${encodeURIComponent(model)}`)} title={title} data-testid="alias-badge">
        {text}
      </a>
    );
  }
  return (
    <span className="badge alias" title={title} data-testid="alias-badge">
      {text}
    </span>
  );
}

/** Quotes a string for the registry filter grammar: `'it''s'`. */
export function quoteFilterValue(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

const STAGE_COLORS: Record<string, string> = { Production: "green", Staging: "blue", Archived: "gray", None: "gray" };

/** A legacy model stage as a badge (nothing for `None`). */
export function StageBadge({ stage }: { stage: string }) {
  if (stage === "None") return <span className="muted">—</span>;
  return <span className={`badge ${STAGE_COLORS[stage] ?? "gray"}`}>{stage}</span>;
}

const STATUS_COLORS: Record<string, string> = { READY: "green", PENDING_REGISTRATION: "blue", FAILED_REGISTRATION: "red" };

/** A model version's registration status as a badge. */
export function VersionStatusBadge({ status, message }: { status: string; message?: string }) {
  return (
    <span className={`badge ${STATUS_COLORS[status] ?? "gray"}`} title={message || status}>
      {status === "READY" ? "ready" : status.toLowerCase().replace(/_/g, " ")}
    </span>
  );
}
