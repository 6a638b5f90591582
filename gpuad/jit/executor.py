"""Running a compiled plan (``plan.py``): its steps in order on the plan's device,
writing into reused buffers on the cpu (NOTE [jit buffer pool] in ``buffers.py``), in
row tiles when the plan is row-separable (NOTE [row tiles] in ``rows.py``), or as one
row kernel (NOTE [row programs] in ``rowplan.py``)."""
from __future__ import annotations

import numba
import numpy as np

from .. import launches
from ..backends import get_backend
from ..ops.contract import as_matmul
from ..ops.linalg import einsum_p
from . import rows
from .plan import EqnStep
from .threads import run_rows, thread_pool


# -- run ----------------------------------------------------------------------------
def run(plan, arrays):
    """The plan's results (device arrays) for the call's ``arrays``."""
    with get_backend(plan.device).activate():  # NOTE [device names] in gpuad.backends
        return _run_on(plan, arrays)


def _run_on(plan, arrays):
    # NOTE [row-polymorphic plans] in plan.py: such a plan runs the call's rows
    n = arrays[0].shape[0] if plan.poly else None
    if plan.row_kernel is not None:
        env = dict(plan.consts)
        env.update(zip(plan.inputs, arrays))
        if plan.steps:
            _run_steps(plan.steps, env, None, None, True, plan.device)
        res = plan.row_kernel.run(env, n)
        return [res[o] if o in res else env[o] for o in plan.outputs]
    pool = plan.pool
    tile = plan.tile
    if plan.poly or (tile is not None and plan.rows.n >= 2 * tile):
        result = _run_tiled(plan, arrays, pool, tile, n)
    else:
        env = dict(plan.consts)
        env.update(zip(plan.inputs, arrays))
        _run_steps(plan.steps, env, pool, None, True, plan.device)
        result = [env[o] for o in plan.outputs]
    return result


def _run_tiled(plan, arrays, pool, tile, n=None):
    """The plan over tiles of ``tile`` rows (NOTE [row tiles]): each tile's
    intermediates reuse the same buffers, so they stay in cache, and the kernels that
    make a result write its rows in place. With several Numba threads, each thread
    takes a contiguous run of tiles with buffers of its own. ``n``: the call's rows,
    for a row-polymorphic plan (None: the plan's own)."""
    rn = plan.rows.n
    n = rn if n is None else n
    roots = {}  # var id -> the full-size buffer its tiles are written into
    results = []
    for k, (root, chain) in enumerate(plan.out_views):
        if root is None:
            results.append(plan.consts[plan.outputs[k]])
            continue
        buf = roots.get(root.id)
        if buf is None:
            buf = roots[root.id] = pool.empty(("out", k), rows.scale(root.shape, rn, n),
                                              root.dtype, k + 1)
        for prim, params in chain:  # the result's own view of that buffer, full size
            if n != rn and "shape" in params:
                params = dict(params, shape=rows.scale(params["shape"], rn, n))
            buf = prim.impl(get_backend(plan.device), buf, **params)
        results.append(buf)
    starts = list(range(0, n, tile))
    threads = min(numba.get_num_threads(), len(starts))
    if threads > 1:
        per = -(-len(starts) // threads)
        runs = [starts[i:i + per] for i in range(0, len(starts), per)]
        futures = [thread_pool(threads).submit(_tiles, plan, arrays, runs[t], tile,
                                                pool, roots, False, n)
                   for t in range(1, len(runs))]
        _tiles(plan, arrays, runs[0], tile, pool, roots, True, n)
        for f in futures:
            f.result()
    else:
        _tiles(plan, arrays, starts, tile, pool, roots, True, n)
    return results


def _tiles(plan, arrays, starts, tile, pool, roots, record, n):
    ids = plan.rows.ids
    row_inputs = [i in ids for i in plan.inputs]
    for lo in starts:
        hi = min(n, lo + tile)
        if plan.poly:  # a constant of equal rows: its first row, for each of the tile's
            env = {k: np.broadcast_to(plan.poly_consts[k], (hi - lo,) + c.shape[1:])
                   if k in ids else c for k, c in plan.consts.items()}
        else:
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
        if type(step) is EqnStep:
            prim, ins, params, out = step.prim, step.ins, step.params, step.out
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
            st = step
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
                    beyond = run_rows(st.fn, st.loop[0], threads, views + outs)
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
    from ..ops.structural import reshape_p
    return reshape_p, gather_p


_VIEWS = _views()


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


