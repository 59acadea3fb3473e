"""Shared pytest setup: quiet TensorFlow, small thread pools, fixed seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _clear_keras_session():
    yield
    import keras

    # free_memory=False: skip the gc.collect() that made teardowns take seconds.
    keras.backend.clear_session(free_memory=False)
