"""Tests of vaezoo.batches: the one batch unpacker."""

import pytest

from vaezoo.batches import unpack_batch


def test_unpack_batch_forms():
    assert unpack_batch({"image": "x", "label": "y"}) == ("x", "y")
    assert unpack_batch({"image": "x"}) == ("x", None)
    assert unpack_batch(("x", "y")) == ("x", "y")
    assert unpack_batch(["x"]) == ("x", None)
    assert unpack_batch("x") == ("x", None)


def test_unpack_batch_errors_say_what_is_expected():
    with pytest.raises(ValueError, match="'image' key"):
        unpack_batch({"label": 1})
    with pytest.raises(ValueError, match=r"\(images,\) or \(images, labels\)"):
        unpack_batch(())
