"""Tests of vaezoo.data.dsprites: the factor grid, the rendering's geometry, and ``load``.

Every test renders only the images it looks at (never the grid: that is 737,280).
"""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from vaezoo import data
from vaezoo.data import dsprites
from vaezoo.preprocessing import static_binarize

SQUARE, ELLIPSE, HEART = range(3)


def _on(images):
    """Boolean masks [n, 64, 64] of the lit pixels."""
    return np.asarray(images)[..., 0] > 0


def _iou(a, b):
    a, b = _on(a[None])[0], _on(b[None])[0]
    return (a & b).sum() / (a | b).sum()


def _centroids(images):
    """(column, row) centroids [n, 2] of the lit pixels, in pixel-index coordinates."""
    mask = _on(images)
    rows, cols = np.indices(mask.shape[1:])
    area = mask.sum((1, 2))
    return np.stack([(mask * cols).sum((1, 2)) / area, (mask * rows).sum((1, 2)) / area], 1)


def _grid(**fixed):
    """Factor index rows [n, 5]: the product of the given values (an int or a list each)."""
    axes = [np.atleast_1d(fixed.get(name, 0)) for name in dsprites.FACTOR_NAMES]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))


# ---------------------------------------------------------------- the grid and its order

def test_constants_are_the_published_grid():
    assert dsprites.FACTOR_NAMES == ("shape", "scale", "orientation", "x_position",
                                     "y_position")
    assert dsprites.FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert dsprites.NUM_IMAGES == np.prod(dsprites.FACTOR_SIZES) == 737280
    assert dsprites.IMAGE_SHAPE == (64, 64, 1)
    values = dsprites.factor_values([[2, 5, 39, 31, 31], [0, 0, 0, 0, 0], [1, 1, 10, 1, 2]])
    np.testing.assert_allclose(values[0], [3, 1, 2 * np.pi, 1, 1])
    np.testing.assert_allclose(values[1], [1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(values[2], [2, 0.6, 10 * 2 * np.pi / 39, 1 / 31, 2 / 31])


def test_flat_index_round_trip_in_npz_order(rng):
    flat = np.concatenate([[0, 1, 31, 32, 1023, 1024, dsprites.NUM_IMAGES - 1],
                           rng.integers(0, dsprites.NUM_IMAGES, 5000)])
    indices = dsprites.factor_indices(flat)
    assert indices.dtype == np.int64 and indices.shape == (len(flat), 5)
    np.testing.assert_array_equal(dsprites.flat_index(indices), flat)
    # posY fastest, then posX, orientation, scale, shape (the npz's latents_classes order).
    np.testing.assert_array_equal(indices[:7], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1],
                                                [0, 0, 0, 0, 31], [0, 0, 0, 1, 0],
                                                [0, 0, 0, 31, 31], [0, 0, 1, 0, 0],
                                                [2, 5, 39, 31, 31]])
    random = dsprites.DSprites().sample_factors(1000, rng)
    np.testing.assert_array_equal(dsprites.factor_indices(dsprites.flat_index(random)), random)


# ---------------------------------------------------------------- load / load_arrays

def test_load_has_tfds_dsprites_elements():
    ds = data.load("dsprites", verbose=False)
    assert ds.cardinality().numpy() == 737280
    expected = {"image": tf.TensorSpec((64, 64, 1), tf.uint8)}
    for name in dsprites.FACTOR_NAMES:
        expected[f"label_{name}"] = tf.TensorSpec((), tf.int64)
        expected[f"value_{name}"] = tf.TensorSpec((), tf.float32)
    assert ds.element_spec == expected
    first = next(iter(ds.skip(0)))
    assert first["image"].dtype == tf.uint8 and first["image"].shape == (64, 64, 1)
    assert first["label_x_position"].dtype == tf.int64
    assert first["value_orientation"].dtype == tf.float32
    assert data.source_of("dsprites") == "render"
    assert data.info("dsprites") == {"image_shape": (64, 64, 1), "num_classes": None,
                                     "splits": {"train": 737280}, "class_names": ()}


@pytest.mark.parametrize("split,n", [("train", 737280), ("all", 737280),
                                     ("train[:10%]", 73728), ("train[1000:2000]", 1000),
                                     ("train[-5:]", 5), ("train[:3]+train[10:12]", 5),
                                     ("train[7:7]", 0)])
