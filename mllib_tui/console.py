"""The CLI's Rich consoles. In a terminal Rich fits the output to its width; piped or
redirected, Rich would wrap at 80 columns (a path split in two, an epoch's `val mIoU` and its
value on two lines), so there nothing is wrapped unless ``COLUMNS`` asks for a width."""

from __future__ import annotations

import os

from rich.console import Console

UNWRAPPED = 10_000  # the width of a console that is not a terminal: lines are never wrapped


def new_console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = UNWRAPPED
    return console
