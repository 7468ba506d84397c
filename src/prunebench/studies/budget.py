"""The budget study: does a method's verdict depend on how long the subset is retrained?

The same subsets (same scorer, selection, ratio and seed) are retrained under several
budgets (sweep key ``budgets``):

* ``epochs`` — the recipe's epochs on the subset (the seed papers' convention: a subset with
  70 % removed gets 30 % of the updates);
* ``steps`` — as many updates as full-data training (data_diet, CCS);
* ``x<k>`` — k times the recipe's epochs on the subset.

For every (setting, ratio, budget) the table gives each method's mean ± std accuracy, its
gain over random under the same budget (paired by seed) and its rank; the rank table gives
the agreement of the methods' order between every two budgets (Kendall τ over the methods'
mean accuracies). A low τ says that the head-to-head ranking is a property of the budget as
much as of the methods. No peer benchmark reports this axis.

This module holds the tables, the figure and the ``prunebench analyze budget`` kind.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from .. import io
from ..stats import method_key, paired_t
from .registry import figure, register_study, table

SETTING = ("dataset", "noise", "arch", "target", "ratio")


def budget_frame(results: list[dict]) -> pd.DataFrame:
    """One row per retrain result (the contract's JSON): setting, method, budget, seed, accuracy, steps."""
    rows = [{**{k: r[k] for k in SETTING}, "method": method_key(r["scorer"], r["strategy"]),
             "budget": str(r["budget"]), "seed": int(r["seed"]), "accuracy": float(r["test_accuracy"]),
             "steps": int(r["steps"]), "epochs": int(r["epochs"]),
             "empty_classes": int(sum(1 for c in r.get("class_counts", []) if c == 0))} for r in results]
    df = pd.DataFrame(rows)
    if not df.empty:
        df["ratio"] = df["ratio"].astype(float).round(6)
    return df


def budget_order(df: pd.DataFrame) -> list[str]:
    """Budgets from the fewest updates to the most (median steps over the runs)."""
    med = df.groupby("budget")["steps"].median()
    return sorted(med.index, key=lambda b: (med[b], b))


def budget_table(df: pd.DataFrame, reference: str = "random") -> pd.DataFrame:
    """One row per (setting, budget, method): mean ± std accuracy, mean steps, the paired gain over
    ``reference`` under the same budget and its t-test p, and the method's rank (1 = best)."""
    rows = []
    for key, g in df.groupby(list(SETTING) + ["budget"], sort=True):
        ref = g[g["method"] == reference].set_index("seed")["accuracy"]
        means = g.groupby("method")["accuracy"].mean()
        ranks = means.rank(ascending=False, method="average")
        for method, m in g.groupby("method", sort=True):
            acc = m.set_index("seed")["accuracy"]
            seeds = sorted(set(acc.index) & set(ref.index))
            d = (acc.loc[seeds] - ref.loc[seeds]).to_numpy(np.float64) if method != reference else np.array([])
            rows.append({**dict(zip(list(SETTING) + ["budget"], key)), "method": method,
                         "acc": float(acc.mean()), "acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan,
                         "n_seeds": int(len(acc)), "steps": float(m["steps"].mean()), "epochs": int(m["epochs"].max()),
                         "gain": float(d.mean()) if len(d) else math.nan,
                         "p_gain": float(paired_t(d)[0]) if len(d) >= 2 else math.nan,
                         "rank": float(ranks[method]), "empty_classes": int(m["empty_classes"].max())})
    return pd.DataFrame(rows)


def rank_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Kendall τ (τ-b, ties counted) between the methods' mean accuracies under every two budgets, per
    setting; ``top_a``/``top_b``: the best method under each budget."""
    from scipy.stats import kendalltau

    rows = []
    if table.empty:
        return pd.DataFrame(rows)
    order = {b: i for i, b in enumerate(budget_order(table))}
    for key, g in table.groupby(list(SETTING), sort=True):
        acc = g.pivot(index="method", columns="budget", values="acc")
        budgets = sorted(acc.columns, key=lambda b: order.get(b, len(order)))
        for a, b in itertools.combinations(budgets, 2):
            both = acc[[a, b]].dropna()
            tau, p = kendalltau(both[a], both[b]) if len(both) >= 2 else (math.nan, math.nan)
            rows.append({**dict(zip(SETTING, key)), "budget_a": a, "budget_b": b, "n_methods": int(len(both)),
                         "kendall_tau": float(tau), "p": float(p),
                         "top_a": str(both[a].idxmax()) if len(both) else "",
                         "top_b": str(both[b].idxmax()) if len(both) else ""})
    return pd.DataFrame(rows)


def plot_budget(table: pd.DataFrame, ranks: pd.DataFrame, out_pdf: str, out_png: str,
                reference: str = "random") -> None:
    """Gain over random under each budget (bars, fewest updates first), one row per method, one panel per
    (setting, ratio); the panel title gives Kendall τ between the fewest- and the most-update budget."""
    from ..plots.style import new_figure, save_figure

    settings = table[list(SETTING)].drop_duplicates().sort_values(list(SETTING)).to_dict("records") or [{}]
    order = budget_order(table) if not table.empty else []
    colors = ["#bbbbbb", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    height = 0.8 / max(1, len(order))
    methods = sorted(set(table["method"]) - {reference}) if not table.empty else []
    fig, axes = new_figure(len(settings), ncols=min(3, len(settings)),
                           panel_size=(4.2, max(2.8, 0.3 * len(methods) + 1.2)))
    for ax, st in zip(axes, settings):
        sub = table
        r = ranks
        for k, v in st.items():
            sub = sub[sub[k] == v]
            r = r[r[k] == v] if not r.empty else r
        sub = sub[sub["method"] != reference]
        first = sub[sub["budget"] == order[0]].set_index("method")["gain"] if order else pd.Series(dtype=float)
        names = sorted(sub["method"].unique(), key=lambda m: -first.get(m, 0.0))
        y = np.arange(len(names))
        for i, b in enumerate(order):
            s = sub[sub["budget"] == b].set_index("method").reindex(names)
            ax.barh(y + (i - (len(order) - 1) / 2) * height, 100 * s["gain"].fillna(0).to_numpy(np.float64),
                    height=height, color=colors[i % len(colors)],
                    label=f"{b} (median {s['steps'].median():.0f} updates)")
        empty = sub.groupby("method")["empty_classes"].max().reindex(names).fillna(0) > 0
        ax.set_yticks(y, [m + (" (empty class)" if e else "") for m, e in zip(names, empty)], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(f"accuracy − {reference}'s, same budget (points)", fontsize=7)
        title = f"{st.get('dataset', '')} {st.get('noise', '')} {st.get('arch', '')}→{st.get('target', '')}"
        if st:
            title += f", {st['ratio']:.0%} removed"
        if len(order) >= 2 and not r.empty:
            rr = r[(r["budget_a"] == order[0]) & (r["budget_b"] == order[-1])]
            if not rr.empty:
                title += f"\nKendall τ({order[0]}, {order[-1]}) = {rr['kendall_tau'].iloc[0]:.2f} over all methods"
        ax.set_title(title, fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(3, max(1, len(labels))), fontsize=7,
               frameon=False)
    save_figure(fig, out_pdf, out_png)


def budget(inputs, out, reference: str = "random"):
    """Accuracy per retraining budget and the methods' rank agreement between budgets →
    tables/budget.csv, tables/budget_rank.csv, figures/budget.{pdf,png}."""
    df = budget_frame([io.read_json(p) for p in inputs])
    table = budget_table(df, reference)
    ranks = rank_agreement(table)
    io.write_dataframe(out["table"], table)
    io.write_dataframe(out["rank"], ranks)
    plot_budget(table, ranks, out["pdf"], out["png"], reference)
    for r in ranks.itertuples():
        print(f"{r.dataset}/{r.noise}/{r.arch}->{r.target} r{r.ratio:.2f}: Kendall tau({r.budget_a}, {r.budget_b}) "
              f"= {r.kendall_tau:+.2f} over {r.n_methods} methods (best: {r.top_a} / {r.top_b})")


def _reference(files, w=None) -> dict:
    from ..plan import reference_method

    return {"reference": reference_method(files.specs)}


STUDY = register_study(
    "budget", budget,
    outputs=[table("table", "budget.csv"), table("rank", "budget_rank.csv"),
             figure("pdf", "budget.pdf", category="Head-to-head", caption='The same subsets (same scores, selection, ratio and seeds) retrained under each budget of the sweep\'s\n``budgets``: ``epochs`` = the recipe\'s epochs on the subset (the seed papers\' convention: a subset with 70 % removed\ngets 30 % of the updates), ``steps`` = as many updates as full-data training (data_diet, CCS), ``x<k>`` = k times\nthe recipe\'s epochs. Bars: each method\'s mean accuracy minus random\'s under the same budget, paired by seed, one\nbar per budget (fewest updates first); methods sorted by their gain under the fewest-update budget. "(empty\nclass)" marks a method whose subsets left a class without samples. The title gives Kendall τ between the methods\'\nmean accuracies (random included) under the fewest- and the most-update budget: τ = 1 means the ranking of methods\ndoes not depend on the budget. tables/budget.csv has each method\'s accuracy, gain, paired p and rank per budget;\ntables/budget_rank.csv has τ for every two budgets.'),
             figure("png", "budget.png")],
    inputs=lambda files, w=None: {"files": files.budget_files()},
    options=_reference,
    targets=lambda files: [files.figure("budget.pdf"), files.figure("budget.png")] if files.budget else [],
)
