/**
 * Drift statistics for the monitoring module (issue 7).
 *
 * Pure functions, no I/O. Every statistic is a re-implementation of the SciPy
 * 1.17 / NumPy 2.4 routine named in its JSDoc, following the same floating-point
 * operation order where that matters, and is checked against committed SciPy
 * fixtures (`fixtures/drift-fixtures.json`) to within 1e-9 relative.
 *
 * Conventions:
 * - Sample inputs are `Float64Array`s. Functions that say "sorted" require the
 *   input sorted ascending (use {@link sorted}); they do not check it.
 * - Category inputs are count vectors aligned by category index.
 * - No per-element objects are allocated; work arrays are typed arrays.
 */

// ---------------------------------------------------------------------------
// Small numeric helpers
// ---------------------------------------------------------------------------

/** Returns a sorted (ascending) copy of `values`; the input is not modified. */
export function sorted(values: Float64Array | readonly number[]): Float64Array {
  const out = Float64Array.from(values);
  out.sort();
  return out;
}

/** NumPy's `np.round` for scalars: round half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  if (Math.abs(x - Math.trunc(x)) === 0.5) {
    return 2 * Math.round(x / 2);
  }
  return r;
}

/** `np.ldexp(p, e)`: p * 2^e without intermediate overflow/underflow of 2^e. */
function ldexp(p: number, e: number): number {
  let out = p;
  let rest = e;
  while (rest > 1000) {
    out *= 2 ** 1000;
    rest -= 1000;
  }
  while (rest < -1000) {
    out *= 2 ** -1000;
    rest += 1000;
  }
  return out * 2 ** rest;
}

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) {
    const t = x % y;
    x = y;
    y = t;
  }
  return x;
}

/**
 * NumPy's pairwise summation (`np.sum` on a contiguous float64 vector), so that
 * sums with cancellation round exactly like NumPy's.
 */
export function pairwiseSum(a: Float64Array, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = -0.0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    const r = new Float64Array(8);
    for (let k = 0; k < 8; k++) r[k] = a[start + k]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let k = 0; k < 8; k++) r[k]! += a[start + i + k]!;
    }
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

const LANCZOS_G = 7;
const LANCZOS_C = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];
const LOG_SQRT_2PI = 0.9189385332046727;

/**
 * log Γ(a) for a > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative). Exact
 * log-factorials are used for small integers and half-integers.
 */
export function logGamma(a: number): number {
  if (!(a > 0)) throw new RangeError(`logGamma: a must be > 0, got ${a}`);
  if (a < 0.5) {
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * a))) - logGamma(1 - a);
  }
  if (Number.isInteger(a) && a <= 171) {
    let f = 1;
    for (let i = 2; i < a; i++) f *= i;
    return Math.log(f);
  }
  const x = a - 1;
  let s = LANCZOS_C[0]!;
  const t = x + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS_G + 2; i++) s += LANCZOS_C[i]! / (x + i);
  return LOG_SQRT_2PI + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a) (Cephes `igamc`
 * semantics): power series for P when x < a + 1 (Q = 1 − P), modified Lentz
 * continued fraction for Q otherwise. Relative accuracy ~1e-13 including tiny
 * tails; underflows to 0 below ~1e-308.
 * @throws RangeError when a <= 0 or x is NaN.
 */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || Number.isNaN(x)) throw new RangeError(`gammaQ: invalid arguments a=${a}, x=${x}`);
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  const logPref = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    // Series: P(a,x) = e^{-x} x^a / Γ(a+1) Σ x^n / ((a+1)...(a+n))
    let ap = a;
    let del = 1 / a;
    let sum = del;
    for (let n = 0; n < 10000; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-17) break;
    }
    return 1 - sum * Math.exp(logPref);
  }
  // Continued fraction (modified Lentz), Numerical Recipes gcf.
  const FPMIN = 1e-300;
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  // exp(logPref) may underflow while exp(logPref)*h does not: split.
  if (logPref < -700) return Math.exp(logPref + Math.log(h));
  return Math.exp(logPref) * h;
}

/**
 * `scipy.stats.chi2.sf(x, df)` = Q(df/2, x/2).
 * @throws RangeError when df <= 0.
 */
export function chi2Sf(x: number, df: number): number {
  return gammaQ(df / 2, x / 2);
}

/**
 * Complementary error function erfc(x), via erfc(x) = Q(1/2, x²) for x >= 0
 * and 2 − erfc(−x) otherwise. ~1e-14 relative, including the far tail.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  return gammaQ(0.5, x * x);
}

/** Standard normal survival function, `scipy.stats.norm.sf(z)`. */
export function normSf(z: number): number {
  return 0.5 * erfc(z * Math.SQRT1_2);
}

// ---------------------------------------------------------------------------
// Kolmogorov–Smirnov
// ---------------------------------------------------------------------------

export interface TestResult {
  statistic: number;
  pValue: number;
}

/** `_compute_prob_outside_square(n, h)` from scipy.stats._stats_py (exact, n1 == n2). */
function probOutsideSquare(n: number, h: number): number {
  let P = 0.0;
  let k = Math.floor(n / h);
  while (k >= 0) {
    let p1 = 1.0;
    for (let j = 0; j < h; j++) {
      p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    }
    P = p1 * (1.0 - P);
    k -= 1;
  }
  return 2 * P;
}

