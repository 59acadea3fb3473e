"""Semi-supervised classification: M2, M1+M2 and a supervised-only MLP on the same labels.

Protocol (Kingma, Rezende, Mohamed & Welling 2014, Table 1, on Fashion-MNIST here):

* data: ``vaezoo.data.load_arrays(dataset, "train")``; the last ``--val-size``
  training images (with labels) are a validation split for early stopping,
  the rest is the training pool, of which ``vaezoo.data.semi_supervised_split``
  keeps ``num_labels`` class-balanced labels (seed = the run's seed); the test
  split is only used for the reported test error.
* supervised-only: MLP 784-500-500-10, ReLU, dropout 0.5, Adam 1e-3, trained on
  the labeled images only (gray levels in [0, 1]), early stopping on validation
  accuracy (best weights restored).
* M2: ``vaezoo.SemiSupervisedVAE`` on the pixels (Bernoulli, dynamic binarization),
  its classifier q(y|x) has the same architecture as the supervised-only MLP.
* M1+M2: ``vaezoo.recipes.m1_m2.train_m1_m2``: M1 = MLPVAE 784-500-500-50 trained
  once on all training-pool images (it sees no labels, so it is shared by every
  label count and seed; cached in ``--cache`` under a name holding its epochs,
  validation size, likelihood and scale). ``--m1-likelihood``: a Gaussian on the
  gray levels with a learned per-pixel scale (default), a fixed-scale Gaussian,
  or Bernoulli on dynamically binarized pixels (the paper's M1). Then M2 on its
  latent means, taken as unbounded real features (``feature_inputs=True``,
  Gaussian likelihood), with a classifier of the same hidden layers (500-500,
  dropout 0.5), z2 of size 10, early stopping on validation accuracy. One M2 is
  trained for each classification weight alpha in ``--m1m2-alpha`` (default 50,
  100, 200) and the one with the best validation accuracy is kept, on each label
  draw; the test set takes no part in the choice. The json file keeps every
  candidate's validation and test accuracy.
* batches for M2 / M1+M2: 128 examples, 32 of them labeled (``vaezoo.data.mixed_batches``).

Usage (the full sweep; the numbers in docs/benchmarks.md come from the commands printed
in the results file):

    nice -n 10 python benchmarks/semi_supervised.py --labels 100 600 1000 3000 --seeds 0 1 2
    python benchmarks/semi_supervised.py --dataset mnist        # tfds, if it can download

Writes ``benchmarks/results/semi_supervised_<dataset>.json`` and ``.md``
(merging with runs already there, keyed by method / labels / seed; ``--tag`` and
``--collect`` merge runs started in parallel into that one file).
"""

import argparse
import json
import os
import time
from pathlib import Path

import common  # first: the environment TensorFlow starts in
import keras
import numpy as np
import tensorflow as tf

import vaezoo
from vaezoo import data as data_lib
from vaezoo.recipes.m1_m2 import M1M2, train_m1, train_m1_m2

#: The second stage of each M1+ method: (family, its own arguments).
SECOND_STAGE = {"M1+M2": (vaezoo.SemiSupervisedVAE, {}),
                "M1+ADGM": (vaezoo.AuxiliaryDGM, {"variant": "adgm"}),
                "M1+SDGM": (vaezoo.AuxiliaryDGM, {"variant": "sdgm"})}

HIDDEN = (500, 500)
DROPOUT = 0.5
PUBLISHED = {  # Kingma et al. 2014 Table 1, MNIST test error (%)
    "M2": {100: 11.97, 600: 4.94, 1000: 3.60, 3000: 3.92},
    "M1+M2": {100: 3.33, 600: 2.59, 1000: 2.40, 3000: 2.18},
}


