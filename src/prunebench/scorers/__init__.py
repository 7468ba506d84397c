"""Scorer registry.

A scorer is a function ``fn(ctx: ScoreContext, **params) -> np.ndarray``
(one float per training sample, in the original training order), registered
with :func:`register_scorer`. The registry entry states which side is kept
(``high``/``low``), the default selection strategy and the paper. Keep the
maths in small pure functions (arrays in, vector out) and let the registered
wrapper fetch their inputs from the context.
"""

from __future__ import annotations

from .base import (  # noqa: F401
    SCORERS,
    Protocol,
    ScoreContext,
    ScorerInfo,
    get_scorer,
    list_scorers,
    protocol_markdown,
    register_scorer,
    scorer_table,
)
