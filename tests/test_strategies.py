"""CCS selection (Zheng et al. 2023, Alg. 1) and the score-correlation figure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from prunebench import scorefile
from prunebench.select import get_strategy, n_removed, select
from prunebench.select.strategies import resolve_beta, stratum_budgets, stratum_ids


def ccs(scores, keep, ratio, y=None, seed=0, **kw):
    return get_strategy("ccs")(np.asarray(scores, np.float64), keep, ratio, y, np.random.default_rng(seed), **kw)


@pytest.mark.parametrize("n,ratio", [(100, 0.3), (101, 0.5), (57, 0.9), (10, 0.0), (1000, 0.75)])
def test_sizes_through_select(n, ratio):
    s = np.random.default_rng(n).random(n)
    kept = select(s, "high", ratio, "ccs", seed=3)
    assert len(kept) == n - n_removed(n, ratio) and len(np.unique(kept)) == len(kept)
    assert np.all(np.diff(kept) > 0)


def test_beta_cutoff_removes_the_hardest():
    s = np.arange(100.0)
    assert set(ccs(s, "high", 0.5, beta=0.1).tolist()).isdisjoint(range(90, 100))  # high = hard
    assert set(ccs(s, "low", 0.5, beta=0.1).tolist()).isdisjoint(range(10))  # AUM-like: low = hard
    assert set(ccs(s, "high", 0.5, beta=0.1, hard="low").tolist()).isdisjoint(range(10))
    # β = 0: the hardest may be kept (every stratum of width 2 keeps one of its two)
    assert len(set(ccs(s, "high", 0.5, beta=0.0).tolist()) & set(range(90, 100))) == 5


def test_beta_capped_at_number_removed():
    s = np.arange(100.0)
    kept = ccs(s, "high", 0.05, beta=0.1)  # only 5 removed: β·n = 10 is capped at 5
    np.testing.assert_array_equal(kept, np.arange(95))


def test_stratum_ids_hand():
    np.testing.assert_array_equal(stratum_ids(np.array([0.0, 0.5, 0.99, 1.0, 1.5, 2.0]), 2), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(stratum_ids(np.array([3.0, 3.0]), 50), [0, 0])


def test_stratum_budgets_hand():
    # smallest first: 2 → min(2, 12//3=4) = 2; 10 → min(10, 10//2) = 5; 30 → 5
    np.testing.assert_array_equal(stratum_budgets(np.array([30, 2, 10]), 12), [5, 2, 5])
    # empty strata take nothing; ties visited in id order: 0 → 7//3=2, 2 → 5//2=2, then 3
    np.testing.assert_array_equal(stratum_budgets(np.array([4, 0, 4, 9]), 7), [2, 0, 2, 3])
    with pytest.raises(ValueError):
        stratum_budgets(np.array([1, 2]), 4)


def test_stratum_budgets_fill_exactly():
    rng = np.random.default_rng(0)
    for _ in range(300):
        sizes = rng.integers(0, 40, size=rng.integers(1, 60))
        m = int(rng.integers(0, sizes.sum() + 1))
        b = stratum_budgets(sizes, m)
        assert b.sum() == m and np.all(b <= sizes) and np.all(b >= 0)


def test_stratum_fill_order_in_selection():
    # three strata of width 1 over [0, 3]: sizes 2, 10, 30; keep 12 of 42 (no hard cut-off)
    s = np.concatenate([[0.0, 0.1], np.linspace(1.0, 1.9, 10), np.linspace(2.0, 3.0, 30)])
    kept = ccs(s, "high", 1 - 12 / 42, beta=0.0, k=3)
    counts = np.bincount(np.digitize(s[kept], [1.0, 2.0]), minlength=3)
    np.testing.assert_array_equal(counts, [2, 5, 5])


def test_deterministic_and_seeded():
    s = np.random.default_rng(1).random(500)
    a, b, c = ccs(s, "high", 0.7, seed=4), ccs(s, "high", 0.7, seed=4), ccs(s, "high", 0.7, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_beta_table():
    assert resolve_beta({0.9: 0.3, "0.5": 0.0}, 0.9) == 0.3
    assert resolve_beta({0.9: 0.3, "0.5": 0.0}, 0.5) == 0.0
    with pytest.raises(KeyError):
        resolve_beta({0.9: 0.3}, 0.7)
    with pytest.raises(ValueError):
        resolve_beta(1.2, 0.5)
    s = np.arange(100.0)
    assert set(ccs(s, "high", 0.9, beta={0.9: 0.3}).tolist()).isdisjoint(range(70, 100))


def test_class_balanced_quotas_and_cutoff():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    s = np.random.default_rng(2).random(100)
    kept = ccs(s, "high", 0.5, y=y, class_balanced=True, beta=0.1)
    np.testing.assert_array_equal(np.bincount(y[kept]), [25, 15, 10])
    for c in range(3):  # the top ⌊0.1·n_c⌋ of each class are gone
        idx = np.flatnonzero(y == c)
        hardest = idx[np.argsort(-s[idx], kind="stable")[: int(0.1 * len(idx))]]
        assert set(hardest.tolist()).isdisjoint(kept.tolist())
    with pytest.raises(ValueError):
        ccs(s, "high", 0.5, class_balanced=True)


# --- score correlation ------------------------------------------------------------------


def _write(path, scores, keep):
    scorefile.write(path, scores, "m", keep, {}, "sha")
    return path


def test_spearman_matrix_vs_scipy():
    from prunebench.plots.correlation import spearman_matrix

    rng = np.random.default_rng(0)
    a = rng.random(50)
    cols = np.stack([a, a ** 3 + 0.1 * rng.random(50), rng.integers(0, 4, 50).astype(float), -a], axis=1)
    got = spearman_matrix(cols)
    for i in range(4):
        for j in range(4):
            want = 1.0 if i == j else spearmanr(cols[:, i], cols[:, j]).statistic
            assert got[i, j] == pytest.approx(want, abs=1e-12)


def test_score_correlation_orientation(tmp_path):
    from prunebench.plots.correlation import score_correlation

    x = np.random.default_rng(1).random(40)
    files = {"a": _write(tmp_path / "a.csv", x, "high"), "b": _write(tmp_path / "b.csv", -x, "low"),
             "c": _write(tmp_path / "c.csv", np.zeros(40), "high")}
    df = score_correlation(files)
    assert list(df.index) == ["a", "b", "c"]
    assert df.loc["a", "b"] == pytest.approx(1.0)
    assert np.isnan(df.loc["a", "c"]) and df.loc["c", "c"] == 1.0
    assert score_correlation(files, orient=False).loc["a", "b"] == pytest.approx(-1.0)


def test_heatmap_is_deterministic(tmp_path):
    from prunebench.plots.correlation import plot_correlation_heatmap, score_correlation

    rng = np.random.default_rng(2)
    base = rng.random(60)
    files = {f"m{i}": _write(tmp_path / f"m{i}.csv", base + i * 0.3 * rng.random(60), "high") for i in range(4)}
    df = score_correlation(files)
    for k in (1, 2):
        plot_correlation_heatmap(df, tmp_path / f"h{k}.pdf", tmp_path / f"h{k}.png")
    assert (tmp_path / "h1.pdf").read_bytes() == (tmp_path / "h2.pdf").read_bytes()
    assert (tmp_path / "h1.png").read_bytes() == (tmp_path / "h2.png").read_bytes()
    assert (tmp_path / "h1.png").read_bytes()[:4] == b"\x89PNG"
