"""Resources the rules declare, from the config: what a cluster profile turns into requests."""

from __future__ import annotations


def gpu_resource(config: dict) -> int:
    """The ``gpu`` resource of the rules that train or score (1 where the config's ``device`` is
    ``cuda`` or ``cuda:N``, else 0): what a cluster profile turns into a GPU request."""
    return 1 if str(config.get("device", "cpu")).startswith("cuda") else 0


def threads(config: dict) -> int:
    """Threads of a torch job (``threads``, default 1: results do not depend on ``--cores``)."""
    return int(config.get("threads", 1))
