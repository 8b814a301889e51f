"""One module per noun of the CLI, composed in ``mllib_tui.cli``."""
