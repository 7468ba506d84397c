"""Ablations of the methods' own hyper-parameters (DynUnc J, MoSo T, a scorer's surrogate): agreement with
the default setting and retrained accuracy.

DynUnc window J (He et al. 2023, arXiv 2306.05175, Sec. 3); MoSo checkpoint count T (Tan et al. 2023, arXiv
2310.14664, Eq. 4); the surrogate's optimiser. :func:`ablation_table` gives each variant's rank agreement with
the reference setting (Spearman ρ, Pearson correlation of average ranks, Spearman 1904, computed by
:func:`prunebench.plots.correlation.spearman_matrix`) and its retrained accuracy; :func:`plot_ablation`
draws both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..plots.common import PathLike, line_band, panel_groups, panel_title, read_frame
from ..plots.style import MARKERS, method_color, new_figure, save_figure
from .common import read_retrain, read_scores, sort_rows, split_inputs, write_table
from .registry import figure, register_study, table

_VARIANT = re.compile(r"^(?P<base>.+?)[-_:@](?P<key>[A-Za-z]+)(?P<value>\d+(?:\.\d+)?)$")


ABLATION_COLUMNS = [
    "family",
    "variant",
    "reference",
    "param",
    "value",
    "label",
    "exp",
    "dataset",
    "noise",
    "arch",
    "target",
    "strategy",
    "ratio",
    "rho_mean",
    "rho_std",
    "rho_min",
    "rho_n",
    "acc_mean",
    "acc_std",
    "acc_n",
]


def parse_variant(name: str) -> tuple[str, str | None, float | None]:
    """``dynunc-J3`` → ("dynunc", "J", 3.0); ``moso_T10`` → ("moso", "T", 10.0); ``moso-adam`` → ("moso-adam", None, None)."""
    m = _VARIANT.match(str(name))
    if not m:
        return str(name), None, None
    return m.group("base"), m.group("key"), float(m.group("value"))


def infer_variants(scorers: Iterable[str]) -> dict[str, dict[str, str]]:
    """Ablation families from scorer names: every ``{base}-{K}{number}`` joins family ``{base}-{K}``
    with reference ``{base}`` (the method's default setting) when ``base`` is among the names, else the
    family's first variant in numeric order. Families with fewer than two members are dropped.

    ``infer_variants(["dynunc", "dynunc-J3", "dynunc-J5", "el2n"])`` →
    ``{"dynunc-J": {"dynunc-J3": "dynunc", "dynunc-J5": "dynunc"}}``.
    """
    names = sorted(set(map(str, scorers)))
    fams: dict[str, list[tuple[float, str]]] = {}
    bases: dict[str, str] = {}
    for n in names:
        base, key, value = parse_variant(n)
        if key is None:
            continue
        fams.setdefault(f"{base}-{key}", []).append((value, n))
        bases[f"{base}-{key}"] = base
    out = {}
    for fam, members in sorted(fams.items()):
        members.sort()
        ref = bases[fam] if bases[fam] in names else members[0][1]
        if len(members) + (ref not in [m for _, m in members]) < 2:
            continue
        out[fam] = {m: ref for _, m in members}
    return out


def _variant_param(name: str, family_key: str | None, params: dict) -> tuple[str | None, float]:
    base, key, value = parse_variant(name)
    if key is not None:
        return key, value
    if family_key is not None and family_key in params:
        try:
            return family_key, float(params[family_key])
        except (TypeError, ValueError):
            return family_key, math.nan
    return family_key, math.nan


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from ..plots.correlation import spearman_matrix

    return float(spearman_matrix(np.stack([a, b], axis=1))[0, 1])


def ablation_table(
    score_files, retrain_df: pd.DataFrame | None, variants: Mapping[str, Mapping[str, str]]
) -> pd.DataFrame:
    """Ablation of a method's hyper-parameter: agreement with the reference setting and accuracy.

    ``variants``: ``{family: {variant scorer name: reference scorer name}}``, e.g.
    ``{"dynunc-J": {"dynunc-J3": "dynunc", "dynunc-J5": "dynunc", "dynunc-J20": "dynunc"}}`` (DynUnc
    window J, He et al. 2023, Sec. 3; default J = 10) or ``{"moso-T": {"moso-T1": "moso", ...}}``
    (MoSo checkpoints T, Tan et al. 2023, Eq. 4; default T = 10) or ``{"moso-opt": {"moso-adam": "moso"}}``.
    Each reference is listed as a member of its family too (ρ = 1). :func:`infer_variants` builds the
    mapping from scorer names.

    ``score_files``: score paths of the variants and references (all seeds, noises, archs).
    ρ = Spearman of the variant's and the reference's scores of the *same* seed (both oriented so that
    higher = kept), then mean / std / min over the seeds present for both, per (exp, dataset, noise, arch).
    ``retrain_df``: the long retrain table (or None); accuracy mean / std / n over seeds at each
    (target, strategy, ratio) the variant was retrained at. A variant with no retrain rows gets one row
    with NaN ratio and accuracy. ``param`` / ``value``: the swept hyper-parameter and its value, from the
    name suffix (``J3`` → J = 3) or, for the reference, from its score file's ``params``.
    """
    sc = read_scores(score_files)
    by_key = {(r.exp, r.dataset, r.noise, r.arch, r.scorer, r.seed): r for r in sc.itertuples(index=False)}
    settings = sorted({(r.exp, r.dataset, r.noise, r.arch) for r in sc.itertuples(index=False)})
    rt = None
    if retrain_df is not None and len(retrain_df):
        rt = retrain_df.copy()
        rt["ratio"] = rt["ratio"].astype(float).round(6)
    rows = []
    for family, members in variants.items():
        members = dict(members)
        for ref in sorted(set(members.values())):
            members.setdefault(ref, ref)
        keys_in_family = {parse_variant(v)[1] for v in members if parse_variant(v)[1] is not None}
        fam_key = next(iter(keys_in_family)) if len(keys_in_family) == 1 else None
        for variant, reference in members.items():
            for exp, dataset, noise, arch in settings:
                seeds = sorted(
                    s
                    for (e, d, nz, a, name, s) in by_key
                    if (e, d, nz, a, name) == (exp, dataset, noise, arch, variant)
                )
                if not seeds:
                    continue
                rhos = []
                params = {}
                for s in seeds:
                    v = by_key[(exp, dataset, noise, arch, variant, s)]
                    params = v.params
                    r = by_key.get((exp, dataset, noise, arch, reference, s))
                    if r is not None:
                        rhos.append(1.0 if variant == reference else _spearman(v.scores, r.scores))
                rho = np.asarray(rhos, dtype=np.float64)
                param, value = _variant_param(variant, fam_key, params)
                label = variant if param is None or not np.isfinite(value) else f"{param}={value:g}"
                base = {
                    "family": family, "variant": variant, "reference": reference, "param": param, "value": value,
                    "label": label, "exp": exp, "dataset": dataset, "noise": noise, "arch": arch,
                    "rho_mean": float(rho.mean()) if rho.size else math.nan,
                    "rho_std": float(rho.std(ddof=1)) if rho.size > 1 else math.nan,
                    "rho_min": float(rho.min()) if rho.size else math.nan, "rho_n": int(rho.size),
                }  # fmt: skip
                acc = None
                if rt is not None:
                    acc = rt[
                        (rt["exp"] == exp)
                        & (rt["dataset"] == dataset)
                        & (rt["noise"] == noise)
                        & (rt["arch"] == arch)
                        & (rt["scorer"] == variant)
                        & (rt["ratio"] > 0)
                    ]
                if acc is None or acc.empty:
                    rows.append(
                        {
                            **base,
                            "target": math.nan,
                            "strategy": math.nan,
                            "ratio": math.nan,
                            "acc_mean": math.nan,
                            "acc_std": math.nan,
                            "acc_n": 0,
                        }
                    )
                    continue
                for (target, strategy, ratio), g in acc.groupby(["target", "strategy", "ratio"], sort=True):
                    a = g["accuracy"].to_numpy(np.float64)
                    rows.append(
                        {
                            **base,
                            "target": target,
                            "strategy": strategy,
                            "ratio": float(ratio),
                            "acc_mean": float(a.mean()),
                            "acc_std": float(a.std(ddof=1)) if a.size > 1 else math.nan,
                            "acc_n": int(a.size),
                        }
                    )
    df = pd.DataFrame(rows, columns=ABLATION_COLUMNS)
    return sort_rows(df, ["family", "exp", "dataset", "noise", "arch", "value", "variant", "target", "strategy", "ratio"])


def value_ramp(base_color: str, n: int) -> list[str]:
    """``n`` shades of ``base_color``'s hue, light → dark (HLS lightness 0.78 → 0.25): ordered colours
    for the ordered settings of one method's hyper-parameter sweep."""
    import colorsys

    from ..plots.style import to_hex, to_rgb

    h, _, s = colorsys.rgb_to_hls(*to_rgb(base_color))
    s = max(s, 0.45)
    lum = np.linspace(0.78, 0.25, n) if n > 1 else np.array([0.45])
    return [to_hex(colorsys.hls_to_rgb(h, float(v), s)) for v in lum]


def plot_ablation(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Per ablation family (:func:`ablation_table`), one row of two panels:
    left, Spearman ρ of each variant's scores with the reference setting (bar = mean over seeds,
    whisker = std, reference = 1 by construction, hatched); right, retrained test accuracy vs fraction
    removed per variant (mean ± std band over seeds). Variants are ordered by the swept value and
    coloured light → dark in their method's hue (:func:`value_ramp`; the per-variant shades of
    ``style.method_color`` are hashed, so neighbouring settings could look alike); the reference
    setting is hatched / dashed."""
    from ..plots.style import split_method

    d = read_frame(df)
    rows = panel_groups(d, ["exp", "dataset", "noise", "arch"], always=["family"])
    fig, axes = new_figure(2 * len(rows), ncols=2, panel_size=(3.6, 2.7))
    for ri, (key, g) in enumerate(rows):
        ax_r, ax_a = axes[2 * ri], axes[2 * ri + 1]
        v = g.drop_duplicates("variant").copy()
        v["_v"] = v["value"].astype(float).fillna(np.inf)
        v = v.sort_values(["_v", "variant"], kind="stable")
        variants = list(v["variant"])
        labels = list(v["label"])
        refs = set(v["reference"])
        x = np.arange(len(variants))
        base = split_method(variants[0])[0] or str(v["reference"].iloc[0])
        colors = value_ramp(method_color(base), len(variants))
        rho = v["rho_mean"].to_numpy(np.float64)
        err = v["rho_std"].fillna(0.0).to_numpy(np.float64)
        bars = ax_r.bar(
            x, np.nan_to_num(rho), yerr=err, color=colors, edgecolor="0.25", lw=0.5, capsize=2, error_kw={"lw": 0.8}
        )
        for b, name, val, e in zip(bars, variants, rho, err):
            if name in refs:
                b.set_hatch("///")
            if np.isfinite(val):
                top = max(val, 0) + float(e)
                ax_r.annotate(
                    f"{val:.2f}",
                    (b.get_x() + b.get_width() / 2, top),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
        ax_r.set_xticks(x, labels, rotation=30 if max(map(len, labels), default=0) > 6 else 0, fontsize=7)
        ax_r.set_ylim(min(0.0, float(np.nanmin(rho - err)) - 0.05) if np.isfinite(rho).any() else 0.0, 1.12)
        family = key.get("family", "")
        rest = panel_title({k: val for k, val in key.items() if k != "family"})
        ax_r.set_title(f"{family}: agreement with {', '.join(sorted(refs))}" + (f"\n{rest}" if rest else ""))
        ax_r.set_ylabel("Spearman ρ with reference\n(mean ± std over seeds)")
        ax_r.set_xlabel(str(v["param"].dropna().iloc[0]) if v["param"].notna().any() else "variant")
        acc = g[g["ratio"].notna()]
        if "target" in acc.columns and (acc["target"] == acc["arch"]).any():
            acc = acc[acc["target"] == acc["arch"]]
        if acc.empty:
            ax_a.text(0.5, 0.5, "no retraining runs", ha="center", va="center", transform=ax_a.transAxes)
            ax_a.set_axis_off()
            continue
        for i, name in enumerate(variants):
            s = acc[acc["variant"] == name].groupby("ratio", sort=True)[["acc_mean", "acc_std"]].mean().reset_index()
            if len(s):
                line_band(
                    ax_a,
                    s["ratio"],
                    s["acc_mean"],
                    s["acc_std"].fillna(0.0),
                    colors[i],
                    label=labels[i],
                    marker=MARKERS[i % len(MARKERS)],
                    ls="--" if name in refs else "-",
                )
        ax_a.set_title(f"{family}: retrained accuracy")
        ax_a.set_xlabel("fraction of training set removed")
        ax_a.set_ylabel("test accuracy (mean ± std)")
        ax_a.legend(
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            fontsize=7,
            frameon=False,
            title=f"{family} (ref dashed)",
            title_fontsize=7,
        )
    save_figure(fig, out_pdf, out_png)


def run(inputs, out, variants: dict | None = None, surrogate_variants: dict | None = None):
    """``surrogate_variants``: ``{scorer: reference}`` for scorers that differ from their reference only
    in the surrogate they read (optimizer, partitions): family ``{reference}-surrogate``."""
    from ..paths import parse

    parts = split_inputs(inputs)
    retrain = read_retrain(parts["table"][0]) if parts["table"] else None
    sv = dict(surrogate_variants or {})
    names = sorted({parse(p, "scores")["scorer"] for p in parts["scores"]} - set(sv))
    fams = dict(variants or infer_variants(names))
    for name, ref in sorted(sv.items()):
        fams.setdefault(f"{ref}-surrogate", {})[name] = ref
    df = ablation_table(parts["scores"], retrain, fams)
    write_table(df, out["table"])
    plot_ablation(df, out["pdf"], out["png"])


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
