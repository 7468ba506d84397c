"""Cost of MoSo's per-checkpoint gradient statistics, in units of one training epoch.

MoSo (Tan et al., NeurIPS 2023, arXiv 2310.14664, Eq. 4) needs, at each sampled
checkpoint, ḡ, <g_i, ḡ> and ‖g_i‖² for every training sample. This script
times, on ``cnn_small`` and synthetic 28×28 one-channel data (10 classes):

* one training epoch (``prunebench.train.fit``, SGD, batch 128) — the unit;
* the fast path, exact ḡ (:func:`prunebench.grads.gradient_stats`, ``gbar="exact"``);
* the fast path, subsample ḡ (``gbar="subsample"``: backward + ‖g_i‖² on the subsample, jvp on
  all rows) and the Spearman of its per-checkpoint MoSo score against the exact-ḡ one;
* materialised per-sample gradients (``torch.func.vmap(grad)``, chunked) + ḡ;
* a python batch-size-1 loop for <g_i, ḡ> and ‖g_i‖² (given ḡ);
* the authors' two batch-size-1 passes (ḡ, then the scores), as in their ``scoring.py``;
* the floor, each component alone: one backward pass for ḡ without per-sample norms, one jvp
  pass for <g_i, v> with v given, the backward pass for ḡ on the subsample — and the fast path
  divided by their sums.

Slow methods are timed on ``--sub`` samples and extrapolated linearly to n
(printed as such). Peak memory: the peak of glibc's heap-in-use counter
(``mallinfo2``: ``uordblks + hblkhd``; RSS where unavailable), sampled every 5 ms
by a background thread during the call, minus its value just before; on CUDA,
``torch.cuda.max_memory_allocated`` after a reset. Times: process CPU seconds
with one torch thread (robust to other jobs sharing the machine), wall on CUDA.

    python benchmarks/moso_cost.py            # n = 60000
    python benchmarks/moso_cost.py --n 10000  # smaller
"""

from __future__ import annotations

import argparse
import ctypes
import os
import threading
import time

