"""Every plot renders to a PNG of the figure's size, with non-constant content.

Tiny untrained models and random images: these tests are about plumbing,
layout and error messages, not about what a trained model draws.
"""

import json

import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

from vaezoo import plot
from vaezoo.models import MLPVAE
from vaezoo.models import conditional_vae as conditional
from vaezoo.models import semi_supervised_vae as m2

SHAPE = (12, 12, 1)


def tiny(latent_dim=2, **kwargs):
    kwargs.setdefault("binarization", "static")
    return MLPVAE(latent_dim=latent_dim, hidden_units=(8,), image_shape=kwargs.pop(
        "image_shape", SHAPE), seed=0, **kwargs)


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(20,) + SHAPE, dtype=np.uint8)


@pytest.fixture
def labels(rng):
    return rng.integers(0, 10, size=20).astype(np.int64)


def read_png(fig, path):
    """The saved PNG, checked to be exactly the figure's pixel size and not blank."""
    array = matplotlib.image.imread(str(path))
    width, height = fig.get_size_inches() * fig.dpi
    assert array.shape[:2] == (round(height), round(width)), (array.shape, width, height)
    assert array.std() > 0
    return array


# ---------------------------------------------------------------- samples, reconstructions
def test_sample_grid_png_and_layout(tmp_path):
    model = tiny()
    fig = plot.sample_grid(model, n=16, path=tmp_path / "s.png")
    read_png(fig, tmp_path / "s.png")
    # 16 images: a 4 x 4 grid; 5 images with ncols=5: one row, wider than tall.
    wide = plot.sample_grid(model, n=5, ncols=5, title="")
    assert wide.get_size_inches()[0] > 2 * wide.get_size_inches()[1]


def test_sample_grid_is_reproducible_by_seed(tmp_path):
    model = tiny(latent_dim=3)
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (0, 0, 1), strict=True):
        plot.sample_grid(model, n=4, seed=seed, path=path)
    a, b, c = (matplotlib.image.imread(str(p)) for p in paths)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0


def test_sample_grid_rgb_gaussian(tmp_path):
    model = tiny(likelihood="gaussian", binarization=None, image_shape=(8, 8, 3))
    fig = plot.sample_grid(model, n=4, path=tmp_path / "rgb.png")
    read_png(fig, tmp_path / "rgb.png")


def test_sample_grid_rejects_bad_arguments():
    model = tiny()
    with pytest.raises(ValueError, match="n must be a positive integer"):
        plot.sample_grid(model, n=0)
    with pytest.raises(ValueError, match="not a conditional model"):
        plot.sample_grid(model, n=4, condition=3)


@pytest.mark.parametrize("as_dict", [False, True])
def test_reconstructions(tmp_path, images, labels, as_dict):
    model = tiny()
    batch = {"image": images, "label": labels} if as_dict else images
    fig = plot.reconstructions(model, batch, n=6, path=tmp_path / "r.png")
    array = read_png(fig, tmp_path / "r.png")
    # Two rows of 6 images: wider than tall.
    assert array.shape[1] > 2 * array.shape[0]


def test_reconstructions_top_row_is_the_input(tmp_path):
    """The input row shows exactly what the model sees: binarized pixels are 0 or 1."""
    model = tiny()
    white = np.full((3,) + SHAPE, 255, np.uint8)
    fig = plot.reconstructions(model, white, path=tmp_path / "r.png")
    tiled = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(tiled[:SHAPE[0], :SHAPE[1]], 1.0)


# ---------------------------------------------------------------- interpolation
@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation(tmp_path, images, method):
    model = tiny(latent_dim=3)
    fig = plot.interpolation(model, images[0], images[1], steps=5, method=method,
                             path=tmp_path / "i.png")
    read_png(fig, tmp_path / "i.png")
    # Pairs of batches: one row per pair.
    fig2 = plot.interpolation(model, images[:3], images[3:6], steps=5, method=method)
    assert fig2.get_size_inches()[1] > fig.get_size_inches()[1]


def test_interpolation_errors(images):
    model = tiny()
    with pytest.raises(ValueError, match=r"method must be one of 'linear', 'slerp'; got 'cubic'"):
        plot.interpolation(model, images[0], images[1], method="cubic")
    with pytest.raises(ValueError, match="steps must be at least 2"):
        plot.interpolation(model, images[0], images[1], steps=1)
    with pytest.raises(ValueError, match="same number of images"):
        plot.interpolation(model, images[:2], images[2:5])


