"""The Keras workflows a user tries first, on every VAE family (``harness.FAMILIES``).

Each family runs ``harness.check_keras_workflows`` (summary, fit with validation,
EarlyStopping, ModelCheckpoint, TensorBoard when installed, load_weights,
BackupAndRestore, export); the test here adds what needs a fresh process
(``import vaezoo`` is enough for ``keras.models.load_model``).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from harness import FAMILIES, check_keras_workflows, family_model, workflow_data
from vaezoo import config


def test_every_family_is_registered_for_the_workflows():
    families = set(config.model_classes()) - {"VAE"}
    missing = sorted(families - set(FAMILIES))
    assert not missing, f"add a line for {missing} to tests/harness.py FAMILIES"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_keras_workflows(name, tmp_path):
    images, labels = workflow_data()
    check_keras_workflows(lambda **kw: family_model(name, **kw), images, labels, tmp_path)


def test_load_model_after_plain_import_vaezoo(tmp_path):
    """A fresh process that only does ``import vaezoo`` loads every family's .keras file."""
    images, labels = workflow_data(n=4)
    cases = {}
    for name in FAMILIES:
        model = family_model(name, image_shape=images.shape[1:])
        model.compile(optimizer="adam")
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        args = (images, labels) if model.is_conditional else (images,)
        np.save(tmp_path / f"{name}.npy", np.asarray(model.reconstruct(*args)))
        cases[name] = path
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    script = f"""
import json, sys
import numpy as np
import vaezoo
assert "tensorflow" not in sys.modules, "import vaezoo imported TensorFlow"
import keras
images, labels = np.load({str(tmp_path / "images.npy")!r}), np.load({str(tmp_path / "labels.npy")!r})
out = {{}}
for name, path in {cases!r}.items():
    model = keras.models.load_model(path)
    args = (images, labels) if model.is_conditional else (images,)
    error = np.abs(np.asarray(model.reconstruct(*args)) - np.load(path[:-len(".keras")] + ".npy"))
    out[name] = [type(model).__name__, float(error.max()), model.compiled]
print(json.dumps(out))
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name in FAMILIES:
        cls, error, compiled = results[name]
        assert cls == name and error < 1e-6 and compiled, (name, results[name])
