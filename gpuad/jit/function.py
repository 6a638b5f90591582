"""``ad.jit``'s function object: the signature of a call, the cache of compiled plans,
tracing, background compiles, and the entry points (``jit``, ``fused_programs``,
``row_programs``)."""
from __future__ import annotations

import concurrent.futures
import functools
import os
import threading

import numpy as np

from .. import core, launches
from ..backends import get_backend, get_default_device
from ..core import new_trace
from ..errors import GpuadTypeError, GpuadValueError
from ..pytree import tree_flatten, tree_unflatten
from ..tensor import Tensor, Tracer
from . import fusion, rowplan, rows
from .executor import run as _run
from .graph import Graph, JitTrace, JitTracer
from .passes import optimize
from .plan import NotRowPolymorphic, compile_plan


# NOTE [jit scalars]: as with ``jax.jit``, a Python bool, int, float or complex argument
# is traced as a 0-d input, weakly typed (it takes the dtype of the tensors it meets,
# as the Python number would), so a new value does not retrace. Arguments named in
# ``static_argnums`` are compile-time constants instead, keyed by value. A traced
# scalar whose value the function needs while tracing (``range(n)``, ``if flag:``, an
# axis or a shape) makes that argument position static from then on, keyed by value;
# if the function fails with its scalars traced, it is traced again with them static.
# Keys of static values tell 0.0 from -0.0, and a NaN equals any NaN.
_SCALAR_DTYPES = {bool: np.dtype(np.bool_), int: np.dtype(np.int64),
                  float: np.dtype(np.float64), complex: np.dtype(np.complex128)}
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _value_key(x):
    """``x`` as a cache key, compared by value (NOTE [jit scalars])."""
    if isinstance(x, float):
        return (type(x), x.hex())
    if isinstance(x, complex):
        return (type(x), x.real.hex(), x.imag.hex())
    if isinstance(x, tuple):
        return (tuple, tuple(_value_key(v) for v in x))
    return (type(x), x)


def _static_key(x, fn_name, what):
    try:
        hash(x)
    except TypeError:
        raise GpuadTypeError(
            f"jit({fn_name}): {what} of type {type(x).__name__} is not hashable; anything "
            "that is not a tensor, an array or a Python number is a compile-time constant "
            "keyed by value, so it must be hashable: pass a tuple instead of a list, or a "
            "tensor as a traced argument") from None
    return _value_key(x)


def _traced_scalar(x):
    """The dtype ``x`` is traced with, or None when it is not a traced scalar."""
    dt = _SCALAR_DTYPES.get(type(x))
    if dt is int and not _INT64[0] <= x <= _INT64[1]:
        return None
    return dt


