"""Throughput of vaezoo: training, ELBO evaluation and importance-sampled log p(x).

What it measures (images per second, wall clock), on real Fashion-MNIST
(``vaezoo.data.load_arrays("fashion_mnist", ...)``, statically binarized with
seed 0, the same float {0, 1} arrays for every model):

* **training**: ``model.fit(x, batch_size=B, epochs=E)`` over ``--steps``
  batches, for each model family (MLPVAE 784-500-500-50, ConvVAE) and batch
  size (``--epochs`` E, default 1: a ``fit`` call pays its set-up, such as
  Keras' copy of the whole array, once per E epochs). For the MLP, the hand-written keras.io-style VAE of
  ``benchmarks/reference_keras_vae.py`` (same architecture, plain
  ``compile(optimizer=Adam())`` / ``fit`` defaults) is measured IN THE SAME RUN,
  interleaved: each round times the reference and every vaezoo variant once,
  in turn, and the medians over ``--rounds`` rounds are reported, so the
  load of a shared machine hits all of them alike. vaezoo's speed is reported
  as the ratio of medians. The vaezoo variants isolate each default of
  ``VAE.compile`` (``steps_per_execution``, XLA, the XLA-fused static
  binarization).
* **ELBO evaluation**: ``model.evaluate`` (the ``test_step``) and
  ``vaezoo.evaluation.elbo``.
* **log-likelihood**: ``vaezoo.evaluation.log_likelihood`` with ``--ll-samples``
  importance samples on ``--ll-examples`` test images: images/s, decoder
  samples/s, and the projected time of the full 10,000 x 5,000 run (or the
  measured time with ``--ll-full``).
* **FLOPs**: counted from the traced TensorFlow graph (every MatMul / Conv2D /
  conv-backprop op of one training step, forward and backward, 2 FLOPs per
  multiply-add; elementwise ops not counted), per image; the achieved FLOP/s
  and the fraction of the device's peak. The CPU peak is an estimate from the
  CPU flags and clock (cores x GHz x FLOPs/cycle, stated in the output); for
  GPUs and TPUs the peak is reported as unknown.
* **memory** (``--memory``): peak RSS of fresh processes that train on a
  growing number of examples and evaluate log p(x) with a growing number of
  importance samples and examples.

Results go to ``benchmarks/results/throughput.json`` and ``.md``.

Examples::

    python benchmarks/throughput.py                       # the default CPU run
    python benchmarks/throughput.py --quick               # a 2-minute smoke run
    python benchmarks/throughput.py --strategy mirrored --batch-sizes 256
    python benchmarks/throughput.py --precision mixed_bfloat16 --no-jit
    python benchmarks/throughput.py --ll-full             # time 10k images x 5000 samples
"""

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

RESULTS = os.path.join(HERE, "results", "throughput")


