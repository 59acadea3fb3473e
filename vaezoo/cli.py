"""The ``vaezoo`` command: thin over the library.

    vaezoo list                                   the zoo entries
    vaezoo train CONFIG [--epochs N] [--out DIR]  train a zoo entry or a config file
    vaezoo train CONFIG --num-samples K --max-examples N | --no-eval
                                                  a smaller final evaluation, or none
    vaezoo evaluate NAME_OR_DIR [--num-samples K] evaluate a run directory or a pretrained entry
    vaezoo sample NAME_OR_DIR -n 64 -o samples.png
                                                  a grid of samples from a trained model
    vaezoo plot NAME_OR_DIR --kind KIND -o out.png
                                                  reconstructions, interpolation, traversal,
                                                  manifold, latents, conditional, codes, curves

Each command is one small function ``_<command>(args)`` and one parser block
in ``build_parser``. Wrong arguments exit with status 2 and argparse's usage
message; a library error (``ValueError``, ``TypeError``, a diverged training)
prints ``vaezoo: error: ...`` and exits with status 1, without a traceback
(set ``VAEZOO_DEBUG=1`` to see it). TensorFlow is imported only by the
commands that need it, so ``vaezoo --help`` is instant.

Over 400 lines with one job: most of it is the argument parser's help and
examples, one block per command.
"""

import argparse
import json
import os
import sys

EXIT_ERROR = 1


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _condition(text):
    """``--condition``: one class (``3``), classes (``0,1,2`` or ``[0,1,2]``) or one-hot rows
    (``[[0,0,1],[1,0,0]]``), read by the model as in Python
    (``vaezoo.models.conditional_vae.condition_labels``)."""
    import json
    listed = text.strip().startswith("[")
    try:
        value = json.loads(text if listed else f"[{text}]")
    except json.JSONDecodeError:
        value = None
    rows = value if value and all(isinstance(v, list) for v in value) else [value]
    numbers = [v for row in rows for v in (row or [None])]
    if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                            for v in numbers):
        raise argparse.ArgumentTypeError(
            f"expected a class (3), classes (0,1,2) or one-hot rows ([[0,0,1],[1,0,0]]); "
            f"got {text!r}")
    return value[0] if not listed and len(value) == 1 else value


