/** Whether a value is a plain JSON object (not null, not an array). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** The dotted paths of the keys whose values differ between two objects (nested objects are walked). */
export function changedKeys(a: unknown, b: unknown, prefix = ""): string[] {
  if (!isPlainObject(a) || !isPlainObject(b)) return jsonEqual(a, b) ? [] : [prefix || "(value)"];
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (!Object.hasOwn(a, k) || !Object.hasOwn(b, k)) out.push(p);
    else if (isPlainObject(a[k]) && isPlainObject(b[k])) out.push(...changedKeys(a[k], b[k], p));
    else if (!jsonEqual(a[k], b[k])) out.push(p);
  }
  return out;
}

interface Line {
  indent: number;
  text: string;
  /** The dotted key path when this line differs from the other side. */
  changed?: string;
}

/** How a value compares: nothing to compare with, all of it differs, or against another value. */
type Cmp = { kind: "none" } | { kind: "all"; path: string } | { kind: "vs"; other: unknown };

function pushLines(out: Line[], v: unknown, cmp: Cmp, indent: number, prefix: string, comma: string, path: string): void {
  if (isPlainObject(v) && Object.keys(v).length > 0 && (cmp.kind !== "vs" || isPlainObject(cmp.other))) {
    out.push({ indent, text: `${prefix}{` });
    const entries = Object.entries(v);
    entries.forEach(([k, x], i) => {
      const p = path ? `${path}.${k}` : k;
      let child: Cmp = cmp;
      if (cmp.kind === "vs") {
        const other = cmp.other as Record<string, unknown>;
        child = Object.hasOwn(other, k) ? { kind: "vs", other: other[k] } : { kind: "all", path: p };
      }
      pushLines(out, x, child, indent + 1, `${JSON.stringify(k)}: `, i < entries.length - 1 ? "," : "", p);
    });
    out.push({ indent, text: `}${comma}` });
    return;
  }
  // A leaf (or an array, or an object compared with a non-object): its lines differ together.
  const changed = cmp.kind === "all" ? cmp.path : cmp.kind === "vs" && !jsonEqual(v, cmp.other) ? path || "(value)" : undefined;
  const text = JSON.stringify(v === undefined ? null : v, null, 2).split("\n");
  text.forEach((t, i) => {
    const line: Line = { indent, text: `${i === 0 ? prefix : ""}${t}${i === text.length - 1 ? comma : ""}` };
    if (changed !== undefined) line.changed = changed;
    out.push(line);
  });
}

/**
 * Pretty JSON; with `compareTo`, the lines of keys whose values differ from it are highlighted
 * (`side` picks the color: removed/old for "before", added/new for "after").
 */
export function JsonView({ value, compareTo, side, testId }: { value: unknown; compareTo?: { value: unknown }; side?: "before" | "after"; testId?: string }) {
  if (value === undefined || value === null) {
    return (
      <div className="json-view json-empty muted" data-testid={testId}>
        none
      </div>
    );
  }
  const lines: Line[] = [];
  pushLines(lines, value, compareTo ? { kind: "vs", other: compareTo.value } : { kind: "none" }, 0, "", "", "");
  return (
    <pre className="json-view" data-testid={testId}>
      {lines.map((l, i) => (
        <div
          key={i}
          className={l.changed !== undefined ? `json-line changed ${side ?? "after"}` : "json-line"}
          data-changed={l.changed}
          style={{ paddingLeft: `${l.indent * 2}ch` }}
        >
          {l.text}
        </div>
      ))}
    </pre>
  );
}
