import { CairnError } from "@cairn/contract";
import { z } from "zod";

/**
 * Hyperparameter sweep core: search spaces, seeded samplers (grid, random, TPE), successive
 * halving rungs, the median stopping rule and best-trial selection. Pure and deterministic — no
 * I/O, no clocks, no `Math.random` — so the executor and tracking can drive it and a sweep replays
 * identically from its seed.
 */

// ---------------------------------------------------------------------------------------------
// Search space
// ---------------------------------------------------------------------------------------------

export type ParamValue = string | number | boolean;
export type Params = Record<string, ParamValue>;
export type Direction = "minimize" | "maximize";

export const ParamValueSchema = z.union([z.string(), z.number(), z.boolean()]);

export const ParamSpecSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("choice"), values: z.array(ParamValueSchema) }).strict(),
  z.object({ type: z.literal("uniform"), min: z.number(), max: z.number() }).strict(),
  z.object({ type: z.literal("loguniform"), min: z.number(), max: z.number() }).strict(),
  z.object({ type: z.literal("int"), min: z.number(), max: z.number(), step: z.number().optional() }).strict(),
]);
export type ParamSpec = z.infer<typeof ParamSpecSchema>;

export const SearchSpaceSchema = z.record(z.string(), ParamSpecSchema);
export type SearchSpace = Record<string, ParamSpec>;

const KINDS = ["choice", "uniform", "loguniform", "int"] as const;

const bad = (param: string, msg: string) => new CairnError("INVALID_PARAMETER_VALUE", `sweep param '${param}': ${msg}`);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Turns one YAML-like entry into the canonical `{ type, ... }` form (shape not yet validated). */
function normalizeEntry(name: string, raw: unknown): unknown {
  if (Array.isArray(raw)) return { type: "choice", values: raw };
  if (!isPlainObject(raw)) {
    throw bad(name, `expected a list of choices or a mapping like { uniform: [min, max] }, got ${JSON.stringify(raw)}`);
  }
  if ("type" in raw) return raw;
  const keys = Object.keys(raw);
  const kind = keys[0];
  if (keys.length !== 1 || kind === undefined) {
    throw bad(name, `expected exactly one of ${KINDS.join(", ")}, got keys [${keys.join(", ")}]`);
  }
  const args = raw[kind];
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw bad(name, `unknown kind '${kind}' (expected one of ${KINDS.join(", ")})`);
  }
  if (!Array.isArray(args)) throw bad(name, `${kind} expects a list, got ${JSON.stringify(args)}`);
  if (kind === "choice") return { type: "choice", values: args };
  if (kind === "int") {
    if (args.length !== 2 && args.length !== 3) throw bad(name, `int expects [min, max] or [min, max, step], got ${args.length} values`);
    return args.length === 3 ? { type: "int", min: args[0], max: args[1], step: args[2] } : { type: "int", min: args[0], max: args[1] };
  }
  if (args.length !== 2) throw bad(name, `${kind} expects [min, max], got ${args.length} values`);
  return { type: kind, min: args[0], max: args[1] };
}

/** Semantic checks beyond the zod shape. */
function checkSpec(name: string, spec: ParamSpec): void {
  if (spec.type === "choice") {
    if (spec.values.length === 0) throw bad(name, "choice needs at least one value");
    const seen = new Set<string>();
    for (const v of spec.values) {
      const key = `${typeof v}:${String(v)}`;
      if (seen.has(key)) throw bad(name, `duplicate choice value ${JSON.stringify(v)}`);
      seen.add(key);
    }
    return;
  }
  if (!Number.isFinite(spec.min) || !Number.isFinite(spec.max)) throw bad(name, `${spec.type} bounds must be finite numbers`);
  if (spec.min >= spec.max) throw bad(name, `${spec.type} min (${spec.min}) must be < max (${spec.max})`);
  if (spec.type === "loguniform" && spec.min <= 0) throw bad(name, `loguniform min must be > 0 (got ${spec.min})`);
  if (spec.type === "int") {
    if (!Number.isInteger(spec.min) || !Number.isInteger(spec.max)) throw bad(name, `int bounds must be integers (got [${spec.min}, ${spec.max}])`);
    if (spec.step !== undefined && (!Number.isInteger(spec.step) || spec.step <= 0)) {
      throw bad(name, `int step must be a positive integer (got ${spec.step})`);
    }
  }
}

