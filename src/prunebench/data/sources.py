"""Dataset sources. Each returns ``(x_train, y_train, x_test, y_test, info)``."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from .base import DatasetFacts, register_dataset, stratified_sizes, stratified_split
from .idx import read_idx

#: digits: samples per class before the stratified train/test split (sklearn's load_digits)
DIGITS_CLASS_SIZES = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
FASHION_CLASS_SIZE = 6000


def _fashion_counts(options: dict) -> list[int]:
    counts = [FASHION_CLASS_SIZE] * 10
    n_train = options.get("n_train")
    if n_train is not None and int(n_train) < sum(counts):  # a stratified subset (fashion_mnist below)
        return stratified_sizes(counts, 1.0 - int(n_train) / sum(counts))
    return counts

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

# sha256 of the decoded Fashion-MNIST arrays (uint8 images (N,28,28), uint8
# labels), as prunebench.io.sha256_array computes them. The gz files of the
# Debian package and of the original release differ byte-wise, so the decoded
# content is what is checked.
# Measured on the decoded arrays of Debian's dataset-fashion-mnist (0.0~git20200523), which
# carries the original release's content (6000 train / 1000 test images per class).
FASHION_MNIST_SHA256: dict[str, str] = {
    "x_train": "6f07ec717f6d605a3631f18292874549f87f7371f532c5454ddeda9b6be1c061",
    "y_train": "6a348f3f2ae5584df432205898f7b22b360148f66b5d7107a5d68bd4e75514aa",
    "x_test": "6d7ab2ce935c469faa42d20c1117e290b17100213d638fb4859563e8225200d4",
    "y_test": "6de80c3f188b2b788631bfdb22fc369a133e3139aa511c6b71bd99ec0f26dff3",
}


@register_dataset("digits", DatasetFacts(
    num_classes=10, n_train=1347, shape=(1, 8, 8),
    class_counts=lambda o: stratified_sizes(DIGITS_CLASS_SIZES, o.get("test_fraction", 0.25))))
def digits(source=None, test_fraction: float = 0.25, split_seed: int = 0, **_):
    """scikit-learn's 8×8 digits (1797 images, 10 classes), scaled to [0, 1],
    with a seeded stratified train/test split. Offline: the data ship with sklearn."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    tr, te = stratified_split(y, test_fraction, split_seed)
    info = {"source": "sklearn.datasets.load_digits", "split_seed": split_seed, "test_fraction": test_fraction}
    return x[tr], y[tr], x[te], y[te], info


_FMNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def _find_idx_dir(candidates: list[str | None]) -> Path | None:
    for c in candidates:
        if c and all((Path(c) / f).exists() or (Path(c) / f[:-3]).exists() for f in _FMNIST_FILES.values()):
            return Path(c)
    return None


@register_dataset("fashion_mnist", DatasetFacts(num_classes=10, n_train=60000, shape=(1, 28, 28),
                                                class_counts=_fashion_counts))
def fashion_mnist(source=None, n_train: int | None = None, subset_seed: int = 0, **_):
    """Fashion-MNIST (Xiao et al. 2017), read with our own IDX reader.

    Sources tried in order: ``source`` (a folder with the four IDX files, .gz or
    not), the Debian package ``dataset-fashion-mnist``, then a torchvision
    download into ``~/.cache/prunebench``. Decoded arrays are checked against
    the known shapes and content hashes. ``n_train`` takes a seeded stratified
    subset of the training set (the full test set is kept).
    """
    from .. import io

    root = _find_idx_dir([source, DEBIAN_FASHION_MNIST])
    origin = str(root) if root else None
    if root is None:
        if source:
            raise FileNotFoundError(f"{source}: the four Fashion-MNIST IDX files are not there")
        root = _torchvision_download("FashionMNIST")
        origin = "torchvision download"
    arrays = {}
    for key, fname in _FMNIST_FILES.items():
        p = root / fname
        arrays[key] = read_idx(p if p.exists() else root / fname[:-3])
    shapes = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}
    for key, shape in shapes.items():
        if arrays[key].shape != shape:
            raise ValueError(f"Fashion-MNIST {key}: shape {arrays[key].shape}, expected {shape} ({root})")
        want = FASHION_MNIST_SHA256.get(key)
        if want and io.sha256_array(arrays[key]) != want:
            raise ValueError(f"Fashion-MNIST {key} from {root}: decoded content does not match the known sha256")
    xtr, ytr = arrays["x_train"][:, None], arrays["y_train"].astype(np.int64)
    xte, yte = arrays["x_test"][:, None], arrays["y_test"].astype(np.int64)
    if n_train is not None and n_train < len(ytr):
        keep, _ = stratified_split(ytr, 1.0 - n_train / len(ytr), subset_seed)
        xtr, ytr = xtr[keep], ytr[keep]
    return xtr, ytr, xte, yte, {"source": origin, "n_train_subset": n_train, "subset_seed": subset_seed}


