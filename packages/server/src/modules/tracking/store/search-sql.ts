import { sql } from "kysely";
import { DEFAULT_PROJECT, PROJECT_TAG } from "@cairn/contract";
import type { RawBuilder } from "kysely";
import type { ViewType } from "@cairn/contract";
import type { Comparator, Comparison, OrderKey } from "../search/filter-ast.js";

/**
 * Translation of the search AST to SQL shared by SQLite and PostgreSQL.
 *
 * Filters on metrics, params and tags that imply the key exists become inner joins on the
 * unique (run_id, key) rows, which lets the planner drive the query from the most selective
 * index (`latest_metrics(key, value)`, `params(key, value)`, ...). `IS NULL` becomes NOT EXISTS.
 * Order keys on metrics, params and tags are left joins; missing values sort last in both
 * directions, and for metrics NaN sorts after numbers but before missing (MLflow's order).
 */

type Frag = RawBuilder<unknown>;

/** A `runs` row as the search returns it. */
export interface RunRow {
  run_id: string;
  experiment_id: number;
  name: string;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  artifact_uri: string;
  lifecycle_stage: string;
}

/** An `experiments` row as the search returns it. */
export interface ExperimentRow {
  experiment_id: number;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  creation_time: number;
  last_update_time: number;
}

const RUN_COLUMNS: Record<string, string> = {
  run_id: "run_id",
  run_name: "name",
  status: "status",
  user_id: "user_id",
  artifact_uri: "artifact_uri",
  lifecycle_stage: "lifecycle_stage",
  start_time: "start_time",
  end_time: "end_time",
};
const NULLABLE_RUN_COLUMNS = new Set(["end_time"]);

const EXPERIMENT_COLUMNS: Record<string, string> = {
  name: "name",
  experiment_id: "experiment_id",
  lifecycle_stage: "lifecycle_stage",
  creation_time: "creation_time",
  last_update_time: "last_update_time",
};

const DATASET_CONTEXT_TAG = "mlflow.data.context";

function unsupported(what: string): Error {
  // The parser rejects these first; reaching here means a hand-built AST.
  return new Error(`Unsupported search term: ${what}`);
}

/** `column <comparator> value` for one comparison. */
export function compareSql(column: Frag, comparator: Comparator, value: Comparison["value"], pg: boolean): Frag {
  switch (comparator) {
    case "=":
    case "!=":
    case "<":
    case "<=":
    case ">":
    case ">=":
      if (value === null || Array.isArray(value)) throw unsupported(`${comparator} with a list`);
      return sql`${column} ${sql.raw(comparator)} ${value}`;
    // PostgreSQL treats backslash as LIKE's escape character by default; SQLite has none. ESCAPE ''
    // makes both read patterns the same way (MLflow's grammar has no escape either).
    case "LIKE":
      return pg ? sql`${column} LIKE ${String(value)} ESCAPE ''` : sql`${column} LIKE ${String(value)}`;
    case "ILIKE":
      return pg ? sql`${column} ILIKE ${String(value)} ESCAPE ''` : sql`lower(${column}) LIKE lower(${String(value)})`;
    case "IN":
    case "NOT IN": {
      const list = Array.isArray(value) ? value : [value];
      if (list.length === 0) return comparator === "IN" ? sql`1 = 0` : sql`1 = 1`;
      return sql`${column} ${sql.raw(comparator)} (${sql.join(list.map((v) => sql`${v}`))})`;
    }
    case "IS NULL":
      return sql`${column} IS NULL`;
    case "IS NOT NULL":
      return sql`${column} IS NOT NULL`;
  }
}

function viewTypeSql(alias: string, viewType: ViewType): Frag {
  if (viewType === "ALL") return sql`1 = 1`;
  return sql`${sql.ref(`${alias}.lifecycle_stage`)} = ${viewType === "DELETED_ONLY" ? "deleted" : "active"}`;
}

function integerIds(ids: readonly (string | number)[]): number[] {
  return ids.map((v) => String(v)).filter((v) => /^-?\d{1,15}$/.test(v)).map(Number);
}

/** Direction keyword; the CASE rank keeps missing values last in both directions. */
function dir(ascending: boolean): Frag {
  return sql.raw(ascending ? "ASC" : "DESC");
}

interface KeyTables {
  metric: string;
  param: string;
  tag: string;
}

