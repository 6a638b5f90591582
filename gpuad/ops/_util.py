"""Shared helpers for the op modules: argument coercion, dtype promotion, axis
normalization and device scalars. The batching registrars (STYLE.md habit 2) are in
``structural.py``."""
from __future__ import annotations

import numbers

import numpy as np

from ..backends import get_backend, get_default_device
from ..dtypes import as_dtype
from ..errors import GpuadAxisError, GpuadTypeError, GpuadValueError
from ..tensor import Tensor, TensorBase
from .constants import from_data, holds_tensors, zeros
from .structural import astype_p


def is_tensor(x):
    return isinstance(x, TensorBase)


def constant(value, dtype, device):
    """A concrete tensor holding host ``value`` (no launch: a host-to-device copy).

    NOTE [device scalars]: on a GPU device a Python scalar in an op (``x * 2.0``, the
    ``1.0`` of a rule) would be one host-to-device copy per op per call. Device arrays
    are never written in place, so one 0-d array per (device, dtype, value) serves
    every use: copied once, then reused from a bounded cache."""
    host = np.asarray(value, dtype=dtype)
    if device == "cpu" or host.ndim:
        return Tensor._make(get_backend(device).asarray(host), device)
    key = (device, host.dtype.str, host.tobytes())
    arr = _device_scalars.get(key)
    if arr is None:
        if len(_device_scalars) >= _DEVICE_SCALARS_MAX:
            _device_scalars.clear()
            _scalar_values.clear()
        arr = _device_scalars[key] = get_backend(device).asarray(host)
        _scalar_values[id(arr)] = host.item()
    return Tensor._make(arr, device)


def known_scalar(t):
    """The Python value of concrete 0-d tensor ``t`` when it is known on the host
    without a device sync (cpu data, or a cached device scalar: NOTE [device
    scalars]); None otherwise."""
    d = t._data
    if isinstance(d, np.ndarray):
        return d.item()
    return _scalar_values.get(id(d))


_device_scalars = {}
_scalar_values = {}  # id of a cached device scalar -> its Python value (the arrays live on)
_DEVICE_SCALARS_MAX = 4096


def to_tensor(x, fn, arg, device=None, dtype=None):
    """Turn an op argument into a tensor; Python scalars become 0-d constants."""
    if isinstance(x, TensorBase):
        return x
    if holds_tensors(x):  # jnp's functions refuse lists too; ad.tensor stacks them
        raise GpuadTypeError(f"{fn}: argument '{arg}' is a list or tuple holding tensors; "
                             f"make it one tensor first (ad.stack or ad.tensor)")
    try:
        return from_data(x, as_dtype(dtype, fn), device)
    except (TypeError, ValueError) as e:
        raise GpuadTypeError(f"{fn}: argument '{arg}' must be a tensor, array or number, got "
                             f"{type(x).__name__} ({e})") from None


