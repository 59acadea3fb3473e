"""Training runs: a zoo config in, a run directory out, crash-safe and resumable.

One module per job:

==================  ============================================================
``loop``            ``train``: the run directory, resume, the epoch loop
``datasets``        train / validation / test splits, each epoch's batches
``run_config``      the run's config: resolved, checked, completed, hashed
``checkpoints``     the checkpoint format: save, read, restore, list, prune
``guard``           ``NonFiniteGuard`` and ``TrainingDiverged``
``run_evaluation``  the final metrics, the pictures, ``evaluate``
==================  ============================================================

The file names of a run directory are ``vaezoo.io``'s; every file is written
with ``vaezoo.io.atomic_write``.

Example:
  >>> from vaezoo import training
  >>> metrics = training.train("mlp_vae_fashion_mnist", "runs/mlp", epochs=10)
  >>> metrics["test"]["log_likelihood"]
  >>> training.evaluate("runs/mlp", num_samples=5000)
"""

from vaezoo.training.checkpoints import (checkpoint_path, latest_checkpoint, list_checkpoints,
                                         read_checkpoint, restore_checkpoint, save_checkpoint)
from vaezoo.training.datasets import epoch_seed
from vaezoo.training.guard import NonFiniteGuard, TrainingDiverged, watch_nonfinite
from vaezoo.training.loop import train
from vaezoo.training.run_config import resolve_config
from vaezoo.training.run_evaluation import evaluate

__all__ = ["train", "evaluate", "TrainingDiverged", "NonFiniteGuard", "watch_nonfinite",
           "checkpoint_path", "save_checkpoint", "read_checkpoint", "restore_checkpoint",
           "latest_checkpoint", "list_checkpoints", "epoch_seed", "resolve_config"]
