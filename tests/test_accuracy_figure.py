"""The head-to-head figure (figures/accuracy_vs_ratio.png): each method once, under its release protocol,
faceted by method family so that no panel holds more than 8 lines; random and full data in every panel;
the uniform-protocol copies (the protocol study's) are not drawn."""

import numpy as np
import pandas as pd
import pytest

from prunebench.plots import accuracy as A

#: (scorer, release strategy, its uniform copy as (scorer, strategy) or None): the default config's
#: methods and the presets', so that a family has more members than one panel holds
METHODS = [
    ("moso", "classeq", ("moso", "keep")),
    ("moso-release", "classeq", ("moso-release", "keep")),
    ("moso_exact", "keep", None),
    ("moso-T1", "keep", None),
    ("dynunc", "keep", ("dynunc-uniform", "keep")),
    ("dynunc-J3", "keep", None),
    ("optprune", "solver", None),
    ("el2n", "keep", ("el2n-uniform", "keep")),
    ("grand", "keep", None),
    ("forgetting", "keep", None),
    ("aum", "keep", None),
    ("aum-ccs", "ccs", ("aum-ccs", "keep")),
    ("entropy", "classbal", ("entropy", "keep")),
    ("least_confidence", "keep", None),
    ("margin", "keep", None),
    ("static_unc", "keep", ("static_unc-uniform", "keep")),
    ("kcenter", "classbal", ("kcenter-uniform", "keep")),
    ("herding", "classbal", ("herding", "keep")),
    ("moderate", "keep", ("moderate-uniform", "keep")),
    ("my_external", "keep", None),
    ("random", "classbal", ("random", "keep")),
]
SETTINGS = [("clean", (0.3, 0.5, 0.7)), ("sym40", (0.3, 0.7))]


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []

    def add(noise, scorer, strategy, ratio, seed, acc):
        rows.append(dict(exp="toy", dataset="toy", noise=noise, arch="cnn", scorer=scorer, strategy=strategy,
                         ratio=ratio, target="cnn", seed=seed, accuracy=acc, empty_classes=0, regime="converged"))

    for noise, ratios in SETTINGS:
        for seed in range(3):
            add(noise, "full", "all", 0.0, seed, 0.9 + 0.01 * seed)
            for i, (scorer, strategy, uniform) in enumerate(METHODS):
                if noise != "clean" and i % 3 and scorer != "random":  # the noise sweep runs a few methods only
                    continue
                for r in ratios:
                    add(noise, scorer, strategy, r, seed, 0.9 - r * 0.3 + rng.normal(0, 0.01))
                    if uniform is not None and noise == "clean":
                        add(noise, *uniform, r, seed, 0.9 - r * 0.4 + rng.normal(0, 0.01))
    # a single-ratio setting (the cross-architecture grid): drawn in its own figure, not here
    for seed in range(3):
        add("clean", "dynunc", "keep", 0.5, seed, 0.7)
        rows[-1].update(arch="resnet")
    return pd.DataFrame(rows)


RELEASE = {A.method_key(sc, st) for sc, st, _ in METHODS}
UNIFORM = {A.method_key(*u) for _, _, u in METHODS if u is not None}


def _method_lines(ax) -> list[str]:
    return [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def test_no_panel_holds_more_than_8_lines_and_no_uniform_copy_is_drawn():
    df = _table()
    assert df.groupby(["noise", "arch"])[["scorer", "strategy"]].apply(
        lambda g: len(g.drop_duplicates())).max() > 30  # the old single panel: 30+ lines
    fig = A.build_figure(df)
    axes = fig.get_axes()
    assert axes
    drawn = {}
    for ax in axes:
        lines = _method_lines(ax)
        assert len(lines) <= 8, (ax.get_title(), lines)
        assert len(lines) == len(set(lines))
        assert not set(lines) & UNIFORM, ax.get_title()
        assert "random+classbal" in lines and "full data" in lines  # the references, in every panel
        assert "resnet" not in ax.get_title()  # single-ratio settings are not drawn here
        setting = ax.get_title().split("\n", 1)[1]  # family, then the setting
        drawn.setdefault(setting, []).extend(m for m in lines if m not in ("random+classbal", "full data"))
    # every release-protocol method once per setting
    clean = drawn["clean: cnn → cnn"]
    assert sorted(clean) == sorted(RELEASE - {"random+classbal"})
    noisy = {A.method_key(sc, st) for i, (sc, st, _) in enumerate(METHODS) if i % 3 == 0 and sc != "random"}
    assert sorted(drawn["sym40: cnn → cnn"]) == sorted(noisy)
    # the seed methods (7 here) are split over two panels, the families keep their columns
    titles = [ax.get_title() for ax in axes]
    assert "seed methods (1/2)\nclean: cnn → cnn" in titles and "seed methods (2/2)\nclean: cnn → cnn" in titles
    assert any(t.startswith("other methods\n") for t in titles)  # an unknown name has its own family


def test_uniform_copies_read_off_the_table_or_given_by_the_pairs():
    df = _table()
    found = A.uniform_copies(df)
    assert {A.method_key(*u) for u in found} == UNIFORM
    # the run's protocol pairs name them exactly: here a strategy sweep runs el2n under keep and classbal
    pairs = [("el2n", "release", "el2n", "keep"), ("el2n", "release", "el2n", "classbal"),
             ("el2n", "uniform", "el2n-uniform", "keep"), ("aum", "release", "aum", "keep"),
             ("aum", "uniform", "aum", "keep")]
    extra = pd.concat([df, df[df["scorer"] == "el2n"].assign(strategy="classbal")])
    assert A.uniform_copies(extra, pairs) == {("el2n-uniform", "keep")}
    assert ("el2n", "keep") in A.uniform_copies(extra)  # without the pairs: read as a protocol pair


def test_same_table_same_bytes(tmp_path):
    df = _table()
    df = df[df["noise"] == "sym40"]
    df.to_csv(tmp_path / "retrain.csv", index=False)
    out = []
    for i in range(2):
        A.accuracy_vs_ratio(tmp_path / "retrain.csv", None, tmp_path / f"a{i}.png")
        out.append((tmp_path / f"a{i}.png").read_bytes())
    assert out[0] == out[1] and len(out[0]) > 1000


@pytest.mark.parametrize("name, family", [("moso+classeq", "seed methods"), ("dynunc-J3", "seed methods"),
                                          ("aum-ccs", "training-dynamics scores"), ("random", "reference"),
                                          ("kcenter", "geometry / diversity"), ("foo", "other methods")])
def test_method_family(name, family):
    from prunebench.plots.style import method_family

    assert method_family(name) == family
