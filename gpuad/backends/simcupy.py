"""A strict stand-in for CuPy on the ``cudasim`` device.

The ``cudasim`` device exists so that the GPU code path is tested on machines without
a GPU. If it stored plain NumPy arrays, code that only works on the host (``np.asarray``
on a device array, a NumPy function called on one, a mask built with NumPy and mixed
into a device expression) would pass every test here and fail on the first CUDA host.
So cudasim tensors hold :class:`ndarray`, a device array that behaves like
``cupy.ndarray`` wherever gpuad's code could tell them apart:

- implicit conversion to NumPy raises ``TypeError`` as CuPy does (``np.asarray``,
  ``__array__``); so does a NumPy ufunc or function called on one (CuPy would run its
  own for some of them: here gpuad must say ``xp.`` explicitly, so the rule is stricter);
- a NumPy array where CuPy wants a device array (an operator, an ``xp`` function)
  raises ``TypeError`` as CuPy does;
- explicit transfers work and are *counted*: ``xp.asarray(host)``, ``a.get()``,
  ``xp.asnumpy``, ``a.item()``, ``float(a)``, ``bool(a)``, ``a.tolist()`` and indexing
  with host index arrays each record one host transfer (``gpuad.launches``), so a test
  can assert that a call makes no host round-trip;
- ``__cuda_array_interface__`` is present;
- every array belongs to a device (``cudasim:N``) and ``with Device(n):`` selects the
  current one. As in CuPy, new arrays (``xp.empty``, ``asarray`` of host data, results,
  ``a.copy()``) are allocated on the *current* device; an operation on an array of
  another device raises ``ValueError`` as CuPy does without peer access (views and
  explicit transfers excepted), so code that forgets to make a tensor's device current
  fails here rather than silently computing on the wrong GPU. ``a.copy()`` under
  ``with Device(n):`` is the peer-to-peer copy (no host transfer).

The module mirrors the part of CuPy's namespace that gpuad uses (``xp.sin``,
``xp.linalg.solve``, ``xp.random.default_rng``, ...): each function runs NumPy's on
the wrapped host memory and wraps the result. A CuPy behaviour that gpuad must respect
and that is not here yet has one place to go: this module.
"""
from __future__ import annotations

import threading

import numpy as np

from .. import launches

_local = threading.local()


def current_device_id():
    return getattr(_local, "device", 0)


class Device:
    """``cupy.cuda.Device``: ``with Device(1): ...`` makes device 1 current."""

    def __init__(self, id=None):
        self.id = current_device_id() if id is None else int(id)

    def __enter__(self):
        self._prev = current_device_id()
        _local.device = self.id
        return self

    def __exit__(self, *exc):
        _local.device = self._prev
        return False

    def use(self):
        _local.device = self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("cudasim", self.id))

    def __repr__(self):
        return f"<CUDA Device {self.id} (simulated)>"


_METADATA = {"result_type", "can_cast", "ndim", "shape", "size", "iscomplexobj", "isrealobj",
             "min_scalar_type"}
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
             "construct a NumPy array explicitly.")


def _transfer(kind, nbytes):
    launches.record_transfer(kind, nbytes)


class _Pointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr


