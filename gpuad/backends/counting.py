"""Counting the device kernels that library calls launch (``ad.count_launches`` on GPUs).

On ``cuda`` and ``cudasim`` a launch is one device kernel: gpuad's own (counted where
``gpuad.kernels`` launches them) or one run by a library. The backends and the kernel
layer reach CuPy (``cupy`` on ``cuda``, its stand-in ``simcupy`` on ``cudasim``) through
:class:`CountingModule`, a proxy of the array module that records, per call, the kernels
the call runs under ``c.by_op`` names such as ``"cupy.ascontiguousarray"``,
``"cublas.einsum"``, ``"cusolver.linalg.svd"`` or ``"cufft.fft.fft"``:

- a call that returns a new device array counts 1 (``zeros``/``full``/``ones`` fill it,
  ``concatenate``, ``where``, ``take``, ``cumsum``, a ufunc, ``einsum``/``matmul``
  (cuBLAS), ``linalg`` (cuSOLVER), ``fft`` (cuFFT) compute it);
- :data:`VIEW_OR_COPY` functions count 1 only when the result does not share memory with
  an argument (``ascontiguousarray`` of a contiguous array, ``reshape`` of a contiguous
  array, ``transpose``, ``broadcast_to``, ``asarray`` of a device array with its dtype:
  0), and 0 for host data (that is a host-to-device copy, counted in ``c.transfers``);
- :data:`NO_KERNEL` functions count 0 (``empty``: allocation only; metadata);
- :data:`IN_PLACE` functions and ``ufunc.at`` (a scatter) return nothing and count 1;
- :data:`MULTI` lists calls known to run more than one kernel (``eye``: a fill and a
  diagonal write);
- random draws of a generator from ``random.default_rng`` count 1 each (``curand.*``).

Approximations: a library routine counts as one launch per call. cuBLAS, cuSOLVER and
cuFFT routines, CuPy's ``einsum`` (operand copies around a GEMM), multi-pass scans
(``cumsum``) and CUB reductions may run more kernels internally; the count is that floor.

Each recorded call also carries its cost (``c.records``, ``gpuad.launches.KernelRecord``):
bytes read are the device-array arguments', bytes written the device-array results' (the
first argument for an in-place call), each by ``gpuad.kernel_costs.distinct_bytes``; flops
by ``gpuad.kernel_costs.library_flops``. On ``cudasim`` the wall time of every counted call
(NumPy standing in for the library's kernel) is device time for
``gpuad.launches.device_clock``.

Array *methods and operators* are not calls on the module. On ``cudasim``
:func:`instrument_simcupy` counts those of ``simcupy.ndarray`` by the same rules
(``"cupy.ndarray.__mul__"``, ``"cupy.ndarray.astype"``, ``"cupy.ndarray.__getitem__"``
for an advanced-index gather, ``"cupy.ndarray.__setitem__"``; basic indexing and
``.reshape`` of a contiguous array are views: 0). ``cupy.ndarray`` is an extension type
that cannot be hooked, so on ``cuda`` those are not counted: the ``cupy.ndarray.*``
entries of a cudasim count are exactly what a cuda count of the same code misses.
"""
from __future__ import annotations

import threading
import time

from .. import launches
from ..kernel_costs import library_flops, total_bytes

