r"""A trained VQVAE on the Fashion-MNIST test split (8-bit gray levels, not binarized):
reconstruction, codebook use, the bound in bits/dim, and the diversity of its samples.

1. Reconstruction: the mean squared error per pixel, on [0, 1], of the mean of
   p(x|z_q(x)) against x, averaged over the test images. Target: <= 0.008.
2. Codebook use: the perplexity exp(-sum_k p_k log p_k) of the codes of *all* the
   test images pooled (not the mean of per-batch perplexities), beside K, with
   perplexity / K (target: >= 1/4) and the number of codes used at least once.
3. The bound (``vaezoo.models.vq_vae``): q(k|x) is a point mass, so

       log p(x) >= ELBO(x) = log p(x|z_q(x)) + log p(k(x))

   exactly, with nothing to sample; it is reported in nats (its parts, the
   distortion -log p(x|z_q) and the rate -log p(k(x)) of the PixelCNN prior, and
   the rate h w log K of the uniform prior for comparison) and in bits/dim,
   -ELBO / (784 ln 2), on all the test images and on the first 2000, beside the
   ``dlogistic_vae_fashion_mnist`` row of ``benchmarks/results/likelihood.json``
   (an importance-sampled estimate of log p(x) of a continuous-latent VAE, on
   the same first test images: a lower bound too, in expectation, tighter than
   its ELBO).
4. Diversity: for each ``--classifier-seeds`` seed s, the independent CNN of
   ``common.classifier(s)`` is trained on the real training images (gray levels
   in [0, 1]), its test accuracy is reported, and it classifies ``--samples``
   images of ``model.sample(n, seed=s)`` (code grids drawn from the prior,
   decoded to the mean of p(x|z_q)); the entropy of the class histogram, in
   nats, is compared with 0.8 ln 10 = 1.842 (ln 10 = 2.303: every class equally
   often). The target is met by the mean over seeds.
5. Timings of each part (seconds), the parameter count and, when the loaded
   model's card (``metadata.json``) or ``vaezoo train`` record (``metrics.json``)
   has it, its training time.

Usage::

    nice -n 10 python benchmarks/vq_vae.py --load vqvae_fashion_mnist

Options: ``--load`` (required: a pretrained name, a preset or ``vaezoo train`` run
directory, or a .keras file), ``--classifier-seeds`` (0 1 2), ``--classifier-epochs``
(3), ``--samples`` (1000 per seed), ``--max-test-examples`` (all 10,000),
``--batch-size`` (100 images per evaluation / decoding batch), ``--source`` (auto,
tfds or idx), ``--output-dir``.

Writes ``benchmarks/results/vq_vae.json`` and ``.md`` (``--output-dir``) and prints
the markdown.
"""

import argparse
import json
import math
import time
from pathlib import Path

import common  # first: the environment TensorFlow starts in
import numpy as np
import tensorflow as tf

DATASET = "fashion_mnist"
#: The likelihood.json rows quoted beside the bound.
REFERENCE_CONFIG = "dlogistic_vae_fashion_mnist"
#: The issue's targets.
TARGET_MSE = 0.008
TARGET_PERPLEXITY_FRACTION = 0.25
TARGET_ENTROPY = 0.8 * math.log(10)
#: The first test images ``model.evaluate`` checks ``measure`` on.
CHECK_EXAMPLES = 50