def test_split_cardinality(split, n):
    assert data.load("dsprites", split, verbose=False).cardinality().numpy() == n
    assert len(dsprites.split_indices(split)) == n


def test_labels_and_images_of_a_slice_are_the_grids():
    a, b = 123456, 123456 + 70  # crosses a y-position wrap (multiple of 32)
    expected = dsprites.factor_indices(np.arange(a, b))
    batch = next(iter(data.load("dsprites", f"train[{a}:{b}]", verbose=False).batch(100)))
    labels = np.stack([batch[f"label_{n}"].numpy() for n in dsprites.FACTOR_NAMES], 1)
    values = np.stack([batch[f"value_{n}"].numpy() for n in dsprites.FACTOR_NAMES], 1)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(values, dsprites.factor_values(expected), rtol=1e-6)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(batch["image"].numpy(), dsprites.render(expected))
    images, factors = data.load_arrays("dsprites", f"train[{a}:{b}]", verbose=False)
    assert images.dtype == np.uint8 and images.shape == (b - a, 64, 64, 1)
    np.testing.assert_array_equal(factors, expected)
    np.testing.assert_array_equal(images, batch["image"].numpy())


def test_static_binarization_is_the_binary_image():
    ds = data.load("dsprites", "train[5000:5040]", binarization="static", verbose=False)
    assert ds.element_spec["image"] == tf.TensorSpec((64, 64, 1), tf.float32)
    streamed = next(iter(ds.batch(40)))["image"].numpy()
    images, _ = data.load_arrays("dsprites", "train[5000:5040]", binarization="static",
                                 verbose=False)
    rendered = dsprites.render(dsprites.factor_indices(np.arange(5000, 5040)))
    expected = rendered / 255.0
    np.testing.assert_array_equal(streamed, expected)
    np.testing.assert_array_equal(images, expected)
    assert images.dtype == np.float32
    # What static_binarize gives, for any seed: the images are binary already.
    for seed in (0, 3):
        np.testing.assert_array_equal(static_binarize(rendered, seed).numpy(), expected)


@pytest.mark.parametrize("source", ["tfds", "idx"])
def test_other_sources_are_a_value_error(source):
    with pytest.raises(ValueError, match=f"source='{source}' does not apply to 'dsprites'.*"
                                         "auto"):
        data.load("dsprites", source=source, verbose=False)
    with pytest.raises(ValueError, match="does not apply"):
        data.load_arrays("dsprites", "train[:4]", source=source, verbose=False)


def test_bad_split_is_a_value_error():
    with pytest.raises(ValueError, match="test"):
        data.load("dsprites", "test", verbose=False)
    with pytest.raises(ValueError, match="Unsupported split"):
        data.load("dsprites", "train[:10", verbose=False)


def test_a_batch_goes_into_fit():
    """The dict batches (no "label", ten factor keys) go through the one batch unpacker."""
    import vaezoo
    from vaezoo.batches import unpack_batch

    # Binary data for a Bernoulli model: "static" is the {0, 1} image itself.
    ds = data.load("dsprites", "train[:64]", binarization="static", verbose=False).batch(32)
    images, labels = unpack_batch(next(iter(ds)))
    assert images.shape == (32, 64, 64, 1) and labels is None
    model = vaezoo.MLPVAE(latent_dim=2, hidden_units=(8,), seed=0)
    model.compile(optimizer="adam")
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][-1])


# ---------------------------------------------------------------- the rendering

def test_images_are_binary_and_inside_the_frame_at_every_extreme():
    # Both extreme scales and positions, every orientation, every shape: 960 images.
    images = dsprites.render(_grid(shape=[0, 1, 2], scale=[0, 5], orientation=range(40),
                                   x_position=[0, 31], y_position=[0, 31]))
    assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 1)
    assert set(np.unique(images)) == {0, 255}
    mask = _on(images)
    assert mask.sum((1, 2)).min() > 0
    # A sprite cut by the frame would light its outer rows or columns: they stay black.
    assert not (mask[:, 0].any() or mask[:, -1].any() or mask[:, :, 0].any()
                or mask[:, :, -1].any())


