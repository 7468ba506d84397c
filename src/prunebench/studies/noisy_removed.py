"""Label noise: the share of the flipped (mislabelled) training samples each method removes."""

from __future__ import annotations

from .registry import figure, register_study, table


def run(inputs, out):
    from ..plots import studies as P
    from . import analyses as A

    parts = A.split_inputs(inputs)
    df = A.noisy_removed(parts["subset"], parts["labels"])
    A.write_table(df, out["table"])
    P.plot_noisy_removed(df, out["pdf"], out["png"])


STUDY = register_study(
    "noisy_removed", run,
    outputs=[table("table", "noisy_removed.csv"),
             figure("pdf", "noisy_removed.pdf", category="Label noise", caption='Share of the flipped (mislabelled) training samples that each method removes at each pruning ratio; the dashed\nline y = x is what random removal removes in expectation. Above the line a method removes label noise\npreferentially; below it, it keeps the noise (methods that keep "hard" samples do).'),
             figure("png", "noisy_removed.png")],
    inputs=lambda files, w=None: {"files": files.noisy_inputs()},
    targets=lambda files: ([files.figure("noisy_removed.pdf")]
                           if any(st["noise"] != "clean" for st in files.retrain) else []),
)
