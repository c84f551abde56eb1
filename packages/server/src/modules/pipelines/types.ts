/**
 * The resolved shape of a pipeline, shared by the definition loader (`definition.ts`), the cache
 * (`cache-key.ts`) and the local executor (`local-executor.ts`). A definition file (`cairn.yaml`) or
 * a TypeScript definition is parsed and validated into this form before anything runs.
 */

/** What a step needs to run: CPU cores, memory in MiB, whole GPUs. */
export interface Resources {
  cpu: number;
  memoryMb: number;
  gpu: number;
}

/** One dependency of a step. */
export type Dep =
  /** A file or directory, relative to the pipeline's root directory. */
  | { kind: "path"; path: string }
  /** A dataset version, `data:credit@v3` in the definition. */
  | { kind: "dataset"; name: string; ref: string }
  /** Another step's output path (a `path` dep that is some step's `out` resolves to this). */
  | { kind: "step"; step: string; path: string };

/** One output of a step: a file or directory relative to the root, optionally versioned as a dataset. */
export interface Out {
  path: string;
  /** Register the output as a new version of this dataset after the step succeeds. */
  dataset?: string;
}

export interface Step {
  name: string;
  /** A shell command (run with `/bin/sh -c`), after `${params.x}` interpolation. */
  cmd: string;
  deps: Dep[];
  outs: Out[];
  /** Names of the pipeline params this step reads (interpolated into `cmd` or listed under `params`). */
  params: string[];
  /** Extra environment for the step; part of its cache key. */
  env: Record<string, string>;
  resources: Resources;
  /** Retries after the first attempt fails (0: none), with exponential backoff from `retryDelayMs`. */
  retries: number;
  retryDelayMs: number;
  /** Per attempt; undefined: no limit. */
  timeoutMs?: number;
  cache: boolean;
}

export interface Pipeline {
  name: string;
  /** The directory paths are relative to (the definition file's directory). */
  root: string;
  /** Resolved parameter values: defaults from the definition, a params file, then `-p` overrides. */
  params: Record<string, string | number | boolean>;
  /** Steps in a topological order (dependencies first). */
  steps: Step[];
}
