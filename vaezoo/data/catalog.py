"""Facts about a data set without reading it: image shape, classes, split sizes."""

from vaezoo.data import dsprites

_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: What ``info`` answers without tfds: the data sets of ``vaezoo.data.IDX_DATASETS`` and
#: the ones vaezoo renders. dSprites has factors, not classes (as in tfds' info of it:
#: no "label" feature), so ``num_classes`` is None; ``vaezoo.data.DSprites`` has them.
STATIC_INFO = {
    "dsprites": {
        "image_shape": dsprites.IMAGE_SHAPE,
        "num_classes": None,
        "splits": dict(dsprites.SPLITS),
        "class_names": (),
    },
    "fashion_mnist": {
        "image_shape": (28, 28, 1),
        "num_classes": 10,
        "splits": {"train": 60000, "test": 10000},
        "class_names": _FASHION_CLASSES,
    },
    "mnist": {
        "image_shape": (28, 28, 1),
        "num_classes": 10,
        "splits": {"train": 60000, "test": 10000},
        "class_names": tuple(str(i) for i in range(10)),
    },
}


def info(name):
    """Static facts about a data set.

    Args:
      name: tfds name.

    Returns:
      dict with ``image_shape`` (tuple ``(H, W, C)``), ``num_classes``,
      ``splits`` (``{split: num_examples}``, possibly empty if tfds has no
      metadata) and ``class_names``.  For the data sets in ``STATIC_INFO``
      this comes from that table, without importing tfds; otherwise from
      ``tfds.builder(name).info``.

    Example:
      >>> info("fashion_mnist")["num_classes"]
      10
    """
    if name in STATIC_INFO:
        d = STATIC_INFO[name]
        return {**d, "splits": dict(d["splits"])}
    import tensorflow_datasets as tfds  # here: the table above answers without tfds' import
    tinfo = tfds.builder(name).info
    features = tinfo.features
    image_key = "image" if "image" in features else None
    label = features["label"] if "label" in features else None
    return {
        "image_shape": tuple(features[image_key].shape) if image_key else None,
        "num_classes": getattr(label, "num_classes", None),
        "splits": {k: v.num_examples for k, v in tinfo.splits.items()},
        "class_names": tuple(getattr(label, "names", None) or ()),
    }