def _image_path(text):
    """``-o``: a file whose extension matplotlib writes, checked before any work."""
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    try:
        return plot.check_image_path(text)
    except (ValueError, FileNotFoundError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _quiet_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ---------------------------------------------------------------------- commands
def _list(args):
    from vaezoo import zoo
    models = zoo.list_models()
    if args.json:
        print(json.dumps(models, indent=2, default=str))
        return 0
    width = max((len(n) for n in models), default=4)
    print(f"{'name':<{width}}  pretrained  description")
    for name, meta in sorted(models.items()):
        mark = "yes" if meta.get("pretrained") else "-"
        print(f"{name:<{width}}  {mark:<10}  {meta.get('description', '')}")
    return 0


def _evaluated(record):
    """'K = 100, 1000 of 10000 test images (split 'test'), statically binarized'."""
    n, total = record["num_examples"], record.get("num_examples_in_split")
    images = f"all {n} test images" if n == total else f"{n} of {total} test images"
    binarized = (f", statically binarized (seed {record['binarization_seed']})"
                 if record.get("binarization") else "")
    return (f"K = {record['num_importance_samples']} importance samples, {images} (split "
            f"{record.get('split', record.get('test_split'))!r}){binarized}")


def _full_protocol_hint(record, full_k, target):
    """How to run the full protocol when ``record`` measured less (else '')."""
    if record["num_importance_samples"] >= full_k and \
            record["num_examples"] == record.get("num_examples_in_split"):
        return ""
    return (f"\nvaezoo: that is a smaller evaluation than the full protocol (K = {full_k}, "
            f"every test image); run it with: vaezoo evaluate {target} --num-samples {full_k}")


def _train(args):
    _quiet_tf()
    from vaezoo import training  # lazy: TensorFlow loads only for the commands that need it
    cfg = training.resolve_config(args.config)
    full_k = cfg["evaluation"]["num_importance_samples"]
    out = args.out or os.path.join("runs", cfg.get("name") or "run")
    metrics = training.train(cfg, out, epochs=args.epochs, resume=args.resume,
                             strategy=args.strategy, deterministic=args.deterministic,
                             verbose=args.verbose, evaluate=args.eval,
                             num_samples=args.num_samples, max_examples=args.max_examples)
    trained = (f"{metrics['epochs']} epochs in {metrics['train_time_s']:.0f} s on "
               f"{metrics.get('train_examples') or 'the'} training images")
    test = metrics.get("test")
    if not test:
        print(f"vaezoo: {cfg.get('name')}: {trained}; no evaluation (--no-eval); run in {out}. "
              f"Evaluate it with: vaezoo evaluate {out}")
        return 0
    print(f"vaezoo: {cfg.get('name')}: {_likelihood_label(test)} = "
          f"{test['log_likelihood']:.2f} "
          f"± {test['stderr']:.2f} nats ({test['bits_per_dim']:.4f} bits/dim), test ELBO = "
          f"{test['elbo']:.2f}, train ELBO = {metrics['train']['elbo']:.2f}; {trained}; run in "
          f"{out}\nvaezoo: evaluated with {_evaluated(metrics['evaluation'])}"
          + _full_protocol_hint(metrics["evaluation"], full_k, out))
    return 0


def _likelihood_label(test):
    """What the test log-likelihood is: the importance-sampled log p(x), or for a
    deterministic posterior (VQ-VAE) the bound it equals (``log_likelihood_is``)."""
    if test.get("estimate") == "bound":
        return "test bound log p(x|z_q) + log p(codes)"
    return "test log p(x)"


def _evaluate(args):
    _quiet_tf()
    from vaezoo import training  # lazy: TensorFlow loads only for the commands that need it
    result = training.evaluate(args.model, num_samples=args.num_samples,
                               max_examples=args.max_examples, verbose=args.verbose)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"vaezoo: {args.model}: {_likelihood_label(result)} = "
              f"{result['log_likelihood']:.2f} "
              f"± {result['stderr']:.2f} nats ({result['bits_per_dim']:.4f} bits/dim), "
              f"test ELBO = {result['elbo']:.2f} (rate {result['rate']:.2f}, distortion "
              f"{result['distortion']:.2f})\nvaezoo: evaluated with {_evaluated(result)}")
    return 0


def _model_and_data_name(name_or_dir):
    """(the trained model, the name of its data set, its test split), from its config."""
    from vaezoo import config as config_lib
    from vaezoo import zoo
    model = zoo.load(name_or_dir)
    try:
        data_config = config_lib.load_config(name_or_dir)["data"]
    except ValueError:  # e.g. a run directory holding only model.keras
        return model, "fashion_mnist", "test"
    return model, data_config["dataset"], data_config.get("test_split", "test")


def _test_data(dataset, n, args):
    """``n`` images and labels of ``dataset``'s test split (``args.split``), chosen at
    random with ``args.seed``. A data set of factors (dSprites) is labelled by its first
    factor, the shape."""
    from vaezoo import data
    images, labels = data.sample_arrays(dataset, args.split, n, seed=args.seed,
                                        verbose=False)
    return images, (labels[:, 0] if labels.ndim == 2 else labels)


def _class_names(dataset):
    from vaezoo import data
    try:
        return list(data.info(dataset)["class_names"]) or None
    except Exception:  # noqa: BLE001 - names are a nicety; numbers will do
        return None


def _label(name_or_dir):
    """The entry or run name for figure titles (a run directory's last component)."""
    return os.path.basename(os.path.normpath(str(name_or_dir))) or str(name_or_dir)


def _sample(args):
    _quiet_tf()
    from vaezoo import plot, zoo  # lazy: matplotlib and TensorFlow load only to plot
    model = zoo.load(args.model)
    plot.sample_grid(model, n=args.n, seed=args.seed, condition=args.condition,
                     title=args.title or f"{_label(args.model)}: samples", path=args.output)
    print(f"vaezoo: wrote {args.n} samples of {args.model} to {args.output}")
    return 0