const RUN_TABLES: KeyTables = { metric: "latest_metrics", param: "params", tag: "run_tags" };

type KeyedType = keyof KeyTables;

/** A filter on a metric, param or tag that implies the key exists: an inner join on its (run_id, key) row. */
export interface KeyFilter {
  alias: string;
  type: KeyedType;
  key: string;
  comparison: Comparison;
  /** The condition on `<alias>.value` (true for IS NOT NULL). */
  cond: Frag;
  /** Whether an index range on (key, value) can find the matching rows (for selectivity estimates). */
  sargable: boolean;
}

/** The run search query in parts; see `buildRunSearch`. */
export interface RunSearch {
  /** Key filters, for selectivity estimates. */
  keyFilters: KeyFilter[];
  /** Attribute and dataset terms, and whether one of them pins run ids (very selective). */
  otherTerms: number;
  pinsRunIds: boolean;
  /**
   * Which index an order walk would read: the first order key's (key, value) index, or the runs
   * index by start time (single experiment, one lifecycle stage). Undefined when no walk is possible.
   */
  walk: { kind: "key"; filter: KeyFilter | undefined; type: KeyedType; key: string } | { kind: "runs" } | undefined;
  /** The page of rows whose first order key has a value (all rows when there is no such split). */
  first(offset: number, limit: number, forceWalk: boolean): RawBuilder<RunRow>;
  /** Rows without a value for the first order key, which sort after all others; absent when none can exist. */
  rest: { page(offset: number, limit: number): RawBuilder<RunRow>; countFirst(): RawBuilder<{ n: number }> } | undefined;
}

const SARGABLE: Comparator[] = ["=", "<", "<=", ">", ">=", "IN", "IS NOT NULL"];

/**
 * Builds a run search: `runs` rows, filtered, ordered (MLflow's rules) and paged.
 *
 * When the first order key is a metric, param or tag, the result is split in two ordered parts:
 * runs that have a (non-NaN) value for it, in value order, then runs without one (NaN before missing
 * for metrics), each part in the remaining order keys and the start_time DESC, run_id tiebreak.
 * The first part is an inner join, so a database can answer it by walking the key's (key, value)
 * index in order and stop after one page, instead of sorting every candidate run.
 * `forceWalk` (SQLite) fixes that join order with CROSS JOIN; the caller decides when it pays.
 * @example buildRunSearch({ experimentIds: ["1"], filter, orderBy, viewType: "ACTIVE_ONLY" }, false).first(0, 100, false)
 */
