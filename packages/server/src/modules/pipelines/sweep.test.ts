import { describe, expect, it } from "vitest";
import { CairnError } from "@cairn/contract";
import {
  bestTrial,
  createRng,
  gridSampler,
  medianStoppingRule,
  parseSearchSpace,
  randomSampler,
  successiveHalving,
  tpeSampler,
  type Direction,
  type Params,
  type Sampler,
  type SearchSpace,
  type Trial,
} from "./sweep.js";

/** Drives a sampler sequentially against an objective, the way the executor will. */
function runSweep(sampler: Sampler, f: (p: Params) => number, n: number): Trial[] {
  const trials: Trial[] = [];
  for (let i = 0; i < n; i++) {
    const params = sampler.next(trials);
    if (!params) break;
    trials.push({ id: i, params, status: "completed", value: f(params), intermediate: [] });
  }
  return trials;
}

const curve = (id: number, values: number[], status: Trial["status"] = "running"): Trial => ({
  id,
  params: {},
  status,
  intermediate: values.map((value, step) => ({ step, value })),
});

const parseError = (raw: unknown): CairnError => {
  try {
    parseSearchSpace(raw);
  } catch (e) {
    return e as CairnError;
  }
  throw new Error("expected parseSearchSpace to throw");
};

describe("parseSearchSpace", () => {
  it("parses the YAML-like shorthands into canonical specs", () => {
    expect(
      parseSearchSpace({
        lr: { loguniform: [1e-4, 1e-1] },
        depth: { int: [2, 8] },
        width: { int: [16, 128, 16] },
        dropout: { uniform: [0, 0.5] },
        kind: ["a", "b"],
        opt: { choice: ["adam", "sgd", true, 3] },
        canon: { type: "uniform", min: 1, max: 2 },
      }),
    ).toEqual({
      lr: { type: "loguniform", min: 1e-4, max: 1e-1 },
      depth: { type: "int", min: 2, max: 8 },
      width: { type: "int", min: 16, max: 128, step: 16 },
      dropout: { type: "uniform", min: 0, max: 0.5 },
      kind: { type: "choice", values: ["a", "b"] },
      opt: { type: "choice", values: ["adam", "sgd", true, 3] },
      canon: { type: "uniform", min: 1, max: 2 },
    });
  });

  it.each([
    [{ lr: { uniform: [0.5, 0.5] } }, /sweep param 'lr': uniform min \(0\.5\) must be < max \(0\.5\)/],
    [{ depth: { int: [8, 2] } }, /sweep param 'depth': int min \(8\) must be < max \(2\)/],
    [{ lr: { loguniform: [0, 1] } }, /sweep param 'lr': loguniform min must be > 0 \(got 0\)/],
    [{ lr: { loguniform: [-1, 1] } }, /'lr'.*> 0/],
    [{ kind: [] }, /sweep param 'kind': choice needs at least one value/],
    [{ kind: { choice: [] } }, /'kind'.*at least one/],
    [{ kind: ["a", "a"] }, /'kind'.*duplicate choice value "a"/],
    [{ x: { normal: [0, 1] } }, /sweep param 'x': unknown kind 'normal'/],
    [{ x: { type: "normal", min: 0, max: 1 } }, /sweep param 'x': unknown kind 'normal'/],
    [{ x: 3 }, /sweep param 'x': expected a list/],
    [{ x: { uniform: [0] } }, /'x': uniform expects \[min, max\]/],
    [{ x: { uniform: ["a", 1] } }, /sweep param 'x': invalid spec at min/],
    [{ x: { int: [0.5, 3] } }, /'x': int bounds must be integers/],
    [{ x: { int: [0, 10, 0] } }, /'x': int step must be a positive integer/],
    [{ x: { uniform: [0, 1], int: [0, 1] } }, /'x': expected exactly one of/],
    [{}, /search space is empty/],
    [[1, 2], /must be a mapping/],
  ])("rejects %j", (raw, message) => {
    const err = parseError(raw);
    expect(err).toBeInstanceOf(CairnError);
    expect(err.code).toBe("INVALID_PARAMETER_VALUE");
    expect(err.message).toMatch(message);
  });
});

