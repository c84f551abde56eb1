import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseDocument } from "yaml";
import { z } from "zod";
import { CairnError, DatasetName, STEP_FN_ENV, STEP_PARAMS_ENV } from "@cairn/contract";
import type { Dep, Out, Pipeline, Resources, Step } from "./types.js";

/**
 * Loading and validating pipeline definitions (`cairn.yaml`, or a TypeScript object through
 * {@link definePipeline}) into the resolved {@link Pipeline} form. Every problem found is reported
 * at once, as one CairnError INVALID_PARAMETER_VALUE whose `details` name the step and the field.
 * The format and the rules are described in this folder's README.md.
 */

/** A parameter value: what `${params.x}` interpolates and what the cache key hashes. */
export type ParamValue = string | number | boolean;
/** Parameter defaults as written: scalars, or nested maps that flatten to dotted names (`train.lr`). */
export interface ParamTree {
  [name: string]: ParamValue | ParamTree;
}

/** One output as written: a path, or a path registered as a new version of a dataset. */
export type OutDefinition = string | { path: string; dataset?: string };

/** One step as written in `cairn.yaml` (snake_case keys, like the file). */
export interface StepDefinition {
  /** A shell command; or give `function` (written by the TypeScript loader for `fn` steps). */
  cmd?: string;
  function?: string;
  /** Files or directories (relative to the root), other steps' outputs, or `data:NAME@REF`. */
  deps?: string[];
  outs?: OutDefinition[];
  /** Params the step reads without interpolating them into `cmd`. */
  params?: string[];
  env?: Record<string, string | number | boolean>;
  /** `memory` in MiB, or a string such as `"512MB"` or `"2GB"` (binary units: 1GB = 1024 MiB). */
  resources?: { cpu?: number; memory?: number | string; gpu?: number };
  retries?: number;
  /** Milliseconds, or `"500ms"`, `"2s"`, `"1m"`, `"1h"`, `"1m30s"`. */
  retry_delay?: number | string;
  timeout?: number | string;
  cache?: boolean;
}

/** A whole pipeline as written: the raw shape of `cairn.yaml`. */
export interface PipelineDefinition {
  name: string;
  params?: ParamTree;
  steps: Record<string, StepDefinition>;
}

export interface ResolveOptions {
  /** `-p name=value` overrides (strings; numbers and booleans are recognised). */
  params?: Record<string, string>;
  /** A YAML or JSON file of param values, applied over the defaults and under `params`. */
  paramsFile?: string;
}

export interface ParseOptions extends ResolveOptions {
  /** The directory that paths are relative to. */
  root: string;
  /** The definition file, for messages. */
  file?: string;
}

/** The command of a function step: the definition module run by Node with tsx, which calls the step's function. */
function functionCommand(module: string): string {
  return `node --import tsx ${module}`;
}

/** Default retry delay (the first backoff), in milliseconds. */
export const DEFAULT_RETRY_DELAY_MS = 1000;
/** What a step gets when it declares no resources: one core, no memory reservation, no GPU. */
export const DEFAULT_RESOURCES: Readonly<Resources> = { cpu: 1, memoryMb: 0, gpu: 0 };
/** Environment variables a step may not set: the executor assigns them. */
export const RESERVED_ENV = ["CUDA_VISIBLE_DEVICES"] as const;

const NAME_RE = /^[A-Za-z0-9][\w.-]*$/;
const NAME_MSG = "must start with a letter or digit and contain only letters, digits, '_', '-' and '.'";
const PARAM_SEGMENT_RE = /^[A-Za-z_][\w-]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INTERPOLATION_RE = /\$\{\s*params\.([^}]*?)\s*\}/g;
const DATASET_DEP_RE = /^data:(.*)$/;
const REF_RE = /^[A-Za-z0-9][\w.-]*$/;

// ---------------------------------------------------------------------------------------------
// Raw schema

const Duration = z.union([z.number().finite().min(0), z.string()], { error: 'must be milliseconds (a number) or a duration such as "500ms", "2s", "1m"' });

const OutSchema = z.preprocess(
  (v) => (typeof v === "string" ? { path: v } : v),
  z.strictObject(
    {
      path: z.string({ error: "must be a string" }),
      dataset: z.string({ error: "must be a string" }).regex(NAME_RE, `dataset name ${NAME_MSG}`).optional(),
    },
    { error: "must be a path or an object { path, dataset }" },
  ),
);

