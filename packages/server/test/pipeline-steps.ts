import type { Step } from "../src/modules/pipelines/types.js";

/** A resolved step for tests: one CPU, no deps, outputs or retries (10 ms backoff), cached; `extra` overrides. */
export function testStep(name: string, cmd: string, extra: Partial<Step> = {}): Step {
  return { name, cmd, deps: [], outs: [], params: [], env: {}, resources: { cpu: 1, memoryMb: 0, gpu: 0 }, retries: 0, retryDelayMs: 10, cache: true, ...extra };
}