export function buildRunSearch(
  q: { experimentIds: readonly string[]; filter: readonly Comparison[]; orderBy: readonly OrderKey[]; viewType: ViewType },
  pg: boolean,
): RunSearch {
  const where: Frag[] = [];
  const keyFilters: KeyFilter[] = [];
  let otherTerms = 0;
  let pinsRunIds = false;
  let n = 0;
  const r = (col: string) => sql.ref(`r.${col}`);

  const ids = integerIds(q.experimentIds);
  where.push(ids.length ? sql`r.experiment_id IN (${sql.join(ids.map((id) => sql`${id}`))})` : sql`1 = 0`);
  where.push(viewTypeSql("r", q.viewType));

  for (const c of q.filter) {
    switch (c.type) {
      case "attribute": {
        const col = RUN_COLUMNS[c.key];
        if (!col) throw unsupported(`attribute ${c.key}`);
        where.push(compareSql(r(col), c.comparator, c.value, pg));
        otherTerms++;
        if (col === "run_id" && (c.comparator === "=" || c.comparator === "IN")) pinsRunIds = true;
        break;
      }
      case "metric":
      case "param":
      case "tag": {
        const table = RUN_TABLES[c.type];
        if (c.comparator === "IS NULL") {
          where.push(sql`NOT EXISTS (SELECT 1 FROM ${sql.table(table)} x WHERE x.run_id = r.run_id AND x.key = ${c.key})`);
          otherTerms++;
          break;
        }
        const alias = `f${n++}`;
        const cond = c.comparator === "IS NOT NULL" ? sql`1 = 1` : compareSql(sql.ref(`${alias}.value`), c.comparator, c.value, pg);
        keyFilters.push({ alias, type: c.type, key: c.key, comparison: c, cond, sargable: SARGABLE.includes(c.comparator) });
        break;
      }
      case "dataset": {
        otherTerms++;
        if (c.key === "context") {
          const cond = compareSql(sql.ref("t.value"), c.comparator, c.value, pg);
          where.push(sql`EXISTS (SELECT 1 FROM run_inputs i JOIN run_input_tags t ON t.input_id = i.input_id AND t.key = ${DATASET_CONTEXT_TAG} WHERE i.run_id = r.run_id AND ${cond})`);
        } else if (c.key === "name" || c.key === "digest") {
          const cond = compareSql(sql.ref(`d.${c.key}`), c.comparator, c.value, pg);
          where.push(sql`EXISTS (SELECT 1 FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id WHERE i.run_id = r.run_id AND ${cond})`);
        } else {
          throw unsupported(`dataset field ${c.key}`);
        }
        break;
      }
    }
  }

  const joinOn = (alias: string, key: string) => sql`${sql.ref(`${alias}.run_id`)} = r.run_id AND ${sql.ref(`${alias}.key`)} = ${key}`;
  const filterJoin = (f: KeyFilter, op: "JOIN" | "CROSS JOIN") =>
    sql`${sql.raw(op)} ${sql.table(RUN_TABLES[f.type])} ${sql.raw(f.alias)} ON ${joinOn(f.alias, f.key)} AND ${f.cond}`;
  // A comparison on a key (anything but IS NOT NULL) guarantees a non-null value on that join.
  const valueFilter = (type: KeyedType, key: string) => keyFilters.find((f) => f.type === type && f.key === key && f.comparison.comparator !== "IS NOT NULL");

  /** ORDER BY terms for order keys after the first split key, with their left joins. */
  const orderTerms = (keys: readonly OrderKey[], joins: Frag[]): Frag[] => {
    const out: Frag[] = [];
    for (const o of keys) {
      if (o.type === "attribute") {
        const col = RUN_COLUMNS[o.key];
        if (!col) throw unsupported(`order by attribute ${o.key}`);
        if (NULLABLE_RUN_COLUMNS.has(col)) out.push(sql`CASE WHEN ${r(col)} IS NULL THEN 1 ELSE 0 END`);
        out.push(sql`${r(col)} ${dir(o.ascending)}`);
        continue;
      }
      if (o.type === "dataset") throw unsupported("order by dataset");
      const reuse = valueFilter(o.type, o.key);
      if (reuse) {
        out.push(sql`${sql.ref(`${reuse.alias}.value`)} ${dir(o.ascending)}`);
        continue;
      }
      const alias = `o${n++}`;
      joins.push(sql`LEFT JOIN ${sql.table(RUN_TABLES[o.type])} ${sql.raw(alias)} ON ${joinOn(alias, o.key)}`);
      if (o.type === "metric") out.push(sql`CASE WHEN ${sql.ref(`${alias}.run_id`)} IS NULL THEN 2 WHEN ${sql.ref(`${alias}.value`)} IS NULL THEN 1 ELSE 0 END`);
      else out.push(sql`CASE WHEN ${sql.ref(`${alias}.value`)} IS NULL THEN 1 ELSE 0 END`);
      out.push(sql`${sql.ref(`${alias}.value`)} ${dir(o.ascending)}`);
    }
    out.push(sql`r.start_time DESC`, sql`r.run_id ASC`);
    return out;
  };

  const select = (from: Frag, joins: Frag[], extraWhere: Frag[], order: Frag[], offset: number, limit: number) =>
    sql<RunRow>`SELECT r.run_id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage
FROM ${from} ${sql.join(joins, sql` `)}
WHERE ${sql.join([...where, ...extraWhere], sql` AND `)}
ORDER BY ${sql.join(order)}
LIMIT ${limit} OFFSET ${offset}`;

  const head = q.orderBy[0];
  if (head && head.type !== "attribute" && head.type !== "dataset") {
    const type = head.type;
    const table = RUN_TABLES[type];
    const existing = valueFilter(type, head.key);
    const splitAlias = existing?.alias ?? `o${n++}`;
    const splitValue = sql.ref(`${splitAlias}.value`);
    const others = keyFilters.filter((f) => f !== existing);
    const tailKeys = q.orderBy.slice(1);
    const search: RunSearch = {
      keyFilters,
      otherTerms,
      pinsRunIds,
      walk: { kind: "key", filter: existing, type, key: head.key },
      first(offset, limit, forceWalk) {
        const joins: Frag[] = [];
        const splitCond = existing ? existing.cond : sql`${splitValue} IS NOT NULL`;
        let from: Frag;
        if (forceWalk) {
          // CROSS JOIN keeps this order in SQLite: walk the key's index, then look up each run.
          from = sql`${sql.table(table)} ${sql.raw(splitAlias)} CROSS JOIN runs r ON ${joinOn(splitAlias, head.key)} AND ${splitCond}`;
          for (const f of others) joins.push(filterJoin(f, "CROSS JOIN"));
        } else {
          from = sql`runs r JOIN ${sql.table(table)} ${sql.raw(splitAlias)} ON ${joinOn(splitAlias, head.key)} AND ${splitCond}`;
          for (const f of others) joins.push(filterJoin(f, "JOIN"));
        }
        const order = [sql`${splitValue} ${dir(head.ascending)}`, ...orderTerms(tailKeys, joins)];
        return select(from, joins, [], order, offset, limit);
      },
      rest: existing
        ? undefined
        : {
            page(offset, limit) {
              const joins: Frag[] = keyFilters.map((f) => filterJoin(f, "JOIN"));
              joins.push(sql`LEFT JOIN ${sql.table(table)} ${sql.raw(splitAlias)} ON ${joinOn(splitAlias, head.key)}`);
              const missing = sql.ref(`${splitAlias}.run_id`);
              const extra = type === "metric" ? [sql`(${missing} IS NULL OR ${splitValue} IS NULL)`] : [sql`${missing} IS NULL`];
              const order = type === "metric" ? [sql`CASE WHEN ${missing} IS NULL THEN 1 ELSE 0 END`] : [];
              order.push(...orderTerms(tailKeys, joins));
              return select(sql`runs r`, joins, extra, order, offset, limit);
            },
            countFirst() {
              const joins: Frag[] = keyFilters.map((f) => filterJoin(f, "JOIN"));
              return sql<{ n: number }>`SELECT count(*) AS n FROM runs r JOIN ${sql.table(table)} ${sql.raw(splitAlias)} ON ${joinOn(splitAlias, head.key)} AND ${splitValue} IS NOT NULL ${sql.join(joins, sql` `)}
WHERE ${sql.join(where, sql` AND `)}`;
            },
          },
    };
    return search;
  }

  // Ordered by attributes only: one query. Walking the runs index by start time is possible only
  // when the index prefix (experiment_id, lifecycle_stage) is fixed.
  const byStart = !head || (head.type === "attribute" && head.key === "start_time");
  const walkRuns = byStart && ids.length === 1 && q.viewType !== "ALL";
  return {
    keyFilters,
    otherTerms,
    pinsRunIds,
    walk: walkRuns ? { kind: "runs" } : undefined,
    first(offset, limit, forceWalk) {
      const joins = keyFilters.map((f) => filterJoin(f, forceWalk ? "CROSS JOIN" : "JOIN"));
      const order = head ? orderTerms(q.orderBy, joins) : orderTerms([], joins);
      return select(sql`runs r`, joins, [], order, offset, limit);
    },
    rest: undefined,
  };
}

