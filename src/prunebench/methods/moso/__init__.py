"""MoSo, Moving-one-Sample-out (Tan et al., NeurIPS 2023, arXiv 2310.14664).

* :mod:`.scorer` — the score's formula (Eq. 4), the registered ``moso`` and ``moso_exact``
  scorers, and MoSo on the tiny exact harness (first order and exact leave-one-out);
* :mod:`.agreement` — the study of the first-order estimate against exact leave-one-out
  retraining (``prunebench analyze agreement``).

The per-sample gradients come from :mod:`prunebench.grads`, the tiny retraining harness from
:mod:`prunebench.exact` (both shared with other methods).
"""
