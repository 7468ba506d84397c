"""CPU training speed with ``channels_last`` (NHWC) against the default layout (NCHW).

Trains each architecture of the Fashion-MNIST preset for one epoch through the pipeline's own loop
(``prunebench.train.fit``: batch 256, SGD, one thread) on synthetic Fashion-MNIST-shaped data
(uint8, 1 × 28 × 28), with ``channels_last`` off and on, interleaved (off, on, off, on, …) so load
changes hit both alike, and prints seconds per epoch and the ratio NCHW ÷ NHWC (> 1: NHWC faster).

    python benchmarks/channels_last.py                 # 20k samples, 2 pairs per architecture
    python benchmarks/channels_last.py --shape 1 8 8   # digits-sized inputs (the default config)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from prunebench.models import build_model
from prunebench.train import Recipe, fit, set_determinism
from prunebench.train.loop import Normalizer

# the learners and their options, as the preset sets them
PRESET = Path(__file__).resolve().parents[1] / "config" / "presets" / "fashion_mnist.yaml"
ARCHS = yaml.safe_load(PRESET.read_text())["models"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shape", type=int, nargs=3, default=(1, 28, 28), metavar=("C", "H", "W"))
    ap.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    a = ap.parse_args()
    shape = tuple(a.shape)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (a.n, *shape), dtype=np.uint8)
    y = rng.integers(0, 10, a.n)
    norm = Normalizer([0.5] * shape[0], [0.25] * shape[0])
    dev = torch.device("cpu")
    print(f"n={a.n} shape={shape} batch=256 threads={a.threads}; one epoch each, interleaved NCHW/NHWC")
    print(f"{'arch':18s} {'NCHW s/epoch':>13s} {'NHWC s/epoch':>13s} {'NCHW ÷ NHWC':>12s}")
    for arch in a.archs:
        kw = dict(ARCHS[arch])
        if "patch_size" in kw and shape[1] % kw["patch_size"]:
            kw["patch_size"] = shape[1] // 2
        times = {False: [], True: []}
        for p in range(a.pairs):
            for cl in (False, True):
                set_determinism(p, a.threads)
                m = build_model(arch, shape, 10, **kw)
                rec = Recipe(epochs=1, batch_size=256, lr=0.05, channels_last=cl)
                t0 = time.perf_counter()
                fit(m, x, y, rec, p, dev, norm=norm, record=True, progress=False)
                times[cl].append(time.perf_counter() - t0)
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"{arch:18s} {off:13.2f} {on:13.2f} {off / on:12.2f}", flush=True)


if __name__ == "__main__":
    main()
