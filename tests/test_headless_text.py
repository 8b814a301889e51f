"""The headless progress renderer prints engine and board messages as text, not markup."""

from __future__ import annotations

import io

from rich.console import Console

from backends import events as ev
from mllib_tui.headless.output import RichProgress


def test_messages_with_markup_are_printed_as_they_are() -> None:
    out = io.StringIO()
    hostile = "board said [/] and [red]boom[/red]"
    with RichProgress(Console(file=out, width=200)) as render:
        render(ev.Log(stage="bench", level="warning", message=hostile))
        render(ev.StageStarted(stage="x", title="X"))
        render(ev.StageFinished(stage="x", status="failed", seconds=1.0, detail=hostile))
    assert out.getvalue().count(hostile) == 2
