"""Training throughput of vaezoo's MLP VAE against the hand-written Keras VAE, in one run.

The yardstick is ``benchmarks/reference_keras_vae.py`` (the keras.io VAE recipe,
the same 784-500-500-50 architecture, ``compile(optimizer=Adam())``, every other
argument at its Keras default). vaezoo's model is ``MLPVAE(latent_dim=50,
hidden_units=(500, 500), likelihood="bernoulli", binarization="static")``,
compiled with its defaults (``compile()``: Keras' Adam, float32, Keras' XLA
rule, ``steps_per_execution=32``). Both train on the same statically binarized
Fashion-MNIST images, batch 128, fed two ways:

* **NumPy**: ``fit(x, batch_size=128)``, Keras' own array pipeline;
* **tf.data**: the batched pipeline of dicts ``{"image", "label"}`` that
  ``vaezoo.data.load(..., binarization="static").batch(128)`` yields (here from
  memory, prefetched); the reference gets the same pipeline mapped to its images.

and each opt-in speed-up of vaezoo is its own row on the NumPy feed:
``optimizer="fused_adam"`` (``vaezoo.optimizers.FusedAdam``) and
``dtype="mixed_bfloat16"`` (a precision change: not Keras' float32 numbers).

Every row is timed once per round, in turn (the order reversed every other
round), so the load of a shared machine hits all rows alike; a row's speed is
its median over the rounds, and a ratio is reported as the ratio of medians,
the ratio of the best rounds (the least disturbed by other load) and the median
of the per-round ratios (rows timed back to back).
Nothing here is asserted: ``tests/test_throughput_benchmark.py`` runs it
``--quick --synthetic`` and checks the report's structure.

Results go to ``benchmarks/results/throughput.json`` and ``.md``::

    python benchmarks/throughput.py                 # 7 rounds x 100 steps per row
    python benchmarks/throughput.py --quick         # a smoke run
"""

import argparse
import statistics
import time
from pathlib import Path

import common  # first: the environment TensorFlow starts in
import numpy as np

BATCH_SIZE = 128
IMAGE_SHAPE = (28, 28, 1)

REFERENCE_NUMPY = "reference, NumPy"
DEFAULTS_NUMPY = "vaezoo defaults, NumPy"
REFERENCE_TFDATA = "reference, tf.data"
DEFAULTS_TFDATA = "vaezoo defaults, tf.data"
#: The opt-in speed-ups: row name -> build_vaezoo arguments (all on the NumPy feed).
OPT_INS = {
    "vaezoo optimizer='fused_adam', NumPy": {"optimizer": "fused_adam"},
    "vaezoo dtype='mixed_bfloat16', NumPy": {"dtype": "mixed_bfloat16"},
}
#: (what is compared, row, baseline row).
RATIOS = [
    ("defaults / reference, NumPy", DEFAULTS_NUMPY, REFERENCE_NUMPY),
    ("defaults / reference, tf.data", DEFAULTS_TFDATA, REFERENCE_TFDATA),
    *[(f"{name.removeprefix('vaezoo ').removesuffix(', NumPy')} / defaults", name,
       DEFAULTS_NUMPY) for name in OPT_INS],
    *[(f"{name.removeprefix('vaezoo ').removesuffix(', NumPy')} / reference", name,
       REFERENCE_NUMPY) for name in OPT_INS],
]


# ----------------------------------------------------------------------------- models
def build_vaezoo(image_shape=IMAGE_SHAPE, *, dtype=None, optimizer="adam"):
    """vaezoo's benchmarked MLP VAE, compiled with its defaults but for the opt-ins given."""
    import vaezoo

    model = vaezoo.MLPVAE(latent_dim=50, hidden_units=(500, 500), likelihood="bernoulli",
                          binarization="static", image_shape=tuple(image_shape), seed=0,
                          dtype=dtype)
    model.compile(optimizer=optimizer)
    return model


def build_reference(image_shape=IMAGE_SHAPE):
    import keras

    from reference_keras_vae import ReferenceVAE

    model = ReferenceVAE(latent_dim=50, hidden_units=(500, 500), image_shape=image_shape)
    model.compile(optimizer=keras.optimizers.Adam())  # keras.io: every other arg default
    return model


def tfdata_feed(x, y):
    """The batched tfds-style pipeline: dicts {"image", "label"}, batch 128, prefetched."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": y})
    return ds.batch(BATCH_SIZE).prefetch(tf.data.AUTOTUNE)


def fits(x, y):
    """Row name -> a function that runs one epoch of ``fit`` on ``x`` (one timed round),
    and row name -> the model it trains."""
    feed = tfdata_feed(x, y)
    images_only = feed.map(lambda d: d["image"])
    ref, defaults = build_reference(), build_vaezoo()
    rows = {
        REFERENCE_NUMPY: lambda: ref.fit(x, batch_size=BATCH_SIZE, verbose=0),
        DEFAULTS_NUMPY: lambda: defaults.fit(x, batch_size=BATCH_SIZE, verbose=0),
        REFERENCE_TFDATA: lambda: ref.fit(images_only, verbose=0),
        DEFAULTS_TFDATA: lambda: defaults.fit(feed, verbose=0),
    }
    models = {REFERENCE_NUMPY: ref, DEFAULTS_NUMPY: defaults, REFERENCE_TFDATA: ref,
              DEFAULTS_TFDATA: defaults}
    for name, kwargs in OPT_INS.items():
        model = models[name] = build_vaezoo(**kwargs)
        rows[name] = lambda m=model: m.fit(x, batch_size=BATCH_SIZE, verbose=0)
    return rows, models


def settings(model):
    """What a row's model trains with: its class, optimizer class and dtype policy."""
    return {"model": type(model).__name__, "optimizer": type(model.optimizer).__name__,
            "dtype_policy": model.dtype_policy.name}


