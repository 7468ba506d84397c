"""Tiny-ImageNet / ImageNet folder sources on tiny generated trees (PNG and JPEG made with PIL)."""

import json

import numpy as np
import pytest
from PIL import Image

from prunebench import io
from prunebench.data import folders
from prunebench.data.base import DATASETS
from prunebench.data.contract import prepare


def _img(path, w, h, seed, fmt):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr)
    if fmt == "JPEG":
        im.save(path, "JPEG", quality=95)
    else:
        im.save(path, fmt)
    return arr


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
    """tiny-imagenet-200 layout: train/<wnid>/images/*.JPEG, val/images + val_annotations.txt.
    Two classes, 3 train images each (one grayscale PNG), 2 val images each."""
    root = tmp_path_factory.mktemp("tiny-imagenet-200")
    pix = {}
    for c, wnid in enumerate(["n02", "n01"]):  # listed unsorted: classes must come out sorted
        for i in range(3):
            p = root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG"
            pix[p] = _img(p, 8, 8, 100 * c + i, "PNG" if i else "JPEG")
    gray = root / "train" / "n01" / "images" / "n01_9.png"
    gray.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), 77, np.uint8), "L").save(gray)
    (root / "train" / "n01" / "n01_boxes.txt").write_text("not an image\n")
    lines = []
    for k, (name, wnid) in enumerate([("val_3.JPEG", "n02"), ("val_0.JPEG", "n01"),
                                      ("val_1.JPEG", "n02"), ("val_2.JPEG", "n01")]):
        pix[root / "val" / "images" / name] = _img(root / "val" / "images" / name, 8, 8, 500 + k, "PNG")
        lines.append(f"{name}\t{wnid}\t0\t0\t8\t8")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root, pix


def test_listing_is_class_major_sorted_and_annotated(tiny_tree):
    root, _ = tiny_tree
    paths, y, classes = folders.list_class_folders(root / "train")
    assert classes == ["n01", "n02"]
    rel = [p.relative_to(root / "train").as_posix() for p in paths]
    assert rel == ["n01/images/n01_0.JPEG", "n01/images/n01_1.JPEG", "n01/images/n01_2.JPEG",
                   "n01/images/n01_9.png", "n02/images/n02_0.JPEG", "n02/images/n02_1.JPEG",
                   "n02/images/n02_2.JPEG"]
    assert y.tolist() == [0, 0, 0, 0, 1, 1, 1] and y.dtype == np.int64
    vpaths, vy = folders.list_split(root / "val", classes)
    assert [p.name for p in vpaths] == ["val_0.JPEG", "val_2.JPEG", "val_1.JPEG", "val_3.JPEG"]
    assert vy.tolist() == [0, 0, 1, 1]


def test_tiny_imagenet_source_keeps_64px_pixels(tiny_tree, tmp_path):
    root, pix = tiny_tree
    # size = the images' own size: stored unchanged (PNG exactly; JPEG as Pillow decodes it)
    xtr, ytr, xte, yte, info = folders.tiny_imagenet(str(root), size=8, strict=False, workers=1)
    assert xtr.shape == (7, 3, 8, 8) and xtr.dtype == np.uint8 and xte.shape == (4, 3, 8, 8)
    paths, _, _ = folders.list_class_folders(root / "train")
    for i, p in enumerate(paths):
        if p.suffix == ".png":
            want = np.full((3, 8, 8), 77, np.uint8)
        elif "_0" in p.name:  # saved as JPEG: compare with Pillow's own decode
            want = np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1)
        else:
            want = pix[p].transpose(2, 0, 1)
        np.testing.assert_array_equal(xtr[i], want, err_msg=str(p))
    vpaths, _ = folders.list_split(root / "val", info["classes"])
    for i, p in enumerate(vpaths):
        np.testing.assert_array_equal(xte[i], pix[p].transpose(2, 0, 1))
    assert ytr.tolist() == [0, 0, 0, 0, 1, 1, 1] and yte.tolist() == [0, 0, 1, 1]
    assert info["classes"] == ["n01", "n02"] and info["image_size"] == 8 and len(info["files_sha256"]) == 64


def test_strict_counts_and_missing_source(tiny_tree, tmp_path):
    root, _ = tiny_tree
    with pytest.raises(ValueError, match="the release has"):
        folders.tiny_imagenet(str(root), size=8)
    with pytest.raises(FileNotFoundError, match="train"):
        folders.imagenet(str(tmp_path / "nowhere"), size=8)
    with pytest.raises(ValueError, match="dataset.source"):
        folders.imagenet(None)


def test_center_crop_matches_torchvision_resize_centercrop(tmp_path):
    """An independent oracle: torchvision's Resize(size) + CenterCrop(size) on the PIL image."""
    from torchvision import transforms

    p = tmp_path / "a.png"
    _img(p, 40, 24, 7, "PNG")  # landscape
    q = tmp_path / "b.png"
    _img(q, 21, 50, 8, "PNG")  # portrait, odd sizes
    tf = transforms.Compose([transforms.Resize(16, interpolation=transforms.InterpolationMode.BILINEAR),
                             transforms.CenterCrop(16)])
    for path in (p, q):
        got = folders.load_image(path, 16, "center_crop", draft=False)
        want = np.asarray(tf(Image.open(path).convert("RGB"))).transpose(2, 0, 1)
        np.testing.assert_array_equal(got, want)
    # stretch: the whole image, box filter; a constant image stays constant
    c = tmp_path / "c.png"
    Image.fromarray(np.full((30, 50, 3), (10, 20, 30), np.uint8)).save(c)
    s = folders.load_image(c, 12, "stretch")
    assert s.shape == (3, 12, 12) and s[:, 0, 0].tolist() == [10, 20, 30] and np.ptp(s, axis=(1, 2)).max() == 0
    # stretch keeps left/right halves apart (no crop): a half-black, half-white image
    h = np.zeros((20, 40, 3), np.uint8)
    h[:, 20:] = 255
    Image.fromarray(h).save(tmp_path / "h.png")
    s = folders.load_image(tmp_path / "h.png", 10, "stretch")
    assert (s[:, :, :5] == 0).all() and (s[:, :, 5:] == 255).all()
    with pytest.raises(ValueError, match="resize"):
        folders.load_image(c, 12, "squash")


