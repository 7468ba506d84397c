"""Paper-scale presets: the seed papers' settings, every plain top-level key stated (the named maps merge
by entry, plan.merge_config), and `snakemake -n --profile workflow/profiles/slurm`
plans each one in seconds without reading any data (their dataset folders do not exist here)."""

import copy
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, snakemake_bin

from prunebench import plan

PRESETS = ["cifar10", "cifar100", "tiny_imagenet", "imagenet"]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
GPU_RULES = re.compile(r"^(train_surrogate|train_surrogate_variant|score|solve|retrain_\w+)$")
RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def _load(name):
    return yaml.safe_load(open(ROOT / "config" / "presets" / f"{name}.yaml"))


def _merged(name):
    """What `snakemake --configfile config/presets/<name>.yaml` sees (plan.merge_config)."""
    return plan.load_config(ROOT / "config" / "presets" / f"{name}.yaml")


def _validate(cfg):
    from snakemake.utils import validate

    validate(copy.deepcopy(cfg), str(SCHEMA))


def _settings(cfg):
    specs = plan.check(cfg)
    return {tuple(sorted(s.items())) for s in plan.retrain_settings(cfg, specs)}, specs


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_the_papers_setting(name):
    cfg = _merged(name)
    rec = cfg["surrogate"]["recipe"]
    assert cfg["name"] == name and cfg["dataset"]["name"] == name and cfg["device"] == "cuda"
    assert cfg["seeds"] >= 5 and cfg["ratios"] == RATIOS
    assert rec["optimizer"] == "sgd" and rec["momentum"] == 0.9 and rec["lr"] == 0.1 and rec["schedule"] == "cosine"
    assert rec["augment"] == "crop_flip" and cfg["retrain"]["recipe"] is None
    arch = cfg["sweeps"]["main"]["arch"]
    if name == "imagenet":
        assert arch == ["timm-resnet50"] and rec["epochs"] == 90 and rec["batch_size"] == 256
        assert rec["weight_decay"] == 1e-4 and cfg["dataset"]["options"]["size"] in (64, 112, 224)
    else:
        assert arch == ["timm-resnet18"] and rec["epochs"] == 200 and rec["batch_size"] == 128
        assert rec["nesterov"] is True and rec["weight_decay"] == 5e-4
    assert cfg["scorers"]["moso"]["params"]["T"] == 10 and cfg["scorers"]["dynunc"]["params"]["J"] == 10
    if name in ("tiny_imagenet", "imagenet"):
        assert cfg["dataset"]["source"] and cfg["dataset"]["id"] != name  # id names the image size


@pytest.mark.parametrize("name", PRESETS)
def test_preset_states_every_plain_key(name):
    """Nothing of the small CPU default leaks into a paper-scale preset: it states every top-level key but
    the named maps, which it changes entry by entry (a scorer added to the default runs there too)."""
    alone, merged = _load(name), _merged(name)
    default = yaml.safe_load(open(ROOT / "config" / "config.yaml"))
    assert set(alone) >= set(default) - set(plan.NAMED_MAPS), sorted(set(default) - set(alone))
    _validate(merged)
    settings, _ = _settings(merged)
    assert len(settings) > 10
    for key in ("name", "dataset", "device", "seeds", "surrogate", "retrain", "ratios", "sweeps"):
        assert merged[key] == alone[key], key
    archs = set(merged["models"]) | {"same"}
    assert {dict(s)["arch"] for s in settings} | {dict(s)["target"] for s in settings} <= archs


ALL_CONFIGS = [*(ROOT / "config" / "presets").glob("*.yaml"), ROOT / "tests" / "data" / "tiny.yaml"]


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.stem)
def test_a_scorer_added_to_the_default_runs_in_every_preset(path, tmp_path):
    """Issue 20: one line in config/config.yaml puts a new scorer in every preset's head-to-head (and the
    tests' tiny config), except where a preset says ``replace: [scorers]`` (a study of one method)."""
    default = yaml.safe_load(open(ROOT / "config" / "config.yaml"))
    default["scorers"]["toy_new"] = {"method": "random"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(default, sort_keys=False))
    cfg = plan.load_config(path, default=tmp_path / "config.yaml")
    settings, _ = _settings(cfg)
    main = {dict(s)["scorer"] for s in settings}
    replaces = "scorers" in (yaml.safe_load(path.read_text()).get("replace") or [])
    assert ("toy_new" in main) != replaces, path.name
    without, _ = _settings(plan.load_config(path))
    assert {s for s in settings if dict(s)["scorer"] != "toy_new"} == without  # nothing else changes