class ndarray:
    """A device array of the simulated GPU (see the module docstring)."""

    __slots__ = ("_a", "_dev", "__weakref__")
    __array_priority__ = 200  # NumPy defers binary operators to us (and we then raise)

    def __init__(self, shape, dtype=float):
        self._a = np.empty(shape, dtype)
        self._dev = current_device_id()

    # -- metadata -----------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    device = property(lambda self: Device(self._dev))
    data = property(lambda self: _Pointer(self._a.__array_interface__["data"][0]))
    T = property(lambda self: _wrap(self._a.T, self._dev))
    real = property(lambda self: _wrap(self._a.real, self._dev))
    imag = property(lambda self: _wrap(self._a.imag, self._dev))

    @property
    def base(self):
        return None

    @property
    def __cuda_array_interface__(self):
        a = self._a
        return {"shape": a.shape, "typestr": a.dtype.str, "version": 3,
                "data": (a.__array_interface__["data"][0], False),
                "strides": None if a.flags.c_contiguous else a.strides, "stream": 1}

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"cudasim.ndarray(shape={self.shape}, dtype={self.dtype}, device={self._dev})"

    # -- the host boundary ------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and len(inputs) == 2 and not kwargs and all(
                type(x) is ndarray or isinstance(x, (np.generic, int, float, complex))
                for x in inputs):
            # an operator with a NumPy scalar on the left (np.float64(2) * a): CuPy's
            # __array_ufunc__ runs it on the device
            dev = current_device_id()
            with np.errstate(all="ignore"):
                return _wrap_result(ufunc(*[_operand(x, dev) for x in inputs]), dev)
        raise TypeError(f"NumPy ufunc numpy.{ufunc.__name__} called on a cudasim device array: "
                        f"{_IMPLICIT} (gpuad: use the backend's array module, xp.{ufunc.__name__})")

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in _METADATA:  # CuPy answers these too; they read no data
            return func(*[a._a if type(a) is ndarray else a for a in args], **kwargs)
        raise TypeError(f"NumPy function numpy.{func.__name__} called on a cudasim device "
                        f"array: {_IMPLICIT} (gpuad: use the backend's array module)")

    def get(self, stream=None, order="C", out=None):
        """A NumPy copy on the host (one device-to-host transfer)."""
        _transfer("get", self._a.nbytes)
        host = np.array(self._a, order=order)
        if out is not None:
            out[...] = host
            return out
        return host

    def item(self):
        _transfer("item", self._a.itemsize)
        return self._a.item()

    def tolist(self):
        _transfer("tolist", self._a.nbytes)
        return self._a.tolist()

    def __bool__(self):
        _transfer("bool", self._a.itemsize)
        return bool(self._a)

    def __float__(self):
        _transfer("float", self._a.itemsize)
        return float(self._a)

    def __int__(self):
        _transfer("int", self._a.itemsize)
        return int(self._a)

    def __complex__(self):
        _transfer("complex", self._a.itemsize)
        return complex(self._a)

    def __index__(self):
        _transfer("index", self._a.itemsize)
        return self._a.__index__()

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    # -- indexing -----------------------------------------------------------------------
    def __getitem__(self, key):
        if _is_fancy(key):  # a gather kernel on the current device
            dev = current_device_id()
            return _wrap(_operand(self, dev)[_index(key, dev)], dev)
        return _wrap(self._a[_index(key, self._dev)], self._dev)  # a view

    def __setitem__(self, key, value):
        dev = current_device_id()
        _operand(self, dev)[_index(key, dev)] = _operand(value, dev)

    def copy(self, order="C"):
        """A copy on the *current* device (CuPy's rule): the peer-to-peer copy when this
        array lives on another device; never a host transfer."""
        return _wrap(np.array(self._a, order=order), current_device_id())

    # -- methods: NumPy's, on device arrays -----------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__, __array_struct__, __dlpack__...
            raise AttributeError(f"cudasim.ndarray has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return attr
        if name in ("tobytes", "tofile", "dump", "dumps"):
            raise TypeError(f"cudasim.ndarray.{name}: {_IMPLICIT}")
        if name in _VIEWS:  # no kernel: the result is on the array's device
            dev = self._dev
        else:  # a kernel on the current device
            dev = current_device_id()
            _operand(self, dev)

        def method(*args, **kwargs):
            res = attr(*_unwrap_all(args, dev), **_unwrap_kw(kwargs, dev))
            return _wrap_result(res, dev)
        method.__name__ = name
        return method

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __reduce__(self):
        # pickling copies to the host, as CuPy's does (dask ships chunks this way)
        _transfer("pickle", self._a.nbytes)
        return (_rebuild, (np.array(self._a), self._dev))


def device_memory(a):
    """The memory the simulator's kernels read and write for device array ``a`` (the
    simulator stands in for the driver: it takes the host array it lives in). Anything
    else passes unchanged. Only kernel launches on ``cudasim`` call this; like a launch
    on a GPU without peer access, it requires ``a`` to live on the current device."""
    return _operand(a, current_device_id()) if type(a) is ndarray else a


def _rebuild(host, dev):
    return _wrap(host, dev)


def _wrap(a, dev):
    out = ndarray.__new__(ndarray)
    out._a = a
    out._dev = dev
    return out


_VIEWS = frozenset({"reshape", "view", "transpose", "swapaxes", "squeeze", "diagonal"})


def _is_fancy(key):
    parts = key if isinstance(key, tuple) else (key,)
    return any(type(k) is ndarray or isinstance(k, (np.ndarray, list)) for k in parts)


def _operand(x, dev):
    """An operand of an operation on the current device ``dev``: device arrays are
    unwrapped (they must live on ``dev``, as in CuPy without peer access), Python and
    NumPy scalars pass, host arrays raise as in CuPy."""
    if type(x) is ndarray:
        if x._dev != dev:
            raise ValueError(f"The device where the array resides ({x._dev}) is different from "
                             f"the current device ({dev}). Peer access has been activated "
                             f"automatically when possible. (cudasim: the operation must run "
                             f"under `with cuda.Device({x._dev}):`)")
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"Unsupported type {type(x)} (a NumPy array where a cudasim device "
                        f"array is needed: copy it with xp.asarray first)")
    return x


