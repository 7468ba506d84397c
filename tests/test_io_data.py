"""Atomic writes, the IDX reader, datasets and label noise."""

import gzip
import os
import pickle

import numpy as np
import pytest
from conftest import skip_or_fail

from prunebench import io
from prunebench.data.base import stratified_split
from prunebench.data.contract import load_dataset, prepare
from prunebench.data.idx import read_idx, write_idx
from prunebench.data.noise import inject_noise, noise_name, parse_noise


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert io.read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_npz_bytes_are_deterministic(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    io.save_npz(tmp_path / "a.npz", x=a)
    io.save_npz(tmp_path / "b.npz", x=a)
    assert io.sha256_file(tmp_path / "a.npz") == io.sha256_file(tmp_path / "b.npz")


def _crafted_idx(path, arr, code, gz):
    dims = np.asarray(arr.shape, ">u4").tobytes()
    payload = bytes([0, 0, code, arr.ndim]) + dims + arr.tobytes()
    with (gzip.open if gz else open)(path, "wb") as fh:
        fh.write(payload)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader_on_crafted_file(tmp_path, gz):
    # bytes written by hand (not by write_idx), big-endian header
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / ("img.idx.gz" if gz else "img.idx")
    _crafted_idx(p, imgs, 0x08, gz)
    out = read_idx(p)
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, imgs)
    ints = np.array([1, -2, 70000], dtype=">i4")
    _crafted_idx(tmp_path / "i.idx", ints, 0x0C, False)
    np.testing.assert_array_equal(read_idx(tmp_path / "i.idx"), [1, -2, 70000])


def test_idx_roundtrip_and_errors(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (5, 7), dtype=np.uint8)
    write_idx(tmp_path / "a.idx", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), arr)
    raw = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "trunc.idx").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        read_idx(tmp_path / "trunc.idx")
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x08\x01" + raw[4:])
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "bad.idx.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="cannot read"):
        read_idx(tmp_path / "bad.idx.gz")


def test_digits_contract(digits_dir):
    ds = load_dataset(digits_dir)
    assert ds.x_train.shape[1:] == (1, 8, 8) and ds.x_train.dtype == np.float32
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    meta = io.read_json(digits_dir / "meta.json")
    assert meta["num_classes"] == 10 and set(meta["sha256"]) == {"x_train", "y_train", "x_test", "y_test"}
    # class proportions preserved by the stratified split
    tr = np.bincount(ds.y_train) / len(ds.y_train)
    te = np.bincount(ds.y_test) / len(ds.y_test)
    assert np.abs(tr - te).max() < 0.01