def test_interpolate_paths():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    b *= (np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))[:, None]  # equal norms
    ts = np.linspace(0, 1, 7)
    for method in ("linear", "slerp"):
        path = plot.interpolate_codes(a, b, ts, method)
        assert path.shape == (4, 7, 6)
        np.testing.assert_allclose(path[:, 0], a, atol=1e-10)
        np.testing.assert_allclose(path[:, -1], b, atol=1e-10)
    np.testing.assert_allclose(plot.interpolate_codes(a, b, ts, "linear")[:, 3], (a + b) / 2)
    # slerp between equal-norm codes stays on the sphere; the straight line dips inside.
    norms = np.linalg.norm(plot.interpolate_codes(a, b, ts, "slerp"), axis=-1)
    np.testing.assert_allclose(norms, np.linalg.norm(a, axis=1)[:, None] * np.ones(7), rtol=1e-9)
    assert np.all(np.linalg.norm(plot.interpolate_codes(a, b, ts, "linear")[:, 3], axis=-1)
                  < np.linalg.norm(a, axis=1))
    # parallel codes: slerp falls back to the line instead of dividing by sin(0).
    same = plot.interpolate_codes(a, 2 * a, ts, "slerp")
    assert np.all(np.isfinite(same))
    np.testing.assert_allclose(same[:, 3], 1.5 * a)


# ---------------------------------------------------------------- traversal, manifold
def test_traversal(tmp_path, images):
    model = tiny(latent_dim=5)
    fig = plot.traversal(model, images[0], dims=3, steps=5, data=images,
                         path=tmp_path / "t.png")
    read_png(fig, tmp_path / "t.png")
    # dims larger than latent_dim shows every dimension once.
    everything = plot.traversal(model, images[0], dims=50, steps=5, data=images)
    assert everything.get_size_inches()[1] > fig.get_size_inches()[1]
    assert len(everything.axes[0].get_yticklabels()) == 5


def test_traversal_rows_are_ordered_by_kl(images):
    model = tiny(latent_dim=4)
    fig = plot.traversal(model, images[0], dims=4, steps=3, data=images)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    kls = [float(t.split("KL")[1]) for t in ticks]
    assert kls == sorted(kls, reverse=True)
    from vaezoo.evaluation import kl_per_dimension
    kl = kl_per_dimension(model, images)
    assert ticks[0].startswith(f"z{int(np.argmax(kl))} ")


def test_traversal_explicit_dims_and_errors(images):
    model = tiny(latent_dim=3)
    fig = plot.traversal(model, images[0], dims=[2, 0], steps=3)
    assert [t.get_text().split()[0] for t in fig.axes[0].get_yticklabels()] == ["z2", "z0"]
    with pytest.raises(ValueError, match=r"indices in \[0, 3\)"):
        plot.traversal(model, images[0], dims=[3])
    with pytest.raises(ValueError, match="span must be > 0"):
        plot.traversal(model, images[0], span=0)


def test_traversal_with_a_mixture_prior(images):
    """A mixture prior has no per-dimension KL: the moment-matched fallback orders the rows."""
    model = tiny(latent_dim=3, prior="mixture")
    fig = plot.traversal(model, images[0], dims=3, steps=3, data=images)
    assert "moment-matched" in fig.texts[0].get_text()


@pytest.mark.parametrize("prior", ["standard_normal", "mixture"])
def test_manifold(tmp_path, prior):
    model = tiny(latent_dim=2, prior=prior)
    fig = plot.manifold(model, n=6, path=tmp_path / "m.png")
    read_png(fig, tmp_path / "m.png")


def test_manifold_uses_prior_quantiles():
    model = tiny(latent_dim=2)
    quantile, mean, std = plot.prior_marginals(model)
    np.testing.assert_allclose(quantile([0.5, 0.975])[:, 0], [0.0, 1.959964], atol=1e-5)
    np.testing.assert_allclose(mean, 0.0)
    np.testing.assert_allclose(std, 1.0)


def test_manifold_needs_two_latent_dimensions():
    with pytest.raises(ValueError, match="latent_dim=4.*latent_scatter"):
        plot.manifold(tiny(latent_dim=4))
    with pytest.raises(ValueError, match="0 < low < high < 1"):
        plot.manifold(tiny(latent_dim=2), quantiles=(0.0, 1.0))