const StepSchema = z.strictObject(
  {
    cmd: z.string({ error: "must be a string" }).refine((s) => s.trim() !== "", "must not be empty").optional(),
    /** A function step: the TypeScript definition module (relative to the root) whose `definePipeline` runs it. */
    function: z
      .string({ error: "must be the path of the TypeScript definition module" })
      .regex(/^(?!-)(?!.*(^|\/)\.\.(\/|$))[\w./-]+\.(ts|mts|js|mjs)$/, "must be a path under the root to a .ts, .mts, .js or .mjs module (letters, digits, '_', '-', '.', '/'; no '..')")
      .optional(),
    deps: z.array(z.string({ error: "must be a string" }), { error: "must be a list of paths, step outputs or data:NAME@REF" }).optional(),
    outs: z.array(OutSchema, { error: "must be a list of paths or { path, dataset }" }).optional(),
    params: z.array(z.string({ error: "must be a param name" }), { error: "must be a list of param names" }).optional(),
    env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()], { error: "must be a string, number or boolean" }), { error: "must be a map of NAME: value" }).optional(),
    resources: z
      .strictObject(
        {
          cpu: z.number({ error: "must be a number of cores" }).finite().positive("must be more than 0").optional(),
          memory: z.union([z.number().finite().min(0, "must not be negative"), z.string()], { error: 'must be MiB (a number) or a size such as "512MB" or "2GB"' }).optional(),
          gpu: z.number({ error: "must be a whole number of GPUs" }).int("must be a whole number of GPUs").min(0, "must not be negative").optional(),
        },
        { error: "must be a map { cpu, memory, gpu }" },
      )
      .optional(),
    retries: z.number({ error: "must be a whole number" }).int("must be a whole number").min(0, "must not be negative").max(100, "must be at most 100").optional(),
    retry_delay: Duration.optional(),
    timeout: Duration.optional(),
    cache: z.boolean({ error: "must be true or false" }).optional(),
  },
  { error: "must be a map with at least a cmd" },
).superRefine((st, ctx) => {
  if (st.cmd === undefined && st.function === undefined) ctx.addIssue({ code: "custom", message: "is required and must be a string", path: ["cmd"] });
  else if (st.cmd !== undefined && st.function !== undefined) ctx.addIssue({ code: "custom", message: "give a cmd or (in a TypeScript definition) a fn, not both", path: ["cmd"] });
});

const PipelineSchema = z.strictObject(
  {
    name: z.string({ error: "is required and must be a string" }).regex(NAME_RE, NAME_MSG),
    params: z.record(z.string(), z.unknown(), { error: "must be a map of name: value" }).optional(),
    steps: z.record(z.string(), z.unknown(), { error: "is required and must be a map of step name: step" }),
  },
  { error: "a pipeline definition must be a map with name, params and steps" },
);

// ---------------------------------------------------------------------------------------------
// Problems

type PathPart = string | number;
interface Detail {
  path: string;
  message: string;
}

function formatPath(parts: readonly PathPart[]): string {
  let out = "";
  for (const p of parts) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}