# ----------------------------------------------------------------------------- timing
def interleaved(rows, rounds, images):
    """Images per second of every row, once per round, in turn (order alternating)."""
    rates = {name: [] for name in rows}
    for r in range(rounds):
        for name in (list(rows) if r % 2 == 0 else list(reversed(rows))):
            start = time.perf_counter()
            rows[name]()
            rates[name].append(images / (time.perf_counter() - start))
    return rates


def ratios(rates):
    out = {}
    for what, row, base in RATIOS:
        per_round = [a / b for a, b in zip(rates[row], rates[base])]
        out[what] = {"ratio_of_medians": statistics.median(rates[row])
                     / statistics.median(rates[base]),
                     "ratio_of_best": max(rates[row]) / max(rates[base]),
                     "median_per_round": statistics.median(per_round),
                     "per_round": [round(r, 3) for r in per_round]}
    return out


def load_data(steps, synthetic):
    n = steps * BATCH_SIZE
    if synthetic:
        rng = np.random.default_rng(0)
        x = (rng.uniform(size=(n,) + IMAGE_SHAPE) < 0.3).astype(np.float32)
        return x, rng.integers(0, 10, n).astype(np.int64)
    from vaezoo import data

    x, y = data.load_arrays("fashion_mnist", f"train[:{n}]", binarization="static", seed=0,
                            verbose=False)
    return x, y


def run(args):
    x, y = load_data(args.steps, args.synthetic)
    rows, models = fits(x, y)
    for fn in rows.values():  # warm-up: tracing, first epoch
        fn()
    print(f"{len(rows)} rows x {args.rounds} rounds x {args.steps} steps of {BATCH_SIZE}",
          flush=True)
    rates = interleaved(rows, args.rounds, len(x))
    return {
        **common.provenance(args.argv),   # the load average is the one at the end
        "data": "synthetic binary images" if args.synthetic else
                "Fashion-MNIST train, statically binarized (seed 0)",
        "batch_size": BATCH_SIZE, "steps_per_round": args.steps, "rounds": args.rounds,
        "images_per_s": {name: {"median": statistics.median(r), "best": max(r),
                                "rounds": [round(v, 1) for v in r]}
                         for name, r in rates.items()},
        "settings": {name: settings(model) for name, model in models.items()},
        "ratios": ratios(rates),
    }


# ----------------------------------------------------------------------------- report
def markdown(res):
    lines = [
        "# Training throughput: vaezoo's MLP VAE against the hand-written Keras VAE",
        "",
        f"Command: `{res['command']}` ({res['date']}).",
        f"CPU: {common.describe_cpu(res['cpu'])} (load average {res['load_average_1min']} "
        f"at the end); TensorFlow {res['versions']['tensorflow']}, Keras {res['versions']['keras']}. "
        f"Data: {res['data']}, batch {res['batch_size']}, {res['steps_per_round']} steps "
        f"per round, {res['rounds']} interleaved rounds.",
        "",
        "| row | images/s (median) | best round | rounds |",
        "|---|---:|---:|---|",
    ]
    for name, r in res["images_per_s"].items():
        lines.append(f"| {name} | {r['median']:.0f} | {r['best']:.0f} | "
                     f"{', '.join(f'{v:.0f}' for v in r['rounds'])} |")
    lines += ["", "| same-run ratio | ratio of medians | ratio of best rounds "
              "| median per-round ratio | per round |", "|---|---:|---:|---:|---|"]
    for what, r in res["ratios"].items():
        lines.append(f"| {what} | **{r['ratio_of_medians']:.2f}x** | "
                     f"{r['ratio_of_best']:.2f}x | {r['median_per_round']:.2f}x | "
                     f"{', '.join(f'{v:.2f}' for v in r['per_round'])} |")
    lines += ["", "The defaults give Keras' float32 numbers; fused_adam gives them too "
              "(tests/test_optimizers.py); mixed_bfloat16 computes in another precision."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100, help="training steps per row and round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--synthetic", action="store_true",
                   help="random binary images instead of Fashion-MNIST (for tests)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds x 8 steps")
    common.add_output_dir(p)
    args = p.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.steps, args.rounds = min(args.steps, 8), min(args.rounds, 2)
    return args


def main(argv=None):
    args = parse_args(argv)
    res = run(args)
    report = markdown(res)
    common.write_results(Path(args.output_dir) / "throughput", res, report)
    print(report)
    return res


if __name__ == "__main__":
    main()