# ---------------------------------------------------------------- latent scatter
@pytest.mark.parametrize("latent_dim", [1, 2, 4])
def test_latent_scatter(tmp_path, images, labels, latent_dim):
    model = tiny(latent_dim=latent_dim)
    fig = plot.latent_scatter(model, (images, labels), path=tmp_path / "l.png",
                              class_names=[f"class {i}" for i in range(10)])
    read_png(fig, tmp_path / "l.png")
    ax = fig.axes[0]
    assert ("PC 1" in ax.get_xlabel()) == (latent_dim > 2)
    assert len(ax.get_legend().get_texts()) == len(np.unique(labels))


def test_latent_scatter_takes_datasets_and_unlabelled_images(tmp_path, images, labels):
    model = tiny(latent_dim=2)
    unbatched = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    fig = plot.latent_scatter(model, unbatched, max_examples=7)
    assert "7 examples" in fig.axes[0].get_title()
    fig = plot.latent_scatter(model, unbatched.batch(6), max_examples=9)
    assert "9 examples" in fig.axes[0].get_title()
    fig = plot.latent_scatter(model, images, path=tmp_path / "u.png")
    read_png(fig, tmp_path / "u.png")
    assert fig.axes[0].get_legend() is None


def test_pca_2d():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=5)
    points = rng.normal(size=(50, 1)) * direction + 0.01 * rng.normal(size=(50, 5))
    projected, share = plot.pca_2d(points)
    assert projected.shape == (50, 2)
    assert share[0] > 0.99


# ---------------------------------------------------------------- conditional
def test_conditional_grid(tmp_path, images, labels):
    model = conditional.ConditionalVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                       image_shape=SHAPE, binarization="static", seed=0)
    fig = plot.conditional_grid(model, n_per_class=4, class_names=["a", "b", "c"],
                                path=tmp_path / "c.png")
    read_png(fig, tmp_path / "c.png")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]
    # The other plots take a conditional model too (labels come with the images).
    labels = labels % 3
    read_png(plot.sample_grid(model, n=6, path=tmp_path / "s.png"), tmp_path / "s.png")
    plot.reconstructions(model, (images[:4], labels[:4]))
    plot.interpolation(model, (images[:1], labels[:1]), (images[1:2], labels[1:2]), steps=3)
    plot.traversal(model, (images[:1], labels[:1]), dims=2, steps=3)
    plot.latent_scatter(model, (images, labels))
    plot.manifold(model, n=3, condition=1)
    with pytest.raises(ValueError, match="conditional: give labelled images"):
        plot.reconstructions(model, images[:4])


def test_traversal_of_a_conditional_mixture_prior(images, labels):
    """p(z|y) a mixture per class: the rows are ordered by the KL to a Gaussian matched to
    each example's own p(z|y) (a prior without its label was an error)."""
    model = conditional.ConditionalVAE(num_classes=3, latent_dim=3, hidden_units=(8,),
                                       conditional_prior=True, prior_components=2,
                                       image_shape=SHAPE, binarization="static", seed=0)
    data = (images, labels % 3)
    kl, how = plot.kl_order(model, data)
    assert how == "KL to a moment-matched Gaussian prior"
    assert kl.shape == (3,) and np.all(np.isfinite(kl)) and np.all(kl > -0.05)
    fig = plot.traversal(model, (images[:1], labels[:1] % 3), dims=3, steps=3, data=data)
    assert "moment-matched" in fig.texts[0].get_text()


def test_semi_supervised_model_labels_unlabelled_images_itself(tmp_path, images):
    model = m2.SemiSupervisedVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                 classifier_hidden_units=(8,), image_shape=SHAPE,
                                 binarization="static", seed=0)
    fig = plot.reconstructions(model, images[:4], path=tmp_path / "r.png")
    read_png(fig, tmp_path / "r.png")
    # -1 marks unlabelled examples in semi-supervised data: those are labelled by q(y|x).
    plot.reconstructions(model, (images[:4], np.array([-1, 0, -1, 2])))
    read_png(plot.conditional_grid(model, n_per_class=2, path=tmp_path / "c.png"),
             tmp_path / "c.png")


def test_conditional_grid_needs_a_conditional_model():
    with pytest.raises(ValueError, match="needs a conditional model.*sample_grid"):
        plot.conditional_grid(tiny())


