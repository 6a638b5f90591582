"""Reverse mode: tracers carry (primal, tape node). The tape is replayed by
``gpuad.interpreters.backprop`` after the function returns. The eager tape's bottom
trace gets its custom-rule recording from here (``EagerTrace``)."""
from __future__ import annotations

from .. import core
from ..core import Trace, Tracer, new_trace
from ..errors import GpuadRuntimeError, GpuadTypeError
from ..eval import EvalTrace
from ..ops.creation import zeros
from ..pytree import tree_flatten, tree_unflatten
from ..tape import CustomNode, LeafNode, Node
from ..tensor import Tensor
from .backprop import backprop


class ReverseTrace(Trace):
    differentiating = True
    transform_name = "vjp"

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
            raise GpuadRuntimeError(f"{prim.name}: no reverse-mode (VJP) rule is registered")
        return ReverseTracer(self, out, Node(prim, primals, params, out, parents))

    def process_custom_jvp_call(self, fun, jvp, tracers):
        return _custom_jvp_node(self, fun, jvp, tracers)

    def process_custom_vjp_call(self, name, fun, fwd, bwd, tracers):
        return _custom_vjp_node(self, name, fun, fwd, bwd, tracers)


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


# -- custom rules, on a reverse trace or (trace None) on the eager tape ---------------
def eager_custom_jvp(fun, jvp, args):
    """A custom_jvp call no transform sees: recorded on the eager tape if it must be."""
    if core.grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args):
        return _custom_jvp_node(None, fun, jvp, args)
    return fun(*args)


def eager_custom_vjp(name, fun, fwd, bwd, args):
    if core.grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args):
        return _custom_vjp_node(None, name, fun, fwd, bwd, args)
    return fun(*args)


def _zeros(x):
    return zeros(x.shape, dtype=x.dtype, device=x.device)


def _split(trace, args):
    """Primal values and tape parents of ``args`` for the eager tape (trace None) or a
    reverse trace (``args`` are its tracers)."""
    if trace is None:
        return ([a.detach() if isinstance(a, Tensor) else a for a in args],
                [a._node if isinstance(a, Tensor) and a.requires_grad else None for a in args])
    return [a.primal for a in args], [a.node for a in args]


def _attach(trace, x, node):
    if trace is None:
        t = Tensor._make(x._data, x.device)
        t._node = node
        t._requires_grad = True
        return t
    return ReverseTracer(trace, x, node)


def _transpose(linear, zeros_in, cts):
    """Input cotangents of ``linear`` (linear in its inputs) for output cotangents
    ``cts``: one reverse pass at zero inputs."""
    leaves = [LeafNode(index=i) for i in range(len(zeros_in))]
    with new_trace(ReverseTrace()) as tr:
        outs = linear(*[ReverseTracer(tr, z, n) for z, n in zip(zeros_in, leaves)])
        nodes = [x.node if isinstance(x, ReverseTracer) and x._trace is tr else None
                 for x in outs]
    got = backprop(nodes, cts)
    return tuple(got[id(l)][1] if id(l) in got else _zeros(z) for l, z in zip(leaves, zeros_in))


def _custom_jvp_node(trace, fun, jvp, args):
    # custom_jvp in reverse mode: the primal call goes one level down, and the node's
    # VJP is the transpose of the JVP rule, which is linear in the tangents.
    primals, parents = _split(trace, args)
    out = core.custom_jvp_call(fun, jvp, primals)
    o, otd = tree_flatten(out)

    def node_vjp_for(j):
        # output j's node pulls back a cotangent that is zero on the other outputs
        def node_vjp(ct):
            def tangent_map(*ts):
                return tree_flatten(jvp(tuple(primals), tuple(ts))[1])[0]
            cts = [ct if k == j else _zeros(o[k]) for k in range(len(o))]
            return _transpose(tangent_map, [_zeros(p) for p in primals], cts)
        return node_vjp

    return tree_unflatten(otd, [_attach(trace, x, CustomNode(node_vjp_for(j), parents))
                                for j, x in enumerate(o)])


def _custom_vjp_node(trace, name, fun, fwd, bwd, args):
    primals, parents = _split(trace, args)
    res = fwd(*primals)
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        raise GpuadTypeError(f"custom_vjp: the fwd rule of {name} must return (output, residuals)")
    out, residuals = res
    o, otd = tree_flatten(out)

    def node_vjp_for(j):
        def node_vjp(ct):
            g = ct if len(o) == 1 and otd.kind == "leaf" else tree_unflatten(
                otd, [ct if k == j else _zeros(o[k]) for k in range(len(o))])
            cts = bwd(residuals, g)
            if not isinstance(cts, (tuple, list)) or len(cts) != len(primals):
                raise GpuadTypeError(f"custom_vjp: the bwd rule of {name} must return a tuple with "
                                     f"one cotangent per input ({len(primals)}), got {cts!r}")
            return tuple(cts)
        return node_vjp

    return tree_unflatten(otd, [_attach(trace, x, CustomNode(node_vjp_for(j), parents))
                                for j, x in enumerate(o)])


class EagerTrace(EvalTrace):
    """The bottom trace with the eager tape's custom rules: a call no transform sees is
    recorded on the tape when an argument requires grad."""

    def process_custom_jvp_call(self, fun, jvp, tracers):
        return eager_custom_jvp(fun, jvp, tracers)

    def process_custom_vjp_call(self, name, fun, fwd, bwd, tracers):
        return eager_custom_vjp(name, fun, fwd, bwd, tracers)


core.install_eval_trace(EagerTrace())
core.install_linear_transpose(_transpose)
