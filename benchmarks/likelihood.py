"""Train zoo configs and measure their test log-likelihood against published numbers.

For each zoo config (``zoo_configs/<name>.toml``): build the model from
``[model]``, train it with the config's optimizer, batch size and epochs
(``--epochs`` overrides), then evaluate on the test split

* the importance-sampled log-likelihood (Burda et al. 2016)
  ``log p(x) ~= logmeanexp_{k<=K} log p(x, z_k) / q(z_k|x)``, ``z_k ~ q(z|x)``,
  with ``K = --num-samples`` (default 5000) and its standard error over the
  test examples (``vaezoo.evaluation.log_likelihood``);
* the ELBO (one z sample per example, analytic KL where TFP has it).

Results are merged by (config name, epochs) into ``benchmarks/results/likelihood.json``
(so several invocations accumulate) and the whole table is rewritten to
``benchmarks/results/likelihood.md``. The per-example log-likelihoods are
kept in ``likelihood_per_example.npz`` so two models evaluated on the same
examples are compared *paired*: the standard error of the mean per-example
difference, which is much smaller than either unpaired standard error.

Usage::

    python benchmarks/likelihood.py --configs mlp_vae_fashion_mnist iwae_vae_fashion_mnist \\
        --epochs 10 --num-samples 1000 --max-test-examples 2000

Options: ``--configs`` (zoo names or paths), ``--epochs``, ``--num-samples``,
``--max-test-examples``, ``--max-train-examples`` (a quick smoke run),
``--weights-dir`` (keep the trained weights; configs already trained there are
only evaluated), ``--run-dir`` (evaluate the weights of a ``vaezoo train`` run
instead of training: its ``model.weights.h5``, with the epochs and training time
of its ``metrics.json``), ``--output-dir``.

A model trained on dynamically binarized images is evaluated, like every
binarized model, on the statically binarized test set (seed
``binarization_seed``), so it is compared paired with statically trained ones.
"""

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import common  # first: the environment TensorFlow starts in
import numpy as np

DEFAULT_CONFIGS = ("mlp_vae_fashion_mnist", "iwae_vae_fashion_mnist", "vamp_vae_fashion_mnist",
                   "iwae_vamp_vae_fashion_mnist")

#: Published test log-likelihoods (nats) for the setups the zoo configs reproduce.
PUBLISHED = {
    "burda_vae_k1_mnist": (-86.76, "Burda et al. 2016, Table 1, VAE k=1, 1 stochastic layer"),
    "burda_iwae_k50_mnist": (-84.78, "Burda et al. 2016, Table 1, IWAE k=50, 1 stochastic layer"),
    "burda_iwae_k50_2layer_mnist": (-82.90, "Burda et al. 2016, Table 1, IWAE k=50, 2 stochastic layers"),
    "vampprior_vae_standard_mnist": (
        -88.56, "Tomczak & Welling 2018, Table 1, VAE (L=1), standard prior"),
    "vampprior_vae_vamp_mnist": (
        -85.57, "Tomczak & Welling 2018, Table 1, VAE (L=1), VampPrior"),
    "norouzi_vae_fashion_mnist": (-228.70, "Norouzi et al. 2020, VAE (MLP), Gaussian prior"),
    "norouzi_vamp_vae_fashion_mnist": (-227.35, "Norouzi et al. 2020, VAE (MLP), VampPrior"),
    "norouzi_hvae_fashion_mnist": (-227.37, "Norouzi et al. 2020, HVAE, Gaussian prior"),
    "conv_hvae_fashion_mnist": (-225.38, "Norouzi et al. 2020, ConvHVAE, Gaussian prior"),
}

