-- Generated from migrations.ts (monitoringSchemaDdl("sqlite")); do not edit.
create table monitoring_feedback (
  deployment text not null,
  request_id text not null,
  model text not null,
  label text not null,
  time integer not null,
  created_at integer not null,
  updated_at integer not null,
  primary key (deployment, request_id)
);

create table monitoring_label_types (
  deployment text primary key,
  label_type text not null
);

create table monitoring_monitors (
  deployment text not null,
  name text not null,
  spec text not null,
  created_at integer not null,
  created_by text not null,
  last_run_at integer,
  next_run_at integer not null,
  primary key (deployment, name)
);

create table monitoring_points (
  deployment text not null,
  monitor text not null,
  time integer not null,
  series text not null,
  value real,
  primary key (deployment, monitor, series, time)
);

create table monitoring_rule_states (
  deployment text not null,
  monitor text not null,
  rule text not null,
  state text not null,
  primary key (deployment, monitor, rule)
);

create table monitoring_alert_events (
  seq integer primary key autoincrement,
  deployment text not null,
  monitor text not null,
  rule text not null,
  kind text not null,
  time integer not null,
  value real not null,
  actions text not null
);

create index monitoring_alert_events_deployment on monitoring_alert_events (deployment, seq);
