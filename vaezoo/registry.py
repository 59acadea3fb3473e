"""Name -> class tables for priors, posteriors, likelihoods and objectives.

Options enter the library by name; this is the one place that turns a name
into a class and, for a bad name, says which names are valid.
"""

import difflib


def close_matches(name, names, n=3):
    """Names in ``names`` that look like ``name`` (for error messages)."""
    return difflib.get_close_matches(str(name), list(names), n=n, cutoff=0.5)


def did_you_mean(name, names):
    """``" Did you mean 'a', 'b'?"`` for the names like ``name``, or ``""`` (for error messages)."""
    hint = close_matches(name, names)
    return f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""


def lookup(kind, name, table):
    """Return ``table[name]`` or raise a ValueError listing the valid names."""
    if isinstance(name, str) and name in table:
        return table[name]
    hint = did_you_mean(name, table)
    valid = ", ".join(repr(k) for k in sorted(table))
    raise ValueError(f"{kind} must be one of {valid}; got {name!r}.{hint}")


def check_name(kind, name, names):
    """``name`` if it is one of ``names``, else ``lookup``'s ValueError listing them."""
    return lookup(kind, name, {n: n for n in names})


def build(kind, name, table, *args, **kwargs):
    """``table[name](*args, **kwargs)``; a bad name or bad ``{kind}_kwargs`` is a ValueError."""
    cls = lookup(kind, name, table)
    try:
        return cls(*args, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad {kind}_kwargs for {name!r}: {e}") from None
