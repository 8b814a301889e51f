"""What the agent is asked, and how it knows to stop.

A request is one JSON object on the first line of stdin (``{"command": "bench", ...}``): the
workstation and the agent share its fields, so no command line is rebuilt by hand on either
side, and nothing in it (a presigned URL) shows in ``ps``. Every line on stdout is one event.

A long command (``monitor``, and live capture or serving later) runs until it is stopped: by
the workstation closing stdin, by the connection dropping (sshd closes stdin and sends
SIGHUP), by SIGTERM, or by the request's own time limit.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from backends import events as ev
from backends.errors import BadInput

_MISSING = object()


def emit(event: ev.Event) -> None:
    sys.stdout.write(ev.encode(event) + "\n")
    sys.stdout.flush()


def emit_payload(event: ev.Event, data: bytes) -> None:
    """An event's line, then its ``size`` bytes of payload, raw (a frame's JPEG, a served mask:
    a third less to send than base64 in the line; the workstation reads exactly that many)."""
    sys.stdout.flush()  # whatever text went before, then the line and the bytes in one write
    sys.stdout.buffer.write(ev.encode(event).encode() + b"\n" + data)
    sys.stdout.buffer.flush()


class Request:
    """The fields of one request, read with their types checked (a wrong field is one line)."""

    def __init__(self, fields: dict[str, Any], stream: Any) -> None:
        self.fields, self._stream = fields, stream
        self.command = self.text("command")

    @classmethod
    def read(cls, stream: Any) -> Request:
        try:
            fields = json.loads(stream.readline())
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            raise BadInput('the agent takes one JSON object on stdin, e.g. {"command": "probe"}')
        return cls(fields, stream)

    def stop(self) -> Stop:
        """For a long command: when to end (stdin closed, or the request's ``seconds``)."""
        seconds = self.number("seconds", None)
        return Stop(self._stream, float(seconds) if seconds else None)

    def _get(self, key: str, kinds: tuple[type, ...], default: Any) -> Any:
        value = self.fields.get(key)
        if value is None:
            if default is _MISSING:
                raise BadInput(f"request {self.command_name}: field {key!r} is missing")
            return default
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise BadInput(f"request {self.command_name}: field {key!r} is malformed")
        return value

    @property
    def command_name(self) -> str:
        return repr(self.fields.get("command"))

    def text(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, (str,), default)

    def number(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, (int, float), default)

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self._get(key, (bool,), default))

    def table(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, (dict,), default)

    def size(self, key: str) -> tuple[int, int] | None:
        """A [width, height] in pixels, or None when not given."""
        value = self._get(key, (list,), None)
        if value is None:
            return None
        if len(value) != 2 or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 16384 for n in value
        ):
            raise BadInput(f"request {self.command_name}: field {key!r} must be [width, height]")
        return value[0], value[1]


class Stop:
    """When a long command should end: stdin closed (the workstation's way to stop it, and what
    a dropped connection does) or its time limit passed. Signals raise ``Stopped`` instead."""

    def __init__(self, stream: Any, seconds: float | None) -> None:
        self._closed = threading.Event()
        self._deadline = None if seconds is None else time.monotonic() + seconds
        threading.Thread(target=self._watch, args=(stream,), daemon=True).start()

    def _watch(self, stream: Any) -> None:
        while stream.readline():
            pass  # nothing more is read after the request: only the end of input matters
        self._closed.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the command should end now."""
        if self._deadline is not None:
            seconds = min(seconds, max(0.0, self._deadline - time.monotonic()))
        return self._closed.wait(seconds) or self.reached()

    def reached(self) -> bool:
        past = self._deadline is not None and time.monotonic() >= self._deadline
        return self._closed.is_set() or past

    @property
    def reason(self) -> str:
        return "the workstation stopped it" if self._closed.is_set() else "time limit"
