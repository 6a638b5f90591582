"""Forward mode: tracers carry (primal, tangent); ``None`` is a symbolic zero."""
from __future__ import annotations

from ..core import Trace, Tracer
from ..pytree import tree_flatten, tree_unflatten


class JVPTrace(Trace):
    differentiating = True
    transform_name = "jvp"

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

    def process_custom_jvp_call(self, fun, jvp, tracers):
        # the user's rule on (primals, tangents), symbolic zero tangents made concrete
        primals = tuple(t.primal for t in tracers)
        tangents = tuple(t.tangent if t.tangent is not None else _zeros(t.primal)
                         for t in tracers)
        out, tout = jvp(primals, tangents)
        o, otd = tree_flatten(out)
        t, _ = tree_flatten(tout)
        return tree_unflatten(otd, [JVPTracer(self, p, tt) for p, tt in zip(o, t)])

    def process_custom_vjp_call(self, name, fun, fwd, bwd, tracers):
        from ..errors import GpuadRuntimeError
        raise GpuadRuntimeError(
            f"custom_vjp: {name} has only a VJP rule, so it cannot be used in forward mode "
            "(jvp, jacfwd, hessian); use jacrev/vjp, or define it with custom_jvp")


def _zeros(x):
    from ..ops.creation import zeros
    return zeros(x.shape, dtype=x.dtype, device=x.device)


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
