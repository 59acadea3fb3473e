"""Turn a `vaezoo train` run directory into a shipped pretrained zoo entry.

    python tools/make_pretrained.py NAME RUN_DIR [--remeasure] [--num-samples K]

writes ``vaezoo/pretrained/NAME/`` (see ``vaezoo.zoo``): ``config.toml`` (the
run's resolved config, with the image shape), ``model.weights.h5``,
``samples.png`` (32 samples from the prior, seed 0) and ``metadata.json``, the
model card:

* data: dataset, the source it was read from (tfds or the IDX files), train and
  test splits, binarization and its seed, and the test set's binarization
  (static with that seed for any binarized model, dynamic training included);
* training: epochs, steps, batch size, optimizer, training time (from the run's
  ``metrics.json``) and the machine (platform, CPU count, Python);
* ``metrics``: the test log-likelihood (importance sampling with the config's
  ``num_importance_samples``, seed 0, batches of 500, over the whole test split)
  with its standard error, bits/dim, the test ELBO (rate, distortion), the
  train ELBO and, for models that classify, the test accuracy. These come from
  the run's ``metrics.json`` (computed by ``vaezoo.training`` on the very weights
  shipped) unless ``--remeasure`` is given;
* for a class-conditional model, ``test_log_likelihood_is`` says that
  ``test_log_likelihood`` is log p(x|y) with the true test label y (what
  ``vaezoo.evaluation.log_likelihood`` computes for such a model); for a model
  that classifies (M2), ``test_log_likelihood`` is log p(x) with y summed out
  exactly (what ``log_likelihood`` computes for it: classes x K decoder passes),
  and ``test_elbo_unlabeled`` is M2's bound U(x), both without the test labels;
* for a model with a deterministic posterior (VQ-VAE), ``test_log_likelihood_is``
  says that ``test_log_likelihood`` is the bound log p(x|z_q) + log p(codes);
* ``subset_check``: log p(x) on ``test[:500]`` with 100 samples and with the
  full sample count (seed 0): the fast test re-measures the first exactly;
* parameter count, library versions, sha256 and size of each file.

A run whose final evaluation did not finish (no ``model.weights.h5`` yet) is
taken from its newest checkpoint (``vaezoo.training.restore_checkpoint``); its
training time, epochs and steps then come from the checkpoint's record, and the
test metrics are measured here. ``--num-samples K`` measures the card's test
log-likelihood with K importance samples instead of the config's
``num_importance_samples`` (the shipped config then states K, and the card
records the config's value under ``config_num_importance_samples``).
"""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SUBSET_SPLIT = "test[:500]"
SUBSET_SAMPLES = 100
EVAL_BATCH = 500


def machine():
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version()}


def versions():
    import keras
    import numpy
    import tensorflow as tf
    import tensorflow_probability as tfp

    import vaezoo
    return {"vaezoo": vaezoo.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "tensorflow_probability": tfp.__version__, "numpy": numpy.__version__}


def data_source(dataset, split):
    """"tfds" or "idx": where vaezoo.data reads this split from on this machine."""
    from vaezoo import data
    return data.source_of(dataset, split)


def test_batches(cfg, split, source):
    from vaezoo import data
    return data.load(cfg["data"]["dataset"], split, source=source, verbose=False).batch(EVAL_BATCH)


def from_checkpoint(run_dir, cfg):
    """(model, run record) from the newest checkpoint of a run without final weights."""
    from vaezoo import config, training
    path = training.latest_checkpoint(run_dir)
    if path is None:
        raise SystemExit(f"{run_dir} has neither model.weights.h5 nor a checkpoint")
    model = config.model_from_config(cfg)
    model.compile(optimizer=config.optimizer_from_config(cfg))
    model.optimizer.build(model.trainable_variables)
    meta = training.restore_checkpoint(path, model)
    print(f"weights from {path.name} (epoch {meta['epoch']}, step {meta['step']})", flush=True)
    record = {"epochs": meta["epoch"], "steps": meta["step"], "train_time_s": meta["train_time"],
              "checkpoint": path.name}
    if meta.get("history", {}).get("elbo"):
        record["last_epoch_train_elbo"] = meta["history"]["elbo"][-1]
    return model, record


