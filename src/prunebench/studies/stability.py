"""Stability of each method's scores across surrogate seeds (Spearman between every pair of seeds)."""

from __future__ import annotations

from .registry import figure, register_study, table


def run(inputs, out):
    from ..plots import studies as P
    from . import analyses as A

    df = A.score_stability(A.split_inputs(inputs)["scores"])
    A.write_table(df, out["table"])
    P.plot_stability(df, out["pdf"], out["png"])


STUDY = register_study(
    "stability", run,
    outputs=[table("table", "score_stability.csv"),
             figure("pdf", "score_stability.pdf", category="Scores", caption="Stability of each method's scores across surrogate seeds: Spearman rank correlation between the score\nvectors of every pair of seeds (random is ≈ 0 by construction)."),
             figure("png", "score_stability.png")],
    inputs=lambda files, w=None: {"scores": files.main_inputs(files.seeds)[0]},
    targets=lambda files: [files.figure("score_stability.pdf")],
)
