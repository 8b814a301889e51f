"""Errors the engine raises on purpose. Front ends map them to exit codes in one place."""

import os


class MllibError(Exception):
    """Base class: the message is one line a user can act on."""


class BadInput(MllibError):
    """A file, field, option or workspace is wrong; the message names it and says what to do."""


class StageFailed(MllibError):
    """A stage could not finish for a reason that is not the user's input."""


class Interrupted(StageFailed):
    """Work stopped before it finished (a board dropped, a process was stopped); what finished
    is kept and the work can be resumed."""


class GateFailed(MllibError):
    """A quality gate was missed; the message names the failing row and the threshold."""


class Cancelled(MllibError):
    """The caller asked the running stage to stop."""


def read_input(path: "os.PathLike[str] | str", what: str = "file") -> bytes:
    """The bytes of a file the user named; a missing or unreadable one is one ``BadInput``."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise BadInput(f"{path}: {what} not found") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror})") from None
