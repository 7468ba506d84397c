"""Bad configs are stopped by the schema or plan.check before any job runs."""

import copy
from pathlib import Path

import pytest
import yaml

from prunebench import plan
from prunebench.data.contract import dataset_facts

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _tiny():
    return plan.load_config(ROOT / "tests" / "data" / "tiny.yaml")


def _validate(cfg):
    from snakemake.utils import validate

    validate(copy.deepcopy(cfg), str(SCHEMA))


def test_shipped_configs_validate():
    for f in [ROOT / "config" / "config.yaml", ROOT / "tests" / "data" / "tiny.yaml",
              *sorted((ROOT / "config" / "presets").glob("*.yaml"))]:
        cfg = plan.load_config(f)  # the default onto itself is the default
        _validate(cfg)
        plan.check(cfg)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda c: c["surrogate"]["recipe"].update(epochs=-1), "minimum"),
        (lambda c: c["surrogate"]["recipe"].update(epochs="ten"), "integer"),
        (lambda c: c.update(ratios=[0.5, 1.0]), "exclusiveMaximum|less than"),
        (lambda c: c.update(ratios=[-0.1]), "exclusiveMinimum|greater than"),
        (lambda c: c["dataset"].update(name="mnist3d"), "mnist3d"),
        (lambda c: c.update(seeds=0), "minimum"),
        (lambda c: c["sweeps"]["main"].update(noise=["sym200"]), "sym200"),
        (lambda c: c.update(unknown_key=1), "unknown_key|Additional properties"),
        (lambda c: c["sweeps"]["main"].update(imbalance=[0]), "minimum"),
        (lambda c: c["sweeps"]["main"].update(imbalance=[2.5]), "integer"),
    ],
)
def test_schema_rejects(mutate, match):
    cfg = _tiny()
    mutate(cfg)
    with pytest.raises(Exception, match=match):
        _validate(cfg)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda c: c["scorers"].update(nosuch={}), "unknown scorer 'nosuch'"),
        (lambda c: c["scorers"]["dynunc"].update(params={"J": 9}), "window J = 9 exceeds"),
        (lambda c: c["scorers"]["el2n"].update(params={"epoch": 7}), "epoch = 7 outside"),
        (lambda c: c["scorers"].update(grand={"params": {"epoch": 0}}), "grand: epoch = 0 outside 1..4"),
        (lambda c: c["scorers"]["moso"].update(params={"T": 50}), "T = 50 but the surrogate saves only surrogate.T"),
        (lambda c: c["scorers"]["el2n"].update(params={"epochs": 2}), "unknown parameter"),
        (lambda c: c["sweeps"]["main"].update(arch=["resnet9000"]), "unknown model 'resnet9000'"),
        (lambda c: c["sweeps"]["main"].update(scorers=["el2n", "nope"]), "scorer 'nope' is not configured"),
        (lambda c: c["sweeps"]["main"].update(strategies=["bogus"]), "unknown strategy 'bogus'"),
        (lambda c: c["sweeps"]["main"].update(ratios=[0.9]), "not in the global ratios"),
        (lambda c: c["surrogate"].update(T=100), "surrogate.T = 100 exceeds the 44 training steps"),
    ],
)
def test_plan_rejects(mutate, match):
    cfg = _tiny()
    mutate(cfg)
    with pytest.raises(plan.ConfigError, match=match):
        plan.check(cfg, n_train=1347)


def test_retrain_settings_expand_sweeps():
    cfg = _tiny()
    specs = plan.check(cfg)
    st = plan.retrain_settings(cfg, specs)
    # each method under its release protocol (random per class, MoSo per class with equal quotas) and, the
    # tiny config's main sweep having protocols [release, uniform], under the uniform one (global top-k)
    assert {(s["scorer"], s["strategy"], s["ratio"]) for s in st} == {
        ("full", "all", "0.00"), ("random", "classbal", "0.50"), ("random", "keep", "0.50"),
        ("el2n", "keep", "0.50"), ("el2n-uniform", "keep", "0.50"), ("forgetting", "keep", "0.50"),
        ("dynunc", "keep", "0.50"), ("dynunc-uniform", "keep", "0.50"), ("moso", "classeq", "0.50"),
        ("moso", "keep", "0.50"), ("optprune", "solver", "0.50"), ("moso-adam", "classeq", "0.50"),
        ("moso-part2", "classeq", "0.50")}
    cfg["sweeps"]["x"] = {"noise": ["sym20"], "arch": ["cnn_small"], "target": ["mlp"], "scorers": ["el2n"]}
    st = plan.retrain_settings(cfg, plan.check(cfg))
    # the full-data reference of target mlp is trained once, under arch = target
    assert {"dataset": "digits", "noise": "sym20", "arch": "mlp", "scorer": "full", "strategy": "all",
            "ratio": "0.00", "target": "mlp"} in st
    assert {"dataset": "digits", "noise": "sym20", "arch": "cnn_small", "scorer": "el2n", "strategy": "keep",
            "ratio": "0.50", "target": "mlp"} in st
    assert plan.surrogate_seeds(specs["el2n"], 1, 3) == [1]


