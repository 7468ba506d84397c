"""Bad inputs at the command line: every one stops with a message naming the file and the problem,
and writes nothing (a missing output stays missing, an existing one keeps its bytes).

The subcommands run in-process (``prunebench.cli.main``, which turns ValueError/FileNotFoundError/
KeyError into ``prunebench <cmd>: error: ...`` on stderr and exit status 2), so torch is imported
once. The unit-level checks behind these live in test_io_data.py, test_train_scorers_select.py and
test_config.py; the table in docs/reliability.md lists every case tried here.
"""

from __future__ import annotations

import gzip
import json
import shutil
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
    assert f"{data_copy / 'train.npz'}: not a readable .npz file" in err, err
    assert not out.exists()
    _no_temp(tmp_path)


def test_score_rejects_a_corrupted_npz(tmp_path, capsys, data_copy, labels):
    raw = bytearray((data_copy / "train.npz").read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\xff" * 64  # flipped bytes inside the x array
    (data_copy / "train.npz").write_bytes(bytes(raw))
    out = tmp_path / "scores" / "seed0.csv"
    err = cli_error(capsys, ["score", "--method", "random", "--data", data_copy, "--labels", labels, "--out", out])
    assert str(data_copy) in err and ("not a readable .npz" in err or "does not match the sha256" in err), err
    assert not out.exists() and not scorefile.meta_path(out).exists()


def _tamper(data_dir: Path) -> None:
    """A valid npz whose content changed after `prunebench fetch` (one label edited)."""
    z = io.load_npz(data_dir / "train.npz")
    z["y"][0] = (z["y"][0] + 1) % 10
    io.save_npz(data_dir / "train.npz", **z)


def test_score_rejects_a_dataset_whose_content_changed(tmp_path, capsys, data_copy, labels):
    _tamper(data_copy)
    out = _existing(tmp_path / "scores" / "seed0.csv")
    err = cli_error(capsys, ["score", "--method", "random", "--data", data_copy, "--labels", labels, "--out", out])
    assert "content of y_train does not match the sha256 in meta.json" in err and str(data_copy) in err, err
    assert out.read_bytes() == SENTINEL and not scorefile.meta_path(out).exists()


def test_retrain_rejects_a_dataset_whose_content_changed(tmp_path, capsys, data_copy, labels):
    _tamper(data_copy)
    sub = tmp_path / "sub.npy"
    io.save_npy(sub, np.arange(100, dtype=np.int64))
    out = tmp_path / "seed0.json"
    err = cli_error(capsys, ["retrain", "--data", data_copy, "--labels", labels, "--subset", sub, "--seeds", 0,
                             "--out", out, "--target", "mlp", "--recipe", '{"epochs": 1}'])
    assert "content of y_train does not match the sha256 in meta.json" in err, err
    assert not out.exists()


def test_noise_rejects_a_dataset_whose_content_changed(tmp_path, capsys, data_copy):
    _tamper(data_copy)
    out = tmp_path / "labels.npz"
    err = cli_error(capsys, ["noise", "--data", data_copy, "--noise", "clean", "--out", out])
    assert "does not match the sha256" in err
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

def _bad_score_file(p: Path, n: int, bad: str) -> None:
    scores = np.linspace(0, 1, n)
    scorefile.write(p, scores, "m", "high", {}, "x")
    rows = [f"{i},{v!r}" for i, v in enumerate(scores.tolist())]
    meta = io.read_json(scorefile.meta_path(p))
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
    assert f"{ck}: checkpoint missing (re-run the surrogate rule)" in err, err
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