def main(argv=None):
    parser = arguments()
    args = parser.parse_args(argv)
    for name in ("classifier_epochs", "samples", "max_test_examples", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0; got {getattr(args, name)}")
    figures = run(parser, args)
    result = {**common.provenance(argv), **figures}
    report = markdown(result)
    common.write_results(Path(args.output_dir) / "vq_vae", result, report)
    print(report)


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load", required=True,
                        help="the VQVAE to measure: a pretrained zoo name, a preset or "
                             "`vaezoo train` run directory, or a .keras file (vaezoo.load)")
    parser.add_argument("--classifier-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1000, help="samples per classifier seed")
    parser.add_argument("--max-test-examples", type=int, default=None,
                        help="the first N test images (default: all 10,000)")
    parser.add_argument("--batch-size", type=int, default=100,
                        help="images per evaluation and decoding batch (the exact mean of a "
                             "discretized logistic mixture sums over 256 levels per pixel)")
    parser.add_argument("--source", default="auto", choices=("auto", "tfds", "idx"),
                        help="where the images come from (vaezoo.data.load_arrays)")
    common.add_output_dir(parser)
    return parser


def run(parser, args):
    """Every figure of the module docstring, with its target, as one JSON-ready dict."""
    import vaezoo
    from vaezoo import data as data_lib

    timings = {}
    start = time.perf_counter()
    model = vaezoo.load(args.load)
    timings["load"] = time.perf_counter() - start
    check_model(parser, model)

    x_test, y_test = data_lib.load_arrays(DATASET, "test", source=args.source)
    x_test, y_test = x_test[:args.max_test_examples], y_test[:args.max_test_examples]
    start = time.perf_counter()
    terms, codes = measure(model, x_test, args.batch_size)
    timings["bound_mse_codes"] = time.perf_counter() - start
    start = time.perf_counter()
    check = evaluate_check(model, x_test[:CHECK_EXAMPLES], terms, args.batch_size)
    timings["model_evaluate_check"] = time.perf_counter() - start

    reference = reference_row()
    subset = reference["num_test_examples"] if reference else 2000
    # The first test images, as many as the quoted row of likelihood.json has (2000).
    bounds = {"all_test_images": bound(model, terms, len(x_test)),
              "first_test_images": bound(model, terms, min(subset, len(x_test)))}
    diversity, diversity_timings = sample_diversity(model, x_test, y_test, args)
    timings.update(diversity_timings)

    k = model.num_embeddings
    perplexity = float(model.quantizer.perplexity(codes))
    mse = float(np.mean(terms["mse"]))
    result = {
        "loaded_model": str(args.load),
        "model": {"class": type(model).__name__, "num_embeddings": k,
                  "embedding_dim": model.embedding_dim, "grid_shape": list(model.grid_shape),
                  "likelihood": model.get_config()["likelihood"],
                  "likelihood_kwargs": model.get_config().get("likelihood_kwargs"),
                  "num_parameters": int(model.count_params())},
        "training": training_record(args.load),
        "dataset": DATASET, "train_split": "train", "test_split": "test",
        "source": args.source, "pixels": "8-bit gray levels on [0, 1], not binarized",
        "num_test_examples": len(x_test),
        "reconstruction": {"mse_per_pixel": mse, "target_max": TARGET_MSE,
                           "meets_target": mse <= TARGET_MSE},
        "codebook": {"num_embeddings": k, "perplexity": perplexity,
                     "perplexity_over_k": perplexity / k,
                     "codes_used": int(np.sum(model.quantizer.counts(codes).numpy() > 0)),
                     "num_codes_pooled": int(codes.size),
                     "target_min_perplexity_over_k": TARGET_PERPLEXITY_FRACTION,
                     "meets_target": perplexity / k >= TARGET_PERPLEXITY_FRACTION},
        "bound": bounds, "model_evaluate_check": check, "reference": reference,
        "diversity": diversity,
        "timings_seconds": {name: round(seconds, 2) for name, seconds in timings.items()},
    }
    result["meets_every_target"] = all(result[part]["meets_target"] for part in
                                       ("reconstruction", "codebook", "diversity"))
    return result


def check_model(parser, model):
    """A VQVAE of 28x28x1 images with a gray-level likelihood, or a usage error."""
    import vaezoo

    if not isinstance(model, vaezoo.VQVAE):
        parser.error(f"--load must name a VQVAE; got a {type(model).__name__}")
    if tuple(model.image_shape) != (28, 28, 1):
        parser.error(f"--load must name a model of 28x28x1 images (Fashion-MNIST); got "
                     f"image_shape {tuple(model.image_shape)}")
    if model.likelihood_layer.support == "binary":
        parser.error(f"this benchmark measures 8-bit gray levels; the model's likelihood "
                     f"{model.get_config()['likelihood']!r} is on binarized pixels. Load a "
                     f"VQVAE with a gray-level likelihood (e.g. "
                     f"'discretized_logistic_mixture').")


def measure(model, images, batch_size):
    """Per test image, from the model's own ``encode`` / ``decode`` / ``prior``: the
    bound's terms (nats) and the reconstruction MSE per pixel, ``{name: float64 [N]}``,
    and every code, int32 [N, h*w]."""
    prior = model.prior()

    # XLA: the exact mean of a discretized logistic mixture (256 levels per pixel) costs
    # most of the time, and compiled it takes about half as long as in a graph.
    @tf.function(jit_compile=True)
    def step(x):
        k = model.encode(x).codes
        likelihood = model.decode(k)
        rate, distortion = -prior.log_prob(k), -likelihood.log_prob(x)
        mse = tf.reduce_mean(tf.square(likelihood.mean() - x), axis=[1, 2, 3])
        return k, {"elbo": -(rate + distortion), "rate": rate, "distortion": distortion,
                   "mse": mse}

    terms, codes = {}, []
    for start in range(0, len(images), batch_size):
        k, t = step(model.preprocess(images[start:start + batch_size])[0])   # x on [0, 1]
        codes.append(k.numpy())
        for name, value in t.items():
            terms.setdefault(name, []).append(value.numpy().astype(np.float64))
    return {name: np.concatenate(v) for name, v in terms.items()}, np.concatenate(codes)


def evaluate_check(model, images, terms, batch_size):
    """``model.evaluate`` on the first batch against ``measure``'s figures for it: one
    definition of the bound, not two."""
    logs = model.evaluate(images, batch_size=batch_size, verbose=0, return_dict=True)
    n = len(images)
    return {"num_test_examples": n,
            **{f"{name}_difference": float(logs[name] - np.mean(terms[name][:n]))
               for name in ("elbo", "rate", "distortion", "mse")}}


def bound(model, terms, n):
    """The bound on the first ``n`` test images: nats per image and bits/dim."""
    dims = int(np.prod(model.image_shape))
    h, w = model.grid_shape
    uniform_rate = h * w * math.log(model.num_embeddings)
    elbo = terms["elbo"][:n]
    distortion = float(np.mean(terms["distortion"][:n]))
    return {"num_test_examples": n, "elbo_nats": float(np.mean(elbo)),
            "elbo_stderr_nats": float(np.std(elbo, ddof=1) / math.sqrt(n)) if n > 1 else None,
            "distortion_nats": distortion, "rate_nats": float(np.mean(terms["rate"][:n])),
            "bits_per_dim": float(-np.mean(elbo) / (dims * math.log(2))),
            "uniform_prior_rate_nats": uniform_rate,
            "uniform_prior_bits_per_dim": (distortion + uniform_rate) / (dims * math.log(2))}


def reference_row(path=common.RESULTS_DIR / "likelihood.json", config=REFERENCE_CONFIG):
    """The ``config`` row of likelihood.json with the most test images (then the most
    importance samples), quoted with its provenance; None if there is none."""
    rows = [r for r in common.read_json(path, {"results": []})["results"]
            if r.get("config") == config]
    if not rows:
        return None
    r = max(rows, key=lambda r: (r["num_test_examples"], r["num_importance_samples"]))
    keys = ("key", "config", "description", "dataset", "test_split", "epochs",
            "num_importance_samples", "num_test_examples", "test_log_likelihood",
            "test_log_likelihood_stderr", "test_bits_per_dim", "test_elbo", "precision",
            "command", "date")
    quoted = {key: r.get(key) for key in keys}
    quoted["test_elbo_bits_per_dim"] = -r["test_elbo"] / (784 * math.log(2))
    quoted["source"] = f"benchmarks/results/{Path(path).name}"
    quoted["estimate"] = (
        f"importance-sampled log p(x) (Burda et al. 2016) with K = "
        f"{r['num_importance_samples']} samples of q(z|x) of a continuous-latent VAE: a "
        f"lower bound too, in expectation, tighter than its ELBO")
    return quoted


def prior_samples(model, n, seed, batch_size):
    """``model.sample(n, seed=seed)``, decoded ``batch_size`` code grids at a time (the
    mean of a discretized logistic mixture holds 256 levels per pixel in memory)."""
    # The stateless seed model.sample(n, seed=seed) draws its code grids with.
    codes = model.prior().sample(n, seed=tf.constant([int(seed), 0], tf.int32))
    mean = tf.function(lambda k: model.decode(k).mean(), jit_compile=True)
    return np.concatenate([mean(codes[i:i + batch_size]).numpy()
                           for i in range(0, n, batch_size)])


def entropy(counts):
    """The entropy, in nats, of the histogram ``counts``."""
    p = np.asarray(counts, np.float64) / np.sum(counts)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p))) + 0.0      # + 0.0: no "-0.0" for one class


