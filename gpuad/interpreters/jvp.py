"""Forward mode: tracers carry (primal, tangent); ``None`` is a symbolic zero."""
from __future__ import annotations

from ..core import Trace
from ..tensor import Tracer


class JVPTrace(Trace):
    differentiating = True

    def lift(self, x):
        return JVPTracer(self, x, None)

    def process(self, prim, tracers, params):
        primals = [t.primal for t in tracers]
        tangents = [t.tangent for t in tracers]
        if all(t is None for t in tangents) or not prim.differentiable:
            return prim.bind(*primals, **params)
        if prim.jvp is None:
            from ..errors import GpuadRuntimeError
            raise GpuadRuntimeError(f"{prim.name}: no forward-mode (JVP) rule is registered")
        out, tout = prim.jvp(primals, tangents, **params)
        if tout is None:
            return out
        return JVPTracer(self, out, tout)


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")
    _has_concrete_primal = True

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent

    @property
    def aval(self):
        p = self.primal
        return p.shape, p.dtype, p.device
