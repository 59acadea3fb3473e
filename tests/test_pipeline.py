"""``vaezoo.pipeline``, opt-in (``gather_arrays_in_step = True``): ``fit`` on NumPy
arrays gathers the batch inside the step, with exactly the batches of Keras' own
array pipeline, so Keras' results (no timing here: see ``benchmarks/throughput.py``)."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import keras
import vaezoo
from vaezoo import pipeline

SMALL = {"latent_dim": 3, "hidden_units": (16,), "image_shape": (6, 6, 1), "seed": 0}


def _images(n=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 6, 6, 1), dtype=np.uint8)


@pytest.fixture
def rows_datasets(monkeypatch):
    """Counts the datasets ``fit`` builds with ``vaezoo.pipeline``."""
    made = []
    real = pipeline.rows_dataset

    def counting(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "rows_dataset", counting)
    return made


def _pair(cls=vaezoo.MLPVAE, inputs=None, **kwargs):
    """Two compiled models with the same weights: rows pipeline on, and Keras' own."""
    inputs = tf.zeros((1, 6, 6, 1)) if inputs is None else inputs
    models = []
    for gather in (True, False):
        model = cls(**{"likelihood": "bernoulli", "binarization": "static", **SMALL, **kwargs})
        model.compile(optimizer="adam")
        model.gather_arrays_in_step = gather
        models.append(model)
    models[0](inputs)
    models[1](inputs)
    models[1].set_weights(models[0].get_weights())
    return models


def _assert_same_training(a, b, history_a, history_b):
    assert sorted(history_a.history) == sorted(history_b.history)
    for key in history_a.history:
        np.testing.assert_allclose(history_a.history[key], history_b.history[key],
                                   rtol=1e-5, err_msg=key)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def _epochs(ds, n):
    return [[r.tolist() for r in (e[pipeline.ROWS].numpy() for e in ds)] for _ in range(n)]


def test_an_epoch_is_every_row_once_in_batches_with_the_last_partial():
    x = _images(50)
    ds = pipeline.rows_dataset(x, batch_size=8, shuffle=False)
    assert int(ds.cardinality()) == 7
    (epoch,) = _epochs(ds, 1)
    assert [len(b) for b in epoch] == [8] * 6 + [2]
    assert list(itertools.chain(*epoch)) == list(range(50))
    element = next(iter(ds))
    np.testing.assert_array_equal(pipeline.gather(element), x[:8])


def test_shuffle_draws_a_new_permutation_every_epoch():
    ds = pipeline.rows_dataset(_images(50), batch_size=8, shuffle=True)
    first, second = (list(itertools.chain(*e)) for e in _epochs(ds, 2))
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and first != list(range(50))


def test_labels_are_gathered_with_their_images():
    x, y = _images(20), np.arange(20) % 7
    images, labels = pipeline.gather(next(iter(pipeline.rows_dataset(x, y, batch_size=5,
                                                                      shuffle=True))))
    for image, label in zip(images.numpy(), labels.numpy()):
        (i,) = np.flatnonzero((x == image).all(axis=(1, 2, 3)))[:1]
        assert y[i] == label


def test_float64_arrays_become_keras_float_type():
    x = _images(4).astype(np.float64) / 255.0
    element = next(iter(pipeline.rows_dataset(x, batch_size=4)))
    assert element[pipeline.IMAGES].dtype == tf.float32


