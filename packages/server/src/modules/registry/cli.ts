import { InvalidArgumentError, type Command } from "commander";
import { join } from "node:path";
import { isCairnError, joinArtifactPath, readSignatureFile, writeModelPackage, type Cairn, type ComparedVersion, type ModelSource, type ModelVersion, type RegisteredModel } from "@cairn/sdk";
import {
  action,
  clientFor,
  createProgress,
  formatCell,
  formatTime,
  printHeading,
  printJson,
  printKeyValues,
  printTable,
  usageErrorsExit2,
  wantsJson,
  compareRow,
  type Cell,
  type CompareRow,
} from "../../cli/output.js";
import { positiveInt, keyValue, timeArg } from "../../cli/parsers.js";
import { registerPromotionCommands } from "./promotion-cli.js";

// ---------- option parsers (a thrown InvalidArgumentError is a usage error: exit 2) ----------

const usage = (cmd: Command, msg: string): never => cmd.error(`error: ${msg}`, { exitCode: 2, code: "cairn.usage" });

/** A registry filter string literal (a doubled quote is a literal quote). */
const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * A model reference as a `models:/` URI: `models:/…` as is, `NAME@ALIAS`, or `NAME/VERSION`.
 * @throws InvalidArgumentError for anything else
 */
export function modelRefToUri(ref: string): string {
  if (ref.startsWith("models:/")) return ref;
  if (/^[^@]+@[^/@]+$/.test(ref)) return `models:/${ref}`;
  if (/^.+\/\d+$/.test(ref)) return `models:/${ref}`;
  throw new InvalidArgumentError(`expected NAME@ALIAS, NAME/VERSION or models:/…, got '${ref}'`);
}

const aliasesOf = (m: RegisteredModel, version: string) => m.aliases.filter((a) => a.version === version).map((a) => a.alias);

async function versionsOf(cairn: Cairn, name: string): Promise<ModelVersion[]> {
  const list: ModelVersion[] = [];
  for await (const v of cairn.models.searchVersionsAll({ filter: `name = ${quote(name)}`, orderBy: ["version_number DESC"] })) list.push(v);
  return list;
}

/** Gets a model, creating it when it does not exist (also when another process creates it first). */
async function getOrCreateModel(cairn: Cairn, name: string): Promise<{ model: RegisteredModel; created: boolean }> {
  try {
    return { model: await cairn.models.get(name), created: false };
  } catch (e) {
    if (!isCairnError(e) || e.code !== "RESOURCE_DOES_NOT_EXIST") throw e;
  }
  try {
    return { model: await cairn.models.create(name), created: true };
  } catch (e) {
    if (isCairnError(e) && e.code === "RESOURCE_ALREADY_EXISTS") return { model: await cairn.models.get(name), created: false };
    throw e;
  }
}

/** Uploads a package directory into a run (the given one, else a new run in `experiment`, ended afterwards). */
async function uploadPackage(cairn: Cairn, dir: string, opts: { run?: string | undefined; experiment?: string | undefined; artifactPath: string; json: boolean }): Promise<{ runId: string; source: string }> {
  const run = opts.run === undefined ? await cairn.startRun({ experiment: opts.experiment ?? "Default", captureContext: false }) : undefined;
  const runId = opts.run ?? run!.id;
  const bar = createProgress("upload", opts.json);
  try {
    await cairn.artifacts.upload(runId, dir, opts.artifactPath, { onProgress: (d, t) => bar.update(d, t) });
  } catch (e) {
    await run?.end("FAILED").catch(() => undefined);
    throw e;
  } finally {
    bar.stop();
  }
  await run?.end();
  return { runId, source: `runs:/${runId}/${joinArtifactPath(opts.artifactPath)}` };
}

/** One row of `models compare`. */
export type VersionCompareRow = CompareRow;

/** Rows for `models compare`: run id and source, then every param, then every latest metric. */
export function versionCompareRows(list: ComparedVersion[]): VersionCompareRow[] {
  const rows: VersionCompareRow[] = [];
  const add = (key: string, values: (string | number | null)[]) => rows.push(compareRow(key, values));
  add("run_id", list.map((c) => c.version.runId || null));
  add("source", list.map((c) => c.version.source));
  const paramKeys = [...new Set(list.flatMap((c) => Object.keys(c.params)))].sort();
  for (const k of paramKeys) add(`params.${k}`, list.map((c) => c.params[k] ?? null));
  const metricKeys = [...new Set(list.flatMap((c) => Object.keys(c.metrics)))].sort();
  for (const k of metricKeys) add(`metrics.${k}`, list.map((c) => c.metrics[k] ?? null));
  return rows;
}

