import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { isCairnError, type Cairn } from "@cairn/sdk";
import { clientFor, printError, printJson, printTable, wantsJson, type Cell } from "../../cli/output.js";
import { stepCacheKey, type KeyComponent } from "./cache-key.js";
import type { ExecuteOptions, Executed } from "./cli.js";
import { loadPipeline } from "./definition.js";
import {
  currentRuntime,
  definitionJson,
  gitState,
  lockfileHashes,
  outputDigest,
  PIPELINE_TAGS,
  REPRODUCIBILITY_ARTIFACT,
  type ReproducibilityRecord,
  type RuntimeInfo,
} from "./run-recorder.js";
import type { Pipeline } from "./types.js";

/**
 * `cairn rerun RUN_ID`: reproduces a recorded `cairn run`. It reads the parent run's `pipeline.json`
 * and `reproducibility.json`, checks that the pipeline root has the same definition and that every
 * input hashes the same (code files, deps, dataset digests, params, env: a difference refuses
 * unless `--force`; runtime versions, lockfiles and git state only warn), runs the pipeline again
 * with the recorded params and no cache (a new tracking run tagged `cairn.rerun_of`), then compares
 * every step's output digests with the recorded ones. Exit 0 when all match, 1 otherwise.
 */

export interface RerunOptions {
  dir?: string;
  force?: boolean;
  /** Compare without recording the rerun as a new tracking run. */
  offlineCompare?: boolean;
  jobs?: number;
  cpus?: number;
  logDir?: string;
}

export const RERUN_EXIT = { match: 0, differ: 1, usage: 2, cancelled: 130 } as const;

/** One way the pipeline root differs from the recorded run. `refuse`: an input; `warn`: the environment. */
export interface InputDifference {
  kind: "definition" | "input" | "runtime" | "lockfile" | "git";
  severity: "refuse" | "warn";
  /** The component or item: `code:train.js`, `data:raw@v1`, `runtime.node`, `lockfile:package-lock.json`, `step:train`. */
  name: string;
  steps?: string[];
  recorded?: string;
  now?: string;
  message: string;
}

export interface OutputComparison {
  step: string;
  output: string;
  recorded: string | null;
  now: string | null;
  match: boolean;
}

const short = (s: string | null | undefined) => (s ? (/^[0-9a-f]{64}$/.test(s) ? s.slice(0, 12) : s.length > 40 ? `${s.slice(0, 39)}…` : s) : "-");

/** Differences between the recorded definition (`pipeline.json`) and the current one. */
export function compareDefinitions(recorded: unknown, pipeline: Pipeline): InputDifference[] {
  const now = JSON.parse(definitionJson(pipeline)) as { name: string; params: unknown; steps: { name: string }[] };
  const rec = (recorded ?? {}) as { name?: string; params?: unknown; steps?: { name: string }[] };
  const out: InputDifference[] = [];
  const def = (name: string, message: string): void => void out.push({ kind: "definition", severity: "refuse", name, message });
  if (rec.name !== now.name) def("name", `pipeline name is "${now.name}", recorded "${String(rec.name)}"`);
  if (JSON.stringify(rec.params) !== JSON.stringify(now.params)) def("params", `params differ: recorded ${JSON.stringify(rec.params)}, now ${JSON.stringify(now.params)}`);
  const before = new Map((rec.steps ?? []).map((s) => [s.name, JSON.stringify(s)]));
  const after = new Map(now.steps.map((s) => [s.name, JSON.stringify(s)]));
  for (const [n, j] of before) {
    if (!after.has(n)) def(`step:${n}`, `step "${n}" was removed from the definition`);
    else if (after.get(n) !== j) def(`step:${n}`, `step "${n}" is defined differently (cmd, deps, outs, env, params or options)`);
  }
  for (const n of after.keys()) if (!before.has(n)) def(`step:${n}`, `step "${n}" was added to the definition`);
  return out;
}