/** `_compute_outer_prob_inside_method(m, n, g, h)` (scipy _stats_pythran; exact, 1 − p recursion). */
function outerProbInsideMethod(m0: number, n0: number, g: number, h: number): number {
  let m = m0;
  let n = n0;
  if (m < n) {
    const t = m;
    m = n;
    n = t;
  }
  const mg = Math.floor(m / g);
  const ng = Math.floor(n / g);
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1.0);
  A.fill(0.0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.max(Math.floor((ng * i - h) / mg) + 1, 0);
    minj = Math.min(minj, n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1.0;
    let val = minj === 0 ? 0.0 : 1.0;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      A.fill(1, maxj - minj, Math.min(lenA, maxj - minj + (lastlen - curlen)));
    }
  }
  return A[maxj - minj - 1]!;
}

const E128 = 128;
const EP128 = 2 ** 128;
const EM128 = 2 ** -128;
const STIRLING_COEFFS = [
  -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3,
  8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
  -2.7777777777777777778e-3, 8.3333333333333333333e-2,
];
const LOG_2PI = Math.log(2 * Math.PI);

function logNfactorialDivNPowN(n: number): number {
  const rn = 1.0 / n;
  const x = rn / n;
  let poly = 0;
  for (const c of STIRLING_COEFFS) poly = poly * x + c;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

function matmul(A: Float64Array, B: Float64Array, m: number): Float64Array {
  const C = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const a = A[i * m + k]!;
      if (a === 0) continue;
      for (let j = 0; j < m; j++) C[i * m + j]! += a * B[k * m + j]!;
    }
  }
  return C;
}

/** Durbin matrix / Marsaglia–Tsang–Wang CDF Pr(D_n <= d) (`_kolmogn_DMTW`). */
function kolmognDMTW(n: number, d: number): number {
  if (d >= 1.0) return 1.0;
  const nd = n * d;
  if (nd <= 0.5) return 0.0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  let H: Float64Array = new Float64Array(m * m);
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1.0;
  for (let j = 1; j <= m; j++) {
    v[j - 1] = 1.0 - h ** j;
    w[j - 1] = fac;
    fac /= j;
    v[j - 1]! *= fac;
  }
  const tt = Math.max(2 * h - 1.0, 0) ** m - 2 * h ** m;
  v[m - 1] = (1.0 + tt) * fac;
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;
  let Hpwr: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) Hpwr[i * m + i] = 1;
  let nn = n;
  let expnt = 0;
  let Hexpnt = 0;
  while (nn > 0) {
    if (nn % 2) {
      Hpwr = matmul(Hpwr, H, m);
      expnt += Hexpnt;
    }
    H = matmul(H, H, m);
    Hexpnt *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > EP128) {
      for (let i = 0; i < H.length; i++) H[i]! /= EP128;
      Hexpnt += E128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = Hpwr[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= EP128;
      expnt -= E128;
    }
  }
  if (expnt !== 0) p = ldexp(p, expnt);
  return Math.min(Math.max(p, 0), 1);
}

function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Pomeranz recursion CDF Pr(D_n <= x) (`_kolmogn_Pomeranz`). */
function kolmognPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = 1.0 * (t - ll);
  const g = Math.min(f, 1.0 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1.0;
  twogpower[0] = 1.0;
  onem2gpower[0] = 1.0;
  let expnt = 0;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let mm = 1; mm < npwrs; mm++) {
    gpower[mm] = (gpower[mm - 1]! * gOverN) / mm;
    twogpower[mm] = (twogpower[mm - 1]! * twoGOverN) / mm;
    onem2gpower[mm] = (onem2gpower[mm - 1]! * oneMinusTwoGOverN) / mm;
  }
  let V0: Float64Array = new Float64Array(npwrs);
  let V1: Float64Array = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  const conv = new Float64Array(2 * npwrs);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    const tmp = V0;
    V0 = V1;
    V1 = tmp;
    const tmps = V0s;
    V0s = V1s;
    V1s = tmps;
    V1.fill(0.0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      const aStart = k1 - V0s;
      const la = Math.max(0, Math.min(ln2, npwrs - aStart));
      const lb = Math.min(ln2, npwrs);
      const lc = la + lb - 1;
      for (let q = 0; q < lc; q++) {
        let s = 0;
        const lo = Math.max(0, q - lb + 1);
        const hi = Math.min(q, la - 1);
        for (let a = lo; a <= hi; a++) s += V0[aStart + a]! * pwrs[q - a]!;
        conv[q] = s;
      }
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      for (let q = 0; q < convLen; q++) {
        const idx = convStart + q;
        V1[q] = idx >= 0 && idx < lc ? conv[idx]! : 0;
      }
      let mx = -Infinity;
      for (let q = 0; q < npwrs; q++) if (V1[q]! > mx) mx = V1[q]!;
      if (mx > 0 && mx < EM128) {
        for (let q = 0; q < npwrs; q++) V1[q]! *= EP128;
        expnt -= E128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s]!;
  for (let mm = 1; mm <= n; mm++) {
    if (Math.abs(ans) > EP128) {
      ans *= EM128;
      expnt += E128;
    }
    ans *= mm;
  }
  if (expnt !== 0) ans = ldexp(ans, expnt);
  return Math.min(Math.max(ans, 0), 1);
}

const PI_SQUARED = Math.PI ** 2;
const PI_FOUR = Math.PI ** 4;
const PI_SIX = Math.PI ** 6;
const SQRT2PI = Math.sqrt(2 * Math.PI);
const SQRT3 = Math.sqrt(3);
const MIN_LOG = -708;

