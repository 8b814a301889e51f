"""Native libraries (TensorFlow, the TFLite converter, LiteRT) print notices straight to file
descriptor 2, bypassing Python's logging, and they would interleave with our progress output.

``native_stderr_silenced`` points fd 2 at /dev/null for the duration of a block. Python-level
errors are unaffected: they are raised as exceptions (with the library's message) and shown by
the caller after the block. Standard library only (boards use it too).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_silencers = 0  # blocks inside native_stderr_silenced, across threads
_saved: int | None = None  # the real fd 2 while any block is open


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """fd 2 points at /dev/null while any thread is inside such a block: the first block in
    saves the real stderr, the last one out puts it back (two workers, each loading a model,
    must not leave stderr silenced for good, as nested save/restore pairs would)."""
    global _silencers, _saved
    with _lock:
        if _silencers == 0:
            _saved = os.dup(2)
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
        _silencers += 1
    try:
        yield
    finally:
        with _lock:
            _silencers -= 1
            if _silencers == 0 and _saved is not None:
                os.dup2(_saved, 2)
                os.close(_saved)
                _saved = None
