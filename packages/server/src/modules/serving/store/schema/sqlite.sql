-- Generated from migrations.ts (servingSchemaDdl("sqlite")); do not edit.
create table il_records (
  seq integer primary key autoincrement,
  model text not null,
  request_id text not null,
  version text not null,
  deployment text not null,
  arm text not null,
  inputs text not null,
  outputs text not null,
  latency_ms real not null,
  status integer not null,
  time integer not null,
  constraint il_records_request unique (model, request_id)
);

create index il_records_time on il_records (model, time);

create table il_records_v2 (
  seq integer primary key autoincrement,
  model text not null,
  request_id text not null,
  version text not null,
  deployment text not null,
  arm text not null,
  inputs text not null,
  outputs text not null,
  latency_ms real not null,
  status integer not null,
  time integer not null,
  constraint il_records_request unique (model, request_id, arm)
);

insert into il_records_v2 select * from il_records;

drop table il_records;

alter table il_records_v2 rename to il_records;

create index il_records_time on il_records (model, time);