/** Pelz–Good approximation to Pr(D_n <= x) (`_kolmogn_PelzGood`), returns the SF when `cdf` is false. */
function kolmognPelzGood(n: number, x: number, cdf: boolean): number {
  if (x <= 0.0) return cdf ? 0.0 : 1.0;
  if (x >= 1.0) return cdf ? 1.0 : 0.0;
  const z = Math.sqrt(n) * x;
  const zsquared = z ** 2;
  const zthree = z ** 3;
  const zfour = z ** 4;
  const zsix = z ** 6;
  const qlog = -PI_SQUARED / 8 / zsquared;
  if (qlog < MIN_LOG) return cdf ? 0.0 : 1.0;
  let q = Math.exp(qlog);
  const k1a = -zsquared;
  const k1b = PI_SQUARED / 4;
  const k2a = 6 * zsix + 2 * zfour;
  const k2b = ((2 * zfour - 5 * zsquared) * PI_SQUARED) / 4;
  const k2c = (PI_FOUR * (1 - 2 * zsquared)) / 16;
  const k3d = (PI_SIX * (5 - 30 * zsquared)) / 64;
  const k3c = (PI_FOUR * (-60 * zsquared + 212 * zfour)) / 16;
  const k3b = (PI_SQUARED * (135 * zfour - 96 * zsix)) / 4;
  const k3a = -30 * zsix - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const msquared = m ** 2;
    const mfour = m ** 4;
    const msix = m ** 6;
    const qpower = q ** (8 * k);
    const coeffs = [
      1.0,
      k1a + k1b * msquared,
      k2a + k2b * msquared + k2c * mfour,
      k3a + k3b * msquared + k3c * mfour + k3d * msix,
    ];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qpower + coeffs[i]!;
  }
  const denom = [z, 6 * zfour, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = ((K[i]! * q) * SQRT2PI) / denom[i]!;
  q = Math.exp(-PI_SQUARED / 2 / zsquared);
  const sqrt3z = SQRT3 * z;
  // np.sum over ks = maxk..1 (pairwise summation of a small array).
  const t2 = new Float64Array(maxk);
  const t3 = new Float64Array(maxk);
  for (let idx = 0; idx < maxk; idx++) {
    const k = maxk - idx;
    const ksq = k ** 2;
    const qp = q ** ksq;
    const kspi = Math.PI * k;
    t2[idx] = ksq * qp;
    t3[idx] = (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
  }
  let k2extra = pairwiseSum(t2);
  k2extra *= (PI_SQUARED * SQRT2PI) / (-36 * zthree);
  K[2] = K[2]! + k2extra;
  let k3extra = pairwiseSum(t3);
  k3extra *= (PI_SQUARED * SQRT2PI) / (216 * zsix);
  K[3] = K[3]! + k3extra;
  for (let i = 0; i < 4; i++) K[i] = K[i]! / (n * 1.0) ** (i / 2.0);
  if (!cdf) {
    for (let i = 0; i < 4; i++) K[i] = K[i]! * -1;
    K[0] = K[0]! + 1;
  }
  return 0 + K[0]! + K[1]! + K[2]! + K[3]!;
}

/**
 * One-sided Smirnov survival function Pr(D_n^+ >= x) (`scipy.special.smirnov`),
 * by the Birnbaum–Tingey sum x Σ_{j=0}^{⌊n(1−x)⌋} C(n,j) (1−x−j/n)^{n−j} (x+j/n)^{j−1},
 * all terms positive, summed in log space. SciPy evaluates the same sum in
 * double-double arithmetic for n <= 1e6 (and an asymptotic form above); agreement
 * is ~1e-12 relative for n up to 1e4.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0) || !(x >= 0 && x <= 1)) return NaN;
  if (n === 1) return x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const J = Math.floor(n * (1 - x));
  const logs = new Float64Array(J + 1);
  // log C(n, j) accumulated with Neumaier compensation (plain summation
  // drifts by ~n·eps, i.e. 2e-10 relative at n = 40000).
  let logC = 0;
  let logCcomp = 0;
  let mx = -Infinity;
  let count = 0;
  for (let j = 0; j <= J; j++) {
    if (j > 0) {
      const inc = Math.log((n - j + 1) / j);
      const t = logC + inc;
      logCcomp += Math.abs(logC) >= Math.abs(inc) ? logC - t + inc : inc - t + logC;
      logC = t;
    }
    const base2 = x + j / n;
    let lt: number;
    if (base2 >= 1) {
      lt = n - j === 0 ? logC + logCcomp + (j - 1) * Math.log(base2) : -Infinity;
    } else {
      // (1 - x - j/n)^(n-j) via log1p for accuracy when the base is near 1.
      lt = logC + logCcomp + ((n - j) * Math.log1p(-base2) + (j - 1) * Math.log(base2));
    }
    logs[count++] = lt;
    if (lt > mx) mx = lt;
  }
  if (mx === -Infinity) return 0;
  let s = 0;
  for (let i = 0; i < count; i++) s += Math.exp(logs[i]! - mx);
  const lr = Math.log(x) + mx + Math.log(s);
  return Math.min(Math.max(Math.exp(lr), 0), 1);
}

/** `_kolmogn(n, x, cdf)` from scipy.stats._ksstats. */
function kolmogn(n: number, x: number, cdf: boolean): number {
  const sel = (cdfprob: number, sfprob: number): number =>
    Math.min(Math.max(cdf ? cdfprob : sfprob, 0), 1);
  if (x >= 1.0) return sel(1.0, 0.0);
  if (x <= 0.0) return sel(0.0, 1.0);
  const t = n * x;
  if (t <= 1.0) {
    if (t <= 0.5) return sel(0.0, 1.0);
    let prob: number;
    if (n <= 140) {
      prob = 1;
      for (let i = 1; i <= n; i++) prob *= i * (1.0 / n) * (2 * t - 1);
    } else {
      prob = Math.exp(logNfactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return sel(prob, 1.0 - prob);
  }
  if (t >= n - 1) {
    const prob = 2 * (1.0 - x) ** n;
    return sel(1 - prob, prob);
  }
  if (x >= 0.5) {
    const prob = 2 * smirnovSf(n, x);
    return sel(1.0 - prob, prob);
  }
  const nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) {
      const prob = kolmognDMTW(n, x);
      return sel(prob, 1.0 - prob);
    }
    if (nxsquared <= 4) {
      const prob = kolmognPomeranz(n, x);
      return sel(prob, 1.0 - prob);
    }
    const prob = 2 * smirnovSf(n, x);
    return sel(1.0 - prob, prob);
  }
  if (!cdf) {
    if (nxsquared >= 370.0) return 0.0;
    if (nxsquared >= 2.2) return Math.min(Math.max(2 * smirnovSf(n, x), 0), 1);
  }
  let cdfprob: number;
  if (nxsquared >= 18.0) cdfprob = 1.0;
  else if (n <= 100000 && n * x ** 1.5 <= 1.4) cdfprob = kolmognDMTW(n, x);
  else cdfprob = kolmognPelzGood(n, x, true);
  return sel(cdfprob, 1.0 - cdfprob);
}

/**
 * Survival function of the two-sided one-sample KS statistic D_n,
 * `scipy.stats.kstwo.sf(d, n)` (Simard & L'Ecuyer selection of exact and
 * approximate methods, as in scipy.stats._ksstats).
 * @throws RangeError when n is not a positive integer.
 */
export function kstwoSf(d: number, n: number): number {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`kstwoSf: n must be a positive integer, got ${n}`);
  if (Number.isNaN(d)) return NaN;
  if (d <= 0.5 / n) return 1.0;
  if (d >= 1) return 0.0;
  return kolmogn(n, d, false);
}

