"""mllib's front ends: the headless CLI (and, later, the Textual app) on the ``backends`` engine."""
