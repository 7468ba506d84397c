"""Optimization-based dataset pruning (Yang et al., ICLR 2023, "Dataset Pruning: Reducing Training
Data by Examining Generalization Influence", arXiv 2205.09329).

* :mod:`.influence` — the per-sample parameter influences ``I_i = −H⁻¹∇L(z_i)/n``;
* :mod:`.solvers` — the two discrete programs over them (fixed budget, largest ε-redundant set);
* :mod:`.scorer` — the registered ``optprune`` solver method (influence of the surrogate,
  program 2 per ratio);
* :mod:`.epsilon` — program 1 per ε and its study (``prunebench analyze epsilon``);
* :mod:`.check` — predicted vs actually retrained parameter change on the tiny exact harness
  (:mod:`prunebench.exact`, shared with MoSo) (``prunebench analyze optprune_check``).
"""