def _plot_reconstructions(model, dataset, args):
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    images, labels = _test_data(dataset, args.n or 16, args)
    return plot.reconstructions(model, (images, labels), title=args.title, path=args.output)


def _plot_interpolation(model, dataset, args):
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    images, labels = _test_data(dataset, 2 * (args.n or 4), args)
    half = len(images) // 2
    return plot.interpolation(model, (images[:half], labels[:half]),
                              (images[half:], labels[half:]), steps=args.steps,
                              method=args.method, title=args.title, path=args.output)


def _plot_traversal(model, dataset, args):
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    images, labels = _test_data(dataset, 500, args)  # the KL is averaged over these
    return plot.traversal(model, (images[:1], labels[:1]), dims=args.n or 8, steps=args.steps,
                          data=(images, labels), title=args.title, path=args.output)


def _plot_manifold(model, dataset, args):
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    return plot.manifold(model, n=args.n or 20, condition=args.condition, title=args.title,
                         path=args.output)


def _plot_latents(model, dataset, args):
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    images, labels = _test_data(dataset, args.n or 2000, args)
    return plot.latent_scatter(model, (images, labels), class_names=_class_names(dataset),
                               title=args.title, path=args.output)


def _plot_conditional(model, dataset, args):
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    return plot.conditional_grid(model, n_per_class=args.n or 8, seed=args.seed,
                                 class_names=_class_names(dataset), title=args.title,
                                 path=args.output)


def _plot_codes(model, dataset, args):
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    images, labels = _test_data(dataset, args.n or 2000, args)
    return plot.code_usage(model, (images, labels), max_examples=None, title=args.title,
                           path=args.output)


PLOT_KINDS = {
    "reconstructions": (_plot_reconstructions, "test images above their reconstructions "
                                               "(-n images, default 16)"),
    "interpolation": (_plot_interpolation, "paths in latent space between pairs of test "
                                           "images (-n pairs, default 4; --method, --steps)"),
    "traversal": (_plot_traversal, "one row per latent dimension, most informative (KL) first "
                                   "(-n dimensions, default 8; --steps)"),
    "manifold": (_plot_manifold, "decoder over a grid of prior quantiles, 2-D latents only "
                                 "(-n per axis, default 20)"),
    "latents": (_plot_latents, "latent means of test images coloured by class, PCA above 2-D "
                               "(-n images, default 2000)"),
    "conditional": (_plot_conditional, "samples per class of a conditional model "
                                       "(-n per class, default 8)"),
    "codes": (_plot_codes, "how often test images use each code of a VQ-VAE's codebook, "
                           "with its perplexity (-n images, default 2000)"),
    "curves": (None, "training curves from the run's metrics.json (needs no model)"),
}


def _training_history(name_or_dir):
    """The metrics.json of a run directory, or the history in a pretrained entry's card."""
    from pathlib import Path

    from vaezoo import io, zoo  # lazy: `vaezoo --help` imports nothing of the library
    directory = Path(name_or_dir)
    if not directory.is_dir():
        entries = zoo.pretrained_entries()
        if name_or_dir not in entries:
            raise ValueError(f"{name_or_dir!r} is neither a run directory nor a pretrained "
                             f"entry ({', '.join(entries) or 'none shipped'}); --kind curves "
                             f"needs the metrics.json that `vaezoo train` writes")
        directory = entries[name_or_dir]
    for filename in (io.METRICS_FILE, io.METADATA_FILE):
        path = directory / filename
        if path.is_file():
            record = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(record, dict) and record.get("history"):
                return record
    raise ValueError(f"{directory} holds no training history (a metrics.json or a model card "
                     f"with a 'history'); --kind curves needs a run written by `vaezoo train`")


PLOT_TITLES = {"reconstructions": "reconstructions", "interpolation": "{method} interpolation",
               "traversal": "latent traversals, most informative first",
               "manifold": "2-D latent manifold", "latents": "latent means by class",
               "conditional": "samples per class", "codes": "code usage",
               "curves": "training curves"}


