"""The board agent: ``python3 agent.pyz`` with one JSON request on stdin, events on stdout.

    {"command": "probe", "workdir": ...}
    {"command": "receive", "path": ..., "sha256": ..., "store": ..., "size": N | "url": ...,
     "slot": ...}
    {"command": "rollback", "slot": ...}
    {"command": "bench", "model": ..., "runtime": ..., "split": ..., "threads": N,
     "protocol": {...}, "options": {...}}
    {"command": "engine", "onnx": ..., "out": ..., "precision": ..., ...}   (TensorRT)
    {"command": "monitor", "interval": S, "seconds": N}   (streams until stopped)
    {"command": "capture", "camera": ..., "frames": N, ...}   (camera frames: agent/capture.py)
    {"command": "serve", "camera": ..., "model": ..., ...}   (live inference: agent/serve.py)

Exit status: 0 ok, 2 bad input (named in an Error event), 3 failure, 128+N on signal N.
"""

from __future__ import annotations

import contextlib
import signal
import sys

from backends import events as ev
from backends.agent.camera import OPENCV_MISSING
from backends.agent.request import Request, emit

_MISSING = {  # what to install when a module the agent needs is not on the board
    "numpy": "numpy is not installed for this Python: install it (pip install 'numpy<2' for "
    "tflite-runtime boards, or apt install python3-numpy)",
    "cv2": OPENCV_MISSING,
}


class Stopped(Exception):
    """SIGTERM or SIGHUP arrived (the workstation gave up, or the connection closed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


def main(stdin: object = None) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    command = "request"
    try:
        request = Request.read(stdin or sys.stdin)
        command = request.command
        return _run(request)
    except Stopped as stop:
        _quietly(
            ev.StageFinished(stage=command, status="interrupted", seconds=0.0, detail=str(stop))
        )
        return 128 + stop.signum
    except BrokenPipeError:  # the workstation hung up: nobody is listening any more
        return 141
    except ModuleNotFoundError as exc:
        if exc.name not in _MISSING:
            raise
        _quietly(ev.Error(stage=command, error_type="BadInput", message=_MISSING[exc.name]))
        return 2
    except Exception as exc:
        from backends.errors import BadInput

        _quietly(ev.Error(stage=command, message=str(exc), error_type=type(exc).__name__))
        return 2 if isinstance(exc, (BadInput, FileNotFoundError, ValueError)) else 3


def _probe(request: Request) -> int:
    from backends.agent.probe import probe

    emit(ev.Result(stage="probe", name="probe", data=probe(request.text("workdir"))))
    return 0


def _run(request: Request) -> int:
    from backends.agent import capture, engine, files, measure, serve
    from backends.errors import BadInput

    commands = {
        "probe": _probe,
        "receive": files.receive,
        "rollback": files.rollback,
        "bench": measure.bench,
        "engine": engine.engine,
        "monitor": measure.monitor,
        "capture": capture.capture,
        "serve": serve.serve,
    }
    if request.command not in commands:
        raise BadInput(f"unknown command {request.command!r} (this agent: {', '.join(commands)})")
    return commands[request.command](request)


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def _quietly(event: ev.Event) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        emit(event)


if __name__ == "__main__":
    sys.exit(main())
