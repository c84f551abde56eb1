-- Generated from migrations.ts (trackingSchemaDdl("sqlite")); do not edit.
create table experiments (
  experiment_id integer primary key,
  name text not null,
  artifact_location text not null,
  lifecycle_stage text not null default 'active',
  creation_time integer not null,
  last_update_time integer not null,
  constraint experiments_name_unique unique (name)
);

create index experiments_creation_time on experiments (creation_time);

create table experiment_tags (
  experiment_id integer not null references experiments (experiment_id),
  key text not null,
  value text not null,
  primary key (experiment_id, key)
) without rowid;

create index experiment_tags_key_value on experiment_tags (key, value);

create table runs (
  run_id text primary key,
  experiment_id integer not null references experiments (experiment_id),
  name text not null,
  user_id text not null,
  status text not null,
  start_time integer not null,
  end_time integer,
  deleted_time integer,
  artifact_uri text not null,
  lifecycle_stage text not null default 'active'
);

create index runs_experiment_stage_start on runs (experiment_id, lifecycle_stage, start_time);

create table run_tags (
  run_id text not null references runs (run_id),
  key text not null,
  value text not null,
  primary key (run_id, key)
) without rowid;

create index run_tags_key_value on run_tags (key, value);

create table params (
  run_id text not null references runs (run_id),
  key text not null,
  value text not null,
  primary key (run_id, key)
) without rowid;

create index params_key_value on params (key, value);

create table latest_metrics (
  series_id integer primary key,
  run_id text not null references runs (run_id),
  key text not null,
  value real,
  timestamp integer not null,
  step integer not null,
  point_count integer not null,
  constraint latest_metrics_run_key unique (run_id, key)
);

create index latest_metrics_key_value on latest_metrics (key, value);

create table metrics (
  series_id integer not null,
  step integer not null,
  timestamp integer not null,
  value real
);

create index metrics_series_step on metrics (series_id, step, timestamp);

create table metric_rollups (
  series_id integer not null,
  level integer not null,
  block integer not null,
  point_count integer not null,
  min_value real,
  max_value real,
  min_step integer not null,
  last_step integer not null,
  last_timestamp integer not null,
  last_value real,
  primary key (series_id, level, block)
) without rowid;

create table log_batches (
  run_id text not null references runs (run_id),
  batch_id text not null,
  primary key (run_id, batch_id)
) without rowid;

create table datasets (
  dataset_id integer primary key,
  experiment_id integer not null references experiments (experiment_id),
  dataset_key text not null,
  name text not null,
  digest text not null,
  source_type text not null,
  source text not null,
  dataset_schema text,
  profile text,
  constraint datasets_experiment_key unique (experiment_id, dataset_key)
);

create table run_inputs (
  input_id integer primary key,
  run_id text not null references runs (run_id),
  dataset_id integer not null references datasets (dataset_id),
  constraint run_inputs_run_dataset unique (run_id, dataset_id)
);

create table run_input_tags (
  input_id integer not null references run_inputs (input_id),
  key text not null,
  value text not null,
  primary key (input_id, key)
) without rowid;

insert into experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
  values (0, 'Default', 'mlflow-artifacts:/0', 'active', 0, 0);