class Problems {
  readonly details: Detail[] = [];
  /** A problem in the definition, at a path such as `["steps", "train", "deps", 2]`. */
  add(parts: readonly PathPart[], message: string): void {
    let prefix: string;
    if (parts[0] === "steps" && parts.length >= 2) {
      prefix = `step "${String(parts[1])}"`;
      if (parts.length > 2) prefix += `, field ${formatPath(parts.slice(2))}`;
    } else if (parts.length) prefix = `field ${formatPath(parts)}`;
    else prefix = "definition";
    this.details.push({ path: formatPath(parts) || "(root)", message: `${prefix}: ${message}` });
  }
  /** A problem outside the definition (a params file, a `-p` override). */
  addRaw(p: string, message: string): void {
    this.details.push({ path: p, message });
  }
  fromZod(base: readonly PathPart[], issues: readonly z.core.$ZodIssue[]): void {
    for (const i of issues) {
      const at = [...base, ...i.path.map((p) => (typeof p === "number" ? p : String(p)))];
      if (i.code === "unrecognized_keys") {
        for (const k of i.keys) this.add([...at, k], `unknown field "${k}"`);
      } else this.add(at, i.message);
    }
  }
  throwIfAny(label: string): void {
    if (!this.details.length) return;
    const n = this.details.length;
    throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid pipeline ${label}: ${n} problem${n === 1 ? "" : "s"}:\n${this.details.map((d) => `  - ${d.message}`).join("\n")}`, {
      details: this.details,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Values

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses `"500ms"`, `"2s"`, `"1m30s"`, `"1h"` or a number of milliseconds. */
export function parseDuration(v: number | string): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v : undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  if (!/^(\d+(\.\d+)?\s*(ms|s|m|h)\s*)+$/.test(s)) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2] as keyof typeof unit];
  return Math.round(ms);
}

/** Parses a memory size into MiB (rounded up): a number is MiB; `"512MB"`, `"2GB"`, `"1.5GiB"`, `"2G"`, `"2Gi"` all use binary units. */
export function parseMemoryMb(v: number | string): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? Math.ceil(v) : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|ki|kb|kib|m|mi|mb|mib|g|gi|gb|gib|t|ti|tb|tib)?$/i.exec(v.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? "mb").toLowerCase()[0]!;
  const factor = { b: 1 / (1 << 20), k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 }[unit as "b" | "k" | "m" | "g" | "t"];
  return Math.ceil(Number(m[1]) * factor);
}

/** A `-p` value: `true`/`false` become booleans, numbers become numbers, anything else stays a string. */
export function parseParamValue(s: string): ParamValue {
  if (s === "true") return true;
  if (s === "false") return false;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s.trim()) && Number.isFinite(Number(s))) return Number(s);
  return s;
}

/** How a param value is written into a command: numbers and booleans as JavaScript prints them, strings as they are (not quoted). */
export function renderParam(v: ParamValue): string {
  return String(v);
}

/** Flattens nested maps into dotted names; reports anything that is not a scalar. */
function flattenParams(tree: Record<string, unknown>, prefix: string, out: Map<string, ParamValue>, bad: (name: string, msg: string) => void): void {
  for (const [k, v] of Object.entries(tree)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (!PARAM_SEGMENT_RE.test(k)) bad(name, "a param name must start with a letter or '_' and contain only letters, digits, '_' and '-' (nested maps give dotted names)");
    else if (isPlainObject(v)) flattenParams(v, name, out, bad);
    else if (typeof v === "number" && !Number.isFinite(v)) bad(name, "must be a finite number");
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out.set(name, v);
    else bad(name, `must be a number, boolean or string (got ${v === null ? "null" : Array.isArray(v) ? "a list" : typeof v})`);
  }
}

/** Normalises a relative path (`./a//b/` → `a/b`), or says why it is not acceptable. */
function normalizeRelPath(p: string): { path: string } | { error: string } {
  if (p.trim() === "") return { error: "must not be empty" };
  if (p.includes("\0")) return { error: "must not contain NUL characters" };
  if (path.posix.isAbsolute(p) || /^[A-Za-z]:[\\/]/.test(p)) return { error: `"${p}" is absolute; paths must be relative to the pipeline root` };
  const n = path.posix.normalize(p).replace(/\/+$/, "");
  if (n === ".." || n.startsWith("../")) return { error: `"${p}" escapes the pipeline root` };
  if (n === "." || n === "") return { error: `"${p}" is the pipeline root itself; name a file or directory inside it` };
  if (/\$\{\s*params\./.test(p)) return { error: `"${p}": \${params.…} is only interpolated in cmd and env` };
  return { path: n };
}

/** `a` is `b` or inside the directory `b` (both normalised relative paths). */
export function pathWithin(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`);
}

function withinRoot(realRoot: string, abs: string): boolean {
  const rel = path.relative(realRoot, abs);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

// ---------------------------------------------------------------------------------------------
// Resolution

interface StepDraft {
  name: string;
  index: number;
  /** Parsed by the schema; false: only its outs are known (leniently), for other steps' checks. */
  ok: boolean;
  raw?: z.infer<typeof StepSchema>;
  outs: Out[];
}

/** Outs read leniently from a step that failed the schema, so that other steps' deps on them are not also reported. */
function lenientOuts(raw: unknown): Out[] {
  if (!isPlainObject(raw) || !Array.isArray(raw.outs)) return [];
  const outs: Out[] = [];
  for (const o of raw.outs) {
    const p = typeof o === "string" ? o : isPlainObject(o) && typeof o.path === "string" ? o.path : undefined;
    const n = p === undefined ? undefined : normalizeRelPath(p);
    if (n && "path" in n) outs.push({ path: n.path });
  }
  return outs;
}

function resolveParams(rawParams: unknown, opts: ResolveOptions, problems: Problems): Map<string, ParamValue> {
  const params = new Map<string, ParamValue>();
  if (isPlainObject(rawParams)) flattenParams(rawParams, "", params, (name, msg) => problems.add(["params", name], msg));
  const declared = new Set(params.keys());
  const declaredList = () => (declared.size ? [...declared].join(", ") : "none");
  if (opts.paramsFile !== undefined) {
    const file = path.resolve(opts.paramsFile);
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      problems.addRaw("paramsFile", `params file ${opts.paramsFile}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : (e as Error).message}`);
    }
    if (text !== undefined) {
      const doc = parseDocument(text);
      if (doc.errors.length) for (const err of doc.errors) problems.addRaw("paramsFile", `params file ${opts.paramsFile}: ${err.message.split("\n")[0]}`);
      else {
        const data: unknown = doc.toJS();
        if (data === null || data === undefined) {
          // an empty file sets nothing
        } else if (!isPlainObject(data)) problems.addRaw("paramsFile", `params file ${opts.paramsFile}: must be a map of param name: value`);
        else {
          const fromFile = new Map<string, ParamValue>();
          flattenParams(data, "", fromFile, (name, msg) => problems.addRaw(`paramsFile.${name}`, `params file ${opts.paramsFile}, param "${name}": ${msg}`));
          for (const [k, v] of fromFile) {
            if (!declared.has(k)) problems.addRaw(`paramsFile.${k}`, `params file ${opts.paramsFile}, param "${k}": not a param of this pipeline (declared: ${declaredList()})`);
            else params.set(k, v);
          }
        }
      }
    }
  }
  for (const [k, s] of Object.entries(opts.params ?? {})) {
    if (!declared.has(k)) {
      problems.addRaw(`overrides.${k}`, `-p ${k}=${s}: "${k}" is not a param of this pipeline (declared: ${declaredList()})`);
      continue;
    }
    // A param declared as a string stays a string ("42" must not turn into 42 and change the cache key).
    params.set(k, typeof params.get(k) === "string" ? s : parseParamValue(s));
  }
  return params;
}

/** Replaces `${params.x}` (leaving `$VAR` and `${VAR}` to the shell) and reports unknown names. */
function interpolate(text: string, params: Map<string, ParamValue>, read: Set<string>, at: PathPart[], problems: Problems): string {
  return text.replace(INTERPOLATION_RE, (whole, name: string) => {
    const v = params.get(name);
    if (v === undefined) {
      problems.add(at, `unknown param "${name}" in ${whole} (declared: ${params.size ? [...params.keys()].join(", ") : "none"})`);
      return whole;
    }
    read.add(name);
    return renderParam(v);
  });
}

function findCycles(names: string[], edges: Map<string, Set<string>>): string[][] {
  // Tarjan's strongly connected components over the data-flow edges (producer → consumer).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const sccs: string[][] = [];
  let counter = 0;
  const order = new Map(names.map((n, i) => [n, i]));
  const succ = (n: string) => [...(edges.get(n) ?? [])].sort((a, b) => order.get(a)! - order.get(b)!);
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of succ(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      sccs.push(scc);
    }
  };
  for (const n of names) if (!index.has(n)) visit(n);
  const cycles: string[][] = [];
  for (const scc of sccs) {
    const members = new Set(scc);
    const start = [...scc].sort((a, b) => order.get(a)! - order.get(b)!)[0]!;
    if (scc.length === 1 && !edges.get(start)?.has(start)) continue;
    // The shortest cycle through the earliest-defined member (BFS inside the component).
    const prev = new Map<string, string>();
    const queue = [start];
    let last: string | undefined;
    while (queue.length && last === undefined) {
      const v = queue.shift()!;
      for (const w of succ(v)) {
        if (!members.has(w)) continue;
        if (w === start) {
          last = v;
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    const cycle = [start];
    for (let v = last!; v !== start; v = prev.get(v)!) cycle.splice(1, 0, v);
    cycle.push(start);
    cycles.push(cycle);
  }
  return cycles.sort((a, b) => order.get(a[0]!)! - order.get(b[0]!)!);
}

/**
 * Validates a raw definition and resolves it into a {@link Pipeline}.
 * @param checkFs false: skip the checks that need the files under `root` (used by {@link definePipeline})
 */
function resolveDefinition(raw: unknown, opts: ParseOptions, checkFs: boolean): Pipeline {
  const problems = new Problems();
  const root = path.resolve(opts.root);
  const label = opts.file ? path.relative(process.cwd(), opts.file) || opts.file : "definition";

  const top = PipelineSchema.safeParse(raw);
  if (!top.success) problems.fromZod([], top.error.issues);
  const obj = isPlainObject(raw) ? raw : {};
  const name = typeof obj.name === "string" ? obj.name : "";
  const params = resolveParams(obj.params, opts, problems);

  // 1. Each step on its own: schema, names, interpolation, paths, resources.
  const drafts: StepDraft[] = [];
  const rawSteps = isPlainObject(obj.steps) ? obj.steps : {};
  if (isPlainObject(obj.steps) && Object.keys(rawSteps).length === 0) problems.add(["steps"], "a pipeline needs at least one step");
  for (const [stepName, rawStep] of Object.entries(rawSteps)) {
    const index = drafts.length;
    if (!NAME_RE.test(stepName)) problems.add(["steps", stepName], `the step name ${NAME_MSG}`);
    const parsed = StepSchema.safeParse(rawStep);
    if (!parsed.success) {
      problems.fromZod(["steps", stepName], parsed.error.issues);
      drafts.push({ name: stepName, index, ok: false, outs: lenientOuts(rawStep) });
      continue;
    }
    const outs: Out[] = [];
    (parsed.data.outs ?? []).forEach((o, i) => {
      const n = normalizeRelPath(o.path);
      if ("error" in n) problems.add(["steps", stepName, "outs", i], n.error);
      else outs.push(o.dataset === undefined ? { path: n.path } : { path: n.path, dataset: o.dataset });
    });
    drafts.push({ name: stepName, index, ok: true, raw: parsed.data, outs });
  }

  // 2. Outputs: no path written by two steps, none inside another's output directory.
  const allOuts: { step: string; out: Out; at: PathPart[] }[] = [];
  for (const d of drafts) {
    d.outs.forEach((out, i) => {
      const at: PathPart[] = ["steps", d.name, "outs", i];
      for (const prev of allOuts) {
        const who = prev.step === d.name ? "this step" : `step "${prev.step}"`;
        if (prev.out.path === out.path) problems.add(at, `duplicate output "${out.path}": also an output of ${who}`);
        else if (pathWithin(out.path, prev.out.path)) problems.add(at, `output "${out.path}" is inside the output directory "${prev.out.path}" of ${who}`);
        else if (pathWithin(prev.out.path, out.path)) problems.add(at, `output "${out.path}" contains the output "${prev.out.path}" of ${who}`);
        else continue;
        break;
      }
      allOuts.push({ step: d.name, out, at });
    });
  }
  const producerOf = (p: string) => allOuts.find((o) => pathWithin(p, o.out.path));
  const producersInside = (p: string) => allOuts.filter((o) => pathWithin(o.out.path, p) && o.out.path !== p);

  let realRoot = root;
  if (checkFs) {
    try {
      realRoot = fs.realpathSync(root);
    } catch {
      problems.addRaw("root", `the pipeline root ${root} does not exist`);
    }
  }

  // 3. Deps, params, env, resources; the step graph.
  const steps: Step[] = [];
  const edges = new Map<string, Set<string>>(); // producer → consumers
  const depIndex = new Map<string, Map<string, number>>(); // consumer → producer → first dep index
  for (const d of drafts) {
    if (!d.ok || !d.raw) continue;
    const r = d.raw;
    const at = (...p: PathPart[]): PathPart[] => ["steps", d.name, ...p];
    const read = new Set<string>();
    const cmd = r.function !== undefined ? functionCommand(r.function) : interpolate(r.cmd ?? "", params, read, at("cmd"), problems);
    (r.params ?? []).forEach((p, i) => {
      if (params.has(p)) read.add(p);
      else problems.add(at("params", i), `unknown param "${p}" (declared: ${params.size ? [...params.keys()].join(", ") : "none"})`);
    });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.env ?? {})) {
      if (!ENV_NAME_RE.test(k)) problems.add(at("env", k), "an environment variable name must start with a letter or '_' and contain only letters, digits and '_'");
      else if ((RESERVED_ENV as readonly string[]).includes(k)) problems.add(at("env", k), `${k} is assigned by the executor (ask for GPUs with resources.gpu)`);
      else env[k] = interpolate(String(v), params, read, at("env", k), problems);
    }
    if (r.function !== undefined) {
      if (r.env?.[STEP_FN_ENV] !== undefined || r.env?.[STEP_PARAMS_ENV] !== undefined) problems.add(at("env"), `${STEP_FN_ENV} and ${STEP_PARAMS_ENV} are set by Cairn for function steps`);
      // The function gets the params it declares; as env they are in its cache key.
      env[STEP_FN_ENV] = "1";
      env[STEP_PARAMS_ENV] = JSON.stringify(Object.fromEntries([...read].sort().map((p) => [p, params.get(p)])));
    }

    const deps: Dep[] = [];
    const seen = new Set<string>();
    const push = (dep: Dep) => {
      const key = JSON.stringify(dep);
      if (!seen.has(key)) {
        seen.add(key);
        deps.push(dep);
      }
    };
    const addEdge = (producer: string, i: number) => {
      if (!edges.has(producer)) edges.set(producer, new Set());
      edges.get(producer)!.add(d.name);
      if (!depIndex.has(d.name)) depIndex.set(d.name, new Map());
      if (!depIndex.get(d.name)!.has(producer)) depIndex.get(d.name)!.set(producer, i);
    };
    (r.deps ?? []).forEach((spec, i) => {
      const ds = DATASET_DEP_RE.exec(spec);
      if (ds) {
        const m = /^([^@]*)@(.*)$/.exec(ds[1]!);
        if (!m) return problems.add(at("deps", i), `invalid dataset dependency "${spec}": expected data:NAME@REF (e.g. data:credit@v3)`);
        const nameOk = DatasetName.safeParse(m[1]);
        if (!nameOk.success) return problems.add(at("deps", i), `invalid dataset dependency "${spec}": the dataset name ${nameOk.error.issues[0]!.message}`);
        if (!REF_RE.test(m[2]!) || m[2]!.length > 128) return problems.add(at("deps", i), `invalid dataset dependency "${spec}": the version reference must be v3, a tag, latest or a digest prefix`);
        return push({ kind: "dataset", name: m[1]!, ref: m[2]! });
      }
      const n = normalizeRelPath(spec);
      if ("error" in n) return problems.add(at("deps", i), n.error);
      const p = n.path;
      const producer = producerOf(p);
      if (producer) {
        addEdge(producer.step, i);
        return push({ kind: "step", step: producer.step, path: p });
      }
      const inside = producersInside(p);
      let exists = false;
      if (checkFs) {
        const abs = path.join(root, p);
        if (fs.existsSync(abs)) {
          exists = true;
          try {
            if (!withinRoot(realRoot, fs.realpathSync(abs))) return problems.add(at("deps", i), `"${spec}" resolves outside the pipeline root (through a symlink)`);
          } catch {
            // a dangling link: reported as missing below
            exists = false;
          }
        }
      }
      if (!inside.length && !exists && checkFs) {
        return problems.add(at("deps", i), `"${spec}" is neither an existing file or directory under the root (${root}) nor an output of any step`);
      }
      // A directory that holds other steps' outputs: read after those steps, and hashed as a whole.
      if (exists || !checkFs) push({ kind: "path", path: p });
      for (const o of inside) {
        addEdge(o.step, i);
        push({ kind: "step", step: o.step, path: o.out.path });
      }
    });

    const res = r.resources ?? {};
    let memoryMb = DEFAULT_RESOURCES.memoryMb;
    if (res.memory !== undefined) {
      const mb = parseMemoryMb(res.memory);
      if (mb === undefined) problems.add(at("resources", "memory"), `"${res.memory}" is not a memory size: use MiB (a number) or a size such as "512MB", "2GB"`);
      else memoryMb = mb;
    }
    let retryDelayMs = DEFAULT_RETRY_DELAY_MS;
    if (r.retry_delay !== undefined) {
      const ms = parseDuration(r.retry_delay);
      if (ms === undefined) problems.add(at("retry_delay"), `"${r.retry_delay}" is not a duration: use milliseconds or "500ms", "2s", "1m", "1h"`);
      else retryDelayMs = ms;
    }
    let timeoutMs: number | undefined;
    if (r.timeout !== undefined) {
      const ms = parseDuration(r.timeout);
      if (ms === undefined) problems.add(at("timeout"), `"${r.timeout}" is not a duration: use milliseconds or "500ms", "2s", "1m", "1h"`);
      else if (ms <= 0) problems.add(at("timeout"), "must be more than 0");
      else timeoutMs = ms;
    }
    const step: Step = {
      name: d.name,
      cmd,
      deps,
      outs: d.outs,
      params: [...read].sort(),
      env,
      resources: { cpu: res.cpu ?? DEFAULT_RESOURCES.cpu, memoryMb, gpu: res.gpu ?? DEFAULT_RESOURCES.gpu },
      retries: r.retries ?? 0,
      retryDelayMs,
      cache: r.cache ?? true,
    };
    if (timeoutMs !== undefined) step.timeoutMs = timeoutMs;
    steps.push(step);
  }

  // 4. Cycles, named in data-flow order from the earliest-defined step.
  const names = drafts.map((d) => d.name);
  for (const cycle of findCycles(names, edges)) {
    const first = cycle[0]!;
    const before = cycle[cycle.length - 2]!;
    const i = depIndex.get(first)?.get(before) ?? 0;
    problems.add(["steps", first, "deps", i], cycle.length === 2 ? `dependency cycle: ${first} → ${first} (the step depends on its own output)` : `dependency cycle: ${cycle.join(" → ")}`);
  }

  problems.throwIfAny(name ? `"${name}" (${label})` : label);

  // 5. Topological order, stable by definition order.
  const order = new Map(names.map((n, i) => [n, i]));
  const pending = new Map(steps.map((s) => [s.name, new Set(s.deps.flatMap((d) => (d.kind === "step" ? [d.step] : [])))]));
  const sorted: Step[] = [];
  const done = new Set<string>();
  while (sorted.length < steps.length) {
    const next = steps.filter((s) => !done.has(s.name) && [...pending.get(s.name)!].every((p) => done.has(p))).sort((a, b) => order.get(a.name)! - order.get(b.name)!)[0]!;
    done.add(next.name);
    sorted.push(next);
  }
  return { name, root, params: Object.fromEntries(params), steps: sorted };
}

// ---------------------------------------------------------------------------------------------
// Entry points

/**
 * Parses and validates `cairn.yaml` text into a resolved pipeline. Params: the definition's
 * defaults, then `paramsFile`, then `params` (`-p`) overrides.
 * @throws CairnError INVALID_PARAMETER_VALUE listing every problem in `details` (YAML syntax errors included)
 */
export function parsePipeline(text: string, opts: ParseOptions): Pipeline {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    const file = opts.file ?? "cairn.yaml";
    const details = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
      return { path: where, message: `${where}: ${e.message.split("\n")[0]}` };
    });
    throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid pipeline ${file}: YAML syntax:\n${details.map((d) => `  - ${d.message}`).join("\n")}`, { details });
  }
  return resolveDefinition(doc.toJS(), opts, true);
}

