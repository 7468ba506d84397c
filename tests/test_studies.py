"""The studies' analyses (each in its study module under prunebench.studies) on hand-built contract trees,
and the study figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prunebench import io, paths, scorefile
from prunebench.plots.common import noise_sort_key
from prunebench.studies.ablation import ablation_table, infer_variants, parse_variant, plot_ablation
from prunebench.studies.common import split_inputs, write_table
from prunebench.studies.composition import class_composition, extreme_samples, plot_class_composition, plot_sample_grid
from prunebench.studies.crossarch import crossarch_gain, plot_crossarch_heatmap
from prunebench.studies.imbalance import imbalance_table, plot_imbalance
from prunebench.studies.lossless import lossless_ratio, plot_lossless
from prunebench.studies.noise_grid import plot_noise_grid
from prunebench.studies.noisy_removed import noisy_removed, plot_noisy_removed
from prunebench.studies.stability import plot_stability, score_stability

EXP, DS = "t", "toy"


def _subset(root, noise, scorer, ratio, seed, kept, arch="cnn", strategy="keep"):
    p = root / paths.subset_path(EXP, DS, noise, arch, scorer, strategy, ratio, seed)
    io.save_npy(p, np.asarray(sorted(kept), dtype=np.int64))
    return p


def _labels(root, noise, y, flipped):
    p = root / paths.labels_path(EXP, DS, noise)
    io.save_npz(p, y=np.asarray(y, np.int64), flipped=np.asarray(flipped, bool))
    return p


def _scores(root, scorer, seed, scores, keep="high", noise="clean", arch="cnn", params=None):
    p = root / paths.scores_path(EXP, DS, noise, arch, scorer, seed)
    scorefile.write(p, np.asarray(scores, np.float64), scorer.split("-")[0], keep, params or {}, "sha")
    return p


def _row(scorer, ratio, seed, acc, arch="cnn", target="cnn", noise="clean", strategy="keep"):
    return dict(
        exp=EXP,
        dataset=DS,
        noise=noise,
        arch=arch,
        scorer=scorer,
        strategy=strategy,
        ratio=ratio,
        target=target,
        seed=seed,
        accuracy=acc,
    )


# ------------------------------------------------------------------------------------------------
# analyses
# ------------------------------------------------------------------------------------------------


def test_noisy_removed_counts_flipped_samples(tmp_path):
    y = np.arange(10) % 3
    flipped = np.zeros(10, bool)
    flipped[[0, 1, 2, 3]] = True
    lab = _labels(tmp_path, "sym40", y, flipped)
    clean = _labels(tmp_path, "clean", y, np.zeros(10, bool))
    files = [
        _subset(tmp_path, "sym40", "aum", 0.3, 0, [3, 4, 5, 6, 7, 8, 9]),  # removes 0,1,2 → 3 of 4 flipped
        _subset(tmp_path, "sym40", "el2n", 0.3, 0, [0, 1, 2, 3, 4, 5, 6]),  # removes 7,8,9 → none flipped
        _subset(tmp_path, "sym40", "el2n", 0.5, 1, [0, 5, 6, 7, 8]),  # removes 1,2,3,4,9 → 3 of 4
        _subset(tmp_path, "clean", "el2n", 0.3, 0, [0, 1, 2, 3, 4, 5, 6]),  # clean: skipped
        _subset(tmp_path, "sym40", "full", 0.0, 0, list(range(10)), strategy="all"),  # ratio 0: skipped
    ]
    df = noisy_removed(files, [lab, clean])
    assert len(df) == 3
    got = {(r.scorer, r.ratio, r.seed): r for r in df.itertuples()}
    a = got[("aum", 0.3, 0)]
    assert a.frac_flipped_removed == pytest.approx(0.75) and a.frac_removed == pytest.approx(0.3)
    assert a.n_flipped == 4 and a.n_flipped_removed == 3 and a.precision == pytest.approx(1.0)
    assert a.enrichment == pytest.approx(0.75 / 0.3)
    assert got[("el2n", 0.3, 0)].frac_flipped_removed == 0.0
    b = got[("el2n", 0.5, 1)]
    assert b.frac_flipped_removed == pytest.approx(0.75) and b.frac_removed == pytest.approx(0.5)
    assert b.precision == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="no labels file"):
        noisy_removed(files[:1], [clean])


def test_crossarch_gain_is_paired_by_seed():
    rows = []
    rand = [0.80, 0.70, 0.90]
    meth = [0.82, 0.74, 0.90]  # paired gains 0.02, 0.04, 0.00 → mean 0.02, sd 0.02
    for s in range(3):
        rows += [
            _row("random", 0.5, s, rand[s], arch="A", target="B"),
            _row("el2n", 0.5, s, meth[s], arch="A", target="B"),
        ]
        rows.append(_row("full", 0.0, s, 0.95, arch="A", target="B", strategy="all"))
    # surrogate C → target B without its own random runs: borrows random of target B (arch A)
    rows += [_row("moso", 0.5, s, 0.75 + 0.1 * s, arch="C", target="B") for s in range(2)]
    rows.append(_row("el2n", 0.5, 3, 0.99, arch="A", target="B"))  # seed 3 has no random partner: dropped
    df = crossarch_gain(pd.DataFrame(rows))
    assert set(df["scorer"]) == {"el2n", "moso"}
    e = df[df["scorer"] == "el2n"].iloc[0]
    assert e.gain_mean == pytest.approx(0.02) and e.gain_std == pytest.approx(0.02) and e.n_seeds == 3
    assert e.random_arch == "A"
    m = df[df["scorer"] == "moso"].iloc[0]
    assert m.arch == "C" and m.random_arch == "A" and m.n_seeds == 2
    assert m.gain_mean == pytest.approx(np.mean([0.75 - 0.80, 0.85 - 0.70]))
    # the unpaired std (of the two columns separately) would differ: make sure pairing is used
    assert m.gain_std == pytest.approx(np.std([-0.05, 0.15], ddof=1))


def test_score_stability_all_pairs(tmp_path):
    files = [
        _scores(tmp_path, "el2n", 0, [1, 2, 3, 4]),
        _scores(tmp_path, "el2n", 1, [10, 20, 30, 40]),
        _scores(tmp_path, "el2n", 2, [4, 3, 2, 1]),
        _scores(tmp_path, "aum", 0, [1, 2, 3, 4], keep="low"),
        _scores(tmp_path, "aum", 1, [1, 2, 4, 3], keep="low"),
        _scores(tmp_path, "solo", 0, [1, 2, 3, 4]),
    ]
    df = score_stability(files).set_index("scorer")
    assert df.loc["el2n", "n_pairs"] == 3 and df.loc["el2n", "n_seeds"] == 3
    assert df.loc["el2n", "rho_mean"] == pytest.approx(-1 / 3)
    assert df.loc["el2n", "rho_min"] == pytest.approx(-1.0) and df.loc["el2n", "rho_max"] == pytest.approx(1.0)
    # Spearman of [1,2,3,4] vs [1,2,4,3]: 1 - 6·2/(4·15) = 0.8 (orientation cancels out)
    assert df.loc["aum", "rho_mean"] == pytest.approx(0.8)
    assert df.loc["solo", "n_pairs"] == 0 and math.isnan(df.loc["solo", "rho_mean"])


def test_lossless_ratio_hand_table():
    rows = [_row("full", 0.0, s, a, strategy="all") for s, a in enumerate([0.90, 0.92, 0.94])]  # thr 0.92-0.02
    acc = {
        "a": {0.3: 0.91, 0.5: 0.89, 0.7: 0.905},
        "b": {0.3: 0.85, 0.5: 0.80, 0.7: 0.70},
        "c": {0.3: 0.93, 0.5: 0.92, 0.7: 0.90},
    }
    for m, by_ratio in acc.items():
        for r, mean in by_ratio.items():
            rows += [_row(m, r, 0, mean - 0.01), _row(m, r, 1, mean + 0.01)]
    df = lossless_ratio(pd.DataFrame(rows)).set_index("scorer")
    assert df.loc["a", "lossless_ratio"] == pytest.approx(0.7)
    assert df.loc["a", "lossless_ratio_contiguous"] == pytest.approx(0.3)
    assert df.loc["a", "ratios_passed"] == "0.3;0.7" and df.loc["a", "ratios_tested"] == "0.3;0.5;0.7"
    assert df.loc["b", "lossless_ratio"] == 0.0 and df.loc["b", "lossless_ratio_contiguous"] == 0.0
    assert df.loc["c", "lossless_ratio"] == pytest.approx(0.7) and df.loc["c", "lossless_ratio_contiguous"] == 0.7
    assert df.loc["a", "threshold"] == pytest.approx(0.90) and df.loc["a", "full_std"] == pytest.approx(0.02)


def test_lossless_ratio_borrows_full_reference_of_same_target():
    rows = [_row("full", 0.0, s, 0.9, arch="B", target="B", strategy="all") for s in range(2)]
    rows += [_row("el2n", 0.3, s, 0.9, arch="A", target="B") for s in range(2)]
    df = lossless_ratio(pd.DataFrame(rows))
    assert len(df) == 1 and df["lossless_ratio"].iloc[0] == pytest.approx(0.3)
    assert df["full_mean"].iloc[0] == pytest.approx(0.9)


def test_ablation_table_rho_and_accuracy(tmp_path):
    ref = [1, 2, 3, 4, 5]
    files = [_scores(tmp_path, "dynunc", s, ref, params={"J": 10}) for s in range(2)]
    files += [
        _scores(tmp_path, "dynunc-J3", 0, [1, 2, 3, 5, 4], params={"J": 3}),  # ρ = 1 - 6·2/120 = 0.9
        _scores(tmp_path, "dynunc-J3", 1, [5, 4, 3, 2, 1], params={"J": 3}),
    ]  # ρ = -1
    files.append(_scores(tmp_path, "el2n", 0, ref))
    rt = pd.DataFrame([_row("dynunc-J3", 0.5, 0, 0.8), _row("dynunc-J3", 0.5, 1, 0.9), _row("dynunc", 0.5, 0, 0.95)])
    variants = infer_variants(["dynunc", "dynunc-J3", "el2n"])
    assert variants == {"dynunc-J": {"dynunc-J3": "dynunc"}}
    df = ablation_table(files, rt, variants)
    v = df[df["variant"] == "dynunc-J3"].iloc[0]
    assert v.rho_mean == pytest.approx((0.9 - 1.0) / 2) and v.rho_min == pytest.approx(-1.0) and v.rho_n == 2
    assert v.rho_std == pytest.approx(np.std([0.9, -1.0], ddof=1))
    assert v.param == "J" and v.value == 3 and v.label == "J=3" and v.ratio == 0.5
    assert v.acc_mean == pytest.approx(0.85) and v.acc_std == pytest.approx(np.std([0.8, 0.9], ddof=1))
    r = df[df["variant"] == "dynunc"].iloc[0]
    assert r.rho_mean == 1.0 and r.value == 10 and r.acc_mean == pytest.approx(0.95) and r.acc_n == 1
    # without retrain rows: one row, NaN ratio
    df2 = ablation_table(files, None, variants)
    assert len(df2) == 2 and df2["ratio"].isna().all()


def test_parse_and_infer_variants():
    assert parse_variant("moso-T10") == ("moso", "T", 10.0)
    assert parse_variant("moso_exact") == ("moso_exact", None, None)
    fam = infer_variants(["moso-T1", "moso-T5", "el2n"])  # no base: first variant is the reference
    assert fam == {"moso-T": {"moso-T1": "moso-T1", "moso-T5": "moso-T1"}}
    assert infer_variants(["moso-T5"]) == {}


def test_class_composition_counts(tmp_path):
    y = np.array([0, 0, 0, 1, 1, 2])
    lab = _labels(tmp_path, "clean", y, np.zeros(6, bool))
    files = [_subset(tmp_path, "clean", "el2n", 0.5, 0, [0, 3, 4]), _subset(tmp_path, "clean", "el2n", 0.5, 1, [0])]
    df = class_composition(files, lab)
    assert list(df["class"]) == [0, 1, 2] and list(df["count"]) == [1, 2, 0]
    assert (df["n_kept"] == 3).all() and set(df["seed"]) == {0}
    assert df["share_full"].tolist() == pytest.approx([0.5, 1 / 3, 1 / 6])
    assert df["share"].tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert len(class_composition(files, lab, seeds=None)) == 6


def test_noise_sort_key_and_write_table(tmp_path):
    assert sorted(["sym40", "asym20", "clean", "sym20"], key=noise_sort_key) == ["clean", "sym20", "sym40", "asym20"]
    df = pd.DataFrame({"a": [1, 2], "b": [0.1234567891, np.nan]})
    write_table(df, tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_text() == "a,b\n1,0.123457\n2,\n"


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------


def test_extreme_samples_follow_keep_direction():
    s = np.array([0.5, 3.0, 1.0, 3.0, -2.0])
    kept, removed = extreme_samples(s, "high", 2)
    assert kept.tolist() == [1, 3] and removed.tolist() == [4, 0]
    kept, removed = extreme_samples(s, "low", 2)
    assert kept.tolist() == [4, 0] and removed.tolist() == [1, 3]


@pytest.fixture(scope="module")
def study_frames(tmp_path_factory):
    """Small but complete inputs for every figure: a noisy contract tree and hand-made retrain tables."""
    root = tmp_path_factory.mktemp("fig")
    rng = np.random.default_rng(0)
    n = 40
    y = np.arange(n) % 4
    x = rng.random((n, 1, 6, 6)).astype(np.float32)
    io.save_npz(root / "data" / "train.npz", x=x, y=y)
    io.save_npz(root / "rgb" / "train.npz", x=(rng.random((n, 3, 5, 5)) * 255).astype(np.uint8), y=y)
    labs, subsets, scores = [], [], []
    for noise, rate in (("clean", 0.0), ("sym20", 0.2)):
        fl = np.zeros(n, bool)
        fl[: int(rate * n)] = True
        yn = np.where(fl, (y + 1) % 4, y)
        labs.append(_labels(root, noise, yn, fl))
        for m in ("random", "el2n", "aum", "dynunc"):
            for s in range(2):
                sc = rng.random(n) + (fl if m == "el2n" else 0)
                scores.append(_scores(root, m, s, sc, keep="low" if m == "aum" else "high", noise=noise))
                for r in (0.3, 0.5):
                    k = n - int(np.floor(r * n + 0.5))
                    o = -sc if m == "aum" else sc
                    subsets.append(_subset(root, noise, m, r, s, np.argsort(-o, kind="stable")[:k]))
    rows = []
    for noise in ("clean", "sym20"):
        for a in ("cnn", "mlp"):
            for b in ("cnn", "mlp"):
                for s in range(2):
                    rows.append(_row("full", 0.0, s, 0.95 + 0.01 * s, arch=a, target=b, noise=noise, strategy="all"))
                    for i, m in enumerate(("random", "el2n", "aum", "dynunc")):
                        for r in (0.3, 0.5):
                            acc = 0.93 - 0.1 * r + 0.01 * i * (a == b) + 0.005 * s
                            rows.append(_row(m, r, s, acc, arch=a, target=b, noise=noise))
    for v in ("dynunc-J3", "dynunc-J5"):
        for s in range(2):
            scores.append(_scores(root, v, s, rng.random(n), params={"J": int(v[-1])}))
            rows += [_row(v, r, s, 0.9 - 0.1 * r) for r in (0.3, 0.5)]
    rt = pd.DataFrame(rows)
    nr = noisy_removed(subsets, labs)
    assert set(nr["noise"]) == {"sym20"} and len(nr) == 4 * 2 * 2
    # el2n keeps the flipped samples (they score +1): removes none of them
    assert (nr[nr["scorer"] == "el2n"]["frac_flipped_removed"] == 0).all()
    clean_scores = [p for p in scores if "/clean/" in str(p)]
    frames = {
        "retrain": rt[rt["arch"] == "cnn"],
        "noisy": nr,
        "gain": crossarch_gain(rt[(rt["noise"] == "clean") & rt["scorer"].isin(["full", "random", "el2n", "aum"])]),
        "ablation": ablation_table(clean_scores, rt, infer_variants(["dynunc", "dynunc-J3", "dynunc-J5"])),
        "stability": score_stability(scores),
        "lossless": lossless_ratio(rt[(rt["arch"] == "cnn") & (rt["target"] == "cnn")]),
        "composition": class_composition([p for p in subsets if "/clean/" in str(p)], labs[0]),
        "scores": [p for p in scores if "/sym20/" in str(p)],
        "labels": labs[1],
        "data": root / "data",
        "rgb": root / "rgb",
    }
    return frames


def test_study_figures_nonempty_and_byte_identical(tmp_path, study_frames):
    f = study_frames
    jobs = {
        "noise_grid": lambda a, b: plot_noise_grid(f["retrain"], a, b),
        "noisy_removed": lambda a, b: plot_noisy_removed(f["noisy"], a, b),
        "crossarch": lambda a, b: plot_crossarch_heatmap(f["gain"], a, b),
        "ablation": lambda a, b: plot_ablation(f["ablation"], a, b),
        "stability": lambda a, b: plot_stability(f["stability"], a, b),
        "lossless": lambda a, b: plot_lossless(f["lossless"], a, b),
        "composition": lambda a, b: plot_class_composition(f["composition"], a, b),
        "samples": lambda a, b: plot_sample_grid(f["scores"], f["data"], f["labels"], a, b, k=4),
        "samples_rgb": lambda a, b: plot_sample_grid({"el2n": f["scores"][2]}, f["rgb"], None, a, b, k=3),
    }
    for name, fn in jobs.items():
        out = []
        for i in range(2):
            pdf, png = tmp_path / f"{name}{i}.pdf", tmp_path / f"{name}{i}.png"
            fn(pdf, png)
            out.append((pdf.read_bytes(), png.read_bytes()))
        assert out[0] == out[1], f"{name}: not byte-identical"
        assert len(out[0][0]) > 1000 and out[0][1][:8] == b"\x89PNG\r\n\x1a\n" and len(out[0][1]) > 1000, name
    assert not list(tmp_path.glob(".tmp-prunebench-*"))


def test_split_inputs():
    ins = [
        "results/e/d/clean/scores/a/el2n/seed0.csv",
        "results/e/d/sym20/subsets/a/el2n/keep/r0.30/seed1.npy",
        "results/e/d/sym20/labels.npz",
        "results/e/tables/retrain.csv",
        "data/d/train.npz",
        "results/e/d/clean/retrain/a/el2n/keep/r0.30/a/seed0.json",
    ]
    got = split_inputs(ins)
    assert got["scores"] == [ins[0]] and got["subset"] == [ins[1]] and got["labels"] == [ins[2]]
    assert got["table"] == [ins[3]] and got["npz"] == [ins[4]] and got["retrain"] == [ins[5]] and got["other"] == []


def _retrain_json(root, dataset, scorer, ratio, seed, class_counts, class_accuracy, strategy="keep"):
    target = "cnn"
    arch = target
    p = (root / f"results/{EXP}/{dataset}/clean/retrain/{arch}/{scorer}/{strategy}/r{ratio:.2f}/{target}"
         f"/seed{seed}.json")
    cc, ca = np.asarray(class_counts), np.asarray(class_accuracy, float)
    io.write_json(p, {"test_accuracy": float(ca.mean()), "class_counts": cc.tolist(),
                      "class_accuracy": ca.tolist(), "seed": seed})
    return p


def test_imbalance_table_by_hand(tmp_path):
    """Tail classes come from the most imbalanced training set; per-class means and kept shares by hand."""
    files = []
    for s in range(2):
        # long-tailed set: classes 0..3 with 40, 20, 10, 5 samples → tail = classes 2, 3
        files.append(_retrain_json(tmp_path, "toy-lt8", "full", 0.0, s, [40, 20, 10, 5], [0.9, 0.8, 0.5, 0.3 + 0.1 * s],
                                   strategy="all"))
        files.append(_retrain_json(tmp_path, "toy-lt8", "el2n", 0.5, s, [20, 10, 6, 2], [0.8, 0.6, 0.4, 0.2]))
        files.append(_retrain_json(tmp_path, "toy", "full", 0.0, s, [40, 40, 40, 40], [0.9, 0.9, 0.8, 0.8],
                                   strategy="all"))
        files.append(_retrain_json(tmp_path, "toy", "el2n", 0.5, s, [20, 20, 20, 20], [0.8, 0.8, 0.6, 0.6]))
    df = imbalance_table(files)
    assert set(df["tail_classes"]) == {"2;3"}
    lt = df[(df["dataset"] == "toy-lt8") & (df["scorer"] == "el2n")].iloc[0]
    assert lt["n_seeds"] == 2
    assert lt["tail_acc_mean"] == pytest.approx(0.3) and lt["head_acc_mean"] == pytest.approx(0.7)
    assert lt["balanced_acc_mean"] == pytest.approx(0.5)
    assert lt["kept_frac"] == pytest.approx(38 / 75) and lt["tail_kept_frac"] == pytest.approx(8 / 15)
    assert lt["tail_kept_vs_random"] == pytest.approx((8 / 15) / (38 / 75))
    full = df[(df["dataset"] == "toy-lt8") & (df["scorer"] == "full")].iloc[0]
    assert full["tail_acc_mean"] == pytest.approx((0.4 + 0.45) / 2) and full["tail_acc_std"] > 0
    bal = df[(df["dataset"] == "toy") & (df["scorer"] == "el2n")].iloc[0]
    assert bal["tail_acc_mean"] == pytest.approx(0.6) and bal["tail_kept_vs_random"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no full-data run"):
        imbalance_table([f for f in files if "/full/" not in str(f)])


def test_imbalance_figure_is_byte_identical(tmp_path):
    files = []
    for s in range(2):
        files.append(_retrain_json(tmp_path, "toy-lt8", "full", 0.0, s, [40, 20, 10, 5], [0.9, 0.8, 0.5, 0.4],
                                   strategy="all"))
        for m, tail in (("random", [5, 3]), ("el2n", [8, 4])):
            for r in (0.3, 0.7):
                files.append(_retrain_json(tmp_path, "toy-lt8", m, r, s, [20, 10, *tail], [0.8, 0.6, 0.3, 0.1 * s]))
    df = imbalance_table(files)
    out = []
    for i in range(2):
        plot_imbalance(df, tmp_path / f"i{i}.pdf", tmp_path / f"i{i}.png")
        out.append(((tmp_path / f"i{i}.pdf").read_bytes(), (tmp_path / f"i{i}.png").read_bytes()))
    assert out[0] == out[1] and len(out[0][1]) > 1000


def test_with_reference_keeps_datasets_apart(tmp_path):
    """The full-data point attached to a method's curve is its own dataset's (a long-tailed variant has
    its own reference); the accuracy figure draws one panel per dataset and leaves out single-ratio settings."""
    from prunebench.plots.accuracy import accuracy_vs_ratio, with_reference

    rows = []
    for ds, full in (("toy", 0.9), ("toy-lt8", 0.6)):
        for s in range(2):
            rows.append({**_row("full", 0.0, s, full, strategy="all"), "dataset": ds})
            rows += [{**_row("random", r, s, full - r / 10), "dataset": ds} for r in (0.3, 0.7)]
            rows.append({**_row("random", 0.5, s, 0.5, arch="mlp", target="cnn"), "dataset": ds})  # one ratio
    df = pd.DataFrame(rows)
    ref = with_reference(df)
    at0 = ref[(ref["scorer"] == "random") & (ref["ratio"] == 0) & (ref["arch"] == "cnn")]
    assert at0.groupby("dataset")["accuracy"].apply(sorted).to_dict() == {"toy": [0.9, 0.9], "toy-lt8": [0.6, 0.6]}
    df.to_csv(tmp_path / "retrain.csv", index=False)
    accuracy_vs_ratio(tmp_path / "retrain.csv", tmp_path / "a.pdf", tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
