"""vaezoo.io: the one atomic writer and the file names."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vaezoo import io


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def failing(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        io.atomic_write(target, failing)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_write_json_takes_numpy_values(tmp_path):
    path = io.write_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": np.arange(3),
                                                "c": (1, np.int64(2))})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": [1, 2]}


def test_atomic_replace_dir_swaps_a_whole_directory(tmp_path):
    target = tmp_path / "preset"
    target.mkdir()
    (target / "old.txt").write_text("old")
    io.atomic_replace_dir(target, lambda tmp: (tmp / "new.txt").write_text("new"))
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]

    def failing(tmp):
        (tmp / "half.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        io.atomic_replace_dir(target, failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preset"]
    assert (target / "new.txt").read_text() == "new"
