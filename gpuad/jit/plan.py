"""A compiled plan: the steps a jitted call runs, lowered from the optimised graph.

A plan is a list of steps, each a small class: ``EqnStep`` (one primitive through its
backend implementation) or ``GroupStep`` (a fused group: a Numba loop on the cpu,
multi-output kernels on a GPU); or, when the plan has a row program (NOTE [row
programs] in ``rowplan.py``), one ``row_kernel`` after its row-free prologue steps.
``executor.py`` runs plans.
"""
from __future__ import annotations

import os

import numpy as np

from ..backends import get_backend
from ..ops.indexing import gather_p
from ..ops.structural import reshape_p, sum_p
from . import buffers, codegen_cpu, fusion, row_kernel, rowplan, rows
from .graph import Var


class Plan:
    __slots__ = ("steps", "inputs", "consts", "outputs", "device", "n_kernels", "graph", "pool",
                 "rows", "tile", "tiles", "out_views", "row_kernel", "poly", "poly_consts")

    # NOTE [jit buffer pool] in buffers.py: ``pool`` leases the kernels' output buffers;
    # ``JitFunction.clear_cache()`` releases them.
    def tile_steps(self, n_rows):
        """The steps at ``n_rows`` rows instead of all of them (NOTE [row tiles])."""
        steps = self.tiles.get(n_rows)
        if steps is None:
            steps = self.tiles[n_rows] = [_scaled(s, self.rows, n_rows) for s in self.steps]
        return steps



class EqnStep:
    """One equation run through its primitive's backend implementation."""

    __slots__ = ("prim", "ins", "params", "out")

    def __init__(self, prim, ins, params, out):
        self.prim, self.ins, self.params, self.out = prim, ins, params, out


def _eqn_step(e):
    return EqnStep(e.prim, [v.id for v in e.inputs], e.params, e.out.id)


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
_CPU_ROW_PROGRAMS = True  # False: cpu plans keep their fused groups (tests of codegen_cpu)
_CPU_ROW_PROGRAM_FLOPS = 60_000  # a call's flops in the row program (naive loops)
_CPU_ROW_PROGRAM_ELEMENTS = 1 << 16  # the graph's values, all together
# ... and at any size, a row of at most this many flops whose nests all have at most
# _CPU_ROW_NEST trips: measured at B = 1,000, the neo-Hookean Jacobians (121-700 flops a
# row) ran 0.13-0.61x the fused plan's time; rows of 3,000+ flops or with a rolled nest
# ran 0.5-14x, rows with contractions 5-33x.
_CPU_ROW_FLOPS = 1000
_CPU_ROW_NEST = 256


def _row_program(graph, device, r):
    """The plan's row program (``rowplan.lower``) when it should run as one, else None:
    on a GPU every row-separable plan; on the cpu a small call, batched or not (an
    unbatched plan is the program of one row), or light rows at any batch (NOTE [cpu
    row programs]). ``r``: the graph's ``rows.analyze``."""
    if device != "cpu":
        return rowplan.lower(graph, r) if r is not None else None
    if not _CPU_ROW_PROGRAMS:
        return None
    small = sum(int(np.prod(e.out.shape, dtype=np.int64))
                for e in graph.eqns) <= _CPU_ROW_PROGRAM_ELEMENTS
    prog = rowplan.lower(graph, r) if r is not None else (rowplan.lower(graph) if small else None)
    if prog is None:
        return None
    flops = prog.flops_per_row()
    if small and prog.n * flops <= _CPU_ROW_PROGRAM_FLOPS:
        return prog
    light = flops <= _CPU_ROW_FLOPS and all(
        int(np.prod(nest.outer + nest.inner, dtype=np.int64)) <= _CPU_ROW_NEST for nest in prog.nests)
    return prog if light else None


class GroupStep:
    """A fused group: one kernel (cpu) or its multi-output programs (GPU)."""

    __slots__ = ("fn", "inputs", "outputs", "shape", "exprs", "name", "loop", "in_shapes",
                 "module", "parallel", "out_shapes", "var_shapes", "strided", "programs")


