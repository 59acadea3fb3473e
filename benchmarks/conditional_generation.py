"""Class-conditional generation: are ConditionalVAE samples of class c recognized as c?

1. Train a zoo entry (``--config``, default ``conditional_vae_fashion_mnist``;
   ``zoo_configs/``) on the Fashion-MNIST training split (its [data], [optimizer]
   and [training] tables; ``--epochs`` overrides the epoch count), or load a
   trained one (``--load``; a zoo entry's own config is then the default ``--config``).
2. Train an independent classifier (a small CNN: conv32-pool-conv64-pool-dense128-10)
   on the real training images (gray levels in [0, 1]); report its test accuracy.
3. Draw ``--per-class`` samples for each class c with ``model.sample(n, condition=c)``
   (z ~ p(z|c), the image is the Bernoulli mean of p(x|z,c)) and report, per class
   and averaged over classes, the fraction the classifier assigns to c (agreement).
   The target: mean agreement >= ``--target`` (85% by default, issue 8's; the
   convolutional entry is held to 90%).

Usage (the figures of docs/benchmarks.md: the shipped entries, seeds 0, 1 and 2)::

    python benchmarks/conditional_generation.py --load conditional_vae_fashion_mnist \
        --classifier-epochs 5 --seed S
    python benchmarks/conditional_generation.py --load conv_conditional_vae_fashion_mnist \
        --classifier-epochs 5 --seed S --target 0.9
    nice -n 10 python benchmarks/conditional_generation.py --epochs 10   # train it here

Writes ``benchmarks/results/conditional_generation.json`` and ``.md``, merging the
runs by model (the ``--load`` name, else the ``--config``) and, within a model, by
``--seed`` (the seed of the classifier and of the samples): the runs of one model
replace only that model's rows. Run another setup of the same model into another
``--output-dir``.
"""

import argparse
import time
from pathlib import Path

import common  # first: the environment TensorFlow starts in
import keras
import numpy as np
import tensorflow as tf

from vaezoo import config as config_lib
from vaezoo import data as data_lib