def _torchvision_download(cls_name: str) -> Path:
    """Download with torchvision (which verifies md5) and return the raw folder."""
    import torchvision

    root = Path(os.environ.get("PRUNEBENCH_CACHE", Path.home() / ".cache" / "prunebench"))
    ds_cls = getattr(torchvision.datasets, cls_name)
    ds_cls(str(root), train=True, download=True)
    return root / cls_name / "raw"


def read_cifar_batches(folder: str | os.PathLike, files: list[str], label_key: str):
    """Parse CIFAR python pickles (``data`` N×3072 uint8, labels list)."""
    xs, ys = [], []
    for f in files:
        p = Path(folder) / f
        try:
            with open(p, "rb") as fh:
                d = pickle.load(fh, encoding="bytes")
        except (OSError, pickle.UnpicklingError, EOFError) as exc:
            raise ValueError(f"{p}: not a readable CIFAR batch ({exc})") from exc
        data = d.get(b"data", d.get("data"))
        labels = d.get(label_key.encode(), d.get(label_key))
        if data is None or labels is None:
            raise ValueError(f"{p}: CIFAR batch lacks 'data' or '{label_key}'")
        data = np.asarray(data, dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise ValueError(f"{p}: unexpected CIFAR batch shape {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(labels, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _cifar(source, cls_name, folder, train_files, test_files, label_key, num_classes):
    root = Path(source) if source else None
    if root is None or not (root / folder).exists():
        import torchvision

        root = root or Path(os.environ.get("PRUNEBENCH_CACHE", Path.home() / ".cache" / "prunebench"))
        getattr(torchvision.datasets, cls_name)(str(root), train=True, download=True)  # md5-verified
    xtr, ytr = read_cifar_batches(root / folder, train_files, label_key)
    xte, yte = read_cifar_batches(root / folder, test_files, label_key)
    if ytr.max() >= num_classes or ytr.min() < 0:
        raise ValueError(f"{root / folder}: labels outside 0..{num_classes - 1}")
    return xtr, ytr, xte, yte, {"source": str(root / folder)}


@register_dataset("cifar10", DatasetFacts(num_classes=10, n_train=50000, shape=(3, 32, 32),
                                          class_counts=lambda o: [5000] * 10))
def cifar10(source=None, **_):
    """CIFAR-10 (Krizhevsky 2009): torchvision downloads and md5-checks the
    archive; the extracted python batches are parsed by :func:`read_cifar_batches`."""
    files = [f"data_batch_{i}" for i in range(1, 6)]
    return _cifar(source, "CIFAR10", "cifar-10-batches-py", files, ["test_batch"], "labels", 10)


@register_dataset("cifar100", DatasetFacts(num_classes=100, n_train=50000, shape=(3, 32, 32),
                                           class_counts=lambda o: [500] * 100))
def cifar100(source=None, **_):
    """CIFAR-100 (fine labels), as :func:`cifar10`."""
    return _cifar(source, "CIFAR100", "cifar-100-python", ["train"], ["test"], "fine_labels", 100)
