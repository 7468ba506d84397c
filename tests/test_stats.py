"""Statistics layer: paired tests, Holm, bootstrap, ranks / CD, cost, Pareto front, figures.

Oracles are hand-computed values, published tables (Demšar 2006, Table 5 and the worked example of
sec. 3.2.4), scipy re-computations written here, or simulation with known truth.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from prunebench import stats as S
from prunebench.studies import cost as C

COLS = ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "seed", "accuracy"]


def simulate(effects: dict[str, float], n_settings: int, n_seeds: int, sd_diff: float = 1.0, seed: int = 0):
    """Long results table: per setting and seed a shared seed effect (the pairing) plus independent
    per-method noise of std sd_diff/sqrt(2), so every paired difference has std sd_diff."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_settings):
        ratio = round(0.1 + 0.0001 * k, 6)
        shared = rng.normal(0.0, 2.0, n_seeds)
        for m, mu in effects.items():
            noise = rng.normal(0.0, sd_diff / math.sqrt(2.0), n_seeds)
            for s in range(n_seeds):
                rows.append(["e", "toy", "clean", "cnn", m, "keep", ratio, "cnn", s, 80.0 + mu + shared[s] + noise[s]])
    return pd.DataFrame(rows, columns=COLS)


# ------------------------------------------------------------------------------------------- Holm


def test_holm_matches_hand_computed_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06
    adj = S.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02], rtol=0, atol=1e-12)
    # NaN is not part of the family (m = 2); capped at 1
    adj = S.holm([0.5, np.nan, 0.001])
    assert np.isnan(adj[1])
    np.testing.assert_allclose(adj[[0, 2]], [0.5, 0.002], atol=1e-12)
    np.testing.assert_allclose(S.holm([0.6, 0.7]), [1.0, 1.0])


# ------------------------------------------------------------------------- null: false positives


def test_null_comparisons_false_positive_rate():
    """200 null comparisons (two methods from one distribution, 6 seeds), one table.

    Without Holm the per-comparison rate must be near alpha = 5 % (99 % binomial band
    [1 %, 9 %]: catches both anti-conservative and dead p-values); with Holm the family-wise
    error rate is <= 5 %, so this table must show no significant verdict."""
    df = simulate({"random": 0.0, "a": 0.0}, n_settings=200, n_seeds=6, seed=11)
    pc = S.paired_comparisons(df)
    ref = pc[pc["comparison"] == "vs_reference"]
    assert len(ref) == 200 and (ref["n"] == 6).all()
    assert int(pc["family_size"].iloc[0]) == 200  # vs_best duplicates the same pair: one test
    rate = float((ref["p_value"] <= 0.05).mean())
    assert 0.01 <= rate <= 0.09, rate
    assert not pc["significant"].any()
    assert set(pc["verdict"]) == {"not significant"}


def test_null_p_values_calibrated_and_match_scipy():
    """Per-comparison rate over 1000 nulls (5 seeds) inside the 99 % binomial band around 5 %;
    p-values equal scipy's paired t-test and exact permutation test."""
    df = simulate({"random": 0.0, "a": 0.0}, n_settings=1000, n_seeds=5, seed=3)
    pc = S.paired_comparisons(df)
    ref = pc[pc["comparison"] == "vs_reference"].reset_index(drop=True)
    rate = float((ref["p_t"] <= 0.05).mean())
    band = 2.576 * math.sqrt(0.05 * 0.95 / 1000)
    assert abs(rate - 0.05) <= band, rate
    # independent re-computation for a few settings
    for i in (0, 17, 999):
        r = ref.iloc[i]
        g = df[df["ratio"] == r["ratio"]].pivot_table(index="seed", columns="scorer", values="accuracy")
        assert r["p_t"] == pytest.approx(sps.ttest_rel(g["a"], g["random"]).pvalue, rel=1e-9)
        perm = sps.permutation_test(
            (g["a"].to_numpy(), g["random"].to_numpy()), lambda x, y: np.mean(x - y),
            permutation_type="samples", n_resamples=np.inf,
        )  # fmt: skip
        assert r["p_perm"] == pytest.approx(perm.pvalue, rel=1e-9)
        assert r["p_min_perm"] == pytest.approx(2 / 2**5)


