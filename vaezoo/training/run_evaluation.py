"""The final measures of a run, its pictures, and ``evaluate`` of a run or a pretrained entry.

After training, ``train`` measures the train ELBO and the test ELBO and
importance-sampled log p(x) with ``[evaluation] num_importance_samples`` (K)
on every test image, or the first ``[evaluation] max_examples``
(``vaezoo.evaluation.elbo``, ``log_likelihood`` and, for a model that
classifies, ``classification_accuracy``); ``metrics.json`` records the
split, K, the number of test images and the binarization of what was
measured. ``evaluate`` measures the same on a finished run directory or a
pretrained entry.

Example:
  >>> evaluate("mlp_vae_fashion_mnist", num_samples=100, max_examples=1000)
  >>> evaluate("runs/mlp")                       # the config's K, every test image
"""

import time
from pathlib import Path

from vaezoo import data as data_lib
from vaezoo import evaluation, io, plot, presets, validation
from vaezoo.training.datasets import num_examples, prefetched
from vaezoo.training.run_config import resolve_config


def evaluation_spec(cfg):
    """What the final evaluation measures: reruns reuse metrics only for the same."""
    ev = cfg["evaluation"]
    return {"split": cfg["data"]["test_split"], "num_importance_samples":
            ev["num_importance_samples"], "max_examples": ev.get("max_examples"),
            "seed": ev["seed"]}


def _eval_batches(raw, cfg):
    size = cfg["evaluation"].get("batch_size") or 500
    return prefetched(raw.batch(size))


def measure_test_split(model, cfg, test_raw, num_samples, max_examples, verbose):
    """ELBO, log p(x) (K = ``num_samples``) and, for a classifier, accuracy on the test
    split, with the record of what was measured (split, K, images, binarization)."""
    ev, progress = cfg["evaluation"], verbose == 1
    started = time.perf_counter()
    test_elbo = evaluation.elbo(model, _eval_batches(test_raw, cfg), seed=ev["seed"],
                                progress=progress, max_examples=max_examples)
    ll = evaluation.log_likelihood(model, _eval_batches(test_raw, cfg), num_samples=num_samples,
                                   seed=ev["seed"], sample_batch=ev.get("sample_batch"),
                                   max_examples=max_examples, progress=progress)
    test = {"elbo": test_elbo["elbo"], "rate": test_elbo["rate"],
            "distortion": test_elbo["distortion"], "elbo_stderr": test_elbo["stderr"],
            "log_likelihood": ll["log_likelihood"], "stderr": ll["stderr"],
            "bits_per_dim": ll["bits_per_dim"], "num_importance_samples": ll["num_samples"],
            "num_examples": ll["num_examples"], "decoder_precision": ll["precision"]}
    if getattr(model, "is_conditional", False):
        # evaluation.log_likelihood / elbo condition on the label each test image carries.
        test["log_likelihood_is"] = "log p(x|y), y = the true test label (also the ELBO)"
    test["estimate"] = ll["estimate"]
    if ll["estimate"] == "bound":
        test["log_likelihood_is"] = (
            "the bound log p(x|z_q) + log p(k(x)): the posterior is a point mass (the nearest "
            "codes), so importance sampling returns the ELBO itself for any K; not an "
            "estimate of log p(x)")
    if callable(getattr(model, "classify", None)):
        test["accuracy"] = evaluation.classification_accuracy(
            model, _eval_batches(test_raw, cfg), max_examples=max_examples, progress=progress)
    binarized = getattr(model, "binarization", None) is not None
    record = {"split": cfg["data"]["test_split"], "num_importance_samples": ll["num_samples"],
              "num_examples": ll["num_examples"],
              "num_examples_in_split": num_examples(test_raw), "max_examples": max_examples,
              "seed": ev["seed"], "binarization": "static" if binarized else None,
              "binarization_seed": model.binarization_seed if binarized else None,
              "eval_time_s": time.perf_counter() - started}
    return test, record


def final_metrics(model, cfg, train_raw, test_raw, verbose):
    """The final evaluation of ``train``: train ELBO and the test measures."""
    ev = cfg["evaluation"]
    started = time.perf_counter()
    train_elbo = evaluation.elbo(model, _eval_batches(train_raw, cfg), seed=ev["seed"],
                                 progress=verbose == 1, max_examples=ev.get("max_examples"))
    test, record = measure_test_split(model, cfg, test_raw, ev["num_importance_samples"],
                                 ev.get("max_examples"), verbose)
    return {"train": {"elbo": train_elbo["elbo"], "rate": train_elbo["rate"],
                      "distortion": train_elbo["distortion"],
                      "num_examples": train_elbo["num_examples"]},
            "test": test, "evaluation": record,
            "eval_time_s": time.perf_counter() - started}


