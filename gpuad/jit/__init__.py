"""``ad.jit``: trace once per input signature, fuse pointwise chains, run compiled.

``jit(func)`` records the primitives ``func`` binds (see ``graph.py``), removes common
subexpressions and dead code, rewrites contractions and scatters for the shapes
Jacobians have (``rewrite.py``), fuses same-shape pointwise chains into single kernels
(``fusion.py``) and runs the resulting plan: fused groups as Numba loops on the cpu
(``codegen_cpu.py``, with ``fold.py`` and ``vmath.py``) or as gpuad's generated CUDA
kernels on cuda / cudasim, other primitives through their backend implementations,
with no per-op dispatch, writing into reused buffers (``buffers.py``).

Called with tracers of an enclosing transform (``vmap(jit(f))``), or with tensors that
require grad on the eager tape, the function is inlined instead, so the enclosing
transform sees every primitive; the numbers are the same either way.
"""
from __future__ import annotations

import concurrent.futures
import functools
import os
import threading

import numba
import numpy as np

from .. import core, launches
from ..backends import get_backend, get_default_device
from ..core import new_trace
from ..errors import GpuadTypeError, GpuadValueError
from ..ops.contract import as_matmul
from ..ops.linalg import einsum_p
from ..pytree import tree_flatten, tree_unflatten
from ..tensor import Tensor, TensorBase, Tracer
from . import buffers, codegen_cpu, fusion, rewrite, row_kernel, rowplan, rows
from .graph import Graph, JitTrace, JitTracer, Var, simplify


class _Plan:
    __slots__ = ("steps", "inputs", "consts", "outputs", "device", "n_kernels", "graph", "pool",
                 "rows", "tile", "tiles", "out_views", "row_kernel")

    # NOTE [jit buffer pool] in buffers.py: ``pool`` leases the kernels' output buffers;
    # ``JitFunction.clear_cache()`` releases them.
    def tile_steps(self, n_rows):
        """The steps at ``n_rows`` rows instead of all of them (NOTE [row tiles])."""
        steps = self.tiles.get(n_rows)
        if steps is None:
            steps = self.tiles[n_rows] = [_scaled(s, self.rows, n_rows) for s in self.steps]
        return steps


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


def _build(graph, device, rest):
    """The cache entry of a traced graph: (plan, *rest)."""
    with launches.paused():  # compiling is not a launch (constant folding runs kernels)
        with get_backend(device).activate():
            return (_compile(_optimize(graph, device), device),) + tuple(rest)


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


def _optimize(graph, device):
    graph = rewrite.fold_constants(rewrite.small_dets_as_arithmetic(simplify(graph)), device)
    graph = rewrite.contractions_through_identity(rewrite.sums_through_identity(graph))
    graph = rewrite.fold_constants(graph, device)
    graph = rewrite.scatters_as_contractions(rewrite.contractions_of_products(graph))
    graph = rewrite.fold_constants(graph, device)
    graph = rewrite.thin_contractions(rewrite.scatters_to_selects(simplify(graph)))
    return simplify(rewrite.transposed_contractions(graph))


def _merge(outs, statics, device):
    res = []
    it = iter(outs)
    for s in statics:
        res.append(s[1] if s is not None else Tensor._make(next(it), device))
    return res


