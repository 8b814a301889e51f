"""Native libraries (TensorFlow, the TFLite converter, LiteRT) print notices straight to file
descriptor 2, bypassing Python's logging, and they would interleave with our progress output.

``native_stderr_silenced`` points fd 2 at /dev/null for the duration of a block. Python-level
errors are unaffected: they are raised as exceptions (with the library's message) and shown by
the caller after the block. Standard library only (boards use it too).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
