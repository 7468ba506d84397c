"""Bad inputs at the command line: every one stops with a message naming the file and the problem,
and writes nothing (a missing output stays missing, an existing one keeps its bytes).

The subcommands run in-process (``prunebench.cli.main``, which turns ValueError/FileNotFoundError/
KeyError into ``prunebench <cmd>: error: ...`` on stderr and exit status 2), so torch is imported
once. The unit-level checks behind these live in test_io_data.py, test_train_scorers_select.py and
test_config.py; the table in docs/reference/reliability.md lists every case tried here.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, make_workdir, run_snakemake

from prunebench import io, scorefile
from prunebench.cli import main

SENTINEL = b"an earlier, valid output\n"


def cli_error(capsys, argv: list[str]) -> str:
    """Run ``prunebench argv``; it must exit non-zero; returns what it printed on stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    assert exc.value.code not in (0, None)
    err = capsys.readouterr().err
    return err + (exc.value.code if isinstance(exc.value.code, str) else "")


def _existing(path: Path) -> Path:
    """An output that already exists from an earlier run: the failed command must leave it as is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SENTINEL)
    return path


def _no_temp(folder: Path) -> None:
    assert not list(folder.rglob(f"{io.TMP_PREFIX}*"))


# --- data: IDX files, npz files, changed content -----------------------------------------------

def _idx_bytes(arr: np.ndarray) -> bytes:
    """IDX bytes written by hand (big-endian header, uint8 payload)."""
    return bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.astype(np.uint8).tobytes()


def _fmnist_folder(root: Path, bad: str) -> Path:
    """A Fashion-MNIST-like folder with the four IDX files; the training images damaged as ``bad`` says."""
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": _idx_bytes(rng.integers(0, 255, (20, 28, 28))),
        "train-labels-idx1-ubyte.gz": _idx_bytes(np.arange(20) % 10),
        "t10k-images-idx3-ubyte.gz": _idx_bytes(rng.integers(0, 255, (10, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": _idx_bytes(np.arange(10) % 10),
    }
    raw = files["train-images-idx3-ubyte.gz"]
    files["train-images-idx3-ubyte.gz"] = {"truncated": raw[:-100], "magic": b"\x01\x02" + raw[2:]}[bad]
    root.mkdir()
    for name, data in files.items():
        with gzip.open(root / name, "wb") as fh:
            fh.write(data)
    return root


@pytest.mark.parametrize("bad, message", [
    ("truncated", "train-images-idx3-ubyte.gz: IDX payload is 15580 bytes, header promises 15680"),
    ("magic", "train-images-idx3-ubyte.gz: not an IDX file (bad magic number)"),
])
def test_fetch_rejects_a_damaged_idx_file(tmp_path, capsys, bad, message):
    src = _fmnist_folder(tmp_path / "raw", bad)
    out = tmp_path / "data" / "fashion_mnist"
    meta = _existing(out / "meta.json")
    err = cli_error(capsys, ["fetch", "--dataset", "fashion_mnist", "--source", src, "--out", out])
    assert message in err, err
    if bad == "truncated":
        assert "(truncated or corrupted file)" in err, err
    assert meta.read_bytes() == SENTINEL
    assert sorted(p.name for p in out.iterdir()) == ["meta.json"]


@pytest.fixture
def data_copy(tmp_path, digits_dir) -> Path:
    d = tmp_path / "digits"
    shutil.copytree(digits_dir, d)
    return d


@pytest.fixture
def labels(tmp_path, digits_dir) -> Path:
    p = tmp_path / "labels.npz"
    y = io.load_npz(digits_dir / "train.npz")["y"]
    io.save_npz(p, y=y, flipped=np.zeros(len(y), bool))
    return p


def test_noise_rejects_a_truncated_npz(tmp_path, capsys, data_copy):
    (data_copy / "train.npz").write_bytes((data_copy / "train.npz").read_bytes()[:2000])
    out = tmp_path / "labels.npz"
    err = cli_error(capsys, ["noise", "--data", data_copy, "--noise", "sym20", "--out", out])
    assert _changed_since_prepared(err, data_copy), err
    assert not out.exists()
    _no_temp(tmp_path)


def test_score_rejects_a_corrupted_npz(tmp_path, capsys, data_copy, labels):
    raw = bytearray((data_copy / "train.npz").read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\xff" * 64  # flipped bytes inside the x array
    (data_copy / "train.npz").write_bytes(bytes(raw))
    out = tmp_path / "scores" / "seed0.csv"
    err = cli_error(capsys, ["score", "--method", "random", "--data", data_copy, "--labels", labels, "--out", out])
    assert _changed_since_prepared(err, data_copy), err
    assert not out.exists() and not scorefile.meta_path(out).exists()


def _changed_since_prepared(err: str, data_dir: Path) -> bool:
    """The one-line integrity error for a prepared array file changed after `prunebench fetch`."""
    return (f"{data_dir / 'train.npz'}: sha256 " in err and f"recorded in {data_dir / 'meta.json'}" in err
            and f"--forcerun {data_dir / 'train.npz'}" in err)


def _tamper(data_dir: Path) -> None:
    """A valid npz whose content changed after `prunebench fetch` (one label edited)."""
    z = io.load_npz(data_dir / "train.npz")
    z["y"][0] = (z["y"][0] + 1) % 10
    io.save_npz(data_dir / "train.npz", **z)


def test_score_rejects_a_dataset_whose_content_changed(tmp_path, capsys, data_copy, labels):
    _tamper(data_copy)
    out = _existing(tmp_path / "scores" / "seed0.csv")
    err = cli_error(capsys, ["score", "--method", "random", "--data", data_copy, "--labels", labels, "--out", out])
    assert _changed_since_prepared(err, data_copy), err
    assert out.read_bytes() == SENTINEL and not scorefile.meta_path(out).exists()


def test_retrain_rejects_a_dataset_whose_content_changed(tmp_path, capsys, data_copy, labels):
    _tamper(data_copy)
    sub = tmp_path / "sub.npy"
    io.save_npy(sub, np.arange(100, dtype=np.int64))
    out = tmp_path / "seed0.json"
    err = cli_error(capsys, ["retrain", "--data", data_copy, "--labels", labels, "--subset", sub, "--seeds", 0,
                             "--out", out, "--target", "mlp", "--recipe", '{"epochs": 1}'])
    assert _changed_since_prepared(err, data_copy), err
    assert not out.exists()


def test_noise_rejects_a_dataset_whose_content_changed(tmp_path, capsys, data_copy):
    _tamper(data_copy)
    out = tmp_path / "labels.npz"
    err = cli_error(capsys, ["noise", "--data", data_copy, "--noise", "clean", "--out", out])
    assert _changed_since_prepared(err, data_copy), err
    assert not out.exists()


def test_validate_scores_rejects_scores_of_other_data(tmp_path, capsys, digits_dir):
    n = io.read_json(digits_dir / "meta.json")["n_train"]
    p = tmp_path / "seed0.csv"
    scorefile.write(p, np.arange(n, dtype=float), "m", "high", {}, "0" * 64)
    stamp = tmp_path / "ok.stamp"
    err = cli_error(capsys, ["validate-scores", "--scores", p, "--data", digits_dir, "--check-hash",
                             "--stamp", stamp])
    assert "seed0.meta.json: dataset_sha256 does not match the prepared dataset" in err, err
    assert not stamp.exists()


# --- score files -----------------------------------------------------------------------------------

def _as_external(p: Path) -> dict:
    """Make the score file's meta an external program's: no recorded sha256 of the CSV (nor of itself), so
    the content checks below are what stands between a bad file and a subset. Returns the meta."""
    meta = io.read_json(scorefile.meta_path(p))
    meta.pop("sha256")
    scorefile.meta_path(p).write_text(json.dumps(meta))
    return meta


def _bad_score_file(p: Path, n: int, bad: str) -> None:
    """A score file as a faulty external program writes it (a file of ours that changed is caught by its
    sha256 first: tests/test_integrity.py)."""
    scores = np.linspace(0, 1, n)
    scorefile.write(p, scores, "m", "high", {}, "x")
    rows = [f"{i},{v!r}" for i, v in enumerate(scores.tolist())]
    meta = _as_external(p)
    if bad == "short":
        rows = rows[:-1]
    elif bad == "long":
        rows = rows + [f"{n},0.5"]
    elif bad == "nan":
        rows[5] = "5,nan"
    elif bad == "inf":
        rows[7] = "7,inf"
    elif bad == "duplicate":
        rows[3] = "2,0.1"
    elif bad == "missing_index":
        rows[4] = f"{n + 3},0.1"  # index 4 missing, an index past the end instead
    elif bad == "negative_index":
        rows[4] = "-1,0.1"
    elif bad == "text":
        rows[9] = "9,high"
    elif bad == "header":
        rows = ["idx;score"] + rows
    elif bad == "meta_fields":
        meta = {k: v for k, v in meta.items() if k not in ("keep", "dataset_sha256")}
    elif bad == "meta_keep":
        meta["keep"] = "largest"
    elif bad == "no_meta":
        scorefile.meta_path(p).unlink()
    if bad not in ("meta_fields", "meta_keep", "no_meta"):
        p.write_text("\n".join(([] if bad == "header" else ["index,score"]) + rows) + "\n")
    if bad in ("meta_fields", "meta_keep"):
        scorefile.meta_path(p).write_text(json.dumps(meta))


SCORE_CASES = [
    ("short", "1346 rows, expected 1347 (one per training sample)"),
    ("long", "1348 rows, expected 1347"),
    ("nan", "NaN/inf scores at index [5]"),
    ("inf", "NaN/inf scores at index [7]"),
    ("duplicate", "duplicate indices [2]"),
    ("missing_index", "index out of range 0..1346"),
    ("negative_index", "index out of range 0..1346"),
    ("text", "unparsable row"),
    ("header", "header must be 'index,score', got 'idx;score'"),
    ("meta_fields", "seed0.meta.json: meta lacks field(s) keep, dataset_sha256"),
    ("meta_keep", "keep must be 'high' or 'low', got 'largest'"),
    ("no_meta", "meta file seed0.meta.json missing"),
]


@pytest.mark.parametrize("bad, message", SCORE_CASES)
def test_select_rejects_a_bad_score_file(tmp_path, capsys, labels, bad, message):
    n = len(io.load_npz(labels)["y"])
    p = tmp_path / "scores" / "seed0.csv"
    p.parent.mkdir()
    _bad_score_file(p, n, bad)
    out = _existing(tmp_path / "subsets" / "r0.50" / "seed0.npy")
    err = cli_error(capsys, ["select", "--scores", p, "--labels", labels, "--ratios", 0.5, "--seed", 0, "--out", out])
    assert "invalid score file" in err and message in err and "seed0" in err, err
    assert out.read_bytes() == SENTINEL
    _no_temp(tmp_path)


def test_select_rejects_scores_of_other_data(tmp_path, capsys, digits_dir, labels):
    """`select --data` (as the rule runs it for registered scorers) checks the score file's dataset hash."""
    n = len(io.load_npz(labels)["y"])
    p = tmp_path / "seed0.csv"
    scorefile.write(p, np.arange(n, dtype=float), "m", "high", {}, "0" * 64)
    out = _existing(tmp_path / "seed0.npy")
    err = cli_error(capsys, ["select", "--scores", p, "--labels", labels, "--data", digits_dir, "--ratios", 0.5,
                             "--seed", 0, "--out", out])
    assert "dataset_sha256 does not match the prepared dataset" in err, err
    assert out.read_bytes() == SENTINEL


