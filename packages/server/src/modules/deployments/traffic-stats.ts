import { DEPLOYMENT_LIMITS, type DeploymentStats } from "@cairn/contract";

type Arm = "primary" | "canary" | "shadow";

/** Latency histogram bounds in ms: 0.05 ms × 1.2^i, up to about 17 s (the last bucket takes the rest). */
const BOUNDS = Array.from({ length: 70 }, (_, i) => 0.05 * 1.2 ** i);

function bucketOf(ms: number): number {
  // Binary search: the first bound at or above the value.
  let lo = 0;
  let hi = BOUNDS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (BOUNDS[mid]! < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One second of one arm. */
interface Second {
  requests: number;
  errors: number;
  sumMs: number;
  hist: Uint32Array;
}

/** The smallest bound at or under which `q` of the counted requests fall (an upper estimate within 20%). */
function quantile(hist: Uint32Array, total: number, q: number): number | null {
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return Math.round((BOUNDS[i] ?? BOUNDS[BOUNDS.length - 1]! * 1.2) * 1000) / 1000;
  }
  return null;
}

/** A recent prediction as the UI lists it. */
export type Recent = DeploymentStats["recent"][number];
/** A recent prediction as kept: inputs and outputs encoded only when someone looks. */
export type KeptPrediction = Omit<Recent, "inputs" | "outputs"> & { payload: () => { inputs: unknown; outputs: unknown } };

/**
 * Live traffic of one deployment on this server: per second and per arm, requests, errors and a
 * latency histogram (percentiles within 20%), kept for an hour; and the last predictions. Memory is
 * bounded: at most 3,600 seconds × 3 arms × 71 counters.
 */
export class TrafficStats {
  readonly #seconds = new Map<number, Map<Arm, Second>>();
  readonly #versions = new Map<Arm, string>();
  readonly #recent: KeptPrediction[] = [];
  #oldest = Number.POSITIVE_INFINITY;
  shadowDropped = 0;

  /** Counts one answered request. */
  record(arm: Arm, version: string, latencyMs: number, ok: boolean, now = Date.now()): void {
    const t = Math.floor(now / 1000) * 1000;
    let sec = this.#seconds.get(t);
    if (!sec) {
      sec = new Map();
      this.#seconds.set(t, sec);
      this.#oldest = Math.min(this.#oldest, t);
      this.#prune(t);
    }
    let s = sec.get(arm);
    if (!s) sec.set(arm, (s = { requests: 0, errors: 0, sumMs: 0, hist: new Uint32Array(BOUNDS.length + 1) }));
    s.requests += 1;
    if (!ok) s.errors += 1;
    s.sumMs += latencyMs;
    s.hist[bucketOf(latencyMs)]! += 1;
    this.#versions.set(arm, version);
  }

  /** Keeps a prediction for the UI's recent list (newest last; bounded). */
  remember(p: KeptPrediction): void {
    this.#recent.push(p);
    if (this.#recent.length > DEPLOYMENT_LIMITS.recentPredictions) this.#recent.shift();
  }

  #prune(now: number): void {
    const cutoff = now - 3600_000;
    if (this.#oldest >= cutoff) return;
    for (const t of this.#seconds.keys()) if (t < cutoff) this.#seconds.delete(t);
    this.#oldest = Math.min(...this.#seconds.keys());
  }

  /** Per-arm totals and the per-second series over the last `windowSeconds`, with recent predictions newest first. */
  snapshot(windowSeconds: number, now = Date.now()): Omit<DeploymentStats, "name" | "windowSeconds"> {
    const from = Math.floor(now / 1000) * 1000 - (windowSeconds - 1) * 1000;
    const totals = new Map<Arm, Second>();
    const series: DeploymentStats["series"] = [];
    for (const t of [...this.#seconds.keys()].filter((t) => t >= from).sort((a, b) => a - b)) {
      for (const [arm, s] of this.#seconds.get(t)!) {
        series.push({ t, arm, requests: s.requests, errors: s.errors, meanMs: s.requests ? Math.round((s.sumMs / s.requests) * 1000) / 1000 : null, p99Ms: quantile(s.hist, s.requests, 0.99) });
        let tot = totals.get(arm);
        if (!tot) totals.set(arm, (tot = { requests: 0, errors: 0, sumMs: 0, hist: new Uint32Array(BOUNDS.length + 1) }));
        tot.requests += s.requests;
        tot.errors += s.errors;
        tot.sumMs += s.sumMs;
        for (let i = 0; i < s.hist.length; i++) tot.hist[i]! += s.hist[i]!;
      }
    }
    const arms = [...totals].map(([arm, s]) => ({ arm, version: this.#versions.get(arm) ?? "", requests: s.requests, errors: s.errors, p50Ms: quantile(s.hist, s.requests, 0.5), p99Ms: quantile(s.hist, s.requests, 0.99) }));
    return { arms, series, recent: [...this.#recent].reverse().map(({ payload, ...p }) => ({ ...p, ...payload() })), shadowDropped: this.shadowDropped };
  }
}
