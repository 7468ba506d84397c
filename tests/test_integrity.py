"""Every contract file is checked against the sha256 its writer recorded before a later step uses it.

The probe behind it: 64 bytes overwritten inside a tensor of a surrogate checkpoint left the zip well-formed
(torch's reader checks no CRC), and a rescore turned the damaged weights into scores, subsets and accuracies
without a word. Each reader now stops with one line naming the file, what its record says, and the command
that rebuilds it; ``prunebench verify`` checks a whole plan.
"""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from prunebench import io, scorefile
from prunebench.cli import main
from prunebench.paths import rebuild_target
from prunebench.select import save_subset


def cli_error(capsys, argv) -> str:
    """Run ``prunebench argv``; it must exit non-zero; returns what it printed on stderr (with the
    message of a ``SystemExit("...")``, which Python prints there when the process ends)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    assert exc.value.code not in (0, None)
    return capsys.readouterr().err + (exc.value.code if isinstance(exc.value.code, str) else "")


def flip_bytes_inside_member(path: Path, member_suffix: str = "", n: int = 64) -> str:
    """Overwrite ``n`` bytes in the middle of the data of a zip member (the archive stays well-formed:
    only the member's CRC no longer matches); returns the member's name."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if i.filename.endswith(member_suffix)), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = np.frombuffer(bytes(raw[info.header_offset + 26 : info.header_offset + 30]), "<u2")
    start = info.header_offset + 30 + int(name_len) + int(extra_len) + info.compress_size // 2 - n // 2
    raw[start : start + n] = bytes(255 - b for b in raw[start : start + n])
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:  # still a readable archive: only the CRC says it changed
        assert info.filename in z.namelist()
    return info.filename


# --- JSON files carry their own hash -----------------------------------------------------------------

def test_json_records_its_own_sha256_and_a_changed_digit_is_refused(tmp_path):
    p = tmp_path / "r.json"
    io.write_json(p, {"test_accuracy": 0.912345, "seed": 1, "curve": [0.5, 0.75], "per": {3: "a", 10: "b"}})
    text = p.read_text()
    assert io.SELF_HASH in text
    assert io.read_json(p) == {"test_accuracy": 0.912345, "seed": 1, "curve": [0.5, 0.75],
                               "per": {"3": "a", "10": "b"}}
    p.write_text(text.replace("0.912345", "0.992345"))
    with pytest.raises(io.IntegrityError, match=r"r\.json: sha256 .* differs from the .* recorded in its own "
                                                r"content_sha256 .*rebuild it: snakemake"):
        io.read_json(p)


def test_json_of_an_external_program_is_read_as_it_is(tmp_path):
    p = tmp_path / "m.json"
    p.write_text('{"method": "mine", "keep": "high"}')
    assert io.read_json(p) == {"method": "mine", "keep": "high"}


def test_rewriting_a_read_json_gives_the_same_bytes(tmp_path):
    p, q = tmp_path / "a.json", tmp_path / "b.json"
    io.write_json(p, {"x": np.float32(0.25), "n": np.int64(3), "a": np.arange(3), "nan": float("nan")})
    io.write_json(q, io.read_json(p))
    assert p.read_bytes() == q.read_bytes()


# --- each reader checks the record -------------------------------------------------------------------

@pytest.fixture
def run_copy(tmp_path, tiny_surrogate):
    data, labels, run = tiny_surrogate
    shutil.copytree(run, tmp_path / "run")
    return data, labels, tmp_path / "run"


def _epoch_checkpoint(run: Path, epoch: int) -> Path:
    ck = next(c for c in io.read_json(run / "surrogate.json")["checkpoints"] if c["epoch_end"] and c["epoch"] == epoch)
    return run / ck["path"]


def test_surrogate_records_every_file(run_copy):
    _, _, run = run_copy
    files = io.read_json(run / "surrogate.json")["files"]
    assert {"dynamics.npz", "model.pt", "train_log.csv"} <= set(files)
    assert sum(k.startswith("checkpoints/") for k in files) == len(list((run / "checkpoints").glob("*.pt"))) >= 4
    for rel, digest in files.items():
        assert io.sha256_file(run / rel) == digest


def test_a_checkpoint_changed_inside_a_tensor_stops_the_scorer(tmp_path, capsys, run_copy):
    data, labels, run = run_copy
    ck = _epoch_checkpoint(run, 2)
    flip_bytes_inside_member(ck, "/data/0")
    out = tmp_path / "scores" / "seed0.csv"
    err = cli_error(capsys, ["score", "--method", "grand", "--data", data, "--labels", labels, "--surrogate", run,
                             "--params", '{"epoch": 2}', "--out", out, "--device", "cpu", "--no-progress"])
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"prunebench score: error: {ck}: sha256 "), err
    assert f"recorded in {run / 'surrogate.json'}" in line
    assert line.endswith(f"rebuild it: snakemake --cores all --forcerun {run}/surrogate.json"), line
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_an_unrecorded_checkpoint_is_still_checked_by_its_zip_crc(tmp_path, capsys, run_copy):
    """A run whose manifest lists no hashes (written before they were recorded): the CRCs still catch it."""
    data, labels, run = run_copy
    meta = io.read_json(run / "surrogate.json")
    del meta["files"]
    io.write_json(run / "surrogate.json", meta)
    ck = _epoch_checkpoint(run, 2)
    member = flip_bytes_inside_member(ck, "/data/0")
    err = cli_error(capsys, ["score", "--method", "grand", "--data", data, "--labels", labels, "--surrogate", run,
                             "--params", '{"epoch": 2}', "--out", tmp_path / "s.csv", "--device", "cpu",
                             "--no-progress"])
    assert f"{ck}: member {member} fails its zip CRC" in err, err


