"""Datasets → the data contract.

``data/{dataset}/train.npz`` and ``test.npz`` hold ``x`` (``(N, C, H, W)``;
float32 in [0, 1] for small sets, uint8 for image sets) and ``y`` (int64);
``meta.json`` records the source, classes, shape and a sha256 per array.
Everything downstream reads plain numpy: no torchvision or sklearn needed.
"""

from __future__ import annotations

from .contract import DATASETS, Dataset, derive_long_tail, load_dataset, prepare  # noqa: F401