def sample_diversity(model, x_test, y_test, args):
    """The class histogram of ``--samples`` samples under each seed's classifier."""
    from vaezoo import data as data_lib

    x_train, y_train = data_lib.load_arrays(DATASET, "train", source=args.source)
    x_train = x_train.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    runs, timings = {}, {}
    for seed in args.classifier_seeds:
        clf, accuracy, clf_seconds = common.fit_classifier(seed, x_train, y_train, x_test,
                                                           y_test, args.classifier_epochs)
        start = time.perf_counter()
        images = prior_samples(model, args.samples, seed, args.batch_size)
        sample_seconds = time.perf_counter() - start
        predicted = clf.predict(images, batch_size=1000, verbose=0).argmax(-1)
        counts = np.bincount(predicted, minlength=10)
        runs[str(seed)] = {"classifier_test_accuracy": accuracy,
                           "class_histogram": counts.tolist(), "entropy_nats": entropy(counts)}
        timings[f"classifier_train_seed_{seed}"] = clf_seconds
        timings[f"sample_seed_{seed}"] = sample_seconds
    mean = float(np.mean([r["entropy_nats"] for r in runs.values()]))
    return {"classifier": f"{common.CLASSIFIER} on gray training images in [0, 1]",
            "classifier_epochs": args.classifier_epochs,
            "classifier_train_examples": len(x_train),
            "classifier_test_examples": len(x_test),
            "class_names": data_lib.info(DATASET)["class_names"],
            "samples_per_seed": args.samples,
            "samples": "model.sample(n, seed=s): code grids from the prior, the mean of "
                       "p(x|z_q)",
            "runs": runs, "mean_entropy_nats": mean, "max_entropy_nats": math.log(10),
            "target_min_entropy_nats": TARGET_ENTROPY, "meets_target": mean >= TARGET_ENTROPY
            }, timings