# -- compile ------------------------------------------------------------------------
_PARALLEL_MIN = 1 << 17  # elements; below this one thread is faster
_FOLD_MAX = 4096  # constants up to this size are candidates for folding into kernels
_TILE_BYTES = 64 << 20  # a tile's intermediates, all of them together
_TILE_ROWS = (256, 4096)  # more rows spill L2 between steps; fewer pay more per-step overhead
# GPUAD_JIT_ROW_KERNELS=0 runs plans without row programs (for comparison)
_ROW_KERNELS = os.environ.get("GPUAD_JIT_ROW_KERNELS", "1") != "0"
# NOTE [cpu row programs]: on the cpu a row program runs a row's whole plan in one
# compiled loop with no per-step dispatch, but its nests are plain loops: contractions
# run far slower than the library's matrix products, and without the fused groups'
# unrolling and folding. Measured at B = 1,000 (one thread, cpu jit = 1): neo-Hookean
# 0.13-0.6x, pointwise 2-4.6x, MLP 5-7.7x, kinetics 10-33x. Per call, the plan's
# steps cost a few microseconds each, so for a small call the one loop wins (neo-Hookean
# jacrev at B = 1: 75 -> 10 us per call). A call runs as a row program when its values
# are few and the program's flops are under a budget of about 50 us of naive loops.
_CPU_ROW_PROGRAM_FLOPS = 60_000  # a call's flops in the row program (naive loops)
_CPU_ROW_PROGRAM_ELEMENTS = 1 << 16  # the graph's values, all together


def _row_program(graph, device):
    """The plan's row program (``rowplan.lower``) when it should run as one, else None:
    on a GPU every row-separable plan; on the cpu a small call (NOTE [cpu row
    programs]), batched or not (an unbatched plan is the program of one row)."""
    r = rows.analyze(graph)
    if device != "cpu":
        return rowplan.lower(graph, r) if r is not None else None
    size = sum(int(np.prod(e.out.shape, dtype=np.int64)) for e in graph.eqns)
    if size > _CPU_ROW_PROGRAM_ELEMENTS:
        return None
    prog = rowplan.lower(graph, r) if r is not None else None
    if prog is None:
        prog = rowplan.lower(graph)
    if prog is None or prog.n * prog.flops_per_row() > _CPU_ROW_PROGRAM_FLOPS:
        return None
    return prog


class _GroupStep:
    __slots__ = ("fn", "inputs", "outputs", "shape", "exprs", "name", "loop", "in_shapes",
                 "module", "parallel", "out_shapes", "var_shapes", "strided", "programs")


def _compile(graph, device):
    plan = _Plan()
    plan.graph = graph
    plan.pool = buffers.Pool() if device == "cpu" else None
    plan.device = device
    plan.inputs = [v.id for v in graph.inputs]
    plan.consts = dict(graph.consts)
    outs = []
    for o in graph.outputs:
        if isinstance(o, Var):
            outs.append(o.id)
        elif o[0] == "const":
            cid = -len(plan.consts) - 1 - len(outs)
            plan.consts[cid] = o[1]._data
            outs.append(cid)
    plan.outputs = outs
    if device != "cpu":
        # constants the rewrites made on the host (masks, weight slices) go to the
        # device once, here, not on every call
        be = get_backend(device)
        plan.consts = {k: c if be.is_native(c) else be.asarray(c) for k, c in plan.consts.items()}
    plan.row_kernel = None
    if _ROW_KERNELS:
        # NOTE [row programs] in rowplan.py: a row-separable plan is one kernel on a GPU,
        # and one compiled loop on the cpu for a few rows (NOTE [cpu row programs])
        prog = _row_program(graph, device)
        plan.row_kernel = row_kernel.build(prog, graph, device) if prog is not None else None
        if plan.row_kernel is not None:
            plan.steps = [("eqn", e.prim, [v.id for v in e.inputs], e.params, e.out.id)
                          for e in prog.prologue]
            plan.n_kernels = 1 + sum(int(e.prim.kernel) for e in prog.prologue)
            plan.rows, plan.tile, plan.tiles = None, None, {}
            return plan
    unfused = set()  # sums kept out of kernels that would unroll too far
    while True:
        try:
            plan.steps, plan.n_kernels = _lower(graph, device, unfused)
            break
        except codegen_cpu.KernelTooLarge as e:
            unfused.update(e.args[1])
    plan.rows = rows.analyze(graph) if device == "cpu" else None
    plan.tile = _tile_rows(plan.rows, plan.steps)
    plan.tiles = {}
    if plan.tile is not None:
        plan.out_views = [rows.output_view(graph, o, plan.rows) for o in plan.outputs]
    return plan


