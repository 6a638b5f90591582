"""The operator and method surface of API.md, installed on ``TensorBase`` (so on
``Tensor`` and on every tracer) by the ops layer, as JAX installs its operators on its
tracer. The layers below define values without knowing the ops built on them."""
from __future__ import annotations

import inspect

from ..backends import check_name, device_kind, get_backend
from ..core import TensorBase, Tracer
from ..tensor import Tensor
from . import arith, arrays, compat, complex as C, indexing, linalg, pointwise as P, reductions
from . import shape as S


def _method(fn):
    """``fn`` as a method whose receiver is its first argument. A plain function binds
    as it is (one Python frame less per operator: operators are the eager hot path)."""
    if inspect.isfunction(fn):
        return fn
    return lambda self, *a, **k: fn(self, *a, **k)


def _reflected(fn):
    return lambda self, o: fn(o, self)


def _shape_args(args):
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _reshape(self, *shape):
    return S.reshape(self, _shape_args(shape))


def _transpose(self, *axes):
    axes = _shape_args(axes)
    return S.permute_dims(self, axes if axes else None)


def _to(self, device):
    """This tensor on ``device`` (itself when it is there already). Between two devices
    of one GPU kind (``"cuda"`` -> ``"cuda:1"``) the copy is peer to peer, with no
    host transfer; otherwise it goes through the host."""
    device = check_name(device, "Tensor.to")
    if device == self._device:
        return self
    src = get_backend(self._device)
    dst = get_backend(device)
    if device_kind(device) == device_kind(self._device):
        data = dst.asarray(self._data)  # peer to peer (KernelBackend.asarray)
    else:
        data = dst.asarray(src.to_numpy(self._data))
    return P._copy_to(self, data, device)


_OPERATORS = {
    "__add__": P.add, "__radd__": _reflected(P.add),
    "__sub__": P.subtract, "__rsub__": _reflected(P.subtract),
    "__mul__": P.multiply, "__rmul__": _reflected(P.multiply),
    "__truediv__": P.divide, "__rtruediv__": _reflected(P.divide),
    "__pow__": P.pow, "__rpow__": _reflected(P.pow),
    "__matmul__": linalg.matmul, "__rmatmul__": _reflected(linalg.matmul),
    "__neg__": P.negative, "__abs__": P.abs,
    "__eq__": P.equal, "__ne__": P.not_equal, "__lt__": P.less, "__le__": P.less_equal,
    "__gt__": P.greater, "__ge__": P.greater_equal,
    "__invert__": P.logical_not, "__and__": P.logical_and, "__or__": P.logical_or,
    # ``%``: ``ad.remainder`` (NumPy's sign convention, differentiable)
    "__mod__": arith.remainder, "__rmod__": _reflected(arith.remainder),
    "__getitem__": indexing.getitem,
}

_PROPERTIES = {
    "T": lambda self: S.permute_dims(self, tuple(range(self.ndim))[::-1]),
    "mT": S.matrix_transpose,
    "real": P.real,   # the tensor itself when it is real
    "imag": C.imag,   # zeros when the tensor is real
}


def _methods():
    m = {
        "reshape": _reshape, "transpose": _transpose, "permute": _transpose,
        "astype": P.astype, "flatten": lambda self: S.reshape(self, (-1,)),
        "ravel": lambda self: S.reshape(self, (-1,)), "squeeze": S.squeeze,
        "expand_dims": S.expand_dims, "clip": P.clip, "pow": P.pow,
    }
    for name in P.UNARY_NAMES + ("sigmoid", "erf"):
        m[name] = getattr(P, name)
    for mod in (reductions, arith, arrays):
        for name in mod.METHOD_NAMES:
            m[name] = getattr(mod, name)
    m.update(compat.METHODS)
    return m


def install():
    for name, fn in _OPERATORS.items():
        setattr(TensorBase, name, _method(fn))
    TensorBase.__pos__ = lambda self: self
    TensorBase.__hash__ = object.__hash__  # defining __eq__ must not unhash tensors
    for name, fn in _PROPERTIES.items():
        setattr(TensorBase, name, property(_method(fn)))
    for name, fn in _methods().items():
        setattr(TensorBase, name, _method(fn))
    Tensor.to = _to
    Tracer.detach = lambda self: P.stop_gradient(self)


install()
