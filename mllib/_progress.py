"""Engine work called from Python: run in a thread, its events shown as a progress bar in
Jupyter (nothing anywhere else), stopped by the kernel's interrupt the way the CLI stops it.

The work runs in a thread so that the engine's own event loops (boards, storage) work under a
notebook's running loop, and so that the caller's thread stays free to draw progress and to
take the interrupt: Ctrl-C (or the kernel's interrupt) makes the work's next event raise
``Cancelled``, the work's catalog job ends ``interrupted`` with what it finished kept, and the
caller gets ``KeyboardInterrupt`` once the work has stopped.
"""

from __future__ import annotations

import html
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from backends import events as ev
from backends.errors import Cancelled

T = TypeVar("T")
_DONE = object()


class MllibWarning(UserWarning):
    """What the engine warns about during a call (a conversion that missed its gate, an
    unverified TLS endpoint): shown every time, not once per place in the code."""


warnings.simplefilter("always", MllibWarning)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (not in a terminal IPython or a plain interpreter)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return shell is not None and hasattr(shell, "kernel")


class NotebookProgress:
    """One line in the notebook, redrawn in place: the stage, a bar and its last message."""

    def __init__(self) -> None:
        from IPython.display import HTML, display

        self._html = HTML
        self._handle = display(HTML(""), display_id=True)
        self._stage, self._text, self._fraction = "", "", 0.0
        self._drawn = 0.0

    def __call__(self, event: ev.Event) -> None:
        board = getattr(event, "board", None)
        where = event.stage + (f" on {board}" if board else "")
        if isinstance(event, ev.StageStarted):
            self._stage, self._text, self._fraction = where, event.title, 0.0
        elif isinstance(event, ev.Progress):
            self._stage = where
            if event.total:
                self._fraction = min(1.0, event.done / event.total)
            unit = f" {event.unit}" if event.unit else ""
            total = f"/{event.total:g}" if event.total else ""
            self._text = f"{event.done:g}{total}{unit} {event.message}".strip()
        elif isinstance(event, ev.Metric):
            epoch = f" (epoch {event.epoch})" if event.epoch is not None else ""
            self._text = f"{event.name} {event.value:.4g}{epoch}"
        elif isinstance(event, ev.StageFinished):
            self._fraction, self._text = 1.0, f"{event.status} in {event.seconds:.1f} s"
        elif isinstance(event, ev.Error):
            self._text = f"error: {event.message}"
        else:
            return
        self.draw(force=isinstance(event, ev.StageFinished | ev.Error))

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:  # at most ten redraws a second
            return
        self._drawn = now
        self._handle.update(
            self._html(
                f"<code>{html.escape(self._stage)}</code> "
                f'<progress value="{self._fraction:.3f}" max="1" style="width:30em"></progress> '
                f"{html.escape(self._text)}"
            )
        )


def call(
    work: Callable[[ev.Emit], T],
    *,
    progress: bool | None = None,
    on_event: ev.Emit | None = None,
) -> T:
    """Run ``work(emit)`` and return what it returns (or raise what it raised). ``progress``:
    False turns the notebook progress bar off (there is none outside Jupyter); ``on_event``:
    also give every event to this function, on the caller's thread."""
    shown = NotebookProgress() if progress is not False and in_notebook() else None
    stop = threading.Event()
    stopped = threading.Event()  # set by the work itself, as the last thing it does
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    outcome: dict[str, Any] = {}

    def emit(event: ev.Event) -> None:
        if stop.is_set():
            raise Cancelled("interrupted from Python")
        events.put(event)

    def run() -> None:
        try:
            outcome["value"] = work(emit)
        except BaseException as exc:  # re-raised on the caller's thread
            outcome["error"] = exc
        finally:
            events.put(_DONE)
            stopped.set()

    thread = threading.Thread(target=run, name="mllib-work", daemon=True)
    thread.start()
    try:
        while (event := _next(events)) is not _DONE:
            if event is None:
                continue
            if isinstance(event, ev.Log) and event.level == "warning":
                warnings.warn(event.message, MllibWarning, stacklevel=3)
            if shown is not None:
                shown(event)
            if on_event is not None:
                on_event(event)
    except BaseException as stopping:  # the interrupt, or a failure here: the work stops first
        stop.set()  # the work stops at its next event; its job is marked interrupted
        _wait(stopped)
        error = outcome.get("error")
        if error is not None and not isinstance(error, Cancelled):
            stopping.add_note(f"while stopping, the work failed: {type(error).__name__}: {error}")
        raise
    if shown is not None:
        shown.draw(force=True)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _wait(stopped: threading.Event) -> None:
    """Wait for the work to stop, through further interrupts (the work stops at its next step:
    leaving it running would leave its job running too). The work's own flag, not the thread's
    liveness: an interrupt inside ``Thread.join`` can leave a live thread marked stopped
    (CPython's bpo-45274 recovery), and the caller would then exit before the job is marked."""
    while not stopped.is_set():
        try:
            stopped.wait(0.2)
        except KeyboardInterrupt:
            continue


def _next(events: queue.SimpleQueue[Any]) -> Any:
    """The next event, or None after a short wait (so an interrupt is taken promptly)."""
    try:
        return events.get(timeout=0.1)
    except queue.Empty:
        return None
