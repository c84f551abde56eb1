import { CairnError } from "@cairn/contract";

/** One term of a registry search filter. `tag` terms carry the tag key. */
export type RegistryFilterTerm =
  | { field: "name" | "run_id" | "source_path"; op: "=" | "!=" | "LIKE" | "ILIKE"; value: string }
  | { field: "tag"; key: string; op: "=" | "!=" | "LIKE" | "ILIKE"; value: string }
  | { field: "version_number"; op: "=" | "!=" | "<" | "<=" | ">" | ">="; value: number };

export type RegistryOrderField = "name" | "last_updated_timestamp" | "creation_timestamp" | "version_number";
export interface RegistryOrderKey {
  field: RegistryOrderField;
  asc: boolean;
}

type Kind = "model" | "version";
const STRING_OPS = new Set(["=", "!=", "LIKE", "ILIKE"]);
const NUMBER_OPS = new Set(["=", "!=", "<", "<=", ">", ">="]);
const FIELDS: Record<Kind, Set<string>> = {
  model: new Set(["name"]),
  version: new Set(["name", "run_id", "source_path", "version_number"]),
};

const invalid = (msg: string) => new CairnError("INVALID_PARAMETER_VALUE", msg);

/**
 * Parses the subset of MLflow's registry filter grammar Cairn supports: terms joined by `AND`, each
 * `<field> <op> <value>` where the field is `name` or `tags.<key>` (models), plus `run_id`,
 * `source_path` and `version_number` (versions). Strings are quoted with `'` or `"`, tag keys may be
 * backquoted, operators are `=`, `!=`, `LIKE`, `ILIKE` (and `<`, `<=`, `>`, `>=` for `version_number`).
 * @throws CairnError INVALID_PARAMETER_VALUE naming what is wrong
 * @example parseRegistryFilter("name LIKE 'fraud%' and tags.team = 'risk'", "model")
 */
export function parseRegistryFilter(filter: string | undefined, kind: Kind): RegistryFilterTerm[] {
  const s = filter?.trim() ?? "";
  if (s === "") return [];
  const terms: RegistryFilterTerm[] = [];
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  const word = (): string => {
    const m = /^[A-Za-z_][\w.]*/.exec(s.slice(i));
    if (!m) throw invalid(`Invalid filter '${s}': expected a field at position ${i}`);
    i += m[0].length;
    return m[0];
  };
  const quoted = (q: string): string => {
    let out = "";
    i++;
    while (i < s.length) {
      const c = s[i]!;
      if (c === q) {
        // A doubled quote is a literal quote, as in SQL.
        if (s[i + 1] === q) {
          out += q;
          i += 2;
          continue;
        }
        i++;
        return out;
      }
      if (c === "\\" && i + 1 < s.length) {
        out += s[i + 1];
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
    throw invalid(`Invalid filter '${s}': unterminated string`);
  };
  for (;;) {
    ws();
    let field: string;
    let key: string | undefined;
    if (/^tags\./i.test(s.slice(i))) {
      i += 5;
      if (s[i] === "`") key = quoted("`");
      else if (s[i] === '"' || s[i] === "'") key = quoted(s[i]!);
      else {
        const m = /^[\w.\-:/]+/.exec(s.slice(i));
        key = m?.[0] ?? "";
        i += key.length;
      }
      if (!key) throw invalid(`Invalid filter '${s}': a tag key is missing after 'tags.'`);
      field = "tag";
    } else {
      field = word().toLowerCase();
      if (field.startsWith("attributes.")) field = field.slice("attributes.".length);
      if (!FIELDS[kind].has(field)) {
        throw invalid(`Invalid filter '${s}': unknown field '${field}'; ${kind === "model" ? "registered models" : "model versions"} can be filtered by ${[...FIELDS[kind], "tags.<key>"].join(", ")}`);
      }
    }
    ws();
    const opMatch = /^(!=|<=|>=|=|<|>|ILIKE\b|LIKE\b)/i.exec(s.slice(i));
    if (!opMatch) throw invalid(`Invalid filter '${s}': expected an operator at position ${i}`);
    const op = opMatch[0].toUpperCase();
    i += opMatch[0].length;
    ws();
    if (field === "version_number") {
      const m = /^("?)(\d+)\1/.exec(s.slice(i)) ?? /^(')(\d+)'/.exec(s.slice(i));
      if (!m || !NUMBER_OPS.has(op)) throw invalid(`Invalid filter '${s}': version_number takes =, !=, <, <=, > or >= and an integer`);
      i += m[0].length;
      terms.push({ field: "version_number", op: op as "=", value: Number(m[2]) });
    } else {
      if (!STRING_OPS.has(op)) throw invalid(`Invalid filter '${s}': '${field === "tag" ? `tags.${key}` : field}' takes =, !=, LIKE or ILIKE`);
      const q = s[i];
      if (q !== "'" && q !== '"') throw invalid(`Invalid filter '${s}': expected a quoted string at position ${i}`);
      const value = quoted(q);
      if (field === "tag") terms.push({ field: "tag", key: key!, op: op as "=", value });
      else terms.push({ field: field as "name", op: op as "=", value });
    }
    ws();
    if (i >= s.length) return terms;
    const and = /^AND\b/i.exec(s.slice(i));
    if (!and) throw invalid(`Invalid filter '${s}': expected AND at position ${i}`);
    i += 3;
  }
}

const ORDER_FIELDS: Record<Kind, Set<RegistryOrderField>> = {
  model: new Set(["name", "last_updated_timestamp", "creation_timestamp"]),
  version: new Set(["name", "last_updated_timestamp", "creation_timestamp", "version_number"]),
};

/**
 * Parses `order_by` clauses such as `name ASC` or `last_updated_timestamp DESC` (ASC by default;
 * `timestamp` is accepted for `last_updated_timestamp`, as in MLflow).
 * @throws CairnError INVALID_PARAMETER_VALUE for an unknown field or direction, or a repeated field
 */
export function parseRegistryOrderBy(list: readonly string[] | undefined, kind: Kind): RegistryOrderKey[] {
  const out: RegistryOrderKey[] = [];
  for (const clause of list ?? []) {
    const m = /^\s*(?:attributes\.)?([A-Za-z_]+)(?:\s+(ASC|DESC))?\s*$/i.exec(clause);
    let field = m?.[1]?.toLowerCase();
    if (field === "timestamp") field = "last_updated_timestamp";
    if (!m || !field || !ORDER_FIELDS[kind].has(field as RegistryOrderField)) {
      throw invalid(`Invalid order_by clause '${clause}': expected one of ${[...ORDER_FIELDS[kind]].join(", ")}, then ASC or DESC`);
    }
    if (out.some((k) => k.field === field)) throw invalid(`Invalid order_by: '${field}' appears twice`);
    out.push({ field: field as RegistryOrderField, asc: (m[2] ?? "ASC").toUpperCase() === "ASC" });
  }
  return out;
}
