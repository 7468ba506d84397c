"""Config probes that slipped through planning: a ratio that empties the classes of a long-tailed dataset
(checked on the configured dataset only), and ``scorers: {}`` refused with an error about a setting the user
never wrote. Each is refused by ``prunebench check-config`` and ``snakemake -n`` with a message naming the
key and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, make_workdir, run_snakemake

from prunebench import plan
from prunebench.cli import main
from prunebench.data.base import FACTS
from prunebench.data.contract import long_tail_counts
from prunebench.plan import checks

#: digits' training set with the default split, and its long-tailed variant at imbalance 1000
DIGITS_COUNTS = [134, 136, 133, 137, 136, 136, 136, 134, 130, 135]
LT1000_COUNTS = [134, 63, 29, 13, 6, 2, 1, 1, 1, 1]
LT1000_REFUSED = ("sweeps.imbalance.ratios: 0.99 keeps 3 of the 251 training samples, fewer than the 10 classes "
                  "of digits-lt1000 (sweeps.imbalance.imbalance: 1000; no subset can hold every class: its smallest "
                  "classes, 6, 7, 8 and 9, have 1 sample each, and removing 0.99 of each leaves 0.01); use a smaller "
                  "ratio or a smaller imbalance")


def _tiny(**top) -> dict:
    cfg = yaml.safe_load((ROOT / "tests" / "data" / "tiny.yaml").read_text())
    cfg.update(top)
    return cfg


def _long_tail(ratio: float, rho: int = 1000) -> dict:
    """The tiny config whose imbalance sweep runs on digits-lt{rho} at ``ratio``."""
    cfg = _tiny(ratios=sorted({0.5, ratio}))
    cfg["sweeps"]["imbalance"].update(imbalance=[rho], ratios=[ratio])
    return cfg


def _check_config(capsys, wd: Path, cfg: dict, name: str = "probe.yaml") -> tuple[int, str]:
    """``prunebench check-config`` on ``cfg`` written to ``wd/name``, data under ``wd/data``: (exit code, output)."""
    (wd / name).write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    try:
        main(["check-config", str(wd / name), "--workflow", str(wd / "workflow"), "--data-root", str(wd / "data")])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out + out.err


def _plan_check(cfg: dict, data_root: Path) -> None:
    """The dry run's checks, in its order, on the effective config of ``cfg``."""
    full = plan.merge_config(yaml.safe_load((ROOT / plan.DEFAULT_CONFIG).read_text()), cfg)
    plan.validate_config(full, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    n_train = plan.n_train_hint(full, str(data_root))
    checks.check_plan(full, n_train, data_root=data_root, cache_dir=None)
    plan.check(full, n_train=n_train)


def _fake_meta(data_root: Path, dataset: str, counts: list[int] | None, n_train: int | None = None) -> Path:
    """A prepared dataset's ``meta.json`` only (no arrays), as ``prunebench long-tail`` writes it."""
    meta = {"name": "digits", "num_classes": 10, "shape": [1, 8, 8], "n_train": n_train or sum(counts),
            "n_test": 450, "x_dtype": "float32"}
    if counts is not None:
        meta["long_tail"] = {"ratio": 1000.0, "seed": 0, "base": "digits", "class_counts": counts}
    (data_root / dataset).mkdir(parents=True, exist_ok=True)
    (data_root / dataset / "meta.json").write_text(json.dumps(meta))
    return data_root / dataset / "meta.json"


# --- probe: the class-count check skipped long-tailed data ------------------------------------------

def test_known_class_counts_are_the_loaders(digits_dir):
    """The counts the dry run derives without data are those a prepared dataset has."""
    y = np.load(digits_dir / "train.npz")["y"]
    assert plan.known_class_counts("digits") == np.bincount(y).tolist() == DIGITS_COUNTS
    assert plan.prepared_class_counts(digits_dir) == DIGITS_COUNTS  # from the labels (meta has no counts)
    assert long_tail_counts(DIGITS_COUNTS, 1000).tolist() == LT1000_COUNTS and sum(LT1000_COUNTS) == 251
    for name, facts in FACTS.items():
        if name != "imagenet":  # its classes differ in size: known once prepared
            assert sum(plan.known_class_counts(name)) == facts.n_train, name
            assert len(plan.known_class_counts(name)) == facts.num_classes, name
    assert sum(plan.known_class_counts("fashion_mnist", {"n_train": 20000})) == 20000
    assert plan.known_class_counts("imagenet", {"n_per_class": 100}) == [100] * 1000
    assert plan.known_class_counts("imagenet") is None
    assert plan.known_class_counts("tiny_imagenet", {"strict": False}) is None


def test_long_tail_ratio_emptying_classes_is_refused_at_dry_run(tmp_path, capsys):
    """imbalance 1000 at ratio 0.99: 3 of 251 samples for 10 classes. No data prepared: the counts are
    derived from digits' known class sizes, as the long_tail rule will keep them."""
    wd = make_workdir(tmp_path)
    code, out = _check_config(capsys, wd, _long_tail(0.99))
    assert code != 0 and LT1000_REFUSED in out, out
    with pytest.raises(plan.ConfigError, match="0.99 keeps 3 of the 251 training samples"):
        _plan_check(_long_tail(0.99), wd / "data")
    # snakemake -n, the probe as a user runs it
    proc = run_snakemake(wd, "-n", configfile="probe.yaml", check=False)
    assert proc.returncode != 0 and LT1000_REFUSED in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert not (wd / "data").exists() and not (wd / "results").exists()


def test_long_tail_ratio_emptying_classes_is_refused_once_its_meta_exists(tmp_path, capsys):
    """The same once data/digits-lt1000/meta.json exists; its counts are the ones read (not re-derived)."""
    wd = make_workdir(tmp_path)
    _fake_meta(wd / "data", "digits-lt1000", LT1000_COUNTS)
    code, out = _check_config(capsys, wd, _long_tail(0.99))
    assert code != 0 and LT1000_REFUSED in out, out
    # a meta whose counts differ from the derivation: 0.9 keeps 25 of the derived 251 but 4 of these 40
    _fake_meta(wd / "data", "digits-lt1000", [20, 6, 3, 3, 2, 2, 1, 1, 1, 1])
    with pytest.raises(plan.ConfigError) as exc:
        _plan_check(_long_tail(0.9), wd / "data")
    assert str(exc.value) == (
        "sweeps.imbalance.ratios: 0.9 keeps 4 of the 40 training samples, fewer than the 10 classes of digits-lt1000 "
        "(sweeps.imbalance.imbalance: 1000; no subset can hold every class: its smallest classes, 6, 7, 8 and 9, "
        "have 1 sample each, and removing 0.9 of each leaves 0.1); use a smaller ratio or a smaller imbalance")
    # a meta without class counts (and no arrays): its size alone still refuses
    _fake_meta(wd / "data", "digits-lt1000", None, n_train=251)
    with pytest.raises(plan.ConfigError, match=r"0.99 keeps 3 of the 251 training samples, fewer than the 10 "
                                               r"classes of digits-lt1000 \(sweeps.imbalance.imbalance: 1000; no "
                                               r"subset can hold every class\); use a smaller ratio"):
        _plan_check(_long_tail(0.99), wd / "data")


def test_long_tail_counts_come_from_the_prepared_base(tmp_path, digits_dir):
    """With data/digits prepared (and its long-tailed variant not yet), the variant's counts are derived
    from the prepared labels."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "digits").symlink_to(digits_dir)
    with pytest.raises(plan.ConfigError, match=r"0.99 keeps 3 of the 251 training samples"):
        _plan_check(_long_tail(0.99), tmp_path / "data")
    _plan_check(_long_tail(0.9), tmp_path / "data")


def test_sane_long_tail_configs_pass(tmp_path, capsys):
    """Ratios that keep a sample per class pass: imbalance 1000 at 0.9 (25 of 251), the tiny config's
    imbalance 5 at 0.5, with and without the variant's meta."""
    wd = make_workdir(tmp_path)
    code, out = _check_config(capsys, wd, _long_tail(0.9))
    assert code == 0 and "probe.yaml: valid" in out, out
    _plan_check(_tiny(), wd / "data")
    _fake_meta(wd / "data", "digits-lt1000", LT1000_COUNTS)
    _plan_check(_long_tail(0.9), wd / "data")
    # the configured dataset's own check keeps its wording, now naming the dataset and its smallest class
    cfg = _tiny(ratios=[0.5, 0.9])
    cfg["dataset"] = {"name": "digits", "id": "digits_small", "options": {"test_fraction": 0.96}}
    with pytest.raises(plan.ConfigError, match=r"^ratios: 0.9 keeps 7 of the 70 training samples, fewer than the "
                                               r"10 classes of digits_small \(no subset can hold every class: its "
                                               r"smallest class"):
        _plan_check(cfg, wd / "data")  # not prepared: known from digits' class sizes and the split


# --- probe: `scorers: {}` failed on a setting the user never wrote -----------------------------------

def test_an_empty_named_map_is_refused_saying_it_removes_nothing(tmp_path, capsys):
    """``scorers: {}`` merged with the default's entries, so the tiny config failed on the default el2n's
    epoch 3 (``scorers.el2n: epoch = 3 ... save_epochs = [2]``): now it says what an empty map does."""
    default = yaml.safe_load((ROOT / plan.DEFAULT_CONFIG).read_text())
    with pytest.raises(plan.ConfigError) as exc:
        plan.merge_config(default, {"scorers": {}})
    msg = str(exc.value)
    assert msg.startswith("scorers: {} removes nothing: a config file's scorers merge entry by entry with the "
                          f"default config's, so an empty map leaves all {len(default['scorers'])} of the "
                          "default's (aum-ccs, dynunc, "), msg
    assert msg.endswith("To remove entries, set them to null (scorers: {aum-ccs: null}); to replace the whole map, "
                        "add replace: [scorers] and list the entries to keep under scorers"), msg
    with pytest.raises(plan.ConfigError, match=r"^models: \{\} removes nothing"):
        plan.merge_config(default, {"models": {}})
    wd = make_workdir(tmp_path)
    code, out = _check_config(capsys, wd, _tiny(scorers={}))
    assert code != 0 and "scorers: {} removes nothing" in out and "save_epochs" not in out, out
    proc = run_snakemake(wd, "-n", configfile="probe.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "scorers: {} removes nothing" in out and "save_epochs" not in out, out[-3000:]


def test_replacing_or_emptying_a_map_the_intended_ways_still_works(tmp_path, capsys):
    default = yaml.safe_load((ROOT / plan.DEFAULT_CONFIG).read_text())
    keep = {"random": {}, "el2n": {"params": {"epoch": 2}}}
    assert plan.merge_config(default, {"replace": ["scorers"], "scorers": keep})["scorers"] == keep
    assert plan.merge_config(default, {"replace": ["scorers"], "scorers": {}})["scorers"] == {}  # said outright
    assert plan.merge_config(default, {"external_scorers": {}})["external_scorers"] == {}  # the default's is empty
    assert "el2n" not in plan.merge_config(default, {"scorers": {"el2n": None}})["scorers"]
    cfg = _tiny(replace=["scorers"], scorers=keep)
    cfg["sweeps"]["ablation"]["scorers"] = ["el2n"]
    code, out = _check_config(capsys, make_workdir(tmp_path), cfg)
    assert code == 0 and "probe.yaml: valid (3 scorers, 4 sweeps)" in out, out  # random, el2n, el2n-uniform