/**
 * Two-sample Kolmogorov–Smirnov test, matching
 * `scipy.stats.ks_2samp(ref, cur)` (alternative='two-sided', method='auto').
 *
 * - Statistic: sup |F_ref − F_cur|, computed with the same floating-point
 *   divisions as SciPy (i/n1 − j/n2). Exact.
 * - p-value: when max(n1, n2) <= 10000, SciPy's exact lattice-path
 *   computation (`_compute_prob_outside_square` for n1 == n2, the Viehmann
 *   1 − p "inside method" otherwise); the statistic is then snapped to h/lcm.
 *   Otherwise `kstwo.sf(d, round(n1·n2/(n1+n2)))`.
 *
 * Both inputs MUST be sorted ascending (see {@link sorted}); O(n1 + n2) time
 * plus the p-value computation.
 * @throws RangeError when either sample is empty.
 */
export function ks2Samp(ref: Float64Array, cur: Float64Array): TestResult {
  const n1 = ref.length;
  const n2 = cur.length;
  if (Math.min(n1, n2) === 0) throw new RangeError("ks2Samp: samples must not be empty");
  let i = 0;
  let j = 0;
  let maxS = -Infinity;
  let minDiff = Infinity;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && ref[i]! <= cur[j]!) ? ref[i]! : cur[j]!;
    while (i < n1 && ref[i]! <= v) i++;
    while (j < n2 && cur[j]! <= v) j++;
    const diff = i / n1 - j / n2;
    if (diff > maxS) maxS = diff;
    if (diff < minDiff) minDiff = diff;
  }
  const minS = Math.min(Math.max(-minDiff, 0), 1);
  return ksPValue(minS > maxS ? minS : maxS, n1, n2);
}

/**
 * The two-sided two-sample KS p-value of a statistic `d` between samples of `n1` and `n2` values, as
 * `ks_2samp` computes it after finding `d` (exact up to 10,000 values a side, asymptotic beyond).
 * The drift engine gets `d` from DuckDB, so the samples never come into memory.
 * @throws RangeError when a sample is empty
 */
export function ksPValue(statistic: number, n1: number, n2: number): TestResult {
  if (Math.min(n1, n2) === 0) throw new RangeError("ksPValue: samples must not be empty");
  let d = statistic;
  const g = gcd(n1, n2);
  const n1g = Math.floor(n1 / g);
  let prob = NaN;
  let mode: "exact" | "asymp" = Math.max(n1, n2) <= 10000 ? "exact" : "asymp";
  if (mode === "exact") {
    const lcm = n1g * n2;
    const h = roundHalfEven(d * lcm);
    d = (h * 1.0) / lcm;
    if (h === 0) {
      prob = 1.0;
    } else {
      prob = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInsideMethod(n1, n2, g, h);
      if (!(prob >= 0 && prob <= 1)) mode = "asymp";
    }
  }
  if (mode === "asymp") {
    const m = Math.max(n1, n2);
    const n = Math.min(n1, n2);
    const en = (m * n) / (m + n);
    prob = kstwoSf(d, roundHalfEven(en));
  }
  prob = Math.min(Math.max(prob, 0), 1);
  return { statistic: d, pValue: prob };
}

// ---------------------------------------------------------------------------
// Wasserstein
// ---------------------------------------------------------------------------

