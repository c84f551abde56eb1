import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { CairnError } from "@cairn/contract";
import { sqlIdent, type DriftSample } from "./drift-sql.js";

/** Bumped when the layout changes: a profile of another format is rebuilt. */
const PROFILE_FORMAT = 1;
/** The Parquet key-value metadata entry that holds a profile's description. */
const META_KEY = "cairn_drift_profile";

/** Types stored in Parquet as they are (they read back as themselves, or cast back exactly); any other type is stored as its text. */
const NATIVE_TYPE = /^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|VARCHAR)$/;
/** Numeric types are read back cast to their own type, so `CAST(… AS DOUBLE)` sees the very values the file had (HUGEINT from its exact text). */
const NUMERIC_TYPE = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$/;
const FLOATING_TYPE = /^(FLOAT|DOUBLE)$/;

/** What a profile's metadata says of it. */
interface ProfileMeta {
  format: number;
  /** The key it was built for (a dataset version's id and file path). */
  key: string;
  /** `NAME@vN/PATH`, the reference's source in reports. */
  label: string;
  /** Rows of the file, NULLs included. */
  rows: number;
  /** The weight (count) column's name, unlike any column's. */
  weight: string;
  /** The file's columns in order: name, DuckDB type, non-NULL values, and for FLOAT and DOUBLE the column flagging −0.0. */
  columns: { name: string; type: string; count: number; negativeZero?: string }[];
}

/** A stored reference profile, ready to be a drift reference. */
export interface ReferenceProfile {
  /** The weighted relation (`drift-sql.ts`) over the profile: the file's columns, their distinct values, and counts. */
  sample: DriftSample;
  /** The file's columns and their DuckDB types, as `TabularEngine.withRelation` gives them. */
  columns: string[];
  types: string[];
  /** Rows of the file, NULLs included. */
  rows: number;
  label: string;
  /** The profile's Parquet file. */
  file: string;
  /** Whether this call built it (false: an existing one was reused). */
  built: boolean;
}

/** A relation of a tabular file, as `TabularEngine.withRelation` gives it. */
export interface TabularRelation {
  name: string;
  columns: string[];
  types: string[];
}

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** `base`, prefixed with underscores until no name in `taken` is the same; then taken. */
function freshName(base: string, taken: Set<string>): string {
  let n = base;
  while (taken.has(n)) n = `_${n}`;
  taken.add(n);
  return n;
}

/**
 * Writes the profile of a tabular relation to `target` (Parquet) in one `COPY`: one row per distinct
 * non-NULL value of each column with its count, the file's one scan grouped by every column at once
 * (`GROUPING SETS`); each row holds one column's value, the other columns NULL; sorted by column, then
 * value ascending. Values keep their type when Parquet stores it exactly, else they are stored as
 * their text (what the categorical tests compare); a FLOAT or DOUBLE column's −0.0 and 0.0 stay
 * apart, as their texts differ. The rows, the types and each column's count go into the file's
 * key-value metadata (counted first, in one scan).
 * @throws Error when DuckDB cannot read the relation or write the file
 */
export async function writeReferenceProfile(conn: DuckDBConnection, rel: TabularRelation, key: string, label: string, target: string): Promise<void> {
  const ids = rel.columns.map(sqlIdent);
  const counts = (await conn.runAndReadAll(`SELECT count(*) AS rows, ${ids.map((c, i) => `count(${c}) AS n${i}`).join(", ")} FROM ${rel.name}`)).getRowObjectsJS()[0]!;
  const taken = new Set(rel.columns);
  const weight = freshName("__cairn_count", taken);
  const select: string[] = [];
  const sets: string[] = [];
  const negativeZero = new Map<number, string>();
  rel.columns.forEach((name, i) => {
    const type = rel.types[i]!;
    select.push(NATIVE_TYPE.test(type) ? ids[i]! : `CAST(${ids[i]} AS VARCHAR) AS ${ids[i]}`);
    if (FLOATING_TYPE.test(type)) {
      // DuckDB groups −0.0 with 0.0, and its sort writes both as 0.0: a flag on the sign keeps them apart, and the reader restores −0.0 from it.
      const z = freshName(`__cairn_negzero_${i}`, taken);
      negativeZero.set(i, z);
      select.push(`CASE WHEN ${ids[i]} = 0 THEN signbit(CAST(${ids[i]} AS DOUBLE)) END AS ${sqlIdent(z)}`);
      sets.push(`(${ids[i]}, ${sqlIdent(z)})`);
    } else sets.push(`(${ids[i]})`);
  });
  const meta: ProfileMeta = {
    format: PROFILE_FORMAT,
    key,
    label,
    rows: Number(counts.rows),
    weight,
    columns: rel.columns.map((name, i) => ({ name, type: rel.types[i]!, count: Number(counts[`n${i}`]), ...(negativeZero.has(i) ? { negativeZero: negativeZero.get(i)! } : {}) })),
  };
  // Each group has one column's value and NULL in the others, so "some column is not NULL" drops exactly the NULL groups; ordering by every column in turn sorts by column, then value.
  await conn.run(`COPY (
      SELECT *, COUNT(*) AS ${sqlIdent(weight)} FROM (SELECT ${select.join(", ")} FROM ${rel.name})
      GROUP BY GROUPING SETS (${sets.join(", ")})
      HAVING ${ids.map((c) => `${c} IS NOT NULL`).join(" OR ")}
      ORDER BY ${ids.join(", ")}
    ) TO ${lit(target)} (FORMAT parquet, KV_METADATA {${META_KEY}: ${lit(JSON.stringify(meta))}})`);
}

