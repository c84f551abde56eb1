import { InvalidArgumentError, Option, type Command } from "commander";
import { isCairnError, type Experiment, type RunData, type ViewType } from "@cairn/sdk";
import {
  action,
  clientFor,
  compareRow,
  createProgress,
  formatBytes,
  formatCell,
  formatDuration,
  formatTime,
  printHeading,
  printJson,
  printKeyValues,
  printTable,
  usageErrorsExit2,
  wantsJson,
  type Cell,
  type CompareRow,
} from "../../cli/output.js";
import { positiveInt, collect, keyValue } from "../../cli/parsers.js";

export type { CompareRow };

// ---------- option parsers (a thrown InvalidArgumentError is a usage error: exit 2) ----------

function columnList(v: string, prev: string[] = []): string[] {
  const cols = v.split(",").map((c) => c.trim()).filter(Boolean);
  for (const c of cols) {
    if (!/^(metrics|params|tags|attributes)\..+/.test(c)) throw new InvalidArgumentError(`column '${c}' must start with metrics., params., tags. or attributes.`);
  }
  return [...prev, ...cols];
}

function viewType(o: { all?: boolean; deleted?: boolean }): ViewType {
  return o.all ? "ALL" : o.deleted ? "DELETED_ONLY" : "ACTIVE_ONLY";
}

const viewOptions = (what: string) => [
  new Option("--all", `include deleted ${what}`).conflicts("deleted"),
  new Option("--deleted", `only deleted ${what}`),
];

// ---------- run helpers ----------

function latestMetric(run: RunData, key: string): number | undefined {
  return run.data.metrics.find((m) => m.key === key)?.value;
}

/** The value of a `metrics.x` / `params.x` / `tags.x` / `attributes.x` column (backticks allowed around the key). */
export function columnValue(run: RunData, spec: string): Cell {
  const dot = spec.indexOf(".");
  const kind = spec.slice(0, dot);
  const key = spec.slice(dot + 1).replace(/^`(.*)`$/, "$1").replace(/^"(.*)"$/, "$1");
  if (kind === "metrics") return latestMetric(run, key);
  if (kind === "params") return run.data.params[key];
  if (kind === "tags") return run.data.tags[key];
  if (kind === "attributes") {
    const camel = key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    const v = (run.info as Record<string, unknown>)[camel];
    if (camel === "startTime" || camel === "endTime") return formatTime(v as number | null);
    return v as Cell;
  }
  return undefined;
}

