"""Text from outside the app (engine messages, board output, file and dataset names) shown as it
is. Textual parses a ``str`` given to a label, a table cell or a notification as markup, so a
message holding ``[/]`` would raise ``MarkupError`` and ``[red]`` would restyle the screen; every
such string goes through ``plain`` (labels) or ``cell`` (table cells) first."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text


def plain(value: str, style: str = "") -> Text:
    """``value`` as literal text for a label or a static."""
    return Text(value, style=style)


def cell(value: object) -> object:
    """A table cell: strings escaped (a DataTable reads them as markup), kept as strings."""
    return escape(value) if isinstance(value, str) else value