def measure(model, cfg, source, remeasure, run_metrics):
    from vaezoo import evaluation
    d, k = cfg["data"], cfg["evaluation"]["num_importance_samples"]
    test = run_metrics.get("test") or {}          # None for a `vaezoo train --no-eval` run
    reuse = (not remeasure and test.get("num_importance_samples") == k
             and "log_likelihood" in test and "elbo" in test
             and test.get("num_examples") == _split_size(cfg, source))
    if reuse:
        print(f"test log p(x) and ELBO from the run's metrics.json (K={k})", flush=True)
        metrics = {
            "test_log_likelihood": test["log_likelihood"],
            "test_log_likelihood_stderr": test["stderr"],
            "num_importance_samples": k,
            "num_test_examples": test["num_examples"],
            "test_bits_per_dim": test["bits_per_dim"],
            "test_elbo": test["elbo"],
            "test_elbo_stderr": test.get("elbo_stderr"),
            "test_rate": test.get("rate"),
            "test_distortion": test.get("distortion"),
            "estimate": test.get("estimate", "importance_sampled"),
            "decoder_precision": test.get("decoder_precision", "float32"),
            "measured_by": "vaezoo.training (end of the run)",
        }
    else:
        started = time.perf_counter()
        ll = evaluation.log_likelihood(model, test_batches(cfg, d["test_split"], source),
                                       num_samples=k, seed=0)
        elbo = evaluation.elbo(model, test_batches(cfg, d["test_split"], source), seed=0)
        metrics = {
            "test_log_likelihood": ll["log_likelihood"],
            "test_log_likelihood_stderr": ll["stderr"],
            "num_importance_samples": k,
            "num_test_examples": ll["num_examples"],
            "test_bits_per_dim": ll["bits_per_dim"],
            "test_elbo": elbo["elbo"],
            "test_elbo_stderr": elbo["stderr"],
            "test_rate": elbo["rate"],
            "test_distortion": elbo["distortion"],
            "estimate": ll["estimate"],
            "decoder_precision": ll["precision"],
            "measured_by": "tools/make_pretrained.py --remeasure",
            "evaluation_time_seconds": time.perf_counter() - started,
        }
    if "train" in run_metrics:
        metrics["train_elbo"] = run_metrics["train"].get("elbo")
    if hasattr(model, "classify"):
        metrics["test_accuracy"] = evaluation.classification_accuracy(
            model, test_batches(cfg, d["test_split"], source))
    if getattr(model, "is_conditional", False) and not hasattr(model, "classify"):
        metrics["test_log_likelihood_is"] = (
            "log p(x|y) with y the true test label (vaezoo.evaluation.log_likelihood "
            "conditions a class-conditional model on the label it is given); the same for "
            "test_elbo")
    if getattr(model, "deterministic_posterior", False):
        metrics["test_log_likelihood_is"] = (
            "the bound log p(x|z_q) + log p(k(x)), not an estimate of log p(x): the posterior is "
            "a point mass on the nearest codes k(x), so importance sampling returns this ELBO "
            "exactly for any K (vaezoo.evaluation.log_likelihood reports estimate='bound'); "
            "test_elbo is the same bound")
    if hasattr(model, "classify"):
        started = time.perf_counter()
        unlabeled = unlabeled_bound(model, test_batches(cfg, d["test_split"], source))
        metrics.update({
            "test_log_likelihood_is": (
                f"log p(x) = logsumexp_y [log p(y) + log p(x|y)]: "
                f"vaezoo.evaluation.log_likelihood sums the class out exactly over the "
                f"{model.num_classes} classes, each log p(x|y) importance-sampled with K={k} "
                f"samples from q(z|x,y), so {model.num_classes * k} decoder passes per image; "
                f"no test label used. test_elbo is the conditional ELBO with the true label"),
            "test_elbo_unlabeled": unlabeled["elbo"],
            "test_elbo_unlabeled_stderr": unlabeled["stderr"],
            "test_elbo_unlabeled_is": "the M2 bound U(x) on log p(x) (Kingma et al. 2014, "
                                      "eq. 7), one sample of z per class; no test label used",
            "unlabeled_bound_time_seconds": time.perf_counter() - started,
        })
    return metrics