class JitFunction:
    """A function compiled per input signature. ``trace_count`` counts traces;
    ``cache_info()`` describes the compiled plans (``tile_rows``: the rows per tile when
    the plan runs in row tiles on the cpu, NOTE [row tiles]; None when it does not)."""

    def __init__(self, func, static_argnums=(), compile="now"):
        functools.update_wrapper(self, func)
        self.func = func
        self.static_argnums = _static_argnums(static_argnums, func)
        self.compile = _compile_mode(compile, func)
        self.trace_count = 0
        self._cache = {}
        self._pending = {}  # key -> Future of a background compile (NOTE [background compile])
        self._fixed = {}  # tree structure -> leaf positions whose scalars are static
        self._fast = {}  # NOTE [jit fast path]: argument shapes, dtypes, devices -> entry
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        if not kwargs and not core._state.stack:
            # NOTE [jit fast path]: positional tensors only, seen before with these
            # shapes, dtypes and devices: the plan without flattening the arguments
            try:
                fkey = tuple([(a._data.shape, a._data.dtype, a._device) if type(a) is Tensor
                              and not a._requires_grad else None for a in args])
                entry = self._fast.get(fkey)
            except TypeError:
                entry = None
            if entry is not None:
                plan, out_td, out_statics, feeds = entry
                outs = _run(plan, [a._data for a in args])
                return tree_unflatten(out_td, _merge(outs, out_statics, plan.device))
        if core._state.stack or self._inline(args, kwargs):
            # under a transform, or on the eager tape: the enclosing transform must see
            # every primitive
            return self.func(*args, **kwargs)
        key, leaves, td, statics = self._signature(args, kwargs)
        entry = self._cache.get(key)
        if entry is None:
            pending = self._pending.get(key)
            if pending is None:
                return self._trace(key, leaves, td, statics)
            if not pending.done():  # NOTE [background compile]: run as eager mode meanwhile
                return self.func(*args, **kwargs)
            entry = self._settle(key, pending)
        plan, out_td, out_statics, feeds = entry
        if not kwargs and not statics and len(feeds) == len(args) and \
                all(type(a) is Tensor and not a._requires_grad for a in args) and \
                all(dt is None and i == k for k, (i, dt) in enumerate(feeds)):
            with self._lock:
                self._fast[tuple((a._data.shape, a._data.dtype, a._device) for a in args)] = entry
        outs = _run(plan, [leaves[i]._data if dt is None else _scalar_array(leaves[i], dt, plan.device)
                           for i, dt in feeds])
        return tree_unflatten(out_td, _merge(outs, out_statics, plan.device))

    @staticmethod
    def _inline(args, kwargs):
        for x in tree_flatten((args, kwargs))[0]:
            if isinstance(x, Tracer) or (isinstance(x, Tensor) and x.requires_grad
                                         and core.grad_enabled()):
                return True
        return False

    def _signature(self, args, kwargs):
        """(cache key, argument leaves, their tree, static arguments by position)."""
        name = getattr(self.func, "__name__", "func")
        statics = {}
        if self.static_argnums:
            n = len(args)
            for i in self.static_argnums:
                j = i + n if i < 0 else i
                if not 0 <= j < n:
                    raise GpuadValueError(
                        f"jit({name}): static_argnums names argument {i}, but the call passes "
                        f"{n} positional argument(s)")
                statics[j] = args[j]
            args = tuple(None if j in statics else a for j, a in enumerate(args))
        leaves, td = tree_flatten((args, kwargs))
        tdr = td  # the structure, dict keys included, is part of the key
        fixed = self._fixed.get(tdr, ())
        keys = []
        for k, x in enumerate(leaves):
            if isinstance(x, (np.ndarray, np.generic)):
                from ..ops.creation import tensor
                x = leaves[k] = tensor(x)
            if isinstance(x, Tensor):
                keys.append(("T", x.shape, x.dtype.str, x.device))
            elif k not in fixed and _traced_scalar(x) is not None:
                keys.append(("P", type(x)))
            else:
                keys.append(("S",) + _static_key(x, name, f"argument leaf {k} (in call order)"))
        skey = tuple((j, _static_key(v, name, f"static argument {j}")) for j, v in statics.items())
        return (tdr, tuple(keys), skey), leaves, td, statics

    def _trace(self, key, leaves, td, statics, retried=False):
        if not statics and not retried:
            res = self._trace_rows(key, leaves, td)
            if res is not None:
                return res
        graph = Graph()
        trace = JitTrace(graph)
        tensors = [x for x in leaves if isinstance(x, Tensor)]
        devices = {x.device for x in tensors}
        if len(devices) > 1:
            raise GpuadValueError(f"jit: all tensor arguments must be on one device, got {sorted(devices)}")
        device = tensors[0].device if tensors else get_default_device()
        feeds, scalars = [], []
        try:
            with new_trace(trace):
                wrapped = []
                for k, (x, kind) in enumerate(zip(leaves, key[1])):
                    if kind[0] == "T":
                        v = graph.new_var(x.shape, x.dtype)
                        graph.inputs.append(v)
                        feeds.append((k, None))
                        wrapped.append(JitTracer(trace, x, v))
                    elif kind[0] == "P":
                        dt = _traced_scalar(x)
                        v = graph.new_var((), dt)
                        graph.inputs.append(v)
                        feeds.append((k, dt))
                        scalars.append(k)
                        val = Tensor._make(_scalar_array(x, dt, device), device)
                        wrapped.append(JitTracer(trace, val, v, deps=frozenset((k,)), weak=True))
                    else:
                        wrapped.append(x)
                args, kwargs = tree_unflatten(td, wrapped)
                if statics:
                    args = tuple(statics.get(j, a) for j, a in enumerate(args))
                out = self.func(*args, **kwargs)
                o_leaves, out_td = tree_flatten(out)
                values, out_statics = [], []
                for x in o_leaves:
                    if isinstance(x, JitTracer) and x._trace is trace:
                        graph.outputs.append(x.var)
                        values.append(x.val)
                        out_statics.append(None)
                    elif isinstance(x, Tensor):
                        graph.outputs.append(("const", x))
                        values.append(x)
                        out_statics.append(None)
                    elif isinstance(x, Tracer):
                        raise GpuadTypeError("jit: the function returned a value traced by a "
                                             "transform outside it")
                    else:
                        graph.outputs.append(("static", x))
                        values.append(x)
                        out_statics.append(("static", x))
        except Exception:
            if not scalars or retried:
                raise
            # NOTE [jit scalars]: the function could not run on traced scalars
            self._fix(key[0], scalars)
            key, leaves, td, statics = self._signature(*_rebuild(td, leaves, statics))
            return self._trace(key, leaves, td, statics, retried=True)
        if trace.concretized:
            # NOTE [jit scalars]: these scalars' values are baked into the graph
            self._fix(key[0], trace.concretized)
            key = (key[0], tuple(("S",) + _value_key(leaves[k]) if k in trace.concretized else kk
                                 for k, kk in enumerate(key[1])), key[2])
        if values and isinstance(values[0], Tensor) and not tensors and not scalars:
            device = values[0].device
        if self.compile == "background":
            with self._lock:
                self._pending[key] = _background().submit(_build, graph, device,
                                                          (out_td, out_statics, feeds))
                self.trace_count += 1
            return tree_unflatten(out_td, values)
        entry = _build(graph, device, (out_td, out_statics, feeds))
        with self._lock:
            self._cache[key] = entry
            self.trace_count += 1
        return tree_unflatten(out_td, values)

    def _trace_rows(self, key, leaves, td):
        """NOTE [row-polymorphic plans] in plan.py: a jitted ``vmap`` over a large batch
        is traced at ``_PROBE_ROWS`` rows and its plan run on the call's rows; None when
        the call or the graph does not qualify (then it is traced as usual)."""
        if getattr(self.func, "_gpuad_vmap", None) is not self.func or \
                self.compile != "now" or not leaves:
            return None  # a vmap of every argument and result at axis 0, not chunked
        if any(type(x) is not Tensor or not x.shape for x in leaves):
            return None
        n, device = leaves[0].shape[0], leaves[0].device
        if n < _POLY_MIN_ROWS or any(x.shape[0] != n for x in leaves):
            return None
        graph = Graph()
        trace = JitTrace(graph)
        try:
            with new_trace(trace):
                wrapped = []
                for x in leaves:
                    v = graph.new_var((_PROBE_ROWS,) + x.shape[1:], x.dtype)
                    graph.inputs.append(v)
                    probe = Tensor._make(x._data[:_PROBE_ROWS], device)
                    wrapped.append(JitTracer(trace, probe, v))
                args, kwargs = tree_unflatten(td, wrapped)
                out = self.func(*args, **kwargs)
                o_leaves, out_td = tree_flatten(out)
                for x in o_leaves:
                    if not (isinstance(x, JitTracer) and x._trace is trace):
                        return None  # a constant or static result: traced as usual
                    graph.outputs.append(x.var)
        except Exception:  # the usual trace, at the call's rows, says what is wrong
            return None
        if trace.concretized:
            return None
        feeds = [(k, None) for k in range(len(leaves))]
        try:
            entry = _build(graph, device, ([None] * len(o_leaves), feeds), poly=True)
        except NotRowPolymorphic:
            return None
        entry = (entry[0], out_td) + entry[1:]
        with self._lock:
            self._cache[key] = entry
            self.trace_count += 1
        outs = _run(entry[0], [x._data for x in leaves])
        return tree_unflatten(out_td, _merge(outs, entry[2], device))

    def _settle(self, key, future):
        """The finished background compile of ``key``: its plan, cached; its error, raised
        here (the signature traces again on the next call)."""
        with self._lock:
            self._pending.pop(key, None)
        entry = future.result()  # raises what the compile raised
        with self._lock:
            self._cache[key] = entry
        return entry

    def wait(self, timeout=None):
        """Block until every background compile started so far has finished (for
        ``compile="background"``; returns at once otherwise). Returns True when none is
        still running after ``timeout`` seconds."""
        futures = list(self._pending.values())
        done, not_done = concurrent.futures.wait(futures, timeout=timeout)
        return not not_done

    def _fix(self, tdr, positions):
        with self._lock:
            self._fixed[tdr] = frozenset(self._fixed.get(tdr, ())) | frozenset(positions)

    def __reduce__(self):
        # pickled (cloudpickle, multiprocessing, Dask) as the function and its options:
        # plans, buffers and locks are per process and rebuilt by the first call there
        return (JitFunction, (self.func, self.static_argnums, self.compile))

    def clear_cache(self):
        """Drop every compiled plan and the intermediate buffers they keep for reuse
        (NOTE [jit buffer pool]); the next call traces again."""
        with self._lock:
            self._cache.clear()
            self._fast.clear()
            self._pending.clear()  # a compile still running is not waited for: dropped

    def cache_info(self):
        return [{"signature": k[1], "kernels": p.n_kernels, "steps": len(p.steps),
                 "tile_rows": p.tile} for k, (p, _, _, _) in self._cache.items()]

    def lower(self, *args, **kwargs):
        """The simplified graph for these arguments (traces if needed)."""
        key, leaves, td, statics = self._signature(args, kwargs)
        if key not in self._cache:
            self._trace(key, leaves, td, statics)
            key = self._signature(args, kwargs)[0]
        return self._cache[key][0].graph


