"""Keras -> ONNX with tf2onnx; int8 is that model quantised statically by ONNX Runtime (QDQ:
int8 weights per channel, uint8 activations, float input and output), calibrated on the same
stratified training images as TFLite int8 — a model ONNX Runtime and OpenVINO both run in int8.
Input and output names are read from the model, never assumed."""

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
    fp32 = out if precision is Precision.FP32 else out.with_name(f"fp32-{out.name}")
    proto, _ = tf2onnx.convert.from_keras(
        model, input_signature=spec, opset=options.opset, output_path=str(fp32)
    )
    meta = {
        "opset": options.opset,
        "inputs": [i.name for i in proto.graph.input],
        "outputs": [o.name for o in proto.graph.output],
        "converter": f"tf2onnx {tf2onnx.__version__}",
    }
    if precision is Precision.INT8:
        try:
            meta["quantizer"] = _quantise(fp32, out, representative, meta["inputs"][0])
        finally:
            fp32.unlink(missing_ok=True)
    return meta


def _quantise(fp32: Path, out: Path, representative: Any, input_name: str) -> str:
    """Static QDQ quantisation of ``fp32`` into ``out``, calibrated on ``representative``."""
    if representative is None or len(representative) == 0:
        raise BadInput(
            "int8 conversion needs a representative dataset and got no images: check that "
            "the training split is not empty and convert.representative_images > 0"
        )
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Images(CalibrationDataReader):  # one image a step, as the model is fed
        def __init__(self) -> None:
            self._left = iter(representative)

        def get_next(self) -> dict[str, Any] | None:
            image = next(self._left, None)
            return None if image is None else {input_name: image[None].astype("float32")}

    prepared = fp32.with_name(f"prepared-{fp32.name}")  # shapes inferred, graph optimised:
    try:  # what ONNX Runtime asks for before quantising (it warns otherwise)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)  # static shapes
        quantize_static(
            str(prepared), str(out), Images(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
    finally:
        prepared.unlink(missing_ok=True)
    return f"onnxruntime.quantization {onnxruntime.__version__} (QDQ, U8S8, per channel)"