def test_changed_dynamics_stop_a_dynamics_scorer(tmp_path, capsys, run_copy):
    data, labels, run = run_copy
    flip_bytes_inside_member(run / "dynamics.npz")
    err = cli_error(capsys, ["score", "--method", "dynunc", "--data", data, "--labels", labels, "--surrogate", run,
                             "--params", '{"J": 2}', "--out", tmp_path / "s.csv", "--no-progress"])
    assert f"{run / 'dynamics.npz'}: sha256 " in err and "--forcerun" in err, err


def test_a_changed_score_digit_stops_selection(tmp_path, capsys, digits_dir, labels_file):
    csv = tmp_path / "scores" / "seed0.csv"
    n = len(io.load_npz(labels_file)["y"])
    scorefile.write(csv, np.linspace(0, 1, n), method="m", keep="high", params={},
                    dataset_sha256="x")
    lines = csv.read_text().splitlines()
    lines[5] = lines[5][:-1] + ("1" if lines[5][-1] != "1" else "2")  # still a valid row, another number
    csv.write_text("\n".join(lines) + "\n")
    err = cli_error(capsys, ["select", "--scores", csv, "--labels", labels_file, "--ratios", "0.5",
                             "--out", tmp_path / "sub.npy"])
    assert f"invalid score file: {csv}: sha256 " in err and f"recorded in {scorefile.meta_path(csv)}" in err, err
    assert not (tmp_path / "sub.npy").exists()


def test_a_changed_subset_stops_retraining(tmp_path, capsys, digits_dir, labels_file):
    y = io.load_npz(labels_file)["y"]
    sub = tmp_path / "r0.50" / "seed0.npy"
    save_subset(sub, np.arange(0, len(y), 2, dtype=np.int64), y, {"strategy": "keep"})
    assert io.read_json(io.sidecar(sub))["sha256"] == io.sha256_file(sub)
    np.save(sub, np.arange(1, len(y), 2, dtype=np.int64))  # a valid subset, not the one recorded
    err = cli_error(capsys, ["retrain", "--data", digits_dir, "--labels", labels_file, "--subset", sub,
                             "--seeds", "0", "--out", tmp_path / "res.json", "--target", "cnn_small",
                             "--recipe", '{"epochs": 1}', "--no-progress"])
    assert f"{sub}: sha256 " in err and f"--forcerun {sub}" in err, err
    assert not (tmp_path / "res.json").exists()


