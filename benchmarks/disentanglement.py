"""Disentanglement on dSprites: each code-regularizing family trained on the rendered grid,
over several seeds, scored by every metric of ``vaezoo.evaluation.disentanglement``.

Protocol. The data is ``vaezoo.data.load("dsprites")``, all 737,280 images rendered from
their factors (``vaezoo.data.dsprites``), shuffled with a buffer of ``--shuffle-buffer``
and the run's seed, in batches of ``--batch-size``. Every family has the same trunk
(the conv encoder 32-32-64-64, 4x4 kernels, stride 2, dense 256, z of size 10 of
Higgins et al. 2017 / Locatello et al. 2019, the decoder mirrored), a Bernoulli
likelihood, Adam, and the same budget of ``--steps`` steps; its regularizer's weight is
the one listed in ``FAMILIES`` (a value from the grid of Locatello et al. 2019, Table 2
of their appendix). Each run is checkpointed every ``--steps-per-chunk`` steps
(``keras.callbacks.BackupAndRestore``): a killed benchmark resumes where it stopped and
a finished run is not trained again. The representation is the posterior mean; the
scores are ``evaluate(DSprites(), mean, seed=0)``: 10,000 training and 5,000 test points
(MIG over the 10,000), DCI's importances from ``--dci-importance``, the beta-VAE and
FactorVAE scores from ``--intervention-points`` (fewer than the protocol's: see
``INTERVENTION_METRICS``).

Published for scale: Locatello et al. 2019 ("Challenging common assumptions in the
unsupervised learning of disentangled representations", ICML) report the scores of their
6 unsupervised methods x 6 hyperparameters x 50 seeds on dSprites only as violin plots;
the top of the methods' MIG range there is about 0.3 (read off the figure, not a
tabulated number), each model trained 300,000 steps of batch 64 with Adam 1e-4. The
budget here is a small fraction of theirs.

``--ship NAME`` writes the best run by MIG as the pretrained entry ``NAME`` with a card
listing every metric (DCI recomputed with the protocol's gradient-boosted trees).

Example::

    python benchmarks/disentanglement.py --families BetaTCVAE FactorVAE --seeds 0 1 2
    python benchmarks/disentanglement.py --collect --ship beta_tc_vae_dsprites
"""

import argparse
import json
import os
import time
from pathlib import Path

import common  # first: quiets TensorFlow's C++ log

import numpy as np

#: Each benchmarked configuration: family and the arguments beyond the shared trunk.
#: ``{steps}`` in a value is the run's budget (the capacity grows over 80 % of it).
FAMILIES = {
    "BetaVAE": ("BetaVAE", {"beta": 6.0}),
    "AnnealedVAE": ("BetaVAE", {"capacity_max": 25.0, "gamma": 1000.0,
                                "capacity_steps": "0.8*steps"}),
    "BetaTCVAE": ("BetaTCVAE", {"tc_weight": 6.0, "dataset_size": 737280}),
    "FactorVAE": ("FactorVAE", {"tc_weight": 40.0}),
    "DIPVAE-I": ("DIPVAE", {"dip_type": "i", "lambda_offdiagonal": 10.0}),
    "DIPVAE-II": ("DIPVAE", {"dip_type": "ii", "lambda_offdiagonal": 10.0}),
    "InfoVAE": ("InfoVAE", {"alpha": 0.0, "info_lambda": 1000.0}),
    "WAE": ("WAE", {"mmd_weight": 1000.0}),
}
TRUNK = {"latent_dim": 10, "filters": [32, 32, 64, 64], "kernel_size": 4, "dense_units": 256,
         "likelihood": "bernoulli", "binarization": "dynamic"}
#: The headline metric and the others, in the order the table prints them.
COLUMNS = ("mig", "factor_vae_score", "beta_vae_score", "sap", "dci_disentanglement",
           "modularity", "gaussian_total_correlation")


def model_config(name, steps, seed):
    family, extra = FAMILIES[name]
    extra = {k: (int(round(0.8 * steps)) if v == "0.8*steps" else v) for k, v in extra.items()}
    return family, {**TRUNK, **extra, "seed": seed}


def build_model(name, steps, seed, lr):
    import keras
    import vaezoo

    family, config = model_config(name, steps, seed)
    keras.utils.set_random_seed(seed)
    model = getattr(vaezoo, family)(**config, image_shape=(64, 64, 1))
    model.compile(optimizer=keras.optimizers.Adam(lr))
    return model


