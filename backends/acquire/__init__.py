"""Acquire: frames from a board's camera into an unlabelled dataset version (``capture``)."""