def test_retrain_checks_every_subset_before_training(tmp_path, capsys, digits_dir, labels, monkeypatch):
    """A bad second subset stops the job before the first model is trained (nothing written)."""
    import prunebench.train.loop as loop

    good, bad = tmp_path / "good.npy", tmp_path / "bad.npy"
    io.save_npy(good, np.arange(50, dtype=np.int64))
    io.save_npy(bad, np.array([3, 2], dtype=np.int64))
    calls = []
    monkeypatch.setattr(loop, "fit", lambda *a, **k: calls.append(1))
    outs = [tmp_path / "seed0.json", tmp_path / "seed1.json"]
    err = cli_error(capsys, ["retrain", "--data", digits_dir, "--labels", labels, "--subset", good, bad, "--seeds",
                             0, 1, "--out", *outs, "--target", "mlp", "--recipe", '{"epochs": 1}', "--no-progress"])
    assert f"{bad}: subset indices must be sorted and distinct" in err, err
    assert calls == [] and not any(o.exists() for o in outs)


@pytest.mark.parametrize("bad, message", [SCORE_CASES[0], SCORE_CASES[2], SCORE_CASES[9]])
def test_validate_scores_rejects_a_bad_score_file(tmp_path, capsys, digits_dir, bad, message):
    n = io.read_json(digits_dir / "meta.json")["n_train"]
    p = tmp_path / "seed0.csv"
    _bad_score_file(p, n, bad)
    stamp = tmp_path / "ok.stamp"
    err = cli_error(capsys, ["validate-scores", "--scores", p, "--data", digits_dir, "--stamp", stamp])
    assert "invalid score file" in err and message in err, err
    assert not stamp.exists()


