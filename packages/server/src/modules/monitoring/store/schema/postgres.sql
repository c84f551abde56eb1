-- Generated from migrations.ts (monitoringSchemaDdl("postgres")); do not edit.
create table monitoring_feedback (
  deployment text collate "C" not null,
  request_id text collate "C" not null,
  model text collate "C" not null,
  label text collate "C" not null,
  time bigint not null,
  created_at bigint not null,
  updated_at bigint not null,
  primary key (deployment, request_id)
);

create table monitoring_label_types (
  deployment text collate "C" primary key,
  label_type text collate "C" not null
);

create table monitoring_monitors (
  deployment text collate "C" not null,
  name text collate "C" not null,
  spec text collate "C" not null,
  created_at bigint not null,
  created_by text collate "C" not null,
  last_run_at bigint,
  next_run_at bigint not null,
  primary key (deployment, name)
);

create table monitoring_points (
  deployment text collate "C" not null,
  monitor text collate "C" not null,
  time bigint not null,
  series text collate "C" not null,
  value double precision,
  primary key (deployment, monitor, series, time)
);

create table monitoring_rule_states (
  deployment text collate "C" not null,
  monitor text collate "C" not null,
  rule text collate "C" not null,
  state text collate "C" not null,
  primary key (deployment, monitor, rule)
);

create table monitoring_alert_events (
  seq bigserial primary key,
  deployment text collate "C" not null,
  monitor text collate "C" not null,
  rule text collate "C" not null,
  kind text collate "C" not null,
  time bigint not null,
  value double precision not null,
  actions text collate "C" not null
);

create index monitoring_alert_events_deployment on monitoring_alert_events (deployment, seq);