class NotRowPolymorphic(Exception):
    """``compile_plan(..., poly=True)``: the graph cannot serve every number of rows."""


def compile_plan(graph, device, poly=False):
    """The ``Plan`` of an optimised graph on ``device``. ``poly``: the graph was traced
    at a probe batch for a call of any number of rows (NOTE [row-polymorphic plans]);
    raises ``NotRowPolymorphic`` when it cannot serve them, before compiling kernels."""
    plan = Plan()
    plan.poly, plan.poly_consts = False, {}
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
    r = rows.analyze(graph)  # for the row program, and on the cpu for row tiles
    if poly:
        _check_polymorphic(graph, r, plan)
        plan.poly = True
    if _ROW_KERNELS:
        # NOTE [row programs] in rowplan.py: a row-separable plan is one kernel on a GPU,
        # and one compiled loop on the cpu for small calls and light rows (NOTE [cpu row
        # programs])
        prog = _row_program(graph, device, r)
        plan.row_kernel = row_kernel.build(prog, graph, device) if prog is not None else None
        if plan.row_kernel is not None:
            plan.steps = [_eqn_step(e) for e in prog.prologue]
            plan.n_kernels = 1 + sum(int(e.prim.kernel) for e in prog.prologue)
            plan.rows, plan.tile, plan.tiles = None, None, {}
            return plan
    if poly and device != "cpu":
        raise NotRowPolymorphic("a GPU plan serves any rows only as a row kernel")
    unfused = set()  # sums kept out of kernels that would unroll too far
    # a polymorphic plan's equal-rows constants are cut to each tile's rows at run time,
    # so no kernel may have them written in with the probe's rows
    unfolded = r.ids if poly else frozenset()
    while True:
        try:
            plan.steps, plan.n_kernels = _lower(graph, device, unfused, unfolded, poly)
            break
        except codegen_cpu.KernelTooLarge as e:
            unfused.update(e.args[1])
    plan.rows = r if device == "cpu" else None
    plan.tile = _tile_rows(plan.rows, plan.steps)
    plan.tiles = {}
    if poly and plan.tile is None:
        raise NotRowPolymorphic("the plan does not run in row tiles")
    if plan.tile is not None:
        plan.out_views = [rows.output_view(graph, o, plan.rows) for o in plan.outputs]
    return plan


# NOTE [row-polymorphic plans]: a jitted ``vmap`` cannot see its batch size, so the
# graph it traces at a probe batch of a few rows is the graph of any batch, with the row
# axis scaled: the row program of a row is the same, and so are a tiled plan's kernels
# (they take the rows as a run-time extent, NOTE [row tiles]). ``JitFunction`` traces a
# large batch that way (gpuad/jit/function.py), and the plan then runs the call's rows:
# the trace no longer runs the Jacobian eagerly on every row, which at 10^5 rows of a
# (20, 20, 60) tangent needed 18 GB. The graph must prove it: every input and result
# carries the rows (``rows.analyze``); a constant that carries them has equal rows (a
# tile reads its first row, broadcast); and no other constant has an axis that is a
# multiple of the probe's rows (it could be a batch-sized index array a batching rule
# made, which at the real batch would be another array). The probe's row count is an
# odd prime, so a user's constant matches it only by rare chance, and then the plan is
# an ordinary one.
def _check_polymorphic(graph, r, plan):
    if r is None:
        raise NotRowPolymorphic("the graph is not row-separable")
    n = r.n
    if any(v.id not in r.ids for v in graph.inputs):
        raise NotRowPolymorphic("an input without the rows")
    if any(not hasattr(o, "id") or o.id not in r.ids for o in graph.outputs):
        raise NotRowPolymorphic("a result without the rows")
    for vid, c in plan.consts.items():
        if vid in r.ids:
            plan.poly_consts[vid] = c[:1]  # equal rows (rows.analyze): one serves all
        elif any(d and d % n == 0 for d in getattr(c, "shape", ())):
            raise NotRowPolymorphic(f"a constant of shape {tuple(c.shape)} may depend on the batch")
    for e in graph.eqns:
        if e.out.id not in r.ids and any(d and d % n == 0 for d in e.out.shape):
            raise NotRowPolymorphic(f"{e.prim.name} makes a row-free value of shape "
                                    f"{e.out.shape}, which may depend on the batch")