/**
 * First Wasserstein distance between two empirical distributions, matching
 * `scipy.stats.wasserstein_distance(ref, cur)` (unweighted): ∫ |F_ref − F_cur|.
 * Both inputs MUST be sorted ascending. Sequential summation of non-negative
 * terms (SciPy uses a dot product); agreement ~1e-12 relative.
 * @throws RangeError when either sample is empty.
 */
export function wassersteinDistance(ref: Float64Array, cur: Float64Array): number {
  const n1 = ref.length;
  const n2 = cur.length;
  if (n1 === 0 || n2 === 0) throw new RangeError("wassersteinDistance: samples must not be empty");
  let i = 0;
  let j = 0;
  let total = 0;
  let prev = NaN;
  // Walk the merged sorted sequence; between consecutive merged values the
  // CDFs are i/n1 and j/n2 (counts of values <= the left point).
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && ref[i]! <= cur[j]!) ? ref[i]! : cur[j]!;
    if (i + j > 0) total += Math.abs(i / n1 - j / n2) * (v - prev);
    if (j >= n2 || (i < n1 && ref[i]! <= cur[j]!)) i++;
    else j++;
    prev = v;
  }
  return total;
}

/**
 * Population standard deviation (ddof = 0, NumPy's `np.std` default, which is
 * what Evidently's normed Wasserstein uses). Two-pass.
 */
export function populationStd(values: Float64Array): number {
  const n = values.length;
  if (n === 0) return NaN;
  const mean = pairwiseSum(values) / n;
  const dev = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    dev[i] = d * d;
  }
  return Math.sqrt(pairwiseSum(dev) / n);
}

/**
 * Evidently's normed Wasserstein distance: W1(ref, cur) / max(std(ref), 0.001),
 * std with ddof = 0 (`np.std`). Inputs MUST be sorted ascending.
 * @throws RangeError when either sample is empty.
 */
export function normedWasserstein(ref: Float64Array, cur: Float64Array): number {
  return wassersteinDistance(ref, cur) / Math.max(populationStd(ref), 0.001);
}

// ---------------------------------------------------------------------------
// Chi-square, Z-test, Jensen–Shannon, PSI
// ---------------------------------------------------------------------------

export interface ChiSquareResult extends TestResult {
  dof: number;
}

/**
 * Chi-square test of independence on the 2×k table [refCounts, curCounts],
 * matching `scipy.stats.chi2_contingency([refCounts, curCounts])` (Pearson,
 * correction=True: Yates' continuity correction when dof == 1). The p-value is
 * chi2.sf(stat, k − 1) via {@link gammaQ} (~1e-13 relative, down to ~1e-300).
 *
 * Note: Evidently's own `chisquare` drift test is a goodness-of-fit test of
 * current counts against reference proportions; this function is the
 * contingency form (what the reference document requires).
 * @throws RangeError when lengths differ, a count is negative, or a category
 *   is empty in both rows (SciPy: "expected frequencies has a zero element").
 */
export function chiSquare(refCounts: Float64Array | readonly number[], curCounts: Float64Array | readonly number[]): ChiSquareResult {
  const k = refCounts.length;
  if (curCounts.length !== k) throw new RangeError("chiSquare: count vectors differ in length");
  let r0 = 0;
  let r1 = 0;
  for (let c = 0; c < k; c++) {
    const a = refCounts[c]!;
    const b = curCounts[c]!;
    if (a < 0 || b < 0) throw new RangeError("chiSquare: counts must be non-negative");
    r0 += a;
    r1 += b;
  }
  const total = r0 + r1;
  const dof = k - 1;
  const exp = new Float64Array(2 * k);
  for (let c = 0; c < k; c++) {
    const colSum = refCounts[c]! + curCounts[c]!;
    exp[c] = (r0 * colSum) / total;
    exp[k + c] = (r1 * colSum) / total;
    if (exp[c] === 0 || exp[k + c] === 0) {
      throw new RangeError(`chiSquare: expected frequency is zero at category ${c}`);
    }
  }
  if (dof === 0) return { statistic: 0.0, pValue: 1.0, dof };
  const terms = new Float64Array(2 * k);
  for (let idx = 0; idx < 2 * k; idx++) {
    const c = idx % k;
    let o = idx < k ? refCounts[c]! : curCounts[c]!;
    const e = exp[idx]!;
    if (dof === 1) {
      const diff = e - o;
      o = o + Math.min(0.5, Math.abs(diff)) * Math.sign(diff);
    }
    terms[idx] = ((o - e) * (o - e)) / e;
  }
  const statistic = pairwiseSum(terms);
  return { statistic, pValue: chi2Sf(statistic, dof), dof };
}

/**
 * Evidently's `chisquare` drift test: a goodness-of-fit test
 * `scipy.stats.chisquare(f_obs = curCounts, f_exp = refCounts · (n_cur / n_ref))`,
 * statistic Σ (o − e)²/e and p = chi2.sf(stat, k − 1). No continuity
 * correction. A category absent from the reference but present in current
 * gives an infinite statistic and p = 0, as in SciPy.
 * @throws RangeError when lengths differ or a row total is 0.
 */