def supervised_only(x, y, val, test, args, seed):
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Flatten()]
    for units in HIDDEN:
        layers += [keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(DROPOUT)]
    model = keras.Sequential(layers + [keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(args.lr),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                         patience=args.sup_patience, restore_best_weights=True)
    history = model.fit(x / 255.0, y, batch_size=min(64, len(y)), epochs=args.sup_epochs,
                        validation_data=(val[0] / 255.0, val[1]), callbacks=[stop], verbose=0)
    pred = model.predict(test[0] / 255.0, batch_size=1000, verbose=0).argmax(-1)
    return float(np.mean(pred == test[1])), history.history["val_accuracy"]


#: The pixel-level methods: (family, its own arguments).
PIXEL_LEVEL = {"M2": (vaezoo.SemiSupervisedVAE, {}),
               "ADGM": (vaezoo.AuxiliaryDGM, {"variant": "adgm"}),
               "SDGM": (vaezoo.AuxiliaryDGM, {"variant": "sdgm"})}


def m2_only(images, labels, val, test, args, seed, method="M2"):
    """M2 (or ADGM / SDGM: ``method``) on the pixels, one alpha (``--alpha``)."""
    keras.utils.set_random_seed(seed)
    family, extra = PIXEL_LEVEL[method]
    if family is vaezoo.AuxiliaryDGM:
        extra = {**extra, "auxiliary_dim": args.auxiliary_dim}
    model = family(
        num_classes=10, latent_dim=50, hidden_units=(500,), classifier_hidden_units=HIDDEN,
        classifier_dropout=DROPOUT, alpha=args.alpha, likelihood="bernoulli",
        binarization="dynamic", image_shape=images.shape[1:], seed=seed, **extra)
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                         patience=args.patience, restore_best_weights=True)
    batches = data_lib.mixed_batches(tf.data.Dataset.from_tensor_slices((images, labels)), 128,
                                     args.labeled_per_batch, seed=seed)
    history = model.fit(batches.prefetch(tf.data.AUTOTUNE),
                        validation_data=val,
                        validation_batch_size=500, epochs=args.m2_epochs, callbacks=[stop],
                        verbose=0)
    pred = np.concatenate([model.classify(test[0][i:i + 1000]).numpy().argmax(-1)
                           for i in range(0, len(test[0]), 1000)])
    return float(np.mean(pred == test[1])), history.history["val_accuracy"], model


def get_m1(pool, args):
    """M1 trained once on the training pool (no labels), cached across runs."""
    kwargs = ({"likelihood": "bernoulli", "binarization": "dynamic"}
              if args.m1_likelihood == "bernoulli" else
              {"likelihood": args.m1_likelihood, "binarization": None,
               "likelihood_kwargs": {"scale": args.m1_scale}})
    path = os.path.join(args.cache, f"m1_{args.dataset}_{args.m1_epochs}ep_val{args.val_size}"
                        f"_{args.m1_likelihood}" + ("" if args.m1_likelihood == "bernoulli" else
                                                   f"_s{args.m1_scale:g}") + ".keras")
    if args.m1_likelihood == "bernoulli" and not os.path.exists(path):
        old = path.replace("_bernoulli.keras", ".keras")   # name used before --m1-likelihood
        path = old if os.path.exists(old) else path
    if os.path.exists(path):
        return keras.models.load_model(path), 0.0
    start = time.time()
    m1 = train_m1(pool, epochs=args.m1_epochs, learning_rate=args.lr, seed=0, **kwargs)
    os.makedirs(args.cache, exist_ok=True)
    m1.save(path)
    return m1, time.time() - start


def m1_m2(m1, images, labels, val, test, args, seed, method="M1+M2"):
    """M1+M2 (or M1+ADGM / M1+SDGM: ``method``) for every alpha in ``--m1m2-alpha``; the one
    with the best validation accuracy is kept (the test set plays no part in the choice).

    Returns (test accuracy, validation curve, selection record).
    """
    candidates = []
    family, extra = SECOND_STAGE[method]
    if family is vaezoo.AuxiliaryDGM:
        extra = {**extra, "auxiliary_dim": args.auxiliary_dim}
    for alpha in args.m1m2_alpha:
        recipe = train_m1_m2(
            images, labels, m1=m1, m2_epochs=args.m1m2_epochs, validation=val,
            patience=args.patience, labeled_per_batch=args.labeled_per_batch, seed=seed,
            m1_features=args.m1_features, m2_class=family,
            m2_kwargs={"alpha": alpha, "classifier_hidden_units": HIDDEN,
                       "classifier_dropout": DROPOUT, "latent_dim": args.m1m2_latent_dim,
                       **extra})
        curve = (recipe.m2.history.history if recipe.m2.history else {}).get("val_accuracy", [])
        accuracy = float(np.mean(recipe.classify(test[0]).numpy().argmax(-1) == test[1]))
        candidates.append({"alpha": alpha, "best_val_accuracy": float(max(curve)) if curve else
                           None, "test_accuracy": accuracy, "curve": curve, "recipe": recipe})
    if len(candidates) > 1:
        # The mean of every candidate's q(y|x) is one more candidate (no training).
        ensemble = M1M2(m1, candidates[0]["recipe"].m2, [c["recipe"].m2 for c in candidates[1:]])
        val_accuracy = float(np.mean(ensemble.classify(val[0]).numpy().argmax(-1) == val[1]))
        accuracy = float(np.mean(ensemble.classify(test[0]).numpy().argmax(-1) == test[1]))
        longest = max((c["curve"] for c in candidates), key=len)   # epochs_run: the longest
        candidates.append({"alpha": "ensemble", "best_val_accuracy": val_accuracy,
                           "test_accuracy": accuracy, "curve": [val_accuracy] * len(longest),
                           "recipe": ensemble})
    best = select_on_validation(candidates)
    return best["test_accuracy"], best["curve"], {
        "selected_alpha": best["alpha"],
        "candidates": [{k: c[k] for k in ("alpha", "best_val_accuracy", "test_accuracy")}
                       for c in candidates]}, best["recipe"]