# ---------------------------------------------------------------------------------------- power


def test_planted_difference_detected_at_stated_power():
    """Stated power: a true difference of mdd(sd=1, n=5) = 1.68 sd is detected by the paired t-test at
    alpha = 0.05 (per comparison, before Holm) with probability 0.80. Checked by simulation: 400
    planted comparisons, empirical power within 3 binomial SE of 0.80, and all detections say 'better'
    in the direction of the planted effect."""
    n, power = 5, 0.8
    delta = S.min_detectable_difference(1.0, n, 0.05, power)
    # the exact noncentral-t mdd is close to the normal-theory formula (t_{.975} + t_{.80}) sd / sqrt(n)
    approx = (sps.t.ppf(0.975, n - 1) + sps.t.ppf(power, n - 1)) / math.sqrt(n)
    assert delta == pytest.approx(approx, rel=0.05)
    assert delta == pytest.approx(1.682, abs=0.01)
    df = simulate({"random": 0.0, "a": delta}, n_settings=400, n_seeds=n, seed=5)
    pc = S.paired_comparisons(df)
    ref = pc[pc["comparison"] == "vs_reference"]
    hit = ref["p_value"] <= 0.05
    emp = float(hit.mean())
    assert abs(emp - power) <= 3 * math.sqrt(power * (1 - power) / len(ref)), emp
    assert (ref.loc[hit, "diff"] > 0).all()
    # a large effect survives Holm over the 400-comparison family and gets the verdict 'better'
    big = simulate({"random": 0.0, "a": 8.0}, n_settings=50, n_seeds=n, seed=6)
    pcb = S.paired_comparisons(big)
    refb = pcb[pcb["comparison"] == "vs_reference"]
    assert (refb["verdict"] == "better").mean() >= 0.9
    assert set(pcb.loc[pcb["comparison"] == "vs_best", "verdict"]) <= {"worse", "not significant"}


