import fs from "node:fs";
import path from "node:path";
import { CairnError, isCairnError, type Cairn } from "@cairn/sdk";
import { PROJECT_TAG, type LogEntry, type ManifestEntryInput, type PipelineInfo, type PipelineRun } from "@cairn/contract";
import { buildManifest } from "../datasets/manifest.js";
import { codeReferences } from "./cache-key.js";
import { loadAnyPipeline, type ResolveOptions } from "./definition.js";
import { sourceDatasetOf } from "./service.js";
import type { Pipeline } from "./types.js";

/**
 * The files a pushed pipeline carries: its definition, every file a step's command names, and
 * every path dep (directories whole). Steps' outputs are not included: workers get them from the
 * steps that make them. Scripts that import other files need those declared as deps (as for the
 * cache key).
 */
export async function sourceManifest(pipeline: Pipeline, defFile: string): Promise<ManifestEntryInput[]> {
  const paths = new Set<string>([path.relative(pipeline.root, defFile).split(path.sep).join("/")]);
  for (const step of pipeline.steps) {
    for (const c of codeReferences(pipeline, step)) paths.add(c);
    for (const d of step.deps) if (d.kind === "path") paths.add(d.path);
  }
  const byPath = new Map<string, ManifestEntryInput>();
  for (const rel of [...paths].sort()) {
    const abs = path.join(pipeline.root, rel);
    if (!fs.existsSync(abs)) continue;
    const isFile = fs.statSync(abs).isFile();
    const { entries } = await buildManifest(abs);
    for (const e of entries) {
      const p = isFile ? rel : `${rel}/${e.path}`;
      byPath.set(p, { ...e, path: p });
    }
  }
  return [...byPath.values()];
}

export interface PushOptions extends ResolveOptions {
  project?: string;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Pushes a pipeline to the server: validates it here (files included), uploads the files its steps
 * read as a version of `pipeline-src.<name>` (only blobs the server lacks travel), then records the
 * definition. Returns the pipeline and its params as resolved here (params file and `-p` applied).
 * @throws CairnError INVALID_PARAMETER_VALUE (definition), RESOURCE_DOES_NOT_EXIST (no definition), and the server's errors
 */
export async function pushPipeline(cairn: Cairn, target: string, opts: PushOptions = {}): Promise<{ pipeline: PipelineInfo; resolved: Pipeline; blobsUploaded: number }> {
  const { pipeline: resolved, definition: raw, file } = await loadAnyPipeline(target, { ...(opts.params ? { params: opts.params } : {}), ...(opts.paramsFile ? { paramsFile: opts.paramsFile } : {}) });
  const definition = raw as Record<string, unknown>;
  const dataset = sourceDatasetOf(resolved.name);
  try {
    await cairn.datasets.create(dataset, { description: `Files of pipeline ${resolved.name} (pushed by cairn pipeline push)`, ...(opts.project ? { tags: { [PROJECT_TAG]: opts.project } } : {}) });
  } catch (e) {
    if (!isCairnError(e) || e.code !== "RESOURCE_ALREADY_EXISTS") throw e;
  }
  const entries = await sourceManifest(resolved, file);
  const up = await cairn.datasets.uploadVersion(dataset, {
    entries,
    readFile: (p) => fs.createReadStream(path.join(resolved.root, p)),
    message: `push of ${resolved.name}`,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const { pipeline } = await cairn.client.api.pushPipeline({ body: { definition, source: { dataset, version: up.version.id }, ...(opts.project ? { tags: { [PROJECT_TAG]: opts.project } } : {}) } });
  return { pipeline, resolved, blobsUploaded: up.blobsUploaded };
}

/**
 * Prints a run's logs from the start; with `follow`, keeps reading (long polls) until the run has
 * ended and every line was read. Returns the run as it is then.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST
 */
export async function followLogs(cairn: Cairn, runId: string, onLine: (e: LogEntry) => void, opts: { step?: string; follow?: boolean; signal?: AbortSignal } = {}): Promise<PipelineRun> {
  let after = 0;
  for (;;) {
    let page;
    try {
      page = await cairn.client.api.getPipelineLogs({ params: { id: runId }, query: { after, limit: 5000, ...(opts.step ? { step: opts.step } : {}), ...(opts.follow ? { waitMs: 20_000 } : {}) }, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      if (opts.signal?.aborted) break;
      throw e;
    }
    for (const e of page.entries) onLine(e);
    after = page.next;
    // `done`: the run ended and this page held its last lines.
    if (page.done || opts.signal?.aborted || (!opts.follow && page.entries.length === 0)) break;
  }
  return (await cairn.client.api.getPipelineRun({ params: { id: runId } })).run;
}
