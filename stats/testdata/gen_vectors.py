#!/usr/bin/env python3
"""Reference test vectors for package stats (STATS.md §14).

Regenerate from the repository root with Debian's Python (not a pyenv one):

    apt-get update && apt-get install -y python3-scipy python3-statsmodels python3-mpmath
    /usr/bin/python3 stats/testdata/gen_vectors.py

which rewrites stats/testdata/vectors.json deterministically (fixed seeds).
Generated with Python 3.11.2, numpy 1.24.2, scipy 1.10.1, statsmodels 0.13.5,
mpmath 1.2.1 (Debian bookworm packages); the versions actually used are also
recorded in the JSON's "versions" field.

Every expected value is computed here, independently of the Go code under test,
with SciPy / statsmodels where they implement the statistic, and otherwise with
the closed forms of STATS.md written out literally in numpy / mpmath. Each case
names its source. Where SciPy is known to be less accurate than the 1e-9
tolerance (scipy.stats.t.ppf/isf is off by up to ~2e-9 relative), the value
comes from mpmath at 40 significant digits and SciPy is used as a cross-check
only. Every cross-check is an assert, so a silent disagreement cannot produce
a vector.

Layout: {"versions": {...}, "functions": {name: [{name, source, input,
expected}, ...]}}; expected is the output object or {"error": true}.
"""

import json
import math
import os
import platform
import sys
from fractions import Fraction

import mpmath as mp
import numpy as np
import scipy
import statsmodels
from scipy import integrate, special, stats
from scipy.spatial import distance
from statsmodels.stats import multitest, proportion

mp.mp.dps = 40
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
FUNCS = {}


def case(fn, name, source, inp, expected):
    FUNCS.setdefault(fn, []).append(
        {"name": name, "source": source, "input": inp, "expected": expected}
    )


def err(fn, name, inp, why):
    case(fn, name, "STATS.md error rule: " + why, inp, {"error": True})


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * (1 + abs(b))


def f(x):
    """Plain float (json-able) from numpy / mpmath numbers."""
    return float(x)


def t_two_sided_p_mp(t, nu):
    """P(|T_nu| >= |t|) with mpmath (regularised incomplete beta)."""
    t, nu = mp.mpf(abs(t)), mp.mpf(nu)
    if t == 0:
        return mp.mpf(1)
    x = nu / (nu + t * t)
    xc = t * t / (nu + t * t)
    try:
        return mp.betainc(nu / 2, mp.mpf(1) / 2, 0, x, regularized=True)
    except mp.libmp.libhyper.NoConvergence:
        return 1 - mp.betainc(mp.mpf(1) / 2, nu / 2, 0, xc, regularized=True)


def t_crit_mp(alpha, nu):
    """T_nu^-1(1 - alpha/2) by bisection on log y with mpmath, 40 digits."""
    guess = stats.t.isf(alpha / 2, nu)
    lo, hi = mp.log(mp.mpf(guess) * (1 - mp.mpf("1e-4"))), mp.log(mp.mpf(guess) * (1 + mp.mpf("1e-4")))
    a = mp.mpf(alpha)
    assert t_two_sided_p_mp(mp.exp(lo), nu) > a > t_two_sided_p_mp(mp.exp(hi), nu)
    for _ in range(130):
        mid = (lo + hi) / 2
        if t_two_sided_p_mp(mp.exp(mid), nu) > a:
            lo = mid
        else:
            hi = mid
    y = mp.exp((lo + hi) / 2)
    assert close(f(y), guess, 1e-7), (alpha, nu, y, guess)  # scipy cross-check
    return y


# ---------------------------------------------------------------- §2 proportions
def prop_cases():
    src_pooled = ("statsmodels.stats.proportion.proportions_ztest([x_T, x_C], [n_T, n_C]) "
                  "for z and p (cross-checked: z^2 = scipy.stats.chi2_contingency(correction=False) statistic); "
                  "rates and pooled SE closed form")
    src_unpooled = ("statsmodels.stats.proportion.test_proportions_2indep(x_T, n_T, x_C, n_C, method='wald', "
                    "compare='diff') for z and p; SE closed form")
    src_ci = ("statsmodels.stats.proportion.confint_proportions_2indep(x_T, n_T, x_C, n_C, method='wald', "
              "compare='diff', alpha); z_crit = scipy.stats.norm.isf(alpha/2)")
    grid = [
        ("typical", (1000, 120), (1000, 150)),
        ("negative_effect", (2500, 400), (2400, 330)),
        ("small_counts", (10, 3), (12, 7)),
        ("unbalanced_n", (20000, 410), (1500, 45)),
        ("zero_vs_some", (100, 0), (100, 5)),
        ("equal_rates", (400, 40), (800, 80)),
        ("n_equals_1", (1, 1), (1, 0)),
        ("large_n_tiny_p", (1_000_000, 20_000), (1_000_000, 22_500)),
        ("extreme_z", (50_000, 500), (50_000, 2_000)),
        ("zero_vs_all", (50, 0), (60, 60)),
        ("zero_conversions_both", (50, 0), (60, 0)),
        ("all_conversions_both", (50, 50), (60, 60)),
    ]
    for name, (nc, xc), (nt, xt) in grid:
        inp = {"control": {"n": nc, "x": xc}, "treatment": {"n": nt, "x": xt}}
        pc, pt = xc / nc, xt / nt
        diff = pt - pc
        pbar = (xc + xt) / (nc + nt)
        se0 = math.sqrt(pbar * (1 - pbar) * (1 / nc + 1 / nt))
        if se0 == 0:
            z, p, src = 0.0, 1.0, "STATS.md §2.1 degenerate rule (SE0 = 0 => z = 0, p = 1)"
        else:
            z, p = proportion.proportions_ztest([xt, xc], [nt, nc])
            chi2 = stats.chi2_contingency([[xt, nt - xt], [xc, nc - xc]], correction=False)[0]
            assert close(z * z, chi2, 1e-9), (name, z * z, chi2)
            assert close(z, diff / se0)
            src = src_pooled
        case("two_proportion_ztest_pooled", name, src, inp, {
            "p_control": pc, "p_treatment": pt, "diff": diff, "pooled_p": pbar,
            "se": se0, "z": f(z), "p_value": f(p)})

        se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
        if se == 0 and diff != 0:
            err("two_proportion_ztest_unpooled", name, inp, "§2.2 SE = 0 with diff != 0")
        else:
            if se == 0:
                z, p, src = 0.0, 1.0, "STATS.md §2.2 degenerate rule (SE = 0, diff = 0 => z = 0, p = 1)"
            else:
                with np.errstate(all="ignore"):
                    res = proportion.test_proportions_2indep(np.float64(xt), nt, np.float64(xc), nc, method="wald", compare="diff")
                z, p = res.statistic, res.pvalue
                assert close(z, diff / se)
                src = src_unpooled
            case("two_proportion_ztest_unpooled", name, src, inp, {
                "p_control": pc, "p_treatment": pt, "diff": diff, "se": se,
                "z": f(z), "p_value": f(p)})

    for name, (nc, xc), (nt, xt), alpha in [
        ("typical_95", (1000, 120), (1000, 150), 0.05),
        ("typical_90", (1000, 120), (1000, 150), 0.1),
        ("small_counts_99", (10, 3), (12, 7), 0.01),
        ("tiny_alpha", (5000, 250), (5000, 300), 1e-6),
        ("zero_se_degenerate_interval", (10, 0), (10, 10), 0.05),
        ("n_equals_1", (1, 0), (1, 1), 0.05),
    ]:
        inp = {"control": {"n": nc, "x": xc}, "treatment": {"n": nt, "x": xt}, "alpha": alpha}
        pc, pt = xc / nc, xt / nt
        se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
        zc = stats.norm.isf(alpha / 2)
        diff = pt - pc
        if se > 0:
            lo, hi = proportion.confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff", alpha=alpha)
            src = src_ci
        else:
            lo = hi = diff
            src = "STATS.md §2.3 with SE = 0: the interval is [diff, diff]"
        case("proportion_diff_ci", name, src, inp, {
            "diff": diff, "se": se, "z_crit": f(zc), "lower": f(lo), "upper": f(hi)})

    for fn in ["two_proportion_ztest_pooled", "two_proportion_ztest_unpooled", "proportion_diff_ci"]:
        err(fn, "n_zero", {"control": {"n": 0, "x": 0}, "treatment": {"n": 10, "x": 1}}, "§2 n < 1")
        err(fn, "x_negative", {"control": {"n": 10, "x": -1}, "treatment": {"n": 10, "x": 1}}, "§2 x < 0")
        err(fn, "x_above_n", {"control": {"n": 10, "x": 2}, "treatment": {"n": 10, "x": 11}}, "§2 x > n")
    err("proportion_diff_ci", "alpha_above_1", {"control": {"n": 10, "x": 2}, "treatment": {"n": 10, "x": 3}, "alpha": 1.5},
        "§0.1 alpha must lie in (0, 1)")