#: The published table on binarized Fashion-MNIST that the zoo's entries are held against:
#: Norouzi et al. 2020, "Exemplar VAE" (NeurIPS), test log p(x) in nats with 5000 importance
#: samples, (model, {prior: value}).
EXEMPLAR_VAE_TABLE = (
    ("VAE (MLP)", {"Gaussian": -228.70, "VampPrior": -227.35, "Exemplar": -226.75}),
    ("HVAE (2 stochastic layers)", {"Gaussian": -227.37, "VampPrior": -226.72,
                                    "Exemplar": -226.53}),
    ("ConvHVAE", {"Gaussian": -225.38, "VampPrior": -224.67, "Exemplar": -224.63}),
    ("PixelSNAIL (autoregressive, not a VAE)", {"Gaussian": -223.68}),
)
#: How their setup differs from vaezoo's protocol (all 10,000 test images, K = 5000, the
#: static seed-0 binarization of the test set).
EXEMPLAR_VAE_SETUP = (
    "GatedDense 300-300 layers, z = 40, KL warm-up over 100 epochs, up to 2000 epochs with "
    "early stopping on a 50k/10k train/validation split, dynamic binarization in training; "
    "their test set is binarized once with another seed than vaezoo's, so compare means, "
    "not images")

#: (challenger, reference) pairs compared per example when both were evaluated alike,
#: with the same training budget.
COMPARISONS = (
    ("iwae_vae_fashion_mnist", "mlp_vae_fashion_mnist"),
    ("vamp_vae_fashion_mnist", "mlp_vae_fashion_mnist"),
    ("vamp100_vae_fashion_mnist", "mlp_vae_fashion_mnist"),
    ("iwae_vamp_vae_fashion_mnist", "mlp_vae_fashion_mnist"),
    ("iwae_vamp_vae_fashion_mnist", "iwae_vae_fashion_mnist"),
    ("iwae_vamp_vae_fashion_mnist", "vamp_vae_fashion_mnist"),
    ("dlogistic_vae_fashion_mnist", "dlogistic1_vae_fashion_mnist"),
)


#: Challengers compared with the foundation baseline as trained by its own config
#: (10 epochs), whatever their own budget: the likelihood issue's "best configuration".
BASELINE = ("mlp_vae_fashion_mnist", 10)
BEST = ("best_likelihood_vae_fashion_mnist",)


def result_key(config, epochs, train_examples="all", seed=None, precision="float32"):
    """Results are kept per (config, training budget, training seed if not the config's,
    training precision if not float32)."""
    suffix = "" if train_examples in ("all", None) else f"@{train_examples}ex"
    if seed is not None:
        suffix += f"@seed{seed}"
    if precision not in (None, "float32"):
        suffix += f"@{precision}"
    return f"{config}@{epochs}ep{suffix}"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS),
                   help="zoo config names or paths (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: each config's [training] epochs)")
    p.add_argument("--num-samples", type=int, default=5000,
                   help="importance samples K of the test log-likelihood (default 5000)")
    p.add_argument("--max-test-examples", type=int, default=None,
                   help="evaluate on the first N test examples only (default: all)")
    p.add_argument("--max-train-examples", type=int, default=None,
                   help="train on the first N training examples only (smoke runs)")
    p.add_argument("--eval-batch-size", type=int, default=500)
    p.add_argument("--seed", type=int, default=None,
                   help="training seed (default: the config's [training] seed); results "
                        "with another seed are kept under their own key")
    p.add_argument("--train-precision", default="float32",
                   choices=("float32", "mixed_bfloat16", "mixed_float16"),
                   help="the model's dtype policy in training (kept under its own key)")
    p.add_argument("--precision", default="model", choices=("model", "float32", "bfloat16"),
                   help="precision of the log-likelihood estimate (see vaezoo.evaluation; "
                        "model = the model's dtype policy)")
    p.add_argument("--weights-dir", default=None,
                   help="keep trained weights here as <config>@<epochs>ep.weights.h5 (+ "
                        ".train.json); a "
                        "config whose weights are already there is evaluated without retraining")
    p.add_argument("--run-dir", default=None,
                   help="evaluate the model.weights.h5 of this `vaezoo train` run directory "
                        "(epochs and training time from its metrics.json) instead of training; "
                        "exactly one config")
    common.add_output_dir(p)
    args = p.parse_args(argv)
    args.argv = argv
    if args.run_dir is not None:
        run = Path(args.run_dir)
        if len(args.configs) != 1:
            p.error("--run-dir evaluates one run: give exactly one config with --configs")
        missing = [f for f in ("model.weights.h5", "metrics.json") if not (run / f).exists()]
        if missing:
            p.error(f"--run-dir {run}: no {' or '.join(missing)} there; give the directory "
                    "of a finished `vaezoo train ... --out DIR` run")
        trained = json.loads((run / "metrics.json").read_text())["epochs"]
        if args.epochs is not None and args.epochs != trained:
            p.error(f"--epochs {args.epochs} but the run in {run} trained {trained} epochs; "
                    "drop --epochs")
    return args


