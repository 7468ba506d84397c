"""Ablations of the methods' own hyper-parameters (DynUnc J, MoSo T, a scorer's surrogate): agreement with
the default setting and retrained accuracy."""

from __future__ import annotations

from .registry import figure, register_study, table


def run(inputs, out, variants: dict | None = None, surrogate_variants: dict | None = None):
    """``surrogate_variants``: ``{scorer: reference}`` for scorers that differ from their reference only
    in the surrogate they read (optimizer, partitions): family ``{reference}-surrogate``."""
    from ..paths import parse
    from ..plots import studies as P
    from . import analyses as A

    parts = A.split_inputs(inputs)
    retrain = A.read_retrain(parts["table"][0]) if parts["table"] else None
    sv = dict(surrogate_variants or {})
    names = sorted({parse(p, "scores")["scorer"] for p in parts["scores"]} - set(sv))
    fams = dict(variants or A.infer_variants(names))
    for name, ref in sorted(sv.items()):
        fams.setdefault(f"{ref}-surrogate", {})[name] = ref
    df = A.ablation_table(parts["scores"], retrain, fams)
    A.write_table(df, out["table"])
    P.plot_ablation(df, out["pdf"], out["png"])


STUDY = register_study(
    "ablation", run,
    outputs=[table("table", "ablation.csv"),
             figure("pdf", "ablation.pdf", category="Ablations", caption="Ablations from the methods' open questions: DynUnc window J and MoSo's number of sampled checkpoints T.\nLeft: Spearman correlation of each variant's scores with the default setting (same seed); right: retrained\naccuracy at the ablation's pruning ratios (mean ± std over seeds)."),
             figure("png", "ablation.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv"), "scores": files.ablation_inputs()},
    options=lambda files, w=None: {"surrogate_variants": {n: s.method for n, s in files.specs.items()
                                                          if s.ablation and s.surrogate}},
    targets=lambda files: [files.figure("ablation.pdf")] if any(s.ablation for s in files.specs.values()) else [],
)