DEFAULT_CONFIG = "conditional_vae_fashion_mnist"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None,
                        help="the zoo entry or config file to train, and whose [data] and "
                             "[optimizer] to use (default: the --load entry's if it is a zoo "
                             f"entry, else {DEFAULT_CONFIG})")
    parser.add_argument("--target", type=float, default=0.85,
                        help="the mean agreement the model is held to (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="optional path of the trained .keras model")
    parser.add_argument("--load", default=None,
                        help="a trained model, skip training: a pretrained zoo name, a "
                             "`vaezoo train` run directory or a .keras file (vaezoo.load)")
    parser.add_argument("--images", choices=["mean", "binary"], default="mean",
                        help="mean: the Bernoulli means of p(x|z,c); binary: x ~ p(x|z,c)")
    parser.add_argument("--classifier-data", choices=["gray", "binarized"], default="gray",
                        help="train the classifier on gray levels or on statically binarized "
                             "images")
    common.add_output_dir(parser)
    args = parser.parse_args(argv)

    if args.config is None:
        args.config = (args.load if args.load in config_lib.zoo_config_names()
                       else DEFAULT_CONFIG)
    cfg = config_lib.load_config(args.config)
    dataset = cfg["data"]["dataset"]
    epochs = args.epochs or cfg["training"]["epochs"]
    x, y = data_lib.load_arrays(dataset, cfg["data"]["train_split"])
    xt, yt = data_lib.load_arrays(dataset, cfg["data"]["test_split"])
    class_names = data_lib.info(dataset)["class_names"]

    keras.utils.set_random_seed(cfg["training"].get("seed", 0))
    if args.load:
        import vaezoo
        model, history, cvae_seconds, epochs = vaezoo.load(args.load), None, 0.0, None
        if not model.compiled:  # zoo entries load uncompiled, like keras.applications
            model.compile(optimizer=keras.optimizers.Adam(cfg["optimizer"]["learning_rate"]))
    else:
        model = config_lib.model_from_config(cfg)
        model.compile(optimizer=keras.optimizers.Adam(cfg["optimizer"]["learning_rate"]))
        train = tf.data.Dataset.from_tensor_slices({"image": x, "label": y}).shuffle(
            cfg["data"]["shuffle_buffer"], seed=args.seed).batch(cfg["data"]["batch_size"])
        start = time.time()
        history = model.fit(train, epochs=epochs, verbose=2)
        cvae_seconds = time.time() - start
    test_elbo = model.evaluate(
        tf.data.Dataset.from_tensor_slices({"image": xt, "label": yt}).batch(500),
        verbose=0, return_dict=True)["elbo"]
    if args.save:
        model.save(args.save)

    if args.classifier_data == "binarized":
        x_clf, xt_clf = (data_lib.load_arrays(dataset, s, binarization="static")[0]
                         for s in (cfg["data"]["train_split"], cfg["data"]["test_split"]))
    else:
        x_clf, xt_clf = x / 255.0, xt / 255.0
    clf, clf_test, clf_seconds = common.fit_classifier(args.seed, x_clf, y, xt_clf, yt,
                                                       args.classifier_epochs)

    per_class, confusion = [], []
    for c in range(len(class_names)):
        if args.images == "mean":
            samples = model.sample(args.per_class, seed=args.seed * 100 + c,
                                   condition=np.full(args.per_class, c))
        else:  # z ~ p(z|c), then x ~ p(x|z,c)
            labels = np.full(args.per_class, c)
            z = model.prior(labels).sample(seed=tf.constant([args.seed, 100 + c]))
            samples = model.decode(z, labels).sample(seed=tf.constant([args.seed, 200 + c]))
        pred = clf.predict(samples, batch_size=1000, verbose=0).argmax(-1)
        per_class.append(float(np.mean(pred == c)))
        confusion.append(np.bincount(pred, minlength=len(class_names)).tolist())
    mean = float(np.mean(per_class))

    result = {
        **common.provenance(argv), "seed": args.seed, "config": args.config,
        "dataset": dataset,
        "train_split": cfg["data"]["train_split"], "test_split": cfg["data"]["test_split"],
        "binarization": cfg["model"].get("binarization"), "epochs": epochs,
        "cvae_train_seconds": round(cvae_seconds, 1),
        "cvae_final_train_elbo": float(history.history["elbo"][-1]) if history else None,
        "loaded_model": args.load, "images": args.images,
        "classifier_data": args.classifier_data,
        "cvae_test_elbo_nats": float(test_elbo),
        "classifier": f"{common.CLASSIFIER} on {args.classifier_data} images",
        "classifier_epochs": args.classifier_epochs,
        "classifier_train_seconds": round(clf_seconds, 1),
        "classifier_test_accuracy": clf_test, "samples_per_class": args.per_class,
        "agreement_per_class": dict(zip(class_names, per_class)), "mean_agreement": mean,
        "confusion_rows_condition_cols_prediction": confusion,
        "target_mean_agreement": args.target, "meets_target": mean >= args.target,
    }
    stem = Path(args.output_dir) / "conditional_generation"
    models = read_models(stem.with_name(stem.name + ".json"))
    models.setdefault(args.load or args.config, {})[str(args.seed)] = result
    report = markdown(models)
    common.write_results(stem, {"models": {name: summary(runs)
                                           for name, runs in sorted(models.items())}}, report)
    print(report)


def read_models(path):
    """{model: {seed: run}} from the results file; a file of one model's runs (the
    layout before models were kept side by side) is that model's."""
    content = common.read_json(path, {"models": {}})
    if "runs" in content:
        runs = content["runs"]
        first = next(iter(runs.values()))
        return {first["loaded_model"] or first["config"]: runs}
    return {name: entry["runs"] for name, entry in content["models"].items()}


def summary(runs):
    """One model's results: every run by seed, and the mean agreement over them."""
    means = [r["mean_agreement"] for r in runs.values()]
    return {"mean_agreement_over_seeds": float(np.mean(means)),
            "meets_target_every_seed": all(r["meets_target"] for r in runs.values()),
            "runs": dict(sorted(runs.items(), key=lambda kv: int(kv[0])))}


def markdown(models):
    """A section per model: a table of its runs (seeds), then the agreement of each class
    in each run."""
    sections = [model_markdown(name, runs) for name, runs in sorted(models.items())]
    return ("# Class-conditional generation (ConditionalVAE, Fashion-MNIST)\n\n"
            + "\n".join(sections))


def model_markdown(name, runs):
    """The section of the model ``name``: its runs by seed, then per class."""
    runs = summary(runs)["runs"]
    first = next(iter(runs.values()))
    target = first.get("target_mean_agreement", 0.85)
    classes = list(first["agreement_per_class"])
    cvae = (f"loaded from {first['loaded_model']}" if first["loaded_model"] else
            f"{first['epochs']} epochs ({first['cvae_train_seconds']:.0f} s)")
    lines = [f"## `{name}`", "",
             f"CVAE `{first['config']}`, {cvae}, test ELBO {first['cvae_test_elbo_nats']:.1f} "
             f"nats. Independent {first['classifier']}, {first['classifier_epochs']} epochs. "
             f"{first['samples_per_class']} samples per class; classified images: "
             + ("the means of p(x|z,c), z ~ p(z|c)." if first["images"] == "mean"
                else "binary samples x ~ p(x|z,c), z ~ p(z|c).")
             + " A run's seed seeds the classifier and the samples.", "",
             f"| seed | classifier test accuracy | mean agreement (target ≥ {target:.0%}) "
             "| CPU |",
             "|---|---|---|---|"]
    for seed, r in runs.items():
        lines.append(f"| {seed} | {r['classifier_test_accuracy']:.1%} | "
                     f"**{r['mean_agreement']:.1%}** | "
                     f"{common.describe_cpu(r['cpu']) if 'cpu' in r else '—'} |")
    lines += ["", "| class | " + " | ".join(f"seed {s}" for s in runs)
              + " | most frequent other prediction (all seeds) |",
              "|---" * (len(runs) + 2) + "|"]
    for c, class_name in enumerate(classes):
        counts = np.sum([r["confusion_rows_condition_cols_prediction"][c]
                         for r in runs.values()], axis=0)
        counts[c] = -1
        other = int(np.argmax(counts))
        total = sum(r["samples_per_class"] for r in runs.values())
        lines.append(f"| {class_name} | "
                     + " | ".join(f"{r['agreement_per_class'][class_name]:.1%}"
                                  for r in runs.values())
                     + f" | {classes[other]} ({counts[other] / total:.1%}) |")
    lines += ["", "Commands:", ""] + [f"    {r['command']}" for r in runs.values()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
