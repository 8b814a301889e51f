"""Screens compose widgets and route messages; the work itself is the engine's."""