export function chiSquareGoodnessOfFit(
  refCounts: Float64Array | readonly number[],
  curCounts: Float64Array | readonly number[],
): TestResult {
  const k = refCounts.length;
  if (curCounts.length !== k) throw new RangeError("chiSquareGoodnessOfFit: count vectors differ in length");
  let nRef = 0;
  let nCur = 0;
  for (let i = 0; i < k; i++) {
    nRef += refCounts[i]!;
    nCur += curCounts[i]!;
  }
  if (!(nRef > 0 && nCur > 0)) throw new RangeError("chiSquareGoodnessOfFit: counts must have positive totals");
  const kNorm = nCur / nRef;
  const terms = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const e = refCounts[i]! * kNorm;
    const o = curCounts[i]!;
    terms[i] = ((o - e) ** 2) / e;
  }
  const statistic = pairwiseSum(terms);
  if (k <= 1) return { statistic, pValue: 1 };
  return { statistic, pValue: statistic === Infinity ? 0 : chi2Sf(statistic, k - 1) };
}

/**
 * Evidently's two-proportion Z-test (`proportions_diff_z_stat_ind`): pooled
 * proportion P = (p1·n1 + p2·n2)/(n1 + n2), z = (p1 − p2)/√(P(1−P)(1/n1 + 1/n2)),
 * two-sided p = 2·norm.sf(|z|). Evidently writes 2·(1 − norm.cdf(|z|)), which
 * is the same number except that it loses precision below ~1e-16; here the
 * accurate tail is returned. When P is 0 or 1 (both samples all one category)
 * Evidently reports p = 1, and so does this function (statistic 0).
 * @throws RangeError when a sample size is not positive or a count is out of range.
 */
export function twoProportionZTest(refCount: number, refN: number, curCount: number, curN: number): TestResult {
  if (!(refN > 0 && curN > 0)) throw new RangeError("twoProportionZTest: sample sizes must be positive");
  if (refCount < 0 || refCount > refN || curCount < 0 || curCount > curN) {
    throw new RangeError("twoProportionZTest: counts out of range");
  }
  const p1 = refCount / refN;
  const p2 = curCount / curN;
  const P = (p1 * refN + p2 * curN) / (refN + curN);
  if (P === 0 || P === 1) return { statistic: 0, pValue: 1 };
  const z = (p1 - p2) / Math.sqrt(P * (1 - P) * (1.0 / refN + 1.0 / curN));
  return { statistic: z, pValue: 2 * normSf(Math.abs(z)) };
}

/**
 * Jensen–Shannon distance with base-2 logarithm, matching
 * `scipy.spatial.distance.jensenshannon(p, q, base=2)`: inputs are normalized
 * to sum 1 (counts or probabilities), same operation order and NumPy pairwise
 * summation. In [0, 1] for base 2. Pass `base = null` for SciPy's default
 * natural logarithm (what Evidently's `jensenshannon` test actually calls;
 * the base-2 value is larger by a factor 1/√ln2 ≈ 1.201).
 * @throws RangeError when lengths differ or a vector sums to 0.
 */
export function jensenShannonDistance(
  p: Float64Array | readonly number[],
  q: Float64Array | readonly number[],
  base: number | null = 2,
): number {
  const k = p.length;
  if (q.length !== k) throw new RangeError("jensenShannonDistance: vectors differ in length");
  const pv = Float64Array.from(p);
  const qv = Float64Array.from(q);
  const ps = pairwiseSum(pv);
  const qs = pairwiseSum(qv);
  if (!(ps > 0 && qs > 0)) throw new RangeError("jensenShannonDistance: vectors must have positive sum");
  const left = new Float64Array(k);
  const right = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const a = pv[i]! / ps;
    const b = qv[i]! / qs;
    const m = (a + b) / 2.0;
    left[i] = relEntr(a, m);
    right[i] = relEntr(b, m);
  }
  let js = pairwiseSum(left) + pairwiseSum(right);
  if (base !== null) js /= Math.log(base);
  return Math.sqrt(js / 2.0);
}

function relEntr(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return NaN;
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Infinity;
}

