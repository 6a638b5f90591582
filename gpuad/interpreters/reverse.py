"""Reverse mode: tracers carry (primal, tape node). The tape is replayed by
``gpuad.tape.backprop`` after the function returns."""
from __future__ import annotations

from ..core import Trace
from ..tape import Node
from ..tensor import Tracer


class ReverseTrace(Trace):
    differentiating = True

    def lift(self, x):
        return ReverseTracer(self, x, None)

    def process(self, prim, tracers, params):
        primals = [t.primal for t in tracers]
        out = prim.bind(*primals, **params)
        if not prim.differentiable:
            return out
        nd = prim.nondiff_args
        parents = [None if i in nd else t.node for i, t in enumerate(tracers)]
        if all(p is None for p in parents):
            return out
        if prim.vjp is None:
            from ..errors import GpuadRuntimeError
            raise GpuadRuntimeError(f"{prim.name}: no reverse-mode (VJP) rule is registered")
        return ReverseTracer(self, out, Node(prim, primals, params, out, parents))


class ReverseTracer(Tracer):
    __slots__ = ("primal", "node")
    _has_concrete_primal = True

    def __init__(self, trace, primal, node):
        self._trace = trace
        self.primal = primal
        self.node = node

    @property
    def aval(self):
        p = self.primal
        return p.shape, p.dtype, p.device
