/**
 * Synthetic credit-default data: correlated borrower attributes and a default label drawn from a
 * logistic model with nonlinear terms and interactions, its intercept solved so that the default
 * rate matches the requested one (class imbalance).
 */
import { Rng } from "./rng.js";
import { HOME_OWNERSHIP, PURPOSES, REGIONS, RAW_HEADER } from "./schema.js";

/** One generated borrower. */
export interface CreditRow {
  id: number;
  age: number;
  income: number;
  loan_amount: number;
  term: number;
  credit_score: number;
  employment_years: number;
  debt_to_income: number;
  num_late_payments: number;
  home_ownership: string;
  purpose: string;
  region: string;
  default: 0 | 1;
}

/** Options for `generateCreditData`. */
export interface GenerateOptions {
  rows: number;
  seed: number;
  /** The expected share of defaults, in (0, 1) (default 0.15). */
  defaultRate?: number;
  /**
   * How far the world has moved from the one the first model learned, in [0, 1] (default 0): at 1,
   * borrowers are younger with lower incomes and scores, larger loans, more 60-month terms and more
   * small-business and medical loans (covariate shift), and risk depends on them differently (concept
   * shift): the credit score stops mattering, late payments count half, debt to income more, north
   * and south swap risk, small-business loans recover while medical and car loans sour, and long
   * employment no longer protects. Values between interpolate; 0 gives exactly the undrifted data.
   */
  drift?: number;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

const HOME_EFFECT: Record<string, number> = { RENT: 0.3, OWN: -0.25, MORTGAGE: 0, OTHER: 0.45 };
const PURPOSE_EFFECT: Record<string, number> = {
  debt_consolidation: 0.15,
  credit_card: 0.1,
  home_improvement: -0.15,
  small_business: 0.75,
  car: -0.2,
  medical: 0.35,
  other: 0.1,
};
const REGION_EFFECT: Record<string, number> = { north: -0.1, south: 0.15, east: 0, west: -0.05, central: 0.1 };
/** Added to the region effect under drift: north and south swap roles (a regional downturn). */
const REGION_SHIFT: Record<string, number> = { north: 1.2, south: -0.8 };
/** Added to the purpose effect under drift: small-business loans recover, medical ones sour. */
const PURPOSE_SHIFT: Record<string, number> = { small_business: -1.2, medical: 0.8, car: 0.6 };

/**
 * The log-odds of default without the intercept: the "true" model behind the labels. It is
 * deliberately not linear in the raw columns (a U-shaped age effect, a capped late-payment effect,
 * log income, and a debt-to-income × long-term interaction), so a linear model cannot be perfect.
 */
export function riskScore(r: Omit<CreditRow, "id" | "default">, drift = 0): number {
  const longTerm = r.term === 60 ? 1 : 0;
  return (
    -0.014 * (1 - drift) * (r.credit_score - 680) +
    2.2 * (1 + 0.5 * drift) * (r.debt_to_income - 0.3) +
    1.6 * (r.debt_to_income - 0.3) * longTerm +
    0.4 * (1 - 0.5 * drift) * Math.min(r.num_late_payments, 6) +
    drift * ((REGION_SHIFT[r.region] ?? 0) + (PURPOSE_SHIFT[r.purpose] ?? 0) + 0.04 * r.employment_years) +
    0.4 * longTerm +
    1.1 * (r.loan_amount / r.income - 0.25) -
    0.45 * Math.log(r.income / 50_000) -
    0.03 * r.employment_years +
    0.0012 * (r.age - 45) ** 2 +
    (HOME_EFFECT[r.home_ownership] ?? 0) +
    (PURPOSE_EFFECT[r.purpose] ?? 0) +
    (REGION_EFFECT[r.region] ?? 0)
  );
}

/** The intercept b such that the mean of sigmoid(b + score) equals `rate` (bisection). */
function solveIntercept(scores: Float64Array, rate: number): number {
  let lo = -20;
  let hi = 20;
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2;
    let mean = 0;
    for (const s of scores) mean += sigmoid(mid + s);
    mean /= scores.length;
    if (mean < rate) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

const mix = (a: readonly number[], b: readonly number[], t: number) => a.map((x, i) => x + t * ((b[i] ?? 0) - x));

function borrower(rng: Rng, drift: number): Omit<CreditRow, "id" | "default"> {
  const age = Math.round(clamp(rng.normal(41 - 7 * drift, 12), 18, 80));
  const employment_years = Math.round(clamp(Math.min(age - 18, rng.exponential(7)), 0, 50) * 10) / 10;
  const income = Math.round(clamp(Math.exp(rng.normal(Math.log(42_000 * (1 - 0.25 * drift)) + 0.012 * (age - 40) + 0.025 * employment_years, 0.45)), 8_000, 500_000));
  const credit_score = Math.round(clamp(rng.normal(665 - 35 * drift + 2.5 * employment_years + 25 * Math.log(income / 50_000), 65), 300, 850));
  const home_ownership = rng.choice(HOME_OWNERSHIP, age < 30 ? [0.65, 0.1, 0.2, 0.05] : [0.3, 0.25, 0.42, 0.03]);
  const purpose = rng.choice(PURPOSES, mix([0.35, 0.2, 0.1, 0.07, 0.12, 0.06, 0.1], [0.25, 0.15, 0.05, 0.2, 0.1, 0.15, 0.1], drift));
  const region = rng.choice(REGIONS, [0.2, 0.25, 0.2, 0.2, 0.15]);
  const term = rng.uniform() < 0.7 - 0.25 * drift ? 36 : 60;
  const loan_amount = Math.round(clamp(Math.exp(rng.normal(Math.log(income * (0.22 + 0.08 * drift)), 0.5)), 1_000, 100_000) / 100) * 100;
  const debt_to_income = Math.round(clamp(rng.normal(0.22 + 0.25 * (loan_amount / income), 0.1), 0, 1.5) * 1000) / 1000;
  const num_late_payments = Math.min(30, rng.poisson(Math.exp(-0.4 - (credit_score - 665) / 70)));
  return { age, income, loan_amount, term, credit_score, employment_years, debt_to_income, num_late_payments, home_ownership, purpose, region };
}

/**
 * Generates `rows` borrowers with a default label, reproducibly from `seed`.
 * @throws Error when rows < 1, the default rate is not in (0, 1) or drift is not in [0, 1]
 * @example const rows = generateCreditData({ rows: 1000, seed: 7 });
 */
export function generateCreditData(opts: GenerateOptions): CreditRow[] {
  const rate = opts.defaultRate ?? 0.15;
  const drift = opts.drift ?? 0;
  if (!Number.isInteger(opts.rows) || opts.rows < 1) throw new Error(`rows must be a whole number >= 1, got ${opts.rows}`);
  if (!(rate > 0 && rate < 1)) throw new Error(`the default rate must be in (0, 1), got ${rate}`);
  if (!(drift >= 0 && drift <= 1)) throw new Error(`drift must be in [0, 1], got ${drift}`);
  const rng = new Rng(opts.seed);
  const people = Array.from({ length: opts.rows }, () => borrower(rng, drift));
  const scores = Float64Array.from(people, (p) => riskScore(p, drift));
  const intercept = solveIntercept(scores, rate);
  return people.map((p, i) => ({ id: i + 1, ...p, default: rng.uniform() < sigmoid(intercept + (scores[i] ?? 0)) ? 1 : 0 }));
}

/** The rows as CSV cells in `RAW_HEADER` order. */
export function toCells(rows: readonly CreditRow[]): (string | number)[][] {
  return rows.map((r) => RAW_HEADER.map((h) => r[h as keyof CreditRow]));
}