/**
 * Loads a pipeline definition file (a `cairn.yaml`, or a directory holding one). Paths in it are
 * relative to the file's directory.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST when there is no such file; INVALID_PARAMETER_VALUE as {@link parsePipeline}
 */
export function loadPipeline(file: string, opts: ResolveOptions = {}): Pipeline {
  let abs = path.resolve(file);
  try {
    if (fs.statSync(abs).isDirectory()) {
      const yml = ["cairn.yaml", "cairn.yml"].map((f) => path.join(abs, f)).find((f) => fs.existsSync(f));
      if (!yml) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No cairn.yaml in ${file}`);
      abs = yml;
    }
  } catch (e) {
    if (e instanceof CairnError) throw e;
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No such pipeline definition: ${file}`);
    throw e;
  }
  return parsePipeline(fs.readFileSync(abs, "utf8"), { ...opts, root: path.dirname(abs), file: abs });
}

/**
 * A pipeline written in TypeScript: the same shape as `cairn.yaml`. Checks everything that does not
 * need the files (schema, names, params, outputs, cycles) and returns the definition unchanged;
 * {@link resolvePipeline} then resolves it against a root directory with the file checks too.
 * @throws CairnError INVALID_PARAMETER_VALUE as {@link parsePipeline}
 */
export function definePipeline<D extends PipelineDefinition>(def: D): D {
  resolveDefinition(def, { root: process.cwd() }, false);
  return def;
}

