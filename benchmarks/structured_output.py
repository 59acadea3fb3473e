r"""Structured output prediction (Sohn, Lee & Yan 2015, section 5.1) on Fashion-MNIST.

Given 1, 2 or 3 quadrants of a binarized 28x28 image, predict the other
quadrants. Quadrants: TL, TR, BL, BR (14x14 each); given

    1 quadrant:  TL               predict TR, BL, BR
    2 quadrants: TL, TR (top)     predict BL, BR
    3 quadrants: TL, TR, BL       predict BR

Data: ``vaezoo.data.load_arrays("fashion_mnist", split, binarization="static")``
(content-addressed static binarization, seed 0); train on "train", report on
"test" (``--test-examples`` first examples).

Models, one per number of given quadrants, both with the same MLP sizes:

* CVAE: ``vaezoo.ConditionalVAE(condition="tensor", conditional_prior=True)``; the
  condition y is the image with missing pixels set to -1, the modeled image x the
  image with the *given* pixels set to 0 (so p(x|z,y) only has to explain the
  missing ones); encoder [x, y] -> 500 -> 500 -> z (latent 32), decoder [z, y] ->
  500 -> 500 -> 784 Bernoulli logits, prior network y -> 500 -> (mu, sigma).
* Baseline: a deterministic network y -> 500 -> 500 -> 784 Bernoulli logits,
  trained by cross-entropy on the missing pixels.

Metric: the negative conditional log-likelihood of the missing pixels, in nats
per image, averaged over the test examples,

    -log p(x_miss | y) ~= -log (1/K) sum_k p(x_miss | z_k, y) p(z_k | y) / q(z_k | x, y),
                          z_k ~ q(z | x, y), K = ``--num-samples`` (default 100)

for the CVAE (importance sampled, a stochastic upper bound in expectation), and
exactly -log p(x_miss | y) for the baseline.

Usage:
    nice -n 10 python benchmarks/structured_output.py --epochs 10

Writes ``benchmarks/results/structured_output.json`` and ``.md`` (merging the runs
by number of given quadrants).
"""

import argparse
import json
import math
import time
from pathlib import Path

import common  # first: the environment TensorFlow starts in
import keras
import numpy as np
import tensorflow as tf

import vaezoo
from vaezoo import data as data_lib
HIDDEN = (500, 500)
GIVEN = {1: ("TL",), 2: ("TL", "TR"), 3: ("TL", "TR", "BL")}
PYRO_MNIST = {"cvae": {1: 71.8, 2: 51.0, 3: 24.2}, "baseline": {1: 100.4, 2: 61.9, 3: 25.4}}


def given_mask(num_given, size=28):
    """1.0 on the given pixels, [size, size, 1]."""
    half = size // 2
    mask = np.zeros((size, size, 1), np.float32)
    corners = {"TL": (0, 0), "TR": (0, half), "BL": (half, 0), "BR": (half, half)}
    for q in GIVEN[num_given]:
        r, c = corners[q]
        mask[r:r + half, c:c + half] = 1.0
    return mask


def split(images, mask):
    """(target x with the given pixels zeroed, condition y with the missing pixels at -1)."""
    return images * (1 - mask), images * mask - (1 - mask)


def train_cvae(x, y, args):
    keras.utils.set_random_seed(args.seed)
    model = vaezoo.ConditionalVAE(
        condition="tensor", condition_shape=(28, 28, 1), conditional_prior=True,
        prior_hidden_units=(500,), hidden_units=HIDDEN, latent_dim=args.latent_dim,
        likelihood="bernoulli", binarization=None, image_shape=(28, 28, 1), seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=args.seed)
    model.fit(ds.batch(args.batch_size), epochs=args.epochs, verbose=2)
    return model


def train_baseline(x, y, missing, args):
    keras.utils.set_random_seed(args.seed)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Flatten()(inputs)
    for units in HIDDEN:
        h = keras.layers.Dense(units, activation="relu")(h)
    logits = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784)(h))
    net = keras.Model(inputs, logits)
    miss = tf.constant(missing)

    def masked_nll(target, out):  # nats per image on the missing pixels
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=out)
        return tf.reduce_sum(bce * miss, axis=[1, 2, 3])

    net.compile(keras.optimizers.Adam(args.lr), loss=masked_nll)
    net.fit(y, x, batch_size=args.batch_size, epochs=args.epochs, verbose=2,
            shuffle=True)
    return net, masked_nll


