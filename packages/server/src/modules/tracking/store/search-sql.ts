import { sql } from "kysely";
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
    case "LIKE":
      return sql`${column} LIKE ${String(value)}`;
    case "ILIKE":
      return pg ? sql`${column} ILIKE ${String(value)}` : sql`lower(${column}) LIKE lower(${String(value)})`;
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

/**
 * Builds the page query of a run search: rows of `runs`, filtered, ordered and limited to `limit + 1`.
 * @example buildRunSearchSql({ experimentIds: ["1"], filter, orderBy, viewType: "ACTIVE_ONLY", offset: 0, limit: 100 }, false)
 */
export function buildRunSearchSql(
  q: { experimentIds: readonly string[]; filter: readonly Comparison[]; orderBy: readonly OrderKey[]; viewType: ViewType; offset: number; limit: number },
  pg: boolean,
): RawBuilder<RunRow> {
  const joins: Frag[] = [];
  const where: Frag[] = [];
  const order: Frag[] = [];
  // Aliases of inner joins per (type, key), reused by order keys on the same key.
  const joined = new Map<string, string>();
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
        break;
      }
      case "metric":
      case "param":
      case "tag": {
        const table = RUN_TABLES[c.type];
        if (c.comparator === "IS NULL") {
          where.push(sql`NOT EXISTS (SELECT 1 FROM ${sql.table(table)} x WHERE x.run_id = r.run_id AND x.key = ${c.key})`);
          break;
        }
        const alias = `f${n++}`;
        const cond = c.comparator === "IS NOT NULL" ? sql`1 = 1` : compareSql(sql.ref(`${alias}.value`), c.comparator, c.value, pg);
        joins.push(sql`JOIN ${sql.table(table)} ${sql.raw(alias)} ON ${sql.ref(`${alias}.run_id`)} = r.run_id AND ${sql.ref(`${alias}.key`)} = ${c.key} AND ${cond}`);
        // A comparison (not IS NOT NULL) also guarantees a non-null value, so ordering needs no rank.
        const mapKey = `${c.type}\u0000${c.key}`;
        if (c.comparator !== "IS NOT NULL" && !joined.has(mapKey)) joined.set(mapKey, alias);
        break;
      }
      case "dataset": {
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

  for (const o of q.orderBy) {
    if (o.type === "attribute") {
      const col = RUN_COLUMNS[o.key];
      if (!col) throw unsupported(`order by attribute ${o.key}`);
      if (NULLABLE_RUN_COLUMNS.has(col)) order.push(sql`CASE WHEN ${r(col)} IS NULL THEN 1 ELSE 0 END`);
      order.push(sql`${r(col)} ${dir(o.ascending)}`);
      continue;
    }
    if (o.type === "dataset") throw unsupported("order by dataset");
    const reuse = joined.get(`${o.type}\u0000${o.key}`);
    if (reuse) {
      order.push(sql`${sql.ref(`${reuse}.value`)} ${dir(o.ascending)}`);
      continue;
    }
    const alias = `o${n++}`;
    const table = RUN_TABLES[o.type];
    joins.push(sql`LEFT JOIN ${sql.table(table)} ${sql.raw(alias)} ON ${sql.ref(`${alias}.run_id`)} = r.run_id AND ${sql.ref(`${alias}.key`)} = ${o.key}`);
    if (o.type === "metric") {
      order.push(sql`CASE WHEN ${sql.ref(`${alias}.series_id`)} IS NULL THEN 2 WHEN ${sql.ref(`${alias}.value`)} IS NULL THEN 1 ELSE 0 END`);
    } else {
      order.push(sql`CASE WHEN ${sql.ref(`${alias}.value`)} IS NULL THEN 1 ELSE 0 END`);
    }
    order.push(sql`${sql.ref(`${alias}.value`)} ${dir(o.ascending)}`);
  }
  order.push(sql`r.start_time DESC`, sql`r.run_id ASC`);

  return sql<RunRow>`SELECT r.run_id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage
FROM runs r ${sql.join(joins, sql` `)}
WHERE ${sql.join(where, sql` AND `)}
ORDER BY ${sql.join(order)}
LIMIT ${q.limit + 1} OFFSET ${q.offset}`;
}

/**
 * Builds the page query of an experiment search, limited to `limit + 1` rows.
 * Default order: creation_time DESC, then experiment_id ASC (also the final tiebreak).
 */
export function buildExperimentSearchSql(
  q: { filter: readonly Comparison[]; orderBy: readonly OrderKey[]; viewType: ViewType; offset: number; limit: number },
  pg: boolean,
): RawBuilder<ExperimentRow> {
  const joins: Frag[] = [];
  const where: Frag[] = [viewTypeSql("e", q.viewType)];
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
