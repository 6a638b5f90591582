"""Evaluating a primitive on concrete tensors, and recording the eager tape: the
bottom trace's rule for primitives (NOTE [the eval trace is installed from above])."""
from __future__ import annotations

from . import core, launches
from .backends import get_backend
from .backends.base import CURRENT
from .errors import GpuadValueError
from .tape import Node
from .tensor import Tensor


def eval_prim(prim, args, params):
    device = None
    for a in args:
        d = a._device
        if device is None:
            device = d
        elif d != device:
            raise GpuadValueError(
                f"{prim.name}: all tensor arguments must be on one device, got {device!r} and {d!r}; "
                "move them with Tensor.to(device)")
    backend = get_backend(device)
    current = backend.activate()  # the op runs on its tensors' device (NOTE [device names])
    if current is CURRENT:  # already current (always on cpu): skip the with's two calls
        return _eval_on(prim, args, params, backend, device)
    with current:
        return _eval_on(prim, args, params, backend, device)


def _eval_on(prim, args, params, backend, device):
    if getattr(backend, "counts_kernels", False):
        # GPU: the device kernels are counted where they launch (gpuad.launches); gpuad's
        # own are recorded under this primitive's name
        if launches._active:
            with launches.op_scope(prim.name):
                out = prim.impl(backend, *[a._data for a in args], **params)
        else:
            out = prim.impl(backend, *[a._data for a in args], **params)
    else:
        out = prim.impl(backend, *[a._data for a in args], **params)
        if prim.kernel:
            launches.record(prim.name)
    t = Tensor._make(out, device)
    if core._state.nograd_level < 0 and prim.differentiable:
        for i, a in enumerate(args):
            if a._requires_grad and i not in prim.nondiff_args:
                _record(prim, args, params, t)
                break
    return t


def _record(prim, args, params, out):
    parents = [a._node if (a._requires_grad and i not in prim.nondiff_args) else None
               for i, a in enumerate(args)]
    out._node = Node(prim, args, params, out, parents)
    out._requires_grad = True


class EvalTrace(core.EvalTrace):
    """Runs primitives on concrete tensors; custom rules are the reverse interpreter's
    (``gpuad.interpreters.reverse.EagerTrace``)."""

    # ``bind`` calls it straight, with no frame of the trace's own: the eager hot path
    process = staticmethod(eval_prim)


core.install_eval_trace(EvalTrace())