def test_merge_config_rules():
    default = {"name": "d", "surrogate": {"recipe": {"epochs": 8, "lr": 0.1}, "T": 5},
               "scorers": {"a": {}, "b": {"params": {"J": 2}}}, "models": {"m": {"width": 8}}}
    got = plan.merge_config(default, {"surrogate": {"recipe": {"epochs": 2}},
                                       "scorers": {"b": {"params": {"J": 3}}, "c": {}, "a": None}})
    assert got["surrogate"] == {"recipe": {"epochs": 2}}  # a plain key: replaced whole
    assert got["scorers"] == {"b": {"params": {"J": 3}}, "c": {}}  # by entry; null drops a
    assert got["models"] == default["models"] and got["name"] == "d"
    assert plan.merge_config(default, {"replace": ["scorers"], "scorers": {"c": {}}})["scorers"] == {"c": {}}
    assert default["scorers"] == {"a": {}, "b": {"params": {"J": 2}}}  # the default is not touched
    with pytest.raises(plan.ConfigError, match="scorers.zz: null removes an entry of the default config"):
        plan.merge_config(default, {"scorers": {"zz": None}})
    with pytest.raises(plan.ConfigError, match="replace: \\['surrogate'\\]"):
        plan.merge_config(default, {"replace": ["surrogate"]})


def _workdir(tmp: Path) -> Path:
    import shutil

    for d in ("workflow", "config"):
        shutil.copytree(ROOT / d, tmp / d, ignore=shutil.ignore_patterns(".snakemake", "__pycache__"))
    return tmp


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """`snakemake -n --profile workflow/profiles/slurm --configfile <preset>` for every preset, in
    parallel; dataset folders that do not exist (planning must not read data)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    procs = {}
    for name in PRESETS:
        wd = _workdir(tmp_path_factory.mktemp(f"dry_{name}"))
        ds = _load(name)["dataset"]
        nowhere = {"dataset": {**ds, "source": str(wd / "no" / "such" / "folder")}}
        (wd / "nowhere.yaml").write_text(yaml.safe_dump(nowhere))
        cmd = [snakemake_bin(), "-n", "--profile", "workflow/profiles/slurm",
               "--configfile", f"config/presets/{name}.yaml", "nowhere.yaml"]
        procs[name] = (wd, time.perf_counter(), subprocess.Popen(cmd, cwd=wd, env=env, text=True,
                                                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    out = {}
    for name, (wd, t0, p) in procs.items():
        text, _ = p.communicate(timeout=600)
        out[name] = (p.returncode, text, time.perf_counter() - t0, wd)
    return out


def _jobs(text):
    """(rule, resources dict) for every job block of a dry-run's output."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        r = re.search(r"^\s+resources: (.*)$", block, re.M)
        if m:
            res = dict(kv.split("=", 1) for kv in r.group(1).split(", ")) if r else {}
            jobs.append((m.group(1), res))
    return jobs


@pytest.mark.parametrize("name", PRESETS)
def test_slurm_dry_run_plans_the_preset(dry_runs, name):
    rc, text, seconds, wd = dry_runs[name]
    assert rc == 0, text[-4000:]
    assert "This was a dry-run" in text and "Using profiles workflow/profiles/slurm" in text
    assert seconds < 240, f"planning took {seconds:.0f} s"
    assert not (wd / "data").exists() and not (wd / "results").exists()  # nothing read or written
    jobs = _jobs(text)
    rules = {r for r, _ in jobs}
    assert {"fetch", "noise", "train_surrogate", "score", "select"} <= rules
    assert any(r.startswith("retrain") for r in rules)
    cfg = _load(name)
    n_sur = sum(1 for r, _ in jobs if r == "train_surrogate")
    assert n_sur >= cfg["seeds"]
    # GPU rules ask for one GPU (the plugin's --gpus=1) and paper-scale runtimes; CPU rules none
    for rule, res in jobs:
        gpu = int(res.get("gpu", 0))
        if GPU_RULES.match(rule):
            assert gpu == 1, (rule, res)
            assert int(res["runtime"]) >= 720, (rule, res)
        else:
            assert gpu == 0, (rule, res)
    fetch = [res for r, res in jobs if r == "fetch"]
    assert len(fetch) == 1 and int(fetch[0]["mem_mb"]) >= 16000
    # nothing of the small CPU default leaks in
    assert "cnn_small" not in text and "digits" not in text


def test_plugin_turns_gpu_resource_into_gpus_flag():
    """The installed executor plugin: gpu=1 → `--gpus=1`; gpu=0 → nothing (CPU rules)."""
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Res(dict):
        __getattr__ = dict.get

    class Job:
        def __init__(self, **res):
            self.resources = Res(res)

    assert set_gres_string(Job(gpu=1)).strip() == "--gpus=1"
    assert set_gres_string(Job(gpu=0)).strip() == ""
    assert set_gres_string(Job()).strip() == ""
    assert set_gres_string(Job(gpu=1, gpu_model="a100")).strip() == "--gpus=a100:1"