# ---------------------------------------------------------------- §3 Welch
def welch_df(vc, nc, vt, nt):
    a, b = vc / nc, vt / nt
    return (a + b) ** 2 / (a * a / (nc - 1) + b * b / (nt - 1))


def welch_cases():
    rng = np.random.default_rng(3)
    src_t = ("scipy.stats.ttest_ind_from_stats(mean_T, sqrt(var_T), n_T, mean_C, sqrt(var_C), n_C, equal_var=False) "
             "for t and p; se and Welch-Satterthwaite df closed form")
    grid = [
        ("typical", (200, 3.4, 1.2), (210, 3.6, 1.5)),
        ("unequal_variances", (30, 10.0, 4.0), (300, 11.0, 25.0)),
        ("equal_means", (50, 2.0, 1.0), (70, 2.0, 3.0)),
        ("tiny_samples", (2, 1.0, 0.5), (2, 3.0, 0.8)),
        ("control_zero_variance", (40, 5.0, 0.0), (25, 5.5, 2.0)),
        ("df_just_below_2000", (1000, 0.5, 0.25), (1001, 0.52, 0.26)),
        ("df_just_above_2000", (1300, 0.5, 0.25), (1300, 0.52, 0.25)),
        ("large_n_df_2e5", (100_000, 0.2, 0.16), (100_001, 0.203, 0.1605)),
        ("huge_t", (5000, 0.0, 1.0), (5000, 0.5, 1.0)),
        ("df_2e7_t_near_2", (10_000_000, 0.1, 0.09), (10_000_000, 0.10026, 0.0901)),
        ("df_2e7_t_near_25", (10_000_000, 0.1, 0.09), (10_000_000, 0.1033, 0.0901)),
        ("negative_diff", (80, 12.0, 9.0), (60, 9.5, 16.0)),
    ]
    for name, (nc, mc, vc), (nt, mt, vt) in grid:
        inp = {"control": {"n": nc, "mean": mc, "var": vc}, "treatment": {"n": nt, "mean": mt, "var": vt}}
        se = math.sqrt(vc / nc + vt / nt)
        df = welch_df(vc, nc, vt, nt)
        t, p = stats.ttest_ind_from_stats(mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc, equal_var=False)
        assert close(f(p), f(t_two_sided_p_mp(t, df)), 1e-10), (name, p)
        case("welch_ttest", name, src_t, inp, {"diff": mt - mc, "se": se, "t": f(t), "df": df, "p_value": f(p)})
        if name == "control_zero_variance":
            assert close(df, nt - 1)

    # Equal variances and equal n: df = 2(n-1) and t equals Student's pooled t.
    inp = {"control": {"n": 25, "mean": 1.0, "var": 2.0}, "treatment": {"n": 25, "mean": 1.7, "var": 2.0}}
    t, p = stats.ttest_ind_from_stats(1.7, math.sqrt(2), 25, 1.0, math.sqrt(2), 25, equal_var=False)
    ts, _ = stats.ttest_ind_from_stats(1.7, math.sqrt(2), 25, 1.0, math.sqrt(2), 25, equal_var=True)
    assert close(t, ts) and close(welch_df(2, 25, 2, 25), 48)
    case("welch_ttest", "equal_var_equal_n", src_t + "; t equals equal_var=True, df = 2(n-1)", inp,
         {"diff": 0.7, "se": math.sqrt(4 / 25), "t": f(t), "df": 48.0, "p_value": f(p)})

    # Raw values.
    for name, c, tr in [
        ("raw_values", rng.normal(10, 2, 40), rng.normal(11, 3, 55)),
        ("raw_values_small", np.array([1.0, 2.0, 4.0]), np.array([2.5, 3.5])),
    ]:
        c = [round(float(x), 6) for x in c]
        tr = [round(float(x), 6) for x in tr]
        res = stats.ttest_ind(tr, c, equal_var=False)
        vc, vt = np.var(c, ddof=1), np.var(tr, ddof=1)
        inp = {"control": {"n": 0, "mean": 0, "var": 0, "values": c},
               "treatment": {"n": 0, "mean": 0, "var": 0, "values": tr}}
        case("welch_ttest", name, "scipy.stats.ttest_ind(values_T, values_C, equal_var=False); "
             "mean/var by numpy (ddof=1)", inp, {
                 "diff": f(np.mean(tr) - np.mean(c)), "se": f(math.sqrt(vc / len(c) + vt / len(tr))),
                 "t": f(res.statistic), "df": f(welch_df(vc, len(c), vt, len(tr))), "p_value": f(res.pvalue)})

    for fn in ["welch_ttest", "mean_diff_ci"]:
        err(fn, "n_equals_1", {"control": {"n": 1, "mean": 1, "var": 1}, "treatment": {"n": 10, "mean": 1, "var": 1}},
            "§3 n < 2")
        err(fn, "negative_var", {"control": {"n": 10, "mean": 1, "var": -1}, "treatment": {"n": 10, "mean": 1, "var": 1}},
            "§3 var < 0")
        err(fn, "zero_se", {"control": {"n": 10, "mean": 1, "var": 0}, "treatment": {"n": 10, "mean": 2, "var": 0}},
            "§3 SE = 0")
    err("welch_ttest", "one_raw_value", {"control": {"n": 0, "mean": 0, "var": 0, "values": [1.0]},
                                         "treatment": {"n": 10, "mean": 1, "var": 1}}, "§3 n < 2 (from values)")

    # §3.2 CI
    src_ci = ("closed form diff ± t_crit·se; t_crit = T_df^-1(1-alpha/2) by mpmath (40 digits, bisection on "
              "mpmath.betainc), cross-checked with scipy.stats.t.isf to 1e-7 (scipy's is only ~1e-9 accurate)")
    for name, (nc, mc, vc), (nt, mt, vt), alpha in [
        ("typical_95", (200, 3.4, 1.2), (210, 3.6, 1.5), 0.05),
        ("tiny_samples_95", (2, 1.0, 0.5), (2, 3.0, 0.8), 0.05),
        ("unequal_variances_99", (30, 10.0, 4.0), (300, 11.0, 25.0), 0.01),
        ("df_above_2000_90", (1300, 0.5, 0.25), (1300, 0.52, 0.25), 0.1),
        ("large_n_999", (100_000, 0.2, 0.16), (100_001, 0.203, 0.1605), 0.001),
        ("df_2e7_95", (10_000_000, 0.1, 0.09), (10_000_000, 0.10026, 0.0901), 0.05),
        ("tiny_alpha", (15, 1.0, 1.0), (12, 1.5, 2.0), 1e-6),
    ]:
        inp = {"control": {"n": nc, "mean": mc, "var": vc}, "treatment": {"n": nt, "mean": mt, "var": vt}, "alpha": alpha}
        se = math.sqrt(vc / nc + vt / nt)
        df = welch_df(vc, nc, vt, nt)
        tc = t_crit_mp(alpha, df)
        d = mt - mc
        case("mean_diff_ci", name, src_ci, inp, {
            "diff": d, "se": se, "df": df, "t_crit": f(tc),
            "lower": f(mp.mpf(d) - tc * mp.mpf(se)), "upper": f(mp.mpf(d) + tc * mp.mpf(se))})
    err("mean_diff_ci", "alpha_zero_or_negative", {"control": {"n": 10, "mean": 1, "var": 1},
                                                   "treatment": {"n": 10, "mean": 1, "var": 1}, "alpha": -0.05},
        "§0.1 alpha must lie in (0, 1)")


