/**
 * The parsed form of MLflow's search grammar. The parser (`filter-parser.ts`) builds it,
 * and each store translates it to SQL.
 */

export type Comparator = "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" | "ILIKE" | "IN" | "NOT IN" | "IS NULL" | "IS NOT NULL";

/** Which family a key belongs to. `attribute` names a column (run_id, status, start_time, ...). */
export type KeyType = "metric" | "param" | "tag" | "attribute" | "dataset";

export interface Comparison {
  type: KeyType;
  key: string;
  comparator: Comparator;
  /** number for metrics and numeric attributes; string otherwise; array for IN / NOT IN; null for IS [NOT] NULL. */
  value: number | string | (number | string)[] | null;
}

/** Terms joined with AND (MLflow supports no OR). */
export type RunFilter = Comparison[];
export type ExperimentFilter = Comparison[];

export interface OrderKey {
  type: KeyType;
  key: string;
  ascending: boolean;
}
