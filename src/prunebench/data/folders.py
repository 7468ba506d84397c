"""Image-folder datasets read from a user-given path: Tiny-ImageNet and ImageNet.

Both are read from an ImageFolder-style tree (the layout of torchvision's
``ImageFolder``)::

    <source>/train/<class>/**/*.JPEG      class = folder name, classes sorted
    <source>/val/<class>/**/*.JPEG        ImageFolder layout, or
    <source>/val/images/*.JPEG            flat, labelled by val/val_annotations.txt
                                          ("<file>\\t<class>[\\t...]" per line, the
                                          Tiny-ImageNet release's own layout)

Tiny-ImageNet (Le & Yang, 2015: 200 classes, 500 training and 50 validation
images each, 64×64) is read as released (``tiny-imagenet-200/``). ImageNet
(ILSVRC-2012, Russakovsky et al., IJCV 2015: 1000 classes, 1,281,167 training
and 50,000 validation images) is read from the usual prepared tree in which the
validation images are sorted into class folders (or from a flat ``val/`` with an
annotations file, ``val_annotations=...``). The labelled validation split is
the contract's test split (the official test labels are not public).

Every image is decoded once with Pillow, converted to RGB and resized to a fixed
``size`` (64 for Tiny-ImageNet, which is already 64×64 and is then stored
unchanged; ImageNet e.g. 64, 112 or 224), either as torchvision's
``Resize(size)`` + ``CenterCrop(size)`` (bilinear; ``resize="center_crop"``,
the default) or by resizing the whole image to ``size×size`` with a box filter
(``resize="stretch"``, the downsampled-ImageNet recipe of Chrabaszcz et al.,
arXiv 1707.08819). Arrays are uint8 ``(N, 3, size, size)``; the training order
is class-major (classes sorted, files sorted within a class), and that position
is the sample ``index`` everywhere downstream.

Large sets do not fit in memory: arrays above ``in_memory_limit`` bytes are
written straight into ``.npy`` files (``numpy.lib.format.open_memmap``) under
``cache`` (default ``$PRUNEBENCH_CACHE`` or ``~/.cache/prunebench``) and returned
as read-only memory maps; a finished cache entry is reused. Decoding runs in
``workers`` processes (default: the CPUs SLURM gave the job, else the CPUs this
process may use); the result does not depend on the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from .. import io
from .base import DatasetFacts, register_dataset

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
RESIZE_MODES = ("center_crop", "stretch")
CACHE_VERSION = 1

TINY_IMAGENET_COUNTS = {"classes": 200, "train": 100_000, "val": 10_000}
IMAGENET_COUNTS = {"classes": 1000, "train": 1_281_167, "val": 50_000}


# ----------------------------------------------------------------------------- listing


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def list_class_folders(root: str | os.PathLike, classes: Sequence[str] | None = None
                       ) -> tuple[list[Path], np.ndarray, list[str]]:
    """ImageFolder listing: ``(paths, labels, classes)``.

    ``classes`` defaults to the sorted sub-folder names of ``root``; every image
    below ``root/<class>/`` (recursively, sorted by relative path) gets that
    class's position in ``classes``. A folder not in a given ``classes`` list is
    an error (a validation class unknown to the training set)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise ValueError(f"{root}: class folders not in the training classes: {unknown[:5]}")
    index = {c: i for i, c in enumerate(classes)}
    paths: list[Path] = []
    labels: list[int] = []
    for c in found:
        files = sorted((p for p in (root / c).rglob("*") if _is_image(p)), key=lambda p: p.relative_to(root).as_posix())
        paths += files
        labels += [index[c]] * len(files)
    if not paths:
        raise ValueError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) in class folders")
    return paths, np.asarray(labels, np.int64), list(classes)