/** Runtime, lockfile and git differences (warnings only). */
export function compareEnvironment(
  record: Pick<ReproducibilityRecord, "runtime" | "lockfiles" | "git">,
  now: { runtime: RuntimeInfo; lockfiles: Record<string, string>; git: { commit: string; dirty: boolean } | null },
): InputDifference[] {
  const out: InputDifference[] = [];
  for (const k of ["node", "cairn", "platform", "arch"] as const) {
    const a = record.runtime?.[k];
    const b = now.runtime[k];
    if (a !== b) out.push({ kind: "runtime", severity: "warn", name: `runtime.${k}`, recorded: a ?? "-", now: b, message: `runtime ${k} is ${b}, recorded ${a ?? "(none)"}` });
  }
  const names = [...new Set([...Object.keys(record.lockfiles ?? {}), ...Object.keys(now.lockfiles)])].sort();
  for (const n of names) {
    const a = record.lockfiles?.[n];
    const b = now.lockfiles[n];
    if (a === b) continue;
    const message = a === undefined ? `lockfile ${n} was added` : b === undefined ? `lockfile ${n} is missing` : `lockfile ${n} changed ${short(a)} → ${short(b)}`;
    out.push({ kind: "lockfile", severity: "warn", name: `lockfile:${n}`, ...(a !== undefined ? { recorded: a } : {}), ...(b !== undefined ? { now: b } : {}), message });
  }
  const rg = record.git ?? null;
  const ng = now.git;
  if (rg?.dirty) out.push({ kind: "git", severity: "warn", name: "git.dirty", recorded: "true", message: "the recorded run had uncommitted changes (its exact sources may not be in git)" });
  if (ng?.dirty) out.push({ kind: "git", severity: "warn", name: "git.dirty", now: "true", message: "the working tree has uncommitted changes" });
  if (rg && ng && rg.commit !== ng.commit) out.push({ kind: "git", severity: "warn", name: "git.commit", recorded: rg.commit, now: ng.commit, message: `git commit is ${ng.commit.slice(0, 12)}, recorded ${rg.commit.slice(0, 12)}` });
  if (rg && !ng) out.push({ kind: "git", severity: "warn", name: "git.commit", recorded: rg.commit, message: `the recorded run was at git commit ${rg.commit.slice(0, 12)}; the pipeline root is not in a git work tree now` });
  return out;
}

/**
 * Hashes every step's inputs as they are now and lists each component that differs from the record
 * (`code:`, `dep:`, `data:`, `param:`, `env:`, `cmd`, `outs`). Deps on other steps' outputs are not
 * compared here (they are outputs: compared after the rerun); nor is `runtime` (see compareEnvironment).
 */
