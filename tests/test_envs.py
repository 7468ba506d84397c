"""The conda env files parse and list what the code they serve imports."""

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIP_NAME = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow"}
STDLIB_AND_SELF = {"prunebench", "__future__"}


def _third_party_imports(files) -> set[str]:
    import sys

    mods = set()
    for f in files:
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods.add(node.module.split(".")[0])
    return {PIP_NAME.get(m, m) for m in mods if m not in sys.stdlib_module_names and m not in STDLIB_AND_SELF}


def _env_packages(path) -> set[str]:
    env = yaml.safe_load(open(path))
    names = set()
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for it in items:
            if it.startswith("-e"):
                names.add("prunebench")
                continue
            names.add(re.split(r"[=<>!~ ]", it)[0].lower())
    return names


def test_env_files_parse_and_install_prunebench():
    for f in sorted((ROOT / "workflow" / "envs").glob("*.yaml")) + [ROOT / "environment.yml"]:
        pk = _env_packages(f)
        assert "python" in pk and "prunebench" in pk, f


def test_envs_cover_the_package_imports():
    code = list((ROOT / "src" / "prunebench").rglob("*.py"))
    # jsonschema: prunebench.plan validates the config in Snakemake's own process while it plans (Snakemake depends on
    # jsonschema), never in a rule's env; environment.yml lists it for `prunebench check-config`
    needed = _third_party_imports(code) - {"snakemake", "dvc", "snakemake_interface_executor_plugins"}
    assert "jsonschema" in _env_packages(ROOT / "environment.yml")
    needed -= {"jsonschema"}
    union = set()
    for f in (ROOT / "workflow" / "envs").glob("*.yaml"):
        union |= _env_packages(f)
    assert needed <= union, f"missing from workflow/envs: {sorted(needed - union)}"
    assert needed <= _env_packages(ROOT / "environment.yml")
    # each rule group's env covers the modules that group runs
    torch_env = _env_packages(ROOT / "workflow" / "envs" / "torch.yaml")
    train_code = [*(ROOT / "src/prunebench/train").glob("*.py"), *(ROOT / "src/prunebench/scorers").glob("*.py"),
                  *(ROOT / "src/prunebench/models").glob("*.py"), ROOT / "src/prunebench/retrain.py"]
    assert _third_party_imports(train_code) <= torch_env
    plots_env = _env_packages(ROOT / "workflow" / "envs" / "plots.yaml")
    assert _third_party_imports([*(ROOT / "src/prunebench/plots").glob("*.py"), ROOT / "src/prunebench/aggregate.py"]) \
        <= plots_env | {"torch"}


def test_rules_point_at_existing_envs():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env}"