def _index(key, dev):
    if isinstance(key, tuple):
        return tuple(_index_part(k, dev) for k in key)
    return _index_part(key, dev)


def _index_part(k, dev):
    if type(k) is ndarray:
        return _operand(k, dev)
    if isinstance(k, np.ndarray) or (isinstance(k, list) and k and not isinstance(k[0], slice)):
        # CuPy copies host index arrays to the device: a hidden host transfer
        k = np.asarray(k)
        _transfer("index array", k.nbytes)
        return k
    return k


def _unwrap_all(args, dev):
    out = []
    for a in args:
        if isinstance(a, (tuple, list)) and any(type(v) is ndarray or isinstance(v, np.ndarray)
                                                for v in a):
            out.append(type(a)(_operand(v, dev) for v in a))
        else:
            out.append(_operand(a, dev))
    return out


def _unwrap_kw(kwargs, dev):
    return {k: _operand(v, dev) for k, v in kwargs.items()} if kwargs else kwargs


def _wrap_result(res, dev):
    if isinstance(res, np.ndarray):
        return _wrap(res, dev)
    if isinstance(res, np.generic):  # CuPy gives 0-d device arrays, never host scalars
        return _wrap(np.asarray(res), dev)
    if isinstance(res, tuple):
        return tuple(_wrap_result(r, dev) for r in res)
    if isinstance(res, list):
        return [_wrap_result(r, dev) for r in res]
    return res


def _function(fn, name):
    def run(*args, **kwargs):
        dev = current_device_id()  # CuPy runs (and allocates) on the current device
        with np.errstate(all="ignore"):  # a GPU does not warn
            res = fn(*_unwrap_all(args, dev), **_unwrap_kw(kwargs, dev))
        return _wrap_result(res, dev)
    run.__name__ = name
    run.__qualname__ = name
    return run


def device_function(host_fn, name):
    """``host_fn`` (a NumPy-style function) as a function of device arrays: how this
    module stands in for a CuPy library routine (``cupyx.scipy.special.erf``)."""
    return _function(host_fn, name)


def _binary(op, reflected=False):
    def method(self, other):
        dev = current_device_id()
        a, o = _operand(self, dev), _operand(other, dev)
        with np.errstate(all="ignore"):
            return _wrap_result(op(o, a) if reflected else op(a, o), dev)
    return method


def _inplace(op):
    def method(self, other):
        with np.errstate(all="ignore"):
            dev = current_device_id()
            op(_operand(self, dev), _operand(other, dev), out=self._a)
        return self
    return method


for _name, _op in {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                   "truediv": np.true_divide, "floordiv": np.floor_divide, "mod": np.remainder,
                   "pow": np.power, "matmul": np.matmul, "and": np.bitwise_and,
                   "or": np.bitwise_or, "xor": np.bitwise_xor, "lshift": np.left_shift,
                   "rshift": np.right_shift}.items():
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _binary(_op, reflected=True))
    if _name != "matmul":
        setattr(ndarray, f"__i{_name}__", _inplace(_op))
for _name, _op in {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                   "gt": np.greater, "ge": np.greater_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_op))
ndarray.__hash__ = None
ndarray.__neg__ = _function(np.negative, "negative")
ndarray.__pos__ = lambda self: self
ndarray.__abs__ = _function(np.abs, "abs")
ndarray.__invert__ = _function(np.invert, "invert")


# -- the module namespace ------------------------------------------------------------------
def asarray(a, dtype=None, order=None):
    """A device array: device arrays are taken as they are (cast if ``dtype`` says so);
    anything else is host data, copied to the current device (one counted transfer)."""
    if type(a) is ndarray:
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        dev = current_device_id()
        return _wrap(_operand(a, dev).astype(dtype), dev)
    if hasattr(a, "__cuda_array_interface__") and not isinstance(a, np.ndarray):
        raise TypeError(f"cudasim: cannot take a {type(a).__name__} from another device type")
    host = np.asarray(a, dtype=dtype, order=order)
    _transfer("asarray", host.nbytes)
    return _wrap(host.copy() if host is a else host, current_device_id())