/**
 * A bounded count of the rows matching one key filter, for selectivity estimates (SQLite's planner
 * does not weigh an ORDER BY ... LIMIT that an index can satisfy, so the store decides).
 */
export function keyFilterCountSql(f: KeyFilter, cap: number): RawBuilder<{ n: number }> {
  return sql<{ n: number }>`SELECT count(*) AS n FROM (SELECT 1 FROM ${sql.table(RUN_TABLES[f.type])} ${sql.raw(f.alias)} WHERE ${sql.ref(`${f.alias}.key`)} = ${f.key} AND ${f.cond} LIMIT ${cap}) c`;
}

/** A bounded count of rows having a key (the walk range of an order key without a filter). */
export function keyCountSql(type: KeyedType, key: string, cap: number): RawBuilder<{ n: number }> {
  return sql<{ n: number }>`SELECT count(*) AS n FROM (SELECT 1 FROM ${sql.table(RUN_TABLES[type])} WHERE key = ${key} LIMIT ${cap}) c`;
}

/** A bounded count of the candidate runs (experiments and lifecycle stage only). */
export function candidateRunsCountSql(experimentIds: readonly string[], viewType: ViewType, cap: number): RawBuilder<{ n: number }> {
  const ids = integerIds(experimentIds);
  const inList = ids.length ? sql`r.experiment_id IN (${sql.join(ids.map((id) => sql`${id}`))})` : sql`1 = 0`;
  return sql<{ n: number }>`SELECT count(*) AS n FROM (SELECT 1 FROM runs r WHERE ${inList} AND ${viewTypeSql("r", viewType)} LIMIT ${cap}) c`;
}

