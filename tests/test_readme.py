"""Every code block of the README runs: the Python blocks in one namespace, in order,
and each ``vaezoo ...`` line of the shell blocks through the CLI, on tfds' mock data
(random images in the real datasets' element structure) and the shipped entries."""

import re
import shlex
from pathlib import Path

import pytest
import tensorflow_datasets as tfds

from vaezoo import cli

README = Path(__file__).resolve().parent.parent / "README.md"
SET_UP = ("make demo", "make test")


def _blocks(language):
    text = README.read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(rf"```{language}\n(.*?)```", text, re.S)]


def _cli_lines(block):
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


def test_readme_stays_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_the_set_up_block_holds_the_two_commands():
    (first, *rest) = _blocks("sh")
    assert [line for line in _cli_lines(first)] == list(SET_UP)
    for block in rest:
        for line in _cli_lines(block):
            assert line.startswith("vaezoo "), f"a README command that is not vaezoo's: {line}"


@pytest.fixture
def mock_data(request, tmp_path, monkeypatch):
    """tfds' mock data, ``num_examples`` per split (``@pytest.mark.parametrize("mock_data",
    [N], indirect=True)``; 200 unless given), in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    with tfds.testing.mock_data(num_examples=getattr(request, "param", 200)):
        yield tmp_path


def test_python_blocks_run(mock_data):
    blocks = _blocks("python")
    assert len(blocks) >= 2   # the quickstart (with the pretrained entries) and the families
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert (mock_data / "vae.keras").is_file()
    assert (mock_data / "my_mlp").is_dir()


# 40 images a split: the commands' cost is mostly their K=1000 evaluations of the test split.
@pytest.mark.parametrize("mock_data", [40], indirect=True)
def test_cli_blocks_run(mock_data):
    lines = [line for block in _blocks("sh")[1:] for line in _cli_lines(block)]
    assert lines, "the README shows no vaezoo command"
    for line in lines:
        argv = shlex.split(line)[1:]
        assert cli.main(argv) in (0, None), line