# NOTE [background compile]: with ``compile="background"`` a new signature is traced on
# the calling thread (tracing runs the function, so that call returns eager mode's
# values) and optimised and compiled on one background thread; calls of that signature
# run the plain function, as eager mode does, until the plan is ready, then the plan.
# The trace state, launch counting and the current device are thread-local, so the
# compile does not disturb the caller's transforms or counts. A compile error reaches
# the caller on the first call after it, and the next call traces again.
_BACKGROUND = []


def _background():
    with _BACKGROUND_LOCK:
        if not _BACKGROUND:
            _BACKGROUND.append(concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="gpuad-jit-compile"))
        return _BACKGROUND[0]


_BACKGROUND_LOCK = threading.Lock()


def _build(graph, device, rest, poly=False):
    """The cache entry of a traced graph: (plan, *rest)."""
    with launches.paused():  # compiling is not a launch (constant folding runs kernels)
        with get_backend(device).activate():
            return (compile_plan(optimize(graph, device), device, poly),) + tuple(rest)


# NOTE [row-polymorphic plans] in plan.py: batches of at least this many rows trace a
# jitted vmap at _PROBE_ROWS rows (an odd prime: a constant's axis matches it by chance
# only rarely, and the plan then checks it). GPUAD_JIT_POLY=0 turns it off (for
# comparison: every call then traces at its own rows).
_POLY_MIN_ROWS = 8192 if os.environ.get("GPUAD_JIT_POLY", "1") != "0" else float("inf")
_PROBE_ROWS = 197


