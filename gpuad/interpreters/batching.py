"""Batching (vmap): tracers carry (value, batch dim); ``bdim is None`` means the
value is the same for every batch member. Basis vectors of a Jacobian run through
this interpreter, so every op of ``jacfwd``/``jacrev`` runs once for all of them.
"""
from __future__ import annotations

from ..core import Trace
from ..tensor import Tracer


class BatchTrace(Trace):
    def __init__(self, axis_size, randomness="error"):
        super().__init__()
        self.axis_size = axis_size
        self.randomness = randomness

    def lift(self, x):
        return BatchTracer(self, x, None)

    def process(self, prim, tracers, params):
        vals = [t.val for t in tracers]
        dims = [t.bdim for t in tracers]
        if all(d is None for d in dims):
            return prim.bind(*vals, **params)
        if prim.batch is None:
            from ..errors import GpuadRuntimeError
            raise GpuadRuntimeError(f"{prim.name}: no batching rule is registered")
        out, odim = prim.batch(vals, dims, **params)
        if odim is None:
            return out
        return BatchTracer(self, out, odim)


class BatchTracer(Tracer):
    __slots__ = ("val", "bdim")

    def __init__(self, trace, val, bdim):
        self._trace = trace
        self.val = val
        self.bdim = bdim

    @property
    def aval(self):
        v = self.val
        s = v.shape
        if self.bdim is not None:
            s = s[:self.bdim] + s[self.bdim + 1:]
        return s, v.dtype, v.device

    @property
    def primal(self):  # batching never suspends, but keep the attribute uniform
        return self.val