def test_areas_grow_as_scale_squared(rng):
    """Pixel areas are area(shape) * scale^2.

    Tolerances from measurements over 10,000 random grid points: a single
    image's area is within 10% of the continuous one (the pixel grid along the
    outline; worst for the smallest squares, 9 px wide), the mean per shape and
    scale within 0.2%. So: 13% per image, 2% for means over 40 images.
    """
    factors = dsprites.DSprites().sample_factors(720, rng)
    areas = _on(dsprites.render(factors)).sum((1, 2))
    scale = dsprites.factor_values(factors)[:, 1]
    for shape in range(3):
        ratio = (areas / scale ** 2)[factors[:, 0] == shape] / dsprites.SHAPE_AREAS[shape]
        assert np.abs(ratio - 1).max() < 0.13, (dsprites.SHAPE_NAMES[shape], ratio.min(),
                                                 ratio.max())
    # Per shape and scale: 40 orientations at random positions.
    for shape in range(3):
        for k in range(6):
            rows = _grid(shape=shape, scale=k, orientation=range(40))
            rows[:, 3:] = rng.integers(0, 32, (len(rows), 2))
            mean = _on(dsprites.render(rows)).sum((1, 2)).mean()
            expected = dsprites.SHAPE_AREAS[shape] * dsprites.FACTOR_VALUES[1][k] ** 2
            assert abs(mean / expected - 1) < 0.02, (dsprites.SHAPE_NAMES[shape], k, mean)
    # The shapes' sizes: the square is SPRITE_SIZE px wide at scale 1, half at scale 0.5.
    widths = _on(dsprites.render([[SQUARE, 5, 0, 0, 0], [SQUARE, 0, 0, 0, 0]])).any(1).sum(1)
    np.testing.assert_array_equal(widths, [18, 9])


def test_areas_do_not_depend_on_rotation_or_position():
    for shape in range(3):
        turning = _on(dsprites.render(_grid(shape=shape, scale=5, orientation=range(40),
                                            x_position=9, y_position=20))).sum((1, 2))
        moving = _on(dsprites.render(_grid(shape=shape, scale=5, orientation=7,
                                           x_position=range(32), y_position=[3, 28])))
        moving = moving.sum((1, 2))
        for areas in (turning, moving):
            assert areas.std() / areas.mean() < 0.02 and np.ptp(areas) / areas.mean() < 0.08


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_centroids_follow_the_positions(shape):
    """The centroid is linear in the position, x along the columns (left to right) and y
    along the rows (top to bottom), at pixel index 12.75 + 37.5 p, for every orientation."""
    lo, hi = dsprites.CENTRE_RANGE
    p = dsprites.FACTOR_VALUES[3]
    for orientation in (0, 5, 13):
        along_x = _centroids(dsprites.render(_grid(shape=shape, scale=2, orientation=orientation,
                                                   x_position=range(32), y_position=6)))
        along_y = _centroids(dsprites.render(_grid(shape=shape, scale=2, orientation=orientation,
                                                   x_position=25, y_position=range(32))))
        for moving, fixed, centroids, other in ((0, 1, along_x, p[6]), (1, 0, along_y, p[25])):
            slope, intercept = np.polyfit(p, centroids[:, moving], 1)
            assert slope == pytest.approx(hi - lo, abs=0.3)  # > 0: the published directions
            assert intercept == pytest.approx(lo, abs=0.3)
            assert np.abs(centroids[:, moving] - (lo + (hi - lo) * p)).max() < 0.4
            assert np.abs(centroids[:, fixed] - (lo + (hi - lo) * other)).max() < 0.4


def test_rotation_symmetries():
    # Index 10 is 92.3 degrees: the square is (nearly) its own quarter turn...
    for k in (0, 3, 5):
        for x in (0, 13, 31):
            square = dsprites.render([[SQUARE, k, 0, x, 7], [SQUARE, k, 10, x, 7]])
            assert _iou(*square) > 0.88
            # ... the ellipse its own half turn (index 20: 184.6 degrees), the heart not.
            ellipse = dsprites.render([[ELLIPSE, k, 0, x, 7], [ELLIPSE, k, 20, x, 7]])
            heart = dsprites.render([[HEART, k, 0, x, 7], [HEART, k, 20, x, 7],
                                     [HEART, k, 19, x, 7]])
            assert _iou(*ellipse) > 0.85
            assert _iou(heart[0], heart[1]) < 0.8 and _iou(heart[0], heart[2]) < 0.8


def test_orientation_2pi_repeats_orientation_0():
    first = _grid(shape=[0, 1, 2], scale=[0, 3, 5], orientation=0, x_position=[0, 17, 31],
                  y_position=[2, 30])
    last = first.copy()
    last[:, 2] = 39
    np.testing.assert_array_equal(dsprites.render(first), dsprites.render(last))
    assert not np.array_equal(dsprites.render(first[:1] + [0, 0, 1, 0, 0]),
                              dsprites.render(first[:1]))