# ---------------------------------------------------------------- §4 lift, ratio
def lift_cases():
    src = ("closed form of STATS.md §4.1 (GrowthBook delta method) in numpy; p = 2*scipy.stats.norm.sf(|z|), "
           "quantile scipy.stats.norm.isf(alpha/2)")
    for name, (nc, mc, vc), (nt, mt, vt), alpha in [
        ("typical", (1000, 0.12, 0.12 * 0.88), (1000, 0.15, 0.15 * 0.85), 0.05),
        ("numeric_latency", (500, 820.0, 250.0 ** 2), (480, 870.0, 300.0 ** 2), 0.05),
        ("negative_control_mean", (300, -2.0, 4.0), (300, -1.5, 5.0), 0.1),
        ("zero_lift", (100, 5.0, 1.0), (120, 5.0, 2.0), 0.05),
        ("n_equals_1", (1, 2.0, 0.0), (1, 3.0, 1.0), 0.05),
        ("treatment_zero_mean", (200, 0.1, 0.09), (200, 0.0, 0.5), 0.01),
    ]:
        inp = {"control": {"n": nc, "mean": mc, "var": vc}, "treatment": {"n": nt, "mean": mt, "var": vt}, "alpha": alpha}
        L = (mt - mc) / mc
        var = vc * mt ** 2 / (mc ** 4 * nc) + vt / (mc ** 2 * nt)
        se = math.sqrt(var)
        z = L / se
        zc = stats.norm.isf(alpha / 2)
        case("relative_lift_ci", name, src, inp, {
            "lift": L, "se": se, "z": z, "p_value": f(2 * stats.norm.sf(abs(z))),
            "lower": f(L - zc * se), "upper": f(L + zc * se)})
    err("relative_lift_ci", "zero_control_mean", {"control": {"n": 100, "mean": 0, "var": 1},
                                                  "treatment": {"n": 100, "mean": 1, "var": 1}}, "§4.1 mean_C = 0")
    err("relative_lift_ci", "zero_se", {"control": {"n": 100, "mean": 1, "var": 0},
                                        "treatment": {"n": 100, "mean": 1, "var": 0}}, "§4.1 SE = 0 (z undefined)")
    err("relative_lift_ci", "zero_se_treatment_all_zero", {"control": {"n": 200, "mean": 0.1, "var": 0.09},
                                                           "treatment": {"n": 200, "mean": 0, "var": 0}},
        "§4.1 SE = 0 (z undefined): treatment mean 0 kills the control term")
    err("relative_lift_ci", "n_zero", {"control": {"n": 0, "mean": 1, "var": 1},
                                       "treatment": {"n": 100, "mean": 1, "var": 1}}, "n < 1")

    src_r = ("literal STATS.md §4.3 formula Var(R) = (s2_M - 2 (mu_M/mu_D) s_MD + s2_D mu_M^2/mu_D^2)/(n mu_D^2) "
             "in exact rational arithmetic (fractions.Fraction), cross-checked with numpy np.var/np.cov(ddof=1)")
    rng = np.random.default_rng(43)
    d = rng.integers(1, 20, 60).astype(float)
    m = rng.binomial(d.astype(int), 0.07).astype(float)
    lat_d = rng.integers(1, 8, 25).astype(float)
    lat_m = np.round(lat_d * rng.gamma(4, 200, 25), 3)
    for name, M, D in [
        ("errors_per_request", m, d),
        ("latency_per_session", lat_m, lat_d),
        ("two_units", np.array([1.0, 3.0]), np.array([2.0, 5.0])),
        ("constant_ratio_zero_variance", np.array([2.0, 4.0, 6.0, 1.0]), np.array([1.0, 2.0, 3.0, 0.5])),
    ]:
        n = len(M)
        muM, muD = np.mean(M), np.mean(D)
        s2M, s2D = np.var(M, ddof=1), np.var(D, ddof=1)
        sMD = np.cov(M, D, ddof=1)[0, 1]
        v_np = (s2M - 2 * (muM / muD) * sMD + s2D * muM ** 2 / muD ** 2) / (n * muD ** 2)
        # The same formula in exact rational arithmetic (the float version
        # cancels to ~1e-16 noise when the true variance is 0).
        Mq, Dq = [Fraction(x) for x in M], [Fraction(x) for x in D]
        mM, mD = sum(Mq) / n, sum(Dq) / n
        vM = sum((x - mM) ** 2 for x in Mq) / (n - 1)
        vD = sum((x - mD) ** 2 for x in Dq) / (n - 1)
        cMD = sum((x - mM) * (y - mD) for x, y in zip(Mq, Dq)) / (n - 1)
        v = (vM - 2 * (mM / mD) * cMD + vD * mM ** 2 / mD ** 2) / (n * mD ** 2)
        assert abs(float(v) - v_np) <= 1e-12 + 1e-9 * float(v), (name, float(v), v_np)
        R = sum(Mq) / sum(Dq)
        case("ratio_metric_stats", name, src_r, {"numerator": M.tolist(), "denominator": D.tolist()},
             {"n": n, "ratio": float(R), "var_of_ratio": float(v), "se": math.sqrt(v)})
    err("ratio_metric_stats", "length_mismatch", {"numerator": [1, 2], "denominator": [1, 2, 3]}, "lengths differ")
    err("ratio_metric_stats", "one_unit", {"numerator": [1], "denominator": [2]}, "n < 2 (variance undefined)")
    err("ratio_metric_stats", "zero_denominator_mean", {"numerator": [1, 2], "denominator": [1, -1]}, "mu_D = 0")
    err("ratio_metric_stats", "empty", {"numerator": [], "denominator": []}, "n < 2")


# ---------------------------------------------------------------- §5 SRM
def seq_srm_mp(period_counts, weights, conc):
    """STATS.md §5.2 literally, with mpmath.loggamma at 40 digits."""
    w = [mp.mpf(x) for x in weights]
    p0 = [x / sum(w) for x in w]
    c = mp.mpf(conc)
    a = [c * p for p in p0]
    cum = [mp.mpf(0)] * len(w)
    lbf, pv, pmin = [], [], mp.mpf(1)
    for counts in period_counts:
        cum = [cum[i] + counts[i] for i in range(len(w))]
        N = sum(cum)
        l = mp.loggamma(sum(a)) - mp.loggamma(sum(a) + N)
        for i in range(len(w)):
            l += mp.loggamma(a[i] + cum[i]) - mp.loggamma(a[i]) - cum[i] * mp.log(p0[i])
        lbf.append(l)
        pmin = min(pmin, mp.exp(-l))
        pv.append(pmin)
    return [f(x) for x in lbf], [f(x) for x in pv], pmin < mp.mpf("0.001")


