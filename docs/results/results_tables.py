"""Fill the tables of docs/results/*.md from a run's tables, so that no number there is typed by hand.

    python docs/results/results_tables.py results/default/tables docs/results/results.md

Each block between ``<!-- table:NAME -->`` and ``<!-- /table -->`` is replaced by the markdown table
NAME renders from the run's CSV files (``convergence``, ``protocol``, ``budget``, ``budget_rank``,
``headtohead``, ``noise``, ``noisy``);
``<!-- table:NAME:EXP -->`` reads another experiment's tables, ``results/EXP/tables`` beside the given one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd


def _pm(m, s) -> str:
    return f"{m:.3f} ± {s:.3f}"


def _pts(x) -> str:
    return "—" if pd.isna(x) else f"{100 * x:+.1f}"


def _p(x) -> str:
    return "—" if pd.isna(x) else f"{x:.3f}"


def _md(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def convergence(t: Path) -> str:
    df = pd.read_csv(t / "convergence.csv")
    return _md(["setting", "epochs", "accuracy", "2× epochs", "accuracy", "gain (points)", "regime"],
               [[f"{r.dataset}, {r.noise}, {r.target}", r.epochs, _pm(r.acc, r.acc_std), r.epochs_long,
                 _pm(r.acc_long, r.acc_long_std), _pts(r.gain), r.regime] for r in df.itertuples()])


def protocol(t: Path) -> str:
    df = pd.read_csv(t / "protocol.csv")
    df = df[~df["identical"]] if "identical" in df else df
    rows = []
    for r in df.sort_values(["ratio", "method"]).itertuples():
        rows.append([f"{r.ratio:.1f}", r.method, f"`{r.release}`", f"`{r.uniform}`", f"{r.acc_release:.3f}",
                     f"{r.acc_uniform:.3f}", f"{_pts(r.diff)} (p {_p(r.p_diff)})",
                     f"{_pts(r.gain_release)} (p {_p(r.p_release)})", f"{_pts(r.gain_uniform)} (p {_p(r.p_uniform)})",
                     f"{int(r.empty_classes_release)}/{int(r.empty_classes_uniform)}"])
    return _md(["removed", "method", "release", "uniform", "acc release", "acc uniform", "release − uniform",
                "vs random: release", "vs random: uniform", "empty classes (rel/uni)"], rows)


def budget(t: Path) -> str:
    df = pd.read_csv(t / "budget.csv")
    budgets = list(df.groupby("budget")["steps"].median().sort_values().index)
    rows = []
    for (ratio, method), g in df.groupby(["ratio", "method"], sort=True):
        g = g.set_index("budget")
        cells = []
        for b in budgets:
            if b not in g.index:
                cells.append("—")
                continue
            r = g.loc[b]
            cells.append(f"{r.acc:.3f} ± {r.acc_std:.3f} ({_pts(r.gain)}, rank {r['rank']:g})")
        rows.append([f"{ratio:.1f}", method] + cells)
    steps = df.groupby("budget")["steps"].median()
    return _md(["removed", "method"] + [f"{b} (median {steps[b]:.0f} updates)" for b in budgets], rows)


def budget_rank(t: Path) -> str:
    df = pd.read_csv(t / "budget_rank.csv")
    return _md(["removed", "budgets", "methods", "Kendall τ", "p", "best under each"],
               [[f"{r.ratio:.1f}", f"{r.budget_a} vs {r.budget_b}", r.n_methods, f"{r.kendall_tau:+.2f}", _p(r.p),
                 f"{r.top_a} / {r.top_b}"] for r in df.itertuples()])


def headtohead(t: Path, noise: str = "clean") -> str:
    """Each method under its release protocol and the run's own budget (learner = its surrogate's arch), one
    column per ratio: accuracy (gain over the reference, random per class, in points; paired p unadjusted /
    Holm; classes left empty)."""
    sig = pd.read_csv(t / "significance.csv")
    ref = sig[(sig["comparison"] == "vs_reference") & (sig["noise"] == noise) & (sig["arch"] == sig["target"])]
    if (t / "protocol.csv").exists():  # the uniform protocol's rows are the protocol table's
        pr = pd.read_csv(t / "protocol.csv")
        ref = ref[~ref["method"].isin(set(pr["uniform"]) - set(pr["release"]))]
    ratios = sorted(ref["ratio"].unique())
    rows = []
    other = ref["other"].iloc[0] if len(ref) else "random"
    acc_ref = ref.groupby("ratio")["mean_other"].first()
    rows.append([f"{other} (reference)"] + [f"{acc_ref[r]:.3f}" for r in ratios])
    order = ref[ref["ratio"] == ratios[-1]].sort_values("diff", ascending=False)["method"].tolist()
    for m in order + sorted(set(ref["method"]) - set(order)):
        cells = []
        for r in ratios:
            g = ref[(ref["method"] == m) & (ref["ratio"] == r)]
            if g.empty:
                cells.append("—")
                continue
            x = g.iloc[0]
            empty = f", {int(x.empty_classes)} empty" if x.empty_classes else ""
            cells.append(f"{x.mean_method:.3f} ({_pts(x['diff'])}, p {_p(x.p_value)} / {_p(x.p_holm)}{empty})")
        rows.append([m] + cells)
    return _md(["method"] + [f"{r:.0%} removed" for r in ratios], rows)


def noise(t: Path) -> str:
    """The head-to-head of every noisy setting: one row per (noise, method)."""
    sig = pd.read_csv(t / "significance.csv")
    noises = sorted(n for n in sig["noise"].unique() if n != "clean")
    blocks = [headtohead(t, n).splitlines() for n in noises]
    out = ["| noise " + blocks[0][0], "|---" + blocks[0][1]]
    for n, b in zip(noises, blocks):
        out += [f"| {n} " + line for line in b[2:]]
    return "\n".join(out)


def noisy(t: Path) -> str:
    """Share of the flipped labels among the removed, and of all flipped removed, per noise rate and ratio."""
    df = pd.read_csv(t / "noisy_removed.csv")
    g = df.groupby(["noise", "method", "ratio"]).agg(removed=("frac_flipped_removed", "mean"),
                                                    precision=("precision", "mean"),
                                                    enrichment=("enrichment", "mean")).reset_index()
    rows = [[r.noise, r.method, f"{r.ratio:.0%}", f"{r.removed:.2f}", f"{r.precision:.2f}", f"{r.enrichment:.2f}"]
            for r in g.sort_values(["noise", "ratio", "enrichment"], ascending=[True, True, False]).itertuples()]
    return _md(["noise", "method", "removed", "flipped labels removed (share of all flipped)",
                "flipped share of the removed", "× random's share"], rows)


RENDER = {"convergence": convergence, "protocol": protocol, "budget": budget, "budget_rank": budget_rank,
          "headtohead": headtohead, "noise": noise, "noisy": noisy}


def main(tables: str, doc: str) -> None:
    t, path = Path(tables), Path(doc)
    text = path.read_text()

    def fill(m):
        name, exp = m.group(1), m.group(2)
        where = t.parent.parent / exp / "tables" if exp else t
        tag = f"{name}:{exp}" if exp else name
        return f"<!-- table:{tag} -->\n{RENDER[name](where)}\n<!-- /table -->"

    path.write_text(re.sub(r"<!-- table:(\w+)(?::([\w.-]+))? -->.*?<!-- /table -->", fill, text, flags=re.S))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
