"""The lossless ratio: the largest fraction removed whose accuracy stays within one std of full data."""

from __future__ import annotations

from .registry import figure, register_study, table


def run(inputs, out, k_std: float = 1.0):
    from ..plots import studies as P
    from . import analyses as A

    df = A.lossless_ratio(A.read_retrain(inputs[0]), k_std=k_std)
    A.write_table(df, out["table"])
    P.plot_lossless(df, out["pdf"], out["png"])


STUDY = register_study(
    "lossless", run,
    outputs=[table("table", "lossless_ratio.csv"),
             figure("pdf", "lossless_ratio.pdf", category="Head-to-head", caption='The "lossless ratio": the largest pruning ratio whose mean accuracy stays within one standard deviation (over\nseeds) of full-data training, per method; dots mark each tested ratio as passing or not. Coarse with a coarse\nratio grid.'),
             figure("png", "lossless_ratio.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv")},
    targets=lambda files: [files.figure("lossless_ratio.pdf")],
)
