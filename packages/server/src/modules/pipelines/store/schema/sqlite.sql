-- Generated from migrations.ts (pipelineSchemaDdl("sqlite")); do not edit.
create table pl_pipelines (
  name text primary key,
  definition text not null,
  source_dataset text,
  source_version text,
  pushed_at integer,
  pushed_by text
);

create table pl_runs (
  id text primary key,
  pipeline text not null,
  status text not null,
  mode text not null,
  params text not null,
  trigger_kind text not null,
  trigger_detail text,
  spec text not null,
  source_dataset text,
  source_version text,
  created_at integer not null,
  started_at integer,
  ended_at integer,
  cancel_requested integer not null default 0,
  error text
);

create index pl_runs_pipeline on pl_runs (pipeline, created_at);

create index pl_runs_created on pl_runs (created_at);

create table pl_steps (
  run_id text not null references pl_runs (id) on delete cascade,
  name text not null,
  idx integer not null,
  status text not null,
  after text not null,
  attempts integer not null default 0,
  max_attempts integer not null,
  cpu real not null,
  memory_mb real not null,
  gpu integer not null,
  cache integer not null,
  step_run_id text,
  worker_id text,
  gpus text,
  started_at integer,
  ended_at integer,
  duration_ms real,
  error text,
  log_tail text,
  cache_key text,
  cache_reason text,
  outputs text,
  out_version text,
  claim integer not null default 0,
  token text,
  lease_until integer,
  ready_at integer,
  primary key (run_id, name)
);

create index pl_steps_queue on pl_steps (status, ready_at);

create index pl_steps_worker on pl_steps (worker_id);

create table pl_logs (
  seq integer primary key autoincrement,
  run_id text not null,
  step text not null,
  attempt integer not null,
  stream text not null,
  text text not null,
  time integer not null
);

create index pl_logs_run on pl_logs (run_id, seq);

create table pl_workers (
  id text primary key,
  name text not null,
  host text,
  resources text not null,
  lease_ms integer not null,
  registered_at integer not null,
  last_seen_at integer not null
);

create table pl_cache (
  key text primary key,
  pipeline text not null,
  step text not null,
  dataset text not null,
  version text not null,
  digests text not null,
  run_id text not null,
  created_at integer not null
);

create table pl_schedules (
  id text primary key,
  pipeline text not null references pl_pipelines (name) on delete cascade,
  cron text,
  timezone text not null,
  on_dataset text,
  params text not null,
  enabled integer not null,
  created_at integer not null,
  next_run_at integer,
  last_run_at integer,
  last_run_id text,
  last_dataset_version text
);

create index pl_schedules_due on pl_schedules (enabled, next_run_at);
