"""Cost of the input checks and of the NaN guard on training throughput.

Trains MLPVAE 784-500-500-50 (Bernoulli, static binarization, Adam, batch 128)
on the first ``--examples`` Fashion-MNIST training images (``vaezoo.data``,
the IDX files or tfds) given as a batched ``tf.data.Dataset``, in three ways:

* ``unchecked``: ``keras.Model.fit(model, ds)``, bypassing vaezoo's checked
  ``fit`` (no input checks, no guard);
* ``checked``: ``model.fit(ds)`` (static checks of the element spec plus the
  per-batch check map of ``vaezoo.validation``);
* ``checked+guard``: ``model.fit(ds, callbacks=[NonFiniteGuard()])`` (also the
  in-step non-finite watch of ``vaezoo.training``), which is what
  ``vaezoo train`` runs.

for two pixel formats: ``uint8`` images (only the shape is checked per batch)
and ``float`` images in [0, 1] (finiteness and range checked per batch too).
Each variant has its own model, traced once before timing; the rounds are
interleaved so the load of the shared machine hits all variants alike. Both
the median and the best (minimum-time) round are reported, each as images/s
and as a ratio to ``unchecked``; on a machine shared with other jobs the best
round is the least disturbed estimate of the cost itself.

Example::

    python benchmarks/validation_overhead.py --examples 12800 --rounds 3
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vaezoo  # noqa: E402
from vaezoo import data, training  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def make_model():
    model = vaezoo.MLPVAE(latent_dim=50, hidden_units=(500, 500), likelihood="bernoulli",
                          binarization="static", image_shape=(28, 28, 1), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def run(variant, model, ds):
    start = time.perf_counter()
    if variant == "unchecked":
        keras.Model.fit(model, ds, epochs=1, verbose=0, shuffle=False)
    elif variant == "checked":
        model.fit(ds, epochs=1, verbose=0, shuffle=False)
    else:
        model.fit(ds, epochs=1, verbose=0, shuffle=False,
                  callbacks=[training.NonFiniteGuard()])
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=12800)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "validation_overhead.json"))
    args = parser.parse_args()

    images, _ = data.load_arrays("fashion_mnist", f"train[:{args.examples}]")
    datasets = {
        "uint8": tf.data.Dataset.from_tensor_slices(images).batch(args.batch_size).cache(),
        "float": tf.data.Dataset.from_tensor_slices(
            (images / 255.0).astype(np.float32)).batch(args.batch_size).cache(),
    }
    variants = ("unchecked", "checked", "checked+guard")
    models = {(f, v): make_model() for f in datasets for v in variants}
    for (fmt, variant), model in models.items():           # trace once, fill caches
        run(variant, model, datasets[fmt])
    times = {key: [] for key in models}
    for _ in range(args.rounds):
        for (fmt, variant), model in models.items():
            times[(fmt, variant)].append(run(variant, model, datasets[fmt]))

    results = {"examples": args.examples, "batch_size": args.batch_size,
               "rounds": args.rounds, "cpu_count": os.cpu_count(),
               "load_average": os.getloadavg(), "formats": {}}
    for fmt in datasets:
        base = args.examples / statistics.median(times[(fmt, "unchecked")])
        best_base = args.examples / min(times[(fmt, "unchecked")])
        rows = {}
        for variant in variants:
            rate = args.examples / statistics.median(times[(fmt, variant)])
            best = args.examples / min(times[(fmt, variant)])
            rows[variant] = {"images_per_s_median": rate, "ratio_median": rate / base,
                             "images_per_s_best": best, "ratio_best": best / best_base,
                             "seconds": times[(fmt, variant)]}
            print(f"{fmt:5s} {variant:14s} median {rate:7.0f} images/s (ratio {rate / base:.3f})"
                  f"  best {best:7.0f} images/s (ratio {best / best_base:.3f})  "
                  f"(times {', '.join(f'{t:.2f}' for t in times[(fmt, variant)])} s)")
        results["formats"][fmt] = rows
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"load average {os.getloadavg()}; written to {args.out}")


if __name__ == "__main__":
    main()