/** The column an `--order-by` term sorts on (`metrics.acc DESC` → `metrics.acc`). */
function orderColumn(term: string): string | undefined {
  const m = term.trim().match(/^((?:metrics|params|tags|attributes)\.(?:`[^`]+`|"[^"]+"|\S+))/i);
  return m?.[1];
}

function duration(run: RunData): string {
  const end = run.info.endTime ?? (run.info.status === "RUNNING" ? Date.now() : null);
  return end === null ? "-" : formatDuration(end - run.info.startTime);
}

const shortId = (id: string) => (id.length > 12 ? id.slice(0, 12) : id);

// ---------- experiments ----------

function registerExperimentCommands(program: Command): void {
  const exp = usageErrorsExit2(program.command("experiments").description("list, create, show, delete and restore experiments"));

  exp
    .command("list")
    .description("list experiments")
    .option("--filter <filter>", "MLflow filter, e.g. \"name LIKE 'bert%'\"")
    .option("--order-by <term>", "sort, e.g. \"name ASC\" (repeatable)", collect)
    .addOption(viewOptions("experiments")[0]!)
    .addOption(viewOptions("experiments")[1]!)
    .option("--max <n>", "show at most N experiments", positiveInt, 1000)
    .action(
      action(async (opts: { filter?: string; orderBy?: string[]; all?: boolean; deleted?: boolean; max: number }, cmd: Command) => {
        const cairn = clientFor(cmd);
        const search: Parameters<typeof cairn.experiments.searchAll>[0] = { viewType: viewType(opts), limit: opts.max, maxResults: Math.min(opts.max, 1000) };
        if (opts.filter) search.filter = opts.filter;
        if (opts.orderBy?.length) search.orderBy = opts.orderBy;
        const list: Experiment[] = [];
        for await (const e of cairn.experiments.searchAll(search)) list.push(e);
        if (list.length === opts.max && !wantsJson(cmd)) process.stderr.write(`(showing the first ${opts.max} experiments; use --max to see more)\n`);
        if (wantsJson(cmd)) return printJson({ experiments: list });
        const showStage = opts.all || opts.deleted;
        printTable(
          ["ID", "NAME", ...(showStage ? ["STAGE"] : []), "CREATED", "ARTIFACT LOCATION"],
          list.map((e) => [e.experimentId, e.name, ...(showStage ? [e.lifecycleStage] : []), formatTime(e.creationTime), e.artifactLocation]),
        );
      }),
    );

  exp
    .command("create")
    .description("create an experiment")
    .argument("<name>", "experiment name")
    .option("--artifact-location <uri>", "where its artifacts go (default: the server's artifact store)")
    .option("--tag <key=value>", "a tag (repeatable)", keyValue)
    .action(
      action(async (name: string, opts: { artifactLocation?: string; tag?: Record<string, string> }, cmd: Command) => {
        const cairn = clientFor(cmd);
        const create: { artifactLocation?: string; tags?: Record<string, string> } = {};
        if (opts.artifactLocation) create.artifactLocation = opts.artifactLocation;
        if (opts.tag) create.tags = opts.tag;
        const e = await cairn.experiments.create(name, create);
        if (wantsJson(cmd)) return printJson({ experiment: e });
        process.stdout.write(`Created experiment '${e.name}' with id ${e.experimentId}\n`);
      }),
    );

  exp
    .command("show")
    .description("show an experiment and its tags")
    .argument("<experiment>", "experiment id or name")
    .action(
      action(async (ref: string, _opts: unknown, cmd: Command) => {
        const e = await clientFor(cmd).experiments.resolve(ref);
        if (wantsJson(cmd)) return printJson({ experiment: e });
        printKeyValues([
          ["id", e.experimentId],
          ["name", e.name],
          ["stage", e.lifecycleStage],
          ["artifact location", e.artifactLocation],
          ["created", formatTime(e.creationTime)],
          ["updated", formatTime(e.lastUpdateTime)],
        ]);
        const tags = Object.entries(e.tags).sort(([a], [b]) => a.localeCompare(b));
        if (tags.length) {
          printHeading("Tags");
          printTable(["KEY", "VALUE"], tags, { maxCell: 100 });
        }
      }),
    );

  exp
    .command("rename")
    .description("rename an experiment")
    .argument("<experiment>", "experiment id or name")
    .argument("<new-name>", "the new name")
    .action(
      action(async (ref: string, newName: string, _opts: unknown, cmd: Command) => {
        const cairn = clientFor(cmd);
        const e = await cairn.experiments.update((await cairn.experiments.resolve(ref)).experimentId, { name: newName });
        if (wantsJson(cmd)) return printJson({ experiment: e });
        process.stdout.write(`Renamed experiment ${e.experimentId} to '${e.name}'\n`);
      }),
    );

  for (const verb of ["delete", "restore"] as const) {
    exp
      .command(verb)
      .description(verb === "delete" ? "delete an experiment and its runs (restorable)" : "restore a deleted experiment")
      .argument("<experiment>", "experiment id or name")
      .action(
        action(async (ref: string, _opts: unknown, cmd: Command) => {
          const cairn = clientFor(cmd);
          const found = await cairn.experiments.resolve(ref);
          const e = verb === "delete" ? await cairn.experiments.delete(found.experimentId) : await cairn.experiments.restore(found.experimentId);
          if (wantsJson(cmd)) return printJson({ experiment: e });
          process.stdout.write(`${verb === "delete" ? "Deleted" : "Restored"} experiment ${e.experimentId} ('${e.name}')\n`);
        }),
      );
  }
}

// ---------- runs ----------

function registerRunCommands(program: Command): void {
  const runs = usageErrorsExit2(program.command("runs").description("list, show, compare, delete and restore runs"));

  runs
    .command("list")
    .description("list the runs of one or more experiments")
    .requiredOption("--experiment <id-or-name>", "experiment id or name (repeatable)", collect)
    .option("--filter <filter>", "MLflow filter, e.g. \"metrics.acc > 0.9 and params.lr = '0.01'\"")
    .option("--order-by <term>", "sort, e.g. \"metrics.acc DESC\" (repeatable)", collect)
    .option("--columns <cols>", "extra columns, e.g. metrics.acc,params.lr", columnList)
    .addOption(viewOptions("runs")[0]!)
    .addOption(viewOptions("runs")[1]!)
    .option("--max <n>", "show at most N runs", positiveInt, 100)
    .action(
      action(async (opts: { experiment: string[]; filter?: string; orderBy?: string[]; columns?: string[]; all?: boolean; deleted?: boolean; max: number }, cmd: Command) => {
        const cairn = clientFor(cmd);
        const experiments = await Promise.all(opts.experiment.map((ref) => cairn.experiments.resolve(ref)));
        const search: Parameters<typeof cairn.runs.searchAll>[0] = {
          experimentIds: experiments.map((e) => e.experimentId),
          viewType: viewType(opts),
          limit: opts.max,
          maxResults: Math.min(opts.max, 1000),
        };
        if (opts.filter) search.filter = opts.filter;
        if (opts.orderBy?.length) search.orderBy = opts.orderBy;
        const list: RunData[] = [];
        for await (const r of cairn.runs.searchAll(search)) list.push(r);
        if (wantsJson(cmd)) return printJson({ runs: list });

        const extra: string[] = [];
        for (const c of [...(opts.orderBy ?? []).map(orderColumn), ...(opts.columns ?? [])]) {
          if (c && !extra.includes(c) && !/^attributes\.(start_time|run_name|status|run_id)$/i.test(c)) extra.push(c);
        }
        const multi = experiments.length > 1;
        printTable(
          ["RUN ID", "NAME", ...(multi ? ["EXPERIMENT"] : []), "STATUS", "STARTED", "DURATION", ...extra],
          list.map((r) => [
            r.info.runId,
            r.info.runName,
            ...(multi ? [r.info.experimentId] : []),
            r.info.lifecycleStage === "deleted" ? `${r.info.status} (deleted)` : r.info.status,
            formatTime(r.info.startTime),
            duration(r),
            ...extra.map((c) => columnValue(r, c)),
          ]),
        );
        if (list.length === opts.max) process.stderr.write(`(showing the first ${opts.max} runs; use --max to see more)\n`);
      }),
    );

  runs
    .command("show")
    .description("show a run: info, params, tags and latest metrics")
    .argument("<run-id>", "run id")
    .action(
      action(async (id: string, _opts: unknown, cmd: Command) => {
        const run = await clientFor(cmd).runs.get(id);
        if (wantsJson(cmd)) return printJson({ run });
        const i = run.info;
        printKeyValues([
          ["run id", i.runId],
          ["name", i.runName],
          ["experiment id", i.experimentId],
          ["status", i.status],
          ["stage", i.lifecycleStage],
          ["user", i.userId],
          ["started", formatTime(i.startTime)],
          ["ended", formatTime(i.endTime)],
          ["duration", duration(run)],
          ["artifact uri", i.artifactUri],
        ]);
        const params = Object.entries(run.data.params).sort(([a], [b]) => a.localeCompare(b));
        if (params.length) {
          printHeading("Params");
          printTable(["KEY", "VALUE"], params, { maxCell: 100 });
        }
        const metrics = [...run.data.metrics].sort((a, b) => a.key.localeCompare(b.key));
        if (metrics.length) {
          printHeading("Metrics (latest)");
          printTable(["KEY", "VALUE", "STEP", "TIME"], metrics.map((m) => [m.key, m.value, m.step, formatTime(m.timestamp)]));
        }
        const tags = Object.entries(run.data.tags).sort(([a], [b]) => a.localeCompare(b));
        if (tags.length) {
          printHeading("Tags");
          printTable(["KEY", "VALUE"], tags, { maxCell: 100 });
        }
      }),
    );

  runs
    .command("compare")
    .description("compare the params and latest metrics of runs side by side (* marks rows that differ)")
    .argument("<run-ids...>", "two or more run ids")
    .option("--diff-only", "show only the rows that differ")
    .action(
      action(async (ids: string[], opts: { diffOnly?: boolean }, cmd: Command) => {
        if (ids.length < 2) cmd.error("error: compare needs at least two run ids", { exitCode: 2, code: "cairn.usage" });
        const cairn = clientFor(cmd);
        const list = await Promise.all(ids.map((id) => cairn.runs.get(id)));
        const rows = compareRows(list).filter((r) => !opts.diffOnly || r.differs);
        if (wantsJson(cmd)) {
          return printJson({ runs: list.map((r) => ({ runId: r.info.runId, runName: r.info.runName })), rows });
        }
        const head = ["", "KEY", ...list.map((r) => `${truncateName(r.info.runName)} (${shortId(r.info.runId)})`)];
        printTable(
          head,
          rows.map((r) => [r.differs ? "*" : " ", r.key, ...r.values.map((v) => formatCell(v as Cell))]),
          { maxCell: 40 },
        );
      }),
    );

  for (const verb of ["delete", "restore"] as const) {
    runs
      .command(verb)
      .description(verb === "delete" ? "delete runs (restorable)" : "restore deleted runs")
      .argument("<run-ids...>", "run ids")
      .action(
        action(async (ids: string[], _opts: unknown, cmd: Command) => {
          const cairn = clientFor(cmd);
          // Every id is tried and reported, so a failure in the middle never hides what already changed.
          const done: string[] = [];
          const failed: { runId: string; code: string; message: string }[] = [];
          for (const id of ids) {
            try {
              if (verb === "delete") await cairn.runs.delete(id);
              else await cairn.runs.restore(id);
              done.push(id);
            } catch (e) {
              if (!isCairnError(e)) throw e;
              failed.push({ runId: id, code: e.code, message: e.message });
            }
          }
          if (wantsJson(cmd)) printJson({ [verb === "delete" ? "deleted" : "restored"]: done, failed });
          else {
            for (const id of done) process.stdout.write(`${verb === "delete" ? "Deleted" : "Restored"} run ${id}\n`);
            for (const f of failed) process.stderr.write(`error: ${f.code}: ${f.message}\n`);
          }
          if (failed.length) process.exitCode = 1;
        }),
      );
  }
}

const truncateName = (s: string) => (s.length > 20 ? `${s.slice(0, 19)}…` : s);

/** Rows for `runs compare`: status and duration, then every param, then every latest metric. */
export function compareRows(runs: RunData[]): CompareRow[] {
  const rows: CompareRow[] = [];
  const add = (key: string, values: (string | number | null)[]) => rows.push(compareRow(key, values));
  add("status", runs.map((r) => r.info.status));
  add("duration", runs.map((r) => duration(r)));
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.data.params)))].sort();
  for (const k of paramKeys) add(`params.${k}`, runs.map((r) => r.data.params[k] ?? null));
  const metricKeys = [...new Set(runs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
  for (const k of metricKeys) add(`metrics.${k}`, runs.map((r) => latestMetric(r, k) ?? null));
  return rows;
}

// ---------- artifacts ----------

function registerArtifactCommands(program: Command): void {
  const art = usageErrorsExit2(program.command("artifacts").description("upload, download, list and delete run artifacts"));

  art
    .command("upload")
    .description("upload a file (to ARTIFACT_PATH/<name>) or a directory's contents (under ARTIFACT_PATH)")
    .argument("<run-id>", "run id")
    .argument("<local-path>", "file or directory to upload")
    .argument("[artifact-path]", "directory within the run's artifacts (default: the root)")
    .action(
      action(async (runId: string, localPath: string, artifactPath: string | undefined, _opts: unknown, cmd: Command) => {
        const json = wantsJson(cmd);
        const bar = createProgress("upload", json);
        let uploaded;
        try {
          uploaded = await clientFor(cmd).artifacts.upload(runId, localPath, artifactPath, { onProgress: (d, t) => bar.update(d, t) });
        } finally {
          bar.stop();
        }
        if (json) return printJson({ uploaded });
        const bytes = uploaded.reduce((n, u) => n + u.fileSize, 0);
        process.stdout.write(`Uploaded ${uploaded.length} file${uploaded.length === 1 ? "" : "s"} (${formatBytes(bytes)}) to run ${runId}${artifactPath ? ` under '${artifactPath}'` : ""}\n`);
      }),
    );

  art
    .command("download")
    .description("download an artifact file or directory (the whole tree by default)")
    .argument("<run-id>", "run id")
    .argument("[artifact-path]", "file or directory within the run's artifacts (default: all)")
    .option("--dest <dir>", "destination directory", ".")
    .action(
      action(async (runId: string, artifactPath: string | undefined, opts: { dest: string }, cmd: Command) => {
        const json = wantsJson(cmd);
        const bar = createProgress("download", json);
        let local: string;
        try {
          local = await clientFor(cmd).artifacts.download(runId, artifactPath ?? "", opts.dest, { onProgress: (d, t) => bar.update(d, t) });
        } finally {
          bar.stop();
        }
        if (json) return printJson({ path: local });
        process.stdout.write(`${local}\n`);
      }),
    );

  art
    .command("list")
    .description("list artifacts under a path")
    .argument("<run-id>", "run id")
    .argument("[path]", "directory within the run's artifacts (default: the root)")
    .option("-r, --recursive", "list everything below")
    .action(
      action(async (runId: string, path: string | undefined, opts: { recursive?: boolean }, cmd: Command) => {
        const files = await clientFor(cmd).artifacts.list(runId, path ?? "", { recursive: opts.recursive === true });
        if (wantsJson(cmd)) return printJson({ files });
        printTable(
          ["PATH", "SIZE"],
          files.map((f) => [f.isDir ? `${f.path}/` : f.path, f.isDir ? "" : formatBytes(f.fileSize)]),
          { maxCell: 100 },
        );
      }),
    );

  art
    .command("delete")
    .description("delete an artifact file or directory")
    .argument("<run-id>", "run id")
    .argument("<path>", "file or directory within the run's artifacts")
    .action(
      action(async (runId: string, path: string, _opts: unknown, cmd: Command) => {
        await clientFor(cmd).artifacts.delete(runId, path);
        if (wantsJson(cmd)) return printJson({ deleted: path });
        process.stdout.write(`Deleted ${path}\n`);
      }),
    );
}

/**
 * Adds the tracking client commands (`experiments`, `runs`, `artifacts`) to the `cairn` program.
 * They read the root program's `--url`, `--token` and `--json`; errors print `error: CODE: message`
 * and exit 1, usage errors exit 2.
 * @example
 * const program = new Command("cairn").option("--url <url>").option("--token <token>").option("--json");
 * registerTrackingCommands(program);
 * await program.parseAsync(process.argv);
 */
export function registerTrackingCommands(program: Command): void {
  registerExperimentCommands(program);
  registerRunCommands(program);
  registerArtifactCommands(program);
}
