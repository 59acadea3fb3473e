"""Shared pytest setup: quiet TensorFlow, small thread pools, fixed seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from the same global seeds (Python, NumPy, TensorFlow, Keras), so
    the weights a test initialises do not depend on which tests its worker ran before."""
    import keras

    keras.utils.set_random_seed(0)
    yield

    # free_memory=False: skip the gc.collect() that made teardowns take seconds.
    keras.backend.clear_session(free_memory=False)