/** The profile's description, checked against its data; undefined when there is no file. @throws Error when it cannot be read or does not match */
async function readMeta(conn: DuckDBConnection, file: string, key: string): Promise<ProfileMeta | undefined> {
  if (!fs.existsSync(file)) return undefined;
  const rows = (await conn.runAndReadAll(`SELECT decode(value) AS v FROM parquet_kv_metadata(${lit(file)}) WHERE decode(key) = ${lit(META_KEY)}`)).getRowObjectsJS();
  if (rows.length !== 1) throw new Error("no profile metadata");
  const meta = JSON.parse(String(rows[0]!.v)) as ProfileMeta;
  if (meta.format !== PROFILE_FORMAT || meta.key !== key || !Array.isArray(meta.columns) || meta.columns.length === 0 || typeof meta.weight !== "string" || typeof meta.rows !== "number" || typeof meta.label !== "string") throw new Error("profile metadata of another format or key");
  // Reading every column's counts back checks that the data decodes and adds up to what was counted at build.
  const w = sqlIdent(meta.weight);
  const sums = (await conn.runAndReadAll(`SELECT ${meta.columns.map((c, i) => `COALESCE(SUM(CASE WHEN ${sqlIdent(c.name)} IS NOT NULL THEN ${w} END), 0)::BIGINT AS n${i}`).join(", ")} FROM read_parquet(${lit(file)})`)).getRowObjectsJS()[0]!;
  meta.columns.forEach((c, i) => {
    if (Number(sums[`n${i}`]) !== c.count) throw new Error(`profile column '${c.name}' counts ${String(sums[`n${i}`])}, not ${c.count}`);
  });
  return meta;
}

/**
 * Stored reference profiles of dataset versions' tabular files, one Parquet file each under `dir`
 * (named by the SHA-256 of its key): per column every distinct value with its count, which is all
 * the drift tests need, so drift reads the profile instead of parsing the file again, with the same
 * results bit for bit. Versions are immutable, so a profile never goes stale. Built on first use,
 * written to a temporary name and renamed into place (a reader sees no file or a whole one, and
 * concurrent first uses each write a whole file; within a process they share one build); reused
 * afterwards; one that cannot be read, or whose counts do not add up, is rebuilt.
 */
export class ReferenceProfiles {
  readonly #dir: string;
  readonly #building = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The profile file of `key`. */
  fileOf(key: string): string {
    return path.join(this.#dir, `${createHash("sha256").update(key).digest("hex")}.parquet`);
  }

  /**
   * The profile of `key` (e.g. a dataset version's id and file path), built first when missing or
   * unreadable: `source` is then called with a `write` to call once with the file's relation and label.
   * @throws what `source` throws (e.g. CairnError for a missing or unreadable file); CairnError
   *   INTERNAL_ERROR when a profile just written cannot be read back
   */
  async open(conn: DuckDBConnection, key: string, source: (write: (rel: TabularRelation, label: string) => Promise<void>) => Promise<void>): Promise<ReferenceProfile> {
    const file = this.fileOf(key);
    const existing = await readMeta(conn, file, key).catch(() => undefined);
    if (existing) return this.#profile(file, existing, false);
    let pending = this.#building.get(file);
    if (!pending) {
      pending = this.#build(conn, key, file, source).finally(() => this.#building.delete(file));
      this.#building.set(file, pending);
    }
    await pending;
    let meta: ProfileMeta | undefined;
    try {
      meta = await readMeta(conn, file, key);
    } catch (e) {
      throw new CairnError("INTERNAL_ERROR", `The drift reference profile ${file} cannot be read back: ${(e as Error).message}`);
    }
    if (!meta) throw new CairnError("INTERNAL_ERROR", `The drift reference profile ${file} was not written`);
    return this.#profile(file, meta, true);
  }

  async #build(conn: DuckDBConnection, key: string, file: string, source: (write: (rel: TabularRelation, label: string) => Promise<void>) => Promise<void>): Promise<void> {
    await fs.promises.mkdir(this.#dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await source((rel, label) => writeReferenceProfile(conn, rel, key, label, tmp));
      await fs.promises.rename(tmp, file);
    } finally {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  #profile(file: string, meta: ProfileMeta, built: boolean): ReferenceProfile {
    const cols = meta.columns.map((c) => {
      const id = sqlIdent(c.name);
      if (!NUMERIC_TYPE.test(c.type)) return id;
      if (c.negativeZero !== undefined && FLOATING_TYPE.test(c.type)) return `CASE WHEN ${sqlIdent(c.negativeZero)} THEN CAST('-0.0' AS ${c.type}) ELSE CAST(${id} AS ${c.type}) END AS ${id}`;
      return `CAST(${id} AS ${c.type}) AS ${id}`;
    });
    return {
      sample: { relation: `(SELECT ${cols.join(", ")}, ${sqlIdent(meta.weight)} FROM read_parquet(${lit(file)}))`, weight: sqlIdent(meta.weight) },
      columns: meta.columns.map((c) => c.name),
      types: meta.columns.map((c) => c.type),
      rows: meta.rows,
      label: meta.label,
      file,
      built,
    };
  }
}
