"""Creation functions. Results are constants (they carry no derivative), except a
tensor built from traced values and a linspace between traced endpoints, which are
made of ops. What needs no op lives in ``constants.py``, under every op family."""
from __future__ import annotations

import numbers

import numpy as np

from .. import launches
from ..backends import check_name, get_backend
from ..dtypes import as_dtype, default_float
from ..errors import GpuadTypeError, GpuadValueError
from ..tensor import Tensor, TensorBase
from ._util import broadcast_shapes, coerce
from .constants import (_device, arange, empty, empty_like, eye, from_data, full, full_like,
                        holds_tensors, ones, ones_like, zeros, zeros_like)
from .indexing import slice_axis
from .pointwise import add, astype, divide, multiply, subtract
from .shape import broadcast_to, concat, expand_dims, reshape, stack

__all__ = ["tensor", "asarray", "as_tensor_like", "zeros", "ones", "empty", "full", "zeros_like",
           "ones_like", "empty_like", "full_like", "eye", "arange", "linspace"]


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Make a tensor from a number, (nested) list, NumPy/CuPy array, DLPack producer
    or tensor. Python floats default to float64; existing arrays keep their dtype."""
    dt = as_dtype(dtype, "tensor")
    if isinstance(data, TensorBase):
        if not isinstance(data, Tensor):
            if dt is not None and dt != data.dtype:
                return astype(data, dt)
            return data
        dev = data.device if device is None else check_name(device, "tensor")
        t = data.to(dev) if dev != data.device else data
        arr = t._data
        be = get_backend(dev)
        arr = be.asarray(arr, dtype=dt) if dt is not None else arr
        with be.activate():
            out = Tensor._make(arr if arr is not data._data else arr.copy(), dev)
        if requires_grad:
            out.requires_grad_(True)
        return out
    if holds_tensors(data):  # traced values: the tensor is made of ops (jnp.array's rule)
        dev = _device(device)
        return stack([tensor(e, dtype=dt, device=dev) for e in data])
    return from_data(data, dt, device, requires_grad)


asarray = tensor


def as_tensor_like(x, like, fn, arg):
    """``x`` as a tensor on ``like``'s device and dtype (for cotangent arguments)."""
    if isinstance(x, TensorBase):
        if x.dtype != like.dtype:
            x = astype(x, like.dtype)
        return x
    try:
        return tensor(np.asarray(x) if not type(x).__module__.startswith("cupy") else x,
                      dtype=like.dtype, device=like.device)
    except GpuadTypeError:
        raise GpuadTypeError(f"{fn}: argument '{arg}' must be a tensor or array, got {type(x).__name__}") from None




def linspace(start, stop, num, dtype=None, device=None, endpoint=True):
    """``num`` evenly spaced values from ``start`` to ``stop`` (NumPy's). With a tensor
    (or traced) ``start`` or ``stop`` the result is computed in differentiable ops,
    ``start + (stop - start) * arange(num) / (num - 1)``; tensor endpoints of shape S
    give shape (num, *S), as NumPy's array endpoints do."""
    if isinstance(start, TensorBase) or isinstance(stop, TensorBase):
        return _linspace_ops(start, stop, num, dtype, device, endpoint)
    dev = _device(device, "linspace")
    be = get_backend(dev)
    with be.activate():
        arr = be.xp.linspace(start, stop, int(num), endpoint=endpoint,
                             dtype=as_dtype(dtype, "linspace") or default_float)
    launches.record_dispatch("linspace", dev)  # on a GPU the kernels count themselves
    return Tensor._make(arr, dev)


def _linspace_ops(start, stop, num, dtype, device, endpoint):
    if isinstance(num, bool) or not isinstance(num, numbers.Integral):
        raise GpuadTypeError(f"linspace: argument 'num' must be an int, got {num!r}")
    if num < 0:
        raise GpuadValueError(f"linspace: argument 'num' must be non-negative, got {num}")
    num = int(num)
    a, b = coerce("linspace", start, stop, names=["start", "stop"], floating=True)
    dt = as_dtype(dtype, "linspace")
    if dt is not None and dt.kind in "fc":
        a, b = astype(a, dt), astype(b, dt)
    if device is not None and check_name(device, "linspace") != a.device:
        raise GpuadValueError(f"linspace: argument 'device' {device!r} differs from the device "
                              f"{a.device!r} of 'start' / 'stop'")
    shape = broadcast_shapes("linspace", a.shape, b.shape)
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    div = (num - 1) if endpoint else num
    k = reshape(arange(num, dtype=a.dtype, device=a.device), (num,) + (1,) * len(shape))
    if div > 0:
        out = add(a, multiply(k, divide(subtract(b, a), float(div))))
    else:  # num <= 1: just start (num == 0: empty)
        out = add(a, multiply(k, subtract(b, a)))
    if endpoint and num > 1:  # the last value is exactly stop, as NumPy makes it
        out = concat([slice_axis(out, 0, 0, num - 1), expand_dims(b, 0)], axis=0)
    if dt is not None and dt != out.dtype:
        out = astype(out, dt)
    return out
