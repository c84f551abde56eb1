import type BetterSqlite3 from "better-sqlite3";
import type { DownsampledSeries, Metric, RunInfo } from "@cairn/contract";
import type { Database } from "../../../platform/db/database.js";
import type { DownsampleOptions, LogBatchInput } from "./tracking-store.js";
import { paramConflict, prepareBatch, runNotActive, runNotFound } from "./batch.js";
import type { PreparedBatch } from "./batch.js";
import { BucketAccumulator, ROLLUP_THRESHOLD, aggregateRollups, planDownsample } from "./rollups.js";
import type { StoredPoint } from "./rollups.js";
import type { RunRow } from "./search-sql.js";
import { RUN_COLUMNS, SqlTrackingStore, toRunInfo } from "./sql-store-base.js";

/** Points per multi-row INSERT: amortises the per-statement cost (about 1.6x faster than one row each). */
const POINTS_PER_INSERT = 100;

const LATER = (a: string, b: string, step: string, ts: string, value: string) =>
  `(${a}.${step} > ${b}.${step} OR (${a}.${step} = ${b}.${step} AND (${a}.${ts} > ${b}.${ts} OR (${a}.${ts} = ${b}.${ts} AND (${a}.${value} IS NULL OR (${b}.${value} IS NOT NULL AND ${a}.${value} >= ${b}.${value}))))))`;
const MERGE_EXTREME = (a: string, b: string, op: "<" | ">") => `CASE WHEN ${a} IS NULL THEN ${b} WHEN ${b} IS NULL THEN ${a} WHEN ${b} ${op} ${a} THEN ${b} ELSE ${a} END`;

function prepareStatements(db: BetterSqlite3.Database) {
  const latestLater = LATER("excluded", "latest_metrics", "step", "timestamp", "value");
  const rollupLater = LATER("excluded", "metric_rollups", "last_step", "last_timestamp", "last_value");
  return {
    run: db.prepare(`SELECT ${RUN_COLUMNS.join(", ")} FROM runs WHERE run_id = ?`),
    runStage: db.prepare(`SELECT lifecycle_stage FROM runs WHERE run_id = ?`).pluck(),
    paramValue: db.prepare(`SELECT value FROM params WHERE run_id = ? AND key = ?`).pluck(),
    insertParam: db.prepare(`INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)`),
    upsertTag: db.prepare(`INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`),
    renameRun: db.prepare(`UPDATE runs SET name = ? WHERE run_id = ?`),
    upsertLatest: db.prepare(
      `INSERT INTO latest_metrics (run_id, key, value, timestamp, step, point_count) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, key) DO UPDATE SET
         value = CASE WHEN ${latestLater} THEN excluded.value ELSE latest_metrics.value END,
         timestamp = CASE WHEN ${latestLater} THEN excluded.timestamp ELSE latest_metrics.timestamp END,
         step = CASE WHEN ${latestLater} THEN excluded.step ELSE latest_metrics.step END,
         point_count = latest_metrics.point_count + excluded.point_count
       RETURNING series_id, point_count`,
    ).raw(),
    upsertRollup: db.prepare(
      `INSERT INTO metric_rollups (series_id, level, block, point_count, min_value, max_value, min_step, last_step, last_timestamp, last_value)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (series_id, level, block) DO UPDATE SET
         point_count = metric_rollups.point_count + excluded.point_count,
         min_value = ${MERGE_EXTREME("metric_rollups.min_value", "excluded.min_value", "<")},
         max_value = ${MERGE_EXTREME("metric_rollups.max_value", "excluded.max_value", ">")},
         min_step = CASE WHEN excluded.min_step < metric_rollups.min_step THEN excluded.min_step ELSE metric_rollups.min_step END,
         last_step = CASE WHEN ${rollupLater} THEN excluded.last_step ELSE metric_rollups.last_step END,
         last_timestamp = CASE WHEN ${rollupLater} THEN excluded.last_timestamp ELSE metric_rollups.last_timestamp END,
         last_value = CASE WHEN ${rollupLater} THEN excluded.last_value ELSE metric_rollups.last_value END`,
    ),
    seriesPoints: db.prepare(`SELECT step, timestamp, value FROM metrics WHERE series_id = ?`).raw(),
    series: db.prepare(`SELECT series_id, point_count, step FROM latest_metrics WHERE run_id = ? AND key = ?`).raw(),
    seriesMinStep: db.prepare(`SELECT min(step) FROM metrics WHERE series_id = ?`).pluck(),
    history: db.prepare(`SELECT step, timestamp, value FROM metrics WHERE series_id = ? ORDER BY step, timestamp LIMIT ? OFFSET ?`).raw(),
    rawRange: db.prepare(`SELECT step, timestamp, value FROM metrics WHERE series_id = ? AND step >= ? AND step <= ?`).raw(),
    rollupRange: db
      .prepare(
        `SELECT block, point_count, min_value, max_value, min_step, last_step, last_timestamp, last_value
         FROM metric_rollups WHERE series_id = ? AND level = ? AND block >= ? AND block <= ?`,
      )
      .raw(),
  };
}

