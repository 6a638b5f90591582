"""Tensors made without an op: host data copied to a device, fills, ranges and
identities. The results are constants (they carry no derivative), so every op family
can make them; ``creation.py`` adds what needs ops (tensors built from traced
values, linspace between traced endpoints)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import launches
from ..backends import check_name, get_backend, get_default_device, device_kind
from ..dtypes import as_dtype, default_float
from ..errors import GpuadTypeError, GpuadValueError
from ..tensor import Tensor, TensorBase


def _device(device, fn="tensor"):
    return get_default_device() if device is None else check_name(device, fn)


def _from_any(data):
    """Host or device array from ``data`` without a copy where possible."""
    if isinstance(data, np.ndarray):
        return data
    mod = type(data).__module__
    if mod.startswith("cupy"):
        return data
    if mod.startswith("torch"):
        t = data.detach()
        if t.device.type == "cpu":
            return t.numpy()
        import cupy
        return cupy.from_dlpack(t)
    if hasattr(data, "__cuda_array_interface__"):
        import cupy
        return cupy.asarray(data)
    if hasattr(data, "__dlpack__") and not isinstance(data, (list, tuple)):
        try:
            return np.from_dlpack(data)
        except (RuntimeError, BufferError, TypeError):
            import cupy
            return cupy.from_dlpack(data)
    return data


def from_data(data, dtype=None, device=None, requires_grad=False):
    """A tensor holding ``data`` (a number, nested list, NumPy/CuPy array or DLPack
    producer; not a gpuad tensor); ``dtype`` already normalized or None."""
    dev = _device(device)
    be = get_backend(dev)
    raw = _from_any(data)
    try:
        if type(raw).__module__.startswith("cupy") and device_kind(dev) != "cuda":
            raw = raw.get()
        if dtype is None and not hasattr(raw, "dtype"):
            probe = np.asarray(raw)
            if probe.dtype.kind not in "biufc":
                raise GpuadTypeError(f"tensor: argument 'data' must be numeric, got dtype {probe.dtype}")
            arr = be.asarray(probe)
        else:
            arr = be.asarray(raw, dtype=dtype)
    except (TypeError, ValueError) as e:
        if isinstance(e, GpuadTypeError):
            raise
        raise GpuadTypeError(f"tensor: argument 'data' cannot be converted to a tensor: {e}") from None
    if arr.dtype.kind not in "biufc":
        raise GpuadTypeError(f"tensor: argument 'data' must be numeric, got dtype {arr.dtype}")
    out = Tensor._make(arr, dev)
    if requires_grad:
        out.requires_grad_(True)
    return out


def holds_tensors(xs):
    """Whether nested lists / tuples ``xs`` hold a gpuad tensor anywhere."""
    return isinstance(xs, (list, tuple)) and any(isinstance(e, TensorBase) for e in _flat(xs))


def _flat(xs):
    for e in xs:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def _shape(shape, fn):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise GpuadTypeError(f"{fn}: argument 'shape' must be ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise GpuadValueError(f"{fn}: argument 'shape' must be non-negative, got {shape}")
    return shape


def _fill(fn, shape, value, dtype, device):
    dev = _device(device, fn)
    be = get_backend(dev)
    dt = as_dtype(dtype, fn) or (default_float if isinstance(value, float) or value is None
                                 else np.asarray(value).dtype)
    with be.activate():
        arr = be.xp.empty(shape, dtype=dt) if value is None else be.xp.full(shape, value, dtype=dt)
    launches.record_dispatch(fn, dev)  # on a GPU the kernels count themselves
    return Tensor._make(arr, dev)


def zeros(*shape, dtype=None, device=None):
    return _fill("zeros", _shape(shape, "zeros"), 0.0 if dtype is None else 0, dtype, device)


def ones(*shape, dtype=None, device=None):
    return _fill("ones", _shape(shape, "ones"), 1.0 if dtype is None else 1, dtype, device)


def empty(*shape, dtype=None, device=None):
    return _fill("empty", _shape(shape, "empty"), None, dtype, device)


def full(shape, fill_value, dtype=None, device=None):
    if isinstance(fill_value, bool):
        dtype = dtype or np.bool_
    elif isinstance(fill_value, numbers.Integral) and dtype is None:
        dtype = np.int64
    return _fill("full", _shape((shape,), "full"), fill_value, dtype, device)


def _like(fn, x, value, dtype, device):
    dt = dtype if dtype is not None else x.dtype
    dev = device if device is not None else x.device
    return _fill(fn, tuple(x.shape), value, dt, dev)


def zeros_like(x, dtype=None, device=None):
    return _like("zeros_like", x, 0, dtype, device)


def ones_like(x, dtype=None, device=None):
    return _like("ones_like", x, 1, dtype, device)


def empty_like(x, dtype=None, device=None):
    return _like("empty_like", x, None, dtype, device)


def full_like(x, fill_value, dtype=None, device=None):
    return _like("full_like", x, fill_value, dtype, device)


def eye(n_rows, n_cols=None, k=0, dtype=None, device=None):
    dev = _device(device, "eye")
    be = get_backend(dev)
    with be.activate():
        arr = be.xp.eye(int(n_rows), None if n_cols is None else int(n_cols), k=k,
                        dtype=as_dtype(dtype, "eye") or default_float)
    launches.record_dispatch("eye", dev)  # on a GPU the kernels count themselves
    return Tensor._make(arr, dev)


def arange(start, stop=None, step=1, dtype=None, device=None):
    dev = _device(device, "arange")
    be = get_backend(dev)
    if stop is None:
        start, stop = 0, start
    dt = as_dtype(dtype, "arange")
    if dt is None and all(isinstance(v, numbers.Integral) for v in (start, stop, step)):
        dt = np.dtype(np.int64)
    with be.activate():
        arr = be.xp.arange(start, stop, step, dtype=dt or default_float)
    launches.record_dispatch("arange", dev)  # on a GPU the kernels count themselves
    return Tensor._make(arr, dev)