def srm_cases():
    src = "scipy.stats.chisquare(counts, f_exp = N*w/sum(w)); df = K-1; srm = p < 0.001"
    for name, counts, weights in [
        ("balanced_exact", [5000, 5000], [1, 1]),
        ("mild_imbalance", [5050, 4950], [0.5, 0.5]),
        ("strong_srm", [5300, 4700], [1, 1]),
        ("three_arms_weighted", [2480, 5090, 2430], [1, 2, 1]),
        ("unequal_weights_ok", [8012, 1988], [80, 20]),
        ("tiny_counts", [3, 0], [1, 1]),
        ("large_counts_extreme", [1_010_000, 990_000], [1, 1]),
    ]:
        N = sum(counts)
        w = np.array(weights, float) / np.sum(weights)
        chi2, p = stats.chisquare(counts, f_exp=N * w)
        case("srm_chisq", name, src, {"counts": counts, "weights": [float(x) for x in weights]},
             {"chi2": f(chi2), "df": len(counts) - 1, "p_value": f(p), "srm": bool(p < 0.001)})
    for name, inp, why in [
        ("one_arm", {"counts": [10], "weights": [1.0]}, "K < 2"),
        ("length_mismatch", {"counts": [10, 10], "weights": [1.0, 1.0, 1.0]}, "length mismatch"),
        ("zero_weight", {"counts": [10, 10], "weights": [1.0, 0.0]}, "w <= 0"),
        ("no_units", {"counts": [0, 0], "weights": [1.0, 1.0]}, "N = 0"),
        ("negative_count", {"counts": [-1, 10], "weights": [1.0, 1.0]}, "o < 0"),
    ]:
        err("srm_chisq", name, inp, why)

    src_s = ("literal STATS.md §5.2 (Lindon, Semmens & Gotwalt 2022) with mpmath.loggamma at 40 digits; "
             "running min of exp(-lnBF)")
    rng = np.random.default_rng(52)
    balanced = [[int(x), int(y)] for x, y in zip(rng.binomial(1000, 0.5, 10), [0] * 10)]
    balanced = [[a, 1000 - a] for a, _ in balanced]
    emerging = [[500 + 10 * t, 500 - 10 * t] for t in range(8)]
    big = [[int(a), 1_000_000 - int(a)] for a in rng.binomial(1_000_000, 0.5, 5)]
    big_srm = [[502_000, 498_000] for _ in range(3)]
    for name, pc, weights, conc in [
        ("balanced_daily", balanced, [1, 1], 10000),
        ("srm_emerging", emerging, [1, 1], 10000),
        ("zero_unit_period", [[40, 60], [0, 0], [55, 45]], [1, 1], 10000),
        ("three_arms_weighted", [[250, 500, 250], [240, 520, 240], [260, 490, 250]], [1, 2, 1], 10000),
        ("low_concentration", [[30, 20], [25, 25], [40, 10]], [1, 1], 1),
        ("concentration_100", [[300, 200], [250, 250]], [1, 1], 100),
        ("million_per_period", big, [1, 1], 10000),
        ("million_per_period_srm", big_srm, [1, 1], 10000),
        ("single_period_zero", [[0, 0, 0]], [1, 1, 1], 10000),
    ]:
        lbf, pv, srm = seq_srm_mp(pc, weights, conc)
        case("srm_sequential", name, src_s,
             {"period_counts": pc, "weights": [float(x) for x in weights], "concentration": float(conc)},
             {"log_bayes_factor": lbf, "p_value": pv, "srm": bool(srm)})
    for name, inp, why in [
        ("no_periods", {"period_counts": [], "weights": [1.0, 1.0], "concentration": 10000.0}, "no data"),
        ("one_arm", {"period_counts": [[5]], "weights": [1.0], "concentration": 10000.0}, "K < 2"),
        ("ragged_period", {"period_counts": [[5, 5], [5]], "weights": [1.0, 1.0], "concentration": 10000.0},
         "period length mismatch"),
        ("negative_count", {"period_counts": [[5, -5]], "weights": [1.0, 1.0], "concentration": 10000.0}, "count < 0"),
        ("zero_weight", {"period_counts": [[5, 5]], "weights": [0.0, 1.0], "concentration": 10000.0}, "w <= 0"),
        ("negative_concentration", {"period_counts": [[5, 5]], "weights": [1.0, 1.0], "concentration": -1.0},
         "concentration <= 0"),
    ]:
        err("srm_sequential", name, inp, why)


# ---------------------------------------------------------------- §6 always valid
def av_literal(dc, vc, nc, dt, vt, nt, alpha, S, theta0):
    """STATS.md §6.2 written out literally; cross-checked against the GrowthBook
    form of h and the Johari et al. two-sample form of Lambda."""
    diff = dt - dc
    V = vc / nc + vt / nt
    N = nc + nt
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / S
    tau2 = rho2 * N * V
    logL = 0.5 * math.log(V / (V + tau2)) + tau2 * (diff - theta0) ** 2 / (2 * V * (V + tau2))
    p = min(1.0, math.exp(-logL)) if -logL < 700 else 1.0
    h = math.sqrt(V * (V + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((V + tau2) / V)))
    # GrowthBook gbstats form.
    hg = math.sqrt(N * V) * math.sqrt(2 * (N * rho2 + 1) * math.log(math.sqrt(N * rho2 + 1) / alpha) / (N * N * rho2))
    assert close(h, hg, 1e-12), (h, hg)
    # Duality p <= alpha <=> |diff - theta0| >= h (away from the boundary).
    if abs(abs(diff - theta0) - h) > 1e-9 * h:
        assert (p <= alpha) == (abs(diff - theta0) >= h)
    return {"diff": diff, "var_diff": V, "rho2": rho2, "tau2": tau2, "log_lambda": logL, "p_value": p,
            "half_width": h, "lower": diff - h, "upper": diff + h}


def johari_check():
    # Johari et al. with n per arm and known sigma^2: V = 2 sigma^2/n.
    n, s2, tau2, d = 400, 2.5, 0.01, 0.3
    lam = math.sqrt(2 * s2 / (2 * s2 + n * tau2)) * math.exp(n * n * tau2 * d * d / (4 * s2 * (2 * s2 + n * tau2)))
    V = 2 * s2 / n
    logL = 0.5 * math.log(V / (V + tau2)) + tau2 * d * d / (2 * V * (V + tau2))
    assert close(math.log(lam), logL, 1e-12)


def av_cases():
    johari_check()
    src = ("literal STATS.md §6.2 closed form in Python (math); h cross-checked with GrowthBook's gbstats "
           "form, Lambda with the Johari et al. (2017) two-sample form, duality p<=alpha <=> |diff-theta0|>=h")
    for name, c, t, alpha, S, theta0 in [
        ("typical", (1000, 0.12, 0.12 * 0.88), (1000, 0.15, 0.15 * 0.85), 0.05, 1000, 0.0),
        ("numeric_no_effect", (400, 3.0, 2.0), (420, 3.0, 2.2), 0.05, 1000, 0.0),
        ("theta0_nonzero", (500, 10.0, 9.0), (500, 10.8, 9.5), 0.05, 1000, 0.5),
        ("growthbook_S_5000", (2500, 0.2, 0.16), (2500, 0.22, 0.1716), 0.05, 5000, 0.0),
        ("alpha_01_S_200", (150, 1.0, 1.0), (140, 1.4, 1.2), 0.01, 200, 0.0),
        ("large_N", (200_000, 0.05, 0.0475), (200_000, 0.052, 0.049296), 0.05, 1000, 0.0),
        ("huge_effect_p_underflow", (5000, 0.0, 1.0), (5000, 1.0, 1.0), 0.05, 1000, 0.0),
        ("n_equals_1", (1, 1.0, 0.0), (1, 2.0, 1.0), 0.05, 1000, 0.0),
        ("one_arm_zero_variance", (300, 0.0, 0.0), (300, 0.02, 0.0196), 0.05, 1000, 0.0),
    ]:
        inp = {"control": {"n": c[0], "mean": c[1], "var": c[2]}, "treatment": {"n": t[0], "mean": t[1], "var": t[2]},
               "alpha": alpha, "tuning_S": float(S), "theta0": theta0}
        exp = av_literal(c[1], c[2], c[0], t[1], t[2], t[0], alpha, S, theta0)
        if name == "huge_effect_p_underflow":
            exp["p_value"] = 0.0 if exp["log_lambda"] > 745 else exp["p_value"]
        case("always_valid_test", name, src, inp, exp)
    err("always_valid_test", "zero_variance", {"control": {"n": 10, "mean": 1, "var": 0},
                                              "treatment": {"n": 10, "mean": 1, "var": 0},
                                              "alpha": 0.05, "tuning_S": 1000.0, "theta0": 0}, "§6.2 V <= 0")
    err("always_valid_test", "n_zero", {"control": {"n": 0, "mean": 1, "var": 1},
                                       "treatment": {"n": 10, "mean": 1, "var": 1},
                                       "alpha": 0.05, "tuning_S": 1000.0, "theta0": 0}, "n < 1")
    err("always_valid_test", "alpha_one", {"control": {"n": 10, "mean": 1, "var": 1},
                                          "treatment": {"n": 10, "mean": 1, "var": 1},
                                          "alpha": 1.0, "tuning_S": 1000.0, "theta0": 0}, "alpha must lie in (0, 1)")
    err("always_valid_test", "negative_S", {"control": {"n": 10, "mean": 1, "var": 1},
                                           "treatment": {"n": 10, "mean": 1, "var": 1},
                                           "alpha": 0.05, "tuning_S": -5.0, "theta0": 0}, "§6.2 S > 0")

    # §6.3 sequences
    src_seq = "literal STATS.md §6.2 per look + running minimum of §6.3, in Python"
    rng = np.random.default_rng(63)

    def binary_looks(pc, pt, step, k):
        xc = np.cumsum(rng.binomial(step, pc, k))
        xt = np.cumsum(rng.binomial(step, pt, k))
        return [{"control": {"n": step * (i + 1), "x": int(xc[i])}, "treatment": {"n": step * (i + 1), "x": int(xt[i])}}
                for i in range(k)]

    def run_seq(looks, mtype, alpha, S, theta0):
        pa, ps, first, pstar = [], [], None, 1.0
        for i, l in enumerate(looks):
            if mtype == "binary":
                arms = []
                for a in (l["control"], l["treatment"]):
                    p = a["x"] / a["n"]
                    arms.append((p, p * (1 - p), a["n"]))
            else:
                arms = [(a["mean"], a["var"], a["n"]) for a in (l["control"], l["treatment"])]
            (mc, vc, nc), (mt, vt, nt) = arms
            r = av_literal(mc, vc, nc, mt, vt, nt, alpha, S, theta0)
            pstar = min(pstar, r["p_value"])
            pa.append(r["p_value"])
            ps.append(pstar)
            if first is None and pstar <= alpha:
                first = i
        return {"p_value_at_look": pa, "always_valid_p_value": ps, "first_rejection_look": first}

    for name, looks, mtype, alpha, S, theta0 in [
        ("binary_effect_rejects", binary_looks(0.10, 0.16, 200, 12), "binary", 0.05, 1000, 0.0),
        ("binary_null_no_rejection", binary_looks(0.10, 0.10, 200, 12), "binary", 0.05, 1000, 0.0),
        ("continuous_looks", [
            {"control": {"n": 100 * k, "mean": 5.0 + 0.01 * k, "var": 4.0},
             "treatment": {"n": 100 * k, "mean": 5.4 - 0.01 * k, "var": 4.5}} for k in range(1, 9)],
         "continuous", 0.05, 1000, 0.0),
        ("single_look", binary_looks(0.3, 0.2, 500, 1), "binary", 0.1, 500, 0.0),
        ("no_looks", [], "binary", 0.05, 1000, 0.0),
    ]:
        inp = {"looks": looks, "metric_type": mtype, "alpha": alpha, "tuning_S": float(S), "theta0": theta0}
        case("always_valid_sequence", name, src_seq, inp, run_seq(looks, mtype, alpha, S, theta0))
    err("always_valid_sequence", "zero_variance_look", {
        "looks": [{"control": {"n": 100, "x": 0}, "treatment": {"n": 100, "x": 0}}],
        "metric_type": "binary", "alpha": 0.05, "tuning_S": 1000.0, "theta0": 0}, "§6.2 V <= 0 at a look")
    err("always_valid_sequence", "unknown_metric_type", {
        "looks": [{"control": {"n": 100, "x": 5}, "treatment": {"n": 100, "x": 7}}],
        "metric_type": "ratio", "alpha": 0.05, "tuning_S": 1000.0, "theta0": 0}, "metric_type not binary/continuous")
    err("always_valid_sequence", "x_above_n", {
        "looks": [{"control": {"n": 100, "x": 101}, "treatment": {"n": 100, "x": 7}}],
        "metric_type": "binary", "alpha": 0.05, "tuning_S": 1000.0, "theta0": 0}, "x > n")


