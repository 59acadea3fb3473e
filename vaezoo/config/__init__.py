"""Zoo configs: one TOML file per entry, parsed safely, composed, validated.

==========  ================================================================
``files``   where configs live, reading, ``base`` composition, loading, writing
``schema``  ``SCHEMA`` and ``validate``: every table and key, with its type
``build``   the model and the optimizer a config describes
==========  ================================================================

See ``vaezoo.config.files`` for the file format and composition, and
``vaezoo.config.schema`` for validation.

Example:
  >>> from vaezoo import config
  >>> cfg = config.load_config("mlp_vae_fashion_mnist")
  >>> cfg["model"]["class"], cfg["data"]["batch_size"]
  ('MLPVAE', 128)
  >>> model = config.model_from_config(cfg)        # untrained, built for 28x28x1
"""

from vaezoo.config.build import model_from_config, model_kwargs, optimizer_from_config
from vaezoo.config.files import (PRETRAINED_DIR, ZOO_CONFIG_DIR, deep_merge, dump_config,
                                 load_config, load_raw, read_toml, resolve_path, save_config,
                                 zoo_config_names)
from vaezoo.config.schema import (OPTIMIZERS, SCHEDULES, SCHEMA, TOP_LEVEL, constructor_args,
                                  model_class, model_classes, validate)

__all__ = ["SCHEMA", "ZOO_CONFIG_DIR", "PRETRAINED_DIR", "load_config", "validate",
           "model_from_config", "optimizer_from_config", "dump_config", "save_config",
           "zoo_config_names", "resolve_path", "model_classes", "model_class",
           "constructor_args", "model_kwargs", "deep_merge", "load_raw", "read_toml",
           "OPTIMIZERS", "SCHEDULES", "TOP_LEVEL"]
