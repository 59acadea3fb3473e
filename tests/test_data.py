"""Tests of vaezoo.data: IDX fallback, split syntax, binarization, tfds path."""

import gzip
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from vaezoo import data
from vaezoo.data import idx, tfds_source

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not os.path.isfile(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz")),
    reason="Debian package dataset-fashion-mnist not installed")


def _write_idx(path, array, gz):
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    if gz:
        with gzip.open(path + ".gz", "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)


def _write_tiny_dataset(directory, n_train=20, n_test=6, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n, (img, lbl) in (("train", n_train, idx.IDX_FILES["train"]),
                                 ("test", n_test, idx.IDX_FILES["test"])):
        x = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
        y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        _write_idx(os.path.join(directory, img), x, gz)
        _write_idx(os.path.join(directory, lbl), y, gz)
        out[split] = (x, y)
    return out


@pytest.fixture(autouse=True)
def _no_env_dir(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)


# ---------------------------------------------------------------- real files

@needs_fashion
def test_idx_test_split_structure():
    ds = data.load("fashion_mnist", "test", source="idx", verbose=False)
    assert ds.cardinality().numpy() == 10000
    assert set(ds.element_spec) == {"image", "label"}
    assert ds.element_spec["image"] == tf.TensorSpec((28, 28, 1), tf.uint8)
    assert ds.element_spec["label"] == tf.TensorSpec((), tf.int64)
    labels = np.fromiter((int(ex["label"]) for ex in ds.take(500)), np.int64)
    assert labels.min() >= 0 and labels.max() <= 9
    x, y = data.load_arrays("fashion_mnist", "test", source="idx", verbose=False)
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.uint8
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))


@needs_fashion
@pytest.mark.parametrize("split,n", [("train[:10%]", 6000), ("train[50000:]", 10000),
                                     ("test[:1000]", 1000), ("train[10%:20%]", 6000),
                                     ("train+test", 70000), ("train", 60000)])
def test_idx_split_sizes(split, n):
    ds = data.load("fashion_mnist", split, source="idx", verbose=False)
    assert ds.cardinality().numpy() == n


@needs_fashion
def test_idx_slices_are_consistent():
    x, y = data.load_arrays("fashion_mnist", "train", source="idx", verbose=False)
    xs, ys = data.load_arrays("fashion_mnist", "train[10%:20%]", source="idx",
                              verbose=False)
    np.testing.assert_array_equal(xs, x[6000:12000])
    np.testing.assert_array_equal(ys, y[6000:12000])
    xs[:] = 0  # returned arrays are private copies: the cache is untouched
    x2, _ = data.load_arrays("fashion_mnist", "train[10%:20%]", source="idx",
                             verbose=False)
    np.testing.assert_array_equal(x2, x[6000:12000])


@needs_fashion
def test_static_binarization():
    kw = dict(split="test[:2000]", source="idx", verbose=False)
    ds = data.load("fashion_mnist", binarization="static", seed=0, **kw)
    assert ds.element_spec["image"] == tf.TensorSpec((28, 28, 1), tf.float32)
    assert ds.element_spec["label"] == tf.TensorSpec((), tf.int64)
    b0 = np.stack([ex["image"].numpy() for ex in ds])
    b0_again, _ = data.load_arrays("fashion_mnist", binarization="static", seed=0, **kw)
    b1, _ = data.load_arrays("fashion_mnist", binarization="static", seed=1, **kw)
    raw, _ = data.load_arrays("fashion_mnist", **kw)
    assert set(np.unique(b0)) <= {0.0, 1.0}
    np.testing.assert_array_equal(b0, b0_again)  # dataset == arrays, reproducible
    assert (b0 != b1).mean() > 0.01
    assert abs(b0.mean() - (raw / 255.0).mean()) < 0.01


@needs_fashion
def test_auto_falls_back_and_reports(caplog, capsys, monkeypatch):
    # Make tfds fail fast whatever the machine (no network, or no tfds).
    def unavailable(*a, **k):
        raise tfds_source.TfdsUnavailable("simulated")
    if tfds_source.network_error() is None:  # pragma: no cover - machine has network
        monkeypatch.setattr(tfds_source, "load_tfds", unavailable)
    with caplog.at_level(logging.INFO, logger="vaezoo.data"):
        ds = data.load("fashion_mnist", "test[:100]", verbose=True)
    assert ds.cardinality().numpy() == 100
    err = capsys.readouterr().err
    assert "vaezoo.data: fashion_mnist[test[:100]] from IDX files in " + FASHION_DIR in err
    assert "tfds unavailable" in err
    assert any("from IDX files" in r.getMessage() for r in caplog.records)


