"""The mllib engine: datasets, training, evaluation and the catalog.

Front ends (the Textual app, the headless CLI, the board agent) drive it; it never imports them.
Heavy libraries (TensorFlow, pycocotools, OpenCV) are imported inside the functions that need them.
"""