def test_changed_content_is_detected(tmp_path, digits_dir):
    import shutil

    d = tmp_path / "digits"
    shutil.copytree(digits_dir, d)
    z = io.load_npz(d / "train.npz")
    z["y"][0] = (z["y"][0] + 1) % 10
    io.save_npz(d / "train.npz", **z)
    # the file's sha256, recorded in meta.json when it was prepared
    with pytest.raises(io.IntegrityError, match=r"train\.npz: sha256 .* differs from the .* recorded in .*meta\.json"):
        load_dataset(d)
    meta = io.read_json(d / "meta.json")
    del meta["files"]  # prepared before file hashes were recorded: the arrays' hashes still catch it
    io.write_json(d / "meta.json", meta)
    with pytest.raises(ValueError, match="does not match the sha256"):
        load_dataset(d)
    (d / "test.npz").write_bytes((d / "test.npz").read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable"):
        load_dataset(d, verify=False)


def test_stratified_split_is_seeded():
    y = np.repeat(np.arange(4), 25)
    a = stratified_split(y, 0.2, 3)
    b = stratified_split(y, 0.2, 3)
    c = stratified_split(y, 0.2, 4)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert np.all(np.bincount(y[a[1]]) == 5)


def _fake_cifar(root, n_per_batch=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    expected_x, expected_y = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
        expected_x.append(data)
        expected_y.append(labels)
    return expected_x, expected_y


def test_cifar_parsing_on_a_generated_archive(tmp_path):
    """The same layout torchvision extracts; parsed by our own reader, no network."""
    xs, ys = _fake_cifar(tmp_path)
    meta = prepare("cifar10", tmp_path / "out", source=str(tmp_path))
    ds = load_dataset(tmp_path / "out")
    assert meta["n_train"] == 30 and meta["n_test"] == 6
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape == (30, 3, 32, 32)
    # pixel (c, h, w) of image 0 is data[0, c*1024 + h*32 + w]
    assert ds.x_train[0, 2, 5, 7] == xs[0][0, 2 * 1024 + 5 * 32 + 7]
    np.testing.assert_array_equal(ds.y_test, ys[-1])
    # a corrupted batch names the file
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="data_batch_3"):
        prepare("cifar10", tmp_path / "out2", source=str(tmp_path))


FMNIST = "/usr/share/datasets/fashion-mnist"


def test_fashion_mnist_from_debian_package(tmp_path):
    if not os.path.isdir(FMNIST):
        skip_or_fail("Debian package dataset-fashion-mnist not installed (.ci/run installs it)")
    from prunebench.data.sources import FASHION_MNIST_SHA256

    meta = prepare("fashion_mnist", tmp_path / "f", n_train=2000)
    ds = load_dataset(tmp_path / "f")
    assert ds.x_train.shape == (2000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert np.all(np.bincount(ds.y_train) == 200)
    assert meta["source"] == FMNIST
    assert len(FASHION_MNIST_SHA256) == 4  # the decoded content is checked against known hashes


def test_noise_exact_count_and_targets():
    y = np.repeat(np.arange(5), 200)
    yn, flipped = inject_noise(y, 5, "sym", 0.2, seed=1)
    assert flipped.sum() == 200
    assert np.all(yn[flipped] != y[flipped]) and np.all(yn[~flipped] == y[~flipped])
    # every class (including the last) is a possible target
    assert set(np.unique(yn[flipped])) == set(range(5))
    yn2, f2 = inject_noise(y, 5, "sym", 0.2, seed=1)
    np.testing.assert_array_equal(yn, yn2)
    yn3, _ = inject_noise(y, 5, "sym", 0.2, seed=2)
    assert not np.array_equal(yn, yn3)
    ya, fa = inject_noise(y, 5, "asym", 0.4, seed=0)
    assert fa.sum() == 400 and np.all(ya[fa] == (y[fa] + 1) % 5)
    # round(rate·n): 0.25 · 10 = 2.5 → 3 (half up)
    _, f = inject_noise(np.arange(10) % 2, 2, "sym", 0.25, 0)
    assert f.sum() == 3


def test_noise_names():
    assert parse_noise("clean") == ("clean", 0.0)
    assert parse_noise("sym20") == ("sym", 0.2)
    assert parse_noise("asym40") == ("asym", 0.4)
    assert noise_name("sym", 0.2) == "sym20"
    for bad in ("sym", "noise20", "sym200", "SYM20"):
        with pytest.raises(ValueError, match="bad noise setting"):
            parse_noise(bad)
    with pytest.raises(ValueError):
        inject_noise(np.zeros(4, int), 2, "sym", 1.0, 0)


def test_long_tail_profile_and_contract(tmp_path, digits_dir):
    """The CIFAR-LT profile (class c: floor(n_max · ρ^(−c/(C−1)))), a seeded choice within each class,
    the data contract (hashes verified on load), the test set untouched, the base recorded."""
    from prunebench.data.contract import dataset_sha256, derive_long_tail, long_tail_counts

    assert long_tail_counts([100, 100, 100], 4).tolist() == [100, 50, 25]
    assert long_tail_counts([100, 30, 100], 4).tolist() == [100, 30, 25]  # never more than a class has
    assert long_tail_counts([7, 7], 1).tolist() == [7, 7]
    with pytest.raises(ValueError, match="ratio must be >= 1"):
        long_tail_counts([5, 5], 0.5)
    base = load_dataset(digits_dir)
    out = tmp_path / "digits-lt10"
    meta = derive_long_tail(digits_dir, out, 10, seed=3)
    lt = load_dataset(out)  # verify=True: every array matches the sha256 in meta.json
    counts = np.bincount(lt.y_train, minlength=10)
    base_counts = np.bincount(base.y_train, minlength=10)
    assert counts.tolist() == long_tail_counts(base_counts, 10).tolist() == meta["long_tail"]["class_counts"]
    assert counts[0] == base_counts.max() or counts[0] == base_counts[0]
    assert counts[0] / counts[-1] == pytest.approx(10, rel=0.1)
    assert meta["n_train"] == counts.sum() and meta["num_classes"] == 10
    assert np.array_equal(lt.x_test, base.x_test) and np.array_equal(lt.y_test, base.y_test)
    assert meta["long_tail"]["base_sha256"] == dataset_sha256(digits_dir) and meta["long_tail"]["seed"] == 3
    # every kept sample is a base training sample with its label
    rows = {(bytes(x.tobytes()), int(y)) for x, y in zip(base.x_train, base.y_train)}
    assert all((bytes(x.tobytes()), int(y)) in rows for x, y in zip(lt.x_train, lt.y_train))
    again = tmp_path / "again"
    derive_long_tail(digits_dir, again, 10, seed=3)
    assert (again / "train.npz").read_bytes() == (out / "train.npz").read_bytes()
    other = tmp_path / "other"
    derive_long_tail(digits_dir, other, 10, seed=4)
    assert (other / "train.npz").read_bytes() != (out / "train.npz").read_bytes()


def test_rule_path_templates_round_trip():
    """paths.py is the one home of the contract paths' templates: the rules' patterns and the parsers agree."""
    from prunebench import paths

    assert paths.rule_path("scores", ".csv") == "results/{exp}/{dataset}/{noise}/scores/{arch}/{scorer}/seed{s}.csv"
    assert paths.rule_path("subset", ".npy", expand=("ratio", "s"), strategy="solver") == (
        "results/{{exp}}/{{dataset}}/{{noise}}/subsets/{{arch}}/{{scorer}}/solver/r{ratio}/seed{s}.npy")
    assert paths.rule_path("retrain", dir="budget/steps", target="mlp") == (
        "results/{exp}/{dataset}/{noise}/budget/steps/{arch}/{scorer}/{strategy}/r{ratio}/mlp/seed{s}.json")
    keys = dict(exp="e", dataset="digits", noise="sym20", arch="cnn_small", scorer="el2n")
    assert paths.parse(paths.scores_path(*keys.values(), 3), "scores") == {**keys, "seed": 3}
    sub = paths.subset_path(*keys.values(), "classbal", 0.5, 1)
    assert paths.parse(sub, "subset") == {**keys, "strategy": "classbal", "ratio": 0.5, "seed": 1}
    ret = paths.rule_path("retrain", **keys, strategy="keep", ratio="0.70", target="mlp", s=2)
    assert paths.parse(ret, "retrain") == {**keys, "strategy": "keep", "ratio": 0.7, "target": "mlp", "seed": 2}
    assert paths.labels_path("e", "digits", "clean") == "results/e/digits/clean/labels.npz"