def cvae_nll(model, x, y, missing, num_samples, seed, batch_size=100):
    """Importance-sampled -log p(x_miss | y) per example (nats)."""
    miss = tf.constant(missing)

    @tf.function
    def batch_nll(xb, yb, s):
        q = model.encode(xb, yb)
        prior = model.prior(yb)
        z = q.sample(num_samples, seed=s)                              # [K, B, D]
        lik = model.decode(z, yb)                                      # Independent(Bernoulli)
        log_px = tf.reduce_sum(lik.distribution.log_prob(xb) * miss, axis=[2, 3, 4])
        log_w = log_px + prior.log_prob(z) - q.log_prob(z)             # [K, B]
        return -(tf.reduce_logsumexp(log_w, axis=0) - math.log(num_samples))

    out = []
    for i, start in enumerate(range(0, len(x), batch_size)):
        out.append(batch_nll(tf.constant(x[start:start + batch_size]),
                             tf.constant(y[start:start + batch_size]),
                             tf.constant([seed, i], tf.int32)).numpy())
    return np.concatenate(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--given", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--test-examples", type=int, default=10000)
    parser.add_argument("--train-examples", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=0)
    common.add_output_dir(parser)
    args = parser.parse_args(argv)
    provenance = common.provenance(argv)

    train_images, _ = data_lib.load_arrays(args.dataset, "train", binarization="static")
    test_images, _ = data_lib.load_arrays(args.dataset, "test", binarization="static")
    train_images, test_images = train_images[:args.train_examples], test_images[:args.test_examples]
    stem = Path(args.output_dir) / "structured_output"
    result = common.read_json(stem.with_name(stem.name + ".json"), {"runs": {}})
    for k in args.given:
        mask = given_mask(k)
        x, y = split(train_images, mask)
        xt, yt = split(test_images, mask)
        start = time.time()
        cvae = train_cvae(x, y, args)
        cvae_seconds = time.time() - start
        nll_c = cvae_nll(cvae, xt, yt, 1 - mask, args.num_samples, args.seed)
        start = time.time()
        net, masked_nll = train_baseline(x, y, 1 - mask, args)
        base_seconds = time.time() - start
        logits = net.predict(yt, batch_size=1000, verbose=0)
        nll_b = masked_nll(tf.constant(xt), tf.constant(logits)).numpy()
        run = {"given_quadrants": list(GIVEN[k]), "epochs": args.epochs,
               "cvae_nll": float(nll_c.mean()),
               "cvae_nll_stderr": float(nll_c.std(ddof=1) / math.sqrt(len(nll_c))),
               "baseline_nll": float(nll_b.mean()),
               "baseline_nll_stderr": float(nll_b.std(ddof=1) / math.sqrt(len(nll_b))),
               "cvae_train_seconds": round(cvae_seconds, 1),
               "baseline_train_seconds": round(base_seconds, 1),
               "cvae_params": int(cvae.count_params()), "baseline_params": int(net.count_params()),
               "num_importance_samples": args.num_samples, "test_examples": len(xt),
               "train_examples": len(x),
               **provenance}
        print(json.dumps({str(k): run}), flush=True)
        result["runs"][str(k)] = run
        result.update(dataset=args.dataset, binarization="static (seed 0)",
                      train_split="train", test_split="test")
        common.write_results(stem, result, markdown(result))


def markdown(result):
    lines = ["# Structured output prediction, Fashion-MNIST (negative conditional "
             "log-likelihood of the missing quadrants, nats, lower is better)", "",
             "| given quadrants | CVAE | baseline | Pyro MNIST CVAE | Pyro MNIST baseline | "
             "epochs | K | test examples |", "|---|---|---|---|---|---|---|---|"]
    for k in sorted(result["runs"]):
        r = result["runs"][k]
        lines.append(
            f"| {k} ({', '.join(r['given_quadrants'])}) | {r['cvae_nll']:.1f} ± "
            f"{r['cvae_nll_stderr']:.1f} | {r['baseline_nll']:.1f} ± "
            f"{r['baseline_nll_stderr']:.1f} | {PYRO_MNIST['cvae'][int(k)]} | "
            f"{PYRO_MNIST['baseline'][int(k)]} | {r['epochs']} | {r['num_importance_samples']} | "
            f"{r['test_examples']} |")
    lines += ["", "± is the standard error over test examples. Commands: "
              + "; ".join(sorted({f"`{r['command']}`" for r in result["runs"].values()}))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
