"""One colour per method across every figure, and deterministic, atomic figure saving.

``method_color(name)`` returns a fixed hex colour for the known methods; a variant
(``dynunc-J3``, ``moso_T5``, ``el2n+classbal``, ``ccs-aum``) takes its base method's hue with a
lighter or darker shade chosen from a hash of the variant suffix; an unknown name gets a hue
from a hash of the name. No randomness, no dependence on call order.

This module imports only the standard library at import time (matplotlib / seaborn are
imported inside the functions that need them), so colour look-ups stay cheap.
"""

from __future__ import annotations

import colorsys
import hashlib
import os

#: fixed palette: the central methods get the strongest hues, the reference is grey / black
PALETTE: dict[str, str] = {
    "full": "#1a1a1a",
    "random": "#8c8c8c",
    "moso": "#e6550d",
    "moso_exact": "#fdae6b",
    "dynunc": "#d62728",
    "optprune": "#2ca02c",
    "el2n": "#1f77b4",
    "grand": "#17becf",
    "forgetting": "#9467bd",
    "aum": "#8c564b",
    "entropy": "#bcbd22",
    "least_confidence": "#7f7f00",
    "margin": "#e377c2",
    "static_unc": "#c49c94",
    "kcenter": "#393b79",
    "herding": "#637939",
    "moderate": "#b8860b",
    "ccs": "#7b4173",
}

#: separators between a base method and its variant suffix
_SEPARATORS = "+-_:/@"

#: method families of the head-to-head figure, in column order: the seed methods, the difficulty scores
#: read from training dynamics, the uncertainty scores of the final model, the geometry / diversity methods.
#: A variant belongs to its base method's family (:func:`split_method`); any other name to ``OTHER_FAMILY``.
FAMILIES: dict[str, tuple[str, ...]] = {
    "seed methods": ("moso", "moso_exact", "dynunc", "optprune"),
    "training-dynamics scores": ("el2n", "grand", "forgetting", "aum", "ccs"),
    "uncertainty scores": ("entropy", "least_confidence", "margin", "static_unc"),
    "geometry / diversity": ("kcenter", "herding", "moderate"),
}
OTHER_FAMILY = "other methods"
#: the references drawn in every panel of a faceted figure
REFERENCES = ("random", "full")
#: markers cycled over the lines of one panel (colours of one method's variants are close)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(min(1.0, max(0.0, c)) * 255):02x}" for c in rgb)


def to_rgb(hex_color: str) -> tuple[float, float, float]:
    h = hex_color.lstrip("#")
    return tuple(int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def keep_varied(df, by, values, min_distinct: int = 2):
    """The rows of ``df`` in the groups of ``by`` where ``values`` (a Series aligned with ``df``; NaN not
    counted) takes at least ``min_distinct`` distinct values — a figure's panels that show a curve, not a
    point; all rows when no group does, so a figure never goes empty."""
    n = values.groupby([df[k] for k in by]).transform("nunique")
    ok = n >= min_distinct
    return df[ok] if ok.any() else df


def split_method(name: str) -> tuple[str | None, str]:
    """(known base method, variant suffix) of a method name; (None, name) if no known base.

    The longest palette key that equals ``name`` or is followed by one of ``+-_:/@`` wins, so
    ``moso_exact`` is its own method while ``moso-T5`` and ``moso+classbal`` are ``moso`` variants.
    """
    for base in sorted(PALETTE, key=len, reverse=True):
        if name == base:
            return base, ""
        if name.startswith(base) and len(name) > len(base) and name[len(base)] in _SEPARATORS:
            return base, name[len(base) + 1 :]
    return None, name


def method_family(name: str) -> str:
    """The family (a key of :data:`FAMILIES`, else :data:`OTHER_FAMILY`) of a method name or variant;
    ``random`` and ``full`` are references, in no family (``"reference"``)."""
    base, _ = split_method(str(name))
    if base in REFERENCES:
        return "reference"
    for family, members in FAMILIES.items():
        if base in members:
            return family
    return OTHER_FAMILY


def shade(hex_color: str, key: str) -> str:
    """``hex_color`` made lighter or darker by an amount fixed by ``key`` (|Δlightness| in [0.12, 0.30])."""
    h, lum, s = colorsys.rgb_to_hls(*to_rgb(hex_color))
    v = _digest(key)
    amount = 0.12 + 0.18 * ((v >> 1) % 1000) / 999.0
    sign = 1.0 if v & 1 else -1.0
    new = lum + sign * amount
    if not 0.12 <= new <= 0.88:  # would wash out or go black: go the other way
        new = lum - sign * amount
    return to_hex(colorsys.hls_to_rgb(h, min(0.88, max(0.12, new)), s))


def method_color(name: str) -> str:
    """Fixed colour of a method (hex ``#rrggbb``): palette, shaded base for variants, hashed hue otherwise."""
    name = str(name)
    base, suffix = split_method(name)
    if base is not None:
        return PALETTE[base] if not suffix else shade(PALETTE[base], suffix)
    v = _digest(name)
    hue = (v % 3600) / 3600.0
    lum = 0.38 + 0.14 * ((v >> 12) % 100) / 99.0
    sat = 0.55 + 0.3 * ((v >> 24) % 100) / 99.0
    return to_hex(colorsys.hls_to_rgb(hue, lum, sat))


#: fixed savefig settings: same inputs give byte-identical files
DPI = 150
PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "Producer": None}


#: seaborn theme used by every figure (fixed fonts so the bytes do not depend on the machine's fonts)
THEME = {
    "style": "whitegrid",
    "context": "paper",
    "rc": {"font.family": "DejaVu Sans", "svg.hashsalt": "prunebench", "axes.titlesize": 9},
}
_STYLED = False


def apply_style() -> None:
    """Apply the seaborn theme once per process (idempotent)."""
    global _STYLED
    if not _STYLED:
        import seaborn as sns

        sns.set_theme(style=THEME["style"], context=THEME["context"], rc=THEME["rc"])
        _STYLED = True


def new_figure(n_panels: int = 1, ncols: int = 3, panel_size: tuple[float, float] = (3.4, 2.8), **subplot_kw):
    """``(fig, axes)``: a pyplot-free ``matplotlib.figure.Figure`` (no global figure registry, no GUI
    backend) with ``n_panels`` axes on a grid of ``ncols`` columns; ``axes`` is a flat list of length
    ``n_panels`` (unused grid cells are removed). The seaborn theme is applied first."""
    from matplotlib.figure import Figure

    apply_style()
    n_panels = max(1, int(n_panels))
    ncols = max(1, min(int(ncols), n_panels))
    nrows = -(-n_panels // ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    axes = [ax for row in grid for ax in row]
    for ax in axes[n_panels:]:
        ax.remove()
    return fig, axes[:n_panels]


def save_figure(fig, out_pdf: str | os.PathLike | None, out_png: str | os.PathLike | None, dpi: int = DPI) -> None:
    """Save ``fig`` as PDF and/or PNG, atomically (``prunebench.io.atomic_path``) and deterministically
    (no creation date, producer or software stamp; fixed dpi)."""
    from ..io import atomic_path

    if out_pdf is not None:
        with atomic_path(out_pdf, suffix=".pdf") as tmp:
            fig.savefig(tmp, format="pdf", dpi=dpi, metadata=PDF_METADATA)
    if out_png is not None:
        with atomic_path(out_png, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata=PNG_METADATA)