def select_on_validation(candidates):
    """The candidate with the highest validation accuracy (the first one on ties).

    Every candidate needs a ``best_val_accuracy``: choosing without a validation
    split would mean choosing on the test set.
    """
    if any(c["best_val_accuracy"] is None for c in candidates):
        raise ValueError("choosing among several alphas needs validation accuracies; "
                         "run with --val-size > 0 or give one --m1m2-alpha")
    return max(candidates, key=lambda c: c["best_val_accuracy"])


METHODS = ["supervised-only", "M2", "ADGM", "SDGM", "M1+M2", "M1+ADGM", "M1+SDGM"]
PUBLISHED_ADGM = {"ADGM": 0.96, "SDGM": 1.32}  # Maaløe et al. 2016 Table 2, MNIST, 100 labels


def _alpha(value):
    """An alpha candidate as the report prints it: a number, or "ensemble" (the mean of
    every alpha's q(y|x))."""
    return value if isinstance(value, str) else f"{value:g}"


def paired_gains(rows, method, n):
    """{seed: accuracy of ``method`` minus supervised-only on the same label draw (points)}."""
    by_seed = {m: {r["seed"]: r["test_accuracy"] for r in rows
                   if r["method"] == m and r["num_labels"] == n}
               for m in (method, "supervised-only")}
    return {s: 100 * (by_seed[method][s] - by_seed["supervised-only"][s])
            for s in sorted(set(by_seed[method]) & set(by_seed["supervised-only"]))}


def markdown(rows, dataset, command):
    present = {r["method"] for r in rows}
    methods = [m for m in METHODS if m in present]
    counts = sorted({r["num_labels"] for r in rows})
    lines = [f"# Semi-supervised classification, {dataset}: test error (%)", "",
             "mean ± sample standard deviation over label draws (seeds); n = number of seeds.", "",
             "| labels | " + " | ".join(methods) + " | Kingma et al. 2014 M2 (MNIST) | "
             "M1+M2 (MNIST) |", "|---" * (len(methods) + 3) + "|"]
    for n in counts:
        cells = []
        for m in methods:
            errs = [100 * (1 - r["test_accuracy"]) for r in rows
                    if r["method"] == m and r["num_labels"] == n]
            sd = np.std(errs, ddof=1) if len(errs) > 1 else 0.0   # sample sd over seeds
            cells.append(f"{np.mean(errs):.1f} ± {sd:.1f} (n={len(errs)})"
                         if errs else "—")
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {PUBLISHED['M2'].get(n, '—')} | "
                     f"{PUBLISHED['M1+M2'].get(n, '—')} |")
    for method in (m for m in methods if m != "supervised-only"):
        paired = []
        for n in counts:
            gains = paired_gains(rows, method, n)
            if gains:
                paired.append(f"| {n} | " + ", ".join(f"{g:+.1f} (seed {s})"
                                                      for s, g in gains.items())
                              + f" | {np.mean(list(gains.values())):+.1f} |")
        if paired:
            lines += ["", f"{method} accuracy minus supervised-only accuracy on the same label "
                      "draw (points):", "", "| labels | per seed | mean |", "|---|---|---|"] \
                + paired
    for method in methods:
        chosen = sorted((r for r in rows if r["method"] == method and r.get("candidates")),
                        key=lambda r: (r["num_labels"], r["seed"]))
        if not chosen:
            continue
        grid = sorted({c["alpha"] for r in chosen for c in r["candidates"]},
                      key=lambda a: (isinstance(a, str), a if not isinstance(a, str) else 0))
        per_count = {}
        for r in chosen:
            per_count.setdefault(r["num_labels"], []).append(
                f"{_alpha(r['selected_alpha'])} (seed {r['seed']})")
        lines += ["", f"{method}'s alpha, chosen on each draw's validation accuracy among "
                  + ", ".join(_alpha(a) for a in grid) + " (validation / test accuracy of "
                  "every candidate in the json file): "
                  + "; ".join(f"{n} labels: {', '.join(v)}" for n, v in per_count.items()) + "."]
    lines += ["", "Commands: " + "; ".join(f"`{c}`" for c in command.split("; ")), "",
              "For scale, published MNIST figures with 100 labels (another, easier data set): "
              "Kingma et al. 2014 M2 11.97 %, M1+M2 3.33 % error; Maaløe et al. 2016 ADGM "
              f"{PUBLISHED_ADGM['ADGM']} %, SDGM {PUBLISHED_ADGM['SDGM']} % error. Pyro's "
              "SS-VAE tutorial reaches 93.2% accuracy (6.8% error) on MNIST with 100 labels."]
    return "\n".join(lines) + "\n"