def test_heart_points_down_and_turns_clockwise():
    """At orientation 0 the heart's point is at the bottom (its farthest pixel from the
    centroid); a quarter turn (index 10) takes it to the left: clockwise on screen."""
    upright, turned = _on(dsprites.render([[HEART, 5, 0, 16, 16], [HEART, 5, 10, 16, 16]]))
    centre = dsprites.CENTRE_RANGE[0] + (dsprites.CENTRE_RANGE[1] - dsprites.CENTRE_RANGE[0]) \
        * dsprites.FACTOR_VALUES[3][16]
    rows = np.flatnonzero(upright.any(1))
    cols = np.flatnonzero(turned.any(0))
    assert rows.max() - centre > centre - rows.min() + 1.5   # point below, lobes above
    assert centre - cols.min() > cols.max() - centre + 1.5   # point left after the turn


# ---------------------------------------------------------------- DSprites and bad input

def test_ground_truth_sampling_is_seeded():
    gt = data.DSprites()
    assert gt.factor_sizes == (3, 6, 40, 32, 32) and gt.num_factors == 5
    assert gt.factor_names == dsprites.FACTOR_NAMES and gt.observation_shape == (64, 64, 1)
    f1, x1 = gt.sample(50, np.random.default_rng(7))
    f2, x2 = gt.sample(50, np.random.default_rng(7))
    f3, _ = gt.sample(50, np.random.default_rng(8))
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(f1, f3)
    assert f1.dtype == np.int64 and f1.shape == (50, 5)
    assert x1.dtype == np.uint8 and x1.shape == (50, 64, 64, 1)
    assert (f1 >= 0).all() and (f1 < np.array(gt.factor_sizes)).all()
    np.testing.assert_array_equal(gt.sample_observations_from_factors(f1, None), x1)
    assert gt.sample_factors(0, np.random.default_rng(0)).shape == (0, 5)
    # Uniform over the grid: every value of every factor shows up in 5,000 draws.
    many = gt.sample_factors(5000, np.random.default_rng(0))
    assert [len(np.unique(c)) for c in many.T] == list(gt.factor_sizes)


@pytest.mark.parametrize("indices,message", [
    ([[3, 0, 0, 0, 0]], r"out of range: shape \(column 0\) must be in \[0, 2\]; got 3"),
    ([[0, 0, 40, 0, 0]], r"orientation \(column 2\) must be in \[0, 39\]; got 40"),
    ([[0, 0, 0, 0, -1]], r"y_position \(column 4\) must be in \[0, 31\]; got -1"),
    ([[0, 0, 0, 0]], r"shape \[n, 5\].*got shape \[1, 4\]"),
    ([0, 0, 0, 0, 0], r"shape \[n, 5\].*got shape \[5\]"),
    (np.zeros((2, 5)), "must be integers; got dtype float64"),
])
def test_bad_factor_indices_are_value_errors(indices, message):
    with pytest.raises(ValueError, match=message):
        dsprites.render(indices)
    with pytest.raises(ValueError, match=message):
        dsprites.flat_index(indices)


def test_bad_flat_indices_and_sampling_arguments_are_value_errors():
    with pytest.raises(ValueError, match=r"flat index out of range.*\[0, 737279\]; got 737280"):
        dsprites.factor_indices([737280])
    with pytest.raises(ValueError, match="one-dimensional"):
        dsprites.factor_indices([[1]])
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        data.DSprites().sample(3, 0)
    with pytest.raises(ValueError, match="non-negative integer"):
        data.DSprites().sample(-1, np.random.default_rng(0))


def test_rendering_needs_no_tensorflow():
    """The metrics' ground-truth data imports NumPy only."""
    code = ("import sys; from vaezoo.data import dsprites; "
            "dsprites.DSprites().sample(2, __import__('numpy').random.default_rng(0)); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mean_pixel_value_is_the_documented_one():
    """The module docstring's mean pixel value over the grid (0.0419, against the npz's
    0.0425), estimated from 20,000 uniform draws (standard error ~0.0002)."""
    truth = dsprites.DSprites()
    factors = truth.sample_factors(20000, np.random.default_rng(0))
    mean = dsprites.render(factors).mean() / 255.0
    assert abs(mean - 0.0419) < 0.001, mean