# ---------------------------------------------------------------- §7 Bayesian
def beat_sum_mp(ac, bc, at, bt):
    """Evan Miller's closed form, every term with mpmath at 40 digits."""
    ac, bc, bt = mp.mpf(ac), mp.mpf(bc), mp.mpf(bt)
    base = mp.log(mp.beta(ac, bc))
    s = mp.mpf(0)
    for i in range(int(at)):
        s += mp.exp(mp.log(mp.beta(ac + i, bc + bt)) - mp.log(bt + i) - mp.log(mp.beta(1 + i, bt)) - base)
    return s


def post_range(posts):
    lo = min(stats.beta.ppf(1e-16, a, b) for a, b in posts)
    hi = max(stats.beta.isf(1e-16, a, b) for a, b in posts)
    meds = sorted(stats.beta.median(a, b) for a, b in posts)
    return lo, hi, meds


def prob_best_quad(posts, k):
    """scipy.integrate.quad of f_k * prod_{j!=k} F_j, split at the medians."""
    a, b = posts[k]

    def g(x):
        v = stats.beta.pdf(x, a, b)
        for j, (aj, bj) in enumerate(posts):
            if j != k:
                v *= special.betainc(aj, bj, x)
        return v

    lo, hi, meds = post_range(posts)
    pts = [lo] + [m for m in meds if lo < m < hi] + [hi]
    total = 0.0
    for x0, x1 in zip(pts[:-1], pts[1:]):
        v, e = integrate.quad(g, x0, x1, epsabs=0, epsrel=1e-13, limit=500)
        total += v
    return total