#: calls that never launch a kernel: allocation, metadata, host copies (transfers)
NO_KERNEL = frozenset({
    "empty", "empty_like", "ndim", "shape", "size", "result_type", "can_cast",
    "promote_types", "dtype", "finfo", "iinfo", "broadcast_shapes", "isscalar",
    "get_array_module", "asnumpy", "iscomplexobj", "isrealobj", "min_scalar_type",
    "may_share_memory", "shares_memory", "get_default_memory_pool",
    "get_default_pinned_memory_pool", "from_dlpack", "fromDlpack",
})
#: calls that return a view of (or the same array as) an argument when they can, and copy
#: otherwise: 1 kernel only when the result is a new allocation
VIEW_OR_COPY = frozenset({
    "asarray", "asanyarray", "array", "ascontiguousarray", "asfortranarray", "require",
    "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "rollaxis", "squeeze",
    "expand_dims", "broadcast_to", "broadcast_arrays", "atleast_1d", "atleast_2d",
    "atleast_3d", "diagonal", "flip", "fliplr", "flipud", "real", "imag", "split",
    "array_split", "hsplit", "vsplit", "dsplit", "astype",
})
#: calls that write into an argument and return nothing: 1 kernel
IN_PLACE = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal"})
#: calls known to run more than one kernel
MULTI = {"eye": 2, "identity": 2}
#: the library that runs a call, for the by_op name
_BLAS = frozenset({"matmul", "dot", "tensordot", "inner", "outer", "vdot", "einsum", "kron"})
#: ndarray methods that are views when they can be (1 kernel only for a new allocation)
VIEW_METHODS = frozenset({"reshape", "ravel", "transpose", "swapaxes", "squeeze", "view",
                          "diagonal", "astype", "conj", "conjugate"})
#: ndarray methods that write in place and return nothing: 1 kernel
IN_PLACE_METHODS = frozenset({"fill", "sort", "partition", "put", "scatter_add",
                              "scatter_max", "scatter_min"})


def _library(prefix, name):
    if prefix == "cupy":
        return f"cublas.{name}" if name in _BLAS else f"cupy.{name}"
    if prefix == "linalg":
        return f"cupy.linalg.{name}" if name == "norm" else f"cusolver.linalg.{name}"
    if prefix == "fft":
        return f"cufft.fft.{name}"
    return f"{prefix}.{name}"


class CountingModule:
    """The array module ``xp`` of a GPU backend, counting the kernels its calls launch
    (see the module docstring). Attributes that are not functions (types, constants,
    ``cuda``) pass through; ``module`` is the wrapped module."""

    def __init__(self, module, prefix="cupy", simulated=None):
        self.module = module
        self._prefix = prefix
        # simcupy's calls run their "kernel" (NumPy) inside the call: device time
        self._simulated = (getattr(module, "__name__", "") == "gpuad.backends.simcupy"
                           if simulated is None else simulated)
        if prefix == "cupy":
            _ndarray_type(module)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self.module, name)
        if self._prefix == "cupy" and name in ("linalg", "fft"):
            wrapped = CountingModule(attr, name, self._simulated)
        elif self._prefix == "cupy" and name == "random":
            wrapped = _RandomNamespace(attr, self._simulated)
        elif isinstance(attr, type) or not callable(attr) or name in NO_KERNEL:
            wrapped = attr
        elif hasattr(attr, "nin") and hasattr(attr, "nout"):
            wrapped = _Ufunc(attr, _library(self._prefix, name), self._simulated)
        else:
            wrapped = _function(attr, name, _library(self._prefix, name), self._simulated)
        object.__setattr__(self, name, wrapped)  # later look-ups skip __getattr__
        return wrapped

    def __repr__(self):
        return f"<counting proxy of {getattr(self.module, '__name__', self.module)!r}>"


def _ndarray_type(module):
    global _DEVICE_TYPES
    t = getattr(module, "ndarray", None)
    if isinstance(t, type) and t not in _DEVICE_TYPES:
        _DEVICE_TYPES = _DEVICE_TYPES + (t,)
    return t


_GATHERS = frozenset({"take", "take_along_axis", "choose", "compress"})


def _cost(label, args, kwargs, out, in_place=False):
    """The ``cost`` of a library call for ``launches.record`` (see the module docstring)."""
    def cost():
        ins = _device_arrays(list(args) + list(kwargs.values()), [])
        if label.rsplit(".", 1)[-1] in _GATHERS:  # reads as many elements as it writes
            written = total_bytes(_device_arrays(out, []))
            return total_bytes(ins[1:]) + written, written, 0
        if in_place:
            return total_bytes(ins[1:]), total_bytes(ins[:1]), library_flops(label, args, out)
        return (total_bytes(ins), total_bytes(_device_arrays(out, [])),
                library_flops(label, args, out))
    return cost


