"""``Tensor`` (a device array with an optional eager-tape node) and ``Tracer``
(the value a transform passes through user code). Both share ``TensorBase``, which
gives them the operator and method surface of API.md."""
from __future__ import annotations

import numpy as np

from .errors import (GpuadRuntimeError, GpuadTypeError, GpuadValueError, TracerArrayConversionError,
                     TracerBoolConversionError)


class TensorBase:
    __slots__ = ()
    __array_priority__ = 1000  # NumPy defers binary operators to us

    # -- shape metadata ----------------------------------------------------------
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __len__(self):
        if not self.shape:
            raise GpuadTypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def T(self):
        from .ops import shape as S
        return S.permute_dims(self, tuple(range(self.ndim))[::-1])

    @property
    def mT(self):
        from .ops import shape as S
        return S.matrix_transpose(self)

    @property
    def real(self):
        """Real part (``ad.real``); the tensor itself when it is real."""
        from .ops import pointwise
        return pointwise.real(self)

    @property
    def imag(self):
        """Imaginary part (``ad.imag``); zeros when the tensor is real."""
        from .ops import complex as C
        return C.imag(self)

    def __array_namespace__(self, api_version=None):
        import gpuad
        return gpuad

    # -- NumPy protocols (docs/numpy.md) -------------------------------------------
    # A NumPy function or ufunc called on a gpuad tensor runs gpuad's own function: the
    # result is a gpuad tensor, differentiable and batchable. What gpuad does not
    # implement raises GpuadTypeError (gpuad/numpy_dispatch.py); it never converts.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs + tuple(kwargs.get("out") or ()):
            if (hasattr(type(x), "__array_ufunc__") and not isinstance(x, (np.ndarray, TensorBase))
                    and not np.isscalar(x)):
                return NotImplemented  # NEP 13: a foreign array type decides
        from . import numpy_dispatch
        out = numpy_dispatch.array_ufunc(ufunc, method, inputs, kwargs)
        if out is not None:
            return out
        raise numpy_dispatch.unimplemented(f"numpy.{ufunc.__name__}", inputs)

    def __array_function__(self, func, types, args, kwargs):
        if not all(issubclass(t, (np.ndarray, TensorBase)) for t in types):
            return NotImplemented  # NEP 18: an unknown array type takes part
        from . import numpy_dispatch
        return numpy_dispatch.array_function(func, args, kwargs)

    # -- operators ---------------------------------------------------------------
    def __add__(self, o): return _P.add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _P.subtract(self, o)
    def __rsub__(self, o): return _ops().subtract(o, self)
    def __mul__(self, o): return _P.multiply(self, o)
    def __rmul__(self, o): return _ops().multiply(o, self)
    def __truediv__(self, o): return _P.divide(self, o)
    def __rtruediv__(self, o): return _ops().divide(o, self)
    def __pow__(self, o): return _P.pow(self, o)
    def __rpow__(self, o): return _ops().pow(o, self)
    def __matmul__(self, o): return _linalg().matmul(self, o)
    def __rmatmul__(self, o): return _linalg().matmul(o, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)
    def __eq__(self, o): return _ops().equal(self, o)
    def __ne__(self, o): return _ops().not_equal(self, o)
    def __lt__(self, o): return _ops().less(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    def __invert__(self): return _ops().logical_not(self)
    def __and__(self, o): return _ops().logical_and(self, o)
    def __or__(self, o): return _ops().logical_or(self, o)
    def __mod__(self, o): return _remainder(self, o, False)
    def __rmod__(self, o): return _remainder(self, o, True)
    __hash__ = object.__hash__

    def __getitem__(self, idx):
        from .ops import indexing
        return indexing.getitem(self, idx)

    # -- methods -----------------------------------------------------------------
    def reshape(self, *shape):
        from .ops import shape as S
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return S.reshape(self, shape)

    def transpose(self, *axes):
        from .ops import shape as S
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return S.permute_dims(self, axes if axes else None)

    def permute(self, *axes):
        return self.transpose(*axes)

    def astype(self, dtype):
        return _ops().astype(self, dtype)

    def flatten(self):
        return self.reshape(-1)

    def ravel(self):
        """The tensor as 1-D (``ad.ravel``)."""
        return self.reshape(-1)

    def squeeze(self, axis=None):
        from .ops import shape as S
        return S.squeeze(self, axis)

    def expand_dims(self, axis):
        from .ops import shape as S
        return S.expand_dims(self, axis)

    def clip(self, min=None, max=None):
        return _ops().clip(self, min, max)

    def pow(self, o):
        return _ops().pow(self, o)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def _ops():
    from .ops import pointwise
    return pointwise


def _grad_enabled():
    from .core import grad_enabled
    return grad_enabled()


def _records_grad(x):
    """Whether ``x`` carries a derivative that converting it to a concrete value
    would drop: a tracer, or an eager tensor that requires grad (outside no_grad)."""
    if isinstance(x, Tracer):
        return True
    return isinstance(x, Tensor) and x._requires_grad and _grad_enabled()


_TRACE_NAMES = {"JVPTrace": "jvp", "ReverseTrace": "vjp", "BatchTrace": "vmap", "JitTrace": "jit"}


def _transform_name(trace):
    """The user-facing transform that owns ``trace`` (jacfwd, grad, vmap, ...)."""
    name = getattr(trace, "transform_name", None)
    return name or _TRACE_NAMES.get(type(trace).__name__, type(trace).__name__)


def _remainder(self, o, reflected):
    """``%``: ``ad.remainder`` (NumPy's sign convention, differentiable)."""
    from .ops import arith
    return arith.remainder(o, self) if reflected else arith.remainder(self, o)


def _linalg():
    from .ops import linalg
    return linalg


_P = None  # gpuad.ops.pointwise, bound once at import (operators are the hot path)


def _add_unary_methods():
    global _P
    from .ops import pointwise, reductions
    _P = pointwise

    for name in pointwise.UNARY_NAMES + ("sigmoid", "erf"):
        fn = getattr(pointwise, name)
        setattr(TensorBase, name, (lambda f: lambda self: f(self))(fn))
    for name in reductions.METHOD_NAMES:
        fn = getattr(reductions, name)
        setattr(TensorBase, name, (lambda f: lambda self, *a, **k: f(self, *a, **k))(fn))
    from .ops import arith, arrays
    for mod in (arith, arrays):
        for name in mod.METHOD_NAMES:
            fn = getattr(mod, name)
            setattr(TensorBase, name, (lambda f: lambda self, *a, **k: f(self, *a, **k))(fn))
    from .ops import compat
    for name, fn in compat.METHODS.items():
        setattr(TensorBase, name, (lambda f: lambda self, *a, **k: f(self, *a, **k))(fn))


class Tensor(TensorBase):
    """A dense array on a device, with an optional node of the eager reverse tape."""

    __slots__ = ("_data", "_device", "_requires_grad", "grad", "_node", "__weakref__")

    def __init__(self, data, device="cpu", requires_grad=False):
        self._data = data
        self._device = device
        self._requires_grad = False
        self.grad = None
        self._node = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, device):
        t = object.__new__(cls)
        t._data = data
        t._device = device
        t._requires_grad = False
        t.grad = None
        t._node = None
        return t

    @property
    def shape(self):
        return tuple(self._data.shape)

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        return self._device

    @property
    def data(self):
        return self._data

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    @property
    def is_leaf(self):
        from .tape import LeafNode
        return self._node is None or isinstance(self._node, LeafNode)

    def requires_grad_(self, requires_grad=True):
        from .tape import LeafNode
        if requires_grad:
            if self.dtype.kind not in "fc":
                raise GpuadTypeError(
                    f"requires_grad_: only floating point and complex tensors can require "
                    f"gradients, got dtype {self.dtype}")
            if self._node is None:
                self._node = LeafNode(self)
            self._requires_grad = True
        else:
            if self._node is not None and not isinstance(self._node, LeafNode):
                raise GpuadRuntimeError(
                    "requires_grad_: can only change requires_grad of leaf tensors; "
                    "use detach() for a non-leaf")
            self._node = None
            self._requires_grad = False
        return self

    def detach(self):
        return Tensor._make(self._data, self._device)

    def backward(self, grad=None, *, retain_graph=False, create_graph=False):
        from .tape import eager_backward
        eager_backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    # -- conversion --------------------------------------------------------------
    # NOTE [conversions and derivatives]: as in torch, numpy(), __array__ and the
    # exports (__dlpack__, __cuda_array_interface__) of a tensor that requires grad
    # raise while grad is enabled: the array would leave the tape and the gradient
    # would silently miss whatever NumPy computes from it. item(), float() and
    # tolist() give Python numbers, as torch allows (visibly constants).
    def _host(self):
        from .backends import get_backend
        return get_backend(self._device).to_numpy(self._data)

    def _check_export(self, what):
        if self._requires_grad and _grad_enabled():
            raise TracerArrayConversionError(
                f"{what} of a tensor that requires grad: the array would not be recorded on the "
                "gradient tape, so its derivative would be silently dropped. Use gpuad functions "
                "(ad.sin, ad.linalg.inv, ...) on the tensor, or x.detach() (or `with ad.no_grad():`) "
                "to take its value as a constant")

    def numpy(self):
        self._check_export("Tensor.numpy()")
        return self._host()

    def item(self):
        if self.size != 1:
            raise GpuadValueError(f"item: only a tensor with one element can be converted "
                                   f"to a Python scalar, got shape {self.shape}")
        return self._host().reshape(()).item()

    def tolist(self):
        return self._host().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.ndim != 0:
            raise GpuadTypeError("__index__: only 0-d integer tensors can be used as an index")
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise GpuadValueError(
                f"bool: the truth value of a tensor with {self.size} elements is ambiguous; "
                "use .any() / .all() or ad.where")
        return bool(self.item())

    def to(self, device):
        """This tensor on ``device`` (itself when it is there already). Between two devices
        of one GPU kind (``"cuda"`` -> ``"cuda:1"``) the copy is peer to peer, with no
        host transfer; otherwise it goes through the host."""
        from .backends import check_name, device_kind, get_backend
        device = check_name(device, "Tensor.to")
        if device == self._device:
            return self
        src = get_backend(self._device)
        dst = get_backend(device)
        if device_kind(device) == device_kind(self._device):
            data = dst.asarray(self._data)  # peer to peer (KernelBackend.asarray)
        else:
            data = dst.asarray(src.to_numpy(self._data))
        from .ops.pointwise import _copy_to
        return _copy_to(self, data, device)

    def cpu(self):
        return self.to("cpu")

    def __array__(self, dtype=None, copy=None):
        if self._device.startswith("cuda") and not self._device.startswith("cudasim"):
            raise GpuadTypeError(
                "__array__: a cuda tensor cannot be converted to NumPy implicitly; "
                "call .to('cpu') or .numpy() to copy it to the host")
        self._check_export("np.asarray/__array__")
        a = np.asarray(self._data)
        return a.astype(dtype) if dtype is not None else a

    def __dlpack__(self, *args, **kwargs):
        self._check_export("__dlpack__")
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self):
        if not self._device.startswith("cuda") or self._device.startswith("cudasim"):
            raise AttributeError(
                "__cuda_array_interface__ is only defined for tensors on device 'cuda', "
                f"this one is on {self._device!r}")
        self._check_export("__cuda_array_interface__")
        return self._data.__cuda_array_interface__

    def __repr__(self):
        body = np.array2string(self._host(), separator=", ", prefix="tensor(")
        extra = "" if self.dtype == np.float64 else f", dtype={self.dtype}"
        if self._device != "cpu":
            extra += f", device={self._device!r}"
        if self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"


