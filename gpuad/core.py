"""Traces, tracers and ``bind``: the interpreter stack every transform pushes onto.

A transform (jvp, vjp, vmap) pushes a *trace* at ``level = depth of the stack``,
wraps its inputs in tracers owned by that trace, runs the user function, and pops
the trace in a ``finally``. ``bind`` sends each primitive application to the
highest-level trace among its arguments; that trace's rule runs the primitive on
the tracers' lower-level contents, so rules always run "under the parent trace".
Tracers of a higher level never hide inside values of a lower level, which is what
rules out perturbation confusion in nestings like ``jacfwd(lambda x: jacfwd(lambda
y: x * y)(x))``.

NOTE [no_grad under transforms]: ``no_grad()`` records the stack depth at which it
was entered. Differentiating traces (jvp, reverse) at or below that depth are
*suspended* inside the block: their tracers are lowered to their primal values, so
the block's results are constants for them in forward and reverse mode alike (like
JAX's ``stop_gradient``). Transforms started inside the block sit above the
boundary and work normally; a transform called under an outer ``no_grad`` is
likewise above it, so it ignores that outer context, as torch.func's transforms do.
The eager tape counts as level 0 and is suspended by any active ``no_grad``.
"""
from __future__ import annotations

import threading

from .errors import GpuadRuntimeError
from .tensor import Tracer


class _State(threading.local):
    def __init__(self):
        self.stack = []          # active traces, outermost first
        self.nograd_level = -1   # traces with level <= this are suspended
        self.nograd_depth = 0


_state = _State()


def state():
    return _state


def grad_enabled() -> bool:
    """Whether the eager tape records (no ``no_grad`` block is active)."""
    return _state.nograd_level < 0


