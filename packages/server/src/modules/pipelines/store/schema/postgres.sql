-- Generated from migrations.ts (pipelineSchemaDdl("postgres")); do not edit.
create table pl_pipelines (
  name text collate "C" primary key,
  definition text collate "C" not null,
  source_dataset text collate "C",
  source_version text collate "C",
  pushed_at bigint,
  pushed_by text collate "C"
);

create table pl_runs (
  id text collate "C" primary key,
  pipeline text collate "C" not null,
  status text collate "C" not null,
  mode text collate "C" not null,
  params text collate "C" not null,
  trigger_kind text collate "C" not null,
  trigger_detail text collate "C",
  spec text collate "C" not null,
  source_dataset text collate "C",
  source_version text collate "C",
  created_at bigint not null,
  started_at bigint,
  ended_at bigint,
  cancel_requested bigint not null default 0,
  error text collate "C"
);

create index pl_runs_pipeline on pl_runs (pipeline, created_at);

create index pl_runs_created on pl_runs (created_at);

create table pl_steps (
  run_id text collate "C" not null references pl_runs (id) on delete cascade,
  name text collate "C" not null,
  idx bigint not null,
  status text collate "C" not null,
  after text collate "C" not null,
  attempts bigint not null default 0,
  max_attempts bigint not null,
  cpu double precision not null,
  memory_mb double precision not null,
  gpu bigint not null,
  cache bigint not null,
  step_run_id text collate "C",
  worker_id text collate "C",
  gpus text collate "C",
  started_at bigint,
  ended_at bigint,
  duration_ms double precision,
  error text collate "C",
  log_tail text collate "C",
  cache_key text collate "C",
  cache_reason text collate "C",
  outputs text collate "C",
  out_version text collate "C",
  claim bigint not null default 0,
  token text collate "C",
  lease_until bigint,
  ready_at bigint,
  primary key (run_id, name)
);

create index pl_steps_queue on pl_steps (status, ready_at);

create index pl_steps_worker on pl_steps (worker_id);

create table pl_logs (
  seq bigserial primary key,
  run_id text collate "C" not null,
  step text collate "C" not null,
  attempt bigint not null,
  stream text collate "C" not null,
  text text collate "C" not null,
  time bigint not null
);

create index pl_logs_run on pl_logs (run_id, seq);

create table pl_workers (
  id text collate "C" primary key,
  name text collate "C" not null,
  host text collate "C",
  resources text collate "C" not null,
  lease_ms bigint not null,
  registered_at bigint not null,
  last_seen_at bigint not null
);

create table pl_cache (
  key text collate "C" primary key,
  pipeline text collate "C" not null,
  step text collate "C" not null,
  dataset text collate "C" not null,
  version text collate "C" not null,
  digests text collate "C" not null,
  run_id text collate "C" not null,
  created_at bigint not null
);

create table pl_schedules (
  id text collate "C" primary key,
  pipeline text collate "C" not null references pl_pipelines (name) on delete cascade,
  cron text collate "C",
  timezone text collate "C" not null,
  on_dataset text collate "C",
  params text collate "C" not null,
  enabled bigint not null,
  created_at bigint not null,
  next_run_at bigint,
  last_run_at bigint,
  last_run_id text collate "C",
  last_dataset_version text collate "C"
);

create index pl_schedules_due on pl_schedules (enabled, next_run_at);