# --- surrogate runs: labels, checkpoints -----------------------------------------------------------

def test_train_surrogate_rejects_labels_of_the_wrong_length(tmp_path, capsys, digits_dir):
    y = io.load_npz(digits_dir / "train.npz")["y"]
    bad = tmp_path / "labels.npz"
    io.save_npz(bad, y=y[:-1], flipped=np.zeros(len(y) - 1, bool))
    out = tmp_path / "run"
    err = cli_error(capsys, ["train-surrogate", "--data", digits_dir, "--labels", bad, "--arch", "mlp", "--seed", 0,
                             "--out", out, "--recipe", '{"epochs": 1}', "--T", 1, "--no-progress"])
    assert "labels.npz: 1346 labels for 1347 training samples" in err, err
    assert not (out / "surrogate.json").exists()


@pytest.fixture
def run_copy(tmp_path, tiny_surrogate) -> tuple[Path, Path, Path]:
    data, labels, run = tiny_surrogate
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return data, labels, dst


def _checkpoint(run: Path, which: str) -> Path:
    """``sampled``: the first of the T sampled checkpoints; ``epoch2``: the end of epoch 2 (save_epochs)."""
    cks = io.read_json(run / "surrogate.json")["checkpoints"]
    if which == "sampled":
        ck = next(c for c in cks if c["sampled"])
    else:
        ck = next(c for c in cks if c["epoch_end"] and c["epoch"] == 2)
    return run / ck["path"]