def _tile_rows(r, steps):
    """Rows per tile: the power of two whose intermediates, all together, come
    closest under ``_TILE_BYTES``, within ``_TILE_ROWS``; None when the plan is not
    row-separable (NOTE [row tiles])."""
    if r is None or r.row_bytes == 0:
        return None
    for s in steps:  # every kernel's outputs must carry the rows, at loop axis 0
        if s[0] == "group":
            st = s[1]
            if any(v not in r.ids for v, _ in st.outputs) or st.loop[0] % r.n:
                return None
    fits = max(1, _TILE_BYTES // r.row_bytes)
    return min(max(1 << (fits.bit_length() - 1), _TILE_ROWS[0]), _TILE_ROWS[1])


def _scaled(step, r, n_rows):
    """``step`` at ``n_rows`` rows: shapes of row-carrying values have their axis 0
    scaled; kernels and library calls are the same ones."""
    if step[0] == "eqn":
        _, prim, ins, params, out = step
        if out in r.ids and "shape" in params:
            params = dict(params, shape=rows.scale(params["shape"], r.n, n_rows))
        return ("eqn", prim, ins, params, out)
    st, new = step[1], _GroupStep()
    for k in _GroupStep.__slots__:
        setattr(new, k, getattr(st, k))
    new.loop = rows.scale(st.loop, r.n, n_rows)
    new.in_shapes = [rows.scale(sh, r.n, n_rows) if v in r.ids else sh
                     for v, sh in zip(st.inputs, st.in_shapes)]
    new.out_shapes = [rows.scale(sh, r.n, n_rows) for sh in st.out_shapes]
    new.var_shapes = [rows.scale(sh, r.n, n_rows) for sh in st.var_shapes]
    new.parallel = False  # tiles are small; the tiles themselves are the parallel unit
    return ("group", new)


def _lower(graph, device, unfused):
    steps = []
    n_kernels = 0
    views = _component_views(graph)
    for s in fusion.partition(graph, reductions=device == "cpu", exclude=unfused):
        if isinstance(s, fusion.Group):
            size = int(np.prod(s.shape)) if s.shape else 1
            if any(0 in v.shape for e in s.eqns for v in (*e.inputs, e.out)):
                # an empty loop somewhere: nothing to compute, and no kernel to write
                # for it; the backend ops make the (empty or reduced-empty) results
                steps.extend(("eqn", e.prim, [v.id for v in e.inputs], e.params, e.out.id)
                             for e in s.eqns)
                continue
            if len(s.eqns) == 1 and device == "cpu" and size < _PARALLEL_MIN:
                # a small lone pointwise op: NumPy's ufunc is as fast and needs no compile
                e = s.eqns[0]
                steps.append(("eqn", e.prim, [v.id for v in e.inputs], e.params, e.out.id))
                n_kernels += 1
                continue
            try:
                steps.append(("group", _build_group(s, device, graph.consts, views)))
            except codegen_cpu.KernelTooLarge as e:
                raise codegen_cpu.KernelTooLarge(
                    e.args[0], {x.out.id for x in s.eqns if x.prim.name == "reduce_sum"}) from None
            n_kernels += 1 if device == "cpu" else len({tuple(v.shape) for v in s.outputs})
        else:
            steps.append(("eqn", s.prim, [v.id for v in s.inputs], s.params, s.out.id))
            n_kernels += int(s.prim.kernel)
    return steps, n_kernels


def _component_views(graph):
    """Ids of the vars that are strided views of a larger array: static component
    reads (``F[:, 0, 1]``: basic indexing, which NumPy does as a view) and reshapes of
    them that only add or drop size-1 axes.

    NOTE [strided views]: a kernel reads such an input in place, typed as any-layout
    array, instead of getting a contiguous copy of it. The nine component reads of a
    3x3 deformation gradient otherwise cost nine strided copies per call, about a
    fifth of the neo-Hookean Jacobian's time."""
    views = set()
    for e in graph.eqns:
        name = e.prim.name
        if name == "gather" and len(e.inputs) == 1:  # no index arrays: basic indexing
            views.add(e.out.id)
        elif name == "reshape" and e.inputs[0].id in views and \
                [n for n in e.inputs[0].shape if n != 1] == [n for n in e.out.shape if n != 1]:
            views.add(e.out.id)
    return views


def _build_group(g, device, consts, views=frozenset()):
    st = _GroupStep()
    _, arrays = fusion.literal_inputs(g, consts)
    st.inputs = [v.id for v in arrays]
    st.outputs = [(v.id, v.dtype) for v in g.outputs]
    st.var_shapes = [v.shape for v in g.outputs]
    st.shape = g.shape
    size = 1
    for n in g.shape:
        size *= n
    if device == "cpu":
        arrays, stmts = fusion.group_body(g, consts)
        red_shapes = fusion.reductions_of(g)
        # the sums' shapes take part in collapsing, so a summed axis is never merged
        # with a kept one
        loop, shapes = codegen_cpu.collapse(g.shape, [v.shape for v in arrays] +
                                            list(red_shapes.values()))
        in_shapes = shapes[:len(arrays)]
        red_loop = dict(zip(red_shapes, shapes[len(arrays):]))
        reduced = {t: frozenset(a for a, n in enumerate(sh) if n == 1 and loop[a] != 1)
                   for t, sh in red_loop.items()}
        st.loop, st.in_shapes = loop, in_shapes
        st.out_shapes = [red_loop.get(f"t{v.id}", loop) for v in g.outputs]
        inputs = []
        for v, s in zip(arrays, in_shapes):
            c = consts.get(v.id)
            small = c is not None and c.size <= _FOLD_MAX and isinstance(c, np.ndarray)
            inputs.append((s, v.dtype, np.ascontiguousarray(c).reshape(s) if small else None))
        strided = [v.id in views for v in arrays]
        src = codegen_cpu.source(stmts, inputs, [(f"t{v.id}", v.dtype, sh) for v, sh in
                                                 zip(g.outputs, st.out_shapes)],
                                 loop, "fused", reduced,
                                 {i for i, flag in enumerate(strided) if flag})
        st.strided = strided
        st.module = codegen_cpu.load(src)
        st.fn = st.module.fused
        # Threads only pay off for large groups (and stall when the cores are busy).
        st.parallel = size >= _PARALLEL_MIN
        st.exprs = None
        st.programs = None
    else:
        st.fn = None
        st.strided = None
        st.exprs = None
        # One kernel per output shape (all of a GPU group's outputs have its loop shape,
        # so one kernel in all): a program computing the group's statements once per
        # element and writing every output, reading only the inputs they need.
        st.programs = []
        by_shape = {}
        for v in g.outputs:
            by_shape.setdefault(tuple(v.shape), []).append(v)
        for shape, vs in by_shape.items():
            used, stmts, outs = fusion.gpu_program(g, consts, vs)
            st.programs.append(([v.id for v in used], stmts, outs,
                                [(v.id, v.dtype) for v in vs], shape))
    st.name = "+".join(e.prim.name for e in g.eqns)
    return st


# -- run ----------------------------------------------------------------------------
def _run(plan, arrays):
    with get_backend(plan.device).activate():  # NOTE [device names] in gpuad.backends
        return _run_on(plan, arrays)


def _run_on(plan, arrays):
    if plan.row_kernel is not None:
        env = dict(plan.consts)
        env.update(zip(plan.inputs, arrays))
        if plan.steps:
            _run_steps(plan.steps, env, None, None, True, plan.device)
        res = plan.row_kernel.run(env)
        return [res[o] if o in res else env[o] for o in plan.outputs]
    pool = plan.pool
    tile = plan.tile
    if tile is not None and plan.rows.n >= 2 * tile:
        result = _run_tiled(plan, arrays, pool, tile)
    else:
        env = dict(plan.consts)
        env.update(zip(plan.inputs, arrays))
        _run_steps(plan.steps, env, pool, None, True, plan.device)
        result = [env[o] for o in plan.outputs]
    return result


def _run_tiled(plan, arrays, pool, tile):
    """The plan over tiles of ``tile`` rows (NOTE [row tiles]): each tile's
    intermediates reuse the same buffers, so they stay in cache, and the kernels that
    make a result write its rows in place. With several Numba threads, each thread
    takes a contiguous run of tiles with buffers of its own."""
    roots = {}  # var id -> the full-size buffer its tiles are written into
    results = []
    for k, (root, chain) in enumerate(plan.out_views):
        if root is None:
            results.append(plan.consts[plan.outputs[k]])
            continue
        buf = roots.get(root.id)
        if buf is None:
            buf = roots[root.id] = pool.empty(("out", k), root.shape, root.dtype, k + 1)
        for prim, params in chain:  # the result's own view of that buffer, full size
            buf = prim.impl(get_backend(plan.device), buf, **params)
        results.append(buf)
    starts = list(range(0, plan.rows.n, tile))
    threads = min(numba.get_num_threads(), len(starts))
    if threads > 1:
        per = -(-len(starts) // threads)
        runs = [starts[i:i + per] for i in range(0, len(starts), per)]
        futures = [_thread_pool(threads).submit(_tiles, plan, arrays, runs[t], tile,
                                                pool, roots, False)
                   for t in range(1, len(runs))]
        _tiles(plan, arrays, runs[0], tile, pool, roots, True)
        for f in futures:
            f.result()
    else:
        _tiles(plan, arrays, starts, tile, pool, roots, True)
    return results


def _tiles(plan, arrays, starts, tile, pool, roots, record):
    n, ids = plan.rows.n, plan.rows.ids
    row_inputs = [i in ids for i in plan.inputs]
    for lo in starts:
        hi = min(n, lo + tile)
        env = {k: c[lo:hi] if k in ids else c for k, c in plan.consts.items()}
        env.update((i, a[lo:hi] if r else a) for i, a, r in zip(plan.inputs, arrays, row_inputs))
        dest = {o: buf[lo:hi] for o, buf in roots.items()}
        written = _run_steps(plan.tile_steps(hi - lo), env, pool, hi - lo,
                             record and lo == starts[0], plan.device, dest)
        for o, d in dest.items():
            if o not in written:
                d[...] = env[o]
        del env, dest  # drops this tile's references: the next tile reuses its buffers


def _run_steps(steps, env, pool, tag, record_launches, device, dest=None):
    """Runs ``steps`` on the values in ``env``. ``pool``: reusable output buffers (cpu),
    under keys that start with ``tag`` (the tile size, or None untiled). ``dest``: var
    id -> the array a kernel or matrix product making that var writes into. Returns the
    ids of the vars written to ``dest``."""
    be = get_backend(device)
    gpu = getattr(be, "counts_kernels", False)  # device kernels count themselves
    written = set()
    record = launches.record if record_launches else _no_record
    for n, step in enumerate(steps):
        if step[0] == "eqn":
            _, prim, ins, params, out = step
            args = [env[i] for i in ins]
            a0 = args[0] if args else None
            if type(a0) is np.ndarray and len(args) == 1 and prim in _VIEWS:
                # a reshape or a static component read of a host array: a view, without
                # the primitive's dispatch (a small Jacobian makes dozens per call)
                env[out] = a0.reshape(params["shape"]) if prim is _VIEWS[0] else a0[params["spec"]]
                if prim.kernel and not gpu:
                    record(prim.name)
                continue
            res = None
            if prim is einsum_p and pool is not None and len(args) == 2 and \
                    all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in args):
                # a matrix product written into a reused buffer (NOTE [jit buffer pool])
                into = dest.get(out) if dest else None
                res = _matmul_into(pool, (tag, n), params["subscripts"], *args, into=into)
                if res is not None and res is into:
                    written.add(out)
            if res is None:
                if gpu and launches._active:
                    with launches.op_scope(prim.name):
                        res = prim.impl(be, *args, **params)
                else:
                    res = prim.impl(be, *args, **params)
            env[out] = res
            if prim.kernel and not gpu:
                record(prim.name)
        else:
            st = step[1]
            ins = [env[i] for i in st.inputs]
            if st.fn is not None:
                # each input at its own size in the collapsed loop shape (the kernel
                # indexes broadcast axes at 0), C-contiguous: a view when it already is
                views = [a.reshape(p) if strided else np.ascontiguousarray(a).reshape(p)
                         for a, p, strided in zip(ins, st.in_shapes, st.strided)]
                outs = []
                for j, (vid, dt) in enumerate(st.outputs):
                    into = dest.get(vid) if dest else None
                    if into is not None and into.dtype == dt:
                        outs.append(into.reshape(st.out_shapes[j]))  # a view: rows of a result
                        written.add(vid)
                    else:
                        outs.append(pool.empty((tag, n, j), st.out_shapes[j], dt, j + 1))
                threads = numba.get_num_threads() if st.parallel else 1
                if threads > 1:
                    beyond = _run_rows(st.fn, st.loop[0], threads, views + outs)
                else:
                    beyond = st.fn(0, st.loop[0], *views, *outs)
                if beyond:  # NOTE [guarded sin and cos] in codegen_cpu
                    st.module.fused_libm(0, st.loop[0], *views, *outs)
                record("fused:" + st.name)
                for (vid, _), o, sh in zip(st.outputs, outs, st.var_shapes):
                    env[vid] = o.reshape(sh)
            else:
                with launches.op_scope("fused:" + st.name):  # a GPU: each kernel counts itself
                    for ids, stmts, outs, outvars, shape in st.programs:
                        res = be.fused_elementwise("fused", stmts, outs, [env[i] for i in ids],
                                                   [dt for _, dt in outvars], shape)
                        for (vid, _), r in zip(outvars, res):
                            env[vid] = r
    return written


def _no_record(name):
    pass


def _views():
    from ..ops.indexing import gather_p
    from ..ops.shape import reshape_p
    return reshape_p, gather_p


_VIEWS = _views()


_threads = None
_threads_lock = threading.Lock()


def _thread_pool(threads):
    global _threads
    with _threads_lock:
        if _threads is None or _threads._max_workers < threads:
            from concurrent.futures import ThreadPoolExecutor
            _threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gpuad-jit")
        return _threads


def _run_rows(fn, n, threads, arrays):
    """``fn`` over rows 0..n in ``threads`` ranges on a shared thread pool: the kernels
    release the GIL, so the ranges run in parallel. Numba's thread count
    (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``) is the knob."""
    pool = _thread_pool(threads)
    step = -(-n // threads)
    futures = [pool.submit(fn, lo, min(n, lo + step), *arrays) for lo in range(step, n, step)]
    beyond = fn(0, min(n, step), *arrays)  # the calling thread takes the first range
    return beyond + sum(f.result() for f in futures)


def _matmul_into(pool, key, subscripts, a, b, into=None):
    shape = tuple(dict(zip("".join(subscripts.split("->")[0].split(",")),
                           a.shape + b.shape))[c] for c in subscripts.split("->")[1])
    dt = np.result_type(a, b)
    if into is not None and into.dtype == dt:
        res = as_matmul(np, subscripts, a, b, into=into.reshape(shape))
        if res is not None:
            return into
    # None when it is not a plain matrix product: einsum runs it instead
    return as_matmul(np, subscripts, a, b, into=pool.empty(key, shape, dt, 1))


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