/**
 * Adds the model-registry commands (`cairn models …`) to the `cairn` program. They read the root
 * program's `--url`, `--token` and `--json`; errors print `error: CODE: message` and exit 1, usage
 * errors exit 2.
 * @example
 * registerTrackingCommands(program);
 * registerRegistryCommands(program);
 */
export function registerRegistryCommands(program: Command): void {
  const models = usageErrorsExit2(program.command("models").description("register, list, alias, compare, document, retire and download model versions"));

  models
    .command("list")
    .description("list registered models")
    .option("--filter <filter>", "registry filter, e.g. \"name LIKE 'fraud%'\" or \"tags.team = 'risk'\"")
    .option("--max <n>", "show at most N models", positiveInt, 1000)
    .action(
      action(async (opts: { filter?: string; max: number }, cmd: Command) => {
        const cairn = clientFor(cmd);
        const search: Parameters<typeof cairn.models.searchAll>[0] = { limit: opts.max, maxResults: Math.min(opts.max, 1000) };
        if (opts.filter) search.filter = opts.filter;
        const list: RegisteredModel[] = [];
        for await (const m of cairn.models.searchAll(search)) list.push(m);
        if (wantsJson(cmd)) return printJson({ registeredModels: list });
        printTable(
          ["NAME", "LATEST", "ALIASES", "UPDATED", "DESCRIPTION"],
          list.map((m) => {
            const latest = m.latestVersions.reduce((n, v) => Math.max(n, Number(v.version)), 0);
            return [m.name, latest || "", m.aliases.map((a) => `${a.alias}→${a.version}`).join(", "), formatTime(m.lastUpdatedTimestamp), m.description];
          }),
        );
        if (list.length === opts.max) process.stderr.write(`(showing the first ${opts.max} models; use --max to see more)\n`);
      }),
    );

  models
    .command("show")
    .description("show a registered model: its versions, aliases and tags")
    .argument("<name>", "model name")
    .action(
      action(async (name: string, _opts: unknown, cmd: Command) => {
        const cairn = clientFor(cmd);
        const model = await cairn.models.get(name);
        const versions = await versionsOf(cairn, name);
        if (wantsJson(cmd)) return printJson({ registeredModel: model, modelVersions: versions });
        printKeyValues([
          ["name", model.name],
          ["description", model.description],
          ["created", formatTime(model.creationTimestamp)],
          ["updated", formatTime(model.lastUpdatedTimestamp)],
          ["versions", versions.length],
        ]);
        if (versions.length) {
          printHeading("Versions");
          printTable(
            ["VERSION", "ALIASES", "STAGE", "STATUS", "FLAVORS", "RUN ID", "SOURCE", "CREATED"],
            versions.map((v) => [Number(v.version), aliasesOf(model, v.version).join(", "), v.currentStage, v.status, v.flavors.map((f) => f.name).join(", "), v.runId, v.source, formatTime(v.creationTimestamp)]),
            { maxCell: 60 },
          );
          const notes = versions.filter((v) => v.statusMessage);
          if (notes.length) {
            printHeading("Status messages");
            printTable(["VERSION", "STATUS", "MESSAGE"], notes.map((v) => [Number(v.version), v.status, v.statusMessage]), { maxCell: 200 });
          }
        }
        if (model.aliases.length) {
          printHeading("Aliases");
          printTable(["ALIAS", "VERSION"], [...model.aliases].sort((a, b) => a.alias.localeCompare(b.alias)).map((a) => [a.alias, a.version]));
        }
        const tags = Object.entries(model.tags).sort(([a], [b]) => a.localeCompare(b));
        if (tags.length) {
          printHeading("Tags");
          printTable(["KEY", "VALUE"], tags, { maxCell: 100 });
        }
      }),
    );

  models
    .command("register")
    .description("register a new version of a model (creating the model if needed): from SOURCE, or upload a package directory with --path first")
    .argument("<name>", "model name")
    .argument("[source]", "runs:/<run-id>/<path> or an mlflow-artifacts: URI (not with --path)")
    .option("--run-id <id>", "the run that produced it (default: the run of a runs:/ source)")
    .option("--path <dir>", "a package directory (see `models package`) to upload into a run and register")
    .option("--run <id>", "with --path: the run to upload into (default: a new run in --experiment)")
    .option("--experiment <name>", "with --path and no --run: the experiment of the new run (default: Default)")
    .option("--artifact-path <path>", "with --path: where in the run's artifacts the package goes", "model")
    .option("--description <text>", "the version's description")
    .option("--tag <key=value>", "a version tag (repeatable)", keyValue)
    .action(
      action(async (name: string, sourceArg: string | undefined, opts: { runId?: string; path?: string; run?: string; experiment?: string; artifactPath: string; description?: string; tag?: Record<string, string> }, cmd: Command) => {
        if (opts.path === undefined && sourceArg === undefined) usage(cmd, "give SOURCE or --path DIR");
        if (opts.path !== undefined && sourceArg !== undefined) usage(cmd, "give either SOURCE or --path DIR, not both");
        if (opts.run !== undefined && opts.experiment !== undefined) usage(cmd, "give either --run or --experiment, not both");
        if (opts.path === undefined && (opts.run !== undefined || opts.experiment !== undefined)) usage(cmd, "--run and --experiment go with --path");
        const cairn = clientFor(cmd);
        const json = wantsJson(cmd);
        const uploaded = opts.path === undefined ? undefined : await uploadPackage(cairn, opts.path, { run: opts.run, experiment: opts.experiment, artifactPath: opts.artifactPath, json });
        const source = uploaded?.source ?? sourceArg!;
        const { created } = await getOrCreateModel(cairn, name);
        const req: Parameters<typeof cairn.models.createVersion>[0] = { name, source };
        if (uploaded) req.runId = uploaded.runId;
        if (opts.runId) req.runId = opts.runId;
        if (opts.description !== undefined) req.description = opts.description;
        if (opts.tag) req.tags = opts.tag;
        const v = await cairn.models.createVersion(req);
        if (json) return printJson({ modelVersion: v, createdModel: created });
        if (created) process.stdout.write(`Created registered model '${name}'\n`);
        if (uploaded) process.stdout.write(`Uploaded ${opts.path} to ${uploaded.source}\n`);
        process.stdout.write(`Registered '${v.name}' version ${v.version}${v.flavors.length ? ` (${v.flavors.map((f) => f.name).join(", ")})` : ""}\n`);
        // The version exists either way; a package that did not validate is an error for scripts.
        if (v.status === "FAILED_REGISTRATION") {
          process.stderr.write(`error: FAILED_REGISTRATION: ${v.statusMessage}\n`);
          process.exitCode = 1;
        }
      }),
    );

  models
    .command("package")
    .description("write a model package into DIR: the model and an MLflow-compatible MLmodel naming its flavor")
    .argument("<dir>", "package directory (created when missing; for --js, the module's directory)")
    .option("--onnx <file>", "an ONNX model (copied into DIR unless it is inside it)")
    .option("--js <entry>", "a JS module's entry file, relative to DIR (e.g. index.mjs)")
    .option("--signature <file>", "a signature JSON file: {inputs: [{name, dtype, shape}], outputs: [...]} or MLflow's form")
    .action(
      action(async (dir: string, opts: { onnx?: string; js?: string; signature?: string }, cmd: Command) => {
        if ((opts.onnx === undefined) === (opts.js === undefined)) usage(cmd, "give exactly one of --onnx FILE or --js ENTRY");
        const model: ModelSource = opts.onnx !== undefined ? { onnx: opts.onnx } : { jsModule: dir, entry: opts.js! };
        const pkgOpts = opts.signature === undefined ? {} : { signature: await readSignatureFile(opts.signature) };
        const res = await writeModelPackage(opts.onnx !== undefined ? dir : undefined, model, pkgOpts);
        if (wantsJson(cmd)) return printJson({ dir: res.dir, flavors: res.flavors, signature: pkgOpts.signature ?? null });
        process.stdout.write(`Wrote ${join(res.dir, "MLmodel")} (flavors: ${res.flavors.map((f) => f.name).join(", ")})\n`);
      }),
    );

  models
    .command("alias")
    .description("point an alias at a version, or delete it with --delete")
    .argument("<name>", "model name")
    .argument("<alias>", "alias, e.g. champion")
    .argument("[version]", "version number")
    .option("--delete", "delete the alias")
    .action(
      action(async (name: string, alias: string, version: string | undefined, opts: { delete?: boolean }, cmd: Command) => {
        if (opts.delete && version !== undefined) usage(cmd, "give either VERSION or --delete, not both");
        if (!opts.delete && version === undefined) usage(cmd, "missing VERSION (or --delete)");
        if (version !== undefined && !/^\d+$/.test(version)) usage(cmd, `VERSION must be a positive integer, got '${version}'`);
        const cairn = clientFor(cmd);
        if (opts.delete) {
          await cairn.models.deleteAlias(name, alias);
          if (wantsJson(cmd)) return printJson({ name, alias, version: null });
          process.stdout.write(`Deleted alias '${alias}' of '${name}'\n`);
          return;
        }
        await cairn.models.setAlias(name, alias, version!);
        if (wantsJson(cmd)) return printJson({ name, alias, version: String(Number(version)) });
        process.stdout.write(`'${name}@${alias}' → version ${Number(version)}\n`);
      }),
    );

  models
    .command("history")
    .description("show an alias's changes, newest first")
    .argument("<name>", "model name")
    .argument("<alias>", "alias")
    .option("--at <time>", "also say which version it pointed to then (ms since the epoch or an ISO date)", timeArg)
    .action(
      action(async (name: string, alias: string, opts: { at?: number }, cmd: Command) => {
        const res = await clientFor(cmd).models.aliasHistory(name, alias, opts.at === undefined ? {} : { at: opts.at });
        if (wantsJson(cmd)) return printJson(res);
        printTable(
          ["TIME", "FROM", "TO", "ACTOR", "REQUEST"],
          res.history.map((h) => [formatTime(h.time), h.fromVersion ?? "(none)", h.toVersion ?? "(deleted)", h.actor, h.requestId ?? ""]),
        );
        if (opts.at !== undefined) process.stdout.write(`\nAt ${formatTime(opts.at)}: ${res.versionAt ? `version ${res.versionAt}` : "no version"}\n`);
      }),
    );

  models
    .command("compare")
    .description("compare versions' source-run params and latest metrics side by side (* marks rows that differ)")
    .argument("<name>", "model name")
    .argument("<versions...>", "two or more version numbers")
    .option("--diff-only", "show only the rows that differ")
    .action(
      action(async (name: string, versions: string[], opts: { diffOnly?: boolean }, cmd: Command) => {
        if (versions.length < 2) usage(cmd, "compare needs at least two versions");
        for (const v of versions) if (!/^\d+$/.test(v)) usage(cmd, `versions must be positive integers, got '${v}'`);
        const list = await clientFor(cmd).models.compare(name, versions);
        const rows = versionCompareRows(list).filter((r) => !opts.diffOnly || r.differs);
        if (wantsJson(cmd)) return printJson({ name, versions: list.map((c) => ({ version: c.version.version, runId: c.version.runId, params: c.params, metrics: c.metrics })), rows });
        printTable(
          ["", "KEY", ...list.map((c) => `v${c.version.version}`)],
          rows.map((r) => [r.differs ? "*" : " ", r.key, ...r.values.map((v) => formatCell(v as Cell))]),
          { maxCell: 40 },
        );
      }),
    );

  models
    .command("card")
    .description("print a model's card (with --version, that version's source-run metrics as evaluation results)")
    .argument("<name>", "model name")
    .option("--markdown", "print the card rendered as Markdown")
    .option("--version <n>", "evaluation results of this version (default: the card's version)", positiveInt)
    .action(
      action(async (name: string, opts: { markdown?: boolean; version?: number }, cmd: Command) => {
        const cairn = clientFor(cmd);
        const sel = opts.version === undefined ? {} : { version: opts.version };
        if (opts.markdown) {
          process.stdout.write(await cairn.models.getCardMarkdown(name, sel));
          return;
        }
        const res = await cairn.models.getCard(name, sel);
        if (wantsJson(cmd)) return printJson(res);
        const c = res.card;
        printKeyValues([
          ["name", res.name],
          ["version", c.version ?? ""],
          ["risk class", c.riskClass ?? ""],
          ["owners", (c.owners ?? []).join(", ")],
          ["contact", c.contact ?? ""],
          ["updated", formatTime(res.lastUpdatedTimestamp)],
        ]);
        for (const [title, text] of [["Intended use", c.intendedUse], ["Out-of-scope use", c.outOfScopeUse], ["Limitations", c.limitations], ["Evaluation", c.evaluation], ["Ethical considerations", c.ethicalConsiderations]] as const) {
          if (!text) continue;
          printHeading(title);
          process.stdout.write(`${text}\n`);
        }
        if (c.trainingDatasets?.length) {
          printHeading("Training datasets");
          printTable(["NAME", "VERSION", "URI"], c.trainingDatasets.map((d) => [d.name, d.version ?? "", d.uri ?? ""]), { maxCell: 80 });
        }
        if (res.evaluationResults) {
          printHeading(`Evaluation results (version ${res.evaluationResults.version})`);
          printTable(["METRIC", "VALUE"], Object.entries(res.evaluationResults.metrics).sort(([a], [b]) => a.localeCompare(b)));
        }
      }),
    );

  models
    .command("compat")
    .description("check whether version V2's signature can replace V1's: findings, each breaking or not (exit 0 either way)")
    .argument("<name>", "model name")
    .argument("<v1>", "the old version")
    .argument("<v2>", "the new version")
    .action(
      action(async (name: string, v1: string, v2: string, _opts: unknown, cmd: Command) => {
        for (const v of [v1, v2]) if (!/^\d+$/.test(v)) usage(cmd, `versions must be positive integers, got '${v}'`);
        const res = await clientFor(cmd).models.compatibility(name, v1, v2);
        if (wantsJson(cmd)) return printJson(res);
        if (res.findings.length) {
          printTable(
            ["BREAKING", "KIND", "FIELD", "FROM", "TO", "MESSAGE"],
            res.findings.map((f) => [f.breaking ? "yes" : "no", f.kind, f.field, f.from ?? "", f.to ?? "", f.message]),
            { maxCell: 80 },
          );
          process.stdout.write("\n");
        }
        process.stdout.write(`'${name}' version ${res.to} is ${res.compatible ? "compatible" : "NOT compatible"} with version ${res.from}\n`);
      }),
    );

  models
    .command("retire")
    .description("mark a version deprecated or archived (an archived version takes no new alias), or clear it with --undo")
    .argument("<name>", "model name")
    .argument("<version>", "version number", positiveInt)
    .option("--state <state>", "deprecated or archived", "deprecated")
    .option("--reason <text>", "why (required unless --undo)")
    .option("--undo", "clear the version's retirement")
    .action(
      action(async (name: string, version: number, opts: { state: string; reason?: string; undo?: boolean }, cmd: Command) => {
        const cairn = clientFor(cmd);
        if (opts.undo) {
          const v = await cairn.models.unretire(name, version);
          if (wantsJson(cmd)) return printJson({ modelVersion: v });
          process.stdout.write(`'${name}' version ${v.version} is no longer retired\n`);
          return;
        }
        if (opts.state !== "deprecated" && opts.state !== "archived") usage(cmd, `--state must be deprecated or archived, got '${opts.state}'`);
        if (!opts.reason) usage(cmd, "missing --reason");
        const v = await cairn.models.retire(name, version, { state: opts.state as "deprecated" | "archived", reason: opts.reason! });
        if (wantsJson(cmd)) return printJson({ modelVersion: v });
        process.stdout.write(`'${name}' version ${v.version} is ${v.retirement?.state}: ${v.retirement?.reason}\n`);
      }),
    );

  registerPromotionCommands(models);

  models
    .command("download")
    .description("download a model version's files into DIR")
    .argument("<model>", "NAME@ALIAS, NAME/VERSION or a models:/ URI", modelRefToUri)
    .argument("<dir>", "destination directory")
    .action(
      action(async (uri: string, dir: string, _opts: unknown, cmd: Command) => {
        const json = wantsJson(cmd);
        const bar = createProgress("download", json);
        let res;
        try {
          res = await clientFor(cmd).models.download(uri, dir, { onProgress: (d, t) => bar.update(d, t) });
        } finally {
          bar.stop();
        }
        if (json) return printJson({ name: res.version.name, version: res.version.version, artifactUri: res.artifactUri, path: res.path });
        process.stdout.write(`Downloaded '${res.version.name}' version ${res.version.version} to ${res.path}\n`);
      }),
    );
}
