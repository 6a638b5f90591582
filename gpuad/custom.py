"""User-defined derivative rules with JAX semantics: ``custom_jvp`` and ``custom_vjp``.

The call is dispatched on the highest active trace among the arguments, like a
primitive: a forward trace runs the JVP rule; a reverse trace (or the eager tape)
records a node; a batch trace re-enters the same call with batched versions of the
function and its rules, so the rule survives under ``vmap`` at any depth.
``custom_jvp`` in reverse mode transposes the JVP rule: it is linear in the
tangents, so its VJP at zero tangents is the transpose.
"""
from __future__ import annotations

import functools

from . import core
from .errors import GpuadRuntimeError, GpuadTypeError
from .interpreters.batching import BatchTrace, BatchTracer
from .interpreters.jvp import JVPTrace, JVPTracer
from .interpreters.reverse import ReverseTrace, ReverseTracer
from .pytree import tree_flatten, tree_unflatten
from .tape import CustomNode
from .tensor import Tensor, TensorBase


def _zeros(x):
    from .ops.creation import zeros
    return zeros(x.shape, dtype=x.dtype, device=x.device)


def _as_tensors(args, fn):
    out = []
    for a in args:
        if not isinstance(a, TensorBase):
            from .ops.creation import tensor
            a = tensor(a)
        out.append(a)
    return out


def _batched(trace, fun, dims):
    """``fun`` re-entered under ``trace`` with inputs batched at ``dims``; outputs
    come back with the batch dim at 0 (materialized when unbatched)."""
    from .ops._util import bdim_front_or_broadcast

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


class custom_jvp:
    """Decorate a function whose JVP you supply with ``f.defjvp(rule)``;
    ``rule(primals, tangents) -> (primal_out, tangent_out)``."""

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.jvp_rule = None
        if nondiff_argnums:
            raise GpuadTypeError("custom_jvp: nondiff_argnums is not supported; close over them instead")

    def defjvp(self, rule):
        self.jvp_rule = rule
        return rule

    def __call__(self, *args):
        if self.jvp_rule is None:
            raise GpuadTypeError(f"custom_jvp: no JVP rule defined for {self.fun.__name__}; "
                                 "call f.defjvp(rule) first")
        return _call_custom_jvp(self.fun, self.jvp_rule, _as_tensors(args, "custom_jvp"))


def _call_custom_jvp(fun, rule, args):
    top = core.find_top_trace(args)
    if top is None:
        if core.grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return _reverse_custom_jvp(None, fun, rule, args)
        return fun(*args)
    b = core.state().nograd_level
    args = [core._lower_suspended(a, b) if b >= 0 else a for a in args]
    if isinstance(top, JVPTrace):
        primals, tangents = [], []
        for a in args:
            if isinstance(a, JVPTracer) and a._trace is top:
                primals.append(a.primal)
                tangents.append(a.tangent if a.tangent is not None else _zeros(a.primal))
            else:
                primals.append(a)
                tangents.append(_zeros(a))
        out, tout = rule(tuple(primals), tuple(tangents))
        o, otd = tree_flatten(out)
        t, _ = tree_flatten(tout)
        return tree_unflatten(otd, [JVPTracer(top, p, tt) for p, tt in zip(o, t)])
    if isinstance(top, ReverseTrace):
        return _reverse_custom_jvp(top, fun, rule, args)
    if isinstance(top, BatchTrace):
        vals = [a.val if isinstance(a, BatchTracer) and a._trace is top else a for a in args]
        dims = [a.bdim if isinstance(a, BatchTracer) and a._trace is top else None for a in args]
        n = len(args)
        bfun = _batched(top, fun, dims)

        def brule(primals, tangents):
            def both(*xs):
                return rule(tuple(xs[:n]), tuple(xs[n:]))
            return _batched(top, both, dims + dims)(*primals, *tangents)

        out = _call_custom_jvp(bfun, brule, vals)
        return _rewrap(top, out)
    raise GpuadRuntimeError(f"custom_jvp: unsupported trace {top!r}")


