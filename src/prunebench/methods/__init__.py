"""Methods with more than a scorer: one package each, holding the method's maths, its registered
scorer and its studies.

* ``<method>/scorer.py`` registers the method's scorer(s); :mod:`prunebench.scorers` imports it
  when the registry is first read (with the modules of ``scorers/``).
* a study of the method registers itself (:func:`prunebench.studies.registry.register_study`);
  :func:`prunebench.studies.registry.load_studies` imports every module of these packages.

What several methods share stays outside: the per-sample gradient machinery
(:mod:`prunebench.grads`, also GraNd's) and the tiny exact-retraining harness
(:mod:`prunebench.exact`, MoSo's agreement study and optprune's check).
"""
