"""User-defined derivative rules with JAX semantics: ``custom_jvp`` and ``custom_vjp``.

A call binds like a primitive (``core.custom_jvp_call`` / ``core.custom_vjp_call``):
the highest active trace among the arguments applies the rule through its
``process_custom_jvp_call`` / ``process_custom_vjp_call`` method, so every trace
has one (NOTE in ``core.Trace``): a forward trace runs the JVP rule; a reverse trace
(or the eager tape) records a node, ``custom_jvp`` transposing its JVP rule, which
is linear in the tangents; a batch trace re-enters the call with batched versions of
the function and its rules, so the rule survives ``vmap`` at any depth; jit's trace
does not differentiate and runs the function itself. Under ``jit(grad(f))`` the
reverse trace is above jit's, applies the rule, and hands jit only primal calls.
"""
from __future__ import annotations

import functools

from . import core
from .errors import GpuadTypeError
from .tensor import TensorBase


def _as_tensors(args):
    out = []
    for a in args:
        if not isinstance(a, TensorBase):
            from .ops.creation import tensor
            a = tensor(a)
        out.append(a)
    return out


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
        return core.custom_jvp_call(self.fun, self.jvp_rule, _as_tensors(args))


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
        return core.custom_vjp_call(self.fun.__name__, self.fun, self.fwd, self.bwd,
                                    _as_tensors(args))