def _commands(rows):
    """The commands that produced these rows (each row records its own), in order."""
    return "; ".join(dict.fromkeys(r["command"] for r in rows if r.get("command")))


def write(stem, rows, dataset, meta=None):
    """``stem.json`` (the runs and how they split the data) and ``stem.md`` (the table)."""
    command = _commands(rows)
    report = markdown(rows, dataset, command)
    common.write_results(stem, {**(meta or {}), "dataset": dataset, "command": command,
                                "runs": rows}, report)
    return report


def collect(stem, dataset, tags):
    """Merges the runs of ``semi_supervised_<dataset><tag>.json`` files (beside ``stem``)
    into ``stem``."""
    rows, meta = [], {}
    sources = [stem.with_name(stem.name + ".json")] + [
        stem.with_name(f"semi_supervised_{dataset}{t}.json") for t in tags]
    for path in sources:
        if not path.exists():
            continue
        found = json.loads(path.read_text())
        meta.update({k: v for k, v in found.items() if k not in ("runs", "command")})
        for row in found["runs"]:
            row.setdefault("command", found["command"])
            rows = [r for r in rows if (r["method"], r["num_labels"], r["seed"])
                    != (row["method"], row["num_labels"], row["seed"])] + [row]
    print(write(stem, rows, dataset, meta))


