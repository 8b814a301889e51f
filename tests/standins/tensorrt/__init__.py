"""Stand-in for TensorRT's Python API (see README.md). Not TensorRT: nothing here is verified
about TensorRT itself; it answers the calls mllib makes, the way TensorRT documents them."""

import ctypes
import enum
import hashlib
import json
import os

import numpy as np

__version__ = os.environ.get("STANDIN_TENSORRT", "10.3.0")
_VERSION = tuple(int(p) for p in __version__.split(".")[:2])
TENSOR_API = _VERSION >= (8, 5)  # named I/O tensors and execute_async_v3 arrived in 8.5
MAGIC = b"STANDIN-TENSORRT-ENGINE\n"


class Logger:
    WARNING = 2

    def __init__(self, severity=WARNING):
        self.severity = severity


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0


class BuilderFlag(enum.IntEnum):
    FP16 = 0
    INT8 = 1


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.IntEnum):
    FLOAT = 0


def nptype(dtype):
    return {DataType.FLOAT: np.float32}[dtype]


class IInt8EntropyCalibrator2:
    def __init__(self):
        pass


class _Tensor:
    def __init__(self, name, shape):
        self.name, self.shape = name, tuple(shape)


class _Network:
    def __init__(self, flags):
        if _VERSION < (10, 0) and not flags & 1:
            raise RuntimeError("TensorRT 8 stand-in: ONNX networks need EXPLICIT_BATCH")
        self.inputs, self.outputs, self.onnx = [], [], b""

    @property
    def num_inputs(self):
        return len(self.inputs)

    def get_input(self, index):
        return self.inputs[index]


class OnnxParser:
    def __init__(self, network, logger):
        self.network, self.errors = network, []

    def parse(self, data):
        import onnxruntime

        try:
            session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:
            self.errors = [f"stand-in parser: {exc}"]
            return False
        dims = [[d if isinstance(d, int) else -1 for d in t.shape] for t in session.get_inputs()]
        self.network.inputs = [
            _Tensor(t.name, d) for t, d in zip(session.get_inputs(), dims, strict=True)
        ]
        outs = [[d if isinstance(d, int) else -1 for d in t.shape] for t in session.get_outputs()]
        self.network.outputs = [
            _Tensor(t.name, d) for t, d in zip(session.get_outputs(), outs, strict=True)
        ]
        self.network.onnx = bytes(data)
        return True

    @property
    def num_errors(self):
        return len(self.errors)

    def get_error(self, index):
        return self.errors[index]


class _Profile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, low, opt, high):
        self.shapes[name] = (tuple(low), tuple(opt), tuple(high))


class _Config:
    def __init__(self):
        self.flags, self.profiles, self.int8_calibrator = set(), [], None
        self.workspace = None
        self.calibration_profile = None

    def set_memory_pool_limit(self, pool, size):
        self.workspace = size

    def set_flag(self, flag):
        self.flags.add(flag)

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)

    def set_calibration_profile(self, profile):
        self.calibration_profile = profile


class Builder:
    def __init__(self, logger):
        pass

    def create_network(self, flags=0):
        return _Network(flags)

    def create_builder_config(self):
        return _Config()

    def create_optimization_profile(self):
        return _Profile()

    def build_serialized_network(self, network, config):
        if not config.profiles:
            return None  # dynamic batch without a profile: TensorRT refuses
        calibration = None
        if BuilderFlag.INT8 in config.flags:
            calibration = _calibrate(network, config)
        header = {
            "version": __version__,
            "precision": sorted(f.name for f in config.flags),
            "inputs": [(t.name, t.shape) for t in network.inputs],
            "outputs": [(t.name, t.shape) for t in network.outputs],
            "calibration": calibration,
        }
        return MAGIC + json.dumps(header).encode() + b"\n" + network.onnx