def _tile_rows(r, steps):
    """Rows per tile: the power of two whose intermediates, all together, come
    closest under ``_TILE_BYTES``, within ``_TILE_ROWS``; None when the plan is not
    row-separable (NOTE [row tiles])."""
    if r is None or r.row_bytes == 0:
        return None
    for s in steps:  # every kernel's outputs must carry the rows, at loop axis 0
        if isinstance(s, GroupStep):
            st = s
            if any(v not in r.ids for v, _ in st.outputs) or st.loop[0] % r.n:
                return None
    fits = max(1, _TILE_BYTES // r.row_bytes)
    return min(max(1 << (fits.bit_length() - 1), _TILE_ROWS[0]), _TILE_ROWS[1])


def _scaled(step, r, n_rows):
    """``step`` at ``n_rows`` rows: shapes of row-carrying values have their axis 0
    scaled; kernels and library calls are the same ones."""
    if isinstance(step, EqnStep):
        params = step.params
        if step.out in r.ids and "shape" in params:
            params = dict(params, shape=rows.scale(params["shape"], r.n, n_rows))
        return EqnStep(step.prim, step.ins, params, step.out)
    st, new = step, GroupStep()
    for k in GroupStep.__slots__:
        setattr(new, k, getattr(st, k))
    new.loop = rows.scale(st.loop, r.n, n_rows)
    new.in_shapes = [rows.scale(sh, r.n, n_rows) if v in r.ids else sh
                     for v, sh in zip(st.inputs, st.in_shapes)]
    new.out_shapes = [rows.scale(sh, r.n, n_rows) for sh in st.out_shapes]
    new.var_shapes = [rows.scale(sh, r.n, n_rows) for sh in st.var_shapes]
    new.parallel = False  # tiles are small; the tiles themselves are the parallel unit
    return new


def _lower(graph, device, unfused, unfolded=frozenset(), poly=False):
    steps = []
    n_kernels = 0
    views = _component_views(graph)
    for s in fusion.partition(graph, reductions=device == "cpu", exclude=unfused):
        if isinstance(s, fusion.Group):
            size = int(np.prod(s.shape)) if s.shape else 1
            if any(0 in v.shape for e in s.eqns for v in (*e.inputs, e.out)):
                # an empty loop somewhere: nothing to compute, and no kernel to write
                # for it; the backend ops make the (empty or reduced-empty) results
                steps.extend(_eqn_step(e) for e in s.eqns)
                continue
            if len(s.eqns) == 1 and device == "cpu" and size < _PARALLEL_MIN and not poly:
                # a small lone pointwise op: NumPy's ufunc is as fast and needs no compile
                # (a row-polymorphic plan's probe is small, but its calls are not)
                e = s.eqns[0]
                steps.append(_eqn_step(e))
                n_kernels += 1
                continue
            try:
                steps.append(_build_group(s, device, graph.consts, views, unfolded))
            except codegen_cpu.KernelTooLarge as e:
                raise codegen_cpu.KernelTooLarge(
                    e.args[0], {x.out.id for x in s.eqns if x.prim is sum_p}) from None
            n_kernels += 1 if device == "cpu" else len({tuple(v.shape) for v in s.outputs})
        else:
            steps.append(_eqn_step(s))
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
        if e.prim is gather_p and len(e.inputs) == 1:  # no index arrays: basic indexing
            views.add(e.out.id)
        elif e.prim is reshape_p and e.inputs[0].id in views and \
                [n for n in e.inputs[0].shape if n != 1] == [n for n in e.out.shape if n != 1]:
            views.add(e.out.id)
    return views


def _build_group(g, device, consts, views=frozenset(), unfolded=frozenset()):
    st = GroupStep()
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
            small = c is not None and c.size <= _FOLD_MAX and isinstance(c, np.ndarray) \
                and v.id not in unfolded
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


