"""Batching (vmap): tracers carry (value, batch dim); ``bdim is None`` means the
value is the same for every batch member. Basis vectors of a Jacobian run through
this interpreter, so every op of ``jacfwd``/``jacrev`` runs once for all of them.
"""
from __future__ import annotations

from ..core import Trace, Tracer, custom_jvp_call, custom_vjp_call
from ..errors import GpuadRuntimeError
from ..pytree import tree_flatten, tree_unflatten


class BatchTrace(Trace):
    transform_name = "vmap"

    def __init__(self, axis_size, randomness="error"):
        super().__init__()
        self.axis_size = axis_size
        self.randomness = randomness

    # NOTE [randomness under vmap] (gpuad/ops/random.py)
    def random_batch(self, fn):
        if self.randomness == "error":
            raise GpuadRuntimeError(
                f"{fn}: random op called inside vmap with randomness='error'; pass "
                "randomness='different' (independent draws per batch member) or 'same' "
                "(one draw shared by the batch) to vmap (or jacfwd)")
        return self.axis_size if self.randomness == "different" else None

    def wrap_random(self, value):
        return BatchTracer(self, value, 0)

    def lift(self, x):
        return BatchTracer(self, x, None)

    def process(self, prim, tracers, params):
        vals = [t.val for t in tracers]
        dims = [t.bdim for t in tracers]
        if all(d is None for d in dims):
            return prim.bind(*vals, **params)
        if prim.batch is None:
            raise GpuadRuntimeError(f"{prim.name}: no batching rule is registered")
        out, odim = prim.batch(vals, dims, **params)
        if odim is None:
            return out
        return BatchTracer(self, out, odim)

    # A custom rule survives vmap at any depth: the call re-enters one level down with
    # batched versions of the function and its rules (``_batched``), whose outputs come
    # back with the batch dim at 0.
    def process_custom_jvp_call(self, fun, jvp, tracers):
        vals = [t.val for t in tracers]
        dims = [t.bdim for t in tracers]
        n = len(tracers)

        def bjvp(primals, tangents):
            def both(*xs):
                return jvp(tuple(xs[:n]), tuple(xs[n:]))
            return _batched(self, both, dims + dims)(*primals, *tangents)

        out = custom_jvp_call(_batched(self, fun, dims), bjvp, vals)
        return _rewrap(self, out)

    def process_custom_vjp_call(self, name, fun, fwd, bwd, tracers):
        vals = [t.val for t in tracers]
        dims = [t.bdim for t in tracers]

        def bbwd(res, g):
            r, rtd = tree_flatten(res)
            gl, gtd = tree_flatten(g)
            k = len(r)

            def inner(*xs):
                return bwd(tree_unflatten(rtd, list(xs[:k])), tree_unflatten(gtd, list(xs[k:])))
            return _batched(self, inner, [0] * (k + len(gl)))(*r, *gl)

        out = custom_vjp_call(name, _batched(self, fun, dims), _batched(self, fwd, dims), bbwd,
                              vals)
        return _rewrap(self, out)


def _batched(trace, fun, dims):
    """``fun`` re-entered under ``trace`` with inputs batched at ``dims``; outputs
    come back with the batch dim at 0 (materialized when unbatched)."""
    from ..ops.structural import bdim_front_or_broadcast

    def g(*vals):
        ins = [v if d is None else BatchTracer(trace, v, d) for v, d in zip(vals, dims)]
        out = fun(*ins)
        leaves, td = tree_flatten(out)
        res = []
        for x in leaves:
            if isinstance(x, BatchTracer) and x._trace is trace:
                res.append(bdim_front_or_broadcast(x.val, x.bdim, trace.axis_size))
            else:
                res.append(bdim_front_or_broadcast(x, None, trace.axis_size))
        return tree_unflatten(td, res)
    return g


def _rewrap(trace, tree):
    leaves, td = tree_flatten(tree)
    return tree_unflatten(td, [BatchTracer(trace, x, 0) for x in leaves])


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