@needs_fashion
def test_verbose_false_is_quiet_but_logs(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="vaezoo.data"):
        data.load("fashion_mnist", "test[:10]", source="idx", verbose=False)
    assert "vaezoo.data" not in capsys.readouterr().err
    assert any("from IDX files" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- tiny files

@pytest.mark.parametrize("gz", [True, False])
def test_idx_from_env_dir(tmp_path, monkeypatch, gz):
    truth = _write_tiny_dataset(str(tmp_path), gz=gz)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    x, y = data.load_arrays("mnist", "train", source="idx", verbose=False)
    np.testing.assert_array_equal(x[..., 0], truth["train"][0])
    np.testing.assert_array_equal(y, truth["train"][1].astype(np.int64))
    ds = data.load("mnist", "train[:50%]+test", source="idx", verbose=False)
    assert ds.cardinality().numpy() == 10 + 6
    assert ds.element_spec["image"] == tf.TensorSpec((8, 8, 1), tf.uint8)


def test_data_dir_argument_and_subdir(tmp_path, monkeypatch):
    env_dir, arg_root = tmp_path / "env", tmp_path / "root"
    env_dir.mkdir()
    (arg_root / "mnist").mkdir(parents=True)
    _write_tiny_dataset(str(env_dir), n_train=4, seed=1)
    _write_tiny_dataset(str(arg_root / "mnist"), n_train=7, seed=2)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(env_dir))
    x, _ = data.load_arrays("mnist", source="idx", data_dir=str(arg_root), verbose=False)
    assert len(x) == 7  # data_dir (here via its <name> subdir) wins over env
    x, _ = data.load_arrays("mnist", source="idx", data_dir=str(tmp_path / "nope"),
                            verbose=False)
    assert len(x) == 4


def test_corrupted_idx_names_file(tmp_path, monkeypatch):
    _write_tiny_dataset(str(tmp_path), gz=False, seed=3)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    path = str(tmp_path / "train-images-idx3-ubyte")
    raw = open(path, "rb").read()
    with open(path, "wb") as f:  # truncated
        f.write(raw[:-10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.load_arrays("mnist", "train", source="idx", verbose=False)
    with open(path, "wb") as f:  # bad magic
        f.write(b"\x01\x02" + raw[2:])
    idx.clear_cache()
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*magic"):
        data.load_arrays("mnist", "train", source="idx", verbose=False)


def test_truncated_gzip_names_file(tmp_path, monkeypatch):
    _write_tiny_dataset(str(tmp_path), gz=True, seed=4)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    path = str(tmp_path / "t10k-labels-idx1-ubyte.gz")
    raw = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        data.load("mnist", "test", source="idx", verbose=False)


def test_missing_directory_gives_install_message(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "missing"))
    monkeypatch.setitem(idx.DEFAULT_IDX_DIRS, "mnist", str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError) as exc:
        data.load("mnist", "train", source="idx", verbose=False)
    msg = str(exc.value)
    # MNIST's own fix: its IDX files or tfds, not the Fashion-MNIST package.
    assert "dataset-fashion-mnist" not in msg and "No Debian package ships mnist" in msg
    assert data.DATA_DIR_ENV in msg and str(tmp_path / "none") in msg
    assert "network" in msg and "tensorflow_datasets" in msg


@pytest.mark.parametrize("split", ["train[::2]", "train[a:b]", "validation",
                                   "train[:10%", "train[:]", "all[:10%]", "train[:1shard]",
                                   "train[:200%]", "", "train[1.5:]"])
def test_bad_split_raises(split, tmp_path, monkeypatch):
    _write_tiny_dataset(str(tmp_path), seed=5)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError):
        data.load("mnist", split, source="idx", verbose=False)


def test_parse_split_matches_tfds_rounding():
    counts = {"train": 60000, "test": 10000}
    assert data.parse_split("train[:10%]", counts) == [("train", 0, 6000)]
    assert data.parse_split("train[50000:]", counts) == [("train", 50000, 60000)]
    assert data.parse_split("train[-1000:]", counts) == [("train", 59000, 60000)]
    assert data.parse_split("train + test[:1000]", counts) == [
        ("train", 0, 60000), ("test", 0, 1000)]
    # tfds "closest": int(round(pct * n / 100)), Python's banker's rounding.
    assert data.parse_split("train[:33%]", {"train": 7}) == [("train", 0, round(0.33 * 7))]
    assert data.parse_split("train[12.5%:]", {"train": 20}) == [("train", 2, 20)]
    # tfds' own reading: the first boundary's unit holds for both, an empty slice is empty.
    assert data.parse_split("train[5%:100]", counts) == [("train", 3000, 60000)]
    assert data.parse_split("train[20:10]", counts) == [("train", 20, 20)]
    assert data.parse_split("all", counts) == [("train", 0, 60000), ("test", 0, 10000)]


def test_bad_binarization_and_source():
    with pytest.raises(ValueError, match="static.*None.*model"):
        data.load("mnist", binarization="dynamic")
    with pytest.raises(ValueError, match="source"):
        data.load("mnist", source="web")
    with pytest.raises(ValueError):
        data.load("cifar10", source="idx")


def test_info_static_table():
    i = data.info("fashion_mnist")
    assert i["image_shape"] == (28, 28, 1) and i["num_classes"] == 10
    assert i["splits"] == {"train": 60000, "test": 10000}
    assert len(i["class_names"]) == 10
    assert data.IDX_DATASETS == ("fashion_mnist", "mnist")


# ---------------------------------------------------------------- tfds path

