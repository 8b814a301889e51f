"""Converters, one module per format (named in ``backends.formats.FORMATS``).

Each module has ``convert(source: Path, out: Path, precision, options, representative) -> dict``
returning what it learned (tensor names, opset, quantisation) for the artifact's metadata.
"""
