"""The ONNX operators mllib's UNet and classifiers export to (tf2onnx), run with PyTorch: the
same ONNX file on a GPU that has PyTorch but no ONNX Runtime CUDA build or TensorRT.

onnx2torch would do, but not for tf2onnx's ConvTranspose with asymmetric ("same") padding,
which every UNet decoder here has; this runs such a graph with torch.nn.functional, node by
node in the graph's (topological) order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OPS = (
    "Add",
    "Clip",
    "Concat",
    "Conv",
    "ConvTranspose",
    "Mul",
    "Pad",
    "Relu",
    "Softmax",
    "Transpose",
)


def compile_onnx(model: Any, device: str, dtype: Any) -> Callable[[Any], Any]:
    """``model`` (an ``onnx.ModelProto``) as a function of one input tensor."""
    import torch
    from onnx import helper, numpy_helper

    graph = model.graph
    unknown = sorted({n.op_type for n in graph.node} - set(OPS))
    if unknown:
        raise NotImplementedError(f"operators not covered here: {', '.join(unknown)}")
    constants: dict[str, Any] = {}
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        tensor = torch.from_numpy(array.copy()).to(device)
        constants[init.name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    nodes = [
        (
            n.op_type,
            list(n.input),
            list(n.output),
            {a.name: helper.get_attribute_value(a) for a in n.attribute},
        )
        for n in graph.node
    ]
    (source,) = [i.name for i in graph.input if i.name not in constants]
    (sink,) = [o.name for o in graph.output]

    def run(x: Any) -> Any:
        values = dict(constants)
        values[source] = x
        for op, inputs, outputs, attrs in nodes:
            args = [values[name] if name else None for name in inputs]
            values[outputs[0]] = _apply(torch, op, args, attrs)
        return values[sink]

    return run


def _apply(torch: Any, op: str, args: list[Any], attrs: dict[str, Any]) -> Any:
    functional = torch.nn.functional
    if op == "Add":
        return args[0] + args[1]
    if op == "Mul":
        return args[0] * args[1]
    if op == "Relu":
        return functional.relu(args[0])
    if op == "Clip":
        low = args[1] if len(args) > 1 and args[1] is not None else None
        high = args[2] if len(args) > 2 and args[2] is not None else None
        return torch.clamp(
            args[0],
            low.item() if low is not None else None,
            high.item() if high is not None else None,
        )
    if op == "Concat":
        return torch.cat(args, dim=attrs["axis"])
    if op == "Softmax":
        return torch.softmax(args[0], dim=attrs.get("axis", -1))
    if op == "Transpose":
        return args[0].permute(*attrs["perm"])
    if op == "Pad":
        pads = [int(p) for p in args[1].tolist()]
        half = len(pads) // 2  # ONNX: all starts then all ends; torch: last dim first
        torch_pads = []
        for dim in reversed(range(half)):
            torch_pads += [pads[dim], pads[dim + half]]
        return functional.pad(args[0], torch_pads)
    # Conv or ConvTranspose: compile_onnx refused anything outside OPS
    x, weight = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    stride, dilation = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    group = attrs.get("group", 1)
    if op == "Conv":
        x = functional.pad(x, [left, right, top, bottom])
        return functional.conv2d(x, weight, bias, stride, 0, dilation, group)
    y = functional.conv_transpose2d(x, weight, bias, stride, 0, 0, group, dilation)
    return y[:, :, top : y.shape[2] - bottom, left : y.shape[3] - right]
