/**
 * Pipelines written in TypeScript: the shape of `cairn.yaml`, where a step may be a function instead
 * of a command. `cairn run pipeline.ts` loads the module's default export; a function step runs as
 * `node --import tsx pipeline.ts` with `CAIRN_STEP_FN=1` and `CAIRN_STEP=<name>`, and
 * {@link definePipeline} then calls that step's function in that process (so it is cached, retried,
 * logged and sent to workers like any command; editing the file changes the steps' cache keys).
 */

import { STEP_FN_ENV, STEP_PARAMS_ENV } from "@cairn/contract";

export type PipelineParamValue = string | number | boolean;

/** What a function step gets. */
export interface StepContext {
  /** The step's name. */
  step: string;
  /** The params the step declares under `params` (resolved: `-p` overrides applied), by name; only those, so its cache key covers what it reads. */
  params: Record<string, PipelineParamValue>;
  /** The directory paths are relative to (the step runs there). */
  root: string;
  /** The attempt, from 1. */
  attempt: number;
}

interface StepCommon {
  /** Files or directories (relative to the root), other steps' outputs, or `data:NAME@REF`. */
  deps?: string[];
  outs?: (string | { path: string; dataset?: string })[];
  /** Params the step reads. A function step gets exactly these in `ctx.params` (and they are in its cache key). */
  params?: string[];
  env?: Record<string, string | number | boolean>;
  /** `memory` in MiB, or a string such as `"512MB"` or `"2GB"`. */
  resources?: { cpu?: number; memory?: number | string; gpu?: number };
  retries?: number;
  retry_delay?: number | string;
  timeout?: number | string;
  cache?: boolean;
}

/** A step: a shell command, or a TypeScript function. */
export type PipelineStep = (StepCommon & { cmd: string; fn?: never }) | (StepCommon & { fn: (ctx: StepContext) => unknown; cmd?: never });

export interface PipelineDefinitionInput {
  name: string;
  params?: Record<string, PipelineParamValue | Record<string, PipelineParamValue>>;
  steps: Record<string, PipelineStep>;
}


/**
 * Declares a pipeline in TypeScript and returns it (export it as the module's default). When the
 * module runs as a function step (`CAIRN_STEP_FN=1`), calls that step's function: the process exits 0
 * when it resolves, 1 with the error printed when it throws.
 * @example
 * export default definePipeline({
 *   name: "churn",
 *   params: { lr: 0.1 },
 *   steps: {
 *     prepare: { cmd: "python prep.py", outs: ["data/clean.csv"] },
 *     train: { fn: async ({ params }) => train(Number(params.lr)), deps: ["data/clean.csv"], outs: ["model/"], params: ["lr"] },
 *   },
 * });
 */
export function definePipeline<D extends PipelineDefinitionInput>(def: D): D {
  if (typeof process !== "undefined" && process.env[STEP_FN_ENV] === "1") {
    const name = process.env.CAIRN_STEP ?? "";
    const step = def.steps[name];
    if (step?.fn) {
      const ctx: StepContext = {
        step: name,
        params: JSON.parse(process.env[STEP_PARAMS_ENV] ?? "{}") as Record<string, PipelineParamValue>,
        root: process.cwd(),
        attempt: Number(process.env.CAIRN_STEP_ATTEMPT ?? 1),
      };
      // Deferred so the module finishes evaluating (its other exports exist) before the step runs.
      queueMicrotask(() => {
        Promise.resolve()
          .then(() => step.fn!(ctx))
          .then(
            () => {
              process.exitCode = 0;
            },
            (e: unknown) => {
              process.stderr.write(`step ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
              process.exitCode = 1;
            },
          );
      });
    } else if (process.env.CAIRN_STEP !== undefined) {
      process.stderr.write(`cairn: no function step named '${name}' in this pipeline\n`);
      process.exitCode = 1;
    }
  }
  return def;
}
