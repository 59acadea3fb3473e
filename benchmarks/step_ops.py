"""Where the MLP VAE's training step spends its time, op type by op type.

``benchmarks/throughput.py --profile`` splits vaezoo's step into pieces
(forward, backward, update) and sets them against the bare matrix products.
This script looks one level lower, at the TensorFlow ops, for vaezoo's
defaults and for the hand-written reference (``reference_keras_vae.py``),
on real Fashion-MNIST (statically binarized with seed 0, batch 128):

* **wall time**: ``--steps`` train steps in one ``tf.while_loop`` (the loop
  Keras runs for ``steps_per_execution``; 32 is vaezoo's default), on a batch
  read from a variable each step, no input pipeline. The models are timed in
  turn, ``--rounds`` times, and each round's ratio to vaezoo's defaults is
  reported. Two ablations price pieces of vaezoo's step in wall time:
  ``optimizer=SGD`` (no Adam update) and ``binarization=None`` (no per-step
  check that the batch is already binary).
* **op time** (``--profile-runs`` loops under the TensorFlow profiler): the
  time of each op type summed over TensorFlow's compute threads, per step.
  On 2 cores two ops often run at once, each also sharding its work over the
  intra-op threads, so these sums exceed the wall time and an op's sum is not
  what removing it would save: the ablations are.

Results go to ``benchmarks/results/step_ops.{json,md}``::

    python benchmarks/step_ops.py --rounds 9
"""

import argparse
import collections
import glob
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

RESULTS = os.path.join(HERE, "results", "step_ops")
DEFAULTS, REFERENCE = "vaezoo (defaults)", "reference (keras.io recipe)"
ABLATIONS = {"vaezoo with optimizer=SGD (no Adam update)": {"optimizer": "sgd"},
             "vaezoo with binarization=None (no per-step binary check)":
                 {"binarization": None}}


def op_type(event_name):
    """``"while/body/.../dense_1/Relu:_MklNativeFusedMatMul"`` -> ``"_MklNativeFusedMatMul"``;
    None for profiler events that are not ops (executor and thread-pool regions)."""
    name, sep, kind = event_name.rpartition(":")
    return kind if sep and name and "::" not in event_name else None


def op_times(xspace, steps):
    """{op type: (summed thread ms per step, ops per step)} of a profiler XSpace proto,
    over the lines of TensorFlow's compute threads, most time first."""
    total, count = collections.Counter(), collections.Counter()
    for plane in xspace.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                kind = op_type(names.get(event.metadata_id, ""))
                if kind:
                    total[kind] += event.duration_ps
                    count[kind] += 1
    return {k: (ps / 1e9 / steps, count[k] / steps) for k, ps in total.most_common()}


def build_models(image_shape):
    """The reference, vaezoo's defaults and the ablations, as throughput.py builds them."""
    import keras
    from throughput import build_reference, build_vaezoo

    models = {REFERENCE: build_reference(image_shape),
              DEFAULTS: build_vaezoo("mlp", image_shape, {})}
    for name, change in ABLATIONS.items():
        change = dict(change)
        if change.get("optimizer") == "sgd":
            change["optimizer"] = keras.optimizers.SGD(1e-3)
        models[name] = build_vaezoo("mlp", image_shape, {}, **change)
    return models


def step_loop(model, batch, steps):
    """A tf.function running ``model.train_step`` ``steps`` times in a tf.while_loop."""
    import tensorflow as tf

    @tf.function
    def run():
        def body(i, carry):
            logs = model.train_step(batch + carry * 0)  # carry: each step waits for the last
            first = tf.cast(tf.reshape(next(iter(logs.values())), []), tf.float32)
            return i + 1, carry + first * 0
        return tf.while_loop(lambda i, carry: i < steps, body,
                             (tf.constant(0), tf.constant(0.0)))[1]
    return lambda: run().numpy()


