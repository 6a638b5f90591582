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

from .. import launches

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

    def __init__(self, module, prefix="cupy"):
        self.module = module
        self._prefix = prefix
        if prefix == "cupy":
            _ndarray_type(module)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self.module, name)
        if self._prefix == "cupy" and name in ("linalg", "fft"):
            wrapped = CountingModule(attr, name)
        elif self._prefix == "cupy" and name == "random":
            wrapped = _RandomNamespace(attr)
        elif isinstance(attr, type) or not callable(attr) or name in NO_KERNEL:
            wrapped = attr
        elif hasattr(attr, "nin") and hasattr(attr, "nout"):
            wrapped = _Ufunc(attr, _library(self._prefix, name))
        else:
            wrapped = _function(attr, name, _library(self._prefix, name))
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


def _function(fn, name, label):
    if name in VIEW_OR_COPY:
        def call(*args, **kwargs):
            out = fn(*args, **kwargs)
            if launches._active and _new_allocation(out, args, kwargs, require_device=True):
                launches.record(label)
            return out
    elif name in IN_PLACE:
        def call(*args, **kwargs):
            out = fn(*args, **kwargs)
            launches.record(label)
            return out
    else:
        n = MULTI.get(name, 1)

        def call(*args, **kwargs):
            out = fn(*args, **kwargs)
            if launches._active and _any_device_array(out):
                launches.record(label, n)
            return out
    call.__name__ = name
    call.__qualname__ = name
    call.__wrapped__ = fn
    return call


class _Ufunc:
    """A ufunc: a call computes (1 kernel); ``at`` scatters, ``reduce``/``accumulate``/
    ``outer`` compute (1 each)."""

    def __init__(self, uf, label):
        self._uf = uf
        self._label = label
        self.__name__ = getattr(uf, "__name__", label)

    def __call__(self, *args, **kwargs):
        out = self._uf(*args, **kwargs)
        launches.record(self._label)
        return out

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        if name in ("at", "reduce", "accumulate", "outer", "reduceat") and callable(attr):
            label = f"{self._label}.{name}"

            def method(*args, **kwargs):
                out = attr(*args, **kwargs)
                launches.record(label)
                return out
            return method
        return attr


class _RandomNamespace:
    """``xp.random``: generators whose draws count one kernel each (cuRAND)."""

    def __init__(self, mod):
        self._mod = mod

    def default_rng(self, seed=None):
        return _Generator(self._mod.default_rng(seed))

    def __getattr__(self, name):
        return getattr(self._mod, name)


class _Generator:
    def __init__(self, g):
        self._g = g

    def __getattr__(self, name):
        attr = getattr(self._g, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        label = f"curand.{name}"

        def draw(*args, **kwargs):
            out = attr(*args, **kwargs)
            if launches._active and _any_device_array(out):
                launches.record(label)
            return out
        return draw


def counted_call(fn, label):
    """``fn`` (a library routine such as ``cupyx.scipy.special.erf``) counting 1 launch
    per call that returns a device array."""
    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        if launches._active and _any_device_array(out):
            launches.record(label)
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
            out = getitem(self, key)
            if launches._active and _advanced(key, nd):
                launches.record(label_get)
            return out
        nd.__getitem__ = __getitem__

        ufunc = vars(nd)["__array_ufunc__"]

        def __array_ufunc__(self, uf, method, *inputs, **kwargs):
            out = ufunc(self, uf, method, *inputs, **kwargs)
            launches.record(f"cupy.{uf.__name__}")
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
                    out = attr(*args, **kwargs)
                    if launches._active and _new_allocation(out, (self,), {}, True):
                        launches.record(label)
                    return out
            elif name in IN_PLACE_METHODS:
                def method(*args, **kwargs):
                    out = attr(*args, **kwargs)
                    launches.record(label)
                    return out
            else:
                def method(*args, **kwargs):
                    out = attr(*args, **kwargs)
                    if launches._active and _any_device_array(out):
                        launches.record(label)
                    return out
            method.__name__ = name
            return method
        nd.__getattr__ = __getattr__
        _instrumented.add(id(simcupy))


def _counted_slot(fn, label):
    def slot(self, *args):
        out = fn(self, *args)
        launches.record(label)
        return out
    slot.__name__ = fn.__name__
    return slot


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
