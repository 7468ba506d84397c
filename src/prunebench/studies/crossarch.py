"""Cross-architecture transfer: scores of one architecture select the subset another trains on."""

from __future__ import annotations

from .registry import figure, register_study, table


def run(inputs, out):
    from ..plots import studies as P
    from . import analyses as A

    df = A.crossarch_gain(A.read_retrain(inputs[0]))
    A.write_table(df, out["table"])
    P.plot_crossarch_heatmap(A.transfer_settings(df), out["pdf"], out["png"])


STUDY = register_study(
    "crossarch", run,
    outputs=[table("table", "crossarch_gain.csv"),
             figure("pdf", "crossarch_gain.pdf", category="Cross-architecture", caption='Cross-architecture transfer: scores from a surrogate of architecture A (rows) select the subset that trains\narchitecture B (columns); each cell is the accuracy gain over random selection at the same ratio (paired by\nseed, mean over seeds). Positive = the scores transfer.'),
             figure("png", "crossarch_gain.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv")},
    targets=lambda files: [files.figure("crossarch_gain.pdf")],
)
