import { CairnError } from "@cairn/contract";
import type { Comparator, Comparison, ExperimentFilter, KeyType, OrderKey, RunFilter } from "./filter-ast.js";

/**
 * A parser for MLflow's search grammar (filters and order_by), producing the AST of `filter-ast.ts`.
 *
 * Filters are comparisons joined by AND:
 * `metrics.acc > 0.9 and params.lr = '0.01' and tags."mlflow.user" LIKE 'a%' and attributes.status IN ('RUNNING')`.
 * Every syntax or semantic problem is a CairnError INVALID_PARAMETER_VALUE with a readable message.
 */

type Kind = "run" | "experiment";

const PREFIXES: Record<string, KeyType> = {
  metric: "metric",
  metrics: "metric",
  param: "param",
  params: "param",
  parameter: "param",
  parameters: "param",
  tag: "tag",
  tags: "tag",
  attribute: "attribute",
  attributes: "attribute",
  attr: "attribute",
  run: "attribute",
  dataset: "dataset",
  datasets: "dataset",
};

const NUMERIC_CMP: Comparator[] = ["=", "!=", "<", "<=", ">", ">="];
const STRING_CMP: Comparator[] = ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"];
const ID_CMP: Comparator[] = ["=", "!=", "IN", "NOT IN"];
const NULL_CMP: Comparator[] = ["IS NULL", "IS NOT NULL"];

interface AttributeSpec {
  column: string;
  numeric: boolean;
  comparators: Comparator[];
}

const RUN_ATTRIBUTES: Record<string, AttributeSpec> = {
  run_id: { column: "run_id", numeric: false, comparators: ID_CMP },
  run_name: { column: "run_name", numeric: false, comparators: STRING_CMP },
  status: { column: "status", numeric: false, comparators: STRING_CMP },
  user_id: { column: "user_id", numeric: false, comparators: STRING_CMP },
  artifact_uri: { column: "artifact_uri", numeric: false, comparators: STRING_CMP },
  lifecycle_stage: { column: "lifecycle_stage", numeric: false, comparators: STRING_CMP },
  start_time: { column: "start_time", numeric: true, comparators: NUMERIC_CMP },
  created: { column: "start_time", numeric: true, comparators: NUMERIC_CMP },
  end_time: { column: "end_time", numeric: true, comparators: NUMERIC_CMP },
};

const EXPERIMENT_ATTRIBUTES: Record<string, AttributeSpec> = {
  name: { column: "name", numeric: false, comparators: STRING_CMP },
  experiment_id: { column: "experiment_id", numeric: false, comparators: ID_CMP },
  lifecycle_stage: { column: "lifecycle_stage", numeric: false, comparators: STRING_CMP },
  creation_time: { column: "creation_time", numeric: true, comparators: NUMERIC_CMP },
  last_update_time: { column: "last_update_time", numeric: true, comparators: NUMERIC_CMP },
};

const DATASET_KEYS = ["name", "digest", "context"];

// ---------------------------------------------------------------- lexer

type Token =
  | { t: "ident"; v: string; pos: number }
  | { t: "str"; v: string; quote: string; pos: number }
  | { t: "num"; v: number; raw: string; pos: number }
  | { t: "op"; v: string; pos: number }
  | { t: "punct"; v: "(" | ")" | "," | "."; pos: number }
  | { t: "end"; pos: number };

function invalid(message: string): CairnError {
  return new CairnError("INVALID_PARAMETER_VALUE", message);
}

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*/;
// Unquoted keys may carry MLflow's key characters except space (which needs quoting).
const KEY_RE = /^[A-Za-z0-9_.\-/:]+/;

class Lexer {
  #s: string;
  #i = 0;
  #what: string;

  constructor(s: string, what: string) {
    this.#s = s;
    this.#what = what;
  }

  get pos(): number {
    return this.#i;
  }

  #skipSpace(): void {
    while (this.#i < this.#s.length && /\s/.test(this.#s[this.#i]!)) this.#i++;
  }

  fail(message: string, pos = this.#i): CairnError {
    return invalid(`Invalid ${this.#what} '${this.#s}': ${message} (at position ${pos})`);
  }

  peekChar(): string | undefined {
    this.#skipSpace();
    return this.#s[this.#i];
  }

  atEnd(): boolean {
    this.#skipSpace();
    return this.#i >= this.#s.length;
  }