@pytest.mark.parametrize("method, params, which", [
    ("moso", {"T": 4}, "sampled"),    # MoSo reads the T sampled checkpoints
    ("grand", {"epoch": 2}, "epoch2"),  # GraNd reads the epoch-2 checkpoint
])
def test_score_names_a_missing_checkpoint(tmp_path, capsys, run_copy, method, params, which):
    data, labels, run = run_copy
    ck = _checkpoint(run, which)
    ck.unlink()
    out = _existing(tmp_path / "scores" / method / "seed0.csv")
    err = cli_error(capsys, ["score", "--method", method, "--data", data, "--labels", labels, "--surrogate", run,
                             "--params", json.dumps(params), "--out", out, "--device", "cpu", "--no-progress"])
    assert f"{ck}: file missing; rebuild it: snakemake --cores all --forcerun {run}/surrogate.json" in err, err
    assert out.read_bytes() == SENTINEL and not scorefile.meta_path(out).exists()


def test_score_names_a_truncated_checkpoint(tmp_path, capsys, run_copy):
    data, labels, run = run_copy
    ck = _checkpoint(run, "epoch2")
    ck.write_bytes(ck.read_bytes()[:500])
    out = tmp_path / "scores" / "seed0.csv"
    err = cli_error(capsys, ["score", "--method", "grand", "--data", data, "--labels", labels, "--surrogate", run,
                             "--params", '{"epoch": 2}', "--out", out, "--device", "cpu", "--no-progress"])
    assert str(ck) in err
    assert not out.exists()


def test_score_rejects_a_surrogate_of_other_data(tmp_path, capsys, run_copy):
    data, labels, run = run_copy
    meta = io.read_json(run / "surrogate.json")
    meta["n"] = meta["n"] - 1
    io.write_json(run / "surrogate.json", meta)
    out = tmp_path / "seed0.csv"
    err = cli_error(capsys, ["score", "--method", "el2n", "--data", data, "--labels", labels, "--surrogate", run,
                             "--params", '{"epoch": 2}', "--out", out, "--no-progress"])
    assert f"{run}: surrogate trained on 1346 samples, data has 1347" in err, err
    assert not out.exists()


# --- subsets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("subset, message", [
    (np.array([0, 5, 1347]), "subset index out of range 0..1346 (min 0, max 1347)"),
    (np.array([-1, 5, 9]), "subset index out of range 0..1346 (min -1, max 9)"),
    (np.array([5, 3, 9]), "subset indices must be sorted and distinct"),
    (np.array([3, 3, 9]), "subset indices must be sorted and distinct"),
    (np.array([0.0, 1.0, 2.0]), "a subset must be a 1-d integer array, got float64 (3,)"),
    (np.zeros(0, np.int64), "empty subset"),
])
def test_retrain_rejects_a_bad_subset(tmp_path, capsys, digits_dir, labels, subset, message):
    sub = tmp_path / "subsets" / "seed0.npy"
    io.save_npy(sub, subset)
    out = _existing(tmp_path / "retrain" / "seed0.json")
    err = cli_error(capsys, ["retrain", "--data", digits_dir, "--labels", labels, "--subset", sub, "--seeds", 0,
                             "--out", out, "--target", "mlp", "--recipe", '{"epochs": 1}', "--no-progress"])
    assert f"{sub}: {message}" in err, err
    assert out.read_bytes() == SENTINEL
    _no_temp(tmp_path)


# --- configs: stopped by `snakemake -n`, before any job runs ---------------------------------------