def _plot(args):
    _quiet_tf()
    from vaezoo import plot  # lazy: matplotlib and TensorFlow load only to plot
    if args.title is None:
        args.title = f"{_label(args.model)}: " + PLOT_TITLES[args.kind].format(method=args.method)
    if args.kind == "curves":
        plot.training_curves(_training_history(args.model), title=args.title, path=args.output)
    else:
        model, dataset, args.split = _model_and_data_name(args.model)
        PLOT_KINDS[args.kind][0](model, dataset, args)
    print(f"vaezoo: wrote the {args.kind} plot of {args.model} to {args.output}")
    return 0


# ---------------------------------------------------------------------- the parser
def _add(sub, name, func, help, examples):
    parser = sub.add_parser(name, help=help, description=help,
                            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def _verbosity(parser):
    parser.add_argument("-v", "--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="0 silent, 1 progress bars (default), 2 one line per epoch")


def _evaluation_size(parser, what):
    parser.add_argument("--num-samples", type=_positive_int, metavar="K",
                        help=f"importance samples per test image{what} (default: the "
                             f"config's [evaluation] num_importance_samples, 1000 in the zoo)")
    parser.add_argument("--max-examples", type=_positive_int, metavar="N",
                        help=f"evaluate the first N test images{what} (default: all)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="vaezoo", description="Variational autoencoders for Keras 3 on TFP: train, "
        "evaluate and browse the zoo.", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  vaezoo list\n  vaezoo train mlp_vae_fashion_mnist --out runs/mlp\n"
               "  vaezoo evaluate runs/mlp --num-samples 1000\n"
               "  vaezoo sample mlp_vae_fashion_mnist -n 64 -o samples.png\n"
               "  vaezoo plot runs/mlp --kind traversal -o traversal.png\n\n"
               "Run `vaezoo COMMAND --help` for the options of a command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _add(sub, "list", _list, "list the zoo entries (configs and pretrained models)",
             ["vaezoo list", "vaezoo list --json"])
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")

    p = _add(sub, "train", _train,
             "train a zoo entry or a config file; resumes from the last checkpoint in --out",
             ["vaezoo train mlp_vae_fashion_mnist --out runs/mlp",
              "vaezoo train my_config.toml --epochs 3 --out runs/test --deterministic",
              "vaezoo train runs/mlp/config.toml --out runs/mlp --epochs 20   # continue",
              "vaezoo train mlp_vae_fashion_mnist --epochs 1 --num-samples 10 "
              "--max-examples 500   # quick look",
              "vaezoo train mlp_vae_fashion_mnist --out runs/mlp --no-resume  # start over"])
    p.add_argument("config", metavar="CONFIG",
                   help="a zoo entry name (see `vaezoo list`) or the path of a .toml config")
    p.add_argument("--epochs", type=_positive_int, metavar="N",
                   help="total epochs (default: the config's [training] epochs)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="resume from the newest checkpoint in DIR (default) or start over")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="deterministic ops, so a resumed run ends exactly like an "
                        "uninterrupted one (slower: no XLA); default: the config's "
                        "[training] deterministic")
    p.add_argument("--strategy", metavar="NAME",
                   help="tf.distribute strategy, e.g. mirrored (default: none)")
    _evaluation_size(p, " in the final evaluation")
    p.add_argument("--no-eval", dest="eval", action="store_false",
                   help="skip the final evaluation (run `vaezoo evaluate DIR` later); "
                        "metrics.json then holds the training history only")
    _verbosity(p)

    p = _add(sub, "evaluate", _evaluate,
             "evaluate a run directory or a pretrained entry on its test split: test ELBO "
             "and importance-sampled log p(x)",
             ["vaezoo evaluate runs/mlp", "vaezoo evaluate runs/mlp --num-samples 5000 --json",
              "vaezoo evaluate mlp_vae_fashion_mnist --num-samples 100 --max-examples 1000"])
    p.add_argument("model", metavar="NAME_OR_DIR",
                   help="a run directory written by `vaezoo train`, or a pretrained entry "
                        "(see `vaezoo list`)")
    _evaluation_size(p, "")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _verbosity(p)

    p = _add(sub, "sample", _sample,
             "draw images from a trained model (a pretrained entry or a run directory) "
             "into a PNG grid",
             ["vaezoo sample mlp_vae_fashion_mnist -n 64 -o samples.png",
              "vaezoo sample runs/mlp -n 16 -o runs/mlp/more_samples.png --seed 3",
              "vaezoo sample runs/cvae -n 8 -o shirts.png --condition 6   # one class"])
    p.add_argument("model", metavar="NAME_OR_DIR",
                   help="a pretrained entry (see `vaezoo list`) or a `vaezoo train` run directory")
    p.add_argument("-n", type=_positive_int, default=64, metavar="N",
                   help="number of images (default 64)")
    p.add_argument("-o", "--output", required=True, type=_image_path, metavar="PNG",
                   help="the image to write (.png, .pdf, .svg, .jpg, ...)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    p.add_argument("--condition", type=_condition, metavar="LABELS",
                   help="class to condition on: one for all images (3), one per image "
                        "(0,1,2,3) or one-hot rows ([[0,0,1],...]) (conditional models only; "
                        "default: cycle through the classes)")
    p.add_argument("--title", help="figure title (default: the model's name)")

    kinds = "\n".join(f"  {k:<16} {h}" for k, (_, h) in PLOT_KINDS.items())
    p = _add(sub, "plot", _plot,
             "pictures of a trained model; test images come from the data set its config "
             "names\n\nkinds:\n" + kinds,
             ["vaezoo plot mlp_vae_fashion_mnist --kind reconstructions -o recon.png",
              "vaezoo plot runs/mlp --kind interpolation --method slerp -n 3 -o interp.png",
              "vaezoo plot runs/mlp --kind traversal -n 10 -o traversal.png",
              "vaezoo plot runs/mlp2d --kind manifold -n 15 -o manifold.png",
              "vaezoo plot runs/mlp --kind latents -o latents.png",
              "vaezoo plot runs/cvae --kind conditional -o classes.png",
              "vaezoo plot runs/vqvae --kind codes -o codes.png",
              "vaezoo plot runs/mlp --kind curves -o curves.png"])
    p.add_argument("model", metavar="NAME_OR_DIR",
                   help="a pretrained entry (see `vaezoo list`) or a `vaezoo train` run directory")
    p.add_argument("--kind", required=True, choices=tuple(PLOT_KINDS), metavar="KIND",
                   help="one of: " + ", ".join(PLOT_KINDS))
    p.add_argument("-o", "--output", required=True, type=_image_path, metavar="PNG",
                   help="the image to write (.png, .pdf, .svg, .jpg, ...)")
    p.add_argument("-n", type=_positive_int, metavar="N",
                   help="how many (images, pairs, dimensions, grid points or samples per "
                        "class, by kind; see above)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the chosen test images and of samples (default 0)")
    p.add_argument("--method", choices=("linear", "slerp"), default="linear",
                   help="interpolation path (default linear)")
    p.add_argument("--steps", type=_positive_int, default=10, metavar="N",
                   help="points per interpolation or traversal row (default 10)")
    p.add_argument("--condition", type=_condition, metavar="LABEL",
                   help="class for --kind manifold of a conditional model (e.g. 3)")
    p.add_argument("--title", help="figure title")

    return parser


def main(argv=None):
    """Entry point of the ``vaezoo`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("vaezoo: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - library errors become one line
        # A TrainingDiverged comes only once training is imported; importing it here
        # would load TensorFlow for every other error.
        guard = sys.modules.get("vaezoo.training.guard")
        diverged = (guard.TrainingDiverged,) if guard else ()
        if os.environ.get("VAEZOO_DEBUG") or not isinstance(
                e, (ValueError, TypeError, FileNotFoundError, *diverged)):
            raise
        print(f"vaezoo: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