def test_changed_labels_stop_every_reader(tmp_path, capsys, digits_dir):
    from prunebench.data.labels import save_labels

    labels = tmp_path / "labels.npz"
    y = io.load_npz(digits_dir / "train.npz")["y"]
    save_labels(labels, y, np.zeros(len(y), bool), noise="clean", seed=0)
    assert io.read_json(io.sidecar(labels))["sha256"] == io.sha256_file(labels)
    flip_bytes_inside_member(labels, "y.npy", n=8)
    err = cli_error(capsys, ["select", "--full", "--labels", labels, "--ratios", "0", "--out", tmp_path / "f.npy"])
    assert f"{labels}: sha256 " in err and f"recorded in {tmp_path / 'labels.meta.json'}" in err, err


def test_a_changed_retrain_result_stops_the_tables(tmp_path, capsys):
    res = tmp_path / "results/e/digits/clean/retrain/a/m/keep/r0.50/a/seed0.json"
    io.write_json(res, {"exp": "e", "dataset": "digits", "noise": "clean", "arch": "a", "scorer": "m",
                        "strategy": "keep", "ratio": 0.5, "target": "a", "seed": 0, "test_accuracy": 0.9})
    res.write_text(res.read_text().replace('"test_accuracy": 0.9', '"test_accuracy": 0.99'))
    err = cli_error(capsys, ["aggregate", "--results", res, "--out", tmp_path / "t.csv", "--summary",
                             tmp_path / "s.csv"])
    assert f"{res}: sha256 " in err and f"--forcerun {res}" in err, err


def test_prepared_data_record_their_files(tmp_path, capsys, digits_dir):
    d = tmp_path / "digits"
    shutil.copytree(digits_dir, d)
    meta = io.read_json(d / "meta.json")
    assert meta["files"] == {f: io.sha256_file(d / f) for f in ("train.npz", "test.npz")}
    flip_bytes_inside_member(d / "test.npz", "x.npy")
    err = cli_error(capsys, ["noise", "--data", d, "--noise", "clean", "--out", tmp_path / "labels.npz"])
    assert f"{d / 'test.npz'}: sha256 " in err and f"--forcerun {d / 'test.npz'}" in err, err


def test_rebuild_targets_are_rule_outputs():
    run = "results/e/digits/clean/surrogate/cnn_small/seed0"
    assert rebuild_target(f"{run}/checkpoints/step22.pt") == f"{run}/surrogate.json"
    assert rebuild_target(f"{run}/dynamics.npz") == f"{run}/dynamics.npz"
    variant = "results/e/digits/clean/surrogate/cnn_small/moso-release/seed1"
    assert rebuild_target(f"{variant}/part3/checkpoints/step4.pt") == variant
    assert rebuild_target(f"{variant}/part3/surrogate.json") == variant


@pytest.fixture
def labels_file(tmp_path, digits_dir) -> Path:
    from prunebench.data.labels import save_labels

    y = io.load_npz(digits_dir / "train.npz")["y"]
    p = tmp_path / "labels" / "labels.npz"
    save_labels(p, y, np.zeros(len(y), bool), noise="clean", seed=0)
    return p


# --- the whole plan: prunebench verify and a forced rescore in the tiny run ---------------------------

TINY_RUN = "results/tiny/digits/clean"


@pytest.fixture
def run_tree(tmp_path, reference):
    """A copy of the finished tiny run (its .snakemake metadata and mtimes included)."""
    dst = tmp_path / "wd"
    shutil.copytree(reference.workdir, dst, symlinks=True)
    return dst


