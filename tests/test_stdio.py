"""Silencing native stderr from several threads at once (the app runs workers side by side)."""

from __future__ import annotations

import os
import threading

from backends.stdio import native_stderr_silenced


def _target() -> tuple[int, int]:
    info = os.fstat(2)
    return info.st_dev, info.st_ino


def test_overlapping_silenced_blocks_leave_stderr_as_it_was() -> None:
    """A enters, B enters, A leaves, B leaves: nested save/restore pairs used to leave fd 2 on
    /dev/null for good (B saved the silenced descriptor and put it back last)."""
    before = _target()
    devnull = os.stat(os.devnull)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, int]] = []

    def first() -> None:
        with native_stderr_silenced():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second() -> None:
        a_in.wait(5)
        with native_stderr_silenced():
            b_in.set()
            a_out.wait(5)
            seen.append(_target())  # still silenced: the other thread's exit must not undo it

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [(devnull.st_dev, devnull.st_ino)]
    assert _target() == before
