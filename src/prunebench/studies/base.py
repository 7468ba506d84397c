"""The registry of ``prunebench analyze`` kinds: kept apart from runner.py (which loads the study
modules on demand to run a kind) so that those modules register here and nothing imports back."""

from __future__ import annotations

from collections.abc import Callable

from ..registry import Registry

KINDS: Registry[Callable] = Registry("analysis")


def kind(name: str):
    return KINDS.decorator(name, lambda fn: fn)