import numpy as np
import torch


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _heap_in_use():
    """Bytes of heap in use per glibc ``mallinfo2`` (``uordblks + hblkhd``: arena chunks in use
    plus mmap'd blocks), or None where it is unavailable. Unlike RSS it drops when memory
    is freed, so peaks of consecutive calls are comparable (torch's CPU tensors are malloc'd)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
    except (OSError, AttributeError):
        return None

    def read() -> int:
        m = libc.mallinfo2()
        return int(m.uordblks + m.hblkhd)

    return read


class PeakMem:
    """Context manager: peak memory increase (MiB) over the block. CPU: glibc heap in use
    (:func:`_heap_in_use`, falling back to RSS from ``/proc/self/statm``), sampled every
    ``interval`` s by a thread; CUDA: ``torch.cuda.max_memory_allocated``."""

    def __init__(self, device: torch.device, interval: float = 0.005) -> None:
        self.device, self.interval, self.peak_mib = device, interval, 0.0
        self._read = _heap_in_use() or self._rss
        self.kind = "glibc heap in use (mallinfo2)" if self._read is not self._rss else "RSS"

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._max = max(self._max, self._read())
            time.sleep(self.interval)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        self._base = self._max = self._read()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mib = (torch.cuda.max_memory_allocated() - self._base) / 2**20
            return
        self._stop.set()
        self._t.join()
        self._max = max(self._max, self._read())
        self.peak_mib = (self._max - self._base) / 2**20


def timed(fn, device):
    """(result, wall seconds, process CPU seconds, peak MiB). With one torch thread the CPU
    time measures the work itself and is robust to other jobs on the machine; on CUDA use wall."""
    with PeakMem(device) as mem:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt, dc = time.perf_counter() - t, time.process_time() - c
    return out, dt, (dt if device.type == "cuda" else dc), mem.peak_mib


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images: a faint random template per class under strong noise, 10 % of the
    labels redrawn at random, so one epoch does not saturate the softmax (saturated
    samples have ‖g_i‖ ≈ 0 and their ranks are float32 noise)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 10)
    templates = rng.random((10, 1, 28, 28)) * 70
    x = np.empty((n, 1, 28, 28), np.uint8)
    for s in range(0, n, 10000):
        noise = rng.random((len(y[s : s + 10000]), 1, 28, 28)) * 185
        x[s : s + 10000] = (templates[y[s : s + 10000]] + noise).astype(np.uint8)
    flip = rng.random(n) < 0.1
    y[flip] = rng.integers(0, 10, int(flip.sum()))
    return x, y


def batch1_pass(model, x, y, norm, gbar=None):
    """The authors' loop: one sample at a time, full-network gradient as a flat vector.
    Without ``gbar``: returns the mean gradient; with it: (<g_i, ḡ>, ‖g_i‖²)."""
    import torch.nn.functional as F

    from prunebench import grads as G

    device, dtype = G._device_dtype(model)
    params = [p for p in model.parameters() if p.requires_grad]
    gflat = None if gbar is None else G.flatten(gbar)
    acc, dots, sqs = 0, [], []
    model.eval()
    for i in range(len(y)):
        xb, yb = G._batch(x, y, i, i + 1, norm, device, dtype)
        g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(F.cross_entropy(model(xb), yb), params)])
        if gflat is None:
            acc = acc + g
        else:
            dots.append(float(g @ gflat))
            sqs.append(float(g @ g))
    return acc / len(y) if gflat is None else (np.array(dots), np.array(sqs))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60000, help="training samples (default 60000)")
    ap.add_argument("--sub", type=int, default=2000, help="samples timed for the slow methods, then extrapolated")
    ap.add_argument("--sub-loop", type=int, default=300, help="samples timed for the batch-1 loops")
    ap.add_argument("--chunk", type=int, default=256, help="chunk size of the fast path")
    ap.add_argument("--vmap-chunk", type=int, default=64, help="chunk size of vmap(grad)")
    ap.add_argument("--fraction", type=float, default=0.1, help="gbar_fraction of the subsample option")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from scipy.stats import spearmanr

    from prunebench import grads as G
    from prunebench.methods.moso.scorer import moso_checkpoint_scores
    from prunebench.models import build_model
    from prunebench.train import Recipe, fit, set_determinism
    from prunebench.train.loop import Normalizer

    set_determinism(args.seed, args.threads)
    device = torch.device(args.device)
    x, y = synthetic(args.n, args.seed)
    xf = x[:10000].astype(np.float32) / 255
    norm = Normalizer([float(xf.mean())], [float(xf.std())])
    model = build_model("cnn_small", (1, 28, 28), 10).to(device)
    rec = Recipe(epochs=1, batch_size=128, lr=0.05)
    # untimed warm-up of every code path (one-off costs: functorch tracing, first mkldnn calls)
    w = min(512, args.n)
    fit(build_model("cnn_small", (1, 28, 28), 10).to(device), x[:w], y[:w], rec, args.seed, device, norm=norm,
        progress=False)
    for gb in ("exact", "subsample"):
        G.gradient_stats(model, x[:w], y[:w], norm, args.chunk, gbar=gb)
    G.per_sample_vmap(model, x[:64], y[:64], G.mean_gradient(model, x[:64], y[:64], norm), norm, args.vmap_chunk)
    print(f"cnn_small ({sum(p.numel() for p in model.parameters())} parameters), n = {args.n}, device {device}, "
          f"torch threads {torch.get_num_threads()}, fast-path chunk {args.chunk}")
    _, w_epoch, t_epoch, m_epoch = timed(lambda: fit(model, x, y, rec, args.seed, device, norm=norm, progress=False), device)
    # the model after one epoch is the checkpoint θ_t that is scored below
    from prunebench.train import evaluate

    acc = evaluate(model, x[:5000], y[:5000], device, norm)["accuracy"]
    lr_t = 0.05
    rows = [("one training epoch (SGD, batch 128)", t_epoch, w_epoch, m_epoch, "measured")]

    st, w_fast, t_fast, m_fast = timed(lambda: G.gradient_stats(model, x, y, norm, args.chunk, gbar="exact"), device)
    rows.append(("fast path, exact ḡ: ḡ + ‖g_i‖² (hooks) + <g_i,ḡ> (jvp)", t_fast, w_fast, m_fast, "measured"))
    sub, w_sub, t_sub, m_sub = timed(lambda: G.gradient_stats(model, x, y, norm, args.chunk, gbar="subsample",
                                                       gbar_fraction=args.fraction, seed=args.seed), device)
    rows.append((f"fast path, subsample ḡ ({args.fraction:.0%})", t_sub, w_sub, m_sub, "measured"))
    # the floor (issue 21): each component the fast path cannot do without, timed alone in this run
    _, w_bw, t_bw, m_bw = timed(lambda: G.mean_gradient(model, x, y, norm, args.chunk), device)
    rows.append(("floor: one backward pass for ḡ, no per-sample norms", t_bw, w_bw, m_bw, "measured"))
    _, w_jvp, t_jvp, m_jvp = timed(lambda: G.grad_dot(model, x, y, st.gbar, norm, args.chunk), device)
    rows.append(("floor: one jvp pass for <g_i, v>, v given", t_jvp, w_jvp, m_jvp, "measured"))
    m_s = max(1, int(np.ceil(args.fraction * args.n)))
    idx = np.sort(np.random.default_rng(args.seed).choice(args.n, size=m_s, replace=False))
    _, w_sbw, t_sbw, _ = timed(lambda: G.mean_gradient(model, x, y, norm, args.chunk, indices=idx), device)
    rows.append((f"floor: backward for ḡ on the {args.fraction:.0%} subsample", t_sbw, w_sbw, 0.0, "measured"))
    s_exact = moso_checkpoint_scores(st.dot, st.sqnorm, args.n, lr_t)
    s_sub = moso_checkpoint_scores(sub.dot, sub.sqnorm, args.n, lr_t, subsample=sub.subsample)
    rho = float(spearmanr(s_exact, s_sub)[0])

    k = min(args.sub, args.n)
    (dv, qv), w_v, t_v, m_v = timed(lambda: G.per_sample_vmap(model, x[:k], y[:k], st.gbar, norm, args.vmap_chunk), device)
    w_gb, t_gb = w_bw, t_bw  # ḡ by one plain backward pass: the floor row above
    rows.append((f"vmap(grad) per-sample grads + ḡ (chunk {args.vmap_chunk})", t_gb + t_v * args.n / k,
                 w_gb + w_v * args.n / k, m_v, f"vmap timed on {k}, extrapolated"))
    def err(a, b):  # max |Δ| relative to the largest |value| (the scale the MoSo scores live on)
        return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

    err_v = (err(qv, st.sqnorm[:k]), err(dv, st.dot[:k]))

    k1 = min(args.sub_loop, args.n)
    (d1, q1), w_l, t_l, m_l = timed(lambda: batch1_pass(model, x[:k1], y[:k1], norm, st.gbar), device)
    rows.append(("python batch-1 loop (<g_i,ḡ>, ‖g_i‖², ḡ given)", t_l * args.n / k1, w_l * args.n / k1, m_l,
                 f"timed on {k1}, extrapolated"))
    _, w_a, t_a, m_a = timed(lambda: batch1_pass(model, x[:k1], y[:k1], norm), device)
    rows.append(("authors' two batch-1 passes (ḡ, then scores)", (t_a + t_l) * args.n / k1,
                 (w_a + w_l) * args.n / k1, max(m_a, m_l), f"timed on {k1}, extrapolated"))
    err_l = (err(q1, st.sqnorm[:k1]), err(d1, st.dot[:k1]))

    unit = "CPU s" if device.type != "cuda" else "wall s"
    print(f"\n{'method (one checkpoint)':58s} {unit:>8s} {'÷ epoch':>8s} {'wall s':>8s} {'peak MiB':>9s}  note")
    for name, t, w, mem, note in rows:
        print(f"{name:58s} {t:8.1f} {t / t_epoch:8.2f} {w:8.1f} {mem:9.0f}  {note}")
    print(f"\nfast path ÷ floor: exact ḡ {t_fast / (t_bw + t_jvp):.2f} (÷ backward + jvp); subsample ḡ "
          f"{t_sub / (t_jvp + t_sbw):.2f} (÷ jvp + the subsample's backward); target ≤ 1.1")
    print(f"Spearman(per-checkpoint MoSo with subsample ḡ, with exact ḡ) = {rho:.4f}")
    print(f"agreement, max|Δ|/max|value|: fast path vs vmap(grad): ‖g_i‖² {err_v[0]:.1e}, <g_i,ḡ> {err_v[1]:.1e}; "
          f"vs batch-1 loop: {err_l[0]:.1e}, {err_l[1]:.1e}")
    print(f"train accuracy after the epoch: {acc:.3f} (the scored checkpoint)")
    print(f"peak MiB = peak {PeakMem(device).kind} during the call − its value before (sampled every 5 ms)"
          if device.type != "cuda" else "peak MiB = torch.cuda.max_memory_allocated − allocated before")
    print("÷ epoch uses process CPU time (one torch thread) on CPU, wall time on CUDA")
    print("targets: the fast path ≤ 1.1 × its floor measured in the same run (issue 21)")


if __name__ == "__main__":
    main()
