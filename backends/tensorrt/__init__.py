"""TensorRT engines: built on the board that runs them, fingerprinted, cached, refused on mismatch.

Everything here but ``cache`` runs on boards too (Python 3.8, standard library and numpy; the
``tensorrt`` module and a CUDA binding are imported only where they are used).
"""
