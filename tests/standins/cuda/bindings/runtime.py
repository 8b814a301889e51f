"""Stand-in for cuda-python's runtime API (see README.md): "device" memory is host memory."""

import ctypes
import enum

_buffers: dict = {}


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


def cudaStreamCreate():
    return cudaError_t.cudaSuccess, 7


def cudaStreamSynchronize(stream):
    return (cudaError_t.cudaSuccess,)


def cudaStreamDestroy(stream):
    return (cudaError_t.cudaSuccess,)


def cudaMalloc(size):
    buffer = ctypes.create_string_buffer(size)
    _buffers[ctypes.addressof(buffer)] = buffer
    return cudaError_t.cudaSuccess, ctypes.addressof(buffer)


def cudaFree(pointer):
    return (
        cudaError_t.cudaSuccess
        if _buffers.pop(pointer, None) is not None
        else cudaError_t.cudaErrorInvalidValue,
    )


def cudaMemcpyAsync(dst, src, count, kind, stream):
    ctypes.memmove(dst, src, count)
    return (cudaError_t.cudaSuccess,)
