"""dSprites, rendered from its factors: no download, any factor combination on demand.

dSprites (Matthey et al. 2017) is a full factor grid of 64x64 binary images of
one white sprite on black: every combination of

=============  =====  ==========================================================
factor         size   values (as in the published npz, ``latents_values``)
=============  =====  ==========================================================
shape          3      1, 2, 3 = square, ellipse, heart
scale          6      ``linspace(0.5, 1, 6)``
orientation    40     ``linspace(0, 2 pi, 40)``: steps of 2 pi / 39, so index 39
                      (2 pi) repeats index 0, and index 10 is 92.3 degrees, not 90
x_position     32     ``linspace(0, 1, 32)``
y_position     32     ``linspace(0, 1, 32)``
=============  =====  ==========================================================

is present exactly once: 3 * 6 * 40 * 32 * 32 = 737,280 images (the npz's
constant sixth factor, color, is left out). The order is the npz's
(``latents_classes`` columns color, shape, scale, orientation, posX, posY; posY
varies fastest), so the image of factor indices ``(s, k, o, x, y)`` is number
``flat_index = (((s * 6 + k) * 40 + o) * 32 + x) * 32 + y``, the index it has in
the npz and in tfds' ``dsprites``.

How a factor vector becomes pixels. Take continuous image coordinates in
which pixel (row ``r``, column ``c``) is the unit square ``[c, c + 1] x [r,
r + 1]``, x to the right, y downwards:

* **position**: the sprite's centre is at ``(X(x_position), X(y_position))``
  with ``X(p) = 13.25 + 37.5 p``, i.e. at pixel index ``12.75 + 37.5 p``
  (``CENTRE_RANGE``; symmetric about the image centre): x is the column
  (left to right as x grows), y the row (top to bottom as y grows: screen
  coordinates, as on the Love2D canvas the published images were drawn on).
  A step of the position moves the sprite 37.5 / 31 = 1.21 px. The centre is
  the sprite's centre of area, so the centroid of its pixels is at pixel index
  ``12.75 + 37.5 p`` too, for every shape and orientation (up to the pixel grid).
* **size**: lengths scale with ``scale``. At scale 1 (``SPRITE_SIZE`` = 18 px)
  the square is 18 x 18 px; the ellipse has semi-axes 12.6 x 6.3 px (long axis
  along x at orientation 0); the heart is the region
  ``(u^2 + v^2 - 1)^3 <= u^2 v^3`` (v up), 9 px to a unit, 20.5 px wide,
  20.1 px tall, lobes up, point down at orientation 0. Areas at scale 1:
  324, 249.4 and 296.6 px (``SHAPE_AREAS``). A pixel area is
  ``area * scale^2`` within 10% for one image (the pixel grid along the
  outline) and within 0.2% on average over rotations and positions.
* **orientation**: a rotation by the orientation angle about the centre,
  clockwise on screen (positive angles turn x towards y, which points down:
  Love2D's convention). The square has the symmetry of pi / 2 and the ellipse
  of pi, so many grid points show the same picture, as in the published data.
* **rasterization**: a pixel is on (255) when its centre lies inside the
  sprite or on its outline; no anti-aliasing. The largest sprite (the square at
  45 degrees, half-diagonal 12.73 px) stays clear of the outermost pixel
  centres at every position, so a sprite is never cut and the frame's outer
  rows and columns are always black.

Pixel values are 0 and 255 (uint8). tfds' ``dsprites`` stores the npz's 0/1
bytes unchanged (its builder only adds the channel axis), but vaezoo models
read uint8 images as ``value / 255``, so 0/1 bytes would be near-black images
of intensity 1/255; 0/255 makes ``image / 255`` the binary image itself (and
``binarization="static"`` an identity). Divide by 255 to compare with tfds.

Where it can differ from the published npz (which this module never reads;
the geometry above was chosen from what its authors published, not fitted to
its pixels):

* the heart's outline: the npz's heart is a Love2D mesh of hand-made
  vertices, here an algebraic heart curve;
* the rasterization rule (pixel centres, no anti-aliasing, ties counted in)
  and hence single pixels along every outline;
* the exact sizes and the position range: here chosen so that the sprite is
  never cut and the mean pixel value over the grid is 0.0419 (of 1), against
  the npz's 0.0425 (its known mean, 174 lit pixels per image); the ellipse's
  aspect ratio (2:1) and the heart-to-square size ratio are estimates;
* the sense of rotation and the ellipse's axis at orientation 0 (Love2D's
  clockwise convention assumed);
* "all pixel outputs different", which the npz's authors ensured: here the
  sprites' symmetries make some images equal, as in the npz, and the
  smallest steps are not checked to change a pixel.

References:
  Matthey, Higgins, Hassabis, Lerchner, "dSprites: Disentanglement testing
  Sprites dataset", https://github.com/deepmind/dsprites-dataset (2017): the
  factor values, the order and ``dsprites_reloading_example.ipynb``'s metadata;
  its issue #2 for how the images were drawn (Love2D vector shapes, a normalized
  canvas, a custom heart mesh). tfds' ``dsprites_dataset_builder.py``: the
  element keys and dtypes that ``vaezoo.data.load("dsprites")`` mirrors.

Example:
  >>> from vaezoo.data import dsprites
  >>> images = dsprites.render([[2, 5, 0, 16, 16]])    # a big upright heart, centred
  >>> images.shape, images.dtype, int(images.max())
  ((1, 64, 64, 1), dtype('uint8'), 255)
  >>> factors, images = dsprites.DSprites().sample(8, np.random.default_rng(0))
"""

