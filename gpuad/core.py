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

from .errors import (GpuadRuntimeError, GpuadTypeError, TracerArrayConversionError,
                     TracerBoolConversionError)


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
    # the user-facing transform named in errors about this trace's tracers (jacfwd, vmap,
    # ...); a transform may set it per instance
    transform_name = None
    # True for a trace that records a program to replay later (jit's): a random op under
    # it would be frozen into the program, so ``gpuad.ops.random`` refuses to draw there.
    # Ops read this flag instead of importing the trace classes of the transforms.
    freezes_randomness = False

    def __init__(self):
        self.level = None

    def lift(self, x):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define lift")

    def process(self, prim, tracers, params):  # pragma: no cover - abstract
        raise NotImplementedError(f"{prim.name}: {type(self).__name__} does not define process")

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

    def random_batch(self, fn):
        """How a random draw by ``fn`` under this trace is batched: None (drawn as if
        the trace were not there), or the size of an axis of independent draws that
        :meth:`wrap_random` then wraps (vmap's ``randomness="different"``). A trace under
        which a draw is ambiguous raises, naming ``fn``."""
        return None

    def wrap_random(self, value):
        """The tracer of this trace for ``value``, a draw whose leading axis is the one
        :meth:`random_batch` asked for."""
        raise NotImplementedError(type(self).__name__)

    def __repr__(self):
        return f"{type(self).__name__}(level={self.level})"


class EvalTrace(Trace):
    """The bottom of the stack: plain execution on concrete tensors, and the eager tape.

    NOTE [the eval trace is installed from above]: running a primitive needs tensor
    storage and the backends, and recording a custom rule on the eager tape needs the
    reverse interpreter; both sit in layers above this one (docs/design.md, "Layers"). So
    this layer keeps only the slot: ``gpuad.eval`` installs the trace that runs
    primitives, and ``gpuad.interpreters.reverse`` its subclass that also records custom
    rules. ``bind`` calls whichever is installed; nothing here imports upward."""

    differentiating = True  # until the reverse interpreter installs custom-rule recording
    level = 0

    def process(self, prim, tracers, params):
        raise GpuadRuntimeError(f"{prim.name}: no evaluator is installed (import gpuad)")


_eval_trace = EvalTrace()
_eval_process = _eval_trace.process


def install_eval_trace(trace):
    """Make ``trace`` the bottom of the stack (see NOTE [the eval trace is installed
    from above])."""
    global _eval_trace, _eval_process
    _eval_trace = trace
    _eval_process = trace.process


def _no_transpose(linear, zeros_in, cts):
    raise GpuadRuntimeError("linear_transpose: reverse mode is not loaded (import gpuad)")


_transposer = _no_transpose


def install_linear_transpose(fn):
    """Reverse mode provides :func:`linear_transpose` (installed from above, as the eval
    trace is)."""
    global _transposer
    _transposer = fn


def linear_transpose(linear, zeros_in, cts):
    """The input cotangents of ``linear`` (a function linear in its tensor inputs,
    returning a list of tensors) for output cotangents ``cts``, as a tuple: one reverse
    pass at the inputs ``zeros_in``. For VJP rules in the ops layer written as the
    transpose of their tangent map, as JAX gets reverse mode from its JVP rules."""
    return _transposer(linear, zeros_in, cts)


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


# -- values -------------------------------------------------------------------------
class TensorBase:
    """What a tensor and a tracer share: shape metadata here; the operators and methods
    of API.md are installed by the ops layer (``gpuad.ops.methods``), as JAX installs
    them on its tracer, and NumPy's protocols by ``gpuad.numpy_dispatch``."""

    __slots__ = ()
    __array_priority__ = 1000  # NumPy defers binary operators to us
    __hash__ = object.__hash__  # kept when the ops layer installs __eq__

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __len__(self):
        if not self.shape:
            raise GpuadTypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def transform_name(trace):
    """The user-facing transform that owns ``trace`` (jacfwd, grad, vmap, ...)."""
    return trace.transform_name or type(trace).__name__


class Tracer(TensorBase):
    """A value inside a transform. Subclasses hold their trace's data."""

    __slots__ = ("_trace",)
    requires_grad = False
    grad = None

    @property
    def shape(self):
        return self.aval[0]

    @property
    def dtype(self):
        return self.aval[1]

    @property
    def device(self):
        return self.aval[2]

    def _concrete_error(self, what):
        return TracerBoolConversionError(
            f"{what}: the value of a tensor traced by {transform_name(self._trace)} is not "
            "known while the transform traces the function (data-dependent Python control "
            "flow); use ad.where(cond, a, b) instead of if/else on tensor values")

    def _array_error(self, what):
        return TracerArrayConversionError(
            f"{what} of a value traced by {transform_name(self._trace)}: converting it to a "
            "concrete array would silently drop its derivative (or its batch dimension). "
            "Use gpuad functions (ad.sin, ad.linalg.inv, ...) instead of NumPy functions on "
            "traced values (a Python list of traced values: ad.stack(values) stacks them "
            "differentiably); to use a differentiated value as a constant, convert it inside "
            "`with ad.no_grad():`")

    def _lowered(self, what):
        """The concrete tensor under this tracer when every trace in between is a
        differentiating trace suspended by an active ``no_grad`` (the user asked for a
        constant); else a TracerArrayConversionError."""
        boundary = _state.nograd_level
        x = _lower_suspended(self, boundary) if boundary >= 0 else self
        if isinstance(x, Tracer):
            raise x._array_error(what)
        return x

    # Under differentiation (not under vmap or jit) the primal value is concrete, as in
    # torch.func: Python control flow, float() and item() see it and treat it as a
    # constant. Under vmap or jit there is no single value and they raise.
    _has_concrete_primal = False

    def _concrete(self, what):
        x = self
        while isinstance(x, Tracer):
            if not x._has_concrete_primal:
                raise x._concrete_error(what)
            x = x.primal
        return x

    def __bool__(self):
        return bool(self._concrete("bool"))

    def __float__(self):
        return float(self._concrete("float"))

    def __int__(self):
        return int(self._concrete("int"))

    def __index__(self):
        return self._concrete("__index__").__index__()

    def item(self):
        return self._concrete("item").item()

    def numpy(self):
        return self._lowered("Tensor.numpy()").numpy()

    def tolist(self):
        return self._concrete("tolist").tolist()

    def __array__(self, dtype=None, copy=None):
        return self._lowered("np.asarray/__array__").__array__(dtype)

    def requires_grad_(self, requires_grad=True):
        return self

    def to(self, device):
        if device == self.device:
            return self
        raise GpuadRuntimeError("Tensor.to: moving a traced tensor between devices inside a "
                                "transform is not supported")

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, level={self._trace.level})"


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


def bind(prim, args, params):
    """Apply primitive ``prim`` to tensor ``args`` with static ``params``."""
    top = None
    boundary = _state.nograd_level
    any_tracer = False
    for a in args:
        if isinstance(a, Tracer):
            any_tracer = True
            break
    if not any_tracer:
        return _eval_process(prim, args, params)
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
        return _eval_process(prim, args, params)
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
    return (top or _eval_trace).process_custom_jvp_call(fun, jvp, args)


def custom_vjp_call(name, fun, fwd, bwd, args):
    """The ``bind`` of a ``custom_vjp`` function (see :func:`custom_jvp_call`)."""
    args, top = _custom_top(args)
    return (top or _eval_trace).process_custom_vjp_call(name, fun, fwd, bwd, args)
