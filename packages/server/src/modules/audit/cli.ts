import fs from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { authRoutes, type AuditQuery, type AuditVerifyResponse } from "@cairn/contract";
import { action, clientFor, formatTime, printJson, printTable, usageErrorsExit2, wantsJson } from "../../cli/output.js";
import { positiveInt, timeArg } from "../../cli/parsers.js";

interface FilterOpts {
  resource?: string;
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
}

function withFilters(cmd: Command): Command {
  return cmd
    .option("--resource <resource>", "exact resource (model:churn, run:<id>) or a prefix ending in * (model:churn*)")
    .option("--actor <user>", "only this user's requests")
    .option("--action <action>", "exact action (setAlias, mlflow:runs/log-batch) or a prefix ending in *")
    .option("--since <time>", "from this time (ISO or epoch ms)", timeArg)
    .option("--until <time>", "up to this time (ISO or epoch ms)", timeArg);
}

function filterOf(o: FilterOpts): AuditQuery {
  const q: AuditQuery = {};
  for (const k of ["resource", "actor", "action", "since", "until"] as const) if (o[k] !== undefined) (q as Record<string, unknown>)[k] = o[k];
  return q;
}

function printVerify(r: AuditVerifyResponse, json: boolean): void {
  if (json) printJson(r);
  else if (r.ok) process.stdout.write(`OK: ${r.records} records, chain intact. Head hash ${r.headHash}\n(keep the head hash elsewhere: a log later cut back to before it will no longer contain it)\n`);
  else process.stdout.write(`TAMPERED: ${r.problem}. ${r.records} records before it verify.\n`);
  if (!r.ok) process.exitCode = 1;
}

/** Adds `cairn audit list|export|verify`: the hash-chained audit log (admins). */
export function registerAuditCommands(program: Command): void {
  const audit = usageErrorsExit2(program.command("audit").description("query, export and verify the hash-chained audit log (admins)"));

  withFilters(audit.command("list").description("audit records, newest first"))
    .option("--limit <n>", "at most N records", positiveInt, 100)
    .action(
      action(async (o: FilterOpts & { limit: number }, cmd: Command) => {
        const api = clientFor(cmd).client.api;
        const records = [];
        let before: number | undefined;
        while (records.length < o.limit) {
          const page = await api.listAudit({ query: { ...filterOf(o), limit: Math.min(1000, o.limit - records.length), ...(before ? { before } : {}) } });
          records.push(...page.records);
          if (page.nextBefore === undefined) break;
          before = page.nextBefore;
        }
        if (wantsJson(cmd)) return printJson({ records });
        printTable(
          ["SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "STATUS", "CLIENT"],
          records.map((r) => [r.seq, formatTime(r.time), r.actor, r.action, r.resource, r.status, r.client]),
          { maxCell: 60 },
        );
      }),
    );

  withFilters(audit.command("export").description("the audit log as JSON lines, oldest first"))
    .option("--out <file>", "write to a file instead of stdout")
    .action(
      action(async (o: FilterOpts & { out?: string }, cmd: Command) => {
        const client = clientFor(cmd).client;
        const res = await client.fetchRaw(client.url(authRoutes.exportAudit, {}, filterOf(o) as Record<string, unknown>));
        if (!res.body) return;
        await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), o.out ? fs.createWriteStream(o.out) : process.stdout);
      }),
    );

  audit
    .command("verify")
    .description("recompute the hash chain and report the first altered, missing or relinked record (exit 1 when broken)")
    .option("--backend-store-uri <uri>", "verify the database directly (sqlite:///… or postgresql://…) instead of asking the server")
    .action(
      action(async (o: { backendStoreUri?: string }, cmd: Command) => {
        if (o.backendStoreUri) {
          const { openDatabase } = await import("../../platform/db/database.js");
          const { createAuditStore } = await import("./store/audit-store.js");
          const { AuditLog } = await import("./service.js");
          const db = await openDatabase(o.backendStoreUri);
          try {
            return printVerify(await new AuditLog(await createAuditStore(db)).verify(), wantsJson(cmd));
          } finally {
            await db.close();
          }
        }
        printVerify(await clientFor(cmd).client.api.verifyAudit({}), wantsJson(cmd));
      }),
    );
}

