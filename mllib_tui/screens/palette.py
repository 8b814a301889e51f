"""Each screen's keys in the command palette (ctrl+p): a screen lists this provider in its
``COMMANDS`` and its bindings that have a tooltip become commands, next to the app's own."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, str]]:
        for binding in type(self.screen).BINDINGS:
            if isinstance(binding, Binding) and binding.tooltip:
                yield binding.description, binding.tooltip, binding.action

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, partial(self.screen.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.screen.run_action, action),
                    help=help_text,
                )