def test_min_detectable_difference_by_simulation():
    # the mdd solves power(delta) = 0.8 for the noncentral t; check it against a direct simulation
    rng = np.random.default_rng(0)
    n = 4
    delta = S.min_detectable_difference(2.0, n)
    d = rng.normal(delta, 2.0, size=(20000, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    emp = float((np.abs(t) > sps.t.ppf(0.975, n - 1)).mean())
    assert emp == pytest.approx(0.8, abs=0.015)
    assert S.min_detectable_difference(1.0, 1) == math.inf


# ------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_coverage_roughly_nominal():
    """95 % paired percentile-bootstrap CI over 20 seeds covers the true difference at roughly the
    nominal rate (measured 0.93; percentile intervals under-cover at small n: 0.68 / 0.83 / 0.90 at
    3 / 5 / 10 seeds), and the t-interval is at nominal coverage (exact under normality)."""
    true = 0.7
    df = simulate({"random": 0.0, "a": true}, n_settings=400, n_seeds=20, sd_diff=1.0, seed=8)
    ref = S.paired_comparisons(df).query("comparison == 'vs_reference'")
    cover = float(((ref["ci_low"] <= true) & (true <= ref["ci_high"])).mean())
    cover_t = float(((ref["ci_t_low"] <= true) & (true <= ref["ci_t_high"])).mean())
    se = math.sqrt(0.95 * 0.05 / len(ref))
    assert 0.95 - 5 * se <= cover <= 0.95 + 3 * se, cover
    assert abs(cover_t - 0.95) <= 3 * se, cover_t
    assert (ref["bootstrap"] == "monte-carlo").all()


def test_bootstrap_three_seeds_is_exact_and_coarse():
    d = np.array([0.0, 1.0, 5.0])
    lo, hi, kind = S.bootstrap_ci(d)
    means = [np.mean(d[list(ix)]) for ix in itertools.product(range(3), repeat=3)]
    assert kind == "exact"
    assert (lo, hi) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert len({round(m, 12) for m in means}) == S.n_distinct_resamples(3) == 10
    assert S.n_distinct_resamples(5) == 126


# ------------------------------------------------------------------------------- verdicts, misc


def test_identical_methods_are_not_significant():
    df = simulate({"random": 0.0}, n_settings=3, n_seeds=5, seed=1)
    twin = df.assign(scorer="twin")
    pc = S.paired_comparisons(pd.concat([df, twin]))
    assert (pc["diff"] == 0).all() and (pc["p_value"] == 1).all() and (pc["p_perm"] == 1).all()
    assert set(pc["verdict"]) == {"not significant"}


def test_three_seed_permutation_test_cannot_reject_and_t_test_can():
    df = simulate({"random": 0.0, "a": 5.0}, n_settings=1, n_seeds=3, sd_diff=0.1, seed=2)
    t = S.paired_comparisons(df).query("comparison == 'vs_reference'").iloc[0]
    p = S.paired_comparisons(df, test="permutation").query("comparison == 'vs_reference'").iloc[0]
    assert t["verdict"] == "better" and t["p_value"] < 0.01
    assert p["p_value"] == pytest.approx(0.25) and p["verdict"] == "not significant" and p["mdd"] == math.inf


def test_paired_comparisons_deterministic_and_order_free():
    df = simulate({"random": 0.0, "a": 0.3, "b": 0.6}, n_settings=4, n_seeds=4, seed=9)
    full = pd.DataFrame(
        [["e", "toy", "clean", "cnn", "full", "all", 0.0, "cnn", s, 90.0 + s] for s in range(4)], columns=COLS
    )
    # a cross-architecture setting that exists for one ratio only: settings are not a cartesian product
    cross = simulate({"random": 0.0, "a": 0.1}, n_settings=1, n_seeds=4, seed=10).assign(target="vit")
    df = pd.concat([df, full, cross], ignore_index=True)
    a = S.paired_comparisons(df)
    assert len(a[a["target"] == "vit"]) == 2 and len(a) == 4 * 4 + 2
    b = S.paired_comparisons(df.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a, b)
    assert (a.loc[a["target"] == "cnn", "full_mean"] == 91.5).all()
    assert a.loc[a["target"] == "vit", "full_mean"].isna().all()
    assert not (a["method"] == "full").any()
    # vs_best: every method but the best is compared with the best
    best = a[a["comparison"] == "vs_best"].groupby(["target", "ratio"])["other"].nunique()
    assert (best == 1).all()


def test_method_key():
    assert S.method_key("el2n", "keep") == "el2n"
    assert S.method_key("optprune", "solver") == "optprune"
    assert S.method_key("el2n", "classbal") == "el2n+classbal"


# ------------------------------------------------------------------------------------ ranks / CD


@pytest.mark.parametrize(
    "k,q05,q10",
    [(2, 1.960, 1.645), (3, 2.343, 2.052), (4, 2.569, 2.291), (5, 2.728, 2.459), (10, 3.164, 2.920)],
)
def test_nemenyi_q_matches_demsar_table(k, q05, q10):
    assert S.nemenyi_q(k, 0.05) == pytest.approx(q05, abs=1e-3)
    assert S.nemenyi_q(k, 0.10) == pytest.approx(q10, abs=1e-3)


def test_critical_difference_and_iman_davenport_demsar_example():
    # Demšar 2006, sec. 3.2.4: k = 4 classifiers, N = 14 data sets: CD = 2.569 sqrt(4*5/(6*14)) = 1.25;
    # chi2_F = 9.28 gives F_F = 3.69
    assert S.critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)
    f, p = S.iman_davenport(9.28, 4, 14)
    assert f == pytest.approx(3.69, abs=0.01)
    assert p == pytest.approx(sps.f.sf(3.69, 3, 39), rel=0.01)


def _block_table(values: dict[tuple[str, float], dict[str, float]]) -> pd.DataFrame:
    rows = []
    for (noise, ratio), accs in values.items():
        for m, acc in accs.items():
            for s in range(2):  # two identical seeds
                rows.append(["e", "toy", noise, "cnn", m, "keep", ratio, "cnn", s, acc])
    return pd.DataFrame(rows, columns=COLS)


def test_rank_summary_hand_example_blocks_and_caveat():
    df = _block_table(
        {
            ("clean", 0.3): {"A": 0.9, "B": 0.6, "C": 0.1},
            ("clean", 0.5): {"A": 0.5, "B": 0.7, "C": 0.1},
            ("sym20", 0.3): {"A": 0.2, "B": 0.8, "C": 0.3},
            ("sym20", 0.5): {"A": 0.2, "B": 0.8, "C": 0.4},
        }
    )
    ranks, fr, cd = S.rank_summary(df)
    # blocks = noise; means over ratios: clean A .70 B .65 C .10 -> 1 2 3; sym20 A .2 B .8 C .35 -> 3 1 2
    assert ranks.loc["A", "avg_rank"] == 2.0 and ranks.loc["B", "avg_rank"] == 1.5 and ranks.loc["C", "avg_rank"] == 2.5
    # per-setting ranks: A 1,2,3,3 ; B 2,1,1,1 ; C 3,3,2,2
    assert ranks.loc["A", "avg_rank_settings"] == 2.25 and ranks.loc["B", "avg_rank_settings"] == 1.25
    assert fr.n_blocks == 2 and fr.k == 3 and cd == pytest.approx(S.critical_difference(3, 2))
    assert "count once" in fr.caption
    r2, fr2, cd2 = S.rank_summary(df, blocks="per_setting")
    assert fr2.n_blocks == 4 and "not independent" in fr2.caption
    # Friedman statistic: Demšar's formula on tie-free ranks
    rk = np.array([[1, 2, 3], [2, 1, 3], [3, 1, 2], [3, 1, 2]], dtype=float)
    n, k = rk.shape
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(rk.mean(0) ** 2) - k * (k + 1) ** 2 / 4)
    assert fr2.statistic == pytest.approx(chi2)


