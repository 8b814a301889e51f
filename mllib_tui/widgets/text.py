"""Text from outside the app (engine messages, board output, file and dataset names) shown as it
is. Textual parses a ``str`` given to a label, a table cell or a notification as markup, so a
message holding ``[/]`` would raise ``MarkupError`` and ``[red]`` would restyle the screen; every
such string goes through ``plain`` first."""

from __future__ import annotations

from rich.text import Text


def plain(value: object, style: str = "") -> object:
    """``value`` as literal text (strings only; numbers and renderables pass through)."""
    return Text(value, style=style) if isinstance(value, str) else value