/**
 * Parses a search space from a YAML-like object. Accepted per param:
 * `[a, b, c]` (choice shorthand), `{ choice: [...] }`, `{ uniform: [min, max] }`,
 * `{ loguniform: [min, max] }`, `{ int: [min, max] }`, `{ int: [min, max, step] }`, or the
 * canonical `{ type: ..., ... }` form.
 * @throws CairnError INVALID_PARAMETER_VALUE naming the offending param
 */
export function parseSearchSpace(raw: unknown): SearchSpace {
  if (!isPlainObject(raw)) throw new CairnError("INVALID_PARAMETER_VALUE", "sweep search space must be a mapping of param name to spec");
  const names = Object.keys(raw);
  if (names.length === 0) throw new CairnError("INVALID_PARAMETER_VALUE", "sweep search space is empty");
  const space: SearchSpace = {};
  for (const name of names) {
    const normalized = normalizeEntry(name, raw[name]);
    const parsed = ParamSpecSchema.safeParse(normalized);
    if (!parsed.success) {
      const type = isPlainObject(normalized) ? normalized["type"] : undefined;
      if (typeof type === "string" && !(KINDS as readonly string[]).includes(type)) {
        throw bad(name, `unknown kind '${type}' (expected one of ${KINDS.join(", ")})`);
      }
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length ? ` at ${issue.path.join(".")}` : "";
      throw bad(name, `invalid spec${where}: ${issue?.message ?? "malformed"}`);
    }
    checkSpec(name, parsed.data);
    space[name] = parsed.data;
  }
  return space;
}

/** Validates an already-typed space (used by the samplers so hand-built spaces are checked too). */
function assertSpace(space: SearchSpace): void {
  const names = Object.keys(space);
  if (names.length === 0) throw new CairnError("INVALID_PARAMETER_VALUE", "sweep search space is empty");
  for (const name of names) checkSpec(name, space[name]!);
}

const intValues = (spec: { min: number; max: number; step?: number | undefined }): number[] => {
  const step = spec.step ?? 1;
  const out: number[] = [];
  for (let v = spec.min; v <= spec.max; v += step) out.push(v);
  return out;
};

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

/** A seeded pseudo-random generator (mulberry32). */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Integer uniform in [0, n). */
  int(n: number): number;
}

/** mulberry32 seeded from any number (the seed is hashed so nearby seeds give unrelated streams). */
export function createRng(seed: number): Rng {
  let a = hashSeed(seed);
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    normal() {
      const u = 1 - next(); // (0, 1]
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    int(n) {
      return Math.floor(next() * n);
    },
  };
}