def read_annotations(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(file name, class)`` per non-empty line of a whitespace-separated file
    (Tiny-ImageNet's ``val_annotations.txt``: file, wnid, bounding box)."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise ValueError(f"{path}:{n}: expected '<file> <class> ...', got {line!r}")
        out.append((parts[0], parts[1]))
    return out


def list_split(root: str | os.PathLike, classes: Sequence[str], annotations: str | os.PathLike | None = None
               ) -> tuple[list[Path], np.ndarray]:
    """The labelled images of a split folder (``val/``): class folders, or flat
    files labelled by ``annotations`` (default ``<root>/val_annotations.txt`` when
    present; files are looked up in ``<root>/images/`` then ``<root>/``). Order:
    class-major, then file name."""
    root = Path(root)
    ann = Path(annotations) if annotations else root / "val_annotations.txt"
    if annotations or ann.exists():
        index = {c: i for i, c in enumerate(classes)}
        rows = []
        for name, cls in read_annotations(ann):
            if cls not in index:
                raise ValueError(f"{ann}: class {cls!r} of {name} is not a training class")
            p = root / "images" / name
            p = p if p.exists() else root / name
            if not p.is_file():
                raise FileNotFoundError(f"{ann}: listed image {name} is not in {root}/images or {root}")
            rows.append((index[cls], name, p))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [r[2] for r in rows], np.asarray([r[0] for r in rows], np.int64)
    paths, labels, _ = list_class_folders(root, classes)
    return paths, labels


def _subset_per_class(paths: list[Path], labels: np.ndarray, n_per_class: int | None, seed: int):
    """A seeded subset of ``n_per_class`` images per class, original order kept."""
    if n_per_class is None:
        return paths, labels
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep.append(np.sort(rng.permutation(idx)[:n_per_class]) if len(idx) > n_per_class else idx)
    keep = np.sort(np.concatenate(keep))
    return [paths[i] for i in keep], labels[keep]


# ----------------------------------------------------------------------------- decoding


def load_image(path: str | os.PathLike, size: int, resize: str = "center_crop", draft: bool = True) -> np.ndarray:
    """One image as uint8 ``(3, size, size)``.

    ``center_crop``: shorter side to ``size`` (bilinear; the longer side
    ``int(size·long/short)``), then the centre ``size×size`` (offset
    ``round((L − size)/2)``), as torchvision's ``Resize(size)`` + ``CenterCrop``.
    ``stretch``: the whole image to ``size×size`` with a box filter. An image
    already ``size×size`` is kept as is. ``draft`` lets the JPEG decoder scale
    by 1/2, 1/4 or 1/8 first (never below ``size``), which is several times
    faster on large photos and changes pixels slightly; deterministic either way."""
    from PIL import Image

    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    with Image.open(path) as im:
        if draft and im.format == "JPEG":
            im.draft("RGB", (size, size))
        im = im.convert("RGB")
        w, h = im.size
        if (w, h) != (size, size):
            if resize == "stretch":
                im = im.resize((size, size), Image.Resampling.BOX)
            else:
                if w <= h:
                    nw, nh = size, int(size * h / w)
                else:
                    nw, nh = int(size * w / h), size
                if (nw, nh) != (w, h):
                    im = im.resize((nw, nh), Image.Resampling.BILINEAR)
                top = int(round((nh - size) / 2.0))
                left = int(round((nw - size) / 2.0))
                im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.uint8)
    if arr.shape != (size, size, 3):
        raise ValueError(f"{path}: decoded to shape {arr.shape}, expected ({size}, {size}, 3)")
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _decode_block(args) -> np.ndarray:
    paths, size, resize, draft = args
    out = np.empty((len(paths), 3, size, size), np.uint8)
    for i, p in enumerate(paths):
        out[i] = load_image(p, size, resize, draft)
    return out


def default_workers() -> int:
    """CPUs SLURM gave this job, else the CPUs this process may run on."""
    for var in ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE"):
        v = os.environ.get(var, "")
        if v.isdigit() and int(v) > 0:
            return int(v)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def decode_images(paths: Sequence[str | os.PathLike], out: np.ndarray, size: int, resize: str = "center_crop",
                  draft: bool = True, workers: int = 1, block: int = 256) -> np.ndarray:
    """Decode ``paths`` into ``out[i]`` (uint8 ``(N, 3, size, size)``, an array or
    a writable memory map), in blocks, with ``workers`` processes; the bytes do
    not depend on ``workers``."""
    if out.shape != (len(paths), 3, size, size) or out.dtype != np.uint8:
        raise ValueError(f"out must be uint8 {(len(paths), 3, size, size)}, got {out.dtype} {out.shape}")
    jobs = [([str(p) for p in paths[s : s + block]], size, resize, draft) for s in range(0, len(paths), block)]
    if workers <= 1 or len(jobs) <= 1:
        results = map(_decode_block, jobs)
        for j, arr in enumerate(results):
            out[j * block : j * block + len(arr)] = arr
        return out
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
        for j, arr in enumerate(ex.map(_decode_block, jobs)):
            out[j * block : j * block + len(arr)] = arr
    return out


# ----------------------------------------------------------------------------- arrays, cache


def files_digest(paths: Sequence[Path], labels: np.ndarray, root: Path) -> str:
    """sha256 of the (relative path, label, file size) list: which files, in which order."""
    h = hashlib.sha256()
    for p, y in zip(paths, labels):
        h.update(f"{Path(p).relative_to(root).as_posix()}\t{int(y)}\t{Path(p).stat().st_size}\n".encode())
    return h.hexdigest()


def _cache_root(cache: str | os.PathLike | None) -> Path:
    if cache:
        return Path(cache)
    return Path(os.environ.get("PRUNEBENCH_CACHE", Path.home() / ".cache" / "prunebench"))


def _read_done(done: Path):
    """The cache's finished-marker, or None when it is missing or unreadable (then decode again)."""
    try:
        return io.read_json(done)
    except (FileNotFoundError, ValueError):
        return None


def _decode_split(paths, size, resize, draft, workers, cache_dir: Path | None, part: str):
    shape = (len(paths), 3, size, size)
    if cache_dir is None:
        return decode_images(paths, np.empty(shape, np.uint8), size, resize, draft, workers)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / f"{part}_x.npy"
    with io.atomic_path(final, suffix=".npy") as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        decode_images(paths, mm, size, resize, draft, workers)
        mm.flush()
        del mm
    return np.load(final, mmap_mode="r")


def read_image_folders(source: str | os.PathLike | None, name: str, size: int, resize: str = "center_crop",
                       draft: bool = True, workers: int | None = None, val_annotations: str | None = None,
                       n_per_class: int | None = None, subset_seed: int = 0,
                       in_memory_limit: int = 4 << 30, cache: str | None = None,
                       expect: dict | None = None, strict: bool = True):
    """``(x_train, y_train, x_test, y_test, info)`` from ``<source>/train`` and
    ``<source>/val`` (see the module docstring). ``n_per_class`` keeps a seeded
    subset of training images per class before decoding. ``expect`` (class and
    image counts of the full release) is checked when ``strict`` and no subset is
    asked for."""
    if not source:
        raise ValueError(f"{name}: give the dataset folder as dataset.source (a tree with train/ and val/)")
    root = Path(source).expanduser()
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise FileNotFoundError(f"{name}: {root} must hold train/<class>/... and val/ (ImageFolder layout)")
    if not 8 <= int(size) <= 1024:
        raise ValueError(f"{name}: size {size} outside 8..1024")
    size = int(size)
    xtr_paths, ytr, classes = list_class_folders(root / "train")
    xte_paths, yte = list_split(root / "val", classes, val_annotations)
    if expect and strict and n_per_class is None:
        got = {"classes": len(classes), "train": len(xtr_paths), "val": len(xte_paths)}
        if got != expect:
            raise ValueError(f"{name}: {root} has {got}, the release has {expect} "
                             "(pass options {strict: false} for a partial copy)")
    xtr_paths, ytr = _subset_per_class(xtr_paths, ytr, n_per_class, subset_seed)
    digest = hashlib.sha256((files_digest(xtr_paths, ytr, root) + files_digest(xte_paths, yte, root)).encode())
    key = {"name": name, "source": str(root.resolve()), "size": size, "resize": resize, "draft": bool(draft),
           "files_sha256": digest.hexdigest(), "version": CACHE_VERSION}
    nbytes = (len(xtr_paths) + len(xte_paths)) * 3 * size * size
    workers = default_workers() if workers is None else max(1, int(workers))
    cache_dir = None
    if nbytes > in_memory_limit:
        tag = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        cache_dir = _cache_root(cache) / name / f"{size}px-{tag}"
    done = cache_dir / "done.json" if cache_dir else None
    if done is not None and _read_done(done) == key:
        xtr = np.load(cache_dir / "train_x.npy", mmap_mode="r")
        xte = np.load(cache_dir / "test_x.npy", mmap_mode="r")
    else:
        xtr = _decode_split(xtr_paths, size, resize, draft, workers, cache_dir, "train")
        xte = _decode_split(xte_paths, size, resize, draft, workers, cache_dir, "test")
        if done is not None:
            io.write_json(done, key)
    info = {
        "source": str(root),
        "classes": classes,
        "image_size": size,
        "resize": resize,
        "draft": bool(draft),
        "files_sha256": key["files_sha256"],
        "n_per_class": n_per_class,
        "subset_seed": subset_seed if n_per_class is not None else None,
        "storage": "npy-cache" if cache_dir else "memory",
    }
    return xtr, ytr, xte, yte, info


def _per_class_counts(classes: int, full: int | None):
    """Class sizes of a folder dataset: ``n_per_class`` of each (capped at ``full``, the size of every
    class; None: classes differ in size), unknown for a partial copy (``strict: false``)."""
    def counts(options: dict) -> list[int] | None:
        if options.get("strict") is False:
            return None
        npc = options.get("n_per_class")
        if full is not None:
            return [min(int(npc), full) if npc else full] * classes
        return [int(npc)] * classes if npc and int(npc) <= IMAGENET_MIN_CLASS else None

    return counts


#: the smallest class of ImageNet's training set (``n_per_class`` up to this keeps every class whole)
IMAGENET_MIN_CLASS = 732


@register_dataset("tiny_imagenet", DatasetFacts(num_classes=200, n_train=100000, shape=(3, 64, 64),
                                                class_counts=_per_class_counts(200, 500), size_option="size"))
def tiny_imagenet(source=None, size: int = 64, resize: str = "center_crop", draft: bool = True,
                  workers: int | None = None, n_per_class: int | None = None, subset_seed: int = 0,
                  strict: bool = True, cache: str | None = None, in_memory_limit: int = 4 << 30, **_):
    """Tiny-ImageNet (Le & Yang, CS231N 2015): 200 classes of 64×64 images, the
    released ``tiny-imagenet-200/`` folder at ``source`` (train/<wnid>/images/,
    val/images/ + val/val_annotations.txt). Validation = the contract's test split."""
    return read_image_folders(source, "tiny_imagenet", size, resize, draft, workers, None, n_per_class,
                              subset_seed, in_memory_limit, cache, TINY_IMAGENET_COUNTS, strict)


@register_dataset("imagenet", DatasetFacts(num_classes=1000, n_train=1281167, shape=(3, 64, 64),
                                           class_counts=_per_class_counts(1000, None), size_option="size"))
def imagenet(source=None, size: int = 64, resize: str = "center_crop", draft: bool = True,
             workers: int | None = None, val_annotations: str | None = None, n_per_class: int | None = None,
             subset_seed: int = 0, strict: bool = True, cache: str | None = None, in_memory_limit: int = 4 << 30,
             **_):
    """ImageNet ILSVRC-2012 (Russakovsky et al., IJCV 2015), resized to ``size``
    (e.g. 64, 112, 224): ``source`` holds train/<wnid>/*.JPEG and val/<wnid>/*.JPEG
    (or a flat val/ with ``val_annotations``). Validation = the contract's test
    split. ``n_per_class`` takes a seeded subset of training images per class."""
    return read_image_folders(source, "imagenet", size, resize, draft, workers, val_annotations, n_per_class,
                              subset_seed, in_memory_limit, cache, IMAGENET_COUNTS, strict)
