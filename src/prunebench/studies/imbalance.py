"""Class imbalance: pruning a long-tailed training set (sweep key ``imbalance``)."""

from __future__ import annotations

from .registry import figure, register_study, table


def run(inputs, out):
    from ..plots import studies as P
    from . import analyses as A

    df = A.imbalance_table(A.split_inputs(inputs)["retrain"])
    A.write_table(df, out["table"])
    P.plot_imbalance(df, out["pdf"], out["png"])


def _targets(files) -> list[str]:
    from ..plan import long_tail_datasets

    return [files.figure("imbalance.pdf")] if long_tail_datasets(files.cfg) else []


STUDY = register_study(
    "imbalance", run,
    outputs=[table("table", "imbalance.csv"),
             figure("pdf", "imbalance.pdf", category="Ablations", caption="Pruning a long-tailed training set (sweep key ``imbalance``: the configured dataset with class c cut to\nn_max · ρ^(−c/(C−1)) samples, the CIFAR-LT profile; the test set stays balanced). Per method and fraction\nremoved (mean ± std over seeds): test accuracy on the tail classes (the rarer half, listed in the legend),\nbalanced test accuracy (mean over classes), and the tail's kept share divided by the whole set's kept share\n(dashed 1 = what random pruning keeps in expectation; below 1 the method prunes the rare classes harder).\nRows on the dataset as prepared show the same classes without imbalance. Table: ``tables/imbalance.csv``."),
             figure("png", "imbalance.png")],
    inputs=lambda files, w=None: {"files": files.imbalance_inputs()},
    targets=_targets,
)
