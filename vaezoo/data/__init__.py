"""Data sets for the zoo: TensorFlow Datasets with an offline IDX fallback.

``load`` returns the same thing as ``tfds.load(name, split=split)``: an
*unbatched* ``tf.data.Dataset`` of ``{"image": uint8 [H, W, C],
"label": int64 []}`` dicts; ``load_arrays`` the same as NumPy arrays. The data
come from tfds (``source="tfds"``) or, for ``"mnist"`` and ``"fashion_mnist"``
(``IDX_DATASETS``), from the original IDX files (``source="idx"``); the
default ``source="auto"`` tries tfds first and falls back to the IDX files.
Split strings are tfds' own (``"train[:10%]"``, ``"train[10%:20%]+test"``,
``"all"``) under both sources.

``"dsprites"`` needs neither: vaezoo renders its 737,280 images from their
factors (``dsprites``), as tfds' dsprites elements (``image`` and a
``label_<factor>`` / ``value_<factor>`` pair per factor, pixels 0/255), on
demand; ``DSprites`` serves the same images to disentanglement metrics.

``binarization="static"`` turns each image into float32 {0, 1} with
``vaezoo.preprocessing.static_binarize(image, seed)``: a content-addressed
Bernoulli draw (pixel ``p`` is 1 with probability ``q_p / 255``), so the same
image always gets the same binary version for a given seed, whatever the
order, split or batching. *Dynamic* binarization (a new draw at every step)
belongs to the model (``binarization="dynamic"`` on the model).

Modules, one job each:

* ``loading``: ``load``, ``load_arrays``, ``sample_arrays``, ``source_of`` (the choice of source);
* ``tfds_source``: ``tfds.load`` with a quick answer when it cannot download;
* ``idx``: the IDX reader, the directories searched, ``install_help``;
* ``splits``: tfds split strings as index ranges for the IDX files and dSprites;
* ``dsprites``: dSprites rendered from its factors, ``DSprites``;
* ``catalog``: ``info``, facts about a data set without reading it;
* ``semi_supervised``: ``semi_supervised_split``, ``mixed_batches``.

Example:
  >>> from vaezoo import data
  >>> ds = data.load("fashion_mnist", "train[:10%]", binarization="static")
  >>> images, labels = data.load_arrays("fashion_mnist", "test")
  >>> data.info("fashion_mnist")["image_shape"]
  (28, 28, 1)
  >>> ds = data.load("dsprites", "train[:1%]")          # rendered, no download
  >>> factors, images = data.DSprites().sample(64, np.random.default_rng(0))
"""

from vaezoo import lazy

# The public names, each from the module that defines it. Resolved on first use
# (start-up time: ``info`` and ``install_help`` answer without importing TensorFlow).
_EXPORTS = {
    "load": "vaezoo.data.loading",
    "load_arrays": "vaezoo.data.loading",
    "sample_arrays": "vaezoo.data.loading",
    "source_of": "vaezoo.data.loading",
    "info": "vaezoo.data.catalog",
    "DSprites": "vaezoo.data.dsprites",
    "semi_supervised_split": "vaezoo.data.semi_supervised",
    "mixed_batches": "vaezoo.data.semi_supervised",
    "balanced_indices": "vaezoo.data.semi_supervised",
    "parse_split": "vaezoo.data.splits",
    "find_idx_dir": "vaezoo.data.idx",
    "install_help": "vaezoo.data.idx",
    "IDX_DATASETS": "vaezoo.data.idx",
    "DATA_DIR_ENV": "vaezoo.data.idx",
    "DEFAULT_IDX_DIRS": "vaezoo.data.idx",
}
_SUBMODULES = ("catalog", "dsprites", "idx", "loading", "semi_supervised", "splits",
               "tfds_source")


__getattr__, __dir__ = lazy.attributes(__name__, _EXPORTS, _SUBMODULES, globals())


__all__ = list(_EXPORTS)