/**
 * Builds the page query of an experiment search, limited to `limit + 1` rows.
 * Default order: creation_time DESC, then experiment_id ASC (also the final tiebreak).
 */
export function buildExperimentSearchSql(
  q: { filter: readonly Comparison[]; orderBy: readonly OrderKey[]; viewType: ViewType; offset: number; limit: number; projects?: readonly string[] | undefined },
  pg: boolean,
): RawBuilder<ExperimentRow> {
  const joins: Frag[] = [];
  const where: Frag[] = [viewTypeSql("e", q.viewType)];
  if (q.projects !== undefined) {
    where.push(
      q.projects.length === 0
        ? sql`1 = 0`
        : sql`COALESCE((SELECT p.value FROM experiment_tags p WHERE p.experiment_id = e.experiment_id AND p.key = ${PROJECT_TAG}), ${DEFAULT_PROJECT}) IN (${sql.join(q.projects.map((x) => sql`${x}`))})`,
    );
  }
  const order: Frag[] = [];
  let n = 0;
  const e = (col: string) => sql.ref(`e.${col}`);

  for (const c of q.filter) {
    if (c.type === "attribute") {
      const col = EXPERIMENT_COLUMNS[c.key];
      if (!col) throw unsupported(`experiment attribute ${c.key}`);
      if (col === "experiment_id") {
        const list = integerIds(Array.isArray(c.value) ? c.value : c.value === null ? [] : [c.value]);
        if (c.comparator === "=" || c.comparator === "IN") where.push(list.length ? compareSql(e(col), "IN", list, pg) : sql`1 = 0`);
        else if (c.comparator === "!=" || c.comparator === "NOT IN") where.push(list.length ? compareSql(e(col), "NOT IN", list, pg) : sql`1 = 1`);
        else throw unsupported(`experiment_id ${c.comparator}`);
        continue;
      }
      where.push(compareSql(e(col), c.comparator, c.value, pg));
    } else if (c.type === "tag") {
      if (c.comparator === "IS NULL") {
        where.push(sql`NOT EXISTS (SELECT 1 FROM experiment_tags x WHERE x.experiment_id = e.experiment_id AND x.key = ${c.key})`);
        continue;
      }
      const alias = `f${n++}`;
      const cond = c.comparator === "IS NOT NULL" ? sql`1 = 1` : compareSql(sql.ref(`${alias}.value`), c.comparator, c.value, pg);
      joins.push(sql`JOIN experiment_tags ${sql.raw(alias)} ON ${sql.ref(`${alias}.experiment_id`)} = e.experiment_id AND ${sql.ref(`${alias}.key`)} = ${c.key} AND ${cond}`);
    } else {
      throw unsupported(`experiment filter on ${c.type}`);
    }
  }

  const keys = q.orderBy.length ? q.orderBy : [{ type: "attribute", key: "creation_time", ascending: false } as OrderKey];
  for (const o of keys) {
    if (o.type === "attribute") {
      const col = EXPERIMENT_COLUMNS[o.key];
      if (!col) throw unsupported(`order by experiment attribute ${o.key}`);
      order.push(sql`${e(col)} ${dir(o.ascending)}`);
    } else if (o.type === "tag") {
      const alias = `o${n++}`;
      joins.push(sql`LEFT JOIN experiment_tags ${sql.raw(alias)} ON ${sql.ref(`${alias}.experiment_id`)} = e.experiment_id AND ${sql.ref(`${alias}.key`)} = ${o.key}`);
      order.push(sql`CASE WHEN ${sql.ref(`${alias}.value`)} IS NULL THEN 1 ELSE 0 END`, sql`${sql.ref(`${alias}.value`)} ${dir(o.ascending)}`);
    } else {
      throw unsupported(`order experiments by ${o.type}`);
    }
  }
  order.push(sql`e.experiment_id ASC`);

  return sql<ExperimentRow>`SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time
FROM experiments e ${sql.join(joins, sql` `)}
WHERE ${sql.join(where, sql` AND `)}
ORDER BY ${sql.join(order)}
LIMIT ${q.limit + 1} OFFSET ${q.offset}`;
}