def _gather_cost(key, out):
    """An advanced-index gather reads its index arrays and as many elements of the
    source as it writes."""
    def cost():
        idx = _device_arrays(list(key) if isinstance(key, tuple) else [key], [])
        written = total_bytes([out])
        return total_bytes(idx) + written, written, 0
    return cost


def _scatter_cost(label, args):
    """``ufunc.at(a, idx, b)``: reads the indices, the values and the elements of ``a``
    they hit, and writes those elements (as many as there are values, or indices)."""
    def cost():
        a, idx = args[0], args[1]
        vals = args[2] if len(args) > 2 else None
        hits = _size_of(vals) if _is_device_array(vals) else _size_of(idx)
        touched = hits * a.itemsize
        extra = _device_arrays([idx, vals], [])
        return total_bytes(extra) + touched, touched, library_flops(label, args, None)
    return cost


def _size_of(x):
    if isinstance(x, tuple):  # a tuple of index arrays: each names one coordinate
        return max((_size_of(v) for v in x), default=1)
    return int(getattr(x, "size", 1))


def _run(fn, simulated, args, kwargs):
    """``(fn(*args, **kwargs), (wall seconds, thread CPU seconds) it took, or None)``:
    timed only on a simulated device under an active ``launches.device_clock``."""
    if not (simulated and launches._clocks):
        return fn(*args, **kwargs), None
    t0, c0 = time.perf_counter(), time.thread_time()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t0, time.thread_time() - c0)


def _function(fn, name, label, simulated=False):
    if name in VIEW_OR_COPY:
        def call(*args, **kwargs):
            out, dt = _run(fn, simulated, args, kwargs)
            if (launches._active or dt is not None) and \
                    _new_allocation(out, args, kwargs, require_device=True):
                launches.record(label, 1, _cost(label, args, kwargs, out))
                if dt is not None:
                    launches.add_device_time(*dt)
            return out
    elif name in IN_PLACE:
        def call(*args, **kwargs):
            out, dt = _run(fn, simulated, args, kwargs)
            launches.record(label, 1, _cost(label, args, kwargs, out, in_place=True))
            if dt is not None:
                launches.add_device_time(*dt)
            return out
    else:
        n = MULTI.get(name, 1)

        def call(*args, **kwargs):
            out, dt = _run(fn, simulated, args, kwargs)
            if (launches._active or dt is not None) and _any_device_array(out):
                launches.record(label, n, _cost(label, args, kwargs, out))
                if dt is not None:
                    launches.add_device_time(*dt)
            return out
    call.__name__ = name
    call.__qualname__ = name
    call.__wrapped__ = fn
    return call


class _Ufunc:
    """A ufunc: a call computes (1 kernel); ``at`` scatters, ``reduce``/``accumulate``/
    ``outer`` compute (1 each)."""

    def __init__(self, uf, label, simulated=False):
        self._uf = uf
        self._label = label
        self._simulated = simulated
        self.__name__ = getattr(uf, "__name__", label)

    def __call__(self, *args, **kwargs):
        out, dt = _run(self._uf, self._simulated, args, kwargs)
        launches.record(self._label, 1, _cost(self._label, args, kwargs, out))
        if dt is not None:
            launches.add_device_time(*dt)
        return out

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        if name in ("at", "reduce", "accumulate", "outer", "reduceat") and callable(attr):
            label = f"{self._label}.{name}"
            # ``at`` scatters into its first argument; the others compute a new array
            in_place = name == "at"
            flops_label = f"{self._label}.reduce" if name == "reduce" else label

            def method(*args, **kwargs):
                out, dt = _run(attr, self._simulated, args, kwargs)
                launches.record(label, 1, _scatter_cost(label, args) if in_place
                                else _cost(flops_label, args, kwargs, out))
                if dt is not None:
                    launches.add_device_time(*dt)
                return out
            return method
        return attr


class _RandomNamespace:
    """``xp.random``: generators whose draws count one kernel each (cuRAND)."""

    def __init__(self, mod, simulated=False):
        self._mod = mod
        self._simulated = simulated

    def default_rng(self, seed=None):
        return _Generator(self._mod.default_rng(seed), self._simulated)

    def __getattr__(self, name):
        return getattr(self._mod, name)