def train_run(name, seed, args, run_dir):
    """Trains (or resumes) one run; returns (model, seconds of training, steps)."""
    import keras
    import tensorflow as tf
    from vaezoo import data

    final = run_dir / "model.keras"
    meta = run_dir / "run.json"
    if final.exists() and meta.exists():
        model = keras.models.load_model(final)
        return model, json.loads(meta.read_text())["seconds"], json.loads(meta.read_text())[
            "steps"]
    run_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(name, args.steps, seed, args.lr)
    chunks = args.steps // args.steps_per_chunk
    batches = (data.load("dsprites", verbose=False)
               .shuffle(args.shuffle_buffer, seed=seed).repeat()
               .batch(args.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    clock = run_dir / "seconds.json"   # training seconds so far, across resumptions

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.before = common.read_json(clock, {"seconds": 0.0})["seconds"]
            self.start = time.time()

        def on_epoch_end(self, epoch, logs=None):
            from vaezoo import io
            io.write_json(clock, {"seconds": self.before + time.time() - self.start,
                                  "chunk": epoch + 1, "logs": {k: float(v) for k, v in
                                                               (logs or {}).items()}})
            print(f"{name} seed {seed}: chunk {epoch + 1}/{chunks} "
                  + " ".join(f"{k} {float(v):.3f}" for k, v in (logs or {}).items()), flush=True)

    model.fit(batches, epochs=chunks, steps_per_epoch=args.steps_per_chunk, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore(str(run_dir / "backup")), Clock()])
    seconds = common.read_json(clock, {"seconds": 0.0})["seconds"]
    model.save(final)
    from vaezoo import io
    io.write_json(meta, {"seconds": seconds, "steps": chunks * args.steps_per_chunk})
    return model, seconds, chunks * args.steps_per_chunk


def run_key(row):
    """What identifies a run in the results: its configuration, seed, budget and rate."""
    return row["config"], row["seed"], row["steps"], row["lr"]


def representation(model):
    """Observations (uint8 [n, 64, 64, 1]) -> posterior means [n, 10]."""
    def encode(images):
        return model.encode(model.preprocess(images)[0]).mean().numpy()
    return encode


#: The metrics scored on one sample of codes (10,000 training and 5,000 test points).
CODES_METRICS = ("mig", "sap", "dci", "modularity_explicitness", "unsupervised")
#: The metrics that intervene on the factors: each of their points is a batch of 64
#: encoded images (the beta-VAE score encodes pairs), so the protocol's 10,000 / 5,000
#: points cost ~3.5 million encodings; ``--intervention-points`` sets fewer.
INTERVENTION_METRICS = ("beta_vae", "factor_vae")


def score(model, dci_importance, intervention_points, num_points=(10000, 5000), seed=0):
    from vaezoo.data.dsprites import DSprites
    from vaezoo.evaluation import disentanglement

    rep, truth = representation(model), DSprites()
    scores = disentanglement.evaluate(truth, rep, seed=seed, metrics=CODES_METRICS,
                                      num_train=num_points[0], num_test=num_points[1],
                                      dci_importance=dci_importance)
    train, test = intervention_points
    scores.update(disentanglement.evaluate(truth, rep, seed=seed, metrics=INTERVENTION_METRICS,
                                           num_train=train, num_test=test))
    return scores


def pictures(model, name, out_dir):
    """Latent traversals and reconstructions of the run, as PNGs in ``out_dir``."""
    import matplotlib.pyplot as plt
    from vaezoo import plot
    from vaezoo.data.dsprites import DSprites

    rng = np.random.default_rng(0)
    _, images = DSprites().sample(200, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"traversal": out_dir / f"{name}_traversal.png",
             "reconstructions": out_dir / f"{name}_reconstructions.png"}
    plt.close(plot.traversal(model, images[0], dims=10, data=images, title=f"{name}: traversals",
                             path=str(paths["traversal"])))
    plt.close(plot.reconstructions(model, images[:12], title=f"{name}: reconstructions",
                                   path=str(paths["reconstructions"])))
    return {k: str(v) for k, v in paths.items()}


def summary(rows):
    """Per configuration: mean, standard deviation, min and max of each column."""
    out = {}
    for name in dict.fromkeys(r["config"] for r in rows):
        runs = [r for r in rows if r["config"] == name]
        out[name] = {"runs": len(runs), "seconds_mean": float(np.mean([r["seconds"]
                                                                        for r in runs]))}
        for column in COLUMNS:
            values = np.array([r["scores"][column] for r in runs])
            out[name][column] = {"mean": float(values.mean()), "std": float(values.std()),
                                 "min": float(values.min()), "max": float(values.max())}
    return out


def markdown(rows, meta):
    table = summary(rows)
    lines = [
        "# Disentanglement on dSprites (rendered)", "",
        f"Command: `{meta['command']}`  ",
        f"CPU: {common.describe_cpu(meta['cpu'])}; {meta['date']}", "",
        f"Each run: {meta['steps']} steps of batch {meta['batch_size']} (Adam "
        f"{meta['lr']:g}) on all 737,280 rendered dSprites images; conv 32-32-64-64 / "
        f"dense 256 / z = 10, Bernoulli likelihood. Scores of the posterior mean by "
        f"`vaezoo.evaluation.disentanglement.evaluate` (seed 0: {meta['num_points'][0]} "
        f"training and {meta['num_points'][1]} test points; MIG with 20 bins over the "
        f"{meta['num_points'][0]}; DCI importances: "
        f"{meta['dci_importance']}; the beta-VAE and FactorVAE scores from "
        f"{meta['intervention_points'][0]} / {meta['intervention_points'][1]} training / "
        f"evaluation points of 64 images, not the protocol's 10,000 / 5,000). Mean ± sd over "
        f"seeds, [min, max].", "",
        "| config | runs | " + " | ".join(COLUMNS) + " | train min/run |",
        "|---|---|" + "---|" * len(COLUMNS) + "---|"]
    for name, s in table.items():
        cells = [f"{s[c]['mean']:.3f} ± {s[c]['std']:.3f} [{s[c]['min']:.2f}, {s[c]['max']:.2f}]"
                 for c in COLUMNS]
        lines.append(f"| {name} | {s['runs']} | " + " | ".join(cells)
                     + f" | {s['seconds_mean'] / 60:.1f} |")
    lines += ["", "Hyperparameters (beyond the shared trunk):", ""]
    for name in table:
        lines.append(f"- {name}: `{FAMILIES[name][0]}` with "
                     f"{json.dumps(FAMILIES[name][1])}")
    lines += ["", "Published for scale: Locatello et al. (2019) plot MIG on dSprites for 6 "
              "unsupervised methods x 6 hyperparameters x 50 seeds (violin plots, no table); "
              "the top of the range is about 0.3, read off the figure. Each of their models "
              "trained 300,000 steps of batch 64 (Adam 1e-4); the runs here are much shorter. "
              "Their dSprites is the published npz; this one is rendered by vaezoo "
              "(`vaezoo/data/dsprites.py` lists the differences).", ""]
    lines += ["Per run:", "", "| config | seed | steps | " + " | ".join(COLUMNS) + " |",
              "|---|---|---|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append(f"| {r['config']} | {r['seed']} | {r['steps']} | "
                     + " | ".join(f"{r['scores'][c]:.3f}" for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def ship(name, row, model, args, rows):
    """Writes the pretrained entry ``name``: the run's model, its card with every metric
    (DCI with gradient-boosted trees, the protocol's), traversals as samples.png."""
    from vaezoo import presets

    scores = row["scores"]
    if row["dci_importance"] != "gbt":
        from vaezoo.data.dsprites import DSprites
        from vaezoo.evaluation import disentanglement
        train, test = row.get("num_points", (10000, 5000))
        scores = {**scores, **disentanglement.evaluate(
            DSprites(), representation(model), seed=0, metrics=["dci"], num_train=train,
            num_test=test, dci_importance="gbt")}
    family, config = model_config(row["config"], row["steps"], row["seed"])
    chunk = row.get("steps_per_chunk", args.steps_per_chunk)
    cfg = {"description": (
               f"{row['config']} ({family}) on dSprites rendered by vaezoo: conv 32-32-64-64 "
               f"(4x4, stride 2), dense 256, z of size 10, Bernoulli likelihood; the best of "
               f"{len(rows)} benchmark runs by MIG (benchmarks/disentanglement.py)"),
           "model": {"class": family, **config},
           "data": {"dataset": "dsprites", "train_split": "train", "test_split": "train",
                    "batch_size": args.batch_size, "shuffle_buffer": args.shuffle_buffer},
           "optimizer": {"name": "adam", "learning_rate": args.lr},
           "training": {"epochs": row["steps"] // chunk, "steps_per_epoch": chunk,
                        "seed": row["seed"]}}
    train, test = row.get("num_points", (10000, 5000))
    card = {"metrics": {**scores, "num_points": {"train": train, "test": test},
                        "intervention_points": {"train": row["intervention_points"][0],
                                                "eval": row["intervention_points"][1]},
                        "representation": "posterior mean", "dci_importance": "gbt"},
            "selection": f"highest MIG among {len(rows)} runs of the benchmark "
                         f"({sorted(set(r['config'] for r in rows))})",
            "dataset": "dsprites", "data_source": "render", "train_split": "train",
            "test_split": "train", "binarization": TRUNK["binarization"],
            "epochs": row["steps"] // chunk, "steps_per_epoch": chunk,
            "training_time_seconds": row["seconds"], "steps": row["steps"],
            "batch_size": args.batch_size, "machine": row["cpu"], "command": row["command"],
            "created": row["date"], "versions": row["versions"]}
    png = pictures(model, name, Path(args.cache) / "pictures")["traversal"]
    out = presets.write(model, cfg, Path(args.pretrained_root) / name, card, samples_png=png)
    print(f"shipped {out}: MIG {scores['mig']:.3f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--steps-per-chunk", type=int, default=500,
                        help="steps between checkpoints (a Keras epoch)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--shuffle-buffer", type=int, default=50000)
    parser.add_argument("--dci-importance", default="random_forest",
                        choices=("gbt", "random_forest"))
    parser.add_argument("--num-points", type=int, nargs=2, default=[10000, 5000],
                        metavar=("TRAIN", "TEST"), help="codes of the codes-based metrics "
                        "(the protocol's: 10000 5000; MIG over the first)")
    parser.add_argument("--intervention-points", type=int, nargs=2, default=[1000, 500],
                        metavar=("TRAIN", "EVAL"), help="points of the beta-VAE and FactorVAE "
                        "scores (the protocol's 10000 5000 cost ~3.5 M encodings)")
    parser.add_argument("--cache", default=os.path.expanduser(
        "~/.cache/vaezoo/benchmarks/disentanglement"), help="run directories (resumable)")
    parser.add_argument("--collect", action="store_true",
                        help="only gather the finished runs' results (no training)")
    parser.add_argument("--ship", default=None, metavar="NAME")
    parser.add_argument("--pretrained-root", default=str(Path(__file__).resolve().parents[1]
                                                         / "vaezoo" / "pretrained"))
    common.add_output_dir(parser)
    args = parser.parse_args(argv)
    if args.steps % args.steps_per_chunk:
        parser.error("--steps must be a multiple of --steps-per-chunk")

    stem = Path(args.output_dir) / "disentanglement"
    results = common.read_json(stem.with_name(stem.name + ".json"), {"runs": []})
    rows = results["runs"]
    meta = {**common.provenance(argv), "steps": args.steps, "batch_size": args.batch_size,
            "lr": args.lr, "dci_importance": args.dci_importance,
            "intervention_points": list(args.intervention_points),
            "num_points": list(args.num_points)}
    models = {}
    if not args.collect:
        for name in args.families:
            for seed in args.seeds:
                run_dir = Path(args.cache) / f"{name}_seed{seed}_steps{args.steps}_lr{args.lr:g}"
                model, seconds, steps = train_run(name, seed, args, run_dir)
                start = time.time()
                scores = score(model, args.dci_importance, args.intervention_points,
                               args.num_points)
                row = {"config": name, "family": FAMILIES[name][0], "seed": seed,
                       "steps": steps, "seconds": seconds, "lr": args.lr,
                       "batch_size": args.batch_size, "dci_importance": args.dci_importance,
                       "intervention_points": list(args.intervention_points),
                       "num_points": list(args.num_points),
                       "steps_per_chunk": args.steps_per_chunk,
                       "scoring_seconds": time.time() - start, "scores": scores,
                       "run_dir": str(run_dir), "pictures": pictures(
                           model, f"{name}_seed{seed}", Path(args.cache) / "pictures"),
                       **{k: meta[k] for k in ("command", "date", "cpu", "versions")}}
                # Re-read: another benchmark process may have written its runs meanwhile.
                rows = [r for r in common.read_json(stem.with_name(stem.name + ".json"),
                                                    {"runs": []})["runs"]
                        if run_key(r) != run_key(row)] + [row]
                models[(name, seed)] = model
                print(f"{name} seed {seed}: MIG {scores['mig']:.3f} FactorVAE score "
                      f"{scores['factor_vae_score']:.3f} ({seconds / 60:.1f} min)", flush=True)
                common.write_results(stem, {**meta, "runs": rows}, markdown(rows, meta))
    if rows:
        common.write_results(stem, {**meta, "runs": rows}, markdown(rows, meta))
    if args.ship:
        import keras
        best = max(rows, key=lambda r: r["scores"]["mig"])
        model = models.get((best["config"], best["seed"])) or keras.models.load_model(
            Path(best["run_dir"]) / "model.keras")
        ship(args.ship, best, model, args, rows)


if __name__ == "__main__":
    main()