CONFIG_CASES = {
    "negative_epochs": (lambda c: c["surrogate"]["recipe"].update(epochs=-3), "-3 is less than the minimum of 1"),
    "ratio_one": (lambda c: c.update(ratios=[0.5, 1.0]), "1.0 is greater than or equal to the maximum of 1"),
    "unknown_method": (lambda c: c["scorers"].update(mine={"method": "nosuch"}), "scorers.mine: unknown scorer"),
    "unknown_dataset": (lambda c: c["dataset"].update(name="mnist3d"), "'mnist3d' is not one of"),
    "unknown_model": (lambda c: c["sweeps"]["main"].update(arch=["resnet9000"]), "unknown model 'resnet9000'"),
    "J_over_epochs": (lambda c: c["scorers"]["dynunc"].update(params={"J": 9}),
                      "DynUnc window J = 9 exceeds the 3 usable epochs"),
    "T_over_steps": (lambda c: c["surrogate"].update(T=100), "surrogate.T = 100 exceeds the 44 training steps"),
    "epochs_text": (lambda c: c["surrogate"]["recipe"].update(epochs="ten"), "'ten' is not of type 'integer'"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", [
    *CONFIG_CASES,
])
def test_dry_run_rejects_a_bad_config(tmp_path, case):
    mutate, message = CONFIG_CASES[case]
    wd = make_workdir(tmp_path)
    cfg = yaml.safe_load(open(ROOT / "tests" / "data" / "tiny.yaml"))
    mutate(cfg)
    (wd / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(wd, "-n", configfile="bad.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert message in out, out[-3000:]
    assert not (wd / "results").exists() and not (wd / "data").exists()


# --- issue 19: mistakes that destroyed built work or slipped through ---------------------------------
# Each is refused by `snakemake -n` (before any job could delete a built file) with a message naming
# the key or file and the fix, or made harmless. The probes that need built work use the default
# selection's one tiny end-to-end run (the `reference` fixture, tests/conftest.py); they leave it as
# they found it.

def _tiny(**top) -> dict:
    cfg = yaml.safe_load(open(ROOT / "tests" / "data" / "tiny.yaml"))
    cfg.update(top)
    return cfg


def _dry_run(wd: Path, cfg: dict | None = None, *args: str, name: str = "probe.yaml"):
    """`snakemake -n` in ``wd`` with ``cfg`` (default: the tiny config): (returncode, output)."""
    if cfg is not None:
        (wd / name).write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(wd, "-n", *args, configfile=name if cfg is not None else "tiny.yaml", check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _refused(wd: Path, cfg: dict, *messages: str, args: tuple = ()) -> str:
    rc, out = _dry_run(wd, cfg, *args)
    assert rc != 0, out[-3000:]
    for m in messages:
        assert m in out, out[-3000:]
    assert not (wd / "results").exists(), "a refused config must not start a tree"
    return out


def _ref_snakemake(reference, *args: str, configfile: str = "tiny.yaml"):
    """Snakemake in the reference run's folder, with the code snapshot it was built with."""
    from kill_test import _env, snakemake_bin

    cmd = [snakemake_bin(), *args, "--cores", "2", "--configfile", configfile]
    proc = subprocess.run(cmd, cwd=reference.workdir, capture_output=True, text=True, env=_env(reference.snapshot),
                          timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


SURROGATE0 = "results/tiny/digits/clean/surrogate/cnn_small/seed0"


def test_model_kwarg_typo_is_refused_before_any_job(reference):
    """Probe 1: `models: {cnn_small: {widht: 16}}` planned 134 jobs, then the surrogate job died with a raw
    TypeError and Snakemake deleted the built surrogate. Now even a real run stops while planning."""
    wd = reference.workdir
    before = _mtimes(wd / SURROGATE0)
    cfg = _tiny()
    cfg["models"] = {"cnn_small": {"widht": 16}}
    (wd / "typo.yaml").write_text(yaml.safe_dump(cfg))
    try:
        rc, out = _ref_snakemake(reference, configfile="typo.yaml")  # not a dry run
    finally:
        (wd / "typo.yaml").unlink()
    assert rc != 0, out[-3000:]
    assert "models.cnn_small: unknown keyword argument(s) ['widht'] for cnn_small; it takes width" in out, out[-3000:]
    assert _mtimes(wd / SURROGATE0) == before and len(before) >= 4
    rc, out = _ref_snakemake(reference, "-n")
    assert rc == 0 and "Nothing to be done" in out, out[-3000:]


def test_builtin_model_kwargs_match_the_builders():
    """The plan reads the built-in models and their keyword arguments from zoo.py's source (no torch); that
    reading is the registered builders' own names and signatures."""
    import inspect

    from prunebench.models import MODELS, builtin_models, zoo  # noqa: F401  (zoo registers the builders)

    assert set(builtin_models()) == set(MODELS.names()) and len(builtin_models()) >= 3
    for name, kwargs in builtin_models().items():
        params = list(inspect.signature(MODELS.get(name)).parameters)
        assert params[:2] == ["in_shape", "num_classes"]
        assert tuple(params[2:]) == kwargs, name


def test_timm_model_kwarg_typo_is_refused(tmp_path):
    """A timm model's keyword arguments are tried on the meta device (no weights, no memory); the answer
    is cached so planning pays the torch import once per change."""
    from prunebench.plan import ConfigError, checks

    cfg = {"models": {"timm-test_vit": {"patch_sise": 4}}}
    with pytest.raises(ConfigError, match=r"models.timm-test_vit: .*'patch_sise'"):
        checks.check_models(cfg, (1, 8, 8), tmp_path)
    checks.check_models({"models": {"timm-test_vit": {"patch_size": 4}}}, (1, 8, 8), tmp_path)
    cache = io.read_json(tmp_path / "model_kwargs.json")
    assert len(cache) == 2 and sorted(v is None for v in cache.values()) == [False, True]
    with pytest.raises(ConfigError, match="unknown model 'cnn_smal'"):
        checks.check_models({"models": {"cnn_smal": {"width": 8}}})
    with pytest.raises(ConfigError, match=r"\['num_classes'\] are set by prunebench"):
        checks.check_models({"models": {"mlp": {"num_classes": 3}}})


def test_unknown_dataset_option_is_refused(tmp_path, capsys):
    """Probe 2a: `prunebench fetch --options '{"n_trian": 20000}'` prepared all 60,000 images; the same typo in
    the config passed the dry run."""
    out = tmp_path / "data" / "fashion_mnist"
    err = cli_error(capsys, ["fetch", "--dataset", "fashion_mnist", "--out", out, "--options", '{"n_trian": 20000}'])
    assert "dataset fashion_mnist: unknown option(s) ['n_trian']; fashion_mnist takes n_train, subset_seed" in err, err
    assert not out.exists()
    wd = make_workdir(tmp_path / "wd")
    cfg = _tiny()
    cfg["dataset"]["options"] = {"test_fracion": 0.5}
    _refused(wd, cfg, "dataset.options: dataset digits: unknown option(s) ['test_fracion']; digits takes split_seed, "
                      "test_fraction")


def test_other_options_under_the_same_dataset_id_are_refused(reference):
    """Probe 2b: a second experiment with the same dataset.id and other options re-fetched data/digits/ under
    results/tiny (165 jobs to redo, score files failing the hash check). Now it is refused, naming both
    settings; the same options spelled out plan no fetch; another dataset.id plans its own folder."""
    wd = reference.workdir
    before = _mtimes(wd / "data" / "digits")
    cfg = _tiny(name="small")
    cfg["dataset"]["options"] = {"test_fraction": 0.5}
    (wd / "small.yaml").write_text(yaml.safe_dump(cfg))
    try:
        rc, out = _ref_snakemake(reference, "-n", configfile="small.yaml")
        assert rc != 0, out[-3000:]
        assert ("dataset.id 'digits': data/digits/ was prepared with options {\"split_seed\": 0, \"test_fraction\": 0.25}; "
                "this config asks for options {\"split_seed\": 0, \"test_fraction\": 0.5}") in out, out[-3000:]
        assert "Set another dataset.id for this config (e.g. id: digits_small)" in out, out[-3000:]
        cfg["dataset"]["options"] = {"test_fraction": 0.25, "split_seed": 0}  # the same data, spelled out
        (wd / "small.yaml").write_text(yaml.safe_dump(cfg))
        rc, out = _ref_snakemake(reference, "-n", configfile="small.yaml")
        assert rc == 0 and "rule fetch" not in out and "rule noise" in out, out[-3000:]
        cfg["dataset"].update(id="digits_half", options={"test_fraction": 0.5})
        (wd / "small.yaml").write_text(yaml.safe_dump(cfg))
        rc, out = _ref_snakemake(reference, "-n", configfile="small.yaml")
        assert rc == 0 and "data/digits_half/train.npz" in out, out[-3000:]
    finally:
        (wd / "small.yaml").unlink()
    assert _mtimes(wd / "data" / "digits") == before


CONTRACT_FILES = {
    "scores": "results/tiny/digits/clean/scores/cnn_small/el2n/seed1.csv",
    "score_meta": "results/tiny/digits/clean/scores/cnn_small/el2n/seed1.meta.json",
    "subset": "results/tiny/digits/clean/subsets/cnn_small/el2n/keep/r0.50/seed1.npy",
    "retrain": "results/tiny/digits/clean/retrain/cnn_small/el2n/keep/r0.50/cnn_small/seed1.json",
}


@pytest.mark.parametrize("kind", list(CONTRACT_FILES))
def test_deleted_contract_file_is_planned_for_rebuild(reference, kind):
    """Probe 3: after a failed or interrupted job Snakemake removes its outputs; the tables downstream
    stay up to date, so `snakemake -n` said "Nothing to be done". Every contract file is a target of
    rule all now (and select declares the score meta.json as an input)."""
    wd = reference.workdir
    f = wd / CONTRACT_FILES[kind]
    aside = wd / "aside.tmp"
    os.replace(f, aside)
    try:
        rc, out = _ref_snakemake(reference, "-n")
    finally:
        os.replace(aside, f)
    assert rc == 0, out[-3000:]
    assert f"Missing output files: {CONTRACT_FILES[kind]}" in out, out[-3000:]
    rc, out = _ref_snakemake(reference, "-n")
    assert "Nothing to be done" in out, out[-3000:]


def test_external_keep_must_agree_with_the_programs_meta(tmp_path, capsys, digits_dir):
    """Probe 4: external_scorers.X.keep was ignored (the program's meta decided). The config's keep and
    the meta's must now agree (the job stops on a mismatch, naming both); the rule passes the key."""
    n = io.read_json(digits_dir / "meta.json")["n_train"]
    p = tmp_path / "seed0.csv"
    scorefile.write(p, np.arange(n, dtype=float), "awk_hash", "high", {}, "x")
    err = cli_error(capsys, ["validate-scores", "--scores", p, "--data", digits_dir, "--keep", "low",
                             "--keep-key", "external_scorers.awkscore.keep"])
    assert "seed0.meta.json: keep is 'high', but the config says external_scorers.awkscore.keep: low" in err, err
    main(["validate-scores", "--scores", str(p), "--data", str(digits_dir), "--keep", "high"])
    wd = make_workdir(tmp_path / "wd")
    cfg = _tiny()
    cfg["external_scorers"] = {"awkscore": {"shell": "bash x.sh {output.scores} {output.meta}", "keep": "low",
                                            "needs_surrogate": False}}
    rc, out = _dry_run(wd, cfg, "-p", "results/tiny/digits/clean/scores/cnn_small/awkscore/seed0.csv")
    assert rc == 0 and "--keep low --keep-key external_scorers.awkscore.keep" in out, out[-3000:]


def _labels_with(path: Path, y: np.ndarray) -> Path:
    io.save_npz(path, y=y, flipped=np.zeros(len(y), bool))
    return path


@pytest.mark.parametrize("bad, message", [
    (10, "1 label(s) outside 0..9 (the dataset's 10 classes), e.g. [10] at index [3]"),
    (-1, "1 label(s) outside 0..9 (the dataset's 10 classes), e.g. [-1] at index [3]"),
    (1000, "1 label(s) outside 0..9 (the dataset's 10 classes), e.g. [1000] at index [3]"),
    ("float", "must be integers (int64), got float64"),
])
def test_select_range_checks_labels(tmp_path, capsys, digits_dir, bad, message):
    """Probe 5: `select` accepted labels 10, -1 and 1000, and float labels."""
    y = io.load_npz(digits_dir / "train.npz")["y"].copy()
    if bad == "float":
        y = y.astype(np.float64)
    else:
        y[3] = bad
    labels = _labels_with(tmp_path / "labels.npz", y)
    p = tmp_path / "seed0.csv"
    scorefile.write(p, np.arange(len(y), dtype=float), "m", "high", {}, "x")
    out = _existing(tmp_path / "seed0.npy")
    err = cli_error(capsys, ["select", "--scores", p, "--labels", labels, "--dataset-meta", digits_dir / "meta.json",
                             "--ratios", 0.5, "--seed", 0, "--out", out])
    assert f"{labels}: labels 'y'" in err and message in err, err
    assert out.read_bytes() == SENTINEL


def test_train_surrogate_range_checks_labels(tmp_path, capsys, digits_dir):
    """Probe 5: `train-surrogate` died with a torch IndexError naming no file."""
    y = io.load_npz(digits_dir / "train.npz")["y"].copy()
    y[7] = 10
    labels = _labels_with(tmp_path / "labels.npz", y)
    out = tmp_path / "run"
    err = cli_error(capsys, ["train-surrogate", "--data", digits_dir, "--labels", labels, "--arch", "mlp", "--seed", 0,
                             "--out", out, "--recipe", '{"epochs": 1}', "--T", 1, "--no-progress"])
    assert f"{labels}: labels 'y': 1 label(s) outside 0..9" in err and "IndexError" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("ratio, message", [
    (0.125, "ratios: 0.125 has more than two decimals, but result paths carry the ratio with two (r0.12: another "
            "ratio); use 0.12 or 0.13"),
    (0.001, "ratios: 0.001 has more than two decimals, but result paths carry the ratio with two (r0.00: nothing "
            "removed); use 0.01"),
])
def test_ratio_the_path_cannot_hold_is_refused(tmp_path, ratio, message):
    """Probe 6: 0.125 became r0.12 and 0.001 became r0.00 (nothing removed); 0.999 (r1.00) passed the dry
    run and failed later — it has three decimals too."""
    _refused(make_workdir(tmp_path), _tiny(ratios=[ratio, 0.5]), message)


def test_duplicate_ratios_are_refused(tmp_path):
    """Probe 6: duplicate ratios gave a Snakemake-internal message without the word `ratios`."""
    _refused(make_workdir(tmp_path), _tiny(ratios=[0.5, 0.3, 0.50]), "ratios: 0.50 is listed twice; list each ratio once")


def test_ratio_keeping_fewer_samples_than_classes_is_refused(tmp_path):
    """Probe 6: a ratio that leaves fewer samples than classes (known once the data are prepared)."""
    from prunebench.data import prepare

    wd = make_workdir(tmp_path)
    meta = prepare("digits", wd / "data" / "digits_small", test_fraction=0.96)
    cfg = _tiny(ratios=[0.5, 0.9])
    cfg["dataset"] = {"name": "digits", "id": "digits_small", "options": {"test_fraction": 0.96}}
    kept = meta["n_train"] - int(np.floor(0.9 * meta["n_train"] + 0.5))
    _refused(wd, cfg, f"ratios: 0.9 keeps {kept} of the {meta['n_train']} training samples, fewer than the 10 classes")


def test_score_file_cut_mid_number_is_refused(tmp_path, capsys, digits_dir, labels):
    """Probe 7: a score file cut mid-number on its last row still parsed (0.12 of 0.1234...)."""
    n = io.read_json(digits_dir / "meta.json")["n_train"]
    p = tmp_path / "seed0.csv"
    scorefile.write(p, np.linspace(0, 1, n) / 3, "m", "high", {}, "x")
    _as_external(p)
    p.write_bytes(p.read_bytes()[:-6])  # the last row loses its newline and its last digits
    assert p.read_text().splitlines()[-1].startswith(f"{n - 1},0.")
    err = cli_error(capsys, ["validate-scores", "--scores", p, "--data", digits_dir])
    assert "seed0.csv: the last row does not end with a newline (file cut short, e.g. mid-number?)" in err, err
    out = _existing(tmp_path / "seed0.npy")
    err = cli_error(capsys, ["select", "--scores", p, "--labels", labels, "--ratios", 0.5, "--seed", 0, "--out", out])
    assert "the last row does not end with a newline" in err and out.read_bytes() == SENTINEL, err


def test_select_checks_every_seed_before_writing(tmp_path, capsys, labels):
    """Probe 7: `select` wrote the first seed's subsets before finding a later seed's file invalid."""
    n = len(io.load_npz(labels)["y"])
    good, bad = tmp_path / "s0" / "seed0.csv", tmp_path / "s1" / "seed1.csv"
    good.parent.mkdir()
    bad.parent.mkdir()
    scorefile.write(good, np.arange(n, dtype=float), "m", "high", {}, "x")
    _bad_score_file(bad, n, "nan")
    outs = [tmp_path / "seed0.npy", _existing(tmp_path / "old" / "seed1.npy")]
    err = cli_error(capsys, ["select", "--scores", good, bad, "--labels", labels, "--ratios", 0.5, "--seed", 0, 1,
                             "--out", *outs])
    assert "seed1.csv: NaN/inf scores at index [5]" in err, err
    assert not outs[0].exists() and outs[1].read_bytes() == SENTINEL


def test_yaml_error_names_the_line(tmp_path, capsys):
    """Probe 7: a YAML error gave no line number. Snakemake loads --configfile itself and reports only
    "not valid JSON or YAML" (its --verbose traceback has the line); `prunebench check-config` names it."""
    wd = make_workdir(tmp_path)
    (wd / "broken.yaml").write_text("name: x\nseeds: 2\n  bad: [1\n")
    proc = run_snakemake(wd, "-n", configfile="broken.yaml", check=False)
    assert proc.returncode != 0 and "not valid JSON or YAML" in proc.stderr + proc.stdout
    err = cli_error(capsys, ["check-config", wd / "broken.yaml", "--workflow", wd / "workflow",
                             "--data-root", wd / "data"])
    assert "broken.yaml: not valid YAML at line 3, column 6: mapping values are not allowed here" in err, err
    main(["check-config", str(wd / "tiny.yaml"), "--workflow", str(wd / "workflow"), "--data-root", str(wd / "data")])
    assert re.search(r"tiny\.yaml: valid \(\d+ scorers, \d+ sweeps\)", capsys.readouterr().out)


def test_unknown_key_is_one_short_message(tmp_path):
    """Probe 7: an unknown key printed about 380 lines of schema dump."""
    out = _refused(make_workdir(tmp_path), _tiny(seeds=2, foo=1), "unknown key 'foo'; known keys here: dataset,")
    assert len(out.splitlines()) < 30, out
    cfg = _tiny()
    cfg["surrogate"]["recipe"]["epoch"] = 3
    _refused(make_workdir(tmp_path / "b"), cfg, "unknown key 'surrogate.recipe.epoch'; known keys here: amp,")


def test_braces_in_an_external_shell_line_are_refused(tmp_path):
    """Probe 7: braces in an external scorer's shell command gave a bare KeyError."""
    cfg = _tiny()
    cfg["external_scorers"] = {"awk": {"shell": "awk '{print $1}' {input.meta} > {output.scores}",
                                       "needs_surrogate": False}}
    _refused(make_workdir(tmp_path), cfg, "external_scorers.awk.shell: {print $1} is not a placeholder prunebench "
                                          "fills in", "write a literal brace doubled, {{ and }}")
    cfg["external_scorers"]["awk"]["shell"] = "bash x.sh {output.score}"
    _refused(make_workdir(tmp_path / "b"), cfg, "{output.score}: output has no 'score' (it has meta, scores)")


def test_corrupt_train_npz_hints_to_refetch(tmp_path, capsys, data_copy):
    """Probe 7: a corrupt train.npz gave no hint to prepare the data again. Its record names the rebuild;
    data prepared before files were recorded still get the hint to prepare them again."""
    (data_copy / "train.npz").write_bytes((data_copy / "train.npz").read_bytes()[:2000])
    err = cli_error(capsys, ["noise", "--data", data_copy, "--noise", "clean", "--out", tmp_path / "labels.npz"])
    assert f"rebuild it: snakemake --cores all --forcerun {data_copy}/train.npz" in err, err
    meta = io.read_json(data_copy / "meta.json")
    del meta["files"]
    io.write_json(data_copy / "meta.json", meta)
    with pytest.raises(ValueError) as exc:
        io.load_npz(data_copy / "train.npz")
    assert f"{data_copy}/train.npz: not a readable archive" in str(exc.value), exc.value


def test_snakemake_inside_workflow_is_refused(tmp_path):
    """Probe 7: snakemake run from workflow/ silently started a new tree under workflow/results."""
    wd = make_workdir(tmp_path)
    proc = run_snakemake(wd / "workflow", "-n", configfile=str(wd / "tiny.yaml"), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "inside the workflow folder" in out, out[-3000:]
    assert f"Run it from the repository root: cd {wd.resolve()} && snakemake" in out, out[-3000:]
    assert not (wd / "workflow" / "results").exists() and not (wd / "workflow" / "data").exists()


def test_ratios_from_the_command_line(tmp_path):
    """Probe 7: `--config 'ratios=[0.5]'` gave `'0.5' is not of type 'number'`."""
    wd = make_workdir(tmp_path)
    cfg = _tiny()
    cfg["sweeps"]["imbalance"].pop("ratios")
    rc, out = _dry_run(wd, cfg, "--config", "ratios=[0.3, 0.5]")
    assert rc == 0, out[-3000:]
    assert "subsets/cnn_small/el2n/keep/r0.30/seed0.npy" in out, out[-3000:]
