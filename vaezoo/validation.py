"""Input checks at the library's boundary: clear errors instead of TensorFlow traces.

(Over 400 lines with one job: every check of what a user gives the library,
eager and in the input pipeline, and the translation of a failed in-pipeline
check back into a ValueError; the two halves share their messages.)

Every public entry point that takes images (``fit``, ``evaluate``, ``predict``,
``encode``, ``elbo``, ``reconstruct``, the evaluation functions) runs these
checks, so a bad input is a ``ValueError`` or ``TypeError`` that names the
problem and the fix, never a ``tf.errors`` stack trace from deep inside a
compiled step, and never a silent wrong result:

=============================  ==============================================
input                          check
=============================  ==============================================
rank                           images are ``[batch, H, W, C]`` (or ``[batch, H, W]``)
shape                          ``(H, W, C)`` equals the built model's ``image_shape``
dtype                          uint8 (0..255) or float (0..1)
values                         float pixels finite and inside [0, 1]
                               (0..255 floats are the usual mistake)
empty data                     at least one batch
sizes                          ``batch_size``, ``num_samples``, ... positive integers
=============================  ==============================================

(Weights and model files are checked where they are read:
``vaezoo.models.weights`` and ``vaezoo.saving``.)

Where the checks run. ``tf.debugging`` asserts are no-ops inside XLA-compiled
train steps, so value checks never live in the step:

* NumPy arrays and eager tensors are checked directly (``min`` and ``max``,
  through which NaN propagates; uint8 images need no value check at all).
* A ``tf.data.Dataset`` is checked statically on its ``element_spec`` (rank,
  shape, dtype) and, unless it holds uint8 images of a known shape, gets a
  check ``map``-ped over its batches and prefetched, so the checks run ahead of
  the train step (shape; for float images one fused ``0 <= x <= 1`` pass, the
  reductions that explain a failure run only when it fails). A failed check
  raises ``InvalidArgumentError`` from the input pipeline with a message tagged
  ``MARKER``; ``translate_errors`` turns it into a ``ValueError``.

A leaf: it imports no model (``checked_call`` takes the model as an argument).

Example:
  >>> from vaezoo import validation
  >>> validation.check_images(np.full((2, 28, 28, 1), 255.0), (28, 28, 1))
  Traceback (most recent call last):
  ValueError: float images must have pixel values in [0, 1]; got values in [255, 255] ...
"""

import contextlib
import math

import numpy as np
import tensorflow as tf

from vaezoo.batches import unpack_batch

#: Tag of the messages of the in-pipeline checks (found again in InvalidArgumentError).
MARKER = "vaezoo input check: "

_RANGE_FIX = ("Give uint8 images (0..255) as they come from tfds, or float images divided by "
              "255 (e.g. images / 255.0).")


