"""Keras -> ONNX with tf2onnx. Input and output names are read from the model, never assumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backends.errors import BadInput
from backends.formats import Precision

OPSETS = range(13, 19)  # what tf2onnx 1.17 converts; 21/22 fail with "not supported yet"
DEFAULT_OPSET = 15


def convert(
    source: Path, out: Path, precision: Precision, options: Any, representative: Any = None
) -> dict[str, Any]:
    if options.opset not in OPSETS:
        raise BadInput(
            f"ONNX opset {options.opset} is not supported: use {OPSETS.start}-{OPSETS.stop - 1}"
        )
    from backends.runtimes.tensorflow import import_tensorflow

    tf = import_tensorflow()
    import keras
    import tf2onnx

    model = keras.models.load_model(source, compile=False)
    _, height, width, channels = model.input_shape
    name = model.inputs[0].name.split(":")[0]
    spec = (tf.TensorSpec((None, height, width, channels), tf.float32, name=name),)
    proto, _ = tf2onnx.convert.from_keras(
        model, input_signature=spec, opset=options.opset, output_path=str(out)
    )
    return {
        "opset": options.opset,
        "inputs": [i.name for i in proto.graph.input],
        "outputs": [o.name for o in proto.graph.output],
        "converter": f"tf2onnx {tf2onnx.__version__}",
    }