/**
 * Resolves a definition object (from {@link definePipeline}, or any object of the `cairn.yaml`
 * shape) against `root`, with the same validation as {@link parsePipeline}.
 * @throws CairnError INVALID_PARAMETER_VALUE listing every problem
 */
export function resolvePipeline(def: PipelineDefinition | unknown, opts: ParseOptions): Pipeline {
  return resolveDefinition(def, opts, true);
}

/**
 * Resolves a definition with `params` (strings, as `-p` gives them) without looking at any file: the
 * server re-resolves a pushed pipeline this way for each run (its files were checked when it was
 * pushed, and params cannot change paths). `root` of the result is `/`.
 * @throws CairnError INVALID_PARAMETER_VALUE listing every problem (unknown params included)
 */
export function resolveWithoutFiles(def: PipelineDefinition | unknown, params: Record<string, string> = {}): Pipeline {
  return resolveDefinition(def, { root: "/", params }, false);
}

const MODULE_RE = /\.(ts|mts|js|mjs)$/;

/**
 * Reads a pipeline definition: a `cairn.yaml` (or a directory holding one), or a TypeScript/JavaScript
 * module whose default export is a definition (the SDK's `definePipeline`). In a module, a step with
 * `fn` becomes a function step (`function: <module>`): it runs as `node --import tsx <module>`, whose
 * `definePipeline` calls the function. Returns the definition object as the YAML would be written.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST (no such file), INVALID_PARAMETER_VALUE (YAML syntax, no definition exported)
 */