def check_positive_int(name, value, example=None):
    """``int(value)``, or a ValueError when it is not a positive integer (bools excluded).

    ``example``, if given, is shown as a valid value in the message.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        hint = "" if example is None else f" (e.g. {example})"
        raise ValueError(f"{name} must be a positive integer{hint}; got {value!r}")
    return int(value)


def check_bool(name, value):
    """``value`` if it is True or False, else a ValueError (1, "yes" and None are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_number(name, value, minimum=0.0):
    """``float(value)``, or a ValueError when it is not a number >= ``minimum`` (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum:g}; got {value!r}")
    return float(value)


def check_positive_ints(name, values, example=None, *, allow_empty=False):
    """``tuple(int(v) for v in values)``, or a ValueError naming ``name`` when ``values``
    is not a sequence of positive integers (a bare number, floats, zeros, or an empty
    sequence unless ``allow_empty``).

    ``example``, if given, is shown as a valid value in the message.
    """
    hint = "" if example is None else f", e.g. {example}"
    ok = isinstance(values, (list, tuple)) and (allow_empty or len(values) > 0) and all(
        not isinstance(v, bool) and isinstance(v, (int, np.integer)) and v > 0 for v in values)
    if not ok:
        raise ValueError(f"{name} must be a {'possibly empty ' if allow_empty else ''}list or "
                         f"tuple of positive integers{hint}; got {values!r}")
    return tuple(int(v) for v in values)


# ---------------------------------------------------------------------- shapes and dtypes
def _expected_str(image_shape):
    return "(height, width, channels)" if image_shape is None else str(tuple(image_shape))


def check_image_spec(shape, dtype, image_shape=None, *, what="images"):
    """Static checks of a batch's shape and dtype (lists/TensorShapes with None allowed).

    Args:
      shape: the batch shape, e.g. ``(None, 28, 28, 1)``; ``None`` if unknown.
      dtype: a ``tf.DType`` or NumPy dtype.
      image_shape: the model's ``(H, W, C)`` if it is built, else None.
      what: how the input is named in messages.
    """
    dtype = tf.as_dtype(dtype)
    if dtype != tf.uint8 and not dtype.is_floating:
        raise TypeError(
            f"{what} must be uint8 (0..255) or float (0..1); got dtype {dtype.name}. Cast them, "
            f"e.g. tf.cast(images, tf.uint8) for 0..255 integers.")
    if shape is None or tf.TensorShape(shape).rank is None:
        return
    shape = tuple(tf.TensorShape(shape).as_list())
    if image_shape is not None and shape == tuple(image_shape):
        raise ValueError(
            f"{what} are single images of shape {shape}; the model takes batches "
            f"[batch, height, width, channels]. Batch them: dataset.batch(128), or images[None] "
            f"for one image.")
    if len(shape) == 3 and (image_shape is None or image_shape[-1] == 1):
        shape = shape + (1,)                   # [B, H, W] gray images get a channel axis
    if len(shape) != 4:
        raise ValueError(
            f"{what} must have rank 4 [batch, height, width, channels] (or rank 3 for gray "
            f"images); got shape {shape} (rank {len(shape)}). Expected images of shape "
            f"{_expected_str(image_shape)} in batches.")
    if image_shape is not None and any(
            g is not None and g != e for g, e in zip(shape[1:], image_shape)):
        raise ValueError(
            f"this model was built for images of shape {tuple(image_shape)}; {what} have shape "
            f"{shape[1:]}. Resize the images, or build a new model for this shape "
            f"(image_shape={shape[1:]}).")
    if shape[0] == 0:
        raise ValueError(f"{what} are an empty batch (shape {shape}); give at least one image")


def check_image_values(images, *, what="images"):
    """Finite and in [0, 1] for float images (a no-op for uint8); eager arrays/tensors only.

    Two reductions (min and max; NaN propagates through both, Inf lands outside
    [0, 1]), so the cost is two passes over the pixels.
    """
    if tf.is_tensor(images):
        if images.dtype == tf.uint8 or not images.dtype.is_floating or tf.size(images) == 0:
            return
        lo, hi = float(tf.reduce_min(images)), float(tf.reduce_max(images))
    else:
        images = np.asarray(images)
        if images.dtype == np.uint8 or not np.issubdtype(images.dtype, np.floating) or (
                images.size == 0):
            return
        lo, hi = float(images.min()), float(images.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or (
            (lo < 0.0 or hi > 1.0) and not _all_finite(images)):
        raise ValueError(
            f"{what} contain NaN or Inf pixel values; every pixel must be a finite number in "
            f"[0, 1] (or uint8). Find the bad images with np.isfinite(images).")
    if lo < 0.0 or hi > 1.0:
        hint = " They look like 0..255 values stored as floats." if hi > 1.0 and hi <= 255 else ""
        raise ValueError(
            f"float {what} must have pixel values in [0, 1]; got values in [{lo:g}, {hi:g}].{hint} "
            + _RANGE_FIX)


def _all_finite(images):
    if tf.is_tensor(images):
        return bool(tf.reduce_all(tf.math.is_finite(images)))
    return bool(np.isfinite(images).all())


def check_images(images, image_shape=None, *, what="images"):
    """Static and value checks of an in-memory batch (NumPy array, list or eager tensor)."""
    if not tf.is_tensor(images):
        try:
            images = np.asarray(images)
        except ValueError:              # NumPy refuses ragged nested lists
            images = np.empty(0, dtype=object)
        if images.dtype == object:
            raise TypeError(f"{what} must be a numeric array; got ragged or mixed data "
                            f"(NumPy dtype object). Give an array of shape [batch, H, W, C].")
    check_image_spec(images.shape, images.dtype, image_shape, what=what)
    check_image_values(images, what=what)
    return images


# ---------------------------------------------------------------------- batches as structures
def _with_images(batch, images):
    if isinstance(batch, dict):
        return {**batch, "image": images}
    if isinstance(batch, tuple):
        return (images,) + batch[1:]
    return images


def _batch_check_fn(image_shape):
    """tf.data map function: shape (and, for floats, values) of one batch of images."""
    expected = None if image_shape is None else tf.constant(image_shape, tf.int32)

    def check(images):
        deps = []
        if expected is not None and images.shape.rank == 4:
            deps.append(tf.debugging.Assert(
                tf.reduce_all(tf.equal(tf.shape(images)[1:], expected)),
                [f"{MARKER}images have shape", tf.shape(images)[1:], "but this model was built "
                 f"for images of shape {tuple(image_shape)}; resize them or build a model for "
                 f"their shape"]))
        if images.dtype.is_floating:
            # The happy path is one fused pass (NaN fails both comparisons); the
            # reductions that explain a failure run only in the failing branch.
            ok = tf.reduce_all(tf.logical_and(images >= 0, images <= 1))
            deps.append(tf.cond(ok, lambda: ok, lambda: _explain_bad_values(images)))
        if not deps:
            return images
        with tf.control_dependencies(deps):
            return tf.identity(images)

    return check


def _explain_bad_values(images):
    """Fails with the message naming what is wrong with a float batch (runs on failure only)."""
    finite = tf.reduce_all(tf.math.is_finite(images))
    nan = tf.debugging.Assert(finite, [
        f"{MARKER}images contain NaN or Inf pixel values; every pixel must be a finite "
        f"number in [0, 1] (or uint8)"])
    with tf.control_dependencies([nan]):
        low, high = tf.reduce_min(images), tf.reduce_max(images)
        in_range = tf.debugging.Assert(tf.logical_and(low >= 0, high <= 1), [
            f"{MARKER}float images must have pixel values in [0, 1]; got min", low, "max",
            high, f"(0..255 floats?). {_RANGE_FIX}"])
    with tf.control_dependencies([in_range]):
        return tf.identity(finite)


def check_dataset(dataset, image_shape=None, *, what="the dataset"):
    """Static checks of a batched ``tf.data.Dataset`` and a check op mapped over its batches.

    Returns the dataset to use in place of ``dataset``.
    """
    spec = unpack_batch(dataset.element_spec)[0]
    if not isinstance(spec, tf.TensorSpec):
        raise TypeError(f"{what} must yield image tensors (or dicts / tuples holding them); "
                        f"got elements {dataset.element_spec}")
    check_image_spec(spec.shape, spec.dtype, image_shape, what=f"the images of {what}")
    cardinality = int(dataset.cardinality())
    if cardinality == 0:
        raise ValueError(f"{what} is empty (0 batches); give a dataset with at least one batch "
                         f"(check the split and any filter or take)")
    static = tf.TensorShape(spec.shape)
    if spec.dtype == tf.uint8 and (image_shape is None or (
            static.rank == 4 and static[1:].is_fully_defined())):
        return dataset                     # nothing left to check per batch
    check = _batch_check_fn(image_shape)
    return dataset.map(lambda *e: _with_images(e[0] if len(e) == 1 else e,
                                               check(unpack_batch(e[0] if len(e) == 1 else e)[0])),
                       num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=True).prefetch(tf.data.AUTOTUNE)  # checks run ahead


def checked_input(data, image_shape=None, *, what="x"):
    """``data`` checked (datasets get the check map); other input kinds are returned as is."""
    if data is None:
        return None
    if isinstance(data, tf.data.Dataset):
        return check_dataset(data, image_shape, what=what)
    if isinstance(data, (np.ndarray, list)) or tf.is_tensor(data):
        check_images(data, image_shape, what=what)
    elif isinstance(data, (dict, tuple)):
        images = unpack_batch(data)[0]
        if isinstance(images, (np.ndarray, list)) or tf.is_tensor(images):
            check_images(images, image_shape, what=what)
    return data


# ---------------------------------------------------------------------- TF errors -> ValueError
def input_check_message(error):
    """The message of a failed in-pipeline check, or None if ``error`` is another error."""
    text = getattr(error, "message", None) or str(error)
    start = text.find(MARKER)
    if start < 0:
        return None
    message = text[start + len(MARKER):].split("\n")[0]
    # tf.debugging.Assert prints each data item in brackets: "a] [1.5] [b]".
    return message.replace("] [", " ").rstrip("]").strip()


@contextlib.contextmanager
def translate_errors(where):
    """Turn a failed input check raised from the data pipeline into a ValueError."""
    try:
        yield
    except tf.errors.InvalidArgumentError as e:
        message = input_check_message(e)
        if message is None:
            raise
        raise ValueError(f"{where}: {message}") from None


def _is_image_batch(value):
    """True for an in-memory batch of images (rank >= 3: [B, H, W] or [B, H, W, C])."""
    if not (isinstance(value, np.ndarray) or tf.is_tensor(value)):
        return False
    return value.shape.rank is not None and value.shape.rank >= 3 if tf.is_tensor(value) \
        else value.ndim >= 3


def split_pair(x, y=None):
    """``(x, y)`` with an ``x`` given as a pair ``(images, labels)`` split in two.

    Keras reads a tuple ``x`` of arrays as several inputs; the one model input of a
    VAE is the images, so ``fit((images, labels))`` means what a dataset of
    ``(images, labels)`` elements means. A list is read so only when its second item
    has a lower rank than the images (labels), so a list of images stays images.
    """
    if y is None and isinstance(x, (tuple, list)) and len(x) == 2 and _is_image_batch(x[0]):
        rank = len(np.shape(x[1])) if not tf.is_tensor(x[1]) else x[1].shape.rank
        if isinstance(x, tuple) or (rank is not None and rank < len(x[0].shape)):
            return x[0], x[1]
    return x, y


def batch_shapes(x, y=None):
    """The shapes of a batch of ``x`` (with ``y``) in the form a model's ``build`` takes:
    ``(None, H, W, C)`` for images, a dict or tuple of such for dict or tuple batches.

    ``x`` is a ``tf.data.Dataset`` or in-memory data (an array or tensor, or a dict
    or tuple of them). None when the image shape is not known before the data is
    read: a generator, or a dataset whose image sizes vary.
    """
    if isinstance(x, tf.data.Dataset):
        batch = x.element_spec
    elif y is not None:
        batch = (x, y)
    else:
        batch = x

    def shape(value):
        if not (isinstance(value, (np.ndarray, tf.TensorSpec)) or tf.is_tensor(value)):
            raise TypeError(type(value).__name__)
        dims = tf.TensorShape(value.shape)
        return None if dims.rank is None else (None,) + tuple(dims.as_list()[1:])

    try:
        shapes = tf.nest.map_structure(shape, batch)
        images = unpack_batch(shapes)[0] if isinstance(shapes, (dict, tuple)) and not (
            shapes and all(d is None or isinstance(d, int) for d in shapes)) else shapes
    except (TypeError, ValueError):
        return None
    if images is None or len(images) not in (3, 4) or any(d is None for d in images[1:]):
        return None
    return shapes


def checked_call(model, method, where, x=None, y=None, *args, **kwargs):
    """Run a Keras entry point (``fit``/``evaluate``/``predict``) on checked input.

    The images of ``x`` (and of ``validation_data``) are checked against the
    model's image shape; positive sizes are checked; an empty dataset is an
    error, found statically when its cardinality is known and otherwise after
    the call (nothing ran, so nothing was changed).
    """
    image_shape = getattr(model, "image_shape", None)
    for key in ("batch_size", "steps_per_epoch", "steps", "validation_steps",
                "validation_batch_size"):
        if kwargs.get(key) is not None:
            check_positive_int(key, kwargs[key])
    if "epochs" in kwargs and not (isinstance(kwargs["epochs"], (int, np.integer))
                                   and not isinstance(kwargs["epochs"], bool)
                                   and kwargs["epochs"] >= 0):
        raise ValueError(f"epochs must be an integer >= 0; got {kwargs['epochs']!r}")
    images, labels = split_pair(x, y)
    if labels is not None and y is None:      # x was (images, labels)
        x, y = images, labels if getattr(model, "is_conditional", False) else None
    if y is not None:
        in_memory = x is not None and not isinstance(x, (dict, tf.data.Dataset))
        if getattr(model, "is_conditional", False) and not in_memory:
            raise ValueError(f"{where}: y= goes with images given as an array (x); a dict or a "
                             f"dataset carries its labels itself (its 'label' key / (images, "
                             f"labels) elements)")
        images = x if isinstance(x, list) else unpack_batch(x)[0]   # a list is images
        y = model._labels_argument(y, len(images) if in_memory else None, where)
    if where == "predict" and y is not None:  # predict has no y: the labels go in the batch
        x, y = {"image": x, "label": y}, None
    x = checked_input(x, image_shape, what=f"the data given to {where}")
    if image_shape is None and batch_shapes(x, y) is not None:
        # Built now, not when Keras traces the first step, so that callbacks see a
        # built model from the start (BackupAndRestore, ModelCheckpoint, ...).
        model.build(batch_shapes(x, y))
        image_shape = model.image_shape
    held_out = kwargs.get("validation_data")
    if isinstance(held_out, (tuple, list)) and len(held_out) > 1 and held_out[1] is not None \
            and not getattr(model, "is_conditional", False):
        # Keras would pass y_val on to evaluate(x_val, y_val): say it here, by its name.
        raise ValueError(
            f"{type(model).__name__} is unconditional (not a conditional model): it takes no "
            f"labels, but validation_data=(x_val, y_val) was given. Give validation_data=x_val "
            f"(a VAE's target is its input), or use ConditionalVAE for class-conditional "
            f"generation.")
    if kwargs.get("validation_data") is not None:
        kwargs["validation_data"] = checked_input(
            kwargs["validation_data"], image_shape, what=f"the validation_data given to {where}")
    try:
        with translate_errors(where):
            try:
                result = method(x, y, *args, **kwargs)
            except UnboundLocalError as e:       # Keras' predict on a dataset with no batch
                if "batch_outputs" not in str(e):
                    raise
                result = None
    except Exception:
        # A step whose first trace failed leaves a tf.function that may no longer create
        # variables ("Creating variables on a non-first call"): the next call, with good
        # input, starts from a fresh one.
        for name in ("train_function", "test_function", "predict_function"):
            if hasattr(model, name):
                setattr(model, name, None)
        raise
    # Keras only warns on empty data (fit returns no logs, evaluate an empty list).
    if where == "fit":
        empty = not result.history and kwargs.get("epochs", 1) > kwargs.get("initial_epoch", 0)
    else:
        empty = result is None or (isinstance(result, (list, dict)) and not result)
    if empty:
        raise ValueError(
            f"{where}: the data is empty (no batch was read); give data with at least one "
            f"batch (check the split and any filter or take)")
    return result


__all__ = ["MARKER", "check_positive_int", "check_positive_ints", "check_image_spec",
           "check_image_values", "check_images", "check_dataset", "checked_input",
           "checked_call", "translate_errors", "input_check_message", "split_pair",
           "batch_shapes"]