def _compile_mode(mode, func):
    if mode not in ("now", "background"):
        name = getattr(func, "__name__", "func")
        raise GpuadValueError(f"jit({name}): argument 'compile' must be \"now\" or "
                              f"\"background\", got {mode!r}")
    return mode


def _rebuild(td, leaves, statics):
    """The call's ``(args, kwargs)`` from its leaves and static arguments."""
    args, kwargs = tree_unflatten(td, leaves)
    return tuple(statics.get(j, a) for j, a in enumerate(args)), kwargs


def _scalar_array(x, dtype, device):
    a = np.asarray(x, dtype=dtype)
    return a if device == "cpu" else get_backend(device).asarray(a)


def _static_argnums(nums, func):
    name = getattr(func, "__name__", "func")
    if isinstance(nums, int) and not isinstance(nums, bool):
        nums = (nums,)
    if not isinstance(nums, (tuple, list)) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in nums):
        raise GpuadTypeError(f"jit({name}): static_argnums must be an int or a tuple of ints, "
                             f"got {nums!r}")
    return tuple(nums)



def _merge(outs, statics, device):
    res = []
    it = iter(outs)
    for s in statics:
        res.append(s[1] if s is not None else Tensor._make(next(it), device))
    return res



def fused_programs(func, *args):
    """The multi-output kernels ``jit(func)(*args)`` runs for its fused groups on a GPU,
    as PTX-command inputs: a list of ``(label, statements, outs, input kinds, output
    kinds, ndim)``, kinds ``"b"`` (bool) or ``"f"`` per input and output. Used by the PTX
    command to compile representative fused kernels without a GPU."""
    jf = JitFunction(func)
    graph = jf.lower(*args)
    out = []
    for s in fusion.partition(graph):
        if not isinstance(s, fusion.Group) or len(s.eqns) < 2:
            continue
        used, stmts, outs = fusion.gpu_program(s, graph.consts)
        kinds = "".join("b" if v.dtype == np.bool_ else "f" for v in used)
        out_kinds = "".join("b" if v.dtype == np.bool_ else "f" for v in s.outputs)
        out.append((f"{s.id}", stmts, outs, kinds, out_kinds, max(len(s.shape), 1)))
    return out


