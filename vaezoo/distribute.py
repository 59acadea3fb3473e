r"""tf.distribute strategies by name, for training and evaluating vaezoo models.

A Keras 3 model trains under a strategy when it is *built and compiled inside
the strategy's scope*; ``fit`` / ``evaluate`` then split every global batch
over the replicas and all-reduce the gradients::

    strategy = vaezoo.distribute.get_strategy("mirrored")
    with strategy.scope():
        model = vaezoo.MLPVAE(latent_dim=50, image_shape=(28, 28, 1), binarization="static")
        model.compile(optimizer="adam")
    model.fit(train.batch(global_batch), epochs=10)     # global_batch = 128 * R
    model.evaluate(test.batch(global_batch))             # distributed too

Loss reduction across replicas
------------------------------
With R replicas each replica computes the mean loss of its B/R examples, and
Keras' optimizer *sums* the replicas' gradients. ``VAE.train_step`` therefore
differentiates ``loss / R``, so the update is the gradient of the mean over the
global batch of B examples, the same as on one device (equal shards). The
metrics (``loss``, ``elbo``, ``rate``, ``distortion``) are per-replica means,
averaged over replicas by Keras. ``tests/test_distribute.py`` checks that the
loss trajectory under MirroredStrategy (2 logical CPUs) and
MultiWorkerMirroredStrategy (2 processes on localhost) matches one device with
the same global batch.

Strategies
----------
* ``"default"``: no distribution (``tf.distribute.get_strategy()``).
* ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over all local GPUs (or
  the given ``devices``); synchronous data parallelism on one machine.
* ``"multi_worker"``: ``tf.distribute.MultiWorkerMirroredStrategy``: one
  process per machine (or per process on one machine), the cluster described
  by the ``TF_CONFIG`` environment variable, e.g. for worker 0 of 2::

      TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                  "task": {"type": "worker", "index": 0}}'

  Every worker runs the same program; worker 0 (the chief) should be the one
  that writes checkpoints and results.
* ``"tpu"``: ``tf.distribute.TPUStrategy`` on the TPU named by ``tpu`` (or
  ``$TPU_NAME``, or the local TPU VM when both are empty).
"""

import json
import os
import warnings

import tensorflow as tf

from vaezoo.registry import lookup

__all__ = ["STRATEGIES", "get_strategy", "num_replicas", "global_batch_size", "is_chief"]

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def _default(devices=None, tpu=None, communication=None):
    return tf.distribute.get_strategy()


def _mirrored(devices=None, tpu=None, communication=None):
    return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)


def _multi_worker(devices=None, tpu=None, communication=None):
    config = os.environ.get("TF_CONFIG")
    if not config:
        warnings.warn(
            "strategy 'multi_worker' without a TF_CONFIG environment variable runs as a single "
            "worker; set TF_CONFIG on every worker to describe the cluster (see "
            "vaezoo.distribute)", RuntimeWarning, stacklevel=3)
    else:
        try:
            json.loads(config)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"TF_CONFIG is not valid JSON ({err}); expected e.g. "
                '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
                '"task": {"type": "worker", "index": 0}}') from None
    implementation = {
        None: tf.distribute.experimental.CommunicationImplementation.AUTO,
        "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
        "ring": tf.distribute.experimental.CommunicationImplementation.RING,
        "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
    }
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=lookup("communication", communication, implementation))
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _tpu(devices=None, tpu=None, communication=None):
    name = tpu if tpu is not None else os.environ.get("TPU_NAME", "")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError, RuntimeError) as err:
        raise ValueError(
            f"strategy 'tpu': no TPU found (tpu={name!r}: {err}). Run on a TPU VM, or pass "
            "tpu='grpc://HOST:8470' / set TPU_NAME, or use strategy 'default' or "
            "'mirrored'.") from None
    return tf.distribute.TPUStrategy(resolver)


_FACTORIES = {"default": _default, "mirrored": _mirrored, "multi_worker": _multi_worker,
              "tpu": _tpu}


def get_strategy(name="default", *, devices=None, tpu=None, communication=None):
    """A ``tf.distribute.Strategy`` by name.

    Args:
      name: one of ``"default"``, ``"mirrored"``, ``"multi_worker"``, ``"tpu"``.
      devices: for ``"mirrored"``, the devices to mirror over (default: all
        GPUs, or the CPU when there is none), e.g. ``["/cpu:0", "/cpu:1"]``.
      tpu: for ``"tpu"``, the TPU name or ``grpc://`` address.
      communication: for ``"multi_worker"``, the all-reduce implementation:
        ``"auto"`` (default), ``"ring"`` (gRPC, any device) or ``"nccl"`` (GPUs).

    Returns:
      the strategy; build and compile the model inside ``strategy.scope()``.

    Raises:
      ValueError: for an unknown name (with the valid names), a malformed
        ``TF_CONFIG``, or ``"tpu"`` where no TPU can be reached.

    Example:
      >>> strategy = get_strategy("mirrored")
      >>> with strategy.scope():
      ...     model = vaezoo.MLPVAE(image_shape=(28, 28, 1), binarization="static")
      ...     model.compile(optimizer="adam")
    """
    factory = lookup("strategy", name, _FACTORIES)
    if devices is not None and name != "mirrored":
        raise ValueError(f"devices= only applies to strategy 'mirrored'; got strategy {name!r}")
    return factory(devices=devices, tpu=tpu, communication=communication)


def num_replicas(strategy=None):
    """Replicas that take part in each step (1 without a strategy)."""
    strategy = strategy or tf.distribute.get_strategy()
    return int(strategy.num_replicas_in_sync)


def global_batch_size(per_replica_batch_size, strategy=None):
    """The batch size to give ``fit`` so each replica sees ``per_replica_batch_size``."""
    if isinstance(per_replica_batch_size, bool) or not isinstance(per_replica_batch_size, int) \
            or per_replica_batch_size <= 0:
        raise ValueError(
            f"per_replica_batch_size must be a positive integer; got {per_replica_batch_size!r}")
    return per_replica_batch_size * num_replicas(strategy)


def is_chief(strategy=None):
    """Whether this process should write checkpoints and results.

    True except on the non-chief workers of a multi-worker strategy.
    """
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs)