def bayes_cases():
    src_sum = ("Evan Miller's closed-form sum (STATS.md §7.1), every term in mpmath at 40 digits; "
               "cross-checked with scipy.integrate.quad of beta.pdf(T)*betainc(C)")
    src_quad = ("scipy.integrate.quad (epsrel 1e-13, split at posterior medians) of scipy.stats.beta.pdf * "
                "scipy.special.betainc over the central 1-2e-16 range")
    for name, prior, c, t in [
        ("typical", (1, 1), (1000, 120), (1000, 150)),
        ("small_counts", (1, 1), (10, 3), (12, 7)),
        ("zero_conversions_equal_n", (1, 1), (50, 0), (50, 0)),
        ("zero_conversions_unequal_n", (1, 1), (50, 0), (80, 0)),
        ("all_conversions", (1, 1), (40, 40), (30, 30)),
        ("n_zero_both", (1, 1), (0, 0), (0, 0)),
        ("n_zero_control", (1, 1), (0, 0), (10, 8)),
        ("informative_prior", (2, 8), (200, 30), (220, 41)),
        ("treatment_worse", (1, 1), (5000, 600), (5000, 520)),
        ("large_counts", (1, 1), (40000, 2000), (40000, 2150)),
    ]:
        ac, bc = prior[0] + c[1], prior[1] + c[0] - c[1]
        at, bt = prior[0] + t[1], prior[1] + t[0] - t[1]
        inp = {"prior": {"alpha": float(prior[0]), "beta": float(prior[1])},
               "control": {"n": c[0], "x": c[1]}, "treatment": {"n": t[0], "x": t[1]}}
        p = beat_sum_mp(ac, bc, at, bt)
        q = prob_best_quad([(at, bt), (ac, bc)], 0)
        assert abs(f(p) - q) <= 1e-9 + 1e-8 * q, (name, p, q)
        if (ac, bc) == (at, bt):
            assert abs(p - mp.mpf("0.5")) < mp.mpf("1e-30")
        case("beta_binomial_prob_beat_control", name, src_sum, inp, {
            "prob_treatment_beats_control": f(p),
            "posterior_control": {"alpha": float(ac), "beta": float(bc)},
            "posterior_treatment": {"alpha": float(at), "beta": float(bt)}})
    # Beyond 100,000 successes the Go code switches to quadrature. Reference:
    # the same sum, exactly, in mpmath via the term ratio
    # T_i/T_(i-1) = (a_C+i-1)(b_T+i-1) / (i (a_C+b_C+b_T+i-1)), T_0 = B(a_C, b_C+b_T)/B(a_C, b_C);
    # cross-checked with scipy quad (scipy.special.betaln is off by 3e-9 here).
    c, t = (2_000_000, 118_500), (2_000_000, 120_000)
    ac, bc = 1 + c[1], 1 + c[0] - c[1]
    at, bt = 1 + t[1], 1 + t[0] - t[1]
    mac, mbc, mbt = mp.mpf(ac), mp.mpf(bc), mp.mpf(bt)
    term = mp.beta(mac, mbc + mbt) / mp.beta(mac, mbc)
    tot = term
    for i in range(1, at):
        term *= (mac + i - 1) * (mbt + i - 1) / (i * (mac + mbc + mbt + i - 1))
        tot += term
    p = f(tot)
    q = prob_best_quad([(at, bt), (ac, bc)], 0)
    assert abs(p - q) <= 1e-10, (p, q)
    case("beta_binomial_prob_beat_control", "very_large_counts_quadrature_route",
         "closed-form sum of STATS.md §7.1 evaluated exactly in mpmath (term-ratio recurrence, 40 digits), "
         "cross-checked with scipy.integrate.quad", {
             "prior": {"alpha": 1.0, "beta": 1.0}, "control": {"n": c[0], "x": c[1]},
             "treatment": {"n": t[0], "x": t[1]}}, {
             "prob_treatment_beats_control": p,
             "posterior_control": {"alpha": float(ac), "beta": float(bc)},
             "posterior_treatment": {"alpha": float(at), "beta": float(bt)}})
    for name, prior, c, t in [
        ("jeffreys_prior", (0.5, 0.5), (200, 20), (210, 31)),
        ("jeffreys_zero_conversions", (0.5, 0.5), (30, 0), (40, 1)),
        ("jeffreys_identical", (0.5, 0.5), (30, 4), (30, 4)),
    ]:
        ac, bc = prior[0] + c[1], prior[1] + c[0] - c[1]
        at, bt = prior[0] + t[1], prior[1] + t[0] - t[1]
        inp = {"prior": {"alpha": prior[0], "beta": prior[1]},
               "control": {"n": c[0], "x": c[1]}, "treatment": {"n": t[0], "x": t[1]}}
        q = 0.5 if (ac, bc) == (at, bt) else prob_best_quad([(at, bt), (ac, bc)], 0)
        case("beta_binomial_prob_beat_control", name,
             src_quad if q != 0.5 else "symmetry: identical posteriors give exactly 0.5 (STATS.md §7.1)", inp, {
                 "prob_treatment_beats_control": q,
                 "posterior_control": {"alpha": ac, "beta": bc},
                 "posterior_treatment": {"alpha": at, "beta": bt}})
    err("beta_binomial_prob_beat_control", "x_above_n",
        {"prior": {"alpha": 1.0, "beta": 1.0}, "control": {"n": 5, "x": 6}, "treatment": {"n": 5, "x": 1}}, "x > n")
    err("beta_binomial_prob_beat_control", "negative_prior",
        {"prior": {"alpha": -1.0, "beta": 1.0}, "control": {"n": 5, "x": 1}, "treatment": {"n": 5, "x": 1}},
        "prior parameters must be > 0")

    for name, prior, arms in [
        ("two_arms", (1, 1), [(1000, 120), (1000, 150)]),
        ("three_arms", (1, 1), [(500, 50), (480, 60), (510, 45)]),
        ("four_arms_small", (1, 1), [(10, 2), (12, 5), (9, 1), (11, 4)]),
        ("identical_arms", (1, 1), [(100, 10), (100, 10), (100, 10)]),
        ("single_arm", (1, 1), [(100, 10)]),
        ("jeffreys_three_arms", (0.5, 0.5), [(300, 30), (300, 42), (300, 0)]),
        ("clear_winner", (1, 1), [(5000, 250), (5000, 400)]),
        ("jeffreys_u_shaped_empty_arm", (0.5, 0.5), [(50, 5), (60, 9), (40, 2), (55, 7), (0, 0)]),
        ("all_conversions_vs_none", (1, 1), [(30, 30), (30, 0), (25, 24)]),
    ]:
        posts = [(prior[0] + x, prior[1] + n - x) for n, x in arms]
        if len(posts) == 1:
            pb = [1.0]
        else:
            pb = [prob_best_quad(posts, k) for k in range(len(posts))]
            assert abs(sum(pb) - 1) < 1e-9, (name, sum(pb))
        if len(posts) == 2 and prior == (1, 1):
            exact = f(beat_sum_mp(posts[0][0], posts[0][1], posts[1][0], posts[1][1]))
            assert abs(pb[1] - exact) < 1e-10, (name, pb, exact)
        inp = {"prior": {"alpha": float(prior[0]), "beta": float(prior[1])},
               "arms": [{"n": n, "x": x} for n, x in arms]}
        case("beta_binomial_prob_best", name, src_quad + (" (K=2 cross-checked with the closed form)"
                                                           if len(posts) == 2 else ""), inp, {"prob_best": pb})
    err("beta_binomial_prob_best", "no_arms", {"prior": {"alpha": 1.0, "beta": 1.0}, "arms": []}, "K = 0")
    err("beta_binomial_prob_best", "x_negative",
        {"prior": {"alpha": 1.0, "beta": 1.0}, "arms": [{"n": 5, "x": -1}, {"n": 5, "x": 1}]}, "x < 0")


# ---------------------------------------------------------------- §8 Holm
def holm_cases():
    src = ("statsmodels.stats.multitest.multipletests(p, alpha, method='holm') (pvals_corrected; "
           "reject = p_adj <= alpha per STATS.md §8, cross-checked with statsmodels' reject)")
    for name, p, alpha in [
        ("typical", [0.01, 0.04, 0.03, 0.005], 0.05),
        ("ties", [0.02, 0.02, 0.02, 0.5], 0.05),
        ("ties_reject", [0.01, 0.01, 0.03], 0.05),
        ("none_rejected", [0.2, 0.5, 0.8], 0.05),
        ("single", [0.03], 0.05),
        ("zero_and_one", [0.0, 1.0, 0.5], 0.05),
        ("boundary_equal_alpha", [0.025, 0.5], 0.05),
        ("clipped_at_one", [0.4, 0.6, 0.9], 0.1),
        ("unsorted_many", [0.0001, 0.9, 0.012, 0.0049, 0.3, 0.011, 0.02, 0.0002], 0.05),
    ]:
        rej, padj, _, _ = multitest.multipletests(p, alpha=alpha, method="holm")
        reject = [bool(x <= alpha) for x in padj]
        assert reject == [bool(x) for x in rej], (name, reject, rej)
        case("holm_bonferroni", name, src, {"p_values": p, "alpha": alpha},
             {"adjusted_p_values": [f(x) for x in padj], "reject": reject})
    err("holm_bonferroni", "empty", {"p_values": [], "alpha": 0.05}, "m < 1")
    err("holm_bonferroni", "p_above_one", {"p_values": [0.1, 1.5], "alpha": 0.05}, "p outside [0, 1]")
    err("holm_bonferroni", "p_negative", {"p_values": [-0.1], "alpha": 0.05}, "p outside [0, 1]")


# ---------------------------------------------------------------- §9 PSI
def psi_numeric_ref(ref, cur, B, eps):
    s = sorted(ref)
    n = len(s)
    e = []
    for k in range(1, B):
        num = (n - 1) * k
        lo, t = num // B, (num % B) / B
        hi = min(lo + 1, n - 1)
        e.append(s[lo] + t * (s[hi] - s[lo]))
    qs = np.quantile(np.array(s), [k / B for k in range(1, B)], method="linear") if B > 1 else []
    for a, b in zip(e, qs):  # cross-check with numpy's type-7 quantile
        assert abs(a - b) <= 1e-12 * (1 + abs(b)), (a, b)
    edges = sorted(set(e))
    rc = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    r = rc / len(ref)
    c = cc / len(cur)
    r = np.where(r == 0, eps, r)
    c = np.where(c == 0, eps, c)
    psi = float(np.sum((c - r) * np.log(c / r)))
    band = "none" if psi < 0.1 else ("moderate" if psi < 0.25 else "significant")
    return {"psi": psi, "edges": [f(x) for x in edges], "reference_counts": [int(x) for x in rc],
            "current_counts": [int(x) for x in cc], "band": band}


def rnd(xs, d=6):
    return [round(float(x), d) for x in xs]


