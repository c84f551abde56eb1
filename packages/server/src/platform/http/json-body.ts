/**
 * Parses a JSON request body. Standard JSON goes through `JSON.parse` untouched (the fast path).
 * Python's `json.dumps` (used by the MLflow client) writes bare `NaN`, `Infinity` and
 * `-Infinity` tokens, which are not JSON; when plain parsing fails we rewrite those tokens
 * outside string literals into the strings "NaN", "Infinity", "-Infinity" and try again.
 * @throws SyntaxError when the body is not JSON even after that rewrite
 */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (!/NaN|Infinity/.test(text)) throw e;
    return JSON.parse(quoteNonFiniteTokens(text));
  }
}

function quoteNonFiniteTokens(text: string): string {
  let out = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (text.startsWith("NaN", i)) {
      out += '"NaN"';
      i += 3;
    } else if (text.startsWith("-Infinity", i)) {
      out += '"-Infinity"';
      i += 9;
    } else if (text.startsWith("Infinity", i)) {
      out += '"Infinity"';
      i += 8;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** A number as it travels in a JSON response: non-finite values become MLflow's strings. */
export function wireNumber(v: number): number | string {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
}