describe("createRng", () => {
  it("is reproducible and seed-sensitive", () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe("gridSampler", () => {
  it("covers the exact cartesian product once, in a deterministic order", () => {
    const space = parseSearchSpace({ a: [1, 2, 3], b: ["x", "y"], c: { int: [0, 4, 2] } });
    const s = gridSampler(space);
    expect(s.size).toBe(18);
    const got = runSweep(s, () => 0, 100).map((t) => t.params);
    expect(got).toHaveLength(18);
    const keys = got.map((p) => JSON.stringify(p));
    expect(new Set(keys).size).toBe(18);
    const expected: string[] = [];
    for (const a of [1, 2, 3]) for (const b of ["x", "y"]) for (const c of [0, 2, 4]) expected.push(JSON.stringify({ a, b, c }));
    expect(keys).toEqual(expected); // last param varies fastest
    expect(s.next([])).toBeUndefined();
    expect(runSweep(gridSampler(space), () => 0, 100).map((t) => t.params)).toEqual(got);
  });

  it("needs an explicit point count for continuous params, evenly (log-)spaced", () => {
    const space = parseSearchSpace({ lr: { loguniform: [1e-4, 1] }, d: { uniform: [0, 1] } });
    expect(() => gridSampler(space)).toThrow(/sweep param 'lr'.*grid: n/);
    const got = runSweep(gridSampler(space, { grid: { lr: 5, d: 3 } }), () => 0, 100).map((t) => t.params);
    expect(got).toHaveLength(15);
    const lrs = [...new Set(got.map((p) => p["lr"] as number))];
    expect(lrs).toHaveLength(5);
    [1e-4, 1e-3, 1e-2, 1e-1, 1].forEach((v, i) => expect(lrs[i]).toBeCloseTo(v, 12));
    expect([...new Set(got.map((p) => p["d"]))]).toEqual([0, 0.5, 1]);
    expect(gridSampler(space, { grid: 2 }).size).toBe(4);
  });
});

describe("randomSampler", () => {
  const space: SearchSpace = parseSearchSpace({
    lr: { loguniform: [1e-4, 1] },
    x: { uniform: [-2, 3] },
    n: { int: [2, 8] },
    w: { int: [16, 64, 16] },
    k: ["a", "b", "c"],
  });

  it("is reproducible from the seed and differs across seeds", () => {
    const a = runSweep(randomSampler(space, 42), () => 0, 20).map((t) => t.params);
    const b = runSweep(randomSampler(space, 42), () => 0, 20).map((t) => t.params);
    const c = runSweep(randomSampler(space, 43), () => 0, 20).map((t) => t.params);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it("respects bounds, types and the loguniform distribution", () => {
    const ps = runSweep(randomSampler(space, 1), () => 0, 4000).map((t) => t.params);
    const ns = new Set<number>();
    const ks = new Set<unknown>();
    for (const p of ps) {
      const lr = p["lr"] as number;
      const x = p["x"] as number;
      const n = p["n"] as number;
      const w = p["w"] as number;
      expect(lr >= 1e-4 && lr <= 1).toBe(true);
      expect(x >= -2 && x <= 3).toBe(true);
      expect(Number.isInteger(n) && n >= 2 && n <= 8).toBe(true);
      expect([16, 32, 48, 64]).toContain(w);
      expect(["a", "b", "c"]).toContain(p["k"]);
      ns.add(n);
      ks.add(p["k"]);
    }
    expect([...ns].sort()).toEqual([2, 3, 4, 5, 6, 7, 8]); // both ends reachable
    expect(ks.size).toBe(3);
    const lrs = ps.map((p) => p["lr"] as number).sort((a, b) => a - b);
    const med = lrs[lrs.length >> 1]!;
    // geometric mean of [1e-4, 1] is 1e-2; the arithmetic midpoint would be ~0.5
    expect(Math.abs(Math.log10(med) - -2)).toBeLessThan(0.15);
  });

  it("is exhausted after maxTrials", () => {
    expect(runSweep(randomSampler(space, 1, { maxTrials: 3 }), () => 0, 10)).toHaveLength(3);
  });
});

describe("tpeSampler", () => {
  const space = parseSearchSpace({ x: { uniform: [0, 1] } });
  const f = (p: Params) => ((p["x"] as number) - 0.3) ** 2;
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];

  it("is reproducible from the seed", () => {
    const a = runSweep(tpeSampler(space, 9), f, 30).map((t) => t.params);
    const b = runSweep(tpeSampler(space, 9), f, 30).map((t) => t.params);
    expect(b).toEqual(a);
  });

  it("finds the optimum of a 1-D quadratic and beats random search on average", () => {
    let tpeSum = 0;
    let rndSum = 0;
    let tpeWins = 0;
    for (const seed of seeds) {
      const tpe = runSweep(tpeSampler(space, seed), f, 60);
      const rnd = runSweep(randomSampler(space, seed), f, 60);
      const tb = bestTrial(tpe, "minimize")!;
      const rb = bestTrial(rnd, "minimize")!;
      expect(Math.abs((tb.params["x"] as number) - 0.3)).toBeLessThanOrEqual(0.05);
      tpeSum += tb.value!;
      rndSum += rb.value!;
      if (tb.value! < rb.value!) tpeWins++;
      // After startup, TPE concentrates near the optimum; random does not.
      const late = (ts: Trial[]) => ts.slice(30).filter((t) => Math.abs((t.params["x"] as number) - 0.3) < 0.1).length;
      expect(late(tpe)).toBeGreaterThan(late(rnd));
    }
    expect(tpeSum / seeds.length).toBeLessThan(rndSum / seeds.length);
    expect(tpeWins).toBeGreaterThanOrEqual(seeds.length / 2);
  });

  it("maximizes when asked", () => {
    const g = (p: Params) => -(((p["x"] as number) - 0.7) ** 2);
    const trials = runSweep(tpeSampler(space, 3, { direction: "maximize" }), g, 60);
    const best = bestTrial(trials, "maximize")!;
    expect(Math.abs((best.params["x"] as number) - 0.7)).toBeLessThanOrEqual(0.05);
    const late = trials.slice(30).filter((t) => Math.abs((t.params["x"] as number) - 0.7) < 0.15).length;
    expect(late).toBeGreaterThan(15);
  });

  it("prefers a clearly best categorical value after startup, with numeric params alongside", () => {
    const mixed = parseSearchSpace({ opt: ["sgd", "adam", "rmsprop", "adagrad"], lr: { loguniform: [1e-4, 1] }, depth: { int: [1, 6] } });
    const obj = (p: Params) =>
      (p["opt"] === "adam" ? 0 : 1) + 0.1 * (Math.log10(p["lr"] as number) + 2) ** 2 + 0.05 * Math.abs((p["depth"] as number) - 3);
    for (const seed of [1, 2, 3]) {
      const trials = runSweep(tpeSampler(mixed, seed, { startupTrials: 10 }), obj, 60);
      for (const t of trials) {
        expect(Number.isInteger(t.params["depth"])).toBe(true);
        expect(t.params["depth"] as number).toBeGreaterThanOrEqual(1);
        expect(t.params["depth"] as number).toBeLessThanOrEqual(6);
        expect(t.params["lr"] as number).toBeGreaterThanOrEqual(1e-4);
        expect(t.params["lr"] as number).toBeLessThanOrEqual(1);
      }
      const after = trials.slice(10);
      const counts = new Map<unknown, number>();
      for (const t of after) counts.set(t.params["opt"], (counts.get(t.params["opt"]) ?? 0) + 1);
      const adam = counts.get("adam") ?? 0;
      for (const [k, v] of counts) if (k !== "adam") expect(adam).toBeGreaterThan(v);
      expect(adam / after.length).toBeGreaterThan(0.5);
      expect(bestTrial(trials, "minimize")!.params["opt"]).toBe("adam");
    }
  });

  it("is random until startupTrials have completed, ignoring running/failed ones", () => {
    const s = tpeSampler(space, 5, { startupTrials: 3 });
    const r = randomSampler(space, 5);
    const running: Trial[] = Array.from({ length: 10 }, (_, i) => ({ id: i, params: { x: 0.5 }, status: "running", intermediate: [] }));
    for (let i = 0; i < 5; i++) expect(s.next(running)).toEqual(r.next([]));
  });

  it("rejects bad options", () => {
    expect(() => tpeSampler(space, 1, { gamma: 0 })).toThrow(CairnError);
    expect(() => tpeSampler(space, 1, { candidates: 0 })).toThrow(CairnError);
  });
});

describe("medianStoppingRule", () => {
  // Five others with running averages around 1.0 at every step (minimize).
  const others = [1, 2, 3, 4, 5].map((id) => curve(id, [1.2, 1.0, 0.9, 0.8], id % 2 ? "completed" : "running"));

  it("prunes a clearly worse trial and keeps a better one", () => {
    const rule = medianStoppingRule();
    const worse = curve(10, [5, 4.5, 4]);
    const better = curve(11, [0.5, 0.4, 0.3]);
    expect(rule.shouldStop(worse, [...others, worse, better], "minimize")).toBe(true);
    expect(rule.shouldStop(better, [...others, worse, better], "minimize")).toBe(false);
    const d = rule.evaluate(worse, [...others, worse], "minimize");
    expect(d).toMatchObject({ stop: true, step: 2, best: 4, compared: 5 });
    expect(d.median).toBeCloseTo((1.2 + 1.0 + 0.9) / 3, 12);
  });

  it("uses the trial's best value so far, not its latest", () => {
    const dipped = curve(12, [0.5, 3, 3]); // best 0.5 beats the median ~1.03
    expect(medianStoppingRule().shouldStop(dipped, [...others, dipped], "minimize")).toBe(false);
  });

  it("handles maximize", () => {
    const rule = medianStoppingRule();
    const acc = [1, 2, 3, 4, 5].map((id) => curve(id, [0.6, 0.7, 0.8], "completed"));
    const low = curve(10, [0.1, 0.2]);
    const high = curve(11, [0.9, 0.95]);
    expect(rule.shouldStop(low, [...acc, low], "maximize")).toBe(true);
    expect(rule.shouldStop(high, [...acc, high], "maximize")).toBe(false);
    // The same numbers read as losses: low is now the good one.
    expect(rule.shouldStop(low, [...acc, low], "minimize")).toBe(false);
    expect(rule.shouldStop(high, [...acc, high], "minimize")).toBe(true);
  });

  it("respects warmupSteps", () => {
    const rule = medianStoppingRule({ warmupSteps: 3 });
    const worse2 = curve(10, [5, 5, 5]); // latest step 2 < 3
    const worse3 = curve(10, [5, 5, 5, 5]); // latest step 3
    expect(rule.shouldStop(worse2, [...others, worse2], "minimize")).toBe(false);
    expect(rule.shouldStop(worse3, [...others, worse3], "minimize")).toBe(true);
  });

  it("respects minTrials, counting only others that reached the step and are completed or running", () => {
    const worse = curve(10, [5, 5, 5]);
    const rule = medianStoppingRule({ minTrials: 5 });
    expect(rule.shouldStop(worse, [...others.slice(0, 4), worse], "minimize")).toBe(false);
    const short = curve(20, [1.0]); // never reached step 2
    const pruned = curve(21, [1, 1, 1, 1], "pruned");
    const failed = curve(22, [1, 1, 1, 1], "failed");
    const d = rule.evaluate(worse, [...others.slice(0, 4), short, pruned, failed, worse], "minimize");
    expect(d).toMatchObject({ stop: false, compared: 4 });
    expect(medianStoppingRule({ minTrials: 4 }).shouldStop(worse, [...others.slice(0, 4), worse], "minimize")).toBe(true);
  });

  it("never stops trials that are not running or have not reported", () => {
    const rule = medianStoppingRule({ minTrials: 1 });
    expect(rule.shouldStop(curve(10, [5, 5, 5], "completed"), others, "minimize")).toBe(false);
    expect(rule.shouldStop(curve(10, []), others, "minimize")).toBe(false);
  });
});

describe("successiveHalving", () => {
  it("builds rungs and promotes the top 1/eta at each rung", () => {
    const sh = successiveHalving({ minResource: 1, maxResource: 27, reductionFactor: 3 });
    expect(sh.rungs).toEqual([1, 3, 9, 27]);
    expect(successiveHalving({ minResource: 2, maxResource: 20 }).rungs).toEqual([2, 6, 18, 20]);
    // Six trials at step 1; the two best (ids 4, 5 minimize) are promoted to 3.
    const at1 = [0, 1, 2, 3, 4, 5].map((id) => ({ id, params: {}, status: "running" as const, intermediate: [{ step: 1, value: 10 - id }] }));
    expect(sh.promotions(at1, "minimize")).toEqual([
      { trialId: 5, rung: 0, resource: 3 },
      { trialId: 4, rung: 0, resource: 3 },
    ]);
    expect(sh.promotions(at1, "maximize").map((p) => p.trialId)).toEqual([0, 1]);
    // Once trial 5 has gone past rung 0 it is not promoted again from it.
    const moved = at1.map((t) => (t.id === 5 ? { ...t, intermediate: [...t.intermediate, { step: 2, value: 3 }] } : t));
    expect(sh.promotions(moved, "minimize").map((p) => p.trialId)).toEqual([4]);
    expect(() => successiveHalving({ minResource: 0, maxResource: 9 })).toThrow(CairnError);
  });
});

describe("bestTrial", () => {
  const t = (id: number, value: number | undefined, status: Trial["status"] = "completed"): Trial => ({
    id,
    params: {},
    status,
    ...(value === undefined ? {} : { value }),
    intermediate: [],
  });
  const trials = [t(0, 3), t(1, 1), t(2, 5), t(3, 0, "pruned"), t(4, 9, "failed"), t(5, undefined), t(6, 1), t(7, Number.NaN)];
  it.each<[Direction, number]>([
    ["minimize", 1],
    ["maximize", 2],
  ])("%s picks the best completed trial, lowest id on ties", (dir, id) => {
    expect(bestTrial(trials, dir)?.id).toBe(id);
  });
  it("is undefined without completed trials", () => {
    expect(bestTrial([t(0, 1, "running")], "minimize")).toBeUndefined();
  });
});