import numpy as np

FACTOR_NAMES = ("shape", "scale", "orientation", "x_position", "y_position")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = 737280
IMAGE_SHAPE = (64, 64, 1)
SHAPE_NAMES = ("square", "ellipse", "heart")
#: tfds' only split, and its size.
SPLITS = {"train": NUM_IMAGES}

#: The value of each factor at each index, as in the npz's ``latents_values``.
FACTOR_VALUES = (
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
for _values in FACTOR_VALUES:
    _values.flags.writeable = False

#: The square's side at scale 1, in pixels; every length is proportional to it.
SPRITE_SIZE = 18.0
#: Pixel-index coordinate of the sprite's centre at position 0 and at position 1.
CENTRE_RANGE = (12.75, 50.25)

_SIZE = 64
_CENTRE_0 = CENTRE_RANGE[0] + 0.5      # the same in continuous coordinates
_CENTRE_SPAN = CENTRE_RANGE[1] - CENTRE_RANGE[0]
_ELLIPSE_SEMI_AXES = (0.7, 0.35)      # in units of SPRITE_SIZE
_HEART_UNIT = 0.5                     # SPRITE_SIZE per unit of the heart curve
# Centre of area of the heart curve's region, above its origin (numerical integration).
_HEART_CENTROID = 0.29348
_HEART_CURVE_AREA = 3.66194           # area of the region, in curve units
#: Area in pixels of each shape at scale 1 (the square, the ellipse, the heart).
SHAPE_AREAS = (SPRITE_SIZE ** 2,
               np.pi * _ELLIPSE_SEMI_AXES[0] * _ELLIPSE_SEMI_AXES[1] * SPRITE_SIZE ** 2,
               _HEART_CURVE_AREA * (_HEART_UNIT * SPRITE_SIZE) ** 2)

_STRIDES = np.array([6 * 40 * 32 * 32, 40 * 32 * 32, 32 * 32, 32, 1], np.int64)
_CHUNK = 4096  # images rendered at once: bounds the temporaries to ~13 MB each
_WINDOW = 28  # px: the side of the square tested around each sprite (see _render_chunk)


def _as_integer_array(values, what):
    array = np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise ValueError(f"{what} must be integers; got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def check_indices(indices):
    """``indices`` as an int64 array ``[n, 5]``, or a ValueError naming the problem.

    Args:
      indices: integer factor indices, one row per image, columns in
        ``FACTOR_NAMES`` order, each within ``[0, FACTOR_SIZES[i])``.

    Raises:
      ValueError: not integers, not of shape ``[n, 5]``, or an index out of range
        (the message names the factor, its range and the bad value).
    """
    array = _as_integer_array(indices, "factor indices")
    if array.ndim != 2 or array.shape[1] != len(FACTOR_NAMES):
        raise ValueError(
            f"factor indices must have shape [n, {len(FACTOR_NAMES)}] (columns "
            f"{', '.join(FACTOR_NAMES)}); got shape {list(array.shape)}")
    for i, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES)):
        column = array[:, i]
        bad = (column < 0) | (column >= size)
        if bad.any():
            raise ValueError(
                f"factor index out of range: {name} (column {i}) must be in [0, {size - 1}]; "
                f"got {int(column[bad][0])} (row {int(np.flatnonzero(bad)[0])})")
    return array


def factor_values(indices):
    """The factor values of factor indices, as in the npz's ``latents_values``.

    Args:
      indices: int ``[n, 5]``.

    Returns:
      float64 ``[n, 5]``: shape 1, 2 or 3, scale, orientation (radians), x and
      y position.

    Example:
      >>> factor_values([[2, 5, 39, 31, 0]])
      array([[3.        , 1.        , 6.28318531, 1.        , 0.        ]])
    """
    indices = check_indices(indices)
    return np.stack([values[indices[:, i]] for i, values in enumerate(FACTOR_VALUES)], axis=1)


