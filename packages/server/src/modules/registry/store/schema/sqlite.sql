-- Generated from migrations.ts (registrySchemaDdl("sqlite")); do not edit.
create table registered_models (
  name text primary key,
  creation_timestamp integer not null,
  last_updated_timestamp integer not null,
  user_id text not null,
  description text not null,
  next_version integer not null default 1
);

create index registered_models_updated on registered_models (last_updated_timestamp);

create table registered_model_tags (
  name text not null references registered_models (name) on update cascade on delete cascade,
  key text not null,
  value text not null,
  primary key (name, key)
);

create table model_versions (
  name text not null references registered_models (name) on update cascade on delete cascade,
  version integer not null,
  creation_timestamp integer not null,
  last_updated_timestamp integer not null,
  user_id text not null,
  current_stage text not null,
  description text not null,
  source text not null,
  run_id text not null,
  run_link text not null,
  status text not null,
  status_message text not null,
  constraint model_versions_name_version unique (name, version)
);

create index model_versions_run_id on model_versions (run_id);

create table model_version_tags (
  name text not null,
  version integer not null,
  key text not null,
  value text not null,
  primary key (name, version, key),
  foreign key (name, version) references model_versions (name, version) on update cascade on delete cascade
);

create table registered_model_aliases (
  name text not null,
  alias text not null,
  version integer not null,
  primary key (name, alias),
  foreign key (name, version) references model_versions (name, version) on update cascade on delete cascade
);

create table alias_history (
  id integer primary key,
  name text not null references registered_models (name) on update cascade on delete cascade,
  alias text not null,
  from_version integer,
  to_version integer,
  actor text not null,
  time integer not null
);

create index alias_history_name_alias on alias_history (name, alias, time);

alter table model_versions add column signature text;

alter table model_versions add column retirement_state text;

alter table model_versions add column retirement_reason text;

alter table model_versions add column retirement_time integer;

create table registered_model_cards (
  name text primary key references registered_models (name) on update cascade on delete cascade,
  card text not null,
  last_updated_timestamp integer not null
);

alter table alias_history add column request_id integer;

create table registered_model_policies (
  name text primary key references registered_models (name) on update cascade on delete cascade,
  policy text not null,
  last_updated_timestamp integer not null
);

create table promotion_requests (
  id integer primary key autoincrement,
  name text not null references registered_models (name) on update cascade on delete cascade,
  alias text not null,
  version integer not null,
  from_version integer,
  reason text not null,
  requester text not null,
  status text not null,
  gate_results text not null,
  decided_by text,
  decided_at integer,
  decision_comment text,
  created_at integer not null
);

create index promotion_requests_status on promotion_requests (status, id);

create index promotion_requests_name on promotion_requests (name, alias, id);

create unique index promotion_requests_one_open on promotion_requests (name, alias, version) where status = 'open';

create table promotion_comments (
  id integer primary key autoincrement,
  request_id integer not null references promotion_requests (id) on delete cascade,
  author text not null,
  text text not null,
  time integer not null
);

create index promotion_comments_request on promotion_comments (request_id, id);

alter table model_versions add column flavors text;