def _trained_by_run(run_dir):
    """The training record of a finished `vaezoo train` run (see ``--run-dir``)."""
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    return {"epochs": metrics["epochs"], "train_seconds": round(metrics["train_time_s"], 1),
            "final_train_loss": float(metrics["history"]["loss"][-1]),
            # `vaezoo train` holds the last 10% of train out for validation (recorded).
            "train_examples": metrics.get("train_examples") or "all", "run_dir": str(run_dir)}


def _dataset(cfg, split, batch_size, shuffle, seed, max_examples=None):
    import tensorflow as tf

    from vaezoo import data
    ds = data.load(cfg["data"]["dataset"], split, data_dir=cfg["data"].get("data_dir"))
    if max_examples:
        ds = ds.take(max_examples)
    # The model binarizes (static or dynamic) in its own preprocess: keep uint8 here.
    ds = ds.map(lambda e: e["image"], num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        ds = ds.shuffle(cfg["data"]["shuffle_buffer"], seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def run_config(name, args):
    """Train and evaluate one config; returns (result dict, per-example log p(x))."""
    import keras

    from vaezoo import config, evaluation

    cfg = config.load_config(name)
    epochs = args.epochs if args.epochs is not None else cfg["training"]["epochs"]
    seed = cfg["training"]["seed"] if args.seed is None else args.seed
    seed_key = None if seed == cfg["training"]["seed"] else seed
    keras.utils.set_random_seed(seed)
    tp = args.train_precision
    keras.config.set_dtype_policy(tp)  # the model computes in it (its dtype policy)
    try:
        model = config.model_from_config(cfg)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(optimizer=config.optimizer_from_config(cfg))
    weights = train_file = None
    if args.weights_dir:
        Path(args.weights_dir).mkdir(parents=True, exist_ok=True)
        stem = result_key(cfg["name"], epochs, args.max_train_examples, seed_key, tp)
        weights = Path(args.weights_dir) / f"{stem}.weights.h5"
        train_file = Path(args.weights_dir) / f"{stem}.train.json"
    if args.run_dir is not None:
        trained = _trained_by_run(args.run_dir)
        with warnings.catch_warnings():  # the run's optimizer state is not needed here
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(Path(args.run_dir) / "model.weights.h5"))
        print(f"loaded the run {args.run_dir} (trained {trained['epochs']} epochs in "
              f"{trained['train_seconds']:.0f} s)", flush=True)
    elif weights is not None and weights.exists() and train_file.exists():
        # Evaluate a model this script trained before (same config, recorded budget).
        model.load_weights(str(weights))
        trained = json.loads(train_file.read_text())
        print(f"loaded {weights} (trained {trained['epochs']} epochs in "
              f"{trained['train_seconds']:.0f} s)", flush=True)
    else:
        train = _dataset(cfg, cfg["data"]["train_split"], cfg["data"]["batch_size"], True, seed,
                         args.max_train_examples)
        start = time.time()
        history = model.fit(train, epochs=epochs, verbose=2)
        trained = {"epochs": epochs, "train_seconds": round(time.time() - start, 1),
                   "final_train_loss": float(history.history["loss"][-1]),
                   "train_examples": args.max_train_examples or "all"}
        if weights is not None:
            model.save_weights(str(weights))
            train_file.write_text(json.dumps(trained) + "\n")

    test = _dataset(cfg, cfg["data"]["test_split"], args.eval_batch_size, False, seed)
    start = time.time()
    ll = evaluation.log_likelihood(model, test, num_samples=args.num_samples,
                                   max_examples=args.max_test_examples, seed=0, progress=False,
                                   return_per_example=True,
                                   precision=None if args.precision == "model" else args.precision)
    eval_seconds = time.time() - start
    el = evaluation.elbo(model, test, max_examples=args.max_test_examples, seed=0,
                         progress=False)
    published = PUBLISHED.get(cfg["name"])
    result = {
        "key": result_key(cfg["name"], trained["epochs"], trained["train_examples"], seed_key,
                          tp),
        "train_precision": tp,
        "training_seed": seed,
        "precision": ll["precision"],
        "config": cfg["name"],
        "description": cfg["description"],
        "dataset": cfg["data"]["dataset"],
        "test_split": cfg["data"]["test_split"],
        "binarization": cfg["model"].get("binarization"),
        "binarization_seed": cfg["model"].get("binarization_seed", 0),
        "test_binarization": "static" if cfg["model"].get("binarization") else None,
        "model": cfg["model"],
        "epochs": trained["epochs"],
        "train_examples": trained["train_examples"],
        "train_seconds": trained["train_seconds"],
        "final_train_loss": trained["final_train_loss"],
        "eval_seconds": round(eval_seconds, 1),
        "num_importance_samples": ll["num_samples"],
        "num_test_examples": ll["num_examples"],
        "test_log_likelihood": ll["log_likelihood"],
        "test_log_likelihood_stderr": ll["stderr"],
        "test_bits_per_dim": ll["bits_per_dim"],
        "test_elbo": float(el["elbo"]),
        "test_rate": float(el.get("rate", float("nan"))),
        "published_log_likelihood": published[0] if published else None,
        "published_source": published[1] if published else None,
        **common.provenance(args.argv),
    }
    return result, ll["per_example"]


def paired(results, per_example):
    """Per-example comparisons of models trained with the same budget and evaluated alike."""
    out = []
    specs = [(a, b, None) for a, b in COMPARISONS] + [(a, BASELINE[0], BASELINE[1])
                                                      for a in BEST]
    for a, b, b_epochs in specs:
        for ra in results.values():
            if ra["config"] != a:
                continue
            if ra["key"] != result_key(a, ra["epochs"], ra["train_examples"]):
                continue  # a run with a non-default seed: compared in the seed table
            rb = results.get(result_key(b, b_epochs or ra["epochs"], ra["train_examples"]))
            if rb is None or ra["key"] not in per_example or rb["key"] not in per_example:
                continue
            same = all(ra[k] == rb[k] for k in ("dataset", "test_split",
                                                "num_importance_samples", "num_test_examples"))
            same = same and _test_data(ra) == _test_data(rb)
            if not same:
                continue
            d = per_example[ra["key"]] - per_example[rb["key"]]
            out.append({"challenger": a, "reference": b, "epochs": ra["epochs"],
                        "reference_epochs": rb["epochs"],
                        "train_examples": ra["train_examples"],
                        "difference": float(d.mean()),
                        "paired_stderr": float(d.std(ddof=1) / math.sqrt(d.size)),
                        "unpaired_stderr": math.hypot(ra["test_log_likelihood_stderr"],
                                                      rb["test_log_likelihood_stderr"]),
                        "num_test_examples": int(d.size)})
    return out


def _test_data(r):
    """How the test images were binarized: static with its seed for any binarized model
    (dynamic training included), none for 8-bit likelihoods."""
    if not r["binarization"]:
        return None
    return ("static", r["binarization_seed"])


def seed_groups(results):
    """Configs trained with several seeds and evaluated alike: the spread over seeds."""
    groups = {}
    for r in results.values():
        k = (r["config"], r["epochs"], r["train_examples"], r.get("train_precision", "float32"),
             r["num_importance_samples"], r["num_test_examples"])
        groups.setdefault(k, []).append(r)
    out = []
    for (config, epochs, train_examples, tp, k, n), rs in sorted(groups.items(), key=str):
        if len(rs) < 2:
            continue
        rs = sorted(rs, key=lambda r: r.get("training_seed", 0))
        values = np.array([r["test_log_likelihood"] for r in rs])
        out.append({"config": config, "epochs": epochs, "train_examples": train_examples,
                    "train_precision": tp,
                    "K": k, "examples": n, "seeds": [r.get("training_seed", 0) for r in rs],
                    "values": values.tolist(), "mean": float(values.mean()),
                    "sd": float(values.std(ddof=1))})
    return out


def precision_pairs(groups):
    """Seed groups that differ only in training precision, matched seed by seed: the
    mean paired difference (other precision - float32) and its standard error over seeds."""
    by_key = {}
    for g in groups:
        key = (g["config"], g["epochs"], g["train_examples"], g["K"], g["examples"])
        by_key.setdefault(key, {})[g["train_precision"]] = g
    out = []
    for key, per in sorted(by_key.items(), key=str):
        base = per.get("float32")
        for tp, g in sorted(per.items()):
            if base is None or tp == "float32":
                continue
            want = dict(zip(base["seeds"], base["values"]))
            seeds = [s for s in g["seeds"] if s in want]
            if len(seeds) < 2:
                continue
            got = dict(zip(g["seeds"], g["values"]))
            diff = np.array([got[s] - want[s] for s in seeds])
            out.append({"config": key[0], "epochs": key[1], "train_examples": key[2],
                        "K": key[3], "examples": key[4], "train_precision": tp,
                        "seeds": seeds, "differences": diff.tolist(),
                        "mean": float(diff.mean()),
                        "stderr": float(diff.std(ddof=1) / np.sqrt(len(diff)))})
    return out


def _fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def published_table():
    """Markdown lines of ``EXEMPLAR_VAE_TABLE``, quoted with its source and setup."""
    priors = ("Gaussian", "VampPrior", "Exemplar")
    lines = ["", "## Published on binarized Fashion-MNIST (Norouzi et al. 2020, Exemplar VAE)",
             "", f"Test log p(x), nats, K = 5000. Their setup: {EXEMPLAR_VAE_SETUP}. "
             "The zoo's rows above with a `published` value reproduce one of these cells.", "",
             "| model | " + " | ".join(f"{p} prior" for p in priors) + " |",
             "|---|" + "---|" * len(priors)]
    for model, cells in EXEMPLAR_VAE_TABLE:
        lines.append(f"| {model} | " + " | ".join(
            f"{cells[p]:.2f}" if p in cells else "" for p in priors) + " |")
    return lines


def markdown(results, comparisons):
    lines = [
        "# Test log-likelihood of zoo configs",
        "",
        "Written by `benchmarks/likelihood.py`. log p(x) is the importance-sampled estimate "
        "(Burda et al. 2016) with K samples from q(z|x), in nats per example (higher is "
        "better), ± the standard error over test examples; ELBO with one sample. Decoder "
        "precision: that of the decoder's matrix products in the estimate (bfloat16 is "
        "`vaezoo.evaluation`'s default on CPUs with bfloat16 instructions; float32 entries "
        "predate it or ask for it). Static "
        "binarization is the content-addressed draw of `vaezoo.preprocessing.static_binarize` "
        "with the stated seed. Wall times are on a 2-core CPU shared with other jobs.",
        "",
        "| config | dataset / split | binarization | train examples x epochs | train time | K "
        "| test examples | decoder precision | test log p(x) | test ELBO | bits/dim | published |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results.values(), key=lambda r: r["key"]):
        binar = r["binarization"] or "none (8-bit)"
        if r["binarization"] == "static":
            binar = f"static (seed {r['binarization_seed']})"
        elif r["binarization"] == "dynamic":
            binar = f"dynamic (train); test static (seed {r['binarization_seed']})"
        pub = "—" if r["published_log_likelihood"] is None else \
            f"{r['published_log_likelihood']:.2f} ({r['published_source']})"
        lines.append(
            f"| `{r['config']}` | {r['dataset']} / {r['test_split']} | {binar} "
            f"| {r['train_examples']} x {r['epochs']}"
            + (f" (seed {r['training_seed']})" if "@seed" in r["key"] else "") + " "
            f"| {r['train_seconds'] / 60:.1f} min | {r['num_importance_samples']} "
            f"| {r['num_test_examples']} | {r.get('precision', 'float32')} "
            f"| {r['test_log_likelihood']:.2f} ± "
            f"{r['test_log_likelihood_stderr']:.2f} | {r['test_elbo']:.2f} "
            f"| {r['test_bits_per_dim']:.4f} | {pub} |")
    if comparisons:
        lines += ["", "## Paired comparisons (same test examples, same K)", "",
                  "| challenger | reference | train examples x epochs | mean difference (nats) "
                  "| paired stderr "
                  "| unpaired stderr | > 2 paired stderr? |", "|---|---|---|---|---|---|---|"]
        for c in comparisons:
            sig = "yes" if c["difference"] > 2 * c["paired_stderr"] else "no"
            lines.append(f"| `{c['challenger']}` | `{c['reference']}` "
                         f"| {c['train_examples']} x {c['epochs']}"
                         + (f" (reference: {c['reference_epochs']})"
                            if c.get("reference_epochs", c["epochs"]) != c["epochs"] else "")
                         + f" | {c['difference']:+.2f} "
                         f"| {c['paired_stderr']:.2f} | {c['unpaired_stderr']:.2f} | {sig} |")
    groups = seed_groups(results)
    if groups:
        lines += ["", "## Across training seeds (same config, budget, K and test examples)", "",
                  "| config | train examples x epochs | training precision | K | test examples "
                  "| seeds | test log p(x) per seed | mean | sd over seeds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for g in groups:
            lines.append(f"| `{g['config']}` | {g['train_examples']} x {g['epochs']} "
                         f"| {g['train_precision']} | {g['K']} "
                         f"| {g['examples']} | {', '.join(map(str, g['seeds']))} "
                         f"| {', '.join(f'{v:.2f}' for v in g['values'])} | {g['mean']:.2f} "
                         f"| {g['sd']:.2f} |")
    pairs = precision_pairs(groups)
    if pairs:
        lines += ["", "## Training precision against float32, seed by seed", "",
                  "Each seed trains once per precision (same initialization seed, data order "
                  "and test set); the difference is in test log p(x), both estimated in the "
                  "same decoder precision.", "",
                  "| config | train examples x epochs | training precision | K | test examples "
                  "| seeds | difference per seed (nats) | mean ± stderr over seeds |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in pairs:
            lines.append(f"| `{c['config']}` | {c['train_examples']} x {c['epochs']} "
                         f"| {c['train_precision']} | {c['K']} | {c['examples']} "
                         f"| {', '.join(map(str, c['seeds']))} "
                         f"| {', '.join(f'{v:+.2f}' for v in c['differences'])} "
                         f"| {c['mean']:+.2f} ± {c['stderr']:.2f} |")
    lines += published_table()
    lines += ["", "Commands:", ""]
    for cmd in sorted({r["command"] for r in results.values()}):
        lines.append(f"    {cmd}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, npz_path = out_dir / "likelihood.json", out_dir / "likelihood_per_example.npz"
    for name in args.configs:
        print(f"== {name}", flush=True)
        result, values = run_config(name, args)
        # Re-read before writing: several invocations may share the output directory.
        results, per_example = {}, {}
        for r in common.read_json(json_path, {"results": []})["results"]:
            r.setdefault("key", result_key(r["config"], r["epochs"], r["train_examples"]))
            results[r["key"]] = r
        if npz_path.exists():
            per_example = dict(np.load(npz_path))
        for r in results.values():   # entries written before results were keyed by budget
            if r["key"] not in per_example and r["config"] in per_example:
                per_example[r["key"]] = per_example.pop(r["config"])
        results[result["key"]] = result
        per_example[result["key"]] = values
        comparisons = paired(results, per_example)
        np.savez(npz_path, **per_example)
        common.write_results(out_dir / "likelihood",
                             {"results": sorted(results.values(), key=lambda r: r["key"]),
                              "paired_comparisons": comparisons},
                             markdown(results, comparisons))
        print(json.dumps({k: result[k] for k in (
            "config", "epochs", "train_seconds", "eval_seconds", "test_log_likelihood",
            "test_log_likelihood_stderr", "test_elbo")}), flush=True)


if __name__ == "__main__":
    main()
