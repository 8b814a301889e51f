"""What runs on a board: ``python3 mllib-agent-HASH.pyz COMMAND ...``, JSON-line events on stdout.

It needs Python 3.8+, numpy and one runtime, and imports nothing else from the workstation's
world (no TensorFlow, Textual, OpenCV). Built into a zipapp by ``backends.boards.bundle``.
"""