class Tracer(TensorBase):
    """A value inside a transform. Subclasses hold their trace's data."""

    __slots__ = ("_trace",)
    requires_grad = False
    grad = None

    @property
    def shape(self):
        return self.aval[0]

    @property
    def dtype(self):
        return self.aval[1]

    @property
    def device(self):
        return self.aval[2]

    def _concrete_error(self, what):
        return TracerBoolConversionError(
            f"{what}: the value of a tensor traced by {_transform_name(self._trace)} is not "
            "known while the transform traces the function (data-dependent Python control "
            "flow); use ad.where(cond, a, b) instead of if/else on tensor values")

    def _array_error(self, what):
        return TracerArrayConversionError(
            f"{what} of a value traced by {_transform_name(self._trace)}: converting it to a "
            "concrete array would silently drop its derivative (or its batch dimension). "
            "Use gpuad functions (ad.sin, ad.linalg.inv, ...) instead of NumPy functions on "
            "traced values (a Python list of traced values: ad.stack(values) stacks them "
            "differentiably); to use a differentiated value as a constant, convert it inside "
            "`with ad.no_grad():`")

    def _lowered(self, what):
        """The concrete tensor under this tracer when every trace in between is a
        differentiating trace suspended by an active ``no_grad`` (the user asked for a
        constant); else a TracerArrayConversionError."""
        from .core import _lower_suspended, _state
        boundary = _state.nograd_level
        x = _lower_suspended(self, boundary) if boundary >= 0 else self
        if isinstance(x, Tracer):
            raise x._array_error(what)
        return x

    # Under differentiation (not under vmap or jit) the primal value is concrete, as in
    # torch.func: Python control flow, float() and item() see it and treat it as a
    # constant. Under vmap or jit there is no single value and they raise.
    _has_concrete_primal = False

    def _concrete(self, what):
        x = self
        while isinstance(x, Tracer):
            if not x._has_concrete_primal:
                raise x._concrete_error(what)
            x = x.primal
        return x

    def __bool__(self):
        return bool(self._concrete("bool"))

    def __float__(self):
        return float(self._concrete("float"))

    def __int__(self):
        return int(self._concrete("int"))

    def __index__(self):
        return self._concrete("__index__").__index__()

    def item(self):
        return self._concrete("item").item()

    def numpy(self):
        return self._lowered("Tensor.numpy()").numpy()

    def tolist(self):
        return self._concrete("tolist").tolist()

    def __array__(self, dtype=None, copy=None):
        return self._lowered("np.asarray/__array__").__array__(dtype)

    def detach(self):
        from .ops.pointwise import stop_gradient
        return stop_gradient(self)

    def requires_grad_(self, requires_grad=True):
        return self

    def to(self, device):
        if device == self.device:
            return self
        raise GpuadRuntimeError("Tensor.to: moving a traced tensor between devices inside a transform is not supported")

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, level={self._trace.level})"