def ship(name, recipe, row, rows, m1_seconds, test, args):
    """Writes the pretrained entry ``vaezoo/pretrained/<name>`` (a ``.keras`` preset of the
    M1M2 model, ``vaezoo.presets.write_keras``) with its card: the labels used, the test
    accuracy, the supervised-only baseline on the same labels, how it was chosen and
    trained."""
    import matplotlib.pyplot as plt
    import tempfile
    from vaezoo import plot, presets

    baseline = [r for r in rows if (r["method"], r["num_labels"], r["seed"])
                == ("supervised-only", row["num_labels"], row["seed"])]
    if not baseline:
        raise SystemExit("--ship needs the supervised-only baseline on the same labels: "
                         "give --methods supervised-only " + row["method"])
    subset = 1000
    subset_accuracy = float(np.mean(recipe.classify(test[0][:subset]).numpy().argmax(-1)
                                    == test[1][:subset]))
    family = {"M2": "M2 (Kingma et al. 2014)", "ADGM": "ADGM (Maaløe et al. 2016)",
              "SDGM": "SDGM (Maaløe et al. 2016)"}
    method = row["method"]
    labels = (f"Fashion-MNIST with {row['num_labels']} class-balanced labels (label draw seed "
              f"{row['seed']})")
    if method in PIXEL_LEVEL:
        description = (
            f"{family[method]} semi-supervised on {labels}: classifier 784-500-500-10 (dropout "
            f"0.5) on x{' and the auxiliary a' if method != 'M2' else ''}, latent 50, hidden "
            f"layers of 500, Bernoulli decoder on dynamically binarized pixels, alpha "
            f"{args.alpha:g}, early stopping on a held-out validation split. Load it and call "
            f"classify(images)")
        samples_of = recipe
    else:
        m2 = recipe.m2
        heads = "an ensemble of the second stages of every alpha, " if recipe.ensemble else ""
        description = (
            f"{method} semi-supervised classifier on {labels}: M1 = MLPVAE 784-500-500-50 with "
            f"a learned per-pixel Gaussian on the gray levels, trained on the unlabeled pool; "
            f"{heads}{family[method.split('+')[1]]} on M1's posterior means, classifier 500-500 "
            f"(dropout 0.5), z of size {m2.latent_dim}; alpha chosen on a held-out validation "
            f"split. Load it and call classify(images)")
        samples_of = recipe.m1
    card = {
        "description": description,
        "model_class": type(recipe).__name__,
        "dataset": args.dataset,
        "data_source": common_source(args),
        "train_split": f"train[:-{args.val_size}]",
        "validation_split": f"train[-{args.val_size}:]",
        "test_split": "test",
        "binarization": None,
        "labels": {"num_labels": row["num_labels"], "class_balanced": True,
                   "seed": row["seed"],
                   "how": f"vaezoo.data.semi_supervised_split((train[:-{args.val_size}] images, "
                          f"labels), {row['num_labels']}, seed={row['seed']})"},
        "method": row["method"],
        "selected_alpha": row.get("selected_alpha", args.alpha),
        "candidates": row.get("candidates"),
        "epochs": (f"{row['epochs_run']}" if method in PIXEL_LEVEL else
                   f"{args.m1_epochs} (M1) + {row['epochs_run']} (M2)"),
        "training_time_seconds": row["seconds"] + (m1_seconds or 0.0),
        "training_time_note": ("the M2-stage seconds cover every alpha candidate; M1's "
                               "seconds are 0 when its cached model was reused"),
        "m1_seconds": m1_seconds,
        "machine": {**row["cpu"], "cpu_count": row["cpu"]["cores"]},
        "versions": row["versions"],
        "metrics": {"test_accuracy": row["test_accuracy"], "num_test_examples": len(test[1]),
                    "validation_accuracy": row["best_val_accuracy"],
                    "supervised_only_test_accuracy": baseline[0]["test_accuracy"],
                    "gain_over_supervised_only_points": round(
                        100 * (row["test_accuracy"] - baseline[0]["test_accuracy"]), 2)},
        "supervised_only": "MLP 784-500-500-10, ReLU, dropout 0.5, on the same labels, early "
                           "stopping on the same validation split (benchmarks/"
                           "semi_supervised.py)",
        "subset_check": {"split": f"test[:{subset}]", "test_accuracy": subset_accuracy},
        "command": row["command"],
        "created": row["date"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "samples.png")
        plt.close(plot.sample_grid(samples_of, n=32, seed=0, ncols=8, path=png, cell=0.35,
                                   title=name if samples_of is recipe else
                                   f"{name}: samples of M1"))
        out = presets.write_keras(recipe, Path(args.pretrained_root) / name, card,
                                  samples_png=png)
    print(f"shipped {out}: test accuracy {row['test_accuracy']:.4f}", flush=True)


def common_source(args):
    return data_lib.source_of(args.dataset, "train") if args.source == "auto" else args.source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--source", default="auto", choices=("auto", "tfds", "idx"),
                        help="where vaezoo.data reads the data set from (default: tfds if "
                             "prepared, else IDX files)")
    parser.add_argument("--labels", type=int, nargs="+", default=[100, 600, 1000, 3000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["supervised-only", "M1+M2", "M2"],
                        choices=["supervised-only", *PIXEL_LEVEL, *SECOND_STAGE])
    parser.add_argument("--val-size", type=int, default=1000,
                        help="the last N training images: the validation split of early "
                             "stopping and of the choice of alpha (N > 0)")
    parser.add_argument("--m1-epochs", type=int, default=30)
    parser.add_argument("--m1-likelihood", default="gaussian_pixelwise",
                        choices=["bernoulli", "gaussian", "gaussian_pixelwise"],
                        help="M1's likelihood: Bernoulli on dynamically binarized pixels, or a "
                             "Gaussian on the gray levels (fixed or learned per-pixel scale)")
    parser.add_argument("--m1-scale", type=float, default=0.1,
                        help="the Gaussian M1's (initial) pixel standard deviation")
    parser.add_argument("--m1m2-epochs", type=int, default=30)
    parser.add_argument("--m1-features", default="mean", choices=("mean", "sample"),
                        help="M2 trains on M1's posterior means, or on a fresh z1 ~ q(z1|x) "
                             "each epoch (see vaezoo.recipes.m1_m2.train_m1_m2)")
    parser.add_argument("--m2-epochs", type=int, default=10)
    parser.add_argument("--sup-epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--sup-patience", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=10.0, help="M2's classification weight")
    parser.add_argument("--m1m2-alpha", type=float, nargs="+", default=[50.0, 100.0, 200.0],
                        help="M1+M2's classification weight; with several values, one M2 is "
                             "trained per value and the best on the validation split is kept")
    parser.add_argument("--m1m2-latent-dim", type=int, default=10, help="size of M2's z2")
    parser.add_argument("--auxiliary-dim", type=int, default=100,
                        help="size of the auxiliary a of M1+ADGM / M1+SDGM")
    parser.add_argument("--labeled-per-batch", type=int, default=32,
                        help="labeled examples in each batch of 128 (M2, M1+M2)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/vaezoo/benchmarks"),
                        help="where the trained M1 is kept between runs")
    parser.add_argument("--tag", default="", help="suffix of the results file names")
    parser.add_argument("--ship", default=None, metavar="NAME",
                        help="write the last method's chosen model of each run as the "
                             "pretrained entry NAME (needs supervised-only among --methods, "
                             "before it, for the card's baseline)")
    parser.add_argument("--pretrained-root", default=str(Path(__file__).resolve().parents[1]
                                                         / "vaezoo" / "pretrained"),
                        help="where --ship writes the entry")
    parser.add_argument("--collect", nargs="+", default=None, metavar="TAG",
                        help="train nothing: merge the runs of the files with these tags (runs "
                             "started in parallel) into this run's results files")
    common.add_output_dir(parser)
    args = parser.parse_args(argv)
    if args.val_size <= 0:
        parser.error(f"--val-size must be > 0: early stopping and the choice of alpha need a "
                     f"validation split (choosing on the test set is not allowed); got "
                     f"{args.val_size}")

    stem = Path(args.output_dir) / f"semi_supervised_{args.dataset}{args.tag}"
    if args.collect:
        collect(stem, args.dataset, args.collect)
        return

    x, y = data_lib.load_arrays(args.dataset, "train", source=args.source)
    xt, yt = data_lib.load_arrays(args.dataset, "test", source=args.source)
    pool, pool_y = x[:-args.val_size], y[:-args.val_size]
    val = (x[-args.val_size:], y[-args.val_size:])
    test = (xt, yt)

    rows = common.read_json(stem.with_name(stem.name + ".json"), {"runs": []})["runs"]
    provenance = common.provenance(argv)
    m1 = m1_seconds = None
    for n in args.labels:
        for seed in args.seeds:
            images, labels = data_lib.semi_supervised_split((pool, pool_y), n, seed=seed)
            for method in args.methods:
                start, selection = time.time(), None
                if method == "supervised-only":
                    keep = labels >= 0
                    acc, curve = supervised_only(images[keep], labels[keep], val, test, args, seed)
                elif method in PIXEL_LEVEL:
                    acc, curve, recipe = m2_only(images, labels, val, test, args, seed, method)
                else:
                    if m1 is None:
                        m1, m1_seconds = get_m1(pool, args)
                        print(f"M1 ready ({m1_seconds:.0f} s)", flush=True)
                    acc, curve, selection, recipe = m1_m2(m1, images, labels, val, test, args,
                                                          seed, method)
                row = {"method": method, "num_labels": n, "seed": seed, "test_accuracy": acc,
                       "best_val_accuracy": float(max(curve)) if curve else None,
                       "epochs_run": len(curve), "seconds": round(time.time() - start, 1),
                       **provenance,
                       "config": {k: v for k, v in vars(args).items()
                                  if k not in ("cache", "output_dir")}}
                if selection:
                    row.update(selection)
                rows = [r for r in rows if (r["method"], r["num_labels"], r["seed"])
                        != (method, n, seed)] + [row]
                if args.ship and method == args.methods[-1] and method != "supervised-only":
                    ship(args.ship, recipe, row, rows, m1_seconds, test, args)
                print(json.dumps({k: row[k] for k in ("method", "num_labels", "seed",
                                                      "test_accuracy", "epochs_run", "seconds")}),
                      flush=True)
                report = write(stem, rows, args.dataset, {
                    "split": f"train[:-{args.val_size}] pool, train[-{args.val_size}:] "
                             "validation, test for the test error",
                    "m1_seconds": m1_seconds})
    print(report)


if __name__ == "__main__":
    main()