export async function readDefinition(target: string): Promise<{ file: string; root: string; definition: unknown }> {
  let abs = path.resolve(target);
  try {
    if (fs.statSync(abs).isDirectory()) {
      const found = ["cairn.yaml", "cairn.yml", "cairn.ts", "cairn.mts"].map((f) => path.join(abs, f)).find((f) => fs.existsSync(f));
      if (!found) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No cairn.yaml or cairn.ts in ${target}`);
      abs = found;
    }
  } catch (e) {
    if (e instanceof CairnError) throw e;
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No such pipeline definition: ${target}`);
    throw e;
  }
  const root = path.dirname(abs);
  if (!MODULE_RE.test(abs)) {
    const doc = parseDocument(fs.readFileSync(abs, "utf8"), { prettyErrors: true });
    if (doc.errors.length) return { file: abs, root, definition: undefined };
    return { file: abs, root, definition: doc.toJS() };
  }
  const { tsImport } = await import("tsx/esm/api");
  const mod = (await tsImport(pathToFileURL(abs).href, import.meta.url)) as { default?: unknown; pipeline?: unknown };
  let def = mod.default ?? mod.pipeline;
  // A module tsx compiles as CommonJS (no "type": "module" nearby) nests its exports one level deeper.
  if (def && typeof def === "object" && !("steps" in def) && "default" in def) def = (def as { default: unknown }).default;
  if (!def || typeof def !== "object" || !("steps" in def)) throw new CairnError("INVALID_PARAMETER_VALUE", `${target} must export a pipeline definition as its default export (export default definePipeline({...}))`);
  const rel = path.relative(root, abs).split(path.sep).join("/");
  const raw = def as { steps?: Record<string, Record<string, unknown>> };
  const steps: Record<string, unknown> = {};
  for (const [name, step] of Object.entries(raw.steps ?? {})) {
    if (step && typeof step === "object" && typeof step.fn === "function") {
      const { fn: _fn, ...rest } = step;
      steps[name] = { ...rest, function: rel };
    } else steps[name] = step;
  }
  return { file: abs, root, definition: { ...(def as object), steps } };
}

/**
 * Loads a pipeline from a `cairn.yaml` or a TypeScript definition module (see {@link readDefinition}),
 * resolved and validated against its directory.
 * @throws CairnError as {@link readDefinition} and {@link parsePipeline}
 */
export async function loadAnyPipeline(target: string, opts: ResolveOptions = {}): Promise<{ pipeline: Pipeline; definition: unknown; file: string }> {
  const { file, root, definition } = await readDefinition(target);
  // YAML keeps its own path so syntax errors name lines and columns.
  const pipeline = MODULE_RE.test(file) ? resolveDefinition(definition, { ...opts, root, file }, true) : parsePipeline(fs.readFileSync(file, "utf8"), { ...opts, root, file });
  return { pipeline, definition, file };
}