  /** Reads a quoted string starting at the current quote character; `''` and backslash-escaped quotes unescape. */
  readQuoted(): { v: string; quote: string; pos: number } {
    this.#skipSpace();
    const pos = this.#i;
    const quote = this.#s[this.#i]!;
    let out = "";
    this.#i++;
    while (this.#i < this.#s.length) {
      const c = this.#s[this.#i]!;
      if (c === "\\" && (this.#s[this.#i + 1] === quote || this.#s[this.#i + 1] === "\\")) {
        out += this.#s[this.#i + 1];
        this.#i += 2;
        continue;
      }
      if (c === quote) {
        if (this.#s[this.#i + 1] === quote) {
          out += quote;
          this.#i += 2;
          continue;
        }
        this.#i++;
        return { v: out, quote, pos };
      }
      out += c;
      this.#i++;
    }
    throw this.fail(`unterminated quoted string`, pos);
  }

  /** Reads an identifier: `prefix.key`, `prefix.\`quoted key\``, `prefix."quoted key"`, or a bare name. */
  readIdentifier(): { prefix: string | undefined; key: string; pos: number } {
    this.#skipSpace();
    const pos = this.#i;
    const m = IDENT_RE.exec(this.#s.slice(this.#i));
    if (!m) {
      const c = this.#s[this.#i];
      throw this.fail(c === undefined ? "expected an identifier but the text ended" : `expected an identifier, found '${c}'`);
    }
    this.#i += m[0].length;
    if (this.#s[this.#i] !== ".") return { prefix: undefined, key: m[0], pos };
    this.#i++;
    const c = this.#s[this.#i];
    if (c === "`" || c === '"') {
      const q = this.readQuoted();
      if (q.v === "") throw this.fail("the quoted key is empty", q.pos);
      return { prefix: m[0], key: q.v, pos };
    }
    const k = KEY_RE.exec(this.#s.slice(this.#i));
    if (!k) throw this.fail(`expected a key after '${m[0]}.'`);
    this.#i += k[0].length;
    return { prefix: m[0], key: k[0], pos };
  }

  /** Reads a keyword (case-insensitive) if present. */
  tryWord(word: string): boolean {
    this.#skipSpace();
    const slice = this.#s.slice(this.#i, this.#i + word.length);
    if (slice.toUpperCase() !== word) return false;
    const next = this.#s[this.#i + word.length];
    if (next !== undefined && /[A-Za-z0-9_]/.test(next)) return false;
    this.#i += word.length;
    return true;
  }

  tryChar(c: string): boolean {
    this.#skipSpace();
    if (this.#s[this.#i] !== c) return false;
    this.#i++;
    return true;
  }

  readComparator(): Comparator {
    this.#skipSpace();
    const pos = this.#i;
    for (const op of ["!=", "<=", ">=", "=", "<", ">"] as const) {
      if (this.#s.startsWith(op, this.#i)) {
        this.#i += op.length;
        return op;
      }
    }
    if (this.tryWord("LIKE")) return "LIKE";
    if (this.tryWord("ILIKE")) return "ILIKE";
    if (this.tryWord("IN")) return "IN";
    if (this.tryWord("NOT")) {
      if (this.tryWord("IN")) return "NOT IN";
      throw this.fail("expected IN after NOT");
    }
    if (this.tryWord("IS")) {
      const not = this.tryWord("NOT");
      if (!this.tryWord("NULL")) throw this.fail(`expected NULL after IS${not ? " NOT" : ""}`);
      return not ? "IS NOT NULL" : "IS NULL";
    }
    const rest = this.#s.slice(pos).split(/\s/)[0] ?? "";
    throw this.fail(rest ? `expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL), found '${rest}'` : "expected a comparator but the text ended", pos);
  }

  /** Reads a scalar literal: a quoted string or a number. */
  readScalar(): string | number {
    this.#skipSpace();
    const c = this.#s[this.#i];
    if (c === "'" || c === '"') return this.readQuoted().v;
    if (c === "`") throw this.fail("backticks quote keys, not values; use single or double quotes");
    const m = NUMBER_RE.exec(this.#s.slice(this.#i));
    if (m) {
      const next = this.#s[this.#i + m[0].length];
      if (next === undefined || !/[A-Za-z0-9_.]/.test(next)) {
        this.#i += m[0].length;
        return Number(m[0]);
      }
    }
    if (c === undefined) throw this.fail("expected a value but the text ended");
    const word = /^\S+/.exec(this.#s.slice(this.#i))?.[0] ?? c;
    throw this.fail(`expected a quoted string or a number, found '${word}'`);
  }
}

// ---------------------------------------------------------------- filters

interface ResolvedKey {
  type: KeyType;
  key: string;
}

function resolveIdentifier(lx: Lexer, id: { prefix: string | undefined; key: string; pos: number }, kind: Kind): ResolvedKey {
  if (id.prefix === undefined) return { type: "attribute", key: id.key };
  const type = PREFIXES[id.prefix.toLowerCase()];
  if (!type) {
    const valid = kind === "run" ? "metrics, params, tags, attributes, datasets" : "attributes, tags";
    throw lx.fail(`unknown entity type '${id.prefix}' (expected one of: ${valid})`, id.pos);
  }
  return { type, key: id.key };
}

function attributeSpec(lx: Lexer, key: string, kind: Kind, pos: number): AttributeSpec {
  const table = kind === "run" ? RUN_ATTRIBUTES : EXPERIMENT_ATTRIBUTES;
  const spec = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
  if (!spec) throw lx.fail(`unknown attribute '${key}' (expected one of: ${Object.keys(table).join(", ")})`, pos);
  return spec;
}

function label(type: KeyType, key: string): string {
  return `${type} '${key}'`;
}

function checkComparator(lx: Lexer, type: KeyType, key: string, cmp: Comparator, allowed: Comparator[], pos: number): void {
  if (!allowed.includes(cmp)) throw lx.fail(`comparator '${cmp}' is not allowed for ${label(type, key)} (allowed: ${allowed.join(", ")})`, pos);
}

function readValue(lx: Lexer, cmp: Comparator): Comparison["value"] {
  if (cmp === "IS NULL" || cmp === "IS NOT NULL") return null;
  if (cmp === "IN" || cmp === "NOT IN") {
    if (!lx.tryChar("(")) throw lx.fail(`expected '(' after ${cmp}`);
    const items: (string | number)[] = [];
    if (lx.tryChar(")")) throw lx.fail(`the ${cmp} list is empty`);
    for (;;) {
      items.push(lx.readScalar());
      if (lx.tryChar(")")) break;
      if (!lx.tryChar(",")) throw lx.fail(`expected ',' or ')' in the ${cmp} list`);
    }
    return items;
  }
  return lx.readScalar();
}

function parseTerm(lx: Lexer, kind: Kind): Comparison {
  const id = lx.readIdentifier();
  let { type, key } = resolveIdentifier(lx, id, kind);
  const cmpPos = lx.pos;
  const comparator = lx.readComparator();
  const valuePos = lx.pos;
  const value = readValue(lx, comparator);
  const values = Array.isArray(value) ? value : value === null ? [] : [value];
  const requireStrings = (what: string) => {
    if (values.some((v) => typeof v !== "string")) throw lx.fail(`${what} must be compared with quoted strings`, valuePos);
  };
  const requireNumbers = (what: string) => {
    if (values.some((v) => typeof v !== "number")) throw lx.fail(`${what} must be compared with a number, not a string`, valuePos);
  };

  if (kind === "experiment" && (type === "metric" || type === "param" || type === "dataset")) {
    throw lx.fail(`experiments cannot be filtered on ${type}s (use attributes or tags)`, id.pos);
  }

  // MLflow keeps the run name in the mlflow.runName tag too; the column is the indexed copy.
  if (kind === "run" && type === "tag" && key === "mlflow.runName" && comparator !== "IS NULL" && comparator !== "IS NOT NULL") {
    type = "attribute";
    key = "run_name";
  }

  switch (type) {
    case "metric":
      checkComparator(lx, type, key, comparator, NUMERIC_CMP, cmpPos);
      requireNumbers(label(type, key));
      return { type, key, comparator, value };
    case "param":
    case "tag":
      checkComparator(lx, type, key, comparator, [...STRING_CMP, ...NULL_CMP], cmpPos);
      requireStrings(label(type, key));
      return { type, key, comparator, value };
    case "dataset": {
      if (!DATASET_KEYS.includes(key)) throw lx.fail(`unknown dataset field '${key}' (expected one of: ${DATASET_KEYS.join(", ")})`, id.pos);
      checkComparator(lx, type, key, comparator, STRING_CMP, cmpPos);
      requireStrings(label(type, key));
      return { type, key, comparator, value };
    }
    case "attribute": {
      const spec = attributeSpec(lx, key, kind, id.pos);
      checkComparator(lx, type, key, comparator, spec.comparators, cmpPos);
      if (spec.numeric) {
        requireNumbers(label(type, key));
        // Time attributes are integer columns: PostgreSQL refuses to compare them with 1.5 or 1e30.
        if (values.some((v) => !Number.isSafeInteger(v))) throw lx.fail(`${label(type, key)} must be compared with a whole number of milliseconds`, valuePos);
        return { type, key: spec.column, comparator, value };
      }
      if (spec.column === "experiment_id") {
        // Experiment ids are strings on the API but clients often write them as numbers.
        const asString = Array.isArray(value) ? value.map(String) : String(value);
        return { type, key: spec.column, comparator, value: asString };
      }
      requireStrings(label(type, key));
      return { type, key: spec.column, comparator, value };
    }
  }
}

function parseFilter(s: string | undefined, kind: Kind): Comparison[] {
  if (s === undefined || s.trim() === "") return [];
  const lx = new Lexer(s, kind === "run" ? "filter" : "experiment filter");
  const terms: Comparison[] = [];
  for (;;) {
    terms.push(parseTerm(lx, kind));
    if (lx.atEnd()) break;
    if (!lx.tryWord("AND")) {
      if (lx.tryWord("OR")) throw lx.fail("OR is not supported; join terms with AND");
      throw lx.fail(`expected AND or the end of the filter, found '${lx.peekChar()}'`);
    }
  }
  return terms;
}

/**
 * Parses a run search filter (MLflow's grammar). An empty or absent filter gives `[]`.
 *
 * Throws CairnError INVALID_PARAMETER_VALUE for a syntax error, an unknown entity type or attribute,
 * a comparator not allowed for the key's type (`<` on a param, LIKE on a metric), or a value of the
 * wrong kind (a string for a metric, a number for a tag).
 * @example parseRunFilter("metrics.acc > 0.9 and params.`learning rate` = '0.01'")
 */
export function parseRunFilter(s: string | undefined): RunFilter {
  return parseFilter(s, "run");
}

/**
 * Parses an experiment search filter: `name`, `experiment_id`, `creation_time`, `last_update_time`,
 * `lifecycle_stage` attributes and `tags.<key>`. Throws CairnError INVALID_PARAMETER_VALUE as `parseRunFilter`.
 * @example parseExperimentFilter("name LIKE 'prod-%' and tags.team = 'vision'")
 */
export function parseExperimentFilter(s: string | undefined): ExperimentFilter {
  return parseFilter(s, "experiment");
}

// ---------------------------------------------------------------- order by

/**
 * Parses order_by clauses such as `metrics.acc DESC`, `attributes.start_time`, `params.lr ASC`,
 * `tags.x` or a bare attribute (`start_time`). Ascending is the default.
 * Runs may order by metrics, params, tags and run attributes; experiments by their attributes.
 * Throws CairnError INVALID_PARAMETER_VALUE for anything else.
 * @example parseOrderBy(["metrics.acc DESC", "start_time"], "run")
 */
export function parseOrderBy(list: readonly string[] | undefined, kind: "run" | "experiment"): OrderKey[] {
  const out: OrderKey[] = [];
  for (const clause of list ?? []) {
    if (clause.trim() === "") continue;
    const lx = new Lexer(clause, "order_by clause");
    const id = lx.readIdentifier();
    let { type, key } = resolveIdentifier(lx, id, kind);
    if (type === "dataset" || (kind === "experiment" && type !== "attribute" && type !== "tag")) {
      throw lx.fail(`cannot order ${kind}s by ${type}s`, id.pos);
    }
    if (type === "attribute") key = attributeSpec(lx, key, kind, id.pos).column;
    else if (kind === "run" && type === "tag" && key === "mlflow.runName") {
      type = "attribute";
      key = "run_name";
    }
    let ascending = true;
    if (lx.tryWord("DESC")) ascending = false;
    else lx.tryWord("ASC");
    if (!lx.atEnd()) throw lx.fail(`expected ASC, DESC or the end of the clause, found '${lx.peekChar()}'`);
    out.push({ type, key, ascending });
  }
  return out;
}

// ---------------------------------------------------------------- page tokens

/**
 * Encodes a result offset as an opaque page token (base64url JSON).
 * @example encodePageToken(100) // "eyJvIjoxMDB9"
 */
export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset }), "utf8").toString("base64url");
}

/**
 * Decodes a page token from `encodePageToken`; an absent or empty token is offset 0.
 * Throws CairnError INVALID_PARAMETER_VALUE for a token that was not made by `encodePageToken`.
 */
export function decodePageToken(token: string | undefined | null): number {
  if (token === undefined || token === null || token === "") return 0;
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error("not base64url");
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid(`Invalid page token '${token.slice(0, 100)}'`);
  }
  const o = (parsed as { o?: unknown } | null)?.o;
  if (typeof o !== "number" || !Number.isSafeInteger(o) || o < 0) throw invalid(`Invalid page token '${token.slice(0, 100)}'`);
  return o;
}
