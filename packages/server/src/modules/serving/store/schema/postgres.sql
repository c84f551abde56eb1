-- Generated from migrations.ts (servingSchemaDdl("postgres")); do not edit.
create table il_records (
  seq bigserial primary key,
  model text collate "C" not null,
  request_id text collate "C" not null,
  version text collate "C" not null,
  deployment text collate "C" not null,
  arm text collate "C" not null,
  inputs text collate "C" not null,
  outputs text collate "C" not null,
  latency_ms double precision not null,
  status bigint not null,
  time bigint not null,
  constraint il_records_request unique (model, request_id)
);

create index il_records_time on il_records (model, time);

alter table il_records drop constraint il_records_request;

alter table il_records add constraint il_records_request unique (model, request_id, arm);
