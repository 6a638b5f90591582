"""Tracing a function into a graph of primitives.

The jit trace runs the function once on *concrete* values while recording every
primitive that reaches it (after all enclosing transforms inside the function have
done their work, so ``jit(vmap(jacfwd(f)))`` records the batched tangent program
itself). Values that enter without being inputs (closure constants, creation ops
such as the identity basis of a Jacobian) become constants of the graph.

NOTE [jit and Python values]: Python scalar arguments are traced as weakly typed 0-d
inputs (NOTE [jit scalars] in ``gpuad.jit``); other non-tensor arguments are part of
the cache key, and tensors captured from a closure are baked in as constants. Changing
a captured tensor after the first call does not retrace: pass it as an argument. A
value computed only from scalar arguments and constants may be read while tracing
(``float(c)``, ``if c > 0``): the scalars it came from then become static.
"""
from __future__ import annotations

import numpy as np

from ..core import Trace
from ..tensor import Tracer


def host_value(c):
    """A graph constant's value on the host, for compile-time analysis (is it an
    identity? which literal?): one explicit device-to-host copy per plan on a GPU
    device, never one per call."""
    if isinstance(c, np.ndarray):
        return c
    get = getattr(c, "get", None)  # CuPy, and the cudasim device array
    return get() if get is not None else np.asarray(c)


class Var:
    __slots__ = ("id", "shape", "dtype")

    def __init__(self, id, shape, dtype):
        self.id = id
        self.shape = tuple(shape)
        self.dtype = dtype

    def __repr__(self):
        return f"v{self.id}{list(self.shape)}"


class Eqn:
    __slots__ = ("prim", "inputs", "params", "out")

    def __init__(self, prim, inputs, params, out):
        self.prim = prim
        self.inputs = inputs
        self.params = params
        self.out = out

    def __repr__(self):
        return f"{self.out} = {self.prim.name}({', '.join(map(repr, self.inputs))})"


class Graph:
    def __init__(self):
        self.inputs = []      # Vars of the function's tensor arguments
        self.consts = {}      # Var.id -> concrete array
        self.eqns = []
        self.outputs = []     # Vars (or constants) of the output leaves
        self._n = 0

    def new_var(self, shape, dtype):
        v = Var(self._n, shape, dtype)
        self._n += 1
        return v

    def __repr__(self):
        return "\n".join(map(repr, self.eqns))


class JitTrace(Trace):
    transform_name = "jit"
    freezes_randomness = True  # a draw would be replayed by every call (gpuad/ops/random.py)

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self._const_vars = {}
        self.concretized = set()  # positions of scalar arguments whose values were read

    def lift(self, x):
        # a value from outside the function's arguments: a constant of the graph
        from ..errors import GpuadRuntimeError
        if isinstance(x, Tracer):
            raise GpuadRuntimeError(
                "jit: a value traced by a transform outside the jitted function leaked into it; "
                "call the jitted function with it as an argument instead")
        key = id(x)
        v = self._const_vars.get(key)
        if v is None:
            v = self.graph.new_var(x.shape, x.dtype)
            self.graph.consts[v.id] = x._data
            self._const_vars[key] = (v, x)  # keep x alive so its id stays unique
        else:
            v = v[0]
        return JitTracer(self, x, v, deps=frozenset())

    def process(self, prim, tracers, params):
        out = prim.bind(*[t.val for t in tracers], **params)
        v = self.graph.new_var(out.shape, out.dtype)
        self.graph.eqns.append(Eqn(prim, [t.var for t in tracers], dict(params), v))
        deps = frozenset()
        for t in tracers:
            if t.deps is None:
                deps = None
                break
            deps = deps | t.deps
        return JitTracer(self, out, v, deps, all(t._weak for t in tracers))


class JitTracer(Tracer):
    """A value inside ``jit``: its concrete value while tracing, and its graph var.
    ``deps``: the positions of the scalar arguments it is computed from, or None when
    it depends on a tensor argument (its value is then not known while tracing).
    ``_weak``: computed from Python scalars only, so it is weakly typed as they are."""

    __slots__ = ("val", "var", "deps", "_weak")

    def __init__(self, trace, val, var, deps=None, weak=False):
        self._trace = trace
        self.val = val
        self.var = var
        self.deps = deps
        self._weak = weak

    @property
    def _has_concrete_primal(self):
        # read by Tracer._concrete just before the value is used (NOTE [jit scalars])
        if self.deps is None:
            return False
        self._trace.concretized |= self.deps
        return True

    @property
    def aval(self):
        v = self.val
        return v.shape, v.dtype, v.device

    @property
    def primal(self):
        return self.val


# -- graph passes -------------------------------------------------------------------
def _param_key(params):
    items = []
    for k in sorted(params):
        v = params[k]
        if isinstance(v, tuple):
            v = tuple(("slice", s.start, s.stop, s.step) if isinstance(s, slice) else s for s in v)
        items.append((k, v if _hashable(v) else repr(v)))
    return tuple(items)


def _hashable(v):
    try:
        hash(v)
        return True
    except TypeError:
        return False


def simplify(graph):
    """Common-subexpression elimination (reshape chains shortened), then dead-code
    elimination."""
    from ..ops.pointwise import stop_gradient_p
    from ..ops.structural import reshape_p
    alias = {}
    seen = {}
    eqns = []
    reshaped = {}  # var id -> the var a reshape made it from
    for e in graph.eqns:
        ins = [alias.get(v.id, v) for v in e.inputs]
        e.inputs = ins
        if e.prim is stop_gradient_p:  # identity at run time
            alias[e.out.id] = ins[0]
            continue
        if e.prim is reshape_p:
            # a chain of reshapes is one reshape, and one back to the start is none,
            # so a reduction's keepdims value reaches its broadcast directly
            src = reshaped.get(ins[0].id, ins[0])
            if src.shape == e.out.shape:
                alias[e.out.id] = src
                continue
            e.inputs = ins = [src]
            reshaped[e.out.id] = src
        key = (e.prim, tuple(v.id for v in ins), _param_key(e.params))
        prev = seen.get(key)
        if prev is not None:
            alias[e.out.id] = prev
            continue
        seen[key] = e.out
        eqns.append(e)
    graph.outputs = [alias.get(v.id, v) if isinstance(v, Var) else v for v in graph.outputs]
    live = {v.id for v in graph.outputs if isinstance(v, Var)}
    kept = []
    for e in reversed(eqns):
        if e.out.id in live:
            kept.append(e)
            live.update(v.id for v in e.inputs)
    kept.reverse()
    graph.eqns = kept
    graph.consts = {k: c for k, c in graph.consts.items() if k in live}
    return graph
