"""Label noise: accuracy against the fraction removed, one panel per label-noise setting."""

from __future__ import annotations

from ..plots.accuracy import with_reference
from ..plots.common import (
    PathLike,
    line_band,
    mean_sd,
    method_handles,
    method_order,
    noise_sort_key,
    outside_legend,
    panel_groups,
    panel_title,
    read_frame,
)
from ..plots.style import keep_varied, method_color, new_figure, save_figure
from ..stats import method_key
from .common import read_retrain
from .registry import figure, register_study


def plot_noise_grid(
    retrain_df, out_pdf: PathLike, out_png: PathLike, *, same_arch: bool = True, ncols: int | None = None
) -> None:
    """Test accuracy vs fraction removed, one panel per noise setting (clean, sym20, sym40, asym…);
    lines = methods (mean ± std band over seeds, full-data point attached at ratio 0 by
    :func:`prunebench.plots.accuracy.with_reference`), dotted black line = full-data accuracy.
    Rows: (dataset, surrogate → target) combinations when several exist; with ``same_arch`` only
    runs retrained on the surrogate's own architecture are drawn (cross-arch runs have their own figure).
    ``retrain_df``: the long retrain table (DataFrame or CSV path)."""
    df = read_frame(retrain_df)
    if same_arch and (df["arch"] == df["target"]).any():
        df = df[df["arch"] == df["target"]]
    # rows: only the (dataset, arch, target) settings run under more than one noise setting (others,
    # e.g. the cross-architecture diagonal or a long-tailed subset on clean labels, have their figures)
    df = keep_varied(df, [k for k in ("exp", "dataset", "arch", "target") if k in df.columns], df["noise"])
    full = df[df["scorer"] == "full"]
    df = with_reference(df)
    df["method"] = [method_key(s, t) for s, t in zip(df["scorer"], df["strategy"])]
    methods = method_order(df["method"].unique())
    noises = sorted(df["noise"].unique(), key=noise_sort_key)
    rows = panel_groups(df, ["exp", "dataset", "arch", "target"])
    ncol = ncols or len(noises)
    fig, axes = new_figure(len(rows) * len(noises), ncols=ncol, panel_size=(3.0, 2.6), sharey="row")
    for ri, (rkey, rdf) in enumerate(rows):
        for ci, noise in enumerate(noises):
            ax = axes[ri * len(noises) + ci]
            sub = rdf[rdf["noise"] == noise]
            stats = mean_sd(sub, ["method", "ratio"], "accuracy")
            for m in methods:
                s = stats[stats["method"] == m].sort_values("ratio")
                if len(s):
                    line_band(ax, s["ratio"], s["mean"], s["sd"], method_color(m))
            f = full[(full["noise"] == noise)]
            for k, v in rkey.items():
                f = f[f[k] == v]
            if len(f):
                ax.axhline(float(f["accuracy"].mean()), color="black", ls=":", lw=1.0)
            head = "clean labels" if noise == "clean" else f"label noise {noise}"
            ax.set_title(head + (f"\n{panel_title(rkey)}" if rkey else ""))
            ax.set_xlabel("fraction of training set removed")
            ax.set_ylabel("test accuracy (mean ± std)" if ci == 0 else "")
            ax.tick_params(labelleft=True)
    from matplotlib.lines import Line2D

    handles = method_handles(methods) + [Line2D([], [], color="black", ls=":", label="full data")]
    outside_legend(fig, handles, title="method")
    save_figure(fig, out_pdf, out_png)


def run(inputs, out):
    plot_noise_grid(read_retrain(inputs[0]), out["pdf"], out["png"])


STUDY = register_study(
    "noise_grid", run,
    outputs=[figure("pdf", "noise_grid.pdf", category="Label noise", caption='Test accuracy against the fraction removed, one panel per label-noise setting (symmetric noise flips exactly\nthe stated share of training labels to a different class). Scores, selection and retraining use the noisy\nlabels; the test labels are clean. Mean ± std over seeds; dotted: full (noisy) data.'),
             figure("png", "noise_grid.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv")},
    targets=lambda files: [files.figure("noise_grid.pdf")],
)
