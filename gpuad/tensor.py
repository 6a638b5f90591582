"""``Tensor``: a dense array on a device, with an optional node of the eager reverse
tape. It shares ``TensorBase`` with ``Tracer`` (the value a transform passes through
user code; both live in ``gpuad.core``); the operators and methods of API.md are
installed on ``TensorBase`` by the ops layer (``gpuad.ops.methods``)."""
from __future__ import annotations

import numpy as np

from .backends import get_backend
from .core import TensorBase, Tracer, grad_enabled  # noqa: F401  (Tracer: re-exported)
from .errors import GpuadRuntimeError, GpuadTypeError, GpuadValueError, TracerArrayConversionError
from .tape import LeafNode


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
        return self._node is None or isinstance(self._node, LeafNode)

    def requires_grad_(self, requires_grad=True):
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

    # -- conversion --------------------------------------------------------------
    # NOTE [conversions and derivatives]: as in torch, numpy(), __array__ and the
    # exports (__dlpack__, __cuda_array_interface__) of a tensor that requires grad
    # raise while grad is enabled: the array would leave the tape and the gradient
    # would silently miss whatever NumPy computes from it. item(), float() and
    # tolist() give Python numbers, as torch allows (visibly constants).
    def _host(self):
        return get_backend(self._device).to_numpy(self._data)

    def _check_export(self, what):
        if self._requires_grad and grad_enabled():
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
