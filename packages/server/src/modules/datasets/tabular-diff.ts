import type { ColumnProfile, FileProfile, TabularDiff } from "@cairn/contract";

type Shifts = TabularDiff["columns"][number]["shifts"];

const STATS = ["count", "missing", "distinct", "min", "max", "mean", "std"] as const;

/**
 * How one tabular file changed between two versions, from their profiles alone (no data is read):
 * columns added, removed or retyped (matched by name), the row counts, and for every column present
 * in both the statistics among count, missing, distinct, min, max, mean and std whose values differ.
 * Unchanged statistics are omitted, and so are columns with none changed. Columns keep the order of
 * `to`. Pure; throws nothing.
 */
export function diffProfiles(path: string, from: FileProfile, to: FileProfile): TabularDiff {
  const before = new Map(from.columns.map((c) => [c.name, c]));
  const after = new Map(to.columns.map((c) => [c.name, c]));
  const added = to.columns.filter((c) => !before.has(c.name)).map((c) => ({ name: c.name, type: c.type }));
  const removed = from.columns.filter((c) => !after.has(c.name)).map((c) => ({ name: c.name, type: c.type }));
  const typeChanged: TabularDiff["schema"]["typeChanged"] = [];
  const columns: TabularDiff["columns"] = [];
  for (const b of to.columns) {
    const a = before.get(b.name);
    if (!a) continue;
    if (a.type !== b.type) typeChanged.push({ name: b.name, from: a.type, to: b.type });
    const shifts = statShifts(a, b);
    if (Object.keys(shifts).length) columns.push({ name: b.name, shifts });
  }
  return {
    path,
    schema: { added, removed, typeChanged },
    rows: { from: from.rows, to: to.rows, delta: to.rows - from.rows },
    columns,
  };
}

function statShifts(a: ColumnProfile, b: ColumnProfile): Shifts {
  const shifts: Shifts = {};
  for (const stat of STATS) {
    // Absent (a statistic the kind does not carry) and null both mean "no value".
    const x = a[stat] ?? null;
    const y = b[stat] ?? null;
    if (x !== y) shifts[stat] = { from: x, to: y };
  }
  return shifts;
}