export async function compareInputs(
  pipeline: Pipeline,
  record: ReproducibilityRecord,
  datasetDigest: (name: string, ref: string) => Promise<string>,
): Promise<InputDifference[]> {
  // Upstream outputs as recorded, so no step output is hashed (or needed) here.
  const stepOutputDigests: Record<string, string> = {};
  for (const s of pipeline.steps) for (const o of s.outs) stepOutputDigests[`${s.name}:${o.path}`] = record.steps[s.name]?.outputs[o.path] ?? "unrecorded";
  const found = new Map<string, InputDifference>();
  const add = (step: string, d: Omit<InputDifference, "steps">): void => {
    const key = `${d.name}\0${d.recorded ?? ""}\0${d.now ?? ""}`;
    const have = found.get(key);
    if (have) have.steps!.push(step);
    else found.set(key, { ...d, steps: [step] });
  };
  for (const step of pipeline.steps) {
    const rec = record.steps[step.name];
    if (!rec || rec.components.length === 0) continue;
    const stepDeps = new Set(step.deps.flatMap((d) => (d.kind === "step" ? [`dep:${d.path}`] : [])));
    const datasetDigests: Record<string, string> = {};
    for (const d of step.deps) {
      if (d.kind !== "dataset") continue;
      try {
        datasetDigests[`${d.name}@${d.ref}`] = await datasetDigest(d.name, d.ref);
      } catch (e) {
        datasetDigests[`${d.name}@${d.ref}`] = `unresolvable (${isCairnError(e) ? e.code : e instanceof Error ? e.message : String(e)})`;
      }
    }
    let now: KeyComponent[];
    try {
      now = (await stepCacheKey(pipeline, step, { datasetDigests, stepOutputDigests, runtime: { node: process.version, cairn: record.runtime?.cairn ?? "" } })).components;
    } catch (e) {
      add(step.name, { kind: "input", severity: "refuse", name: `step:${step.name}`, message: `cannot hash the inputs of step "${step.name}": ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    const before = new Map(rec.components.map((c) => [c.name, c]));
    const after = new Map(now.map((c) => [c.name, c]));
    for (const name of [...new Set([...before.keys(), ...after.keys()])].sort()) {
      if (name === "runtime" || stepDeps.has(name)) continue;
      const a = before.get(name);
      const b = after.get(name);
      if (a && b && a.hash === b.hash) continue;
      const what = name.startsWith("code:") ? "code file" : name.startsWith("dep:") ? "dependency" : name.startsWith("data:") ? "dataset" : name.startsWith("param:") ? "param" : name.startsWith("env:") ? "env" : "component";
      const label = name.replace(/^(code|dep|data|param|env):/, "");
      const message = !a
        ? `${what} ${label} is new (not in the recorded run)`
        : !b
          ? `${what} ${label} is no longer an input`
          : `${what} ${label} changed: recorded ${short(a.value)}, now ${short(b.value)}`;
      add(step.name, { kind: "input", severity: "refuse", name, ...(a ? { recorded: a.value } : {}), ...(b ? { now: b.value } : {}), message });
    }
  }
  return [...found.values()];
}

/** Each recorded or declared output of each step: recorded digest vs now. */
export function compareOutputs(pipeline: Pipeline, record: ReproducibilityRecord, now: Record<string, Record<string, string>>): OutputComparison[] {
  const rows: OutputComparison[] = [];
  for (const step of pipeline.steps) {
    const rec = record.steps[step.name]?.outputs ?? {};
    const cur = now[step.name] ?? {};
    const paths = [...new Set([...step.outs.map((o) => o.path), ...Object.keys(rec)])];
    for (const p of paths) {
      const a = rec[p] ?? null;
      const b = cur[p] ?? null;
      if (a === null && b === null) continue;
      rows.push({ step: step.name, output: p, recorded: a, now: b, match: a !== null && a === b });
    }
  }
  return rows;
}

async function fetchRecord(cairn: Cairn, runId: string): Promise<{ definition: unknown; record: ReproducibilityRecord; pipelineName: string | undefined }> {
  const run = await cairn.runs.get(runId);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-rerun-"));
  try {
    const read = async (p: string): Promise<unknown> => {
      const local = await cairn.artifacts.download(runId, p, dir);
      const file = fs.statSync(local).isDirectory() ? path.join(local, path.basename(p)) : local;
      return JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    };
    const definition = await read("pipeline.json");
    let record: ReproducibilityRecord;
    try {
      record = (await read(REPRODUCIBILITY_ARTIFACT)) as ReproducibilityRecord;
    } catch (e) {
      if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") {
        throw new Error(`run ${runId} has no ${REPRODUCIBILITY_ARTIFACT} (it was not recorded by a cairn run that records reproducibility, or it did not finish)`);
      }
      throw e;
    }
    return { definition, record, pipelineName: run.data.tags[PIPELINE_TAGS.pipeline] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The `cairn rerun` action. `execute` is `executePipeline` from `cli.ts` (passed in to avoid an import cycle). */
export async function rerunCommand(
  runId: string,
  opts: RerunOptions,
  cmd: Command,
  execute: (p: Pipeline, o: ExecuteOptions, c: Command) => Promise<Executed | number>,
): Promise<void> {
  const json = wantsJson(cmd);
  const err = (s: string) => process.stderr.write(s);
  const cairn = clientFor(cmd);

  let fetched: Awaited<ReturnType<typeof fetchRecord>>;
  try {
    fetched = await fetchRecord(cairn, runId);
  } catch (e) {
    if (isCairnError(e)) printError(e);
    else err(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = RERUN_EXIT.differ;
    return;
  }
  const { definition, record } = fetched;

  const dir = path.resolve(opts.dir ?? process.cwd());
  let pipeline: Pipeline;
  try {
    const params = Object.fromEntries(Object.entries(record.params ?? {}).map(([k, v]) => [k, String(v)]));
    pipeline = loadPipeline(dir, { params });
  } catch (e) {
    err(`error: cannot load the pipeline in ${dir} with the recorded params: ${isCairnError(e) ? `${e.code}: ${e.message.split("\n")[0]}` : e instanceof Error ? e.message : String(e)}\n`);
    if (isCairnError(e)) for (const d of (e.details ?? []) as { message?: unknown }[]) if (typeof d.message === "string") err(`  - ${d.message}\n`);
    process.exitCode = RERUN_EXIT.differ;
    return;
  }

  const differences: InputDifference[] = [
    ...compareDefinitions(definition, pipeline),
    ...(await compareInputs(pipeline, record, async (n, r) => (await cairn.datasets.getVersion(n, r)).digest)),
    ...compareEnvironment(record, { runtime: currentRuntime(), lockfiles: await lockfileHashes(pipeline.root), git: (await gitState(pipeline.root)) ?? null }),
  ];
  const refusals = differences.filter((d) => d.severity === "refuse");
  for (const d of differences) {
    const where = d.steps && d.steps.length > 0 ? ` (step ${d.steps.join(", ")})` : "";
    err(`${d.severity === "warn" ? "warning" : opts.force ? "warning (--force)" : "error"}: ${d.message}${where}\n`);
  }
  if (refusals.length > 0 && !opts.force) {
    err(`error: refusing to rerun ${runId}: ${refusals.length} input${refusals.length === 1 ? "" : "s"} differ from the recorded run (use --force to rerun anyway)\n`);
    if (json) printJson({ rerunOf: runId, status: "refused", differences, outputs: [] });
    process.exitCode = RERUN_EXIT.differ;
    return;
  }

  err(`rerunning ${runId} (pipeline ${pipeline.name} in ${pipeline.root}, recorded params, no cache)\n`);
  const ran = await execute(
    pipeline,
    {
      cache: false,
      ...(opts.offlineCompare ? { offline: true } : { tags: { [PIPELINE_TAGS.rerunOf]: runId } }),
      ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
      ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
      ...(opts.logDir !== undefined ? { logDir: opts.logDir } : {}),
    },
    cmd,
  );
  if (typeof ran === "number") {
    process.exitCode = ran;
    return;
  }
  const { result, recorder } = ran;

  let now: Record<string, Record<string, string>>;
  if (recorder) now = await recorder.outputDigests();
  else {
    now = {};
    for (const s of pipeline.steps) {
      const st = result.steps[s.name]?.status;
      if (st !== "succeeded" && st !== "cached") continue;
      const d: Record<string, string> = {};
      for (const o of s.outs) {
        try {
          d[o.path] = await outputDigest(pipeline.root, o.path);
        } catch {
          // missing
        }
      }
      now[s.name] = d;
    }
  }
  const outputs = compareOutputs(pipeline, record, now);
  const allMatch = result.status === "succeeded" && outputs.every((o) => o.match);
  const mismatched = outputs.filter((o) => !o.match).length;

  if (recorder) {
    try {
      await cairn.runs.setTag(recorder.runId, "cairn.rerun.match", allMatch ? "true" : "false");
    } catch (e) {
      err(`warning: tracking: record the comparison: ${isCairnError(e) ? `${e.code}: ${e.message}` : String(e)}\n`);
    }
  }

  if (json) {
    printJson({
      rerunOf: runId,
      ...(recorder ? { runId: recorder.runId, runUrl: recorder.url } : {}),
      status: allMatch ? "match" : result.status === "succeeded" ? "differ" : result.status,
      pipelineStatus: result.status,
      differences,
      outputs,
    });
  } else {
    printTable(
      ["STEP", "OUTPUT", "RECORDED", "NOW", "MATCH"],
      outputs.map((o): Cell[] => [o.step, o.output, short(o.recorded), short(o.now), o.match ? "yes" : "NO"]),
      { maxCell: 60 },
    );
  }
  if (result.status !== "succeeded") err(`rerun of ${runId}: the pipeline ${result.status}\n`);
  err(
    allMatch
      ? `rerun of ${runId}: all ${outputs.length} output${outputs.length === 1 ? "" : "s"} match\n`
      : `rerun of ${runId}: ${mismatched} of ${outputs.length} output${outputs.length === 1 ? "" : "s"} differ\n`,
  );
  process.exitCode = allMatch ? RERUN_EXIT.match : result.status === "cancelled" ? RERUN_EXIT.cancelled : RERUN_EXIT.differ;
}
