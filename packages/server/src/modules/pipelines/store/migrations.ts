import type { Migration } from "kysely";
import { execStatements, isPostgres } from "../../../platform/db/database.js";

/**
 * Pipeline tables (prefixed `pl_`), one DDL text per backend from the same template.
 *
 * - `pl_runs.id` is the run's tracking run id (the parent of one child run per step).
 * - `pl_steps` is both the run's step state and the queue: a `ready` row whose `ready_at` has passed
 *   is claimable; a claim sets `running`, a fresh `token` (the fencing token the worker must show)
 *   and `lease_until`, and bumps `claim`. Claims on PostgreSQL lock with `FOR UPDATE SKIP LOCKED`, so
 *   concurrent workers never wait on, or take, the same row; SQLite has one writer.
 * - `pl_logs.seq` is a global, increasing sequence: readers page a run's log by `seq > after`.
 * - `pl_cache` maps a step cache key to the dataset version holding the outputs it produced.
 * - PostgreSQL text columns use the "C" collation so ordering matches SQLite byte for byte.
 */
function ddl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  const REAL = pg ? "double precision" : "real";
  const SEQ = pg ? "bigserial primary key" : "integer primary key autoincrement";
  return [
    `create table pl_pipelines (
      name ${T} primary key,
      definition ${T} not null,
      source_dataset ${T},
      source_version ${T},
      pushed_at ${BIG},
      pushed_by ${T}
    )`,
    `create table pl_runs (
      id ${T} primary key,
      pipeline ${T} not null,
      status ${T} not null,
      mode ${T} not null,
      params ${T} not null,
      trigger_kind ${T} not null,
      trigger_detail ${T},
      spec ${T} not null,
      source_dataset ${T},
      source_version ${T},
      created_at ${BIG} not null,
      started_at ${BIG},
      ended_at ${BIG},
      cancel_requested ${BIG} not null default 0,
      error ${T}
    )`,
    `create index pl_runs_pipeline on pl_runs (pipeline, created_at)`,
    `create index pl_runs_created on pl_runs (created_at)`,
    `create table pl_steps (
      run_id ${T} not null references pl_runs (id) on delete cascade,
      name ${T} not null,
      idx ${BIG} not null,
      status ${T} not null,
      after ${T} not null,
      attempts ${BIG} not null default 0,
      max_attempts ${BIG} not null,
      cpu ${REAL} not null,
      memory_mb ${REAL} not null,
      gpu ${BIG} not null,
      cache ${BIG} not null,
      step_run_id ${T},
      worker_id ${T},
      gpus ${T},
      started_at ${BIG},
      ended_at ${BIG},
      duration_ms ${REAL},
      error ${T},
      log_tail ${T},
      cache_key ${T},
      cache_reason ${T},
      outputs ${T},
      out_version ${T},
      claim ${BIG} not null default 0,
      token ${T},
      lease_until ${BIG},
      ready_at ${BIG},
      primary key (run_id, name)
    )`,
    `create index pl_steps_queue on pl_steps (status, ready_at)`,
    `create index pl_steps_worker on pl_steps (worker_id)`,
    `create table pl_logs (
      seq ${SEQ},
      run_id ${T} not null,
      step ${T} not null,
      attempt ${BIG} not null,
      stream ${T} not null,
      text ${T} not null,
      time ${BIG} not null
    )`,
    `create index pl_logs_run on pl_logs (run_id, seq)`,
    `create table pl_workers (
      id ${T} primary key,
      name ${T} not null,
      host ${T},
      resources ${T} not null,
      lease_ms ${BIG} not null,
      registered_at ${BIG} not null,
      last_seen_at ${BIG} not null
    )`,
    `create table pl_cache (
      key ${T} primary key,
      pipeline ${T} not null,
      step ${T} not null,
      dataset ${T} not null,
      version ${T} not null,
      digests ${T} not null,
      run_id ${T} not null,
      created_at ${BIG} not null
    )`,
    `create table pl_schedules (
      id ${T} primary key,
      pipeline ${T} not null references pl_pipelines (name) on delete cascade,
      cron ${T},
      timezone ${T} not null,
      on_dataset ${T},
      params ${T} not null,
      enabled ${BIG} not null,
      created_at ${BIG} not null,
      next_run_at ${BIG},
      last_run_at ${BIG},
      last_run_id ${T},
      last_dataset_version ${T}
    )`,
    `create index pl_schedules_due on pl_schedules (enabled, next_run_at)`,
  ];
}

/** The pipelines module's DDL for one backend (every migration in order), for the checked-in schema dumps (`schema/*.sql`). */
export function pipelineSchemaDdl(backend: "sqlite" | "postgres"): string[] {
  return ddl(backend === "postgres");
}


/** The pipelines module's migrations, prefixed `pipelines_` so they apply beside other modules'. */
export const pipelineMigrations: Record<string, Migration> = {
  pipelines_0001_init: { up: async (k) => execStatements(k, ddl(isPostgres(k))) },
};
