"""The GPU code paths, exercised on CPU: the device switch, AMP and channels_last through the
one training loop, and the determinism flags. Tests that need CUDA run only where it exists."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from prunebench import io
from prunebench.models import build_model
from prunebench.train import Recipe, fit, resolve_device, set_determinism

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


@pytest.fixture
def restore_torch_state():
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    bench, cudnn_det = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det, warn_only=warn)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = bench, cudnn_det


def _data(n=96, c=3, hw=16, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.integers(0, 256, (n, c, hw, hw), dtype=np.uint8)
    x[np.arange(n), y % c, :4, :4] = 255  # a learnable cue
    return x, y.astype(np.int64)


def _train(recipe: Recipe, device="cpu", seed=0):
    x, y = _data()
    torch.manual_seed(seed)
    model = build_model("resnet_small", (3, 16, 16), 4, width=8)
    res = fit(model, x, y, recipe, seed, torch.device(device), record=True, progress=False)
    return model, res


def test_auto_picks_the_accelerator_that_exists():
    want = "cuda" if HAS_CUDA else ("mps" if HAS_MPS else "cpu")
    assert resolve_device("auto").type == want
    assert resolve_device("cpu") == torch.device("cpu")
    if not (HAS_CUDA or HAS_MPS):  # this CPU-only machine
        assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_gpu_resource_asks_for_a_gpu_exactly_on_cuda_configs():
    from prunebench.plan import gpu_resource

    assert [gpu_resource({"device": d}) for d in ("cuda", "cuda:1", "cpu", "auto", "mps")] == [1, 1, 0, 0, 0]
    assert gpu_resource({}) == 0


@pytest.mark.skipif(HAS_CUDA, reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(digits_dir, tmp_path):
    for name in ("cuda", "cuda:1"):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device(name)
    # through the CLI a job fails (non-zero exit) and says why
    y = io.load_npz(digits_dir / "train.npz")["y"]
    io.save_npz(tmp_path / "labels.npz", y=y, flipped=np.zeros(len(y), bool))
    cmd = [sys.executable, "-m", "prunebench.cli", "train-surrogate", "--data", str(digits_dir),
           "--labels", str(tmp_path / "labels.npz"), "--arch", "mlp", "--seed", "0", "--out", str(tmp_path / "run"),
           "--recipe", '{"epochs": 1}', "--T", "1", "--device", "cuda", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "--device cuda was asked for but CUDA is not available" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "run" / "surrogate.json").exists()


def test_amp_is_off_on_cpu_and_changes_nothing(restore_torch_state):
    """AMP in the recipe is silently ignored on CPU: bit-identical parameters and dynamics.
    (With autocast active on CPU, convolutions would run in bfloat16 and the bytes would differ.)"""
    set_determinism(0, 1)
    m0, r0 = _train(Recipe(epochs=2, batch_size=32, lr=0.05, amp=False))
    set_determinism(0, 1)
    m1, r1 = _train(Recipe(epochs=2, batch_size=32, lr=0.05, amp=True))
    for (k, a), b in zip(m0.state_dict().items(), m1.state_dict().values()):
        assert torch.equal(a, b), k
    for key in r0.dynamics:
        np.testing.assert_array_equal(r0.dynamics[key], r1.dynamics[key])
    assert r0.steps == r1.steps == 6


def test_channels_last_and_amp_train_on_cpu(restore_torch_state):
    """The GPU recipe options (amp + channels_last) run through the same loop on CPU: conv
    weights end up channels_last, training is deterministic and numerically equivalent."""
    rec = Recipe(epochs=2, batch_size=32, lr=0.05, amp=True, channels_last=True)
    set_determinism(0, 1)
    m1, r1 = _train(rec)
    set_determinism(0, 1)
    m2, r2 = _train(rec)
    set_determinism(0, 1)
    m0, r0 = _train(Recipe(epochs=2, batch_size=32, lr=0.05))
    convs = [m for m in m1.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert all(not c.weight.is_contiguous() for c in convs if c.kernel_size != (1, 1))
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    for (k, a), b in zip(m1.state_dict().items(), m0.state_dict().values()):
        if a.is_floating_point():
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=k)
    np.testing.assert_allclose(r1.dynamics["prob"], r0.dynamics["prob"], atol=1e-4)
    assert np.isfinite(r1.dynamics["loss"]).all()


def test_surrogate_with_gpu_recipe_runs_on_cpu(digits_dir, tmp_path, restore_torch_state):
    """train_surrogate with {amp, channels_last} and device auto: runs here on CPU, same
    dynamics as without those options (AMP off; channels_last is a layout only)."""
    from prunebench.train.surrogate import SurrogateRun, train_surrogate

    y = io.load_npz(digits_dir / "train.npz")["y"]
    labels = tmp_path / "labels.npz"
    io.save_npz(labels, y=y, flipped=np.zeros(len(y), bool))
    base = {"epochs": 2, "batch_size": 256, "lr": 0.05}
    dev = "auto" if not HAS_CUDA else "cpu"
    train_surrogate(digits_dir, labels, tmp_path / "a", "cnn_small", {**base, "amp": True, "channels_last": True},
                    0, dev, T=2, progress=False, model_kw={"width": 4})
    train_surrogate(digits_dir, labels, tmp_path / "b", "cnn_small", base, 0, "cpu", T=2, progress=False,
                    model_kw={"width": 4})
    a, b = SurrogateRun(tmp_path / "a"), SurrogateRun(tmp_path / "b")
    assert a.meta["recipe"]["amp"] is True and a.meta["recipe"]["channels_last"] is True
    np.testing.assert_allclose(a.dynamics["prob"], b.dynamics["prob"], atol=1e-4)
    np.testing.assert_array_equal(a.dynamics["pred"][-1] == y, b.dynamics["pred"][-1] == y)


def test_determinism_flags(restore_torch_state):
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    set_determinism(123, threads=2)
    # torch's switch is set where CUDA is present; on a CPU-only machine it would only import
    # torch._inductor (1.4 s a job) for kernels that are deterministic at fixed threads anyway
    assert torch.are_deterministic_algorithms_enabled() == torch.cuda.is_available()
    if torch.cuda.is_available():
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert torch.get_num_threads() == 2
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # cuBLAS needs it for determinism
    draws = (random.random(), float(np.random.rand()), torch.rand(3))
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    assert draws[0] == random.random() and draws[1] == float(np.random.rand())
    assert torch.equal(draws[2], torch.rand(3))
    set_determinism(124, threads=1)
    assert torch.get_num_threads() == 1 and not torch.equal(torch.rand(3), draws[2])


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cuda_amp_channels_last_close_to_fp32(restore_torch_state):  # pragma: no cover - GPU machines only
    set_determinism(0, 1)
    m_amp, r_amp = _train(Recipe(epochs=2, batch_size=32, lr=0.05, amp=True, channels_last=True), device="cuda")
    set_determinism(0, 1)
    m_fp, r_fp = _train(Recipe(epochs=2, batch_size=32, lr=0.05), device="cuda")
    assert np.isfinite(r_amp.dynamics["loss"]).all()
    assert np.abs(r_amp.dynamics["prob"] - r_fp.dynamics["prob"]).mean() < 0.05
    set_determinism(0, 1)
    _, r_again = _train(Recipe(epochs=2, batch_size=32, lr=0.05, amp=True, channels_last=True), device="cuda")
    np.testing.assert_allclose(r_again.dynamics["prob"], r_amp.dynamics["prob"], atol=1e-3)