def _unaligned(a):
    """A C-contiguous copy of ``a`` whose data starts 16 bytes past a 64-byte boundary."""
    a = np.ascontiguousarray(a)
    buffer = vaezoo.data.empty_aligned((a.nbytes + 64,), np.uint8)
    out = buffer[16:16 + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not vaezoo.data.is_aligned(out)
    return out


def test_aligned_returns_the_array_itself_only_when_tensorflow_can_use_it_as_is():
    x = _images(10).astype(np.float32)
    same = vaezoo.data.aligned(x)
    assert vaezoo.data.is_aligned(same) and vaezoo.data.aligned(same) is same
    cases = {"unaligned": (_unaligned(x), x), "not contiguous": (x[:, ::-1], x[:, ::-1]),
             "float64": (x.astype(np.float64), x)}
    for name, (given, values) in cases.items():
        moved = vaezoo.data.aligned(given, np.float32)
        assert moved is not given and vaezoo.data.is_aligned(moved), name
        assert moved.dtype == np.float32, name
        np.testing.assert_array_equal(moved, values, err_msg=name)


def test_an_aligned_array_is_read_in_place_and_any_other_is_copied():
    x = vaezoo.data.aligned(_images(16), np.float32) / 255.0
    x = vaezoo.data.aligned(x)
    in_place = next(iter(pipeline.rows_dataset(x, batch_size=16, shuffle=False)))
    view = x[1:]                                 # 144-byte rows: starts off the boundary
    assert not vaezoo.data.is_aligned(view)
    copied = next(iter(pipeline.rows_dataset(view, batch_size=15, shuffle=False)))
    read_only = x.copy()
    read_only.flags.writeable = False
    from_read_only = next(iter(pipeline.rows_dataset(read_only, batch_size=16, shuffle=False)))
    before = x.copy()
    x[:] = 0.5                                   # seen through the in-place tensor only
    np.testing.assert_array_equal(pipeline.gather(in_place), x)
    np.testing.assert_array_equal(pipeline.gather(copied), before[1:])
    np.testing.assert_array_equal(pipeline.gather(from_read_only), before)


def test_fit_trains_alike_on_aligned_arrays_and_on_copied_ones():
    a, b = _pair()
    x = vaezoo.data.aligned(_images(40), np.float32) / 255.0
    x = vaezoo.data.aligned(x)
    kwargs = {"batch_size": 8, "epochs": 2, "shuffle": False, "verbose": 0}
    b.gather_arrays_in_step = True               # both through vaezoo.pipeline
    history_a = a.fit(x, **kwargs)               # read in place
    history_b = b.fit(_unaligned(x), **kwargs)   # copied first
    _assert_same_training(a, b, history_a, history_b)
    # A view starting off the boundary (rows of 144 bytes) is copied, and trains.
    assert np.isfinite(a.fit(x[1:], **kwargs).history["loss"]).all()


def test_arrays_of_another_length_reuse_the_traced_train_step():
    model, _ = _pair()
    traces = []
    real = model.train_step

    def counting(data):
        traces.append(1)                         # runs only while the step is traced
        return real(data)

    model.train_step = counting
    model.fit(_images(24), batch_size=8, epochs=1, verbose=0)
    traced = len(traces)
    assert traced >= 1
    model.fit(_images(40), batch_size=8, epochs=1, verbose=0)
    model.fit(_images(17), batch_size=8, epochs=1, verbose=0)
    assert len(traces) == traced


def test_fit_on_arrays_trains_exactly_as_keras_array_pipeline(rows_datasets):
    a, b = _pair()
    x = _images(50)
    kwargs = {"batch_size": 8, "epochs": 2, "shuffle": False, "validation_split": 0.2,
              "verbose": 0}
    history_a = a.fit(x, **kwargs)
    assert len(rows_datasets) == 1          # the rows pipeline did run for `a`...
    history_b = b.fit(x, **kwargs)
    assert len(rows_datasets) == 1          # ...and not for `b`
    assert "val_loss" in history_a.history
    _assert_same_training(a, b, history_a, history_b)


def test_fit_with_labels_trains_exactly_as_keras_array_pipeline(rows_datasets):
    a, b = _pair(vaezoo.ConditionalVAE, (tf.zeros((1, 6, 6, 1)), tf.zeros([1], tf.int64)),
                 num_classes=3)
    x, y = _images(30), np.arange(30) % 3
    history_a = a.fit(x, y, batch_size=7, epochs=1, shuffle=False, verbose=0)
    history_b = b.fit(x, y, batch_size=7, epochs=1, shuffle=False, verbose=0)
    assert len(rows_datasets) == 1
    _assert_same_training(a, b, history_a, history_b)


def test_positional_fit_arguments_reach_the_pipeline(rows_datasets):
    a, _ = _pair()
    history = a.fit(_images(24), None, 6, 2, 0)    # x, y, batch_size, epochs, verbose
    assert rows_datasets == [{"batch_size": 6, "shuffle": True}]
    assert len(history.history["loss"]) == 2
    assert int(a.optimizer.iterations) == 2 * 4


@pytest.mark.parametrize("kwargs", [
    {"sample_weight": np.ones(24)},
    {"steps_per_epoch": 2},
    {"shuffle": "batch"},
])
def test_arguments_the_pipeline_does_not_cover_go_to_keras_with_a_warning(rows_datasets,
                                                                         kwargs):
    a, _ = _pair()
    with pytest.warns(UserWarning, match="gather_arrays_in_step is set but cannot be used"):
        a.fit(_images(24), batch_size=6, epochs=1, verbose=0, **kwargs)
    assert rows_datasets == []


def test_datasets_go_to_keras_and_strategies_with_a_warning(rows_datasets):
    a, _ = _pair()
    a.fit(tf.data.Dataset.from_tensor_slices(_images(12)).batch(6), epochs=1, verbose=0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = vaezoo.MLPVAE(likelihood="bernoulli", binarization="static", **SMALL)
        model.compile(optimizer="adam")
    model.gather_arrays_in_step = True
    with pytest.warns(UserWarning, match="tf.distribute strategy"):
        model.fit(_images(12), batch_size=6, epochs=1, verbose=0)
    assert rows_datasets == []


def test_the_in_step_gather_is_off_by_default(rows_datasets):
    model = vaezoo.MLPVAE(likelihood="bernoulli", binarization="static", **SMALL)
    assert model.gather_arrays_in_step is False
    model.compile(optimizer="adam")
    model.fit(_images(12), batch_size=6, epochs=1, verbose=0)
    assert rows_datasets == []


def test_a_validation_split_leaving_nothing_is_a_clear_error():
    a, _ = _pair()
    with pytest.raises(ValueError, match="leaves an empty training or validation set"):
        a.fit(_images(1), batch_size=2, validation_split=0.5, verbose=0)


def test_bad_images_are_still_caught_before_the_pipeline():
    a, _ = _pair()
    with pytest.raises(ValueError, match="image"):
        a.fit(np.zeros((10, 5, 5, 1), np.float32), batch_size=2, verbose=0)


def test_epochs_differ_under_a_global_seed_and_the_seed_repeats_them():
    def two_epochs():
        keras.utils.set_random_seed(3)
        ds = pipeline.rows_dataset(_images(50), batch_size=8, shuffle=True)
        return [list(itertools.chain(*e)) for e in _epochs(ds, 2)]

    first = two_epochs()
    assert first[0] != first[1]
    assert two_epochs() == first