class _Generator:
    def __init__(self, g, simulated=False):
        self._g = g
        self._simulated = simulated

    def __getattr__(self, name):
        attr = getattr(self._g, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        label = f"curand.{name}"

        def draw(*args, **kwargs):
            out, dt = _run(attr, self._simulated, args, kwargs)
            if (launches._active or dt is not None) and _any_device_array(out):
                launches.record(label, 1, _cost(label, (), {}, out))
                if dt is not None:
                    launches.add_device_time(*dt)
            return out
        return draw


def counted_call(fn, label):
    """``fn`` (a library routine such as ``cupyx.scipy.special.erf``) counting 1 launch
    per call that returns a device array. On ``cudasim`` (``fn`` a ``simcupy`` device
    function) its wall time is device time for ``launches.device_clock``."""
    simulated = getattr(fn, "__module__", "") == "gpuad.backends.simcupy"

    def call(*args, **kwargs):
        out, dt = _run(fn, simulated, args, kwargs)
        if (launches._active or dt is not None) and _any_device_array(out):
            launches.record(label, 1, _cost(label, args, kwargs, out))
            if dt is not None:
                launches.add_device_time(*dt)
        return out
    return call


# -- device arrays and their memory --------------------------------------------------------
_DEVICE_TYPES = ()  # the ndarray types of the wrapped modules


def _is_device_array(a):
    return isinstance(a, _DEVICE_TYPES)


def _allocation(a):
    """What identifies the memory ``a`` lives in: the root host buffer of a simulated
    device array, the pooled allocation of a CuPy one."""
    if type(a).__module__ == "gpuad.backends.simcupy":
        h = a._a
        while h.base is not None and hasattr(h.base, "base"):
            h = h.base
        return ("sim", id(h))
    try:
        return ("cuda", a.data.mem.ptr)
    except AttributeError:
        return ("cuda", a.data.ptr)


def _device_arrays(obj, out):
    if _is_device_array(obj):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            _device_arrays(v, out)
    return out


def _any_device_array(out):
    return bool(_device_arrays(out, []))


def _new_allocation(out, args, kwargs, require_device):
    """True when ``out`` holds a device array whose memory is none of the device-array
    arguments' (a copy was made); False for views, the argument itself, host data."""
    res = _device_arrays(out, [])
    if not res:
        return False
    ins = _device_arrays(list(args) + list(kwargs.values()), [])
    if require_device and not ins:
        return False  # host data: a transfer (counted as such), not a kernel
    seen = {_allocation(a) for a in ins}
    return any(a.size and _allocation(a) not in seen for a in res)


# -- simcupy.ndarray methods and operators (cudasim) ---------------------------------------
_instrument_lock = threading.Lock()
_instrumented = set()

_OPERATORS = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
              "or", "xor", "lshift", "rshift")