#: The picture of a run whose model has a discrete latent: the use of its codebook.
CODES_FILE = "codes.png"


def save_pictures(model, test_raw, out_dir, seed):
    """``samples.png`` (64 draws from the prior), ``reconstructions.png`` (16 test images)
    and, for a model with a discrete latent (a VQVAE), ``codes.png`` (how often the first
    2000 test images use each code: ``plot.code_usage``)."""
    images = next(iter(test_raw.batch(16)))
    out_dir = Path(out_dir)
    pictures = [(io.SAMPLES_FILE, lambda p: plot.sample_grid(model, 64, seed=seed, path=p)),
                (io.RECONSTRUCTIONS_FILE, lambda p: plot.reconstructions(model, images, path=p))]
    if plot.discrete_latent(model):
        pictures.append((CODES_FILE, lambda p: plot.code_usage(model, test_raw, path=p)))
    for name, draw in pictures:
        io.atomic_write(out_dir / name, draw, suffix=".png")


def evaluate(name_or_dir, num_samples=None, *, max_examples=None, verbose=1):
    """Evaluate a run directory's final model, or a pretrained entry, on its test split.

    Args:
      name_or_dir: a directory written by ``train``, a pretrained entry name
        (see ``vaezoo.list_models()``) or a preset directory.
      num_samples: importance samples K (default: the config's
        ``[evaluation] num_importance_samples``).
      max_examples: evaluate the first N test images only (default: all).
      verbose: progress bars when 1.

    Returns:
      dict with ``elbo``, ``rate``, ``distortion``, ``log_likelihood``, ``stderr``,
      ``bits_per_dim``, ``num_importance_samples``, ``num_examples`` (test images
      evaluated), ``num_examples_in_split``, ``test_split``, ``binarization``
      (and ``accuracy`` for a model that classifies). For a run directory it is
      also written to ``evaluation.json`` there.

    Example:
      >>> training.evaluate("mlp_vae_fashion_mnist", num_samples=100, max_examples=1000)
      >>> training.evaluate("runs/mlp")            # the config's K, every test image
    """
    path = Path(str(name_or_dir)).expanduser()
    if path.is_dir() and not (path / io.CONFIG_FILE).is_file():
        raise ValueError(f"{path} is not a vaezoo run directory (no {io.CONFIG_FILE}); give a "
                         f"directory written by `vaezoo train` or a pretrained entry name")
    is_run = path.is_dir() and not (path / io.METADATA_FILE).is_file()
    if is_run and not any((path / f).is_file() for f in (io.WEIGHTS_FILE, io.KERAS_FILE)):
        raise ValueError(f"{path} has no trained model yet ({io.WEIGHTS_FILE} or "
                         f"{io.KERAS_FILE}); finish the run with "
                         f"`vaezoo train {path / io.CONFIG_FILE} --out {path}`")
    # As vaezoo.load reads it: a run directory's config with its weights (else its
    # model.keras), a pretrained entry or preset verified first.
    model = presets.load(name_or_dir, compile=False)
    cfg = resolve_config(presets.resolve(name_or_dir) / io.CONFIG_FILE)
    if num_samples is None:
        num_samples = cfg["evaluation"]["num_importance_samples"]
    num_samples = validation.check_positive_int("num_samples", num_samples)
    if max_examples is not None:
        max_examples = validation.check_positive_int("max_examples", max_examples)
    d = cfg["data"]
    test_raw = data_lib.load(d["dataset"], d["test_split"], data_dir=d.get("data_dir"),
                             verbose=bool(verbose)).cache()
    test, record = measure_test_split(model, cfg, test_raw, num_samples, max_examples, verbose)
    out = {("run_dir" if is_run else "model"): str(name_or_dir), "test_split": d["test_split"],
           **test, **{k: v for k, v in record.items() if k != "split"}}
    if is_run:
        io.write_json(path / io.EVALUATION_FILE, out)
    return out


__all__ = ["evaluate", "evaluation_spec", "measure_test_split", "final_metrics", "save_pictures"]
