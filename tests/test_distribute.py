"""tf.distribute: the same loss trajectory on 1 device, 2 mirrored replicas and 2 workers.

Each configuration runs in its own Python process (TF's device setup is
process-global and must not clash with the other tests): this file is also the
worker program (``python tests/test_distribute.py MODE OUT.json``).

The single-device run and the mirrored run share one process (2 logical CPUs,
the first used alone); the two multi-worker processes start at the same time.

The model is trained with plain SGD, not Adam: Adam is invariant to the scale of
the gradient, so it would hide a wrong loss reduction across replicas (summing
instead of averaging the replicas' gradients doubles the step with SGD).
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 12
GLOBAL_BATCH = 64
LEARNING_RATE = 0.05


# ----------------------------------------------------------------------------- worker side
def _train(mode, strategy):
    import keras
    import tensorflow as tf

    import vaezoo

    rng = np.random.default_rng(0)
    # 8x8 "images" with a little structure (two prototypes + noise), binary.
    protos = rng.uniform(size=(2, 8, 8, 1))
    images = (rng.uniform(size=(STEPS * GLOBAL_BATCH, 8, 8, 1))
              < protos[rng.integers(0, 2, STEPS * GLOBAL_BATCH)]).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices(images).batch(GLOBAL_BATCH)
    if mode == "multi_worker":  # both workers read the same data; Keras shards by batch
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        data = data.with_options(options)

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = vaezoo.MLPVAE(latent_dim=4, hidden_units=(32,), likelihood="bernoulli",
                              image_shape=(8, 8, 1), num_samples=16, seed=0)
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), steps_per_execution=1)

    losses = []
    log = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(np.ravel(logs["loss"])[0])))
    model.fit(data, epochs=1, verbose=0, callbacks=[log])
    final = model.evaluate(data, verbose=0, return_dict=True)
    weights = [float(np.sum(np.asarray(w, np.float64))) for w in model.get_weights()]
    return {"losses": losses, "final_loss": float(np.ravel(final["loss"])[0]),
            "replicas": int(strategy.num_replicas_in_sync), "weight_sums": weights}


def _worker(mode, out_path):
    """``local``: one device, then MirroredStrategy over 2 logical CPUs, in this
    process; ``multi_worker``: this process's part of a 2-worker cluster."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from vaezoo import distribute

    if mode == "local":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        result = {"single": _train("single", distribute.get_strategy("default"))}
        result["mirrored"] = _train("mirrored", distribute.get_strategy(
            "mirrored", devices=["/cpu:0", "/cpu:1"]))
    else:
        result = {"multi_worker": _train(mode, distribute.get_strategy(
            "multi_worker", communication="ring"))}
    with open(out_path, "w") as f:
        json.dump(result, f)


# ----------------------------------------------------------------------------- test side
def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    return env


def _run(mode, tmp_path, env=None, name=None):
    out = tmp_path / f"{name or mode}.json"
    # The log goes to a file, not a pipe: a worker blocked on a full pipe would
    # stall the other worker in the all-reduce.
    log = open(tmp_path / f"{name or mode}.log", "w")
    proc = subprocess.Popen([sys.executable, __file__, mode, str(out)], env=env or _env(),
                            stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log
    return proc, out


def _result(proc, out, timeout=600):
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.log_file.close()
    with open(proc.log_file.name) as f:
        log = f.read()
    assert proc.returncode == 0, log[-3000:]
    with open(out) as f:
        return json.load(f)


@pytest.fixture
def runs(tmp_path):
    """Starts the three processes at once (TF start-up dominates their time)."""
    ports = _free_ports(2)
    procs = {"local": _run("local", tmp_path)}
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index}})
        procs[f"worker{index}"] = _run("multi_worker", tmp_path, env=env, name=f"worker{index}")
    yield procs
    for proc, _ in procs.values():  # e.g. when an assertion failed before every wait
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.log_file.close()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _assert_same_trajectory(got, want):
    assert len(got["losses"]) == len(want["losses"]) == STEPS
    # Identical initial weights and data: the first step's loss differs only by the
    # Monte-Carlo draw of z (16 samples per example).
    np.testing.assert_allclose(got["losses"], want["losses"], rtol=0.01)
    np.testing.assert_allclose(got["final_loss"], want["final_loss"], rtol=0.01)
    # The SGD steps themselves: the summed weights move the same way.
    np.testing.assert_allclose(got["weight_sums"], want["weight_sums"], rtol=0.02, atol=0.05)


def test_single_device_mirrored_and_multi_worker_runs_agree(runs):
    """One test, so that the three processes start once (a module fixture shared by
    several tests is set up again on each pytest-xdist worker that runs one of them)."""
    local = _result(*runs["local"])
    single = local["single"]
    # One device learns.
    assert single["replicas"] == 1
    assert single["final_loss"] < single["losses"][0] - 1.0
    # MirroredStrategy over two logical CPUs of one process follows it.
    mirrored = local["mirrored"]
    assert mirrored["replicas"] == 2
    _assert_same_trajectory(mirrored, single)
    # So do two worker processes under MultiWorkerMirroredStrategy...
    results = [_result(*runs[f"worker{i}"])["multi_worker"] for i in range(2)]
    for result in results:
        assert result["replicas"] == 2
        _assert_same_trajectory(result, single)
    # ...which hold the same (all-reduced) model.
    np.testing.assert_allclose(results[0]["weight_sums"], results[1]["weight_sums"], rtol=1e-5)


def test_get_strategy_rejects_unknown_name_with_the_valid_names():
    from vaezoo import distribute

    with pytest.raises(ValueError, match=r"strategy must be one of .*'mirrored'.*Did you mean "
                                         r"'mirrored'"):
        distribute.get_strategy("mirored")
    with pytest.raises(ValueError, match="devices= only applies"):
        distribute.get_strategy("default", devices=["/cpu:0"])


def test_default_strategy_helpers():
    from vaezoo import distribute

    strategy = distribute.get_strategy("default")
    assert distribute.num_replicas(strategy) == 1
    assert distribute.global_batch_size(128, strategy) == 128
    assert distribute.is_chief(strategy)
    with pytest.raises(ValueError, match="positive integer"):
        distribute.global_batch_size(0)


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