def _split_reverse(trace, args):
    """Primal values and tape parents of ``args`` for the eager tape (trace None) or a
    reverse trace."""
    if trace is None:
        return ([a.detach() if isinstance(a, Tensor) else a for a in args],
                [a._node if isinstance(a, Tensor) and a.requires_grad else None for a in args])
    mine = [isinstance(a, ReverseTracer) and a._trace is trace for a in args]
    return ([a.primal if m else a for a, m in zip(args, mine)],
            [a.node if m else None for a, m in zip(args, mine)])


def _reverse_custom_jvp(trace, fun, rule, args):
    from .transforms import vjp
    primals, parents = _split_reverse(trace, args)
    out = _call_custom_jvp(fun, rule, primals)
    o, otd = tree_flatten(out)

    def node_vjp_for(j):
        # The JVP rule is linear in the tangents, so its VJP (at zero tangents) is the
        # transpose. Output j's node pulls back a cotangent that is zero elsewhere.
        def node_vjp(ct):
            def tangent_map(*ts):
                return tree_flatten(rule(tuple(primals), tuple(ts))[1])[0]
            _, pull = vjp(tangent_map, *[_zeros(p) for p in primals])
            cts = [ct if k == j else _zeros(o[k]) for k in range(len(o))]
            return pull(cts)
        return node_vjp

    return tree_unflatten(otd, [_attach(trace, x, CustomNode(node_vjp_for(j), parents))
                                for j, x in enumerate(o)])


def _attach(trace, x, node):
    if trace is None:
        t = Tensor._make(x._data, x.device)
        t._node = node
        t._requires_grad = True
        return t
    return ReverseTracer(trace, x, node)


class custom_vjp:
    """Decorate a function whose VJP you supply with ``f.defvjp(fwd, bwd)``:
    ``fwd(*args) -> (out, residuals)``, ``bwd(residuals, g) -> tuple of cotangents``.
    Forward mode (jvp, jacfwd) raises: there is no JVP to use."""

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None
        if nondiff_argnums:
            raise GpuadTypeError("custom_vjp: nondiff_argnums is not supported; close over them instead")

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if self.fwd is None:
            raise GpuadTypeError(f"custom_vjp: no VJP rule defined for {self.fun.__name__}; "
                                 "call f.defvjp(fwd, bwd) first")
        return _call_custom_vjp(self.fun.__name__, self.fun, self.fwd, self.bwd,
                                _as_tensors(args, "custom_vjp"))


def _call_custom_vjp(name, fun, fwd, bwd, args):
    top = core.find_top_trace(args)
    b = core.state().nograd_level
    if b >= 0:
        args = [core._lower_suspended(a, b) for a in args]
    if top is None:
        if core.grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return _reverse_custom_vjp(None, name, fun, fwd, bwd, args)
        return fun(*args)
    if isinstance(top, JVPTrace):
        raise GpuadRuntimeError(
            f"custom_vjp: {name} has only a VJP rule, so it cannot be used in forward mode "
            "(jvp, jacfwd, hessian); use jacrev/vjp, or define it with custom_jvp")
    if isinstance(top, ReverseTrace):
        return _reverse_custom_vjp(top, name, fun, fwd, bwd, args)
    if isinstance(top, BatchTrace):
        vals = [a.val if isinstance(a, BatchTracer) and a._trace is top else a for a in args]
        dims = [a.bdim if isinstance(a, BatchTracer) and a._trace is top else None for a in args]
        bfun = _batched(top, fun, dims)
        bfwd = _batched(top, fwd, dims)

        def bbwd(res, g):
            r, rtd = tree_flatten(res)
            gl, gtd = tree_flatten(g)
            k = len(r)

            def inner(*xs):
                return bwd(tree_unflatten(rtd, list(xs[:k])), tree_unflatten(gtd, list(xs[k:])))
            return _batched(top, inner, [0] * (k + len(gl)))(*r, *gl)

        out = _call_custom_vjp(name, bfun, bfwd, bbwd, vals)
        return _rewrap(top, out)
    raise GpuadRuntimeError(f"custom_vjp: unsupported trace {top!r}")


def _reverse_custom_vjp(trace, name, fun, fwd, bwd, args):
    primals, parents = _split_reverse(trace, args)
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
