"""Compact text tables of the study frames, for figure captions and the HTML report.

Plain string formatting (no ``tabulate`` dependency); the same frame gives the same text.
"""

from __future__ import annotations

import math

import pandas as pd


def _cell(v, floatfmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return format(v, floatfmt)
    return str(v).replace("|", "\\|")


def mean_pm_std(mean: float, std: float, scale: float = 1.0, fmt: str = ".1f") -> str:
    """``"97.3 ± 0.4"`` (``scale`` = 100 for accuracies in percent); ``"97.3"`` when std is NaN."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    m = format(mean * scale, fmt)
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return m
    return f"{m} ± {format(std * scale, fmt)}"


def markdown_table(
    df: pd.DataFrame, columns: list[str] | None = None, floatfmt: str = ".3f", max_rows: int | None = 60
) -> str:
    """GitHub-flavoured markdown table of ``df[columns]`` (floats with ``floatfmt``, NaN as "–");
    beyond ``max_rows`` rows a last line says how many were left out."""
    cols = list(columns) if columns is not None else list(df.columns)
    body = df[cols]
    extra = 0
    if max_rows is not None and len(body) > max_rows:
        extra = len(body) - max_rows
        body = body.iloc[:max_rows]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in body.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    if extra:
        lines.append(f"\n({extra} more rows)")
    return "\n".join(lines) + "\n"


def html_table(
    df: pd.DataFrame, columns: list[str] | None = None, floatfmt: str = ".3f", max_rows: int | None = 60
) -> str:
    """A minimal ``<table>`` of ``df[columns]`` (escaped; floats with ``floatfmt``)."""
    from html import escape

    cols = list(columns) if columns is not None else list(df.columns)
    body = df[cols] if max_rows is None else df[cols].iloc[:max_rows]
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(v, floatfmt).replace(chr(92) + '|', '|'))}</td>" for v in r) + "</tr>"
        for r in body.itertuples(index=False)
    )
    return f'<table class="prunebench"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>\n'