# ---------------------------------------------------------------- training curves
def test_training_curves_from_a_run(tmp_path):
    history = {"distortion": [2.0, 0.0, -1.0], "elbo": [-3.0, -2.0, -1.5],
               "loss": [3.0, 2.0, 1.5], "rate": [1.0, 2.0, 2.5], "val_loss": [3.2, 2.4, 2.0]}
    (tmp_path / "metrics.json").write_text(json.dumps({"history": history, "test": {"x": 1}}))
    for source in (tmp_path, tmp_path / "metrics.json", {"history": history}, history):
        fig = plot.training_curves(source, path=tmp_path / "c.png")
        read_png(fig, tmp_path / "c.png")
        # The known quantities in their usual order, whatever the order of the keys.
        assert [ax.get_title() for ax in fig.axes] == ["loss", "elbo", "rate", "distortion"]
    assert len(fig.axes[0].lines) == 2  # train and validation
    only = plot.training_curves(history, keys=["rate"])
    assert [ax.get_title() for ax in only.axes] == ["rate"]


def test_training_curves_from_a_keras_history():
    class History:  # what model.fit returns
        history = {"loss": [2.0, 1.0]}

    fig = plot.training_curves(History())
    assert fig.axes[0].lines[0].get_ydata().tolist() == [2.0, 1.0]


def test_training_curves_errors(tmp_path):
    with pytest.raises(ValueError, match="no metrics file"):
        plot.training_curves(tmp_path)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        plot.training_curves(tmp_path)
    with pytest.raises(ValueError, match="no per-epoch metrics"):
        plot.training_curves({"history": {"note": "nothing"}})
    with pytest.raises(ValueError, match=r"no metric named \['iwae'\]"):
        plot.training_curves({"loss": [1.0]}, keys=["iwae"])


def test_tile_layout():
    a = np.zeros((3, 4, 5, 1))
    b = np.ones((2, 4, 5, 1))
    out = plot.tile([a, b])
    assert out.shape == (2 * 4 + 1, 3 * 5 + 2, 1)
    assert out[0, 0, 0] == 0 and out[5, 0, 0] == 1
    assert out[5, -1, 0] == 1  # the missing third cell of row 2 is blank (white)


# ---------------------------------------------------------------- where a figure is saved
def _every_plot(model, images, path):
    """Each plot function with valid arguments and ``path``."""
    import vaezoo.models.conditional_vae as conditional
    cvae = conditional.ConditionalVAE(num_classes=3, latent_dim=2, hidden_units=(8,),
                                      binarization="static", image_shape=SHAPE)
    return {
        "sample_grid": lambda: plot.sample_grid(model, n=4, path=path),
        "reconstructions": lambda: plot.reconstructions(model, images[:4], path=path),
        "interpolation": lambda: plot.interpolation(model, images[0], images[1], path=path),
        "traversal": lambda: plot.traversal(model, images[0], dims=2, path=path),
        "manifold": lambda: plot.manifold(model, n=3, path=path),
        "latent_scatter": lambda: plot.latent_scatter(model, images, path=path),
        "conditional_grid": lambda: plot.conditional_grid(cvae, n_per_class=2, path=path),
        "training_curves": lambda: plot.training_curves({"loss": [3.0, 2.0]}, path=path),
    }


@pytest.mark.parametrize("name", ["out.jpgg", "out.txt", "out", "out.", "dir.png/out"])
def test_an_extension_matplotlib_does_not_write_is_refused_before_any_work(
        tmp_path, images, monkeypatch, name):
    model = tiny()
    # Any computation would go through the model: make it fail loudly.
    monkeypatch.setattr(type(model), "encode", lambda *a, **k: pytest.fail("computed"))
    monkeypatch.setattr(type(model), "sample", lambda *a, **k: pytest.fail("computed"))
    for function, call in _every_plot(model, images, tmp_path / name).items():
        with pytest.raises(ValueError, match=r"matplotlib writes\. Use one of: .*\.png.*\.svg"):
            call()
    assert not list(tmp_path.iterdir())


def test_a_missing_directory_is_refused_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        plot.sample_grid(tiny(), n=4, path=tmp_path / "missing" / "s.png")


@pytest.mark.parametrize("extension, magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"),
                                              ("svg", b"<?xml"), ("jpg", b"\xff\xd8"),
                                              ("PNG", b"\x89PNG")])
def test_the_extension_is_the_format(tmp_path, extension, magic):
    path = tmp_path / f"s.{extension}"
    plot.sample_grid(tiny(), n=4, path=path)
    assert path.read_bytes().startswith(magic)


def test_image_formats_are_matplotlibs():
    from matplotlib.figure import Figure
    assert plot.image_formats() == Figure().canvas.get_supported_filetypes()
    assert plot.check_image_path(None) is None
