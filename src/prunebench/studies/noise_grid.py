"""Label noise: accuracy against the fraction removed, one panel per label-noise setting."""

from __future__ import annotations

from .registry import figure, register_study


def run(inputs, out):
    from ..plots import studies as P
    from . import analyses as A

    P.plot_noise_grid(A.read_retrain(inputs[0]), out["pdf"], out["png"])


STUDY = register_study(
    "noise_grid", run,
    outputs=[figure("pdf", "noise_grid.pdf", category="Label noise", caption='Test accuracy against the fraction removed, one panel per label-noise setting (symmetric noise flips exactly\nthe stated share of training labels to a different class). Scores, selection and retraining use the noisy\nlabels; the test labels are clean. Mean ± std over seeds; dotted: full (noisy) data.'),
             figure("png", "noise_grid.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv")},
    targets=lambda files: [files.figure("noise_grid.pdf")],
)
