"""Cost of recording per-sample training dynamics, as a share of training time, and of the eval pass.

Trains cnn_small on synthetic Fashion-MNIST-shaped data (60k × 1×28×28 uint8, batch 256) for a few
epochs with and without ``record=True``, interleaved (plain, recorded, plain, recorded, ...) so load
changes hit both alike, and prints (recorded − plain) ÷ plain per pair and the median.

    python benchmarks/record_overhead.py            # 60k samples, 3 pairs of 1 epoch
    python benchmarks/record_overhead.py --n 20000  # quicker

The eval pass (``record_eval``: each batch again in eval mode on its un-augmented images before its
update, the DynUnc release's view) is timed inside the loop in the same epochs and printed ÷ one
inference pass over the same n images (``predict``, eval mode, batch 1024): about 1 is expected.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import prunebench.train.loop as loop
from prunebench.models import build_model
from prunebench.train import Recipe, fit, predict, set_determinism
from prunebench.train.loop import Normalizer


def _time_inside(module, name: str) -> dict:
    """Replace ``module.name`` by a wrapper that adds its run time to the returned ``{"s": seconds}``."""
    spent = {"s": 0.0}
    inner = getattr(module, name)

    def timed(*args, **kw):
        t = time.perf_counter()
        inner(*args, **kw)
        spent["s"] += time.perf_counter() - t

    setattr(module, name, timed)
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (a.n, 1, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, a.n)
    norm = Normalizer([0.5], [0.25])
    rec = Recipe(epochs=1, batch_size=256, lr=0.05)
    dev = torch.device("cpu")
    ratios = []
    # Direct measure, robust to machine load: time spent inside the recorder itself ÷ the whole
    # recorded epoch, in the same run.
    spent = _time_inside(loop, "_record")
    spent_eval = _time_inside(loop, "_record_eval")
    direct, eval_ratio, eval_share = [], [], []
    print(f"n={a.n} batch=256 threads={a.threads} model=cnn_small; one epoch each, interleaved")
    for p in range(a.pairs):
        times = {}
        for record in (False, True):
            set_determinism(p, a.threads)
            m = build_model("cnn_small", (1, 28, 28), 10)
            t0 = time.perf_counter()
            spent["s"] = 0.0
            fit(m, x, y, rec, p, dev, norm=norm, record=record, progress=False)
            times[record] = time.perf_counter() - t0
            if record:
                direct.append(spent["s"] / times[record])
        ratios.append(times[True] / times[False] - 1)
        # the eval pass, timed inside the loop, against one inference pass over the same images
        set_determinism(p, a.threads)
        m = build_model("cnn_small", (1, 28, 28), 10)
        spent_eval["s"] = 0.0
        t0 = time.perf_counter()
        fit(m, x, y, rec, p, dev, norm=norm, record=True, record_eval=True, progress=False)
        t_epoch = time.perf_counter() - t0
        t1 = time.perf_counter()
        predict(m, x, dev, norm)
        t_infer = time.perf_counter() - t1
        eval_ratio.append(spent_eval["s"] / t_infer)
        eval_share.append(spent_eval["s"] / t_epoch)
        print(f"pair {p}: plain {times[False]:.2f} s, recorded {times[True]:.2f} s, end-to-end {ratios[-1]:+.2%}, "
              f"time inside the recorder {direct[-1]:.2%} of the recorded epoch; eval pass {spent_eval['s']:.2f} s "
              f"= {eval_ratio[-1]:.2f} × one inference pass ({t_infer:.2f} s), {eval_share[-1]:.1%} of its epoch")
    print(f"recording overhead: end-to-end median {statistics.median(ratios):+.2%}; "
          f"time inside the recorder median {statistics.median(direct):.2%} of training time")
    print(f"eval pass: median {statistics.median(eval_ratio):.2f} × one inference pass over the training set, "
          f"{statistics.median(eval_share):.1%} of a recorded epoch")


if __name__ == "__main__":
    main()