_WEAK_PROXY = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def coerce(fn, *args, names=None, floating=False):
    """Make ``args`` tensors of one device and one dtype (NumPy promotion; Python
    scalars are weakly typed: they take the tensors' dtype)."""
    # concrete tensors that already agree need nothing (the eager hot path: an eager
    # matmul of two small vectors spent a third of its time here)
    if args and not args[1:]:  # one argument (a reduction, a unary function)
        a0 = args[0]
        if type(a0) is Tensor and (not floating or a0._data.dtype.kind in "fc"):
            return [a0]
    elif args and all(type(a) is Tensor for a in args):
        a0 = args[0]
        device, dt = a0._device, a0._data.dtype
        if (all(a._device == device and a._data.dtype == dt for a in args)
                and (not floating or dt.kind in "fc")):
            return list(args)
    names = names or [f"x{i + 1}" for i in range(len(args))]
    device = None
    dtypes = []
    probe = args
    if any(getattr(a, "_weak", False) for a in args):
        # a Python scalar traced by jit promotes as the number would (NOTE [jit scalars])
        probe = [_WEAK_PROXY[a.dtype.kind] if getattr(a, "_weak", False) else a for a in args]
        device = next(a.device for a in args if isinstance(a, TensorBase))
    for a in probe:
        if isinstance(a, TensorBase):
            if device is None:
                device = a.device
            dtypes.append(a.dtype)
        elif not isinstance(a, (numbers.Number, np.generic)):
            if hasattr(a, "__cuda_array_interface__") or hasattr(a, "shape"):
                dtypes.append(np.asarray(a).dtype if not hasattr(a, "__cuda_array_interface__") else a.dtype)
    if device is None:
        device = get_default_device()
    if dtypes:
        dt = np.result_type(*dtypes)
        # weak Python scalars: a float with integer tensors gives the default float
        for a in probe:
            if isinstance(a, bool) or a is None:
                continue
            if isinstance(a, (float, np.floating)) and dt.kind in "biu":
                dt = np.dtype(np.float64)
            elif isinstance(a, (complex, np.complexfloating)) and dt.kind != "c":
                dt = np.result_type(dt, np.complex64)
            elif isinstance(a, numbers.Integral) and dt.kind == "b":
                dt = np.dtype(np.int64)
    else:
        dt = np.result_type(*[np.asarray(a) for a in probe])
        if dt.kind == "f":
            dt = np.dtype(np.float64)
    if floating and dt.kind not in "fc":
        dt = np.dtype(np.float64)
    out = []
    for a, name in zip(args, names):
        if isinstance(a, TensorBase):
            if a.device != device:
                raise GpuadValueError(
                    f"{fn}: all tensor arguments must be on one device, got {device!r} and "
                    f"{a.device!r} (argument '{name}')")
            if a.dtype != dt:
                a = astype_p.bind(a, dtype=dt)
            out.append(a)
        else:
            if a is None:
                raise GpuadTypeError(f"{fn}: argument '{name}' must be a tensor or number, got None")
            try:
                arr = np.asarray(a, dtype=dt)
            except (TypeError, ValueError):
                raise GpuadTypeError(f"{fn}: argument '{name}' must be a tensor, array or number, "
                                     f"got {type(a).__name__}") from None
            out.append(constant(arr, dt, device))
    return out


def coerce_list(fn, arrays):
    """``coerce`` over the tensors of a list argument ``arrays`` (concat, stack)."""
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise GpuadTypeError(f"{fn}: argument 'arrays' must be a non-empty list or tuple of tensors")
    return coerce(fn, *arrays, names=[f"arrays[{i}]" for i in range(len(arrays))])


def broadcast_shapes(fn, *shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise GpuadValueError(
            f"{fn}: shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together") from None


def norm_axis(axis, ndim, fn, arg="axis"):
    """Normalize an int / tuple / None axis argument to a sorted tuple of ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (numbers.Integral,)) and not isinstance(axis, bool):
        axis = (int(axis),)
    elif isinstance(axis, (tuple, list)):
        axis = tuple(axis)
    else:
        raise GpuadTypeError(f"{fn}: argument '{arg}' must be None, an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axis:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise GpuadTypeError(f"{fn}: argument '{arg}' must contain ints, got {a!r}")
        if not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise GpuadAxisError(
                f"{fn}: argument '{arg}' {a} is out of range for a tensor with {ndim} dims")
        a = int(a) % ndim if ndim else 0
        if a in out:
            raise GpuadValueError(f"{fn}: argument '{arg}' repeats axis {a}")
        out.append(a)
    return tuple(sorted(out))


def norm_one_axis(axis, ndim, fn, arg="axis"):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise GpuadTypeError(f"{fn}: argument '{arg}' must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise GpuadAxisError(f"{fn}: argument '{arg}' {axis} is out of range for a tensor with {ndim} dims")
    return int(axis) % ndim


def zeros_like_val(x):
    return zeros(x.shape, dtype=x.dtype, device=x.device)


def instantiate(t, like):
    return zeros_like_val(like) if t is None else t