type Statements = ReturnType<typeof prepareStatements>;
type RawRow = unknown[];

/**
 * The SQLite tracking store. Cold paths use the shared Kysely implementation; the hot paths
 * (logBatch, getRunInfo, getMetricHistory, downsampleMetric) run cached better-sqlite3 statements
 * inside one synchronous transaction, which is what makes 1000-point batches cheap.
 *
 * Throws the CairnErrors documented on `TrackingStore`.
 * @example const store = new SqliteTrackingStore(await openDatabase("sqlite:///tmp/cairn.db")) // after migrate()
 */
export class SqliteTrackingStore extends SqlTrackingStore {
  readonly backend = "sqlite" as const;
  #sqlite: BetterSqlite3.Database;
  #s: Statements;
  #insertPoints = new Map<number, BetterSqlite3.Statement>();
  #logBatchTx: BetterSqlite3.Transaction<(runId: string, prep: PreparedBatch) => void>;
  #readTx: BetterSqlite3.Transaction<(fn: () => unknown) => unknown>;

  /** Expects a migrated database (see `createTrackingStore`). */
  constructor(db: Database) {
    super(db);
    if (db.kind !== "sqlite" || !db.sqlite) throw new Error("SqliteTrackingStore needs a SQLite database");
    this.#sqlite = db.sqlite;
    this.#s = prepareStatements(this.#sqlite);
    this.#logBatchTx = this.#sqlite.transaction((runId: string, prep: PreparedBatch) => this.#writeBatch(runId, prep));
    this.#readTx = this.#sqlite.transaction((fn: () => unknown) => fn());
  }

  /**
   * Runs synchronous work on the shared connection. A Kysely transaction may be open on it across an
   * await; the work then waits for the connection instead of landing inside that transaction.
   */
  #whenIdle<T>(fn: () => T): Promise<T> {
    if (!this.#sqlite.inTransaction) {
      try {
        return Promise.resolve(fn());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.k.connection().execute(async () => fn());
  }

  /** Runs reads in one deferred transaction: a consistent snapshot even with another process writing. */
  #read<T>(fn: () => T): T {
    return this.#readTx(fn) as T;
  }

  override logBatch(runId: string, batch: LogBatchInput): Promise<void> {
    let prep: PreparedBatch;
    try {
      prep = prepareBatch(batch);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#whenIdle(() => this.#logBatchTx.immediate(runId, prep));
  }

  #insertPointsStatement(rows: number): BetterSqlite3.Statement {
    let st = this.#insertPoints.get(rows);
    if (!st) {
      st = this.#sqlite.prepare(`INSERT INTO metrics (series_id, step, timestamp, value) VALUES ${Array(rows).fill("(?, ?, ?, ?)").join(", ")}`);
      this.#insertPoints.set(rows, st);
    }
    return st;
  }