/** Bin counts of `values` over `edges` with NumPy's `np.histogram(values, edges)` rule: [e_i, e_{i+1}), last bin closed. `values` sorted. */
export function histogramCounts(sortedValues: Float64Array, edges: Float64Array): Float64Array {
  const nb = edges.length - 1;
  const counts = new Float64Array(nb);
  const cum = new Float64Array(edges.length);
  // searchsorted 'left' for edges[0..nb-1], 'right' for the last edge.
  for (let e = 0; e < edges.length; e++) {
    const x = edges[e]!;
    let lo = 0;
    let hi = sortedValues.length;
    const right = e === edges.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (right ? sortedValues[mid]! <= x : sortedValues[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    cum[e] = lo;
  }
  for (let b = 0; b < nb; b++) counts[b] = cum[b + 1]! - cum[b]!;
  return counts;
}

/**
 * `np.histogram_bin_edges(np.concatenate([ref, cur]), bins='sturges')`:
 * width = ptp / (log2(N) + 1), ceil(range / width) equal bins, edges from
 * `np.linspace` (i·step + min, last edge = max). A degenerate range becomes
 * [min − 0.5, max + 0.5] with one bin. Inputs MUST be sorted ascending.
 */
export function sturgesEdges(ref: Float64Array, cur: Float64Array): Float64Array {
  const N = ref.length + cur.length;
  if (N === 0) return Float64Array.of(0, 1);
  const lo = Math.min(ref.length ? ref[0]! : Infinity, cur.length ? cur[0]! : Infinity);
  const hi = Math.max(ref.length ? ref[ref.length - 1]! : -Infinity, cur.length ? cur[cur.length - 1]! : -Infinity);
  return sturgesEdgesOf(lo, hi, N);
}

/** {@link sturgesEdges} from the combined minimum, maximum and count (what DuckDB reports without the values). */
export function sturgesEdgesOf(lo: number, hi: number, N: number): Float64Array {
  if (N === 0) return Float64Array.of(0, 1);
  let first = lo;
  let last = hi;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const width = (hi - lo) / (Math.log2(N) + 1.0);
  const nBins = width ? Math.ceil((last - first) / width) : 1;
  const edges = new Float64Array(nBins + 1);
  const step = (last - first) / nBins;
  for (let i = 0; i <= nBins; i++) edges[i] = i * step + first;
  edges[nBins] = last;
  return edges;
}

/** Count distinct values in two sorted arrays together. */
export function countUniqueSorted(ref: Float64Array, cur: Float64Array): number {
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < ref.length || j < cur.length) {
    const v = j >= cur.length || (i < ref.length && ref[i]! <= cur[j]!) ? ref[i]! : cur[j]!;
    while (i < ref.length && ref[i]! <= v) i++;
    while (j < cur.length && cur[j]! <= v) j++;
    n++;
  }
  return n;
}

/** One bin per distinct value (ascending) over ref ∪ cur. Sorted inputs. */
export function valueCounts(ref: Float64Array, cur: Float64Array): { ref: Float64Array; cur: Float64Array } {
  const k = countUniqueSorted(ref, cur);
  const rc = new Float64Array(k);
  const cc = new Float64Array(k);
  let i = 0;
  let j = 0;
  let b = 0;
  while (i < ref.length || j < cur.length) {
    const v = j >= cur.length || (i < ref.length && ref[i]! <= cur[j]!) ? ref[i]! : cur[j]!;
    while (i < ref.length && ref[i]! <= v) {
      i++;
      rc[b]!++;
    }
    while (j < cur.length && cur[j]! <= v) {
      j++;
      cc[b]!++;
    }
    b++;
  }
  return { ref: rc, cur: cc };
}

/**
 * Evidently's binning for PSI / Jensen–Shannon on a numeric column: Sturges
 * bins over ref+cur when there are more than 20 distinct values, else one bin
 * per value. Sorted inputs. Returns counts per bin.
 */
export function binNumeric(ref: Float64Array, cur: Float64Array): { ref: Float64Array; cur: Float64Array } {
  if (countUniqueSorted(ref, cur) > 20) {
    const edges = sturgesEdges(ref, cur);
    return { ref: histogramCounts(ref, edges), cur: histogramCounts(cur, edges) };
  }
  return valueCounts(ref, cur);
}

/**
 * Population Stability Index Σ (r − c)·ln(r / c) over bin shares, empty bins
 * replaced by 0.0001 (Evidently). Takes per-bin counts (aligned); use
 * {@link psiNumeric} for raw numeric samples. NumPy pairwise summation.
 * @throws RangeError when lengths differ or a row total is 0.
 */
export function psi(refCounts: Float64Array | readonly number[], curCounts: Float64Array | readonly number[]): number {
  const k = refCounts.length;
  if (curCounts.length !== k) throw new RangeError("psi: count vectors differ in length");
  let rs = 0;
  let cs = 0;
  for (let i = 0; i < k; i++) {
    rs += refCounts[i]!;
    cs += curCounts[i]!;
  }
  if (!(rs > 0 && cs > 0)) throw new RangeError("psi: counts must have positive totals");
  const terms = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let r = refCounts[i]! / rs;
    let c = curCounts[i]! / cs;
    if (r === 0) r = 0.0001;
    if (c === 0) c = 0.0001;
    terms[i] = (r - c) * Math.log(r / c);
  }
  return pairwiseSum(terms);
}

/** PSI on raw numeric samples (sorted ascending), binned with {@link binNumeric}. */
export function psiNumeric(ref: Float64Array, cur: Float64Array): number {
  const b = binNumeric(ref, cur);
  return psi(b.ref, b.cur);
}

// ---------------------------------------------------------------------------
// Test selection and drift decisions
// ---------------------------------------------------------------------------

export type DriftTestName = "ks" | "chisquare" | "z" | "wasserstein" | "jensenshannon" | "psi";

export interface DriftTestChoice {
  test: DriftTestName;
  threshold: number;
  /** "p_value": drift when p < threshold; "distance": drift when statistic >= threshold. */
  direction: "p_value" | "distance";
}

const DEFAULT_THRESHOLDS: Record<DriftTestName, DriftTestChoice> = {
  ks: { test: "ks", threshold: 0.05, direction: "p_value" },
  chisquare: { test: "chisquare", threshold: 0.05, direction: "p_value" },
  z: { test: "z", threshold: 0.05, direction: "p_value" },
  wasserstein: { test: "wasserstein", threshold: 0.1, direction: "distance" },
  jensenshannon: { test: "jensenshannon", threshold: 0.1, direction: "distance" },
  psi: { test: "psi", threshold: 0.1, direction: "distance" },
};

/** Default threshold and direction for a test (Evidently's defaults). */
export function testDefaults(test: DriftTestName): DriftTestChoice {
  return { ...DEFAULT_THRESHOLDS[test] };
}

/**
 * Evidently's default drift test for a column. `nUnique` counts distinct
 * values in reference and current together.
 * - reference rows <= 1000: numeric with nUnique > 5 → KS (p < 0.05); else
 *   nUnique > 2 → chi-square (p < 0.05); else two-proportion Z (p < 0.05).
 * - reference rows > 1000: numeric with nUnique > 5 → normed Wasserstein
 *   (≥ 0.1); else Jensen–Shannon (≥ 0.1).
 */
