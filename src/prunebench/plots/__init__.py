"""Paper-style figures (seaborn). Every figure is saved as PDF + PNG with
fixed metadata, so the same table gives the same bytes."""

from __future__ import annotations

from .accuracy import accuracy_vs_ratio  # noqa: F401
