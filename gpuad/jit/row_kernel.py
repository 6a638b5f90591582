"""The row kernel of a plan on a GPU device: compiled once per plan, launched with
everything about the call but the arrays worked out in advance (NOTE [row programs]
in ``rowplan.py``).

Per call it makes the row inputs contiguous (a no-op for the usual contiguous
arguments), allocates the results, and launches one kernel on the device's current
stream: a thread per row, in a grid-stride loop.
"""
from __future__ import annotations

import numba
import numpy as np

from .. import launches
from ..backends import get_backend
from . import codegen_rows, rows
from .threads import run_rows


class RowKernel:
    """``run(env)``: the results of the row program, {var id: array}, from ``env``
    (var id -> array: the plan's inputs, constants and prologue results)."""

    def __init__(self, prog, device, src, buffers):
        from gpuad.kernels import cache, target as tg
        self._describe(prog, src, buffers)
        be = get_backend(device)
        self.backend = be
        self.target = be.target
        self.kernel = tg.jit(cache.load_source("rows", src).rowplan, self.target)
        self._tg = tg
        self.sim = self.target == "cudasim"
        self.block = tg.block_size(self.target)
        self.grid = tg.grid_size(self.target, prog.n, self.block)

    def warm(self):
        """Compile now, with a launch over no rows (NOTE [compile at build])."""
        if self.target != "cuda":
            return self  # the simulator has nothing to compile
        xp = self.backend.xp
        ins, args, outs = _empty(self.kinds, xp)
        self._tg.launch(self.kernel, 1, self.block, [0, 1] + ins + args + outs, self.target)
        return self

    def _describe(self, prog, src, buffers):
        """What both targets keep of the program: its source, sizes, and the var ids
        its arguments come from."""
        self.source = src
        self.local_bytes = sum(size * dt.itemsize for _, size, dt in buffers)
        self.n = prog.n
        self.ins = [s.var.id for s in prog.inputs]
        self.args = [s.var[1] if isinstance(s.var, tuple) else s.var.id for s in prog.args]
        self.outs = [((prog.n, s.size), s.dtype) for s in prog.outs]
        self.results = []  # (graph output var id, out store index, the var's shape)
        self.flops = prog.flops_per_row() * prog.n
        self.kinds = _kinds(prog)

    def bind_outputs(self, graph, prog):
        for o, (store, _) in zip([o for o in graph.outputs if hasattr(o, "id")], prog.outputs):
            self.results.append((o.id, store.index, o.shape))
        return self

    def run(self, env, n=None):
        """``n``: the call's rows, for a row-polymorphic plan (NOTE [row-polymorphic
        plans] in plan.py); None: the program's own."""
        tg = self._tg
        xp = self.backend.xp
        n, outs_kinds, results, flops = self._at(n)
        grid = self.grid if n == self.n else tg.grid_size(self.target, n, self.block)
        # the usual arguments are contiguous: a view, without the array module's call
        xs = [_flat(env[i], xp, (n, -1)) for i in self.ins]
        as_ = [_flat(env[i], xp, (-1,)) for i in self.args]
        outs = [xp.empty(shape, dtype=dt) for shape, dt in outs_kinds]
        read = [tg.read_only(a, self.target) for a in xs + as_] if self.sim else xs + as_
        tg.launch(self.kernel, grid, self.block, [n, 1] + read + outs, self.target)
        tg.stats.launches["rows"] += 1
        if launches._active:
            with launches.op_scope("fused:rows"):  # the whole plan, fused
                launches.record_kernel("rows", cost=launches.launch_cost(xs + as_, outs, flops))
        return {vid: outs[k].reshape(shape) for vid, k, shape in results}

    def _at(self, n):
        """``(rows, result kinds, result shapes, flops)`` of a call over ``n`` rows (None:
        the program's own)."""
        if n is None or n == self.n:
            return self.n, self.outs, self.results, self.flops
        return (n, [(rows.scale(shape, self.n, n), dt) for shape, dt in self.outs],
                [(vid, k, rows.scale(shape, self.n, n)) for vid, k, shape in self.results],
                self.flops // self.n * n)


_PARALLEL_FLOPS = 2_000_000  # a call's flops; below this one thread is faster


class CpuRowKernel(RowKernel):
    """The row program on the cpu: one compiled loop over the rows (NOTE [row programs]
    on the cpu, in gpuad/jit/plan.py)."""

    def __init__(self, prog, device, src, buffers):
        from gpuad.kernels import cache
        self._describe(prog, src, buffers)
        self.kernel = cache.load_source("rowscpu", src).rowplan

    def warm(self):
        """Compile now, with a call over no rows (NOTE [compile at build])."""
        ins, args, outs = _empty(self.kinds, np)
        self.kernel(0, 0, 1, *ins, *args, *outs)
        return self

    def run(self, env, n=None):
        n, outs_kinds, results, flops = self._at(n)
        xs = [_flat(env[i], np, (n, -1)) for i in self.ins]
        as_ = [_flat(env[i], np, (-1,)) for i in self.args]
        outs = [np.empty(shape, dtype=dt) for shape, dt in outs_kinds]
        threads = numba.get_num_threads() if flops >= _PARALLEL_FLOPS else 1
        if threads > 1:  # row ranges on a thread pool (the loop releases the GIL)
            run_rows(self.kernel, n, threads, [1, *xs, *as_, *outs])
        else:
            self.kernel(0, n, 1, *xs, *as_, *outs)
        if launches._active:
            launches.record("fused:rows")
        return {vid: outs[k].reshape(shape) for vid, k, shape in results}


# NOTE [compile at build]: Numba compiles a function on its first call. A plan's row
# kernel is built while the first call traces (which returns eager mode's values), so
# left alone its compile would land on the second call, and a first call would look
# cheaper than it is. ``warm`` compiles it at build time instead, on empty arrays of
# the types the calls pass (C-contiguous, writable).
def _kinds(prog):
    return ([(s.size, s.dtype) for s in prog.inputs], [(s.size, s.dtype) for s in prog.args],
            [(s.size, s.dtype) for s in prog.outs])


def _empty(kinds, xp):
    ins, args, outs = kinds
    return ([xp.empty((0, size), dtype=dt) for size, dt in ins],
            [xp.empty((size,), dtype=dt) for size, dt in args],
            [xp.empty((0, size), dtype=dt) for size, dt in outs])


def _flat(a, xp, shape):
    if not a.flags.c_contiguous:
        a = xp.ascontiguousarray(a)
    return a.reshape(shape)


def build(prog, graph, device):
    """The plan's ``RowKernel``, or None when a row would need more than
    ``rowplan.LOCAL_MAX`` bytes of local memory (NOTE [row programs])."""
    from .rowplan import LOCAL_MAX
    if device == "cpu":
        src, buffers = codegen_rows.source(prog, "cpu")
        return CpuRowKernel(prog, device, src, buffers).bind_outputs(graph, prog).warm()
    src, buffers = codegen_rows.source(prog, "cuda")  # rendered once, checked, compiled
    if sum(size * dt.itemsize for _, size, dt in buffers) > LOCAL_MAX:
        return None
    return RowKernel(prog, device, src, buffers).bind_outputs(graph, prog).warm()


__all__ = ["RowKernel", "build"]
