"""The tfds source: ``tfds.load``, with a quick "cannot" instead of a long wait.

``load_tfds`` returns what ``tfds.load(name, split=split)`` returns, or raises
``TfdsUnavailable`` with a short reason, so that ``vaezoo.data.load`` can fall
back to the IDX files. Data tfds serves without preparing come first, so
inside ``tfds.testing.mock_data(...)`` every data set is tfds' generated data,
offline, as with ``tfds.load``.
"""

import functools
import socket
import threading

import tensorflow_datasets as tfds

#: The server tfds downloads from; ``network_error`` checks it answers.
DOWNLOAD_HOST, DOWNLOAD_PORT = "storage.googleapis.com", 443


class TfdsUnavailable(Exception):
    """tfds cannot provide the data set; the message says why."""


# Why the probe: tfds' downloader sets no timeout and retries, so where the network
# drops packets an unprepared data set would wait minutes before the IDX fallback.
@functools.lru_cache(maxsize=None)
def network_error(host=DOWNLOAD_HOST, port=DOWNLOAD_PORT, timeout=3.0):
    """None if ``host:port`` accepts a TCP connection within ``timeout`` s, else a short reason.

    DNS lookups cannot be timed out, so the connection is tried in a daemon
    thread and abandoned after ``timeout``. The answer is cached per process.
    """
    result = [None]

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result[0] = None
        except OSError as e:
            result[0] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return "timed out after %gs" % timeout if t.is_alive() else result[0]


def _short(exc, limit=160):
    """The first line of an exception, with its type, at most ``limit`` characters."""
    text = str(exc).strip().splitlines()
    text = text[0] if text else ""
    msg = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def load_tfds(name, split, data_dir, precheck):
    """``tfds.load(name, split=split, data_dir=data_dir)``, or ``TfdsUnavailable``.

    Args:
      name, split, data_dir: as for ``tfds.load``.
      precheck: for a data set not prepared yet, give up at once when the
        download server is unreachable (``network_error``) instead of waiting
        for tfds' network timeouts.

    Returns:
      the unbatched ``tf.data.Dataset``.

    Raises:
      TfdsUnavailable: any tfds failure, with a one-line reason.
    """
    try:
        if precheck:
            builder = tfds.builder(name, data_dir=data_dir)
            if not builder.is_prepared():
                # Data tfds serves without preparing (``tfds.testing.mock_data``) comes
                # first; an unprepared builder fails here at once, without the network.
                try:
                    return builder.as_dataset(split=split)
                except Exception:  # noqa: BLE001 - not there: download, if that can work
                    pass
                reason = network_error()
                if reason is not None:
                    raise TfdsUnavailable(
                        f"not prepared in {builder.data_dir} and cannot download "
                        f"({DOWNLOAD_HOST}:{DOWNLOAD_PORT} unreachable: {reason})")
        return tfds.load(name, split=split, data_dir=data_dir)
    except TfdsUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - any tfds failure means "unavailable"
        raise TfdsUnavailable(_short(e)) from e