def unlabeled_bound(model, batches):
    """Mean of M2's bound U(x) on log p(x) over ``batches``, labels hidden (y = -1)."""
    import numpy as np
    import tensorflow as tf
    values = []
    for batch in batches:
        x, _ = model.preprocess(batch, training=False)
        _, terms = model.compute_objective(x, -tf.ones([tf.shape(x)[0]], tf.int32))
        values.append(terms["elbo"].numpy().astype(np.float64))
    values = np.concatenate(values)
    return {"elbo": float(values.mean()),
            "stderr": float(values.std(ddof=1) / np.sqrt(values.size))}


def _split_size(cfg, source):
    from vaezoo import data
    if source == "idx":
        return int(len(data.load_arrays(cfg["data"]["dataset"], cfg["data"]["test_split"],
                                        source="idx", verbose=False)[0]))
    return data.info(cfg["data"]["dataset"])["splits"].get(cfg["data"]["test_split"])


def codebook_metrics(model, batches):
    """A VQ-VAE's test reconstruction error and codebook use: the mean squared error per
    pixel of the reconstruction mean on [0, 1], and the perplexity of all test codes
    pooled (``VectorQuantizer.perplexity``) with the number of codes used."""
    import numpy as np
    import tensorflow as tf
    codes, squared, pixels = [], 0.0, 0
    for batch in batches:
        x = model.preprocess(batch["image"])[0]
        k = model.encode(x).codes
        squared += float(tf.reduce_sum(tf.square(model.decode(k).mean() - x)))
        pixels += int(np.prod(x.shape))
        codes.append(k)
    codes = tf.concat(codes, axis=0)
    return {"test_reconstruction_mse": squared / pixels,
            "test_reconstruction_mse_is": "per pixel on [0, 1], the mean of p(x|z_q(x)) "
                                          "against the 8-bit test image / 255",
            "codebook_size": model.num_embeddings,
            "test_codebook_perplexity": float(model.quantizer.perplexity(codes)),
            "test_codes_used": int(np.count_nonzero(model.quantizer.counts(codes).numpy())),
            "test_codebook_perplexity_is": "exp of the entropy of all test codes pooled"}


def subset_check(model, cfg, source, subset_samples=SUBSET_SAMPLES):
    from vaezoo import evaluation
    k = cfg["evaluation"]["num_importance_samples"]
    if getattr(model, "deterministic_posterior", False):
        subset_samples = 1   # a point-mass posterior: every sample gives the same bound
    few = evaluation.log_likelihood(model, test_batches(cfg, SUBSET_SPLIT, source),
                                    num_samples=subset_samples, seed=0, progress=False)
    full = few if k == subset_samples else evaluation.log_likelihood(
        model, test_batches(cfg, SUBSET_SPLIT, source), num_samples=k, seed=0, progress=False)
    return {"split": SUBSET_SPLIT, "num_importance_samples": subset_samples, "seed": 0,
            "batch_size": EVAL_BATCH, "num_examples": few["num_examples"],
            "log_likelihood": few["log_likelihood"], "stderr": few["stderr"],
            "full_num_importance_samples": k, "log_likelihood_full_samples": full["log_likelihood"]}


