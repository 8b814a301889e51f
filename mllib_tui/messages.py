"""Messages the app's workers post; handlers on the event loop own all state."""

from __future__ import annotations

from textual.message import Message

from backends import events as ev
from mllib_tui.state import Snapshot


class EngineEvent(Message):
    """An engine event from a worker. A flood of progress for one stage collapses to the newest
    (``can_replace``), so a fast loop never backs up the message queue."""

    def __init__(self, event: ev.Event, job: str) -> None:
        super().__init__()
        self.event = event
        self.job = job  # which worker: "demo", "train", "convert", "probe", "bench:BOARD", ...

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, EngineEvent)
            and isinstance(self.event, ev.Progress)
            and isinstance(message.event, ev.Progress)
            and message.event.stage == self.event.stage
        )


class WorkspaceLoaded(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class JobEnded(Message):
    """A worker finished: ``error`` is the one-line reason when it failed; ``board`` is the
    board the job worked on, if it was one board's."""

    def __init__(self, job: str, error: str | None, board: str | None = None) -> None:
        super().__init__()
        self.job = job
        self.error = error
        self.board = board