  #writeBatch(runId: string, prep: PreparedBatch): void {
    const s = this.#s;
    const stage = s.runStage.get(runId) as string | undefined;
    if (stage === undefined) throw runNotFound(runId);
    if (stage !== "active") throw runNotActive(runId, stage);
    for (const p of prep.params) {
      const old = s.paramValue.get(runId, p.key) as string | undefined;
      if (old === undefined) s.insertParam.run(runId, p.key, p.value);
      else if (old !== p.value) throw paramConflict(runId, p.key, old, p.value);
    }
    for (const t of prep.tags) s.upsertTag.run(runId, t.key, t.value);
    if (prep.runName !== undefined) s.renameRun.run(prep.runName, runId);
    for (const ser of prep.series) {
      const l = ser.latest;
      const [seriesId, count] = s.upsertLatest.get(runId, ser.key, l.value, l.timestamp, l.step, ser.points.length) as [number, number];
      const pts = ser.points;
      const args: (number | null)[] = [];
      for (let i = 0; i < pts.length; i += POINTS_PER_INSERT) {
        const end = Math.min(pts.length, i + POINTS_PER_INSERT);
        args.length = 0;
        for (let j = i; j < end; j++) {
          const p = pts[j]!;
          args.push(seriesId, p.step, p.timestamp, p.value);
        }
        this.#insertPointsStatement(end - i).run(args);
      }
      if (count <= ROLLUP_THRESHOLD) continue;
      let source: StoredPoint[] = pts;
      if (count - pts.length <= ROLLUP_THRESHOLD) {
        // This batch takes the series over the threshold: build its rollups from every raw point.
        source = (s.seriesPoints.all(seriesId) as [number, number, number | null][]).map(([step, timestamp, value]) => ({ step, timestamp, value }));
      }
      for (const r of aggregateRollups(source)) {
        s.upsertRollup.run(seriesId, r.level, r.block, r.count, r.minValue, r.maxValue, r.minStep, r.lastStep, r.lastTimestamp, r.lastValue);
      }
    }
  }

  override getRunInfo(runId: string): Promise<RunInfo | undefined> {
    return this.#whenIdle(() => {
      const row = this.#s.run.get(runId) as RunRow | undefined;
      return row ? toRunInfo(row) : undefined;
    });
  }

  override getMetricHistory(runId: string, key: string, page: { offset: number; limit: number }): Promise<Metric[]> {
    return this.#whenIdle(() =>
      this.#read(() => {
        if (this.#s.runStage.get(runId) === undefined) throw runNotFound(runId);
        const series = this.#s.series.get(runId, key) as RawRow | undefined;
        if (!series) return [];
        const rows = this.#s.history.all(series[0], page.limit + 1, page.offset) as [number, number, number | null][];
        return rows.map(([step, timestamp, value]) => ({ key, value: value === null ? NaN : value, timestamp, step }));
      }),
    );
  }

  override downsampleMetric(runId: string, key: string, opts: DownsampleOptions): Promise<DownsampledSeries> {
    return this.#whenIdle(() => this.#read(() => this.#downsample(runId, key, opts)));
  }

  #downsample(runId: string, key: string, opts: DownsampleOptions): DownsampledSeries {
    const s = this.#s;
    if (s.runStage.get(runId) === undefined) throw runNotFound(runId);
    const empty: DownsampledSeries = { runId, key, totalPoints: 0, buckets: [] };
    const series = s.series.get(runId, key) as [number, number, number] | undefined;
    if (!series) return empty;
    const [seriesId, count, maxStep] = series;
    const lo = opts.minStep ?? ((s.seriesMinStep.get(seriesId) as number | null) ?? 0);
    const hi = opts.maxStep ?? maxStep;
    if (lo > hi) return empty;
    const plan = planDownsample(lo, hi, opts.buckets, count > ROLLUP_THRESHOLD);
    const acc = new BucketAccumulator(plan);
    const readRaw = (from: number, to: number) => {
      for (const [step, timestamp, value] of s.rawRange.iterate(seriesId, from, to) as IterableIterator<[number, number, number | null]>) acc.addPoint(step, timestamp, value);
    };
    if (plan.mode === "raw") {
      readRaw(plan.lo, plan.hi);
      return acc.result(runId, key);
    }
    for (const b of plan.blocks) {
      const rows = s.rollupRange.all(seriesId, b.level, b.fromBlock, b.toBlock) as [number, number, number | null, number | null, number, number, number, number | null][];
      for (const [block, c, minValue, maxValue, minStep, lastStep, lastTimestamp, lastValue] of rows) {
        acc.addRollup({ level: b.level, block, count: c, minValue, maxValue, minStep, lastStep, lastTimestamp, lastValue });
      }
    }
    for (const r of plan.raw) readRaw(r.from, r.to);
    return acc.result(runId, key);
  }
}