class Trace:
    """One interpreter level. Subclasses define ``lift``, ``process`` and friends.

    Custom derivative rules (``gpuad.custom``) reach a trace through
    ``process_custom_jvp_call`` and ``process_custom_vjp_call``, as primitives reach it
    through ``process``. The defaults suit a trace that does not differentiate (jit's):
    it runs the function itself, whose ops then come to it one by one. A
    differentiating trace must define both, or the user's rule would be silently
    replaced by the derivative of the function's own ops; the defaults raise for it.
    """

    differentiating = False
    # True for a trace that records a program to replay later (jit's): a random op under
    # it would be frozen into the program, so ``gpuad.ops.random`` refuses to draw there.
    # Ops read this flag instead of importing the trace classes of the transforms.
    freezes_randomness = False

    def __init__(self):
        self.level = None

    def lift(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def process(self, prim, tracers, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def process_custom_jvp_call(self, fun, jvp, tracers):
        """``fun(*tracers)`` for a ``custom_jvp`` function whose JVP rule is
        ``jvp(primals, tangents) -> (out, tangent_out)``; ``tracers`` are this trace's."""
        if self.differentiating:
            raise GpuadRuntimeError(f"custom_jvp: {type(self).__name__} does not define "
                                    "process_custom_jvp_call")
        return fun(*tracers)

    def process_custom_vjp_call(self, name, fun, fwd, bwd, tracers):
        """``fun(*tracers)`` for the ``custom_vjp`` function ``name`` with rules
        ``fwd(*args) -> (out, residuals)`` and ``bwd(residuals, g) -> cotangents``."""
        if self.differentiating:
            raise GpuadRuntimeError(f"custom_vjp: {type(self).__name__} does not define "
                                    "process_custom_vjp_call")
        return fun(*tracers)

    def __repr__(self):
        return f"{type(self).__name__}(level={self.level})"


class new_trace:
    """Context manager pushing ``trace`` on this thread's stack; always popped."""

    __slots__ = ("trace",)

    def __init__(self, trace):
        self.trace = trace

    def __enter__(self):
        st = _state
        self.trace.level = len(st.stack) + 1
        st.stack.append(self.trace)
        return self.trace

    def __exit__(self, *exc):
        st = _state
        # Pop down to (and including) our trace even if a user function left
        # something inconsistent: the library must be as before the call.
        while st.stack:
            t = st.stack.pop()
            if t is self.trace:
                break
        self.trace.level = -1  # tracers of a finished trace are now inert
        return False


def current_depth() -> int:
    return len(_state.stack)


class no_grad:
    """Context manager (and decorator): values computed inside are constants for
    every differentiating transform started outside the block and for the eager
    tape. See NOTE [no_grad under transforms]."""

    def __enter__(self):
        st = _state
        self._saved = st.nograd_level
        st.nograd_level = len(st.stack)
        return self

    def __exit__(self, *exc):
        _state.nograd_level = self._saved
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with no_grad():
                return fn(*a, **k)

        return wrapper


class enable_grad(no_grad):
    """Re-enables recording inside a ``no_grad`` block (eager tape only)."""

    def __enter__(self):
        st = _state
        self._saved = st.nograd_level
        st.nograd_level = -1
        return self


def _lower_suspended(x, boundary):
    while isinstance(x, Tracer):
        tr = x._trace
        if tr.level is None or tr.level < 0:
            raise GpuadRuntimeError(
                "a tracer escaped the transform that created it (it was stored "
                "outside the function, e.g. in a global or a closure, and used after "
                "the transform returned); return values from the function instead")
        if tr.differentiating and tr.level <= boundary:
            x = x.primal
        else:
            break
    return x


_eval_prim = None


def bind(prim, args, params):
    """Apply primitive ``prim`` to tensor ``args`` with static ``params``."""
    global _eval_prim
    top = None
    boundary = _state.nograd_level
    any_tracer = False
    for a in args:
        if isinstance(a, Tracer):
            any_tracer = True
            break
    if not any_tracer:
        if _eval_prim is None:
            from .eval import eval_prim as _e
            _eval_prim = _e
        return _eval_prim(prim, args, params)
    if boundary >= 0:
        args = [_lower_suspended(a, boundary) for a in args]
    for a in args:
        if isinstance(a, Tracer):
            tr = a._trace
            if tr.level is None or tr.level < 0:
                raise GpuadRuntimeError(
                    f"{prim.name}: a tracer escaped the transform that created it; "
                    "return values from the function instead of storing them")
            if top is None or tr.level > top.level:
                top = tr
    if top is None:
        from .eval import eval_prim
        return eval_prim(prim, args, params)
    tracers = [a if (isinstance(a, Tracer) and a._trace is top) else top.lift(a)
               for a in args]
    return top.process(prim, tracers, params)


def find_top_trace(values):
    """Highest-level active, non-suspended trace among ``values`` (or None)."""

    boundary = _state.nograd_level
    top = None
    for a in values:
        if boundary >= 0:
            a = _lower_suspended(a, boundary)
        if isinstance(a, Tracer):
            tr = a._trace
            if top is None or tr.level > top.level:
                top = tr
    return top


def _custom_top(args):
    """``args`` with suspended tracers lowered, and the trace that applies a custom
    rule to them (None: the eager tape's turn), as ``bind`` chooses."""
    boundary = _state.nograd_level
    if boundary >= 0:
        args = [_lower_suspended(a, boundary) for a in args]
    top = None
    for a in args:
        if isinstance(a, Tracer):
            tr = a._trace
            if tr.level is None or tr.level < 0:
                raise GpuadRuntimeError(
                    "custom rule: a tracer escaped the transform that created it; "
                    "return values from the function instead of storing them")
            if top is None or tr.level > top.level:
                top = tr
    if top is None:
        return args, None
    return [a if isinstance(a, Tracer) and a._trace is top else top.lift(a) for a in args], top


def custom_jvp_call(fun, jvp, args):
    """The ``bind`` of a ``custom_jvp`` function: the top trace among ``args`` applies
    it (``Trace.process_custom_jvp_call``); without one the eager tape records it when
    an argument requires grad."""
    args, top = _custom_top(args)
    if top is None:
        from .interpreters.reverse import eager_custom_jvp
        return eager_custom_jvp(fun, jvp, args)
    return top.process_custom_jvp_call(fun, jvp, args)


def custom_vjp_call(name, fun, fwd, bwd, args):
    """The ``bind`` of a ``custom_vjp`` function (see :func:`custom_jvp_call`)."""
    args, top = _custom_top(args)
    if top is None:
        from .interpreters.reverse import eager_custom_vjp
        return eager_custom_vjp(name, fun, fwd, bwd, args)
    return top.process_custom_vjp_call(name, fun, fwd, bwd, args)
