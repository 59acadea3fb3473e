"""tfds split strings as index ranges, for sources that are not tfds (the IDX files).

``"train[10%:20%]+test"`` is read by tfds' own parser
(``tfds.core.ReadInstruction.from_spec``) and resolved against the sizes of
the splits at hand, so the IDX files take every split tfds takes, with tfds'
rounding of percent boundaries (``round(pct * n / 100)``): a slice has the
same size under both sources. tfds stores examples in its own (hashed) order
while the IDX files keep the original order, so ``"train[:10%]"`` is an
equally sized but different subset under the two.
"""

import tensorflow_datasets as tfds

SPLIT_HELP = ('accepted forms (https://www.tensorflow.org/datasets/splits): "train", "test", '
              '"all", "train[:10%]", "train[50000:]", "train[-1000:]", "train[10%:20%]" and '
              'sums such as "train+test" or "train[:10%]+test"')


def read_instruction(split):
    """The tfds read instruction of a split string (its syntax checked, its sizes not yet).

    Raises:
      ValueError: a split tfds cannot parse, a slice of ``"all"``, or a ``shard``
        boundary (files without tfds' shards have no meaning for it).
    """
    if "shard" in str(split):
        raise ValueError(f"Unsupported split {split!r}: shard boundaries exist only in "
                         f"tfds' own files; {SPLIT_HELP}.")
    try:
        return tfds.core.ReadInstruction.from_spec(split)
    except (ValueError, NotImplementedError) as e:  # tfds' "all[:10%]" is a NotImplementedError
        raise ValueError(f"Unsupported split {split!r}; {SPLIT_HELP}. ({e})") from e


def parse_split(split, num_examples):
    """Turns a tfds split string into ``(split_name, start, stop)`` ranges.

    Args:
      split: e.g. ``"train"``, ``"train[:10%]"``, ``"train[50000:]"`` or
        ``"train[:10%]+test"``; or a tfds read instruction.
      num_examples: dict ``{split_name: number of examples}``.

    Returns:
      list of ``(split_name, start, stop)`` with ``0 <= start <= stop <= n``.

    Raises:
      ValueError: a split tfds does not accept, an unknown split name or an
        out-of-range boundary.

    Example:
      >>> parse_split("train[10%:20%]+test", {"train": 60000, "test": 10000})
      [('train', 6000, 12000), ('test', 0, 10000)]
    """
    instruction = read_instruction(split)
    infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[n], num_bytes=0)
             for name, n in num_examples.items()}
    try:
        ranges = instruction.to_absolute(infos)
    except ValueError as e:
        raise ValueError(f"Split {split!r}: {e}") from e
    out = []
    for r in ranges:  # tfds says None for "from the start" / "to the end"
        start = 0 if r.from_ is None else r.from_
        stop = num_examples[r.splitname] if r.to is None else r.to
        out.append((r.splitname, start, max(start, stop)))
    return out