function hashSeed(seed: number): number {
  // Fold the float's bits so 1, 1.5 and 2**40 all differ; then a murmur-style finalizer.
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, Number.isFinite(seed) ? seed : 0);
  let h = buf.getUint32(0) ^ Math.imul(buf.getUint32(4), 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

// ---------------------------------------------------------------------------------------------
// Trials and samplers
// ---------------------------------------------------------------------------------------------

export type TrialStatus = "running" | "completed" | "pruned" | "failed";

export interface Trial {
  id: number;
  params: Params;
  status: TrialStatus;
  /** Final objective value (completed trials). */
  value?: number;
  /** Intermediate objective reports, in any order. */
  intermediate: { step: number; value: number }[];
}

export interface Sampler {
  /** The next params to try given the trials so far, or `undefined` when the sampler is exhausted. */
  next(history: Trial[]): Params | undefined;
}

/** True when `a` is strictly better than `b` under `direction`. */
export const isBetter = (a: number, b: number, direction: Direction): boolean => (direction === "minimize" ? a < b : a > b);

/** Draws one value from a param's prior. */
function sampleFromPrior(spec: ParamSpec, rng: Rng): ParamValue {
  switch (spec.type) {
    case "choice":
      return spec.values[rng.int(spec.values.length)]!;
    case "uniform":
      return spec.min + rng.next() * (spec.max - spec.min);
    case "loguniform": {
      const lo = Math.log(spec.min);
      const hi = Math.log(spec.max);
      return Math.min(spec.max, Math.max(spec.min, Math.exp(lo + rng.next() * (hi - lo))));
    }
    case "int": {
      const step = spec.step ?? 1;
      const n = Math.floor((spec.max - spec.min) / step) + 1;
      return spec.min + rng.int(n) * step;
    }
  }
}

function sampleSpace(space: SearchSpace, rng: Rng): Params {
  const out: Params = {};
  for (const [name, spec] of Object.entries(space)) out[name] = sampleFromPrior(spec, rng);
  return out;
}

export interface GridOptions {
  /** Points per continuous param (evenly spaced, log-spaced for loguniform); a number for all, or per param. */
  grid?: number | Record<string, number>;
}

/** The values a grid sampler takes for one param. */
export function gridValues(name: string, spec: ParamSpec, grid?: GridOptions["grid"]): ParamValue[] {
  if (spec.type === "choice") return [...spec.values];
  if (spec.type === "int") return intValues(spec);
  const n = typeof grid === "number" ? grid : grid?.[name];
  if (n === undefined) throw bad(name, `${spec.type} param needs an explicit 'grid: n' point count for grid search`);
  if (!Number.isInteger(n) || n < 1) throw bad(name, `grid point count must be a positive integer (got ${n})`);
  if (n === 1) return [spec.type === "loguniform" ? Math.sqrt(spec.min * spec.max) : (spec.min + spec.max) / 2];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = i / (n - 1);
    out.push(
      spec.type === "loguniform"
        ? Math.exp(Math.log(spec.min) + t * (Math.log(spec.max) - Math.log(spec.min)))
        : spec.min + t * (spec.max - spec.min),
    );
  }
  // Pin the ends exactly (exp/log round-trips drift by an ulp).
  out[0] = spec.min;
  out[n - 1] = spec.max;
  return out;
}

/** A grid sampler with its size, for callers that want to show progress. */
export interface GridSampler extends Sampler {
  readonly size: number;
}

/**
 * Cartesian product of every param's values, in a fixed order: params in the space's key order,
 * the last param varying fastest. Each combination is issued exactly once, then `undefined`.
 * The sampler counts what it has issued; `history` is ignored.
 */
export function gridSampler(space: SearchSpace, opts: GridOptions = {}): GridSampler {
  assertSpace(space);
  const names = Object.keys(space);
  const axes = names.map((n) => gridValues(n, space[n]!, opts.grid));
  const size = axes.reduce((p, a) => p * a.length, 1);
  let issued = 0;
  return {
    size,
    next() {
      if (issued >= size) return undefined;
      let k = issued++;
      const out: Params = {};
      for (let i = names.length - 1; i >= 0; i--) {
        const axis = axes[i]!;
        out[names[i]!] = axis[k % axis.length]!;
        k = Math.floor(k / axis.length);
      }
      // Restore key order for readability.
      const ordered: Params = {};
      for (const n of names) ordered[n] = out[n]!;
      return ordered;
    },
  };
}

export interface RandomOptions {
  /** Stop after this many samples (default: never exhausted). */
  maxTrials?: number;
}

