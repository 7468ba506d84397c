"""Config probes that slipped through planning: ``scorers: {}`` refused with an error about a setting the
user never wrote. Each is refused by ``prunebench check-config`` and ``snakemake -n`` with a message naming the
key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, make_workdir, run_snakemake

from prunebench import plan
from prunebench.cli import main


def _tiny(**top) -> dict:
    cfg = yaml.safe_load((ROOT / "tests" / "data" / "tiny.yaml").read_text())
    cfg.update(top)
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
