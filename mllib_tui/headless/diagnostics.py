"""stderr and exit codes, defined here and nowhere else.

| code | meaning |
|------|---------|
| 0    | every stage finished and every gate passed |
| 1    | a quality gate failed (the line names the row) |
| 2    | bad input or configuration (the line names the file, field or option) |
| 3    | a stage failed for another reason |
| 130  | interrupted (Ctrl-C) |
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from enum import IntEnum

import typer
from rich.markup import escape

from backends.errors import BadInput, Cancelled, GateFailed, MllibError, StageFailed
from mllib_tui.console import new_console

stderr = new_console(stderr=True)


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    BAD_INPUT = 2
    STAGE_FAILED = 3
    INTERRUPTED = 130


_CODES: dict[type[MllibError], ExitCode] = {
    GateFailed: ExitCode.GATE_FAILED,
    BadInput: ExitCode.BAD_INPUT,
    StageFailed: ExitCode.STAGE_FAILED,
    Cancelled: ExitCode.INTERRUPTED,
}


def exit_code(error: MllibError) -> ExitCode:
    for kind, code in _CODES.items():
        if isinstance(error, kind):
            return code
    return ExitCode.STAGE_FAILED


def error_line(message: str) -> None:
    """One line on stderr (styled on a terminal, plain elsewhere), never wrapped."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def exit_for_boards(results: Mapping[str, object]) -> None:
    """After work on many boards: one line per board that failed, then the first one's code."""
    failures = [r for r in results.values() if isinstance(r, BaseException)]
    for error in failures:
        error_line(str(error))
    if failures:
        first = failures[0]
        raise typer.Exit(
            exit_code(first) if isinstance(first, MllibError) else ExitCode.STAGE_FAILED
        )


@contextlib.contextmanager
def diagnosed() -> Iterator[None]:
    """Engine errors become one line on stderr and their exit code; never a traceback."""
    try:
        yield
    except MllibError as error:
        label = "gate failed" if isinstance(error, GateFailed) else None
        error_line(f"{label}: {error}" if label else str(error))
        raise typer.Exit(exit_code(error)) from None
    except KeyboardInterrupt:
        error_line("interrupted; finished work is kept and the next run resumes")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
