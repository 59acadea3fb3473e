"""What every benchmark script shares: its environment, the machine it ran on, its
command line and its results files.

Each script runs as ``python benchmarks/NAME.py`` (so this folder is on
``sys.path``) and imports this module before TensorFlow, which quiets
TensorFlow's C++ log. A result records the command that reruns it, the date, the
CPU (its model name and which of ``CPU_FLAGS`` it has: they decide the
matrix-product kernels TensorFlow runs) and the library versions; it is written
as ``NAME.json`` and ``NAME.md`` in ``--output-dir`` (default
``benchmarks/results/``), each file atomically.

Example::

    import common                       # first: sets the environment

    parser = argparse.ArgumentParser()
    common.add_output_dir(parser)
    args = parser.parse_args()
    result = {**common.provenance(), "figure": 1.0}
    common.write_results(Path(args.output_dir) / "name", result, "# markdown\\n")

It also holds the independent judge of generated images that several scripts
train: ``classifier`` (a small CNN) and ``fit_classifier``.
"""

import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Where the canonical results live, one ``.json`` and one ``.md`` per benchmark.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: The flags docs/benchmarks.md names each CPU by
#: (``grep -o -w -E "avx512_bf16|avx512f|avx2" /proc/cpuinfo | sort -u``).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16")
#: What ``classifier`` is, as the results files name it.
CLASSIFIER = "CNN conv32-pool-conv64-pool-dense128-10"


def cpu(cpuinfo="/proc/cpuinfo"):
    """``{"model", "flags", "cores"}``: the CPU's model name (``grep -m1 'model name'
    /proc/cpuinfo``), the ``CPU_FLAGS`` it has and its core count."""
    model, flags = platform.processor() or platform.machine() or "unknown", []
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        text = ""
    names = [line.split(":", 1)[1].strip() for line in text.splitlines()
             if line.startswith("model name")]
    model = names[0] if names else model
    words = set(text.split())
    flags = [flag for flag in CPU_FLAGS if flag in words]
    return {"model": model, "flags": flags, "cores": os.cpu_count()}


def describe_cpu(info):
    """One line naming a ``cpu()`` record, as the markdown reports print it."""
    flags = " ".join(info["flags"]) or f"none of {'/'.join(CPU_FLAGS)}"
    return f"{info['model']}, {info['cores']} cores, flags {flags}"


def command(argv=None):
    """The command line that reruns this script: ``python benchmarks/NAME.py ARGS``."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *args])


def provenance(argv=None):
    """The command, the UTC date, the CPU, the 1-minute load average and the versions."""
    import keras
    import tensorflow as tf

    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {"command": command(argv),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": cpu(), "load_average_1min": load,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                         "python": platform.python_version()}}


def add_output_dir(parser):
    """The ``--output-dir`` option every benchmark takes (default ``benchmarks/results``)."""
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR,
                        help="where NAME.json and NAME.md are written (default: %(default)s)")


def read_json(path, default):
    """The JSON content of ``path``, or ``default`` when there is no such file (runs merge)."""
    import json

    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else default


def write_results(stem, result, markdown):
    """Write ``stem.json`` (``result``) and ``stem.md`` (``markdown``), each atomically."""
    from vaezoo import io

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    io.write_json(stem.with_name(stem.name + ".json"), result)
    io.write_text(stem.with_name(stem.name + ".md"), markdown)


def classifier(seed):
    """The independent judge of generated 28x28x1 images: a small CNN (``CLASSIFIER``),
    10 logits, its weights and dropout seeded by ``seed`` (``keras.utils.set_random_seed``)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.3), keras.layers.Dense(10)])


def fit_classifier(seed, x, y, x_test, y_test, epochs):
    """``classifier(seed)`` trained on real images ``x`` (in [0, 1]) and labels ``y`` (Adam
    1e-3, batches of 128): ``(model, accuracy on x_test / y_test, training seconds)``."""
    import keras
    import numpy as np

    clf = classifier(seed)
    clf.compile(keras.optimizers.Adam(1e-3),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.time()
    clf.fit(x, y, batch_size=128, epochs=epochs, verbose=2)
    seconds = time.time() - start
    accuracy = float(np.mean(clf.predict(x_test, batch_size=1000, verbose=0).argmax(-1) == y_test))
    return clf, accuracy, seconds