def test_tfds_path_with_mock_data():
    try:
        with tfds.testing.mock_data(num_examples=12):
            ds = data.load("mnist", "train", source="tfds", verbose=False)
            spec = ds.element_spec
            first = next(iter(ds))
            x, y = data.load_arrays("mnist", "train", source="tfds", verbose=False,
                                    binarization="static")
    except ModuleNotFoundError as e:  # pragma: no cover - incomplete tfds install
        pytest.skip(f"tfds.testing unusable here: {e}")
    assert spec == {"image": tf.TensorSpec((28, 28, 1), tf.uint8),
                    "label": tf.TensorSpec((), tf.int64)}
    assert first["image"].dtype == tf.uint8 and first["label"].dtype == tf.int64
    assert x.shape == (12, 28, 28, 1) and x.dtype == np.float32
    assert set(np.unique(x)) <= {0.0, 1.0} and y.dtype == np.int64


@needs_fashion
def test_idx_structure_equals_tfds_structure():
    with tfds.testing.mock_data(num_examples=3):
        tfds_spec = data.load("fashion_mnist", "test", source="tfds",
                              verbose=False).element_spec
    idx_spec = data.load("fashion_mnist", "test", source="idx",
                         verbose=False).element_spec
    assert idx_spec == tfds_spec


def test_tfds_forced_failure_is_clear(monkeypatch):
    def boom(*a, **k):
        raise tfds_source.TfdsUnavailable("simulated outage")
    monkeypatch.setattr(tfds_source, "load_tfds", boom)
    with pytest.raises(RuntimeError, match="simulated outage"):
        data.load("mnist", source="tfds", verbose=False)
    with pytest.raises(RuntimeError, match="no local IDX fallback|Only mnist"):
        data.load("cifar10", verbose=False)


def test_auto_with_nothing_available(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise tfds_source.TfdsUnavailable("simulated outage")
    monkeypatch.setattr(tfds_source, "load_tfds", boom)
    monkeypatch.setitem(idx.DEFAULT_IDX_DIRS, "mnist", str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError) as exc:
        data.load("mnist", verbose=False)
    msg = str(exc.value)
    assert "No Debian package ships mnist" in msg and "simulated outage" in msg


# ---------------------------------------------------------------- tfds.testing.mock_data

@pytest.mark.parametrize("name", data.IDX_DATASETS + ("cifar10",))
def test_load_honours_tfds_mock_data_in_auto_mode(name):
    """Inside mock_data every data set is tfds' generated data, offline (not the IDX
    files, not a network probe): MNIST configs are testable on any machine."""
    with tfds.testing.mock_data(num_examples=7):
        ds = data.load(name, "train", verbose=False)
        images, labels = data.load_arrays(name, "test", verbose=False)
    shape = (32, 32, 3) if name == "cifar10" else (28, 28, 1)
    spec = ds.element_spec
    assert (spec["image"], spec["label"]) == (tf.TensorSpec(shape, tf.uint8),
                                              tf.TensorSpec((), tf.int64))
    assert sum(1 for _ in ds) == 7
    assert images.shape == (7,) + shape and labels.shape == (7,)


def test_mock_data_does_not_probe_the_network(monkeypatch):

    def no_network(*args, **kwargs):
        raise AssertionError("the network probe ran under mock_data")
    monkeypatch.setattr(tfds_source, "network_error", no_network)
    with tfds.testing.mock_data(num_examples=3):
        assert sum(1 for _ in data.load("mnist", "test", verbose=False)) == 3


def test_unprepared_without_network_still_falls_back(tmp_path, monkeypatch):
    """Outside mock_data an unprepared data set is still read from its IDX files offline."""
    _write_tiny_dataset(str(tmp_path), seed=3)
    monkeypatch.setattr(tfds_source, "network_error", lambda *a, **k: "simulated: no network")
    images, _ = data.load_arrays("mnist", "test", data_dir=str(tmp_path), verbose=False)
    assert images.shape == (6, 8, 8, 1)


@pytest.mark.parametrize("name, expected, unexpected", [
    ("fashion_mnist", ["dataset-fashion-mnist", "VAEZOO_DATA_DIR"], []),
    ("mnist", ["/usr/share/datasets/mnist", "VAEZOO_DATA_DIR", "tfds build mnist"],
     ["dataset-fashion-mnist"]),
    ("cifar10", ["tfds build cifar10", "network access"],
     ["dataset-fashion-mnist", "VAEZOO_DATA_DIR"]),
])
def test_install_help_names_the_right_source(name, expected, unexpected):
    msg = data.install_help(name)
    assert all(e in msg for e in expected), msg
    assert not any(u in msg for u in unexpected), msg


def test_unknown_data_set_name_is_a_value_error():
    with pytest.raises(ValueError, match="no data set named 'fashion_mnits'.*list_builders"):
        data.load("fashion_mnits", verbose=False)


def test_import_and_info_stay_light():
    """``info`` and ``install_help`` answer without TensorFlow."""
    code = ("import sys, vaezoo.data, vaezoo.batches; "
            "vaezoo.data.info('mnist'); vaezoo.data.install_help('mnist'); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