array = asarray


def ascontiguousarray(a, dtype=None):
    a = asarray(a, dtype)
    if a._a.flags.c_contiguous:
        return a
    dev = current_device_id()
    return _wrap(np.ascontiguousarray(_operand(a, dev)), dev)


def asnumpy(a, stream=None, order="C", out=None):
    if type(a) is ndarray:
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def argsort(a, axis=-1, kind=None):
    """``cupy.argsort``: CuPy's sort is stable (Thrust's), its only kind; NumPy's default
    (quicksort) is not, so ties would be ordered differently from a GPU's."""
    if kind not in (None, "stable"):
        raise NotImplementedError(f"cupy.argsort: kind={kind!r} is not supported (CuPy sorts stably)")
    return _function(np.argsort, "argsort")(a, axis=axis, kind="stable")


def get_array_module(*args):
    import sys
    return sys.modules[__name__]


class _Namespace:
    """``xp.linalg``, ``xp.fft``: NumPy's submodule over device arrays."""

    def __init__(self, mod, name):
        self._mod = mod
        self._name = name

    def __getattr__(self, name):
        fn = getattr(self._mod, name)
        if callable(fn) and not isinstance(fn, type):
            fn = _function(fn, f"{self._name}.{name}")
        setattr(self, name, fn)
        return fn


class _Ufunc:
    """A NumPy ufunc over device arrays, with its ``at`` / ``reduce`` methods."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__
        self._call = _function(uf, uf.__name__)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        if not callable(attr):
            return attr
        if name == "at":
            def at(a, idx, b=None):
                dev = current_device_id()
                args = (_operand(a, dev), _index(idx, dev)) + (() if b is None else (_operand(b, dev),))
                self._uf.at(*args)
            return at
        return _function(attr, f"{self.__name__}.{name}")


class _BitGenerator:
    """CuPy's bit generators expose ``state`` as a *method* (unlike NumPy's property),
    so code that saves and restores a generator must not assign to it."""

    __slots__ = ("_bg",)  # assigning ``state`` raises, as on CuPy's extension type

    def __init__(self, bg):
        self._bg = bg

    def state(self):
        return id(self._bg)

    @property
    def seed_seq(self):
        return self._bg.seed_seq


class Generator:
    """``cupy.random.Generator`` on the simulated device."""

    def __init__(self, np_gen, dev):
        self._g = np_gen
        self._dev = dev
        self.bit_generator = _BitGenerator(np_gen.bit_generator)

    def __getattr__(self, name):
        fn = getattr(self._g, name)
        dev = self._dev

        def draw(*args, **kwargs):
            if current_device_id() != dev:  # the generator's state lives on its device
                raise ValueError(f"The device where the generator resides ({dev}) is "
                                 f"different from the current device ({current_device_id()})")
            return _wrap_result(np.asarray(fn(*args, **kwargs)), dev)
        return draw


class _Random(_Namespace):
    def default_rng(self, seed=None):
        return Generator(np.random.default_rng(seed), current_device_id())


linalg = _Namespace(np.linalg, "linalg")
fft = _Namespace(np.fft, "fft")
random = _Random(np.random, "random")


class _Cuda:
    """``cupy.cuda``: devices and the runtime's device count."""

    Device = Device

    class runtime:
        @staticmethod
        def getDeviceCount():
            return n_devices()

        @staticmethod
        def getDevice():
            return current_device_id()


cuda = _Cuda()
_N_DEVICES = 2  # enough to test the bookkeeping of device placement


def n_devices():
    return _N_DEVICES


_PASS_THROUGH = {"result_type", "promote_types", "can_cast", "dtype", "iinfo", "finfo",
                 "broadcast_shapes", "isscalar", "ndim", "shape"}


def __getattr__(name):
    attr = getattr(np, name)
    if isinstance(attr, np.ufunc):
        attr = _Ufunc(attr)
    elif callable(attr) and not isinstance(attr, type) and name not in _PASS_THROUGH:
        attr = _function(attr, name)
    elif name in _PASS_THROUGH:  # reads metadata only, never the data
        fn = attr

        def attr(*args, **kwargs):
            return fn(*[a._a if type(a) is ndarray else a for a in args], **kwargs)
    globals()[name] = attr
    return attr