def psi_cases():
    src = ("STATS.md §9.1 in numpy: type-7 quantiles with the integer index (cross-checked against "
           "numpy.quantile(method='linear')), numpy.searchsorted(side='right') binning, eps floor")
    rng = np.random.default_rng(91)
    base = rnd(rng.normal(0, 1, 500))
    for name, ref, cur, B, eps in [
        ("identical_samples", base, list(base), 10, 1e-4),
        ("small_shift", base, rnd(rng.normal(0.2, 1, 400)), 10, 1e-4),
        ("large_shift", base, rnd(rng.normal(1.0, 1.3, 400)), 10, 1e-4),
        ("current_outside_range", base, rnd(rng.normal(8, 1, 100)), 10, 1e-4),
        ("many_ties_deduplicated_edges", rnd(rng.integers(0, 4, 300), 0), rnd(rng.integers(0, 5, 300), 0), 10, 1e-4),
        ("reference_n_1", [3.5], [1.0, 3.5, 7.0], 10, 1e-4),
        ("reference_n_3", [1.0, 2.0, 10.0], [0.5, 1.5, 2.5, 9.0, 11.0], 10, 1e-4),
        ("bins_5_custom_eps", base, rnd(rng.normal(0.5, 1, 300)), 5, 1e-3),
        ("bins_1", base, rnd(rng.normal(0.5, 1, 30)), 1, 1e-4),
        ("current_n_1", base, [0.0], 10, 1e-4),
        ("latency_heavy_tail", rnd(rng.lognormal(6, 0.8, 600), 3), rnd(rng.lognormal(6.1, 0.9, 500), 3), 10, 1e-4),
    ]:
        exp = psi_numeric_ref(ref, cur, B, eps)
        if name == "identical_samples":
            assert exp["psi"] == 0.0
        case("psi_numeric", name, src, {"reference": ref, "current": cur, "bins": B, "epsilon": eps}, exp)
    err("psi_numeric", "empty_reference", {"reference": [], "current": [1.0], "bins": 10, "epsilon": 1e-4}, "empty sample")
    err("psi_numeric", "empty_current", {"reference": [1.0], "current": [], "bins": 10, "epsilon": 1e-4}, "empty sample")
    err("psi_numeric", "negative_bins", {"reference": [1.0], "current": [1.0], "bins": -2, "epsilon": 1e-4}, "bins < 1")

    src_c = "STATS.md §9.2 in numpy over the category union, eps floor"
    for name, ref, cur, eps in [
        ("identical", {"a": 10, "b": 30, "c": 60}, {"a": 10, "b": 30, "c": 60}, 1e-4),
        ("same_proportions_other_n", {"a": 10, "b": 30}, {"a": 100, "b": 300}, 1e-4),
        ("shift", {"gpt": 500, "claude": 300, "gemini": 200}, {"gpt": 350, "claude": 450, "gemini": 200}, 1e-4),
        ("new_category", {"a": 90, "b": 10}, {"a": 80, "b": 10, "c": 10}, 1e-4),
        ("missing_category", {"a": 50, "b": 50}, {"a": 100}, 1e-4),
        ("single_category", {"x": 7}, {"x": 3}, 1e-4),
        ("custom_eps", {"a": 90, "b": 10}, {"a": 80, "c": 20}, 1e-3),
    ]:
        keys = sorted(set(ref) | set(cur))
        r = np.array([ref.get(k, 0) for k in keys], float) / sum(ref.values())
        c = np.array([cur.get(k, 0) for k in keys], float) / sum(cur.values())
        r = np.where(r == 0, eps, r)
        c = np.where(c == 0, eps, c)
        psi = float(np.sum((c - r) * np.log(c / r)))
        band = "none" if psi < 0.1 else ("moderate" if psi < 0.25 else "significant")
        case("psi_categorical", name, src_c, {"reference": {k: float(v) for k, v in ref.items()},
                                              "current": {k: float(v) for k, v in cur.items()}, "epsilon": eps},
             {"psi": psi, "band": band})
    err("psi_categorical", "empty_reference", {"reference": {}, "current": {"a": 1.0}, "epsilon": 1e-4}, "empty window")
    err("psi_categorical", "zero_total", {"reference": {"a": 0.0}, "current": {"a": 1.0}, "epsilon": 1e-4}, "empty window")
    err("psi_categorical", "negative_count", {"reference": {"a": -1.0, "b": 5.0}, "current": {"a": 1.0}, "epsilon": 1e-4},
        "count < 0")


# ---------------------------------------------------------------- §10–11 drift
def drift_cases():
    src = ("D = scipy.stats.ks_2samp(a, b).statistic; en = nm/(n+m); lambda = sqrt(en)*D; "
           "p = scipy.stats.kstwobign.sf(lambda)")
    rng = np.random.default_rng(101)
    a = rnd(rng.normal(0, 1, 300))
    for name, x, y in [
        ("identical", a, list(a)),
        ("shift_small_lambda", rnd(rng.normal(0, 1, 60)), rnd(rng.normal(0.1, 1, 50))),
        ("shift_large_lambda", a, rnd(rng.normal(0.6, 1, 250))),
        ("disjoint", [1.0, 2.0, 3.0], [10.0, 11.0]),
        ("ties", [1.0, 1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 2.0, 2.0, 4.0, 4.0]),
        ("one_each_equal", [5.0], [5.0]),
        ("one_each_different", [5.0], [6.0]),
        ("lambda_near_1_18", rnd(rng.normal(0, 1, 400)), rnd(rng.normal(0.17, 1, 400))),
    ]:
        D = stats.ks_2samp(x, y).statistic
        n, m = len(x), len(y)
        en = n * m / (n + m)
        lam = math.sqrt(en) * D
        p = stats.kstwobign.sf(lam) if lam > 0 else 1.0
        case("ks_2samp_asymp", name, src, {"a": x, "b": y},
             {"D": f(D), "en": en, "lambda": f(lam), "p_value": f(min(1.0, p))})
    err("ks_2samp_asymp", "empty_a", {"a": [], "b": [1.0]}, "empty sample")
    err("ks_2samp_asymp", "empty_b", {"a": [1.0], "b": []}, "empty sample")

    src_js = "scipy.spatial.distance.jensenshannon(P, Q, base=2) over the category union; drift = JS >= 0.1"
    for name, ref, cur in [
        ("identical", {"a": 10, "b": 30}, {"a": 20, "b": 60}),
        ("disjoint", {"a": 10}, {"b": 5}),
        ("shift", {"gpt": 500, "claude": 300, "gemini": 200}, {"gpt": 350, "claude": 450, "gemini": 200}),
        ("slight_shift_no_drift", {"a": 500, "b": 500}, {"a": 520, "b": 480}),
        ("new_category", {"a": 90, "b": 10}, {"a": 80, "b": 10, "c": 10}),
    ]:
        keys = sorted(set(ref) | set(cur))
        P = np.array([ref.get(k, 0) for k in keys], float)
        Q = np.array([cur.get(k, 0) for k in keys], float)
        js = float(distance.jensenshannon(P / P.sum(), Q / Q.sum(), base=2))
        case("js_distance", name, src_js, {"reference": {k: float(v) for k, v in ref.items()},
                                           "current": {k: float(v) for k, v in cur.items()}},
             {"js_distance": js, "drift": bool(js >= 0.1)})
    err("js_distance", "empty_current", {"reference": {"a": 1.0}, "current": {}}, "empty window")

    src_w = ("scipy.stats.wasserstein_distance(reference, current) / max(numpy.std(reference), 0.001) "
             "(Evidently wasserstein_distance_norm); drift = normed >= 0.1")
    for name, r, c in [
        ("identical", a, list(a)),
        ("shift", a, rnd(rng.normal(0.3, 1, 200))),
        ("small_shift_no_drift", a, rnd(rng.normal(0.02, 1, 3000))),
        ("constant_reference_std_floor", [2.0, 2.0, 2.0], [2.0, 2.0005, 3.0]),
        ("one_each", [1.0], [4.0]),
        ("latency", rnd(rng.lognormal(6, 0.8, 400), 3), rnd(rng.lognormal(6.2, 0.8, 300), 3)),
    ]:
        w = stats.wasserstein_distance(r, c)
        normed = w / max(np.std(r), 0.001)
        case("wasserstein_norm", name, src_w, {"reference": r, "current": c},
             {"wasserstein": f(w), "normed": f(normed), "drift": bool(normed >= 0.1)})
    err("wasserstein_norm", "empty_reference", {"reference": [], "current": [1.0]}, "empty sample")


