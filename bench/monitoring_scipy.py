"""Baseline for `npm run bench -- monitoring`: the drift statistics with SciPy + NumPy on the same data.

Usage: python3 bench/monitoring_scipy.py DIR
DIR holds spec.json ({"numeric": [names], "categorical": [{"name", "k"}]}) and, per column, raw
little-endian files written by the benchmark: ref_NAME.f64 / cur_NAME.f64 (float64) for numeric
columns and ref_NAME.i32 / cur_NAME.i32 (int32 category codes 0..k-1) for categorical ones.
Prints one JSON object: per mode ("auto": normed Wasserstein and Jensen-Shannon, Evidently's tests
above 1,000 reference rows; "forced": KS and chi-square) the seconds spent in the statistics only
(file loading is not timed) and each column's statistic and p-value; and the peak RSS of this process.
"""
import json
import os
import resource
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial import distance


def main() -> None:
    d = sys.argv[1]
    spec = json.load(open(os.path.join(d, "spec.json")))
    num = {c: (np.fromfile(os.path.join(d, f"ref_{c}.f64"), dtype="<f8"), np.fromfile(os.path.join(d, f"cur_{c}.f64"), dtype="<f8")) for c in spec["numeric"]}
    cat = {c["name"]: (np.fromfile(os.path.join(d, f"ref_{c['name']}.i32"), dtype="<i4"), np.fromfile(os.path.join(d, f"cur_{c['name']}.i32"), dtype="<i4"), c["k"]) for c in spec["categorical"]}

    out = {}
    for mode in ("auto", "forced"):
        cols = {}
        t0 = time.perf_counter()
        for c, (ref, cur) in num.items():
            if mode == "auto":
                s = stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001)
                cols[c] = {"statistic": float(s)}
            else:
                r = stats.ks_2samp(ref, cur)
                cols[c] = {"statistic": float(r.statistic), "pValue": float(r.pvalue)}
        for c, (ref, cur, k) in cat.items():
            rc = np.bincount(ref, minlength=k)
            cc = np.bincount(cur, minlength=k)
            if mode == "auto":
                cols[c] = {"statistic": float(distance.jensenshannon(rc, cc, base=2))}
            else:
                r = stats.chi2_contingency([rc, cc])
                cols[c] = {"statistic": float(r.statistic), "pValue": float(r.pvalue)}
        out[mode] = {"seconds": time.perf_counter() - t0, "columns": cols}
    # ru_maxrss is KiB on Linux.
    out["peakRssMiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["versions"] = {"scipy": __import__("scipy").__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