def test_rank_summary_drops_incomplete_method_and_groups():
    df = _block_table({("clean", 0.3): {"A": 0.9, "B": 0.6, "C": 0.1}, ("sym20", 0.3): {"A": 0.8, "B": 0.6}})
    ranks, fr, _ = S.rank_summary(df)
    assert list(ranks.index) == ["A", "B"] and fr.dropped_methods == ("C",)
    groups = S.nemenyi_groups({"a": 1.0, "b": 1.5, "c": 2.4, "d": 3.5}, cd=1.0)
    assert groups == [("a", "b"), ("b", "c")]


# ------------------------------------------------------------------------------------------- cost


def test_load_benchmark_tsv_and_timing(tmp_path):
    p = tmp_path / "b.tsv"
    head = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    p.write_text(head + "12.5\t0:00:12\t300.5\t900\t250\t260\t1.0\t2.0\t95.0\t11.0\n"
                 "13.5\t0:00:13\t320.0\t910\t255\t265\t1.0\t2.0\t90.0\t12.0\n")  # fmt: skip
    b = C.load_benchmark_tsv(p)
    assert b["seconds"] == 13.0 and b["max_rss_mb"] == 320.0 and b["repeats"] == 2
    q = tmp_path / "na.tsv"
    q.write_text(head + "0.2\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    b = C.load_benchmark_tsv(q)
    assert b["seconds"] == 0.2 and math.isnan(b["max_rss_mb"])
    j = tmp_path / "s.timing.json"
    j.write_text('{"seconds": 1.5, "peak_rss_mb": 42.0}')
    assert C.load_timing_json(j) == {"seconds": 1.5, "max_rss_mb": 42.0}


def _cost_rows():
    rows = []
    for seed, surr in ((0, 10.0), (1, 14.0)):
        rows.append(["surrogate", "toy", "clean", "cnn", "", "", np.nan, "", seed, surr, 500.0])
        rows.append(["surrogate", "toy", "clean", "cnn", "moso", "", np.nan, "", seed, 40.0, 900.0])
        for m, sc in (("random", 0.5), ("el2n", 1.0), ("moso", 30.0)):
            rows.append(["score", "toy", "clean", "cnn", m, "", np.nan, "", seed, sc, 100.0])
            rows.append(["select", "toy", "clean", "cnn", m, "keep", 0.5, "", seed, 0.25, 50.0])
            rows.append(["retrain", "toy", "clean", "cnn", m, "keep", 0.5, "cnn", seed, 5.0, 300.0])
        rows.append(["retrain", "toy", "clean", "cnn", "full", "all", 0.0, "cnn", seed, 10.0, 300.0])
    cols = [
        "stage",
        "dataset",
        "noise",
        "arch",
        "scorer",
        "strategy",
        "ratio",
        "target",
        "seed",
        "seconds",
        "max_rss_mb",
    ]
    return pd.DataFrame(rows, columns=cols)


def test_cost_table_attribution_hand_computed():
    c = _cost_rows()
    t = C.cost_table(c).set_index("method")
    # shared: el2n pays the mean surrogate (10+14)/2 = 12 in full; moso its own 40 + 12; random/full none
    assert t.loc["el2n", "surrogate_s"] == 12.0 and t.loc["el2n", "total_s"] == 12 + 1 + 0.25 + 5
    assert t.loc["moso", "surrogate_s"] == 52.0 and t.loc["moso", "total_s"] == 52 + 30 + 0.25 + 5
    assert t.loc["random", "total_s"] == 0.5 + 0.25 + 5 and t.loc["full", "total_s"] == 10.0
    assert t.loc["moso", "peak_rss_mb"] == 900.0 and t.loc["random", "peak_rss_mb"] == 300.0
    assert t.loc["el2n", "n_seeds"] == 2 and t.loc["el2n", "total_sd_s"] == pytest.approx(
        np.std([18.25, 22.25], ddof=1)
    )
    a = C.cost_table(c, "amortized").set_index("method")  # two users (el2n, moso): 6 each
    assert a.loc["el2n", "surrogate_s"] == 6.0 and a.loc["moso", "surrogate_s"] == 46.0
    e = C.cost_table(c, "excluded").set_index("method")
    assert e.loc["el2n", "surrogate_s"] == 0.0 and e.loc["moso", "surrogate_s"] == 40.0
    u = C.cost_table(c, surrogate_uses={"el2n": 3}).set_index("method")
    assert u.loc["el2n", "surrogate_s"] == 36.0
    assert (t["missing"] == "").all()
    m = C.cost_table(c[~((c["stage"] == "score") & (c["scorer"] == "el2n"))]).set_index("method")
    assert m.loc["el2n", "missing"] == "score"


def test_pareto_front_hand_example():
    pts = [(1, 0.5), (2, 0.7), (2, 0.6), (3, 0.7), (0.5, 0.4), (4, 0.9), (np.nan, 1.0), (4, 0.9)]
    # (2,.6) and (3,.7) are dominated by (2,.7); the duplicate (4,.9) pair is kept; NaN ignored
    assert C.pareto_front(pts).tolist() == [4, 0, 1, 5, 7]
    assert C.pareto_front([(1, 1), (2, 2)], minimize=(True, True)).tolist() == [0]


# ---------------------------------------------------------------------------------------- figures


def test_method_colors_fixed_and_variants_share_hue():
    import colorsys

    from prunebench.plots.style import PALETTE, method_color

    assert method_color("moso") == PALETTE["moso"] and method_color("random") == PALETTE["random"]
    assert method_color("moso_exact") == PALETTE["moso_exact"]
    v = method_color("dynunc-J3")
    assert v != PALETTE["dynunc"] and v == method_color("dynunc-J3")

    def hue(h):
        return colorsys.rgb_to_hls(*(int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]

    assert hue(v) == pytest.approx(hue(PALETTE["dynunc"]), abs=0.02)
    assert method_color("el2n+classbal") != method_color("el2n+ccs")
    u = method_color("brand_new_method")
    assert u == method_color("brand_new_method") and len(u) == 7 and u not in PALETTE.values()


def test_figures_are_written_and_byte_identical(tmp_path):
    from prunebench.plots import stats_plots as P

    df = simulate({"random": 0.0, "el2n": 0.5, "moso": 1.0, "dynunc-J3": 0.8}, n_settings=2, n_seeds=3, seed=4)
    df["ratio"] = np.where(df["ratio"] == df["ratio"].min(), 0.5, 0.7)
    ranks, _, cd = S.rank_summary(df, blocks="per_setting")
    costs = C.cost_table(_cost_rows())
    points = C.cost_accuracy(df, costs)
    assert len(points) > 0
    digests = []
    for i in range(2):
        files = []
        for name, fn in (
            ("cd", lambda a, b: P.plot_cd_diagram(ranks, cd, a, b)),
            ("ca", lambda a, b: P.plot_cost_vs_accuracy(points, a, b)),
            ("sc", lambda a, b: P.plot_scoring_cost(costs, a, b)),
        ):
            pdf, png = tmp_path / f"{name}{i}.pdf", tmp_path / f"{name}{i}.png"
            fn(pdf, png)
            files += [pdf.read_bytes(), png.read_bytes()]
        digests.append(files)
    assert digests[0] == digests[1]
    assert all(len(b) > 1000 for b in digests[0])
    assert not list(tmp_path.glob(".tmp-prunebench-*"))


def test_cost_table_charges_a_surrogate_variant_to_its_scorers(tmp_path):
    """A variant's surrogate (…/surrogate/{arch}/{variant}/seed{s}) is the own surrogate of every scorer
    that reads it; the plain surrogate stays shared (no scorer)."""
    from prunebench import io
    from prunebench.studies.cost import build_cost_table, parse_benchmark_path

    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    b = tmp_path / "results" / "e" / "benchmarks" / "surrogate" / "digits" / "clean" / "cnn_small"
    files = {b / "seed0.tsv": 10.0, b / "part4" / "seed0.tsv": 40.0}
    for f, sec in files.items():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(header + f"{sec}\t0:00:10\t100\t1\t1\t1\t0\t0\t90\t9\n")
    run = tmp_path / "results" / "e" / "digits" / "clean" / "surrogate" / "cnn_small"
    io.write_json(run / "part4" / "seed0" / "surrogate.timing.json", {"seconds": 33.0, "peak_rss_mb": 1})
    io.write_json(run / "seed0" / "surrogate.timing.json", {"seconds": 8.0, "peak_rss_mb": 1})
    assert parse_benchmark_path(b / "part4" / "seed0.tsv") == {
        "stage": "surrogate", "dataset": "digits", "noise": "clean", "arch": "cnn_small", "variant": "part4",
        "seed": 0}
    raw = build_cost_table(sorted(files), sorted(run.rglob("surrogate.timing.json")), n_seeds=1,
                           variant_users={"part4": ["moso-part4", "el2n-part4"]})
    got = {(r.scorer if isinstance(r.scorer, str) else None): (r.seconds, r.compute_seconds)
           for r in raw.itertuples()}
    assert got == {None: (10.0, 8.0), "moso-part4": (40.0, 33.0), "el2n-part4": (40.0, 33.0)}