def training_record(load):
    """The training time and epochs of the loaded model, from its card (``metadata.json``)
    or its ``vaezoo train`` record (``metrics.json``), or Nones."""
    from vaezoo import presets

    record = {"training_time_seconds": None, "epochs": None, "prior_epochs": None, "from": None}
    try:
        directory = presets.resolve(load)
    except ValueError:                     # a .keras file: no card
        return record
    for name, time_key in (("metadata.json", "training_time_seconds"),
                           ("metrics.json", "train_time_s")):
        path = directory / name
        if path.is_file():
            meta = json.loads(path.read_text())
            if meta.get(time_key) is not None or meta.get("epochs") is not None:
                return {"training_time_seconds": meta.get(time_key),
                        "epochs": meta.get("epochs"), "prior_epochs": meta.get("prior_epochs"),
                        "from": name}
    return record


def _met(ok):
    return "met" if ok else "**not met**"


def markdown(r):
    """The figures with their targets, the bound beside the reference, the runs."""
    m, code, div = r["model"], r["codebook"], r["diversity"]
    trained = r["training"]["training_time_seconds"]
    trained = (f"trained in {trained / 60:.1f} min ({r['training']['from']})" if trained
               else "training time not recorded")
    h, w = m["grid_shape"]
    lines = [
        "# VQ-VAE on Fashion-MNIST (8-bit gray levels)", "",
        f"Model `{r['loaded_model']}`: {m['class']}, K = {m['num_embeddings']} codes of "
        f"dimension {m['embedding_dim']}, a {h} x {w} code grid, {m['likelihood']} "
        f"likelihood, {m['num_parameters']:,} parameters, {trained}. "
        f"{r['num_test_examples']} test images ({r['dataset']} {r['test_split']}, not "
        f"binarized). Written by `benchmarks/vq_vae.py`.", "",
        "| figure | value | target | |", "|---|---|---|---|",
        f"| reconstruction MSE per pixel, on [0, 1] | {r['reconstruction']['mse_per_pixel']:.5f} "
        f"| ≤ {TARGET_MSE} | {_met(r['reconstruction']['meets_target'])} |",
        f"| codebook perplexity / K (all test codes pooled) | {code['perplexity']:.1f} / "
        f"{code['num_embeddings']} = {code['perplexity_over_k']:.3f} "
        f"({code['codes_used']} codes used) | ≥ 1/4 | {_met(code['meets_target'])} |",
        f"| class entropy of {div['samples_per_seed']} samples, mean over seeds "
        f"{', '.join(div['runs'])} | {div['mean_entropy_nats']:.3f} nats "
        f"(max ln 10 = {math.log(10):.3f}) | ≥ 0.8 ln 10 = {TARGET_ENTROPY:.3f} | "
        f"{_met(div['meets_target'])} |", "",
        "## The bound, bits/dim = −ELBO / (784 ln 2)", "",
        "The VQ-VAE's posterior is a point mass, so ELBO = log p(x|z_q) + log p(k(x)) "
        "exactly (nothing is sampled): a lower bound on log p(x), not an estimate of it. "
        "Rate: −log p(k(x)) under the PixelCNN prior; with the uniform prior it would be "
        f"h w ln K = {h * w} ln {m['num_embeddings']}.", "",
        "| model | test images | −ELBO (nats) | distortion | rate | uniform-prior rate "
        "| bits/dim | bits/dim, uniform prior |", "|---|---|---|---|---|---|---|---|"]
    rows = list(r["bound"].values())
    if rows[0]["num_test_examples"] == rows[1]["num_test_examples"]:
        rows = rows[:1]
    for b in rows:
        stderr = f" ± {b['elbo_stderr_nats']:.1f}" if b["elbo_stderr_nats"] else ""
        lines.append(
            f"| `{r['loaded_model']}` (exact bound) | {b['num_test_examples']} | "
            f"{-b['elbo_nats']:.1f}{stderr} | {b['distortion_nats']:.1f} | "
            f"{b['rate_nats']:.1f} | {b['uniform_prior_rate_nats']:.1f} | "
            f"**{b['bits_per_dim']:.4f}** | {b['uniform_prior_bits_per_dim']:.4f} |")
    ref = r["reference"]
    if ref:
        lines += [
            f"| `{ref['config']}` ({ref['epochs']} epochs), importance-sampled −log p(x), "
            f"K = {ref['num_importance_samples']} | {ref['num_test_examples']} | "
            f"{-ref['test_log_likelihood']:.1f} ± {ref['test_log_likelihood_stderr']:.1f} "
            f"| — | — | — | **{ref['test_bits_per_dim']:.4f}** (its ELBO: "
            f"{ref['test_elbo_bits_per_dim']:.4f}) | — |", "",
            f"The last row is quoted from `{ref['source']}` (`{ref['key']}`, {ref['date']}; "
            f"`{ref['command']}`), on the first {ref['num_test_examples']} test images: "
            f"{ref['description']}. Its figure is the {ref['estimate']}."]
    else:
        lines += ["", f"(no `{REFERENCE_CONFIG}` row in benchmarks/results/likelihood.json "
                      "to quote)"]
    check = r["model_evaluate_check"]
    lines += ["", f"`model.evaluate` on the first {check['num_test_examples']} images "
              f"agrees with these figures: ELBO difference {check['elbo_difference']:+.2g} "
              f"nats, MSE difference {check['mse_difference']:+.2g}.", "",
              f"## Sample diversity ({div['classifier']}, {div['classifier_epochs']} "
              f"epoch{'s' * (div['classifier_epochs'] != 1)} on "
              f"{div['classifier_train_examples']} training images)", "",
              "| seed | classifier test accuracy | class histogram ("
              + ", ".join(div["class_names"]) + ") | entropy (nats) |", "|---|---|---|---|"]
    for seed, run in div["runs"].items():
        lines.append(f"| {seed} | {run['classifier_test_accuracy']:.1%} | "
                     f"{' '.join(map(str, run['class_histogram']))} | "
                     f"{run['entropy_nats']:.3f} |")
    timings = ", ".join(f"{k} {v:.1f}" for k, v in r["timings_seconds"].items())
    lines += ["", f"Timings (s): {timings}. CPU: {common.describe_cpu(r['cpu'])}, 1-minute "
              f"load average {r['load_average_1min']} (shared). TensorFlow "
              f"{r['versions']['tensorflow']}, Keras {r['versions']['keras']}.", "",
              "Command:", "", f"    {r['command']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