/** Independent draws from each param's prior, reproducible from `seed`. `history` is ignored. */
export function randomSampler(space: SearchSpace, seed: number, opts: RandomOptions = {}): Sampler {
  assertSpace(space);
  const rng = createRng(seed);
  let issued = 0;
  return {
    next() {
      if (opts.maxTrials !== undefined && issued >= opts.maxTrials) return undefined;
      issued++;
      return sampleSpace(space, rng);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// TPE
// ---------------------------------------------------------------------------------------------

export interface TpeOptions {
  /** Completed trials before TPE kicks in; until then samples are random (default 10). */
  startupTrials?: number;
  /** Fraction of completed trials counted as "good" (default 0.25). */
  gamma?: number;
  /** Candidates drawn from l(x) per suggestion; the best l/g wins (default 24). */
  candidates?: number;
  /** Objective direction (default "minimize"). */
  direction?: Direction;
  /** Stop after this many samples (default: never exhausted). */
  maxTrials?: number;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
const normCdf = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));

function logSumExp(xs: number[]): number {
  let m = -Infinity;
  for (const x of xs) if (x > m) m = x;
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

/** A 1-D mixture of Gaussians truncated to [low, high], in the param's internal (maybe log) space. */
interface Parzen1D {
  kind: "numeric";
  low: number;
  high: number;
  mus: number[];
  sigmas: number[];
  logWeights: number[];
  logNorms: number[]; // log of each component's mass inside [low, high]
}

interface ParzenCat {
  kind: "categorical";
  logProbs: number[];
  probs: number[];
}

type Parzen = Parzen1D | ParzenCat;

/** Internal space for a numeric param: bounds, and to/from maps. Ints are widened by half a step. */
function numericDomain(spec: Exclude<ParamSpec, { type: "choice" }>) {
  if (spec.type === "loguniform") {
    return { low: Math.log(spec.min), high: Math.log(spec.max), to: (v: number) => Math.log(v), from: (x: number) => Math.min(spec.max, Math.max(spec.min, Math.exp(x))) };
  }
  if (spec.type === "int") {
    const step = spec.step ?? 1;
    const top = spec.min + Math.floor((spec.max - spec.min) / step) * step;
    return {
      low: spec.min - step / 2,
      high: top + step / 2,
      to: (v: number) => v,
      from: (x: number) => Math.min(top, Math.max(spec.min, spec.min + Math.round((x - spec.min) / step) * step)),
    };
  }
  return { low: spec.min, high: spec.max, to: (v: number) => v, from: (x: number) => Math.min(spec.max, Math.max(spec.min, x)) };
}

/**
 * Fits a truncated-Gaussian Parzen estimator to observations (hyperopt's rule): one kernel per
 * observation plus a broad prior kernel at the domain centre with sigma = domain width. Each
 * kernel's sigma is the larger gap to its sorted neighbours (domain ends included), clipped to
 * [width / min(100, n + 1), width].
 */
function fitNumeric(obs: number[], low: number, high: number, priorWeight = 1): Parzen1D {
  const width = high - low;
  const prior = { mu: (low + high) / 2, sigma: width };
  const sorted = [...obs].sort((a, b) => a - b);
  const mus: number[] = [];
  const sigmas: number[] = [];
  const n = sorted.length;
  const minSigma = width / Math.min(100, n + 1);
  for (let i = 0; i < n; i++) {
    const x = sorted[i]!;
    const left = x - (i > 0 ? sorted[i - 1]! : low);
    const right = (i < n - 1 ? sorted[i + 1]! : high) - x;
    mus.push(x);
    sigmas.push(Math.min(width, Math.max(minSigma, left, right)));
  }
  mus.push(prior.mu);
  sigmas.push(prior.sigma);
  const total = n + priorWeight;
  const logWeights = [...Array<number>(n).fill(Math.log(1 / total)), Math.log(priorWeight / total)];
  const logNorms = mus.map((mu, i) => {
    const s = sigmas[i]!;
    return Math.log(Math.max(1e-300, normCdf((high - mu) / s) - normCdf((low - mu) / s)));
  });
  return { kind: "numeric", low, high, mus, sigmas, logWeights, logNorms };
}

function fitCategorical(obs: number[], k: number, priorWeight = 1): ParzenCat {
  const counts = Array<number>(k).fill(priorWeight);
  for (const i of obs) counts[i]! += 1;
  const total = counts.reduce((a, b) => a + b, 0);
  const probs = counts.map((c) => c / total);
  return { kind: "categorical", probs, logProbs: probs.map((p) => Math.log(p)) };
}

function parzenLogPdf(p: Parzen, x: number): number {
  if (p.kind === "categorical") return p.logProbs[x] ?? -Infinity;
  const terms = p.mus.map((mu, i) => {
    const s = p.sigmas[i]!;
    const z = (x - mu) / s;
    return p.logWeights[i]! - 0.5 * z * z - Math.log(s) - LOG_SQRT_2PI - p.logNorms[i]!;
  });
  return logSumExp(terms);
}

function parzenSample(p: Parzen, rng: Rng): number {
  if (p.kind === "categorical") {
    let u = rng.next();
    for (let i = 0; i < p.probs.length; i++) {
      u -= p.probs[i]!;
      if (u < 0) return i;
    }
    return p.probs.length - 1;
  }
  // Pick a component by weight, then rejection-sample its truncated Gaussian.
  let u = rng.next();
  let c = p.mus.length - 1;
  for (let i = 0; i < p.mus.length; i++) {
    u -= Math.exp(p.logWeights[i]!);
    if (u < 0) {
      c = i;
      break;
    }
  }
  const mu = p.mus[c]!;
  const s = p.sigmas[c]!;
  for (let tries = 0; tries < 100; tries++) {
    const x = mu + s * rng.normal();
    if (x >= p.low && x <= p.high) return x;
  }
  return p.low + rng.next() * (p.high - p.low);
}

/** Index of a choice value (by type and value), or -1. */
const choiceIndex = (values: ParamValue[], v: ParamValue | undefined) => values.findIndex((c) => c === v);

/**
 * Tree-structured Parzen Estimator (Bergstra et al. 2011), univariate: completed trials are split
 * into the best `gamma` fraction ("good", at least one) and the rest plus pruned trials ("bad");
 * per param, l(x) is fitted to the good and g(x) to the bad values; `candidates` points are drawn
 * from l and the one with the highest sum over params of log l(x) - log g(x) is suggested.
 * Random (from the same seeded stream) until `startupTrials` trials have completed.
 */
export function tpeSampler(space: SearchSpace, seed: number, opts: TpeOptions = {}): Sampler {
  assertSpace(space);
  const startupTrials = opts.startupTrials ?? 10;
  const gamma = opts.gamma ?? 0.25;
  const nCandidates = opts.candidates ?? 24;
  const direction = opts.direction ?? "minimize";
  if (!(gamma > 0 && gamma <= 1)) throw new CairnError("INVALID_PARAMETER_VALUE", `TPE gamma must be in (0, 1] (got ${gamma})`);
  if (!Number.isInteger(nCandidates) || nCandidates < 1) throw new CairnError("INVALID_PARAMETER_VALUE", `TPE candidates must be a positive integer (got ${nCandidates})`);
  const rng = createRng(seed);
  const names = Object.keys(space);
  let issued = 0;

  return {
    next(history) {
      if (opts.maxTrials !== undefined && issued >= opts.maxTrials) return undefined;
      issued++;
      const completed = history.filter((t) => t.status === "completed" && t.value !== undefined && Number.isFinite(t.value));
      if (completed.length < Math.max(1, startupTrials)) return sampleSpace(space, rng);

      const ranked = [...completed].sort((a, b) => (direction === "minimize" ? a.value! - b.value! : b.value! - a.value!) || a.id - b.id);
      const nGood = Math.min(ranked.length, Math.max(1, Math.ceil(gamma * ranked.length)));
      const good = ranked.slice(0, nGood);
      const bad = [...ranked.slice(nGood), ...history.filter((t) => t.status === "pruned")];

      const models = names.map((name) => {
        const spec = space[name]!;
        if (spec.type === "choice") {
          const idx = (ts: Trial[]) => ts.map((t) => choiceIndex(spec.values, t.params[name])).filter((i) => i >= 0);
          return { l: fitCategorical(idx(good), spec.values.length) as Parzen, g: fitCategorical(idx(bad), spec.values.length) as Parzen, decode: (x: number): ParamValue => spec.values[x]! };
        }
        const dom = numericDomain(spec);
        const vals = (ts: Trial[]) =>
          ts.map((t) => t.params[name]).filter((v): v is number => typeof v === "number" && Number.isFinite(v) && (spec.type !== "loguniform" || v > 0)).map(dom.to);
        return { l: fitNumeric(vals(good), dom.low, dom.high) as Parzen, g: fitNumeric(vals(bad), dom.low, dom.high) as Parzen, decode: dom.from, encode: dom.to };
      });

      let best: Params | undefined;
      let bestScore = -Infinity;
      for (let c = 0; c < nCandidates; c++) {
        const params: Params = {};
        let score = 0;
        names.forEach((name, i) => {
          const m = models[i]!;
          const raw = parzenSample(m.l, rng);
          const value = m.decode(raw);
          // Score numeric params at the decoded (rounded/clamped) point so ints are scored as issued.
          const x = "encode" in m && m.encode ? m.encode(value as number) : raw;
          score += parzenLogPdf(m.l, x) - parzenLogPdf(m.g, x);
          params[name] = value;
        });
        if (best === undefined || score > bestScore) {
          best = params;
          bestScore = score;
        }
      }
      return best;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Successive halving (ASHA-style rungs)
// ---------------------------------------------------------------------------------------------

export interface SuccessiveHalvingOptions {
  minResource: number;
  maxResource: number;
  reductionFactor?: number;
}

export interface Promotion {
  trialId: number;
  /** Index of the rung the trial is promoted from. */
  rung: number;
  /** Resource (step budget) the trial should continue to. */
  resource: number;
}

export interface SuccessiveHalving {
  /** Resource levels: minResource * eta^k below maxResource, then maxResource. */
  readonly rungs: number[];
  /**
   * Asynchronous promotions (ASHA): at each rung but the last, a trial that reported at that rung's
   * resource, and has not reported beyond it, is promoted when it ranks in the top
   * floor(n / eta) of the n non-failed trials that reached the rung. Values at a rung are the
   * intermediate value at the largest step <= the rung's resource.
   */
  promotions(trials: Trial[], direction: Direction): Promotion[];
  /** The rung value of a trial (intermediate at the largest step <= resource), if it reached it. */
  valueAt(trial: Trial, resource: number): number | undefined;
}

export function successiveHalving(opts: SuccessiveHalvingOptions): SuccessiveHalving {
  const eta = opts.reductionFactor ?? 3;
  const { minResource, maxResource } = opts;
  if (!(minResource > 0) || !(maxResource >= minResource) || !Number.isFinite(maxResource)) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `successive halving needs 0 < minResource <= maxResource (got ${minResource}, ${maxResource})`);
  }
  if (!(eta >= 2)) throw new CairnError("INVALID_PARAMETER_VALUE", `successive halving reductionFactor must be >= 2 (got ${eta})`);
  const rungs: number[] = [];
  for (let r = minResource; r < maxResource; r *= eta) rungs.push(r);
  rungs.push(maxResource);

  const valueAt = (trial: Trial, resource: number): number | undefined => {
    let bestStep = -Infinity;
    let v: number | undefined;
    for (const p of trial.intermediate) {
      if (p.step <= resource && p.step >= bestStep) {
        bestStep = p.step;
        v = p.value;
      }
    }
    const reached = trial.intermediate.some((p) => p.step >= resource) || (trial.status === "completed" && v !== undefined);
    return reached ? v : undefined;
  };

  return {
    rungs,
    valueAt,
    promotions(trials, direction) {
      const out: Promotion[] = [];
      const live = trials.filter((t) => t.status !== "failed");
      for (let k = 0; k < rungs.length - 1; k++) {
        const r = rungs[k]!;
        const at = live
          .map((t) => ({ t, v: valueAt(t, r) }))
          .filter((x): x is { t: Trial; v: number } => x.v !== undefined && Number.isFinite(x.v));
        const top = Math.floor(at.length / eta);
        if (top === 0) continue;
        at.sort((a, b) => (direction === "minimize" ? a.v - b.v : b.v - a.v) || a.t.id - b.t.id);
        for (const { t } of at.slice(0, top)) {
          const maxStep = Math.max(...t.intermediate.map((p) => p.step));
          if (t.status === "running" && maxStep <= r) out.push({ trialId: t.id, rung: k, resource: rungs[k + 1]! });
        }
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Median stopping rule
// ---------------------------------------------------------------------------------------------

export interface MedianStoppingOptions {
  /** Steps before which no trial is stopped (a trial at step < warmupSteps is never pruned; default 0). */
  warmupSteps?: number;
  /** Other trials that must have reached the step before the rule applies (default 5). */
  minTrials?: number;
}

export interface StoppingDecision {
  stop: boolean;
  /** The trial's latest step (undefined when it has not reported). */
  step?: number;
  /** Its best intermediate value up to that step. */
  best?: number;
  /** Median of the others' running averages at that step. */
  median?: number;
  /** How many other trials were compared. */
  compared: number;
}

export interface MedianStoppingRule {
  shouldStop(trial: Trial, allTrials: Trial[], direction: Direction): boolean;
  /** Same decision, with the numbers behind it (for logging why a trial was pruned). */
  evaluate(trial: Trial, allTrials: Trial[], direction: Direction): StoppingDecision;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Google Vizier's median stopping rule: a running trial at step s (its latest report) is stopped
 * when its best intermediate value up to s is strictly worse than the median of the other
 * trials' running averages up to s. "Others" are completed or running trials (not the trial
 * itself, not pruned or failed) that have reported at some step >= s; their running average is the
 * mean of their intermediate values at steps <= s. Applies only when s >= warmupSteps and at
 * least minTrials others qualify.
 */
export function medianStoppingRule(opts: MedianStoppingOptions = {}): MedianStoppingRule {
  const warmupSteps = opts.warmupSteps ?? 0;
  const minTrials = opts.minTrials ?? 5;
  const evaluate = (trial: Trial, allTrials: Trial[], direction: Direction): StoppingDecision => {
    const reports = trial.intermediate.filter((p) => Number.isFinite(p.value));
    if (trial.status !== "running" || reports.length === 0) return { stop: false, compared: 0 };
    const step = Math.max(...reports.map((p) => p.step));
    const values = reports.filter((p) => p.step <= step).map((p) => p.value);
    const best = direction === "minimize" ? Math.min(...values) : Math.max(...values);
    const averages: number[] = [];
    for (const other of allTrials) {
      if (other.id === trial.id || (other.status !== "completed" && other.status !== "running")) continue;
      const ok = other.intermediate.filter((p) => Number.isFinite(p.value));
      if (!ok.some((p) => p.step >= step)) continue;
      const upTo = ok.filter((p) => p.step <= step);
      if (upTo.length === 0) continue;
      averages.push(upTo.reduce((a, p) => a + p.value, 0) / upTo.length);
    }
    if (step < warmupSteps || averages.length < Math.max(1, minTrials)) {
      return { stop: false, step, best, ...(averages.length ? { median: median(averages) } : {}), compared: averages.length };
    }
    const med = median(averages);
    return { stop: isBetter(med, best, direction), step, best, median: med, compared: averages.length };
  };
  return { evaluate, shouldStop: (t, all, d) => evaluate(t, all, d).stop };
}

// ---------------------------------------------------------------------------------------------
// Best trial
// ---------------------------------------------------------------------------------------------

/** The completed trial with the best finite value (ties: lowest id), or undefined. */
export function bestTrial(trials: Trial[], direction: Direction): Trial | undefined {
  let best: Trial | undefined;
  for (const t of trials) {
    if (t.status !== "completed" || t.value === undefined || !Number.isFinite(t.value)) continue;
    if (best === undefined || isBetter(t.value, best.value!, direction) || (t.value === best.value && t.id < best.id)) best = t;
  }
  return best;
}