def flat_index(indices):
    """The position of images in the npz's (and tfds') order: int64 ``[n]``.

    Example:
      >>> flat_index([[0, 0, 0, 1, 0], [2, 5, 39, 31, 31]])
      array([    32, 737279])
    """
    return check_indices(indices) @ _STRIDES


def factor_indices(flat):
    """The factor indices ``[n, 5]`` (int64) of flat indices ``[n]``; inverse of ``flat_index``.

    Raises:
      ValueError: not integers, not one-dimensional, or outside ``[0, NUM_IMAGES)``.
    """
    flat = _as_integer_array(flat, "flat indices")
    if flat.ndim != 1:
        raise ValueError(f"flat indices must be one-dimensional; got shape {list(flat.shape)}")
    bad = (flat < 0) | (flat >= NUM_IMAGES)
    if bad.any():
        raise ValueError(f"flat index out of range: must be in [0, {NUM_IMAGES - 1}]; got "
                         f"{int(flat[bad][0])}")
    return (flat[:, None] // _STRIDES) % np.array(FACTOR_SIZES, np.int64)


def _render_chunk(indices, out):
    """Draws the sprites of ``indices`` [m, 5] into the zeroed ``out`` [m, 64, 64] (bool)."""
    scale = FACTOR_VALUES[1][indices[:, 1]]
    # 2 pi is taken as 0, so that index 39 draws exactly the picture of index 0.
    angle = np.mod(FACTOR_VALUES[2][indices[:, 2]], 2 * np.pi)
    centre_x = _CENTRE_0 + _CENTRE_SPAN * FACTOR_VALUES[3][indices[:, 3]]
    centre_y = _CENTRE_0 + _CENTRE_SPAN * FACTOR_VALUES[4][indices[:, 4]]
    # Only a window around each sprite is tested: 28 px covers the largest sprite
    # (diameter 25.5 px) wherever its centre falls, 5 times fewer pixels than the frame.
    origin_x = np.clip(np.round(centre_x).astype(np.int64) - _WINDOW // 2, 0, _SIZE - _WINDOW)
    origin_y = np.clip(np.round(centre_y).astype(np.int64) - _WINDOW // 2, 0, _SIZE - _WINDOW)
    steps = np.arange(_WINDOW)
    for shape in range(len(SHAPE_NAMES)):
        rows = np.flatnonzero(indices[:, 0] == shape)
        if not len(rows):
            continue
        cols_px = origin_x[rows, None] + steps          # [m, W] pixel columns of the window
        rows_px = origin_y[rows, None] + steps          # [m, W] pixel rows
        inside = _inside(shape, *(a[rows].astype(np.float32)[:, None, None] for a in (
            np.cos(angle), np.sin(angle), scale * SPRITE_SIZE)),
            dx=(cols_px + 0.5 - centre_x[rows, None]).astype(np.float32)[:, None, :],
            dy=(rows_px + 0.5 - centre_y[rows, None]).astype(np.float32)[:, :, None])
        out[rows[:, None, None], rows_px[:, :, None], cols_px[:, None, :]] = inside


def _inside(shape, cos, sin, unit, dx, dy):
    """Which pixel centres lie in the sprites: ``dx`` [m, 1, W] and ``dy`` [m, W, 1] are
    their offsets from the sprites' centres, the other arguments [m, 1, 1]."""
    # The pixel centre in the sprite's own frame (the inverse rotation), in sprite units.
    u = (cos * dx + sin * dy) / unit
    v = (cos * dy - sin * dx) / unit
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 0.5
    if shape == 1:
        a, b = _ELLIPSE_SEMI_AXES
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    hx = u / _HEART_UNIT
    hy = _HEART_CENTROID - v / _HEART_UNIT  # the curve's y points up, the rows' down
    hx2 = hx * hx
    return (hx2 + hy * hy - 1.0) ** 3 <= hx2 * hy ** 3


def render(indices):
    """The images of factor indices, rendered: uint8 ``[n, 64, 64, 1]`` with values 0 and 255.

    Vectorized over images (in chunks of ``_CHUNK``, so memory stays bounded
    for any ``n``); the module docstring says how factors map to pixels.

    Args:
      indices: int ``[n, 5]``, columns in ``FACTOR_NAMES`` order.

    Raises:
      ValueError: bad indices (see ``check_indices``).

    Example:
      >>> render(factor_indices(np.arange(32))).shape  # y position 0..31 of the first square
      (32, 64, 64, 1)
    """
    indices = check_indices(indices)
    images = np.zeros((len(indices), _SIZE, _SIZE, 1), np.uint8)
    mask = np.zeros((min(_CHUNK, len(indices)), _SIZE, _SIZE), bool)
    for start in range(0, len(indices), _CHUNK):
        chunk = indices[start:start + _CHUNK]
        mask[:len(chunk)] = False
        _render_chunk(chunk, mask[:len(chunk)])
        images[start:start + len(chunk), :, :, 0] = mask[:len(chunk)] * np.uint8(255)
    return images


def _split_ranges(split):
    """``[(start, stop), ...]``: the flat index ranges of a tfds split string."""
    from vaezoo.data import splits  # here: it imports tensorflow_datasets' split parser

    return [(start, stop) for _, start, stop in splits.parse_split(split, SPLITS)]


def split_indices(split="train"):
    """The flat indices (int64 ``[N]``, in order) of a tfds split string of dSprites.

    tfds' ``dsprites`` has one split, ``"train"``, of all 737,280 images, so
    ``"train[:10%]"``, ``"train[1000:2000]"`` or ``"all"`` select ranges of the
    grid in the npz order.

    Raises:
      ValueError: a split string tfds does not accept, or another split name.
    """
    return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in _split_ranges(split)]
                          or [np.zeros((0,), np.int64)])


def _elements(flat):
    """Images, factor indices and float32 factor values of a batch of flat indices."""
    indices = factor_indices(flat)
    return render(indices), indices, factor_values(indices).astype(np.float32)


def dataset(split="train", *, batch_size=256):
    """The images of a split as an unbatched ``tf.data.Dataset``, rendered as it is read.

    Elements are tfds' ``dsprites`` elements: ``image`` uint8 [64, 64, 1]
    (0/255 here, see the module docstring), ``label_<factor>`` int64 [] (the
    factor indices) and ``value_<factor>`` float32 [] (the factor values), for
    each factor of ``FACTOR_NAMES``. Building it is instant; iterating renders
    ``batch_size`` images per NumPy call. The cardinality is known.

    Args:
      split: tfds split string (``split_indices``).
      batch_size: images rendered per call (the dataset is unbatched either way).

    Example:
      >>> ds = dataset("train[:1%]").shuffle(10000).batch(64)
    """
    import tensorflow as tf  # here: the NumPy rendering above needs no TensorFlow

    pieces = [tf.data.Dataset.range(start, stop) for start, stop in _split_ranges(split)]
    ds = pieces[0]
    for piece in pieces[1:]:
        ds = ds.concatenate(piece)
    total = int(ds.cardinality())

    def render_batch(flat):
        images, indices, values = tf.numpy_function(
            _elements, [flat], [tf.uint8, tf.int64, tf.float32], stateful=False)
        images.set_shape((None, *IMAGE_SHAPE))
        indices.set_shape((None, len(FACTOR_NAMES)))
        values.set_shape((None, len(FACTOR_NAMES)))
        element = {"image": images}
        for i, name in enumerate(FACTOR_NAMES):
            element[f"label_{name}"] = indices[:, i]
            element[f"value_{name}"] = values[:, i]
        return element

    ds = ds.batch(batch_size).map(render_batch, num_parallel_calls=tf.data.AUTOTUNE,
                                  deterministic=True)
    return ds.unbatch().apply(tf.data.experimental.assert_cardinality(total))


class DSprites:
    """dSprites as ground-truth data: factors sampled uniformly, images rendered from them.

    The interface of disentanglement metrics' ground-truth data
    (``factor_sizes``, ``sample_factors``, ``sample_observations_from_factors``,
    ``sample``; as in disentanglement_lib). Observations are uint8 0/255
    images; they are a function of the factors, so ``rng`` draws the factors
    only.

    Example:
      >>> data = DSprites()
      >>> rng = np.random.default_rng(0)
      >>> factors, images = data.sample(100, rng)
      >>> images.shape, data.factor_sizes
      ((100, 64, 64, 1), (3, 6, 40, 32, 32))
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = IMAGE_SHAPE

    @property
    def num_factors(self):
        return len(self.factor_sizes)

    def sample_factors(self, n, rng):
        """``n`` factor index vectors drawn uniformly over the grid: int64 ``[n, 5]``.

        Args:
          n: number of samples (a non-negative integer).
          rng: a ``np.random.Generator``.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer; got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); "
                             f"got {type(rng).__name__}")
        return np.stack([rng.integers(0, size, n, dtype=np.int64) for size in self.factor_sizes],
                        axis=1).reshape(int(n), self.num_factors)

    def sample_observations_from_factors(self, factors, rng):
        """The images of ``factors`` [n, 5]: uint8 ``[n, 64, 64, 1]`` (``rng`` is unused)."""
        del rng  # rendering is deterministic; the argument keeps the metrics' interface
        return render(factors)

    def sample(self, n, rng):
        """``(factors, observations)``: ``n`` uniform factor vectors and their images."""
        factors = self.sample_factors(n, rng)
        return factors, self.sample_observations_from_factors(factors, rng)