def test_draft_jpeg_decode_is_deterministic_and_close(tmp_path):
    p = tmp_path / "big.jpg"
    x = np.linspace(0, 255, 256, dtype=np.float32)
    smooth = np.stack([np.add.outer(x, x) / 2, np.add.outer(x, 255 - x) / 2, np.full((256, 256), 128.0)], -1)
    Image.fromarray(smooth.astype(np.uint8)).save(p, "JPEG", quality=95)
    a = folders.load_image(p, 32, draft=True)
    b = folders.load_image(p, 32, draft=True)
    exact = folders.load_image(p, 32, draft=False)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - exact.astype(int)).mean() < 3.0


def test_imagenet_imagefolder_val_workers_and_mmap_cache(tmp_path):
    """val/<class>/ layout; the bytes do not depend on workers; above in_memory_limit the arrays
    are .npy memory maps in the cache, reused on the next call."""
    root = tmp_path / "imagenet"
    for c in ("n1", "n2", "n3"):
        for i in range(5):
            _img(root / "train" / c / f"{c}_{i}.JPEG", 30 + 3 * i, 20 + 2 * i, 10 * int(c[1]) + i, "JPEG")
        _img(root / "val" / c / f"v_{c}.JPEG", 33, 27, 9, "JPEG")
    kw = dict(size=16, strict=False)
    x1, y1, xt1, yt1, info1 = folders.imagenet(str(root), workers=1, **kw)
    x2, y2, xt2, yt2, _ = folders.imagenet(str(root), workers=2, **kw)
    assert not isinstance(x1, np.memmap) and info1["storage"] == "memory"
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(xt1, xt2)
    assert y1.tolist() == [0] * 5 + [1] * 5 + [2] * 5 and yt1.tolist() == [0, 1, 2]
    cache = tmp_path / "cache"
    x3, y3, xt3, _, info3 = folders.imagenet(str(root), workers=2, in_memory_limit=0, cache=str(cache), **kw)
    assert isinstance(x3, np.memmap) and info3["storage"] == "npy-cache"
    np.testing.assert_array_equal(np.asarray(x3), x1)
    np.testing.assert_array_equal(np.asarray(xt3), xt1)
    (entry,) = list((cache / "imagenet").iterdir())
    assert sorted(p.name for p in entry.iterdir()) == ["done.json", "test_x.npy", "train_x.npy"]
    assert json.loads((entry / "done.json").read_text())["size"] == 16
    mtime = (entry / "train_x.npy").stat().st_mtime_ns
    x4, *_ = folders.imagenet(str(root), workers=1, in_memory_limit=0, cache=str(cache), **kw)
    assert (entry / "train_x.npy").stat().st_mtime_ns == mtime  # reused, not decoded again
    np.testing.assert_array_equal(np.asarray(x4), x1)
    # a seeded per-class subset, original order kept
    xs, ys, *_ = folders.imagenet(str(root), workers=1, n_per_class=2, subset_seed=3, **kw)
    assert ys.tolist() == [0, 0, 1, 1, 2, 2] and len(xs) == 6
    rows = [int(np.flatnonzero((x1 == xs[k]).all(axis=(1, 2, 3)))[0]) for k in range(6)]
    assert rows == sorted(rows) and all(5 * (k // 2) <= r < 5 * (k // 2 + 1) for k, r in enumerate(rows))


def test_flat_val_with_annotation_file(tmp_path):
    root = tmp_path / "imnet"
    for c in ("a", "b"):
        _img(root / "train" / c / "0.png", 8, 8, 1, "PNG")
    _img(root / "val" / "x.png", 8, 8, 2, "PNG")
    _img(root / "val" / "y.png", 8, 8, 3, "PNG")
    ann = tmp_path / "labels.txt"
    ann.write_text("y.png b\nx.png a\n")
    _, _, xte, yte, _ = folders.imagenet(str(root), size=8, strict=False, val_annotations=str(ann))
    assert yte.tolist() == [0, 1]
    ann.write_text("x.png zebra\n")
    with pytest.raises(ValueError, match="zebra"):
        folders.imagenet(str(root), size=8, strict=False, val_annotations=str(ann))


def test_registered_and_prepared_under_the_contract(tiny_tree, tmp_path):
    root, _ = tiny_tree
    assert "tiny_imagenet" in DATASETS and "imagenet" in DATASETS
    meta = prepare("tiny_imagenet", tmp_path / "tin", source=str(root), size=8, strict=False)
    z = io.load_npz(tmp_path / "tin" / "train.npz")
    assert z["x"].dtype == np.uint8 and z["x"].shape == (7, 3, 8, 8)
    assert meta["num_classes"] == 2 and meta["classes"] == ["n01", "n02"] and meta["x_dtype"] == "uint8"