export function chooseTest(kind: "numeric" | "categorical", referenceRows: number, nUnique: number): DriftTestChoice {
  const numericContinuous = kind === "numeric" && nUnique > 5;
  if (referenceRows <= 1000) {
    if (numericContinuous) return testDefaults("ks");
    return testDefaults(nUnique > 2 ? "chisquare" : "z");
  }
  return testDefaults(numericContinuous ? "wasserstein" : "jensenshannon");
}

export type ColumnInput =
  /** Raw numeric values (any order; sorted copies are made). */
  | { kind: "numeric"; reference: Float64Array; current: Float64Array }
  /** Per-category counts aligned by index, categories in ascending (sorted) order. */
  | { kind: "categorical"; referenceCounts: Float64Array; currentCounts: Float64Array };

export interface ColumnDriftOptions {
  test?: DriftTestName;
  threshold?: number;
}

export interface ColumnDriftResult {
  test: DriftTestName;
  statistic: number;
  pValue?: number;
  threshold: number;
  drifted: boolean;
}

/**
 * Runs the Evidently default test for a column (or `options.test`), with the
 * default or overridden threshold, and decides drift. For categorical input,
 * the Z-test's target category is index 0 (Evidently uses the first of the
 * sorted categories); KS and Wasserstein need numeric input.
 * @throws RangeError when a numeric-only test is requested for categorical
 *   input, the Z-test gets more than two categories, or a sample is empty.
 */
export function columnDrift(input: ColumnInput, options: ColumnDriftOptions = {}): ColumnDriftResult {
  let refS: Float64Array | undefined;
  let curS: Float64Array | undefined;
  let refCounts: Float64Array;
  let curCounts: Float64Array;
  let referenceRows: number;
  let nUnique: number;
  if (input.kind === "numeric") {
    refS = sorted(input.reference);
    curS = sorted(input.current);
    referenceRows = refS.length;
    nUnique = countUniqueSorted(refS, curS);
    const vc = valueCounts(refS, curS);
    refCounts = vc.ref;
    curCounts = vc.cur;
  } else {
    refCounts = input.referenceCounts;
    curCounts = input.currentCounts;
    let rows = 0;
    nUnique = 0;
    for (let i = 0; i < refCounts.length; i++) {
      rows += refCounts[i]!;
      if (refCounts[i]! + (curCounts[i] ?? 0) > 0) nUnique++;
    }
    referenceRows = rows;
  }
  const choice = options.test ? testDefaults(options.test) : chooseTest(input.kind, referenceRows, nUnique);
  const threshold = options.threshold ?? choice.threshold;
  let statistic: number;
  let pValue: number | undefined;
  switch (choice.test) {
    case "ks": {
      if (!refS || !curS) throw new RangeError("columnDrift: KS needs numeric input");
      const r = ks2Samp(refS, curS);
      statistic = r.statistic;
      pValue = r.pValue;
      break;
    }
    case "wasserstein": {
      if (!refS || !curS) throw new RangeError("columnDrift: Wasserstein needs numeric input");
      statistic = normedWasserstein(refS, curS);
      break;
    }
    case "chisquare": {
      const r = chiSquare(refCounts, curCounts);
      statistic = r.statistic;
      pValue = r.pValue;
      break;
    }
    case "z": {
      if (nUnique > 2) throw new RangeError("columnDrift: Z-test needs at most two categories");
      let refN = 0;
      let curN = 0;
      for (let i = 0; i < refCounts.length; i++) {
        refN += refCounts[i]!;
        curN += curCounts[i]!;
      }
      let target = 0;
      while (target < refCounts.length && refCounts[target]! + curCounts[target]! === 0) target++;
      const r = twoProportionZTest(refCounts[target] ?? 0, refN, curCounts[target] ?? 0, curN);
      statistic = r.statistic;
      pValue = r.pValue;
      break;
    }
    case "jensenshannon":
    case "psi": {
      const b = refS && curS ? binNumeric(refS, curS) : { ref: refCounts, cur: curCounts };
      statistic = choice.test === "psi" ? psi(b.ref, b.cur) : jensenShannonDistance(b.ref, b.cur);
      break;
    }
  }
  const drifted = choice.direction === "p_value" ? (pValue as number) < threshold : statistic >= threshold;
  return pValue === undefined
    ? { test: choice.test, statistic, threshold, drifted }
    : { test: choice.test, statistic, pValue, threshold, drifted };
}

export interface DatasetDriftResult {
  driftedColumns: number;
  totalColumns: number;
  share: number;
  driftShare: number;
  datasetDrift: boolean;
}

/**
 * Dataset-level drift (Evidently): drifted when the share of drifted columns
 * is >= `driftShare` (default 0.5). No columns → share 0, not drifted.
 * @throws RangeError when driftShare is outside [0, 1].
 */
export function datasetDrift(columns: readonly { drifted: boolean }[], driftShare = 0.5): DatasetDriftResult {
  if (!(driftShare >= 0 && driftShare <= 1)) throw new RangeError("datasetDrift: driftShare must be in [0, 1]");
  let drifted = 0;
  for (const c of columns) if (c.drifted) drifted++;
  const total = columns.length;
  const share = total === 0 ? 0 : drifted / total;
  return { driftedColumns: drifted, totalColumns: total, share, driftShare, datasetDrift: total > 0 && share >= driftShare };
}
