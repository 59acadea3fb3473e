"""Class-conditional generation: are ConditionalVAE samples of class c recognized as c?

1. Train the zoo entry ``conditional_vae_fashion_mnist`` (``zoo_configs/``) on the
   Fashion-MNIST training split (its [data], [optimizer] and [training] tables;
   ``--epochs`` overrides the epoch count).
2. Train an independent classifier (a small CNN: conv32-pool-conv64-pool-dense128-10)
   on the real training images (gray levels in [0, 1]); report its test accuracy.
3. Draw ``--per-class`` samples for each class c with ``model.sample(n, condition=c)``
   (z ~ p(z|c), the image is the Bernoulli mean of p(x|z,c)) and report, per class
   and averaged over classes, the fraction the classifier assigns to c (agreement).
   The issue's target: mean agreement >= 85%.

Usage:
    nice -n 10 python benchmarks/conditional_generation.py --epochs 10

Writes ``benchmarks/results/conditional_generation.json`` and ``.md``.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vaezoo import config as config_lib  # noqa: E402
from vaezoo import data as data_lib  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def classifier(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.3), keras.layers.Dense(10)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="conditional_vae_fashion_mnist")
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
    parser.add_argument("--tag", default="", help="suffix of the results file names")
    parser.add_argument("--output-dir", default=RESULTS)
    args = parser.parse_args(argv)
    command = "python benchmarks/conditional_generation.py " + " ".join(argv or sys.argv[1:])

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

    clf = classifier(args.seed)
    clf.compile(keras.optimizers.Adam(1e-3),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.time()
    if args.classifier_data == "binarized":
        x_clf, xt_clf = (data_lib.load_arrays(dataset, s, binarization="static")[0]
                         for s in (cfg["data"]["train_split"], cfg["data"]["test_split"]))
    else:
        x_clf, xt_clf = x / 255.0, xt / 255.0
    clf.fit(x_clf, y, batch_size=128, epochs=args.classifier_epochs, verbose=2)
    clf_seconds = time.time() - start
    clf_test = float(np.mean(clf.predict(xt_clf, batch_size=1000, verbose=0).argmax(-1) == yt))

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
        "command": command, "config": args.config, "dataset": dataset,
        "train_split": cfg["data"]["train_split"], "test_split": cfg["data"]["test_split"],
        "binarization": cfg["model"].get("binarization"), "epochs": epochs,
        "cvae_train_seconds": round(cvae_seconds, 1),
        "cvae_final_train_elbo": float(history.history["elbo"][-1]) if history else None,
        "loaded_model": args.load, "images": args.images,
        "classifier_data": args.classifier_data,
        "cvae_test_elbo_nats": float(test_elbo),
        "classifier": f"CNN conv32-pool-conv64-pool-dense128-10 on {args.classifier_data} images",
        "classifier_epochs": args.classifier_epochs,
        "classifier_train_seconds": round(clf_seconds, 1),
        "classifier_test_accuracy": clf_test, "samples_per_class": args.per_class,
        "agreement_per_class": dict(zip(class_names, per_class)), "mean_agreement": mean,
        "confusion_rows_condition_cols_prediction": confusion,
        "target_mean_agreement": 0.85, "meets_target": mean >= 0.85,
    }
    os.makedirs(args.output_dir, exist_ok=True)
    stem = os.path.join(args.output_dir, "conditional_generation" + args.tag)
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1)
    lines = ["# Class-conditional generation (ConditionalVAE, Fashion-MNIST)", "",
             f"CVAE `{args.config}`, " + (f"loaded from {args.load}" if args.load else
                                          f"{epochs} epochs ({cvae_seconds:.0f} s)")
             + f", test ELBO {test_elbo:.1f} nats. Independent CNN classifier trained on "
             f"{args.classifier_data} real training images: test accuracy {clf_test:.1%}. "
             f"{args.per_class} samples per class; classified images: "
             + ("the means of p(x|z,c), z ~ p(z|c)." if args.images == "mean"
                else "binary samples x ~ p(x|z,c), z ~ p(z|c)."), "",
             "| class | agreement | most frequent other prediction |", "|---|---|---|"]
    for c, (name, a) in enumerate(zip(class_names, per_class)):
        other = int(np.argmax([n if j != c else -1 for j, n in enumerate(confusion[c])]))
        lines.append(f"| {name} | {a:.1%} | {class_names[other]} "
                     f"({confusion[c][other] / args.per_class:.1%}) |")
    lines += [f"| **mean** | **{mean:.1%}** (target ≥ 85%) | |", "", f"Command: `{command}`"]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
