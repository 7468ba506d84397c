"""Cost of optimization-based pruning (Yang et al., ICLR 2023, arXiv 2205.09329) relative to
one training epoch, at Fashion-MNIST size.

60 000 synthetic 1×28×28 uint8 images with 10 random labels, ``cnn_small`` at its seeded
random initialisation (the cost does not depend on the weights). Timed separately, in one
process, with the same thread count:

* one training epoch of ``cnn_small`` (``train.fit``, batch 128, SGD);
* the influence: penultimate features of all samples (eval forward pass) + the last-layer
  Hessian, its Cholesky factor and the ``(n, P)`` influence matrix (float32 storage);
* the solve: program 2 (fixed budget) with the scalable greedy+swap solver, one ratio.

Each is printed as seconds and as a multiple of the epoch. Target: ≤ 1 each.

    python benchmarks/optprune_cost.py [--n 60000] [--ratio 0.3] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--ratio", type=float, default=0.3, help="fraction removed for the timed solve")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    import torch

    from prunebench.methods.optprune.influence import last_layer_influence
    from prunebench.methods.optprune.solvers import solve_budget
    from prunebench.models import build_model, embed, head
    from prunebench.select import n_removed
    from prunebench.train.loop import Recipe, fit, predict

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    x = rng.integers(0, 256, (a.n, 1, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, a.n).astype(np.int64)
    dev = torch.device("cpu")

    model = build_model("cnn_small", (1, 28, 28), 10)
    train_model = build_model("cnn_small", (1, 28, 28), 10)
    train_model.load_state_dict(model.state_dict())
    t0 = time.perf_counter()
    fit(train_model, x, y, Recipe(epochs=1, batch_size=128, lr=0.05), a.seed, dev, progress=False)
    t_epoch = time.perf_counter() - t0

    t0 = time.perf_counter()
    feats = predict(model, x, dev, None, 1024, fn=embed)
    t_feat = time.perf_counter() - t0
    lin = head(model)
    W = lin.weight.detach().double().numpy()
    b = lin.bias.detach().double().numpy()
    logits = feats.astype(np.float64) @ W.T + b
    Iv, info = last_layer_influence(feats, logits, y, damping=0.01, weight_decay=5e-4, head=(W, b), dtype=np.float32)
    t_infl = time.perf_counter() - t0

    m = n_removed(a.n, a.ratio)
    t0 = time.perf_counter()
    removed, meta = solve_budget(Iv, m, norm="l2", max_exact_n=0, seed=a.seed)
    t_solve = time.perf_counter() - t0

    print(f"n={a.n} P={info['P']} threads={a.threads} ratio={a.ratio} (m={m} removed)")
    print(f"epoch (cnn_small, fit, batch 128)      : {t_epoch:8.1f} s")
    print(f"influence (features + H + I, float32)  : {t_infl:8.1f} s   = {t_infl / t_epoch:.3f} epochs")
    tm = info["timing"]
    print(f"  of which: features {t_feat:.1f} s, Hessian {tm['hessian_s']:.1f} s, "
          f"gradients + Cholesky + I {tm['grads_solve_s']:.1f} s")
    print(f"solve (program 2, {meta['solver']:<12})      : {t_solve:8.1f} s   = {t_solve / t_epoch:.3f} epochs")
    print(f"solver: objective ‖ΣI‖ = {meta['objective']:.4g}, bound {meta['bound']:.4g} ({meta['bound_kind']}), "
          f"random subset {meta['random_reference']:.4g}, swaps {meta.get('swaps')}")


if __name__ == "__main__":
    main()
