"""The headless progress renderer prints engine and board messages as text, not markup."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from backends import events as ev
from mllib_tui.console import new_console
from mllib_tui.headless.output import RichProgress


def test_messages_with_markup_are_printed_as_they_are() -> None:
    out = io.StringIO()
    hostile = "board said [/] and [red]boom[/red]"
    with RichProgress(Console(file=out, width=200)) as render:
        render(ev.Log(stage="bench", level="warning", message=hostile))
        render(ev.StageStarted(stage="x", title="X"))
        render(ev.StageFinished(stage="x", status="failed", seconds=1.0, detail=hostile))
    assert out.getvalue().count(hostile) == 2


def test_progress_lines_are_not_wrapped_when_piped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    detail = "val mIoU 0.4321 " * 12 + "report /a/long/path/" + "x" * 80 + "/results.md"
    with RichProgress(new_console(stderr=True)) as render:  # stderr is not a terminal here
        render(ev.StageStarted(stage="train", title="Train"))
        render(ev.StageFinished(stage="train", status="done", seconds=1.0, detail=detail))
    (line,) = [text for text in capsys.readouterr().err.splitlines() if text.strip()]
    assert line.endswith(detail)


def test_the_stage_times_are_one_line_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    with RichProgress(new_console(stderr=True)) as render:
        render(ev.StageFinished(stage="dataset", status="done", seconds=0.25))
        render(ev.StageFinished(stage="bench", status="done", seconds=3.0, board="rpi4"))
        render(ev.StageFinished(stage="train", status="done", seconds=41.0))
    render.print_timings()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "stages: dataset 0.2 s, train 41.0 s; total 41.2 s"  # a board's: its own
