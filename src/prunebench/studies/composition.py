"""What each method keeps: the per-class composition of its subsets and the samples it keeps and removes
first (seed 0)."""

from __future__ import annotations

from .. import paths
from .registry import figure, register_study, table


def run(inputs, out):
    from ..plots import studies as P
    from . import analyses as A

    parts = A.split_inputs(inputs)
    df = A.class_composition(parts["subset"], parts["labels"][0])
    A.write_table(df, out["table"])
    P.plot_class_composition(df, out["pdf"], out["png"])
    data = [p for p in parts["npz"] if p.endswith("train.npz")][0]
    P.plot_sample_grid(parts["scores"], data, parts["labels"][0], out["grid_pdf"], out["grid_png"])


def _inputs(files, w=None) -> dict:
    scores, subsets, labels = files.main_inputs([0])
    return {"scores": scores, "subsets": subsets, "labels": labels,
            "train": paths.rule_path("data", "train.npz", dataset=files.dataset)}


STUDY = register_study(
    "composition", run,
    outputs=[table("table", "class_composition.csv"),
             figure("pdf", "class_composition.pdf", category="Subsets", caption="Per-class composition of each method's subsets (seed 0) against the full training set: methods that keep hard\nsamples can starve easy classes."),
             figure("png", "class_composition.png"),
             figure("grid_pdf", "sample_grid.pdf", category="Subsets", caption='The samples each method keeps first (left) and removes first (right), seed 0, with their training labels\n(a flipped label in red as "training (clean)").'),
             figure("grid_png", "sample_grid.png")],
    inputs=_inputs,
    targets=lambda files: [files.figure("class_composition.pdf")],
)