def profile_ops(fn, steps, runs):
    """``op_times`` of ``runs`` calls of ``fn`` (``steps`` steps each) under the profiler."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            for _ in range(runs):
                fn()
        finally:
            tf.profiler.experimental.stop()
        path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
        xspace = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            xspace.ParseFromString(f.read())
    return op_times(xspace, steps * runs)


def measure(x_train, steps, rounds, profile_runs, batch_size=128):
    import tensorflow as tf

    models = build_models(tuple(x_train.shape[1:]))
    for model in models.values():  # build, trace train_step's pieces, first updates
        model.fit(x_train[:batch_size * 4], batch_size=batch_size, epochs=1, verbose=0)
    batch = tf.Variable(x_train[:batch_size], trainable=False)  # not watched by the tape
    loops = {name: step_loop(m, batch, steps) for name, m in models.items()}
    for fn in loops.values():
        fn()
    ms = {name: [] for name in loops}
    for r in range(rounds):
        for name in (list(loops) if r % 2 == 0 else list(reversed(loops))):
            start = time.perf_counter()
            loops[name]()
            ms[name].append(1000 * (time.perf_counter() - start) / steps)
    ops = {name: profile_ops(loops[name], steps, profile_runs) for name in (DEFAULTS, REFERENCE)}
    return {"batch_size": batch_size, "steps_per_loop": steps, "rounds": rounds,
            "profile_runs": profile_runs, "ms_per_step": ms,
            "per_round_over_defaults": {
                name: [a / b for a, b in zip(v, ms[DEFAULTS])] for name, v in ms.items()},
            "op_ms_per_step": {name: {k: list(v) for k, v in t.items()} for name, t in ops.items()}}


def write_markdown(path, res, top=20):
    ms, ratios = res["ms_per_step"], res["per_round_over_defaults"]
    load = res["load_average"]
    lines = ["# Where the MLP VAE's training step spends its time", "",
             f"Command: `{res['command']}`  ",
             (f"Date (UTC): {res['date']}, load average (1 min) {load[0]:.1f} at start, "
              f"{load[1]:.1f} at end  "),
             ("Data: Fashion-MNIST train split (`vaezoo.data.load_arrays`), statically "
              f"binarized (seed 0), one batch of {res['batch_size']} read from a variable "
              "each step."), "",
             (f"## Wall time: {res['steps_per_loop']} train steps in one tf.while_loop, "
              f"{res['rounds']} interleaved rounds"), "",
             ("| model | ms per step (median) | min..max | per-round ratio to vaezoo's "
              "defaults (median) |"), "|---|---|---|---|"]
    for name, v in ms.items():
        lines.append(f"| {name} | {statistics.median(v):.2f} | {min(v):.2f}..{max(v):.2f} | "
                     f"{statistics.median(ratios[name]):.3f} |")
    ops = res["op_ms_per_step"]
    kinds = sorted(set(ops[DEFAULTS]) | set(ops[REFERENCE]),
                   key=lambda k: -max(ops[DEFAULTS].get(k, (0, 0))[0],
                                      ops[REFERENCE].get(k, (0, 0))[0]))
    lines += ["", (f"## Op time per step, summed over the compute threads "
                   f"({res['profile_runs']} profiled loops each)"), "",
              ("Two ops often run at once on the 2 cores, so the sums exceed the wall time; "
               "what removing a piece saves is in the ablation rows above."), "",
              "| op type | vaezoo's defaults: ms | ops | reference: ms | ops |",
              "|---|---|---|---|---|"]

    def cell(name, kind):
        t, n = ops[name].get(kind, (0.0, 0.0))
        return f"{t:.3f} | {n:.1f}"
    for kind in kinds[:top]:
        lines.append(f"| {kind} | {cell(DEFAULTS, kind)} | {cell(REFERENCE, kind)} |")
    rest = {name: sum(t for k, (t, _) in ops[name].items() if k not in kinds[:top])
            for name in (DEFAULTS, REFERENCE)}
    sums = {name: sum(t for t, _ in ops[name].values()) for name in (DEFAULTS, REFERENCE)}
    lines += [f"| (other op types) | {rest[DEFAULTS]:.3f} | | {rest[REFERENCE]:.3f} | |",
              f"| **all ops** | **{sums[DEFAULTS]:.3f}** | | **{sums[REFERENCE]:.3f}** | |"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=32, help="train steps per while loop")
    p.add_argument("--rounds", type=int, default=9, help="interleaved timing rounds")
    p.add_argument("--profile-runs", type=int, default=10, help="loops under the profiler")
    p.add_argument("--out", default=RESULTS, help="path without extension for .json and .md")
    args = p.parse_args(argv)
    for key in ("steps", "rounds", "profile_runs"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    from vaezoo import data

    x_train, _ = data.load_arrays("fashion_mnist", "train", binarization="static", seed=0)
    load = os.getloadavg()[0]
    res = {"command": "python benchmarks/step_ops.py " + " ".join(
               sys.argv[1:] if argv is None else argv),
           "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    res.update(measure(x_train, args.steps, args.rounds, args.profile_runs))
    res["load_average"] = [load, os.getloadavg()[0]]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(res, f, indent=1)
    write_markdown(args.out + ".md", res)
    with open(args.out + ".md") as f:
        print(f.read())


if __name__ == "__main__":
    main()