def _verify(capsys, wd: Path, monkeypatch) -> tuple[int, str]:
    monkeypatch.chdir(wd)
    try:
        main(["verify", "tiny.yaml"])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


def test_verify_checks_every_kind_of_contract_file(run_tree, capsys, monkeypatch):
    code, out = _verify(capsys, run_tree, monkeypatch)
    assert code == 0, out
    assert "0 damaged, 0 missing" in out and "carry no recorded sha256" not in out, out
    sur = f"{TINY_RUN}/surrogate/cnn_small/seed0"
    damaged = {
        "data/digits/train.npz": "data/digits/train.npz",
        f"{TINY_RUN}/labels.npz": f"{TINY_RUN}/labels.npz",
        f"{sur}/checkpoints/" + sorted(p.name for p in (run_tree / sur / "checkpoints").glob("*.pt"))[0]:
            f"{sur}/surrogate.json",
        f"{sur}/dynamics.npz": f"{sur}/dynamics.npz",
        f"{sur}/model.pt": f"{sur}/model.pt",
    }
    for rel in damaged:
        flip_bytes_inside_member(run_tree / rel, n=8)
    score = f"{TINY_RUN}/scores/cnn_small/el2n/seed0.csv"
    text = (run_tree / score).read_text().splitlines()
    text[3] = text[3][:-1] + ("1" if text[3][-1] != "1" else "2")
    (run_tree / score).write_text("\n".join(text) + "\n")
    damaged[score] = score
    subset = f"{TINY_RUN}/subsets/cnn_small/el2n/keep/r0.50/seed1.npy"
    kept = np.load(run_tree / subset)
    np.save(run_tree / subset, kept[::-1].copy())
    damaged[subset] = subset
    result = f"{TINY_RUN}/retrain/cnn_small/el2n/keep/r0.50/cnn_small/seed1.json"
    r = json.loads((run_tree / result).read_text())
    r["test_accuracy"] = 1.0
    (run_tree / result).write_text(json.dumps(r))
    damaged[result] = result
    code, out = _verify(capsys, run_tree, monkeypatch)
    assert code == 1, out
    for rel in damaged:
        assert f"DAMAGED {rel}: " in out, (rel, out)
    force = next(line for line in out.splitlines() if "--forcerun" in line).split("--forcerun ")[1].split()
    assert sorted(force) == sorted(set(damaged.values())), force
    assert "snakemake --cores all --configfile tiny.yaml --forcerun" in out


def test_forced_rescore_on_a_damaged_checkpoint_fails_with_one_line(run_tree):
    """The probe, as a user runs it: the checkpoint el2n reads is damaged inside a tensor, the score is
    forced to rerun → the job fails, its log says which file and how to rebuild it, no score is written."""
    from conftest import run_snakemake

    sur = run_tree / TINY_RUN / "surrogate/cnn_small/seed0"
    for ck in sorted((sur / "checkpoints").glob("*.pt")):
        flip_bytes_inside_member(ck, "/data/0")
    target = f"{TINY_RUN}/scores/cnn_small/el2n/seed0.csv"
    before = (run_tree / target).read_bytes()
    proc = run_snakemake(run_tree, "--forcerun", target, "--until", target, check=False)
    assert proc.returncode != 0, proc.stdout[-2000:]
    log = (run_tree / "results/tiny/logs/scores/digits/clean/cnn_small/el2n.log").read_text()
    errors = [line for line in log.splitlines() if "error:" in line]
    assert len(errors) == 1, log
    assert f"{TINY_RUN}/surrogate/cnn_small/seed0/checkpoints/step" in errors[0], errors
    assert (f"rebuild it: snakemake --cores all --configfile tiny.yaml --forcerun "
            f"{TINY_RUN}/surrogate/cnn_small/seed0/surrogate.json") in errors[0], errors
    assert not (run_tree / target).exists() or (run_tree / target).read_bytes() == before
