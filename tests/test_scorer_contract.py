"""Every registered scorer, run on digits from a real surrogate, keeps the score-file contract: one finite
score per training sample, every index covered, the same bytes from the same seed, a declared direction
and a declared protocol. A new scorer is picked up here by registering it (issue 20)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from prunebench import scorefile
from prunebench.scorers import ScoreContext, get_scorer, list_scorers

#: parameters that fit the session's tiny surrogate (4 epochs, T = 4, a checkpoint at epoch 2)
TINY = {"dynunc": {"J": 2}, "el2n": {"epoch": 2}, "grand": {"epoch": 2}, "moso": {"T": 3}}
#: scorers whose contract is checked elsewhere, with the reason
ELSEWHERE = {"moso_exact": "retrains once per sample (n <= 64): tests/test_moso.py and the agreement study"}


@pytest.mark.parametrize("name", [s.name for s in list_scorers()])
def test_scorer_keeps_the_contract(name, tiny_surrogate, tmp_path):
    if name in ELSEWHERE:
        pytest.skip(ELSEWHERE[name])
    data, labels, run = tiny_surrogate
    info = get_scorer(name)
    assert info.keep in ("high", "low") and info.paper and info.protocol.release
    params = {**info.defaults, **TINY.get(name, {})}

    def score(seed):
        ctx = ScoreContext(data, labels, [run] if info.needs_surrogate else [], seed=seed, device="cpu",
                           progress=False)
        return ctx.n, np.asarray(info.fn(ctx, **params))

    n, a = score(0)
    assert a.shape == (n,) and np.isfinite(a).all()
    assert np.array_equal(a, score(0)[1])  # same seed, same scores
    out = tmp_path / "seed0.csv"
    scorefile.write(out, a, method=name, keep=info.keep, params=params, dataset_sha256="x")
    back, meta = scorefile.read(out, n=n)
    assert np.array_equal(back, a.astype(back.dtype)) and meta["keep"] == info.keep  # every index 0..n-1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", [s.name for s in list_scorers()])
def test_scorer_on_cuda_is_deterministic_and_agrees_with_cpu(name, tiny_surrogate):  # pragma: no cover - GPU only
    """On a CUDA machine (benchmarks/gpu_check.sh): the same seed gives the same bytes on the GPU, and the
    GPU's scores rank the samples as the CPU's do (float order and kernels differ, so not bit-equal)."""
    if name in ELSEWHERE:
        pytest.skip(ELSEWHERE[name])
    from scipy.stats import spearmanr

    data, labels, run = tiny_surrogate
    info = get_scorer(name)
    params = {**info.defaults, **TINY.get(name, {})}

    def score(device):
        ctx = ScoreContext(data, labels, [run] if info.needs_surrogate else [], seed=0, device=device,
                           progress=False)
        return np.asarray(info.fn(ctx, **params), dtype=float)

    gpu = score("cuda")
    assert np.isfinite(gpu).all()
    assert np.array_equal(gpu, score("cuda")), "same seed, different scores on CUDA"
    cpu = score("cpu")
    rho = 1.0 if np.array_equal(gpu, cpu) else spearmanr(gpu, cpu).statistic
    print(f"cuda-vs-cpu {name}: spearman {rho:.6f}, max |diff| {np.abs(gpu - cpu).max():.3g}")
    assert rho > 0.99, f"{name}: CUDA and CPU scores rank the samples differently (Spearman {rho:.4f})"


def test_the_workflow_and_the_plan_name_no_method():
    """Method knowledge lives in the registry: a scorer's studies are its ``studies=``, its checks its
    ``check=``; the plan, the generic studies and the rules only read them (``random``, the reference, is the
    benchmark's own). Names count in any form in code — quoted, as an identifier, in an import — but not in
    comments or docstrings."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = [s.name for s in list_scorers() if s.name != "random"]
    py = [*sorted((root / "src" / "prunebench" / "plan").glob("*.py")),
          *sorted((root / "src" / "prunebench" / "studies").glob("*.py"))]
    for f in py:
        tree = ast.parse(f.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        words = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.Name):
                words.add(n.id)
            elif isinstance(n, ast.Attribute):
                words.add(n.attr)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                words.update(part for a in n.names for part in a.name.split("."))
                words.update((getattr(n, "module", None) or "").split("."))
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                words.update(re.findall(r"[A-Za-z0-9_]+", n.value))
        named = sorted(set(names) & words)
        assert not named, f"{f.relative_to(root)} names {named}"
    for f in [*sorted((root / "workflow" / "rules").glob("*.smk")), root / "workflow" / "Snakefile"]:
        code = re.sub(r'"""[\s\S]*?"""', "", f.read_text())
        code = "\n".join(line.split("#")[0] for line in code.splitlines())
        named = [n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", code)]
        assert not named, f"{f.name} names {named}"
    assert get_scorer("moso").studies == ("agreement",)
    assert set(get_scorer("optprune").studies) == {"epsilon", "optprune_check"}


def test_readme_methods_table_matches_the_registry():
    """Every registered scorer has a row in the README's methods table, with the registry's direction."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = text[text.index("| method | paper | score | keep |"):]
    table = table[: table.index("\n\n")]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]  # "\|" is a pipe inside a cell
        if len(cells) >= 4 and cells[0].startswith("`"):
            for name in re.findall(r"`([\w-]+)`", cells[0]):
                rows[name] = cells[3]
    for s in list_scorers():
        assert s.name in rows, f"README's methods table has no row for {s.name}"
        if s.name != "random":  # the reference: no direction
            keep = re.search(rf"`{s.name}`: (high|low)", rows[s.name])
            assert (keep.group(1) if keep else rows[s.name]).startswith(s.keep), (s.name, rows[s.name], s.keep)
