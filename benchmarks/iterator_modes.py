"""Does a fresh tf.data iterator per epoch slow vaezoo's training step? (issue 5 probe)

Times vaezoo's compiled train function (the MLP VAE of ``throughput.py``, its
defaults) over the same cached batches of Fashion-MNIST (statically binarized,
seed 0), fed three ways, interleaved round by round:

* **fresh, autotuned**: a new iterator each round over ``cached.prefetch(2)``
  (tf.data's autotuner on, as in Keras' array pipeline), the old one deleted;
* **fresh, autotuner off**: the same with ``Options.autotune.enabled = False``
  (as ``vaezoo.pipeline`` sets);
* **one iterator for all rounds**: ``cached.repeat().prefetch(2)``, never deleted;

and ``model.fit`` on the epoch pipeline of ``vaezoo train`` (``training.datasets.epoch_data``
of the ``mlp_vae_fashion_mnist`` config: the cached training split, shuffled,
batched, prefetched; a new dataset and iterator every epoch), autotuned and as
vaezoo runs it, with the autotuner off (``vaezoo.pipeline.untuned``).

On the 2-core CPU of the README, whole rounds of the first way were bimodal
(about 7.5 or 11.4 ms per step); the other two were not. Writes
``benchmarks/results/iterator_modes.{json,md}``.

    python benchmarks/iterator_modes.py --rounds 12
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--steps", type=int, default=448, help="batches per round (multiple of 32)")
    p.add_argument("--out", default=os.path.join(HERE, "results", "iterator_modes"))
    args = p.parse_args(argv)
    import tensorflow as tf

    import throughput
    from vaezoo import config, data, pipeline, training

    batch = 128
    x, _ = data.load_arrays("fashion_mnist", "train", binarization="static", seed=0)
    x = x[:batch * args.steps]
    model = throughput.build_vaezoo(x.shape[1:])
    model.fit(x[:batch * 64], batch_size=batch, epochs=1, verbose=0)
    calls = args.steps // model.steps_per_execution
    cached = tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True).cache()
    list(cached)
    train = model.make_train_function()
    shared = iter(cached.repeat().prefetch(2))

    def run(make_iterator):
        def epoch():
            iterator = make_iterator()
            for _ in range(calls):
                logs = train(iterator)
            float(tf.nest.flatten(logs)[0])
        return epoch

    cfg = config.load_config("mlp_vae_fashion_mnist")
    split = data.load("fashion_mnist", "train", binarization="static", seed=0)
    split = split.take(batch * args.steps).cache()  # --steps batches of 128, as above
    autotuned = tf.data.Options()
    autotuned.autotune.enabled = True

    def cli_epoch(autotune):
        def epoch():
            ds = training.datasets.epoch_data(split, cfg, 0)
            if autotune:
                ds = ds.with_options(autotuned)
            assert ds.options().autotune.enabled is autotune
            model.fit(ds, epochs=1, verbose=0, shuffle=False)
        return epoch

    ways = {
        "fresh iterator per round, autotuned": run(lambda: iter(cached.prefetch(2))),
        "fresh iterator per round, autotuner off": run(
            lambda: iter(pipeline.untuned(cached.prefetch(2)))),
        "one iterator for all rounds": run(lambda: shared),
        "vaezoo train's epoch pipeline, autotuned": cli_epoch(True),
        "vaezoo train's epoch pipeline, autotuner off (vaezoo's)": cli_epoch(False),
    }
    for epoch in ways.values():
        epoch()
    ms = {name: [] for name in ways}
    for r in range(args.rounds):
        for name in (list(ways) if r % 2 == 0 else list(reversed(ways))):
            start = time.perf_counter()
            ways[name]()
            ms[name].append(round(1000 * (time.perf_counter() - start) / (calls * 32), 2))
    command = "python benchmarks/iterator_modes.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv)
    result = {"command": command.strip(), "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
              "batch_size": batch, "steps_per_round": calls * 32, "ms_per_step": ms}
    lines = [f"# Fresh tf.data iterators and vaezoo's step time (MLP VAE, batch {batch})", "",
             f"`{result['command']}`, {result['date']} UTC, {calls * 32} batches per round, "
             f"rounds interleaved.", "",
             "| iterator | ms per step (median) | each round |", "|---|---|---|"]
    for name, values in ms.items():
        lines.append(f"| {name} | {statistics.median(values):.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in values)} |")
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