# ----------------------------------------------------------------------------- device
def _cpu_info():
    info = {"model": platform.processor() or "unknown", "flags": set(), "mhz": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and info["model"] in ("unknown", "x86_64", ""):
                    info["model"] = value
                elif key == "flags" and not info["flags"]:
                    info["flags"] = set(value.split())
                elif key == "cpu MHz" and info["mhz"] is None:
                    info["mhz"] = float(value)
                elif key == "vendor_id":
                    info["vendor"] = value
    except OSError:
        pass
    return info


def device_report(strategy):
    """The devices found and an honest estimate of the peak FLOP/s."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    tpus = tf.config.list_logical_devices("TPU")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report = {"strategy": type(strategy).__name__, "replicas": int(strategy.num_replicas_in_sync),
              "gpus": [d.name for d in gpus], "tpus": [d.name for d in tpus],
              "cpu_cores": cores, "load_average_1min_at_start": os.getloadavg()[0]}
    if tpus or gpus:
        kind = "TPU" if tpus else "GPU"
        report.update(device=kind, peak_flops=None,
                      peak_note=f"{kind} peak unknown to this script (look it up for the exact "
                                f"part and precision); fraction of peak not reported")
        if gpus:
            try:
                details = tf.config.experimental.get_device_details(
                    tf.config.list_physical_devices("GPU")[0])
                report["gpu_name"] = details.get("device_name")
            except Exception:  # noqa: BLE001 - details are optional
                pass
        return report
    cpu = _cpu_info()
    flags, ghz = cpu["flags"], (cpu["mhz"] or 0) / 1000
    amd = cpu.get("vendor") == "AuthenticAMD" or "AMD" in cpu["model"]
    # FP32 FLOPs per cycle per core = 2 (FMA) x SIMD lanes x FMA pipes.
    if "avx512f" in flags and amd:
        per_cycle, why = 32, "AVX-512 on AMD Zen 4 (two 256-bit FMA pipes, 512-bit ops double-pumped)"
    elif "avx512f" in flags:
        per_cycle, why = 64, "AVX-512 with two 512-bit FMA units (server Intel)"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, why = 32, "AVX2 with two 256-bit FMA units"
    else:
        per_cycle, why = None, "unknown SIMD width"
    peak = cores * ghz * 1e9 * per_cycle if per_cycle and ghz else None
    report.update(
        device="CPU", cpu_model=cpu["model"], cpu_ghz=ghz or None,
        bf16_instructions="avx512_bf16" in flags or "amx_bf16" in flags, peak_flops=peak,
        peak_note=(f"FP32 peak estimate {cores} cores x {ghz:.2f} GHz x {per_cycle} FLOP/cycle "
                   f"({why}); base clock from /proc/cpuinfo, turbo not counted; cores shared "
                   f"with other users of this machine" if peak else "CPU peak unknown"))
    return report


# ----------------------------------------------------------------------------- FLOPs
def _op_flops(op):
    """FLOPs of one MatMul / conv op from its static shapes (None if not one)."""
    def shape(t):
        return [int(d) if d is not None else None for d in t.shape]

    t = op.type
    if t in ("MatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchMatMul", "_MklMatMul"):
        a, b = shape(op.inputs[0]), shape(op.inputs[1])
        out = shape(op.outputs[0])
        if None in a or None in b or None in out:
            return None
        transpose_a = op.get_attr("transpose_a") if t == "MatMul" else op.get_attr("adj_x")
        k = a[-2] if transpose_a else a[-1]
        return 2 * int(np.prod(out)) * k
    if t in ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "DepthwiseConv2dNative"):
        out = shape(op.outputs[0])
        if t == "Conv2D":
            kh, kw, cin, _ = shape(op.inputs[1])
            return None if None in out else 2 * int(np.prod(out)) * kh * kw * cin
        if t == "Conv2DBackpropInput":  # out = input grad [B, H, W, Cin]; filter [kh, kw, Cin, Cout]
            grad = shape(op.inputs[2])
            filt = op.inputs[1]
            fshape = shape(filt) if filt.shape.rank == 4 else None
            if fshape is None or None in grad:
                return None
            kh, kw, _, _ = fshape
            return 2 * int(np.prod(grad)) * kh * kw * fshape[2]
        if t == "Conv2DBackpropFilter":  # out = filter grad [kh, kw, Cin, Cout]
            grad = shape(op.inputs[2])
            if None in grad or None in out:
                return None
            kh, kw, cin, _ = out
            return 2 * int(np.prod(grad)) * kh * kw * cin
    return None


def graph_flops(fn, *args):
    """Sum of MatMul / conv FLOPs in the graph of ``fn(*args)`` (fixed shapes)."""
    import tensorflow as tf

    graph = tf.function(fn).get_concrete_function(*args).graph
    total, unknown = 0, 0
    for op in graph.get_operations():
        f = _op_flops(op)
        if f is None and op.type in ("MatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D",
                                     "Conv2DBackpropInput", "Conv2DBackpropFilter"):
            unknown += 1
        total += f or 0
    return total, unknown


def training_flops_per_image(model, batch_size, image_shape, reference=False):
    """Forward + backward matmul/conv FLOPs of one training step, per image."""
    import tensorflow as tf

    x = tf.zeros((batch_size,) + tuple(image_shape), tf.float32)

    def step(x):
        with tf.GradientTape() as tape:
            if reference:
                loss = model.vae_losses(x)[0]
            else:
                xs, y = model.preprocess(x, training=True)
                loss, _ = model.compute_objective(xs, y, training=False)
        return tape.gradient(loss, model.trainable_variables)

    total, unknown = graph_flops(step, x)
    return total / batch_size, unknown


def decoder_flops_per_sample(model):
    """Forward FLOPs of the decoder for one z (the work of one importance sample)."""
    import tensorflow as tf

    z = tf.zeros((64, model.latent_dim), tf.float32)
    total, _ = graph_flops(lambda z: model.decoder(z), z)
    return total / 64


# ----------------------------------------------------------------------------- models
FAMILIES = {
    "mlp": dict(cls="MLPVAE", kwargs=dict(latent_dim=50, hidden_units=(500, 500))),
    "conv": dict(cls="ConvVAE", kwargs=dict(latent_dim=50)),
}


#: The hand-written reference's row name in every report (and its JSON key).
REFERENCE = "reference (keras.io recipe)"


def build_vaezoo(family, image_shape, compile_kwargs, precision="auto", keras_adam=False,
                 keras_pipeline=False, binarization="static", optimizer=None):
    import keras

    import vaezoo

    spec = FAMILIES[family]
    cls = getattr(vaezoo, spec["cls"])
    model = cls(likelihood="bernoulli", binarization=binarization, binarization_seed=0,
                image_shape=image_shape, seed=0, **spec["kwargs"])
    # "adam" is vaezoo's default (FusedAdam); keras_adam=True measures Keras' own.
    if optimizer is None:
        optimizer = keras.optimizers.Adam(1e-3) if keras_adam else "adam"
    model.compile(optimizer=optimizer, precision=precision, **compile_kwargs)
    # keras_pipeline=True: arrays through Keras' own tf.data pipeline (vaezoo.pipeline off).
    model.gather_arrays_in_step = not keras_pipeline
    return model


def build_reference(image_shape):
    import keras

    from reference_keras_vae import ReferenceVAE

    model = ReferenceVAE(latent_dim=50, hidden_units=(500, 500), image_shape=image_shape)
    model.compile(optimizer=keras.optimizers.Adam())  # keras.io: every other arg default
    return model


# ----------------------------------------------------------------------------- timing
def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(candidates, rounds, images):
    """Times every candidate once per round, in turn; returns per-candidate rates."""
    rates = {name: [] for name in candidates}
    for r in range(rounds):
        order = list(candidates) if r % 2 == 0 else list(reversed(candidates))
        for name in order:
            rates[name].append(images / _timed(candidates[name]))
    return rates


def _summary(rates):
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "rounds": [round(r, 1) for r in rates]}


def _variant_precision(name):
    """The precision a training row names ("vaezoo precision='float32'"), else "auto"."""
    match = re.search(r"precision='(\w+)'", name)
    return match.group(1) if match else "auto"


def bench_training(args, strategy, x_train, device):
    image_shape = tuple(x_train.shape[1:])
    results = []
    for family in args.families:
        for batch_size in args.batch_sizes:
            steps = max(20, args.steps * 128 // batch_size)  # about the same images per round
            n = batch_size * steps
            x = x_train[:n]
            jit = {} if args.jit is None else {"jit_compile": args.jit}
            variants = {"vaezoo (defaults)": dict(**jit)}
            more = not (args.quick or args.no_variants)
            if more and family == "mlp":
                variants.update({
                    "vaezoo steps_per_execution=1": dict(steps_per_execution=1, **jit),
                    "vaezoo jit_compile=True": dict(jit_compile=True),
                    "vaezoo with keras.optimizers.Adam (unfused update)": dict(**jit),
                    "vaezoo with Keras' array pipeline (gather_arrays_in_step=False)":
                        dict(**jit),
                    "vaezoo precision='float32'": dict(**jit),
                })
            elif more:  # "auto" is float32 for the other families: what bf16 gives them
                variants["vaezoo precision='mixed_bfloat16'"] = dict(**jit)
            models = {}
            with strategy.scope():
                if family == "mlp":
                    models[REFERENCE] = build_reference(image_shape)
                for name, kw in variants.items():
                    models[name] = build_vaezoo(family, image_shape, kw,
                                                precision=_variant_precision(name),
                                                keras_adam="keras.optimizers.Adam" in name,
                                                keras_pipeline="gather_arrays_in_step" in name)
            fits = {name: (lambda m=m: m.fit(x, batch_size=batch_size, epochs=args.epochs,
                                              verbose=0, shuffle=True))
                    for name, m in models.items()}
            for name, m in models.items():  # warm-up: tracing, compilation, first epoch
                m.fit(x[:batch_size * min(steps, 64)], batch_size=batch_size, epochs=1,
                      verbose=0)
            print(f"training {family} batch {batch_size}: {len(models)} models x "
                  f"{args.rounds} rounds x {args.epochs} x {steps} steps", flush=True)
            rates = interleaved(fits, args.rounds, n * args.epochs)
            main = models["vaezoo (defaults)"]
            print(json.dumps({k: [round(v) for v in r] for k, r in rates.items()}), flush=True)
            # FLOPs from fresh (untrained, unrun) copies of the models.
            flops, unknown = training_flops_per_image(
                build_vaezoo(family, image_shape, {}), batch_size, image_shape)
            row = {"family": family, "batch_size": batch_size, "steps_per_round": steps,
                   "epochs_per_fit": args.epochs,
                   "flops_per_image": flops, "flop_ops_without_static_shape": unknown,
                   "jit_compile": bool(main.jit_compile),
                   "steps_per_execution": int(main.steps_per_execution),
                   "precision": main.training_precision, "models": {}}
            if REFERENCE in models:
                rflops, _ = training_flops_per_image(build_reference(image_shape), batch_size,
                                                     image_shape, reference=True)
                row["reference_flops_per_image"] = rflops
            for name, r in rates.items():
                s = _summary(r)
                s["flops_per_s"] = s["median"] * (row.get("reference_flops_per_image", flops)
                                                  if name == REFERENCE else flops)
                if device.get("peak_flops"):
                    s["fraction_of_peak"] = s["flops_per_s"] / device["peak_flops"]
                row["models"][name] = s
            if REFERENCE in rates:
                ref = rates[REFERENCE]
                for name in variants:
                    row["models"][name]["ratio_to_reference"] = (
                        statistics.median(rates[name]) / statistics.median(ref))
                    # Per-round ratios: the pairs timed back to back.
                    row["models"][name]["per_round_ratios"] = [
                        round(a / b, 3) for a, b in zip(rates[name], ref)]
            results.append(row)
            print(json.dumps(row, indent=1, default=float), flush=True)
            del models, fits
    return results


def bench_elbo(args, strategy, x_test, device):
    import vaezoo

    image_shape = tuple(x_test.shape[1:])
    n = min(len(x_test), args.eval_examples)
    x = x_test[:n]
    batch = 500
    with strategy.scope():
        models = {REFERENCE: build_reference(image_shape),
                  "vaezoo (defaults)": build_vaezoo("mlp", image_shape, {})}
    runs = {name: (lambda m=m: m.evaluate(x, batch_size=batch, verbose=0))
            for name, m in models.items()}
    runs["vaezoo.evaluation.elbo"] = lambda: vaezoo.evaluation.elbo(
        models["vaezoo (defaults)"], x, progress=False)
    for fn in runs.values():
        fn()
    rates = interleaved(runs, args.rounds, n)
    out = {"examples": n, "batch_size": batch,
           "models": {name: _summary(r) for name, r in rates.items()}}
    ref = statistics.median(rates[REFERENCE])
    for name in ("vaezoo (defaults)", "vaezoo.evaluation.elbo"):
        out["models"][name]["ratio_to_reference"] = statistics.median(rates[name]) / ref
    print(json.dumps(out, indent=1), flush=True)
    return out


def bench_log_likelihood(args, x_train, x_test, device):
    import vaezoo

    image_shape = tuple(x_test.shape[1:])
    if args.ll_model:  # a pretrained zoo entry: real weights, a real estimate
        model = vaezoo.load(args.ll_model)
    else:
        model = build_vaezoo("mlp", image_shape, {})
    trained = 0
    if args.ll_train_epochs:
        start = time.perf_counter()
        model.fit(x_train, batch_size=128, epochs=args.ll_train_epochs, verbose=0)
        trained = time.perf_counter() - start
    per_sample = decoder_flops_per_sample(model)
    n = len(x_test) if args.ll_full else min(args.ll_examples, len(x_test))
    k = args.ll_samples
    x = x_test[:n]
    precision = args.ll_precision
    # Warm-up (tracing, compilation) on one batch, not timed.
    vaezoo.evaluation.log_likelihood(model, x[:500], num_samples=k, progress=False,
                                     precision=precision)
    start = time.perf_counter()
    result = vaezoo.evaluation.log_likelihood(model, x, num_samples=k, progress=args.ll_full,
                                              precision=precision, return_per_example=True)
    seconds = time.perf_counter() - start
    check = precision_check(model, x, result, k)
    decoder_flops = per_sample * n * k
    variants = {}
    if not args.ll_full and not device.get("gpus") and not device.get("tpus"):
        variants = compare_ll_compilation(model, x[:min(n, 200)], min(k, 500), args.rounds)
    out = {"examples": n, "num_samples": k, "seconds": seconds, "images_per_s": n / seconds,
           "decoder_samples_per_s": n * k / seconds, "decoder_flops_per_sample": per_sample,
           "decoder_flops_per_s": decoder_flops / seconds,
           "log_likelihood": result["log_likelihood"], "stderr": result["stderr"],
           "precision": result["precision"], "precision_check": check,
           "model": args.ll_model or "untrained MLP VAE (784-500-500-50)",
           "model_trained_epochs": args.ll_train_epochs, "training_seconds": trained,
           "projected_seconds_10000x5000": per_sample * 10000 * 5000 / (decoder_flops / seconds),
           "full_10000x5000_measured": bool(args.ll_full and n == 10000 and k == 5000),
           "cpu_compilation_variants": variants}
    if device.get("peak_flops"):
        out["fraction_of_peak"] = out["decoder_flops_per_s"] / device["peak_flops"]
    print(json.dumps(out, indent=1), flush=True)
    return out


def precision_check(model, x, result, k, max_examples=500, max_samples=1000):
    """Paired float32 re-estimate of the first examples (same seed, so the same z):
    how far the reduced-precision decoder moved log p(x). None when it ran in float32."""
    import numpy as np

    import vaezoo

    if result["precision"] == "float32":
        return None
    n, kk = min(len(x), max_examples), min(k, max_samples)
    fast = result["per_example"][:n] if kk == k else vaezoo.evaluation.log_likelihood(
        model, x[:n], num_samples=kk, progress=False, precision=result["precision"],
        return_per_example=True)["per_example"]
    exact = vaezoo.evaluation.log_likelihood(model, x[:n], num_samples=kk, progress=False,
                                             precision="float32",
                                             return_per_example=True)["per_example"]
    diff = np.asarray(fast) - np.asarray(exact)
    out = {"examples": n, "num_samples": kk,
           "mean_difference_nats": float(diff.mean()),
           "sd_difference_nats": float(diff.std(ddof=1)),
           "max_abs_difference_nats": float(np.abs(diff).max())}
    print(json.dumps({"precision_check": out}), flush=True)
    return out


def compare_ll_compilation(model, x, k, rounds):
    """Interleaved timing of log_likelihood as compiled now on a CPU (oneDNN matmuls +
    XLA-fused log-densities) against the whole step under XLA (the previous way)."""
    import vaezoo
    from vaezoo import evaluation, hardware

    caches = {}  # one compiled step per variant, kept across rounds

    def run(whole_xla):
        def fn():
            saved = hardware.accelerator_present
            hardware.accelerator_present = (lambda: True) if whole_xla else saved
            evaluation._STEP_CACHE[model] = caches.setdefault(whole_xla, {})
            try:
                vaezoo.evaluation.log_likelihood(model, x, num_samples=k, progress=False)
            finally:
                hardware.accelerator_present = saved
        return fn

    names = {"current (oneDNN matmuls + XLA-fused log-densities)": run(False),
             "whole step under XLA": run(True)}
    for fn in names.values():
        fn()  # warm-up: tracing and compilation, not timed
    rates = interleaved(names, rounds, len(x) * k)
    out = {"examples": len(x), "num_samples": k,
           "note": "decoder samples/s, compilation excluded",
           "models": {name: _summary(r) for name, r in rates.items()}}
    cur, xla = (statistics.median(r) for r in rates.values())
    out["speedup_current_over_whole_xla"] = cur / xla
    print(json.dumps(out, indent=1), flush=True)
    return out


# ----------------------------------------------------------------------------- step profile
def _ms_per_step(fn, steps, rounds):
    """Median wall milliseconds per step of ``fn`` (a tf.function running ``steps`` steps)."""
    fn()  # trace and warm up
    times = [_timed(fn) for _ in range(rounds)]
    return 1000 * statistics.median(times) / steps


def matmul_ceiling(batch_size, dtype_name, steps=50, rounds=5):
    """GFLOP/s of the MLP VAE's own matrix products alone, chained so none is skipped.

    One step: the six forward products of 784-500-500-(2x50) / 50-500-500-784 at
    ``batch_size`` rows, and for each layer the two backward products (weights
    gradient, and input gradient except for the first layer), as a training step
    does them; bias, activations, densities and the optimizer are left out.
    """
    import tensorflow as tf

    dtype = tf.as_dtype(dtype_name)
    dims = [(784, 500), (500, 500), (500, 100), (50, 500), (500, 500), (500, 784)]
    weights = [tf.cast(tf.random.normal(d, stddev=0.05), dtype) for d in dims]
    x = tf.cast(tf.random.uniform([batch_size, 784]), dtype)
    flops = 0
    for i, (m, n) in enumerate(dims):
        flops += 2 * batch_size * m * n * (2 if i == 0 else 3)

    @tf.function
    def run():
        carry = tf.zeros([1, 1], dtype)
        for _ in range(steps):
            h = x + carry
            inputs = []
            for i, w in enumerate(weights):
                h = h[:, :50] if i == 3 else h  # z = the first half of (mean, scale)
                inputs.append(h)
                h = tf.matmul(h, w)
            g = h
            for i in reversed(range(len(weights))):
                grad_w = tf.matmul(inputs[i], g, transpose_a=True)
                if i > 0:
                    g = tf.matmul(g, weights[i], transpose_b=True)
                    g = tf.pad(g, [[0, 0], [0, 50]]) if i == 3 else g
                carry = carry + grad_w[:1, :1] * 0
        return carry

    ms = _ms_per_step(lambda: run().numpy(), steps, rounds)
    return {"dtype": dtype_name, "ms_per_step": ms, "gflops_per_s": flops / ms / 1e6,
            "flops_per_step": flops}


def bench_step_profile(args, x_train):
    """Where one MLP training step's time goes (batch 128, one batch, no input pipeline).

    Each piece runs ``steps`` times inside one tf.function (no Keras fit loop, no
    Python per step), on a batch read from a variable each step (a constant
    batch would let TensorFlow fold the binarization check away): vaezoo's
    forward pass (the loss), forward + backward (the gradients), the optimizer
    update alone and the whole ``train_step``, in float32 and in
    ``mixed_bfloat16``, and the reference's whole ``train_step``; beside them,
    the same matrix products alone in float32 and bfloat16
    (``matmul_ceiling``). Only the timings are returned; the report derives the
    ratios from them (``profile_ratios``).
    """
    import tensorflow as tf

    from vaezoo.models.base import trunk_precision

    batch_size, steps, rounds = 128, 50, args.rounds
    image_shape = tuple(x_train.shape[1:])
    xb = tf.Variable(x_train[:batch_size])
    models = {p: build_vaezoo("mlp", image_shape, {}, precision=p)
              for p in ("float32", "mixed_bfloat16")}
    reference = build_reference(image_shape)
    for m in (*models.values(), reference):
        m.fit(x_train[:batch_size * 4], batch_size=batch_size, epochs=1, verbose=0)
    variables = models["float32"].trainable_variables
    zeros = [tf.zeros_like(v) for v in variables]

    def loop(body):
        @tf.function
        def run():
            total = tf.constant(0.0)
            for _ in range(steps):
                total += body(xb + total * 0)
            return total
        return lambda: run().numpy()

    def forward(m):
        def body(x):
            with trunk_precision(m, m.training_precision):  # as train_step does
                x, y = m.preprocess(x, training=True)
                return m.compute_objective(x, y, training=True)[0]
        return body

    def gradients(m):
        def body(x):
            with tf.GradientTape() as tape:
                loss = forward(m)(x)
            grads = tape.gradient(loss, m.trainable_variables)
            return tf.add_n([tf.reduce_sum(g) for g in grads]) * 0 + loss
        return body

    def update(x):
        models["float32"].optimizer.apply_gradients(zip(zeros, variables))
        return tf.constant(0.0)

    def whole(m):
        return lambda x: tf.add_n([tf.cast(v, tf.float32) for v in m.train_step(x).values()])

    pieces = {"vaezoo optimizer update (FusedAdam)": update}
    for p, m in models.items():
        pieces.update({f"vaezoo forward (loss), {p}": forward(m),
                       f"vaezoo forward + backward, {p}": gradients(m),
                       f"vaezoo train_step, {p}": whole(m)})
    pieces["reference train_step"] = whole(reference)
    result = {"batch_size": batch_size, "steps_per_timing": steps, "rounds": rounds,
              "ms_per_step": {name: _ms_per_step(loop(body), steps, rounds)
                              for name, body in pieces.items()},
              "matmul": [matmul_ceiling(batch_size, d, steps, rounds)
                         for d in ("float32", "bfloat16")]}
    print(json.dumps({**result, **profile_ratios(result)}, indent=1, default=float), flush=True)
    return result


def profile_ratios(profile):
    """The bounds read off a step profile (milliseconds per step):

    * ``parts_ms``: vaezoo's float32 forward + backward + optimizer update, nothing else;
    * ``floor_ms``: the float32 matrix products alone + the optimizer update;
    * the reference's ``train_step`` over vaezoo's (float32 and mixed_bfloat16),
      over ``parts_ms`` and over ``floor_ms``: what a float32 step of this model
      could gain over it here;
    * bfloat16 over float32 speed of the matrix products alone.
    """
    ms = profile["ms_per_step"]
    update = ms["vaezoo optimizer update (FusedAdam)"]
    float32, bfloat16 = profile["matmul"]
    parts = ms["vaezoo forward + backward, float32"] + update
    floor = float32["ms_per_step"] + update
    reference = ms["reference train_step"]
    return {"parts_ms": parts, "floor_ms": floor,
            "reference_over_vaezoo_step": reference / ms["vaezoo train_step, float32"],
            "reference_over_vaezoo_bf16_step":
                reference / ms["vaezoo train_step, mixed_bfloat16"],
            "reference_over_parts": reference / parts, "reference_over_floor": reference / floor,
            "bfloat16_matmul_speedup": bfloat16["gflops_per_s"] / float32["gflops_per_s"]}


# ----------------------------------------------------------------------------- memory
def _peak_rss_mib():
    """High-water RSS of this process image (VmHWM; unlike ru_maxrss on Linux it does
    not inherit the parent's peak across fork/exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(kind, size, samples):
    """Runs in a fresh process; prints its peak RSS (MiB) as JSON."""
    import vaezoo
    from vaezoo import data

    before = _peak_rss_mib()
    if kind == "train":
        x, _ = data.load_arrays("fashion_mnist", "train", binarization="static", verbose=False)
        x = x[:size]
        model = build_vaezoo("mlp", tuple(x.shape[1:]), {})
        after_load = _peak_rss_mib()
        ds = data.load("fashion_mnist", "train", verbose=False).take(size).batch(128)
        model.fit(ds, epochs=1, verbose=0)
    else:
        x, _ = data.load_arrays("fashion_mnist", "test", binarization="static", verbose=False)
        x = x[:size]
        model = build_vaezoo("mlp", tuple(x.shape[1:]), {})
        after_load = _peak_rss_mib()
        vaezoo.evaluation.log_likelihood(model, x, num_samples=samples, progress=False)
    peak = _peak_rss_mib()
    print("MEMORY " + json.dumps({"kind": kind, "examples": size, "num_samples": samples,
                                  "peak_rss_mib": peak, "rss_after_import_mib": before,
                                  "rss_after_data_and_model_mib": after_load}), flush=True)


def bench_memory(args):
    # Growing 8x in data and in samples; sizes kept small enough for a loaded 2-core CPU.
    probes = [("train", 7500, 0), ("train", 60000, 0)]
    probes += [("log_likelihood", 200, k) for k in (100, 800, 3200)]
    probes += [("log_likelihood", n, 100) for n in (1600,)]
    if args.quick:
        probes = [("train", 1280, 0), ("train", 6400, 0), ("log_likelihood", 100, 10),
                  ("log_likelihood", 100, 100)]
    out = []
    for kind, size, samples in probes:
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-probe", kind, str(size), str(samples)],
            capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY ")]
        if proc.returncode or not line:
            out.append({"kind": kind, "examples": size, "num_samples": samples,
                        "error": proc.stderr[-500:]})
        else:
            out.append(json.loads(line[-1][len("MEMORY "):]))
        print(json.dumps(out[-1]), flush=True)
    return out


# ----------------------------------------------------------------------------- report
def write_markdown(path, res):
    d = res["device"]
    commands = res.get("commands") or {"all sections": res["command"]}
    lines = ["# vaezoo throughput", "",
             *[f"Command ({k}): `{c}`  " for k, c in commands.items()],
             f"Date (UTC): {res['date']}  ",
             f"Device: {d['device']} {d.get('cpu_model') or d.get('gpu_name') or ''}, "
             f"{d['cpu_cores']} cores, strategy {d['strategy']} ({d['replicas']} replicas), "
             f"precision {res['precision']}, load average at start "
             f"{d['load_average_1min_at_start']:.1f}  ",
             f"Peak: {d['peak_note']}  ",
             "Data: Fashion-MNIST (`vaezoo.data.load_arrays`), statically binarized "
             "(seed 0), float {0,1} arrays fed to `model.fit(x, batch_size=B)`.", "",
             "## Training (images/s, median of interleaved rounds)", "",
             "| family | batch | model | images/s (median) | min..max | ratio of medians "
             "to reference | median of per-round ratios | GFLOP/s | % of peak |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in res.get("training", []):
        for name, s in row["models"].items():
            ratio = s.get("ratio_to_reference")
            ratio = "" if ratio is None else f"{ratio:.2f}x"
            pairs = s.get("per_round_ratios")
            pairs = "" if not pairs else (f"{statistics.median(pairs):.2f}x "
                                          f"({', '.join(f'{r:.2f}' for r in pairs)})")
            peak = s.get("fraction_of_peak")
            peak = "" if peak is None else f"{100 * peak:.0f}%"
            lines.append(
                f"| {row['family']} | {row['batch_size']} | {name} | {s['median']:.0f} | "
                f"{s['min']:.0f}..{s['max']:.0f} | {ratio} | {pairs} | "
                f"{s['flops_per_s'] / 1e9:.1f} | {peak} |")
    lines.append("\nEach round times every model once, back to back; on a shared machine the "
                 "speed of a whole round changes with the other jobs, so the per-round ratios "
                 "(pairs timed minutes apart at most) are the figures to read, and their spread "
                 "is the uncertainty.")
    for row in res.get("training", []):
        lines.append(f"\n{row['family']} batch {row['batch_size']}: "
                     f"{row['flops_per_image'] / 1e6:.2f} MFLOP per image per training step "
                     f"(matmul/conv, forward + backward, from the traced graph); vaezoo defaults "
                     f"here: jit_compile={row['jit_compile']}, "
                     f"steps_per_execution={row['steps_per_execution']}"
                     + (f", precision={row['precision']} ('auto')" if "precision" in row else "")
                     + "."
                     + (f" Run of {row['run']['date']} UTC, load average (1 min) "
                        f"{row['run']['load_average_1min'][0]:.1f} at start, "
                        f"{row['run']['load_average_1min'][1]:.1f} at end: "
                        f"`{row['run']['command']}`." if row.get("run") else ""))
    if res.get("elbo"):
        e = res["elbo"]
        lines += ["", f"## ELBO evaluation ({e['examples']} test images, batch {e['batch_size']})",
                  "", "| model | images/s (median) | ratio to reference |", "|---|---|---|"]
        for name, s in e["models"].items():
            ratio = s.get("ratio_to_reference")
            ratio = "" if ratio is None else f"{ratio:.2f}x"
            lines.append(f"| {name} | {s['median']:.0f} | {ratio} |")
    if res.get("log_likelihood"):
        ll = res["log_likelihood"]
        lines += ["", "## Importance-sampled log-likelihood", "",
                  f"{ll['examples']} test images x {ll['num_samples']} samples in "
                  f"{ll['seconds']:.1f} s: {ll['images_per_s']:.1f} images/s, "
                  f"{ll['decoder_samples_per_s']:.0f} decoder samples/s, "
                  f"{ll['decoder_flops_per_s'] / 1e9:.1f} GFLOP/s of decoder work"
                  + (f" ({100 * ll['fraction_of_peak']:.0f}% of the estimated peak)"
                     if "fraction_of_peak" in ll else "") + ".  ",
                  f"Model: {ll.get('model', 'untrained MLP VAE')}; decoder precision "
                  f"{ll.get('precision', 'float32')}; log p(x) = {ll['log_likelihood']:.2f} "
                  f"+- {ll['stderr']:.2f} nats (K={ll['num_samples']}, first "
                  f"{ll['examples']} test images; model trained "
                  f"{ll['model_trained_epochs']} epochs here).  ",
                  ("Measured" if ll["full_10000x5000_measured"] else "Projected") +
                  f" time for 10,000 images x 5,000 samples: "
                  f"{ll['projected_seconds_10000x5000'] / 60:.1f} min (target < 6 min)."]
        check = ll.get("precision_check")
        if check:
            lines += ["", f"Precision check: the same estimate with a float32 decoder on the first "
                      f"{check['examples']} images (K={check['num_samples']}, same seed, so "
                      f"the same z): mean difference {check['mean_difference_nats']:+.4f} nats, "
                      f"per-example sd {check['sd_difference_nats']:.4f}, largest "
                      f"{check['max_abs_difference_nats']:.3f}."]
        variants = ll.get("cpu_compilation_variants")
        if variants:
            lines += ["", f"CPU compilation of the log-likelihood step ({variants['examples']} "
                      f"images x {variants['num_samples']} samples, interleaved, "
                      f"{variants['note']}):", "", "| step | decoder samples/s (median) |",
                      "|---|---|"]
            for name, v in variants["models"].items():
                lines.append(f"| {name} | {v['median']:.0f} |")
            lines.append(f"\nSpeed-up of the current CPU compilation: "
                         f"{variants['speedup_current_over_whole_xla']:.2f}x")
    if res.get("step_profile"):
        sp = res["step_profile"]
        lines += ["", f"## Where an MLP training step's time goes (batch {sp['batch_size']}, "
                  f"{sp['steps_per_timing']} steps in one tf.function, median of "
                  f"{sp['rounds']} timings)", "", "| piece | ms per step |", "|---|---|"]
        lines += [f"| {name} | {ms:.2f} |" for name, ms in sp["ms_per_step"].items()]
        lines += [f"| the step's matrix products alone, {m['dtype']} "
                  f"({m['gflops_per_s']:.0f} GFLOP/s) | {m['ms_per_step']:.2f} |"
                  for m in sp["matmul"]]
        r = profile_ratios(sp)
        lines += ["", f"The reference's step takes {r['reference_over_vaezoo_bf16_step']:.2f}x "
                  f"vaezoo's whole mixed_bfloat16 train_step (the default here). "
                  f"It takes {r['reference_over_vaezoo_step']:.2f}x "
                  f"vaezoo's whole float32 train_step, {r['reference_over_parts']:.2f}x "
                  f"vaezoo's forward + backward + optimizer update alone ({r['parts_ms']:.2f} "
                  f"ms, nothing else in the step), and {r['reference_over_floor']:.2f}x the "
                  f"bare float32 matrix products + update ({r['floor_ms']:.2f} ms): "
                  f"these bound what any float32 step of this model could gain over it here. "
                  f"bfloat16 matrix products are {r['bfloat16_matmul_speedup']:.2f}x float32 "
                  f"ones on this device."]
    if res.get("memory"):
        lines += ["", "## Peak memory (RSS of a fresh process)", "",
                  "| work | examples | importance samples | peak RSS (MiB) |", "|---|---|---|---|"]
        for m in res["memory"]:
            lines.append(f"| {m['kind']} | {m['examples']} | {m['num_samples'] or ''} | "
                         + (f"{m['peak_rss_mib']:.0f}" if "peak_rss_mib" in m else "failed")
                         + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


SECTIONS = ("training", "elbo", "log_likelihood", "memory", "step_profile")


def merge(paths, out):
    """One report from several runs (run separately on a shared machine)."""
    merged = {"commands": {}}
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        for row in run.get("training") or []:
            row.setdefault("run", {"command": run["command"], "date": run.get("date"),
                                   "load_average_1min": [
                                       run["device"].get("load_average_1min_at_start"),
                                       run.get("load_average_1min_at_end")]})
        for key in SECTIONS:
            if run.get(key):
                # an already merged file keeps one command per section
                command = (run.get("commands") or {}).get(key, run["command"])
                if key == "training" and "training" in merged:  # rows of several runs
                    merged[key] = merged[key] + run[key]
                    merged["commands"][key] += "; " + command
                else:
                    merged[key] = run[key]
                    merged["commands"][key] = command
        for key in ("device", "precision", "date"):
            merged.setdefault(key, run.get(key))
    merged["command"] = "; ".join(f"{k}: {c}" for k, c in merged["commands"].items())
    with open(out + ".json", "w") as f:
        json.dump(merged, f, indent=1, default=float)
    write_markdown(out + ".md", merged)
    print(f"wrote {out}.json and {out}.md")


def pool_training(paths, model="vaezoo (defaults)", family="mlp", batch_size=128):
    """The per-round ratios to the reference of ``model`` in several runs, pooled.

    Returns (markdown, summary). A run's rounds are pairs timed back to back, so
    every round of every run is one sample of the ratio. The reference's speed is
    bimodal under ``fit`` here, so the summary also gives the ratio over the
    rounds where the reference ran at least 90% as fast as in its best round of
    that run (its fast mode).
    """
    rows, pooled, fast = [], [], []
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        for row in run.get("training") or []:
            models = row["models"]
            if (row["family"], row["batch_size"]) != (family, batch_size) or \
                    model not in models or REFERENCE not in models:
                continue
            ratios = models[model]["per_round_ratios"]
            ref = models[REFERENCE]["rounds"]
            quick = [r for r, v in zip(ratios, ref) if v >= 0.9 * max(ref)]
            pooled += ratios
            fast += quick
            # a merged report keeps each training row's own run (see merge)
            origin = row.get("run") or {"command": (run.get("commands") or {}).get(
                "training", run["command"]), "date": run.get("date")}
            rows.append((origin["command"], origin["date"], len(ratios),
                         models[model]["ratio_to_reference"], statistics.median(ratios)))
    if not pooled:
        raise SystemExit(f"--pool: no {family} batch {batch_size} training rows with "
                         f"{model!r} and the reference in {paths}")
    summary = {"runs": len(rows), "rounds": len(pooled),
               "median_per_round_ratio": statistics.median(pooled),
               "rounds_reference_fast": len(fast),
               "median_per_round_ratio_reference_fast": statistics.median(fast),
               "min": min(pooled), "max": max(pooled)}
    lines = [f"# {model} against the reference, {family} batch {batch_size}: runs pooled", "",
             "| run (command) | date (UTC) | rounds | ratio of medians | median of per-round "
             "ratios |", "|---|---|---|---|---|"]
    lines += [f"| `{c}` | {d} | {n} | {a:.2f}x | {b:.2f}x |" for c, d, n, a, b in rows]
    lines += ["", f"All {len(pooled)} rounds of the {len(rows)} runs: median per-round ratio "
              f"**{summary['median_per_round_ratio']:.2f}x** (range {min(pooled):.2f}x to "
              f"{max(pooled):.2f}x).  ",
              f"The {len(fast)} rounds where the reference ran at least 90% as fast as in its "
              f"best round of the run (its fast mode): median per-round ratio "
              f"**{summary['median_per_round_ratio_reference_fast']:.2f}x**.", ""]
    return "\n".join(lines), summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategy", default="default",
                   choices=["default", "mirrored", "multi_worker", "tpu"])
    p.add_argument("--precision", default="float32",
                   choices=["float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--jit", dest="jit", action="store_true", default=None,
                   help="force XLA for vaezoo (default: VAE.compile's 'auto')")
    p.add_argument("--no-jit", dest="jit", action="store_false")
    p.add_argument("--families", default="mlp,conv")
    p.add_argument("--batch-sizes", default="128,512")
    p.add_argument("--steps", type=int, default=100, help="training steps per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1,
                   help="training: epochs of --steps batches per timed fit call")
    p.add_argument("--eval-examples", type=int, default=10000)
    p.add_argument("--ll-examples", type=int, default=500)
    p.add_argument("--ll-samples", type=int, default=5000)
    p.add_argument("--ll-full", action="store_true",
                   help="log-likelihood over all 10,000 test images (with --ll-samples)")
    p.add_argument("--ll-train-epochs", type=int, default=0)
    p.add_argument("--ll-model", metavar="NAME",
                   help="evaluate this pretrained zoo entry (default: an untrained MLP VAE)")
    p.add_argument("--ll-precision", default="auto", choices=("auto", "float32", "bfloat16"),
                   help="decoder precision of log_likelihood (default auto: bfloat16 on a "
                        "CPU with bfloat16 instructions)")
    p.add_argument("--memory", action="store_true", help="also run the memory probes")
    p.add_argument("--profile", action="store_true",
                   help="also time the pieces of one MLP training step against the bare "
                        "matrix products (float32 and bfloat16)")
    p.add_argument("--skip", default="", help="comma list of: training,elbo,ll")
    p.add_argument("--quick", action="store_true", help="a small smoke run")
    p.add_argument("--no-variants", action="store_true",
                   help="training: time only the defaults (and the reference), so more "
                        "rounds fit in the same time")
    p.add_argument("--out", default=RESULTS, help="path without extension for .json and .md")
    p.add_argument("--memory-probe", nargs=3, metavar=("KIND", "SIZE", "SAMPLES"),
                   help=argparse.SUPPRESS)
    p.add_argument("--pool", nargs="+", metavar="JSON",
                   help="pool the MLP batch-128 training rounds of several runs' JSON files "
                        "into --out.md (the defaults' per-round ratios to the reference)")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="combine the sections of earlier runs' JSON files into --out "
                        "(each section keeps the command that measured it)")
    args = p.parse_args(argv)
    args.families = [f for f in args.families.split(",") if f]
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    args.skip = set(s for s in args.skip.split(",") if s)
    if args.epochs < 1:
        p.error(f"--epochs must be at least 1; got {args.epochs}")
    for fam in args.families:
        if fam not in FAMILIES:
            p.error(f"--families: unknown family {fam!r}; valid: {', '.join(FAMILIES)}")
    if args.quick:
        args.steps, args.rounds = min(args.steps, 30), min(args.rounds, 3)
        args.batch_sizes = args.batch_sizes[:1]
        args.eval_examples, args.ll_examples, args.ll_samples = 2000, 100, 200
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.pool:
        text, summary = pool_training(args.pool)
        with open(args.out + ".md", "w") as f:
            f.write(text)
        print(text)
        print(json.dumps(summary, indent=1))
        return
    if args.merge:
        merge(args.merge, args.out)
        return
    if args.memory_probe:
        kind, size, samples = args.memory_probe
        memory_probe(kind, int(size), int(samples))
        return
    import keras

    from vaezoo import data, distribute

    if args.precision != "float32":
        keras.config.set_dtype_policy(args.precision)
    strategy = distribute.get_strategy(args.strategy)
    device = device_report(strategy)
    print(json.dumps(device, indent=1), flush=True)
    x_train, _ = data.load_arrays("fashion_mnist", "train", binarization="static", seed=0)
    x_test, _ = data.load_arrays("fashion_mnist", "test", binarization="static", seed=0)
    res = {"command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:] if argv is None
                                                                   else argv),
           "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "precision": args.precision,
           "device": device, "data": "fashion_mnist train/test, static binarization seed 0"}
    started = time.perf_counter()
    if "training" not in args.skip:
        res["training"] = bench_training(args, strategy, x_train, device)
    if "elbo" not in args.skip:
        res["elbo"] = bench_elbo(args, strategy, x_test, device)
    if "ll" not in args.skip:
        res["log_likelihood"] = bench_log_likelihood(args, x_train, x_test, device)
    if args.profile:
        res["step_profile"] = bench_step_profile(args, x_train)
    if args.memory:
        res["memory"] = bench_memory(args)
    res["wall_seconds"] = time.perf_counter() - started
    res["load_average_1min_at_end"] = os.getloadavg()[0]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(res, f, indent=1, default=float)
    write_markdown(args.out + ".md", res)
    print(f"wrote {args.out}.json and {args.out}.md in {res['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