def _calibrate(network, config):
    """What TensorRT does with a calibrator: the cache if it has one, else every batch."""
    calibrator = config.int8_calibrator
    if calibrator is None or config.calibration_profile is None:
        raise RuntimeError("stand-in: INT8 without a calibrator or calibration profile")
    cache = calibrator.read_calibration_cache()
    if cache:
        return hashlib.sha256(bytes(cache)).hexdigest()
    digest, shape = hashlib.sha256(), network.inputs[0].shape
    batch = calibrator.get_batch_size()
    size = batch * int(np.prod(shape[1:])) * 4
    while True:
        pointers = calibrator.get_batch([network.inputs[0].name])
        if pointers is None:
            break
        digest.update(ctypes.string_at(pointers[0], size))
    # like TensorRT's own ("TRT-8601-EntropyCalibration2"), the header names the release
    cache = f"TRT-{__version__}-EntropyCalibration2 {digest.hexdigest()}".encode()
    calibrator.write_calibration_cache(cache)
    return hashlib.sha256(cache).hexdigest()


class Runtime:
    def __init__(self, logger):
        pass

    def deserialize_cuda_engine(self, data):
        data = bytes(data)
        if not data.startswith(MAGIC):
            return None
        header, onnx = data[len(MAGIC) :].split(b"\n", 1)
        header = json.loads(header)
        if header["version"] != __version__:
            return None  # real TensorRT fails here too, with a long log
        return _ENGINE(header, onnx)


class _Engine:
    def __init__(self, header, onnx):
        self.io = [(n, s, True) for n, s in header["inputs"]]
        self.io += [(n, s, False) for n, s in header["outputs"]]
        self.onnx = onnx

    def create_execution_context(self):
        return _Context(self) if TENSOR_API else _BindingContext(self)


class _BindingEngine(_Engine):  # TensorRT 8.x; removed in 10
    @property
    def num_bindings(self):
        return len(self.io)

    def get_binding_name(self, index):
        return self.io[index][0]

    def binding_is_input(self, index):
        return self.io[index][2]

    def get_binding_shape(self, index):
        return self.io[index][1]

    def get_binding_dtype(self, index):
        return DataType.FLOAT


class _TensorEngine(_Engine):  # TensorRT 8.5 and newer
    @property
    def num_io_tensors(self):
        return len(self.io)

    def get_tensor_name(self, index):
        return self.io[index][0]

    def _find(self, name):
        return next(t for t in self.io if t[0] == name)

    def get_tensor_mode(self, name):
        return TensorIOMode.INPUT if self._find(name)[2] else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name):
        return self._find(name)[1]

    def get_tensor_dtype(self, name):
        return DataType.FLOAT


if _VERSION >= (10, 0):
    _ENGINE = _TensorEngine
elif TENSOR_API:
    _ENGINE = type("_Engine8", (_TensorEngine, _BindingEngine), {})
else:
    _ENGINE = _BindingEngine


class _Run:
    """Inference: the input read from its device address, ONNX Runtime, outputs written."""

    def __init__(self, engine):
        import onnxruntime

        self.engine = engine
        self.session = onnxruntime.InferenceSession(engine.onnx, providers=["CPUExecutionProvider"])
        self.shapes = {}

    def _execute(self, addresses):
        name = next(t[0] for t in self.engine.io if t[2])
        shape = self.shapes[name]
        raw = ctypes.string_at(addresses[name], int(np.prod(shape)) * 4)
        images = np.frombuffer(raw, np.float32).reshape(shape)
        outputs = self.session.run(None, {name: images})
        for (out_name, _, _), value in zip(
            [t for t in self.engine.io if not t[2]], outputs, strict=True
        ):
            value = np.ascontiguousarray(value, np.float32)
            ctypes.memmove(addresses[out_name], value.ctypes.data, value.nbytes)
        return True


class _Context(_Run):
    def __init__(self, engine):
        super().__init__(engine)
        self.addresses = {}

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name, pointer):
        self.addresses[name] = int(pointer)
        return True

    def execute_async_v3(self, stream_handle):
        return self._execute(self.addresses)


class _BindingContext(_Run):
    def set_binding_shape(self, index, shape):
        self.shapes[self.engine.io[index][0]] = tuple(shape)
        return True

    def execute_async_v2(self, bindings, stream_handle):
        return self._execute({t[0]: int(p) for t, p in zip(self.engine.io, bindings, strict=True)})