# ---------------------------------------------------------------- §12 rollback
def rollback_ref(inp):
    """STATS.md §12.2 in Python: SRM by seq_srm_mp (mpmath), half-width by the
    literal §6.2 formula."""
    alpha = inp.get("alpha", 0.05)
    S = inp.get("tuning_S", 1000.0)
    nmin = inp.get("n_min", 100)
    mine = inp.get("min_events_binary", 10)
    gs = inp["guardrails"]
    out = {"action": "continue", "triggered": [], "srm_p_value": None, "metrics": []}
    halt = False
    if inp.get("srm") is not None:
        s = inp["srm"]
        _, pv, _ = seq_srm_mp(s["period_counts"], s["weights"], s.get("concentration") or 10000)
        out["srm_p_value"] = pv[-1]
        halt = pv[-1] < (s.get("threshold") or 0.001)
    am = alpha / max(len(gs), 1)
    for g in gs:
        arms = []
        for a in (g["control"], g["treatment"]):
            if g["type"] == "binary":
                p = a["x"] / a["n"]
                arms.append((p, p * (1 - p), a["n"]))
            else:
                arms.append((a["mean"], a["var"], a["n"]))
        (mc, vc, nc), (mt, vt, nt) = arms
        d = 1 if g["higher_is_worse"] else -1
        H = d * (mt - mc)
        marg = g["margin"] if g["margin_type"] == "absolute" else g["margin"] * abs(mc)
        V = vc / nc + vt / nt
        elig = nc >= nmin and nt >= nmin and V > 0
        if g["type"] == "binary" and g["control"]["x"] + g["treatment"]["x"] < mine:
            elig = False
        h = lb = None
        breached = False
        if V > 0:
            N = nc + nt
            rho2 = (-2 * math.log(am) + math.log(1 - 2 * math.log(am))) / S
            tau2 = rho2 * N * V
            h = math.sqrt(V * (V + tau2) / tau2 * (2 * math.log(1 / am) + math.log((V + tau2) / V)))
            lb = H - h
            breached = elig and lb > marg
        out["metrics"].append({"name": g["name"], "harm": H, "margin_abs": marg, "alpha_metric": am,
                               "eligible": elig, "half_width": h, "lower_bound": lb, "breached": breached})
        if breached:
            out["triggered"].append(g["name"])
    if halt:
        out["action"] = "halt_srm"
    elif out["triggered"]:
        out["action"] = "rollback"
    return out


def rollback_cases():
    src = ("STATS.md §12.2 implemented independently in Python: literal §6.2 half-width, "
           "§5.2 SRM with mpmath.loggamma")

    def g(name, typ, hiw, margin, mtype, c, t):
        return {"name": name, "type": typ, "higher_is_worse": hiw, "margin": margin, "margin_type": mtype,
                "control": c, "treatment": t}

    err_rate = lambda c, t: g("error_rate", "binary", True, 0.005, "absolute", c, t)
    latency = lambda c, t: g("latency_ms", "continuous", True, 0.10, "relative", c, t)
    thumbs = lambda c, t: g("thumbs_up", "binary", False, 0.02, "absolute", c, t)
    judge = lambda c, t: g("judge_score", "continuous", False, 0.05, "relative", c, t)
    base = {"alpha": 0.05, "tuning_S": 1000.0, "n_min": 100, "min_events_binary": 10}
    for name, extra in [
        ("continue_no_harm", {"srm": None, "guardrails": [
            err_rate({"n": 5000, "x": 100}, {"n": 5000, "x": 104}),
            latency({"n": 5000, "mean": 800.0, "var": 250.0 ** 2}, {"n": 5000, "mean": 805.0, "var": 260.0 ** 2})]}),
        ("rollback_error_rate", {"srm": None, "guardrails": [
            err_rate({"n": 3000, "x": 60}, {"n": 3000, "x": 150}),
            latency({"n": 3000, "mean": 800.0, "var": 250.0 ** 2}, {"n": 3000, "mean": 805.0, "var": 260.0 ** 2})]}),
        ("significant_but_within_margin", {"srm": None, "guardrails": [
            err_rate({"n": 2_000_000, "x": 40_000}, {"n": 2_000_000, "x": 42_000})]}),
        ("below_n_min", {"srm": None, "guardrails": [
            err_rate({"n": 80, "x": 1}, {"n": 80, "x": 40})]}),
        ("below_min_events", {"srm": None, "guardrails": [
            err_rate({"n": 500, "x": 0}, {"n": 500, "x": 9})]}),
        ("zero_variance_null_bounds", {"srm": None, "guardrails": [
            err_rate({"n": 500, "x": 0}, {"n": 500, "x": 0})]}),
        ("lower_is_worse_two_triggered", {"srm": None, "guardrails": [
            thumbs({"n": 4000, "x": 2800}, {"n": 4000, "x": 2400}),
            judge({"n": 4000, "mean": 4.2, "var": 0.8}, {"n": 4000, "mean": 3.7, "var": 1.0}),
            err_rate({"n": 4000, "x": 80}, {"n": 4000, "x": 82})]}),
        ("relative_margin_zero_control_mean", {"srm": None, "guardrails": [
            g("cost_usd", "continuous", True, 0.1, "relative",
              {"n": 300, "mean": 0.0, "var": 0.0}, {"n": 300, "mean": 0.01, "var": 0.0001})]}),
        ("halt_srm_overrides_rollback", {"srm": {"period_counts": [[5000, 4400], [5100, 4300]], "weights": [1.0, 1.0],
                                                 "concentration": 10000.0, "threshold": 0.001}, "guardrails": [
            err_rate({"n": 10100, "x": 200}, {"n": 8700, "x": 500})]}),
        ("srm_ok", {"srm": {"period_counts": [[1000, 990], [1010, 1005]], "weights": [1.0, 1.0],
                            "concentration": 10000.0, "threshold": 0.001}, "guardrails": [
            err_rate({"n": 2010, "x": 40}, {"n": 1995, "x": 44})]}),
        ("gates_disabled", {"n_min": 0, "min_events_binary": 0, "srm": None, "guardrails": [
            err_rate({"n": 20, "x": 0}, {"n": 20, "x": 12})]}),
        ("no_guardrails", {"srm": None, "guardrails": []}),
        ("alpha_and_S", {"alpha": 0.01, "tuning_S": 5000.0, "srm": None, "guardrails": [
            err_rate({"n": 3000, "x": 60}, {"n": 3000, "x": 120}),
            err_rate({"n": 3000, "x": 60}, {"n": 3000, "x": 75})]}),
    ]:
        inp = dict(base)
        inp.update(extra)
        case("rollback_decision", name, src, inp, rollback_ref(inp))
    for name, bad, why in [
        ("unknown_type", g("x", "ratio", True, 0.1, "absolute", {"n": 100, "x": 1}, {"n": 100, "x": 1}), "type"),
        ("negative_margin", g("x", "binary", True, -0.1, "absolute", {"n": 100, "x": 1}, {"n": 100, "x": 1}), "margin < 0"),
        ("unknown_margin_type", g("x", "binary", True, 0.1, "percent", {"n": 100, "x": 1}, {"n": 100, "x": 1}),
         "margin_type"),
        ("arm_n_zero", g("x", "continuous", True, 0.1, "absolute", {"n": 0, "mean": 1, "var": 1},
                         {"n": 100, "mean": 1, "var": 1}), "n < 1"),
    ]:
        inp = dict(base)
        inp.update({"srm": None, "guardrails": [bad]})
        err("rollback_decision", name, inp, "§12.1 " + why)


def dump(o, depth=0):
    """JSON with one line per scalar list (diff-friendly and compact)."""
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = [inner + json.dumps(k) + ": " + dump(v, depth + 1) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(o, list):
        if all(not isinstance(x, (dict, list)) for x in o):
            return json.dumps(o, allow_nan=False)
        return "[\n" + ",\n".join(inner + dump(x, depth + 1) for x in o) + "\n" + pad + "]"
    return json.dumps(o, allow_nan=False)


def main():
    prop_cases()
    welch_cases()
    lift_cases()
    srm_cases()
    av_cases()
    bayes_cases()
    holm_cases()
    psi_cases()
    drift_cases()
    rollback_cases()
    out = {
        "generator": "stats/testdata/gen_vectors.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                     "statsmodels": statsmodels.__version__, "mpmath": mp.__version__},
        "functions": FUNCS,
    }
    with open(OUT, "w") as fh:
        fh.write(dump(out) + "\n")
    n = sum(len(v) for v in FUNCS.values())
    print(f"wrote {n} cases for {len(FUNCS)} functions to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