def instrument_simcupy(simcupy):
    """Count the kernels of ``simcupy.ndarray``'s operators and methods as CuPy's would
    launch them (see the module docstring). Idempotent."""
    with _instrument_lock:
        if id(simcupy) in _instrumented:
            return
        nd = simcupy.ndarray
        names = [f"__{o}__" for o in _OPERATORS] + [f"__r{o}__" for o in _OPERATORS] + \
            [f"__i{o}__" for o in _OPERATORS if o != "matmul"] + \
            ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__neg__",
             "__abs__", "__invert__", "__setitem__"]
        # a copy: ``copy`` (``__copy__`` delegates to it where it is defined)
        names.append("copy" if "copy" in vars(nd) else "__copy__")
        for name in names:
            if name in vars(nd):
                setattr(nd, name, _counted_slot(vars(nd)[name], f"cupy.ndarray.{name}"))
        getitem = vars(nd)["__getitem__"]
        label_get = "cupy.ndarray.__getitem__"

        def __getitem__(self, key):
            if not _advanced(key, nd):
                return getitem(self, key)  # a view
            out, dt = _run(getitem, True, (self, key), {})
            launches.record(label_get, 1, _gather_cost(key, out))
            if dt is not None:
                launches.add_device_time(*dt)
            return out
        nd.__getitem__ = __getitem__

        ufunc = vars(nd)["__array_ufunc__"]

        def __array_ufunc__(self, uf, method, *inputs, **kwargs):
            out, dt = _run(ufunc, True, (self, uf, method) + inputs, kwargs)
            label = f"cupy.{uf.__name__}"
            launches.record(label, 1, _cost(label, inputs, {}, out))
            if dt is not None:
                launches.add_device_time(*dt)
            return out
        nd.__array_ufunc__ = __array_ufunc__

        getattr_ = vars(nd)["__getattr__"]

        def __getattr__(self, name):
            attr = getattr_(self, name)
            if not callable(attr):
                return attr
            label = f"cupy.ndarray.{name}"
            if name in VIEW_METHODS:
                def method(*args, **kwargs):
                    out, dt = _run(attr, True, args, kwargs)
                    if (launches._active or dt is not None) and \
                            _new_allocation(out, (self,), {}, True):
                        launches.record(label, 1, _cost(label, (self,) + args, kwargs, out))
                        if dt is not None:
                            launches.add_device_time(*dt)
                    return out
            elif name in IN_PLACE_METHODS:
                def method(*args, **kwargs):
                    out, dt = _run(attr, True, args, kwargs)
                    launches.record(label, 1, _cost(label, (self,) + args, kwargs, out, True))
                    if dt is not None:
                        launches.add_device_time(*dt)
                    return out
            else:
                def method(*args, **kwargs):
                    out, dt = _run(attr, True, args, kwargs)
                    if (launches._active or dt is not None) and _any_device_array(out):
                        launches.record(label, 1, _cost(label, (self,) + args, kwargs, out))
                        if dt is not None:
                            launches.add_device_time(*dt)
                    return out
            method.__name__ = name
            return method
        nd.__getattr__ = __getattr__
        _instrumented.add(id(simcupy))


def _counted_slot(fn, label):
    """An operator or method of ``simcupy.ndarray`` counting 1 kernel: it reads ``self``
    and its device-array arguments and writes its result (``self`` for ``__i*__`` and
    ``__setitem__``, whose bytes written are the value's, or the selection's for a
    scalar value)."""
    short = label.rsplit(".", 1)[-1]
    in_place = short.startswith("__i") or short == "__setitem__"

    def slot(self, *args):
        out, dt = _run(fn, True, (self,) + args, {})
        if launches._active:
            if short == "__setitem__":
                launches.record(label, 1, _setitem_cost(label, self, *args))
            else:
                launches.record(label, 1, _cost(label, (self,) + args, {},
                                                self if in_place else out))
        if dt is not None:
            launches.add_device_time(*dt)
        return out
    slot.__name__ = fn.__name__
    return slot


def _setitem_cost(label, target, key, value):
    def cost():
        vals = _device_arrays([value] + list(key if isinstance(key, tuple) else (key,)), [])
        if _is_device_array(value):
            written = total_bytes([value])
        else:  # a scalar fills the selection: its size, from a stride-0 stand-in of target
            import numpy as np
            stand_in = np.lib.stride_tricks.as_strided(np.zeros(1, target.dtype), target.shape,
                                                       (0,) * target.ndim)
            try:
                written = stand_in[key].size * target.itemsize
            except (IndexError, TypeError, ValueError):  # a device index array: the target
                written = total_bytes([target])
        return total_bytes(vals), written, 0
    return cost


def _advanced(key, nd):
    """An index that gathers (CuPy's take kernel) rather than views: it holds an array
    or a list (integer or boolean)."""
    parts = key if isinstance(key, tuple) else (key,)
    for k in parts:
        if type(k) is nd or isinstance(k, list) or hasattr(k, "__array_interface__"):
            return True
    return False


_modules = {}


def wrap(module):
    """The counting proxy of ``module`` (one per module)."""
    p = _modules.get(id(module))
    if p is None:
        if getattr(module, "__name__", "") == "gpuad.backends.simcupy":
            instrument_simcupy(module)  # its ndarray's operators and methods too
        p = _modules.setdefault(id(module), CountingModule(module))
    return p