def repack(entry):
    """Rewrite an entry's files from its own verified weights, keeping its model card."""
    import shutil

    import numpy as np

    from vaezoo import config, io, zoo
    card = json.loads((entry / io.METADATA_FILE).read_text())
    model = zoo.load(entry)                      # verified against the old checksums
    cfg = config.load_config(entry / io.CONFIG_FILE)
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / io.SAMPLES_FILE
        shutil.copyfile(entry / io.SAMPLES_FILE, png)
        zoo.write_entry(model, cfg, entry, metadata=card, samples_png=png)
    loaded = zoo.load(entry)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    print(f"repacked {entry}: {sum(f.stat().st_size for f in entry.iterdir())} bytes")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="entry name, e.g. mlp_vae_fashion_mnist")
    parser.add_argument("run_dir", type=Path, help="a directory written by `vaezoo train`")
    parser.add_argument("--out-root", type=Path,
                        default=Path(__file__).resolve().parent.parent / "vaezoo" / "pretrained")
    parser.add_argument("--remeasure", action="store_true",
                        help="re-measure the test metrics instead of reading metrics.json")
    parser.add_argument("--num-samples", type=int, default=None,
                        help="importance samples of the card's test log p(x) "
                             "(default: the config's num_importance_samples)")
    parser.add_argument("--repack", action="store_true",
                        help="rewrite the files of the existing entry NAME (same weights, same "
                             "card; RUN_DIR is ignored), e.g. after a change of the file format")
    parser.add_argument("--subset-samples", type=int, default=SUBSET_SAMPLES,
                        help="importance samples of the subset check on test[:500]")
    args = parser.parse_args(argv)

    import numpy as np

    from vaezoo import config, plot, zoo

    started = time.perf_counter()
    if args.repack:
        return repack(args.out_root / args.name)
    cfg = config.load_config(args.run_dir / "config.toml")
    cfg["name"] = args.name
    config_k = cfg["evaluation"]["num_importance_samples"]
    if args.num_samples is not None:
        cfg["evaluation"]["num_importance_samples"] = args.num_samples
    metrics_path = args.run_dir / "metrics.json"
    run_metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    if (args.run_dir / "model.weights.h5").is_file() or (args.run_dir / "model.keras").is_file():
        model = zoo.load(args.run_dir)
    else:
        model, run_metrics = from_checkpoint(args.run_dir, cfg)
    source = data_source(cfg["data"]["dataset"], cfg["data"]["test_split"])

    metrics = measure(model, cfg, source, args.remeasure, run_metrics)
    if config_k != metrics["num_importance_samples"]:
        metrics["config_num_importance_samples"] = config_k
    if "last_epoch_train_elbo" in run_metrics:
        metrics["last_epoch_train_elbo"] = run_metrics["last_epoch_train_elbo"]
    if getattr(model, "quantizer", None) is not None:
        metrics.update(codebook_metrics(model, test_batches(cfg, cfg["data"]["test_split"],
                                                            source)))
    check = subset_check(model, cfg, source, args.subset_samples)
    card = {
        "name": args.name,
        "description": cfg.get("description", ""),
        "model_class": cfg["model"]["class"],
        "dataset": cfg["data"]["dataset"],
        "data_source": source,
        "train_split": cfg["data"]["train_split"],
        "test_split": cfg["data"]["test_split"],
        "binarization": cfg["model"].get("binarization"),
        "binarization_seed": cfg["model"].get("binarization_seed", 0)
        if cfg["model"].get("binarization") else None,
        # Every binarized model is evaluated on the statically binarized test set.
        "test_binarization": "static" if cfg["model"].get("binarization") else None,
        "epochs": run_metrics.get("epochs", cfg["training"]["epochs"]),
        "prior_epochs": run_metrics.get("prior_epochs", cfg["training"].get("prior_epochs", 0)),
        "steps": run_metrics.get("steps"),
        "batch_size": cfg["data"]["batch_size"],
        "optimizer": cfg["optimizer"],
        "training_seed": cfg["training"]["seed"],
        "training_time_seconds": run_metrics.get("train_time_s"),
        "machine": machine(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "metrics": metrics,
        "subset_check": check,
        "versions": versions(),
        "weights_from": run_metrics.get("checkpoint", "model.weights.h5 of the run"),
        "command": f"vaezoo.training.train({args.name!r}, RUN_DIR); python "
                   f"tools/make_pretrained.py {' '.join(sys.argv[1:] if argv is None else argv)}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "samples.png"
        import matplotlib.pyplot as plt
        plt.close(plot.sample_grid(model, n=32, seed=0, ncols=8, path=str(png), cell=0.35,
                                    title=args.name))
        entry = zoo.write_entry(model, cfg, args.out_root / args.name, metadata=card,
                                samples_png=png)

    # The shipped entry must load and give the same deterministic outputs as the run.
    loaded = zoo.load(entry)
    x = test_batches(cfg, "test[:8]", source)
    batch = next(iter(x))
    y = batch["label"] if getattr(model, "is_conditional", False) else None
    np.testing.assert_array_equal(model.reconstruct(batch["image"], y).numpy(),
                                  loaded.reconstruct(batch["image"], y).numpy())
    size = sum(f.stat().st_size for f in entry.iterdir())
    print(json.dumps({"entry": str(entry), "bytes": size, "metrics": metrics,
                      "subset_check": check}, indent=2))
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
