"""SavedModel -> TFLite: fp32, fp16 (float16 weights) or int8 (full integer), at batch 1.

The batch dimension is fixed to 1, as edge inference runs: with a dynamic batch the converter
computes every TRANSPOSE_CONV's output shape at run time (SHAPE/STRIDED_SLICE/PACK ops) and
XNNPACK cannot take those layers, which made fp32 at 480x512 twice as slow.


int8 uses a representative dataset (images drawn stratified by class from the training split)
and int8, uint8 or float32 I/O. With int8 I/O the input is quantised with scale ~1 and zero point
-128 (raw pixels 0..255, normalisation is inside the model), so nothing is lost at the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backends.errors import BadInput
from backends.formats import Precision
from backends.stdio import native_stderr_silenced


def convert(
    source: Path,
    out: Path,
    precision: Precision,
    options: Any,
    representative: np.ndarray | None = None,
) -> dict[str, Any]:
    from backends.runtimes.tensorflow import import_tensorflow

    tf = import_tensorflow()
    loaded = tf.saved_model.load(str(source))  # must outlive the conversion: it owns the weights
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [_batch_one(tf, loaded, source)], loaded
    )
    meta: dict[str, Any] = {"converter": f"TFLiteConverter {tf.__version__}"}
    if precision is Precision.FP16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision is Precision.INT8:
        if representative is None or len(representative) == 0:
            raise BadInput(
                "int8 conversion needs a representative dataset and got no images: check that "
                "the training split is not empty and convert.representative_images > 0"
            )
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [image[None].astype(np.float32)] for image in representative
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = {"int8": tf.int8, "uint8": tf.uint8, "float": tf.float32}[options.int8_io]
        converter.inference_input_type = io
        converter.inference_output_type = io
        meta.update(int8_io=options.int8_io, representative_images=len(representative))
    with native_stderr_silenced():  # the MLIR quantiser prints its settings
        out.write_bytes(converter.convert())
    return meta


def _batch_one(tf: Any, loaded: Any, source: Path) -> Any:
    """The SavedModel's ``serve`` endpoint (``model.export``) traced for one image."""
    if not hasattr(loaded, "serve"):
        raise BadInput(
            f"{source}: SavedModel has no 'serve' endpoint (export it with model.export)"
        )
    (spec,) = loaded.serve.input_signature
    fixed = tf.TensorSpec([1, *spec.shape[1:]], spec.dtype, name=spec.name)
    return tf.function(loaded.serve, autograph=False).get_concrete_function(fixed)