def test_imbalance_sweeps_run_on_the_long_tailed_dataset():
    cfg = _tiny()
    cfg["sweeps"] = {"main": cfg["sweeps"]["main"],
                     "lt": {"noise": ["clean"], "arch": ["cnn_small"], "imbalance": [1, 10], "scorers": ["el2n"],
                            "ratios": [0.5]}}
    st = plan.retrain_settings(cfg, plan.check(cfg))
    assert plan.long_tail_datasets(cfg) == ["digits-lt10"]
    assert {s["dataset"] for s in st} == {"digits", "digits-lt10"}
    lt = {(s["scorer"], s["ratio"]) for s in st if s["dataset"] == "digits-lt10"}
    assert lt == {("full", "0.00"), ("el2n", "0.50")}
    groups = {g["name"]: g for g in plan.retrain_groups(cfg, plan.check(cfg))}
    assert groups["lt"]["dataset"] == ["digits", "digits-lt10"] and groups["main"]["dataset"] == ["digits"]
    assert plan.long_tail_id("fm", 1) == "fm" and plan.long_tail_id("fm", 50) == "fm-lt50"


def test_surrogate_variants_plan_their_folders_and_parameters():
    cfg = _tiny()
    cfg["surrogate_variants"].update({"adam": {"recipe": {"optimizer": "adam", "lr": 0.002}},
                                      "part3": {"partitions": 3, "partition_mode": "random", "partition_seed": 5}})
    cfg["scorers"]["moso-part3"] = {"method": "moso", "params": {"T": 3}, "surrogate": "part3", "ablation": True}
    _validate(cfg)
    specs = plan.check(cfg)
    assert specs["moso-adam"].surrogate == "adam" and specs["moso"].surrogate is None
    assert {k: specs["moso-part3"].params[k] for k in ("partitions", "partition_mode", "partition_seed")} == {
        "partitions": 3, "partition_mode": "random", "partition_seed": 5}
    rec = plan.variant_recipe(cfg, "adam")
    assert rec["optimizer"] == "adam" and rec["lr"] == 0.002 and rec["epochs"] == cfg["surrogate"]["recipe"]["epochs"]
    w = {"exp": "e", "dataset": "d", "noise": "clean", "arch": "cnn_small"}
    r = "results/e/d/clean"
    assert plan.surrogate_run_dirs(cfg, w, None, 1) == [f"{r}/surrogate/cnn_small/seed1"]
    assert plan.surrogate_run_dirs(cfg, w, "adam", 1) == [f"{r}/surrogate/cnn_small/adam/seed1"]
    assert plan.surrogate_run_dirs(cfg, w, "part3", 0) == [
        f"{r}/surrogate/cnn_small/part3/seed0/part{k}" for k in range(3)]
    assert plan.partition_args(cfg, "part3") == "--partitions 3 --partition-mode random --partition-seed 5"
    assert plan.partition_args(cfg, "adam") == ""
    assert plan.variant_users(specs) == {"adam": ["moso-adam"], "part2": ["moso-part2"], "part3": ["moso-part3"]}


@pytest.mark.parametrize("entry, match", [
    ({"method": "moso", "surrogate": "nosuch"}, "surrogate 'nosuch' is not defined"),
    ({"method": "el2n", "surrogate": "part2"}, "only moso takes partitions"),
    ({"method": "random", "surrogate": "part2"}, "reads no surrogate"),
])
def test_surrogate_variant_errors(entry, match):
    cfg = _tiny()
    cfg["scorers"]["bad"] = entry  # tiny.yaml defines the variants adam and part2
    with pytest.raises(plan.ConfigError, match=match):
        plan.check(cfg)


def test_n_train_hint_matches_the_prepared_data(digits_dir, tmp_path):
    """The size the dry run checks T against, before any data exist, is the prepared one."""
    cfg = _tiny()
    known = dataset_facts("digits").n_train  # the dataset registry's fact
    assert plan.n_train_hint(cfg, data_root=str(tmp_path)) == known
    assert known == yaml.safe_load(open(digits_dir / "meta.json"))["n_train"]
    assert plan.n_train_hint(cfg, data_root=str(digits_dir.parent)) == known
    cfg["dataset"] = {"name": "fashion_mnist", "options": {"n_train": 20000}}
    assert plan.n_train_hint(cfg, data_root=str(tmp_path)) == 20000
    cfg["dataset"] = {"name": "digits", "options": {"test_fraction": 0.5}}  # another split: known too
    from prunebench.data import prepare

    assert plan.n_train_hint(cfg, data_root=str(tmp_path)) == prepare("digits", tmp_path / "d50",
                                                                      test_fraction=0.5)["n_train"]


def test_only_sweeps_keeps_the_named_sweeps():
    cfg = _tiny()
    assert list(plan.only_sweeps(cfg["sweeps"], ["ablation"])) == ["ablation"]
    with pytest.raises(plan.ConfigError, match="only_sweeps"):
        plan.only_sweeps(cfg["sweeps"], ["nosuch"])
