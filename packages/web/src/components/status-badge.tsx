const COLORS: Record<string, string> = { FINISHED: "green", RUNNING: "blue", SCHEDULED: "gray", FAILED: "red", KILLED: "orange" };

/** A run status as a small colored badge. */
export function StatusBadge({ status, deleted }: { status: string; deleted?: boolean }) {
  return (
    <span className={`badge ${deleted ? "gray" : (COLORS[status] ?? "gray")}`} title={deleted ? `${status} (deleted)` : status}>
      {deleted ? "deleted" : status.toLowerCase()}
    </span>
  );
}
