"""Plots of a discrete latent (VQVAE): the code usage chart, the pictures that work on code
grids, the ones that refuse them with a reason, and the pictures of a trained run.

A tiny untrained VQVAE and random images: plumbing, counts and messages, not what a
trained codebook looks like.
"""

import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

import vaezoo
from vaezoo import plot
from vaezoo.models import MLPVAE
from vaezoo.training import run_evaluation

SHAPE = (8, 8, 1)
TINY = dict(num_embeddings=8, embedding_dim=4, filters=(8,), num_residual_blocks=1,
            prior_kwargs={"filters": 8, "num_layers": 2, "embedding_size": 4},
            binarization="dynamic", seed=0)


@pytest.fixture
def model():
    return vaezoo.VQVAE(**TINY, image_shape=SHAPE)


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(20,) + SHAPE, dtype=np.uint8)


def bar_heights(fig):
    return np.array([bar.get_height() for bar in fig.axes[0].patches])


def test_code_usage_counts_every_code_position(model, images, tmp_path):
    fig = plot.code_usage(model, images, path=tmp_path / "codes.png")
    heights = bar_heights(fig)
    assert len(heights) == model.num_embeddings
    assert heights.sum() == len(images) * model.latent_dim      # 20 images x 4 x 4 positions
    assert np.all(np.diff(heights) <= 0)                        # most used first
    codes = model.encode(model.preprocess(images)[0]).codes
    np.testing.assert_array_equal(heights, np.sort(model.quantizer.counts(codes).numpy())[::-1])
    title = fig.axes[0].get_title()
    assert f"perplexity {float(model.quantizer.perplexity(codes)):.2f} of K = 8" in title
    assert f"{int(np.sum(heights > 0))} of 8 codes used" in title
    assert fig._suptitle.get_text() == f"{model.name}: code usage"
    picture = matplotlib.image.imread(str(tmp_path / "codes.png"))
    width, height = fig.get_size_inches() * fig.dpi
    assert picture.shape[:2] == (round(height), round(width)) and picture.std() > 0


def test_code_usage_takes_datasets_and_max_examples(model, images, rng):
    labels = rng.integers(0, 10, size=len(images))
    batches = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}).batch(8)
    assert bar_heights(plot.code_usage(model, batches)).sum() == 20 * 16
    assert bar_heights(plot.code_usage(model, (images, labels), max_examples=5)).sum() == 5 * 16
    assert plot.code_usage(model, images, title="")._suptitle is None


def test_code_usage_of_a_large_codebook_is_drawn_by_rank(images):
    model = vaezoo.VQVAE(**{**TINY, "num_embeddings": 64}, image_shape=SHAPE)
    fig = plot.code_usage(model, images)
    assert len(bar_heights(fig)) == 64 and "rank" in fig.axes[0].get_xlabel()


def test_code_usage_refuses_a_continuous_latent(images):
    mlp = MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=SHAPE, seed=0)
    with pytest.raises(ValueError, match=r"code_usage needs a model with a discrete latent "
                                         r"\(VQVAE\); MLPVAE has a continuous latent; use "
                                         r"--kind latents"):
        plot.code_usage(mlp, images)
    assert not plot.discrete_latent(mlp)


def test_discrete_latent_before_and_after_building():
    assert plot.discrete_latent(vaezoo.VQVAE(**TINY))
    assert plot.discrete_latent(vaezoo.VQVAE(**TINY, image_shape=SHAPE))


def test_samples_and_reconstructions_work(model, images, tmp_path):
    for name, draw in [("s.png", lambda p: plot.sample_grid(model, n=4, seed=0, path=p)),
                       ("r.png", lambda p: plot.reconstructions(model, images[:4], path=p))]:
        draw(tmp_path / name)
        assert matplotlib.image.imread(str(tmp_path / name)).std() > 0


@pytest.mark.parametrize("name,draw,reason,instead", [
    ("interpolation", lambda m, x: plot.interpolation(m, x[:2], x[2:4]),
     "the points between two code grids are not codes", "reconstructions or sample_grid"),
    ("traversal", lambda m, x: plot.traversal(m, x[:1], data=x), "no prior mean",
     "code_usage (vaezoo plot --kind codes)"),
    ("kl_order", lambda m, x: plot.kl_order(m, x), "nor a KL", "code_usage"),
    ("manifold", lambda m, x: plot.manifold(m, n=3), "no quantiles", "sample_grid"),
    ("latent_scatter", lambda m, x: plot.latent_scatter(m, x),
     "a code index is a name, not a coordinate", "code_usage (vaezoo plot --kind codes)"),
    ("prior_marginals", lambda m, x: plot.prior_marginals(m, num_samples=10),
     "quantiles, mean and stddev of code indices mean nothing", "sample_grid"),
])
def test_latent_views_refuse_code_grids_with_a_reason(model, images, name, draw, reason,
                                                      instead):
    with pytest.raises(ValueError) as error:
        draw(model, images)
    message = str(error.value)
    assert message.startswith(f"{name} needs a continuous latent; VQVAE has a discrete one, "
                              f"a grid of code indices")
    assert reason in message and f"Use {instead}" in message and message.endswith("instead")


def test_conditional_grid_refuses_a_vqvae(model):
    with pytest.raises(ValueError, match="needs a conditional model.*Use sample_grid"):
        plot.conditional_grid(model)


def test_save_pictures_of_a_vqvae_run_add_the_code_usage(model, images, tmp_path):
    test_raw = tf.data.Dataset.from_tensor_slices(
        {"image": images, "label": np.zeros(len(images), np.int64)})
    run_evaluation.save_pictures(model, test_raw, tmp_path, seed=0)
    for name in ("samples.png", "reconstructions.png", run_evaluation.CODES_FILE):
        assert matplotlib.image.imread(str(tmp_path / name)).std() > 0, name
    mlp = MLPVAE(latent_dim=2, hidden_units=(8,), image_shape=SHAPE, seed=0,
                 binarization="dynamic")
    (tmp_path / "mlp").mkdir()
    run_evaluation.save_pictures(mlp, test_raw, tmp_path / "mlp", seed=0)
    assert sorted(p.name for p in (tmp_path / "mlp").iterdir()) == ["reconstructions.png",
                                                                    "samples.png"]