def row_programs(func, *args):
    """The row kernel ``jit(func)(*args)`` runs on a GPU (NOTE [row programs] in
    ``rowplan.py``), as PTX-command input: ``(source, input dtypes, argument dtypes,
    output dtypes)`` (the kernel ``rowplan(n, u, X.., A.., O..)``: 2-d row inputs, 1-d
    row-free arguments, 2-d results), or None when the plan has no row program."""
    from . import codegen_rows
    graph = JitFunction(func).lower(*args)
    r = rows.analyze(graph)
    prog = rowplan.lower(graph, r) if r is not None else None
    if prog is None:
        return None
    src, _ = codegen_rows.source(prog, "cuda")
    return (src, tuple(s.dtype.str for s in prog.inputs), tuple(s.dtype.str for s in prog.args),
            tuple(s.dtype.str for s in prog.outs))


def jit(func=None, static_argnums=(), compile="now"):
    """Compile ``func`` per input signature: shapes, dtypes and device of its tensor
    arguments, and the values of its static arguments (``static_argnums``: positions
    of compile-time constants, hashed by value). Python scalars that are not static
    are traced as 0-d values, so a new value does not retrace (NOTE [jit scalars]).

    >>> import gpuad as ad
    >>> f = ad.jit(ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * x)))
    >>> f(ad.ones(10, 3)).shape
    (10, 3, 3)
    >>> g = ad.jit(lambda x, c: x * c)
    >>> g(ad.ones(2), 2.0).tolist(), g(ad.ones(2), -3.0).tolist(), g.trace_count
    ([2.0, 2.0], [-3.0, -3.0], 1)
    >>> h = ad.jit(lambda x, n: ad.sum(x ** n, axis=0), static_argnums=1)
    >>> h(ad.ones(2, 3), 2).shape
    (3,)

    ``compile="background"`` compiles a new signature on a background thread and runs
    the function as eager mode does until the plan is ready (NOTE [background compile]):
    the first calls cost what eager calls cost instead of waiting for the compiler.
    ``jitted.wait()`` blocks until the compiles started so far are done.
    """
    if func is None:
        _compile_mode(compile, jit)
        return functools.partial(jit, static_argnums=static_argnums, compile=compile)
    if not callable(func):
        raise GpuadTypeError(f"jit: argument 'func' must be callable, got {type(func).__name__}")
    if isinstance(func, JitFunction) and not static_argnums and func.compile == compile:
        return func
    return JitFunction(func, static_argnums, compile)
