import json
import shlex

from snakemake.utils import validate

from prunebench import plan

validate(config, "../schemas/config.schema.yaml")

EXP = config["name"]
DATASET = plan.dataset_id(config)
SEEDS = list(range(config["seeds"]))
SPECS = plan.check(config)
RATIOS = [plan.fmt_ratio(r) for r in config["ratios"]]
PY_SCORERS = [n for n, s in SPECS.items() if s.kind == "score"]
EXT_SCORERS = [n for n, s in SPECS.items() if s.kind == "external"]


wildcard_constraints:
    **plan.WILDCARDS,


def jarg(obj):
    """A JSON object as one shell word."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def model_kw(name):
    return config.get("models", {}).get(name, {})


def surrogate_recipe():
    return config["surrogate"]["recipe"]


def retrain_recipe():
    return (config.get("retrain") or {}).get("recipe") or surrogate_recipe()


def surrogate_dirs(w):
    spec = SPECS[w.scorer]
    if not spec.needs_surrogate:
        return []
    return [
        f"results/{w.exp}/{w.dataset}/{w.noise}/surrogate/{w.arch}/seed{k}"
        for k in plan.surrogate_seeds(spec, int(w.s), len(SEEDS))
    ]


def surrogate_inputs(w):
    return [f"{d}/surrogate.json" for d in surrogate_dirs(w)]


def retrain_files(settings):
    out = []
    for st in settings:
        out += expand(
            "results/{exp}/{dataset}/{noise}/retrain/{arch}/{scorer}/{strategy}/r{ratio}/{target}/seed{s}.json",
            exp=EXP,
            s=SEEDS,
            **st,
        )
    return out


RETRAIN = plan.retrain_settings(config, SPECS)


def get_final_output():
    return [
        f"results/{EXP}/tables/retrain.csv",
        f"results/{EXP}/tables/accuracy.csv",
        f"results/{EXP}/figures/accuracy_vs_ratio.pdf",
        f"results/{EXP}/figures/accuracy_vs_ratio.png",
    ]


def external_command(w, input, output):
    """The user's shell line with {input.*}, {output.*}, {wildcards.*}, {seed},
    {surrogate} (this seed's surrogate folder) filled in."""
    spec = config["external_scorers"][w.scorer]["shell"]
    sur = (surrogate_dirs(w) or [""])[0]
    return spec.format(input=input, output=output, wildcards=w, seed=w.s, surrogate=sur)
