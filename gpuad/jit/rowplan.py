"""A row-separable plan as one program per row: the lowered IR the row kernels render.

NOTE [row programs]: a batched Jacobian's plan is one small per-cell program run over
the N rows of a batch (NOTE [row tiles] in ``rows.py`` proves when). Run as a sequence
of library kernels, every step streams its (N, ...) intermediate through global
memory; on a GPU that is dozens of launches and gigabytes of traffic for a result of a
few hundred bytes per row. Lowered to one program per row, the whole plan is one
kernel: a thread takes a row, keeps that row's intermediates in its own registers or
local memory, and only the inputs and the results touch global memory.

The IR is deliberately small: every equation becomes loop nests (``Nest``) over its
per-row shape, reading and writing *stores* through *maps*. A store is a flat run of
memory (a row of an input or a result, a row's local array, a constant); a map is an
integer array of the value's per-row shape holding each element's offset in its
store. Data movement (reshape, transpose, broadcast, component reads, flips, gathers
with constant indices) computes a new map and moves nothing: the map is found by
running the primitive's own implementation on an array of offsets, so a view here
is exactly the view NumPy makes. A renderer (``codegen_rows``) writes a map as an
affine expression of the loop indices where it is one, and as a table otherwise.

``lower(graph, rows)`` returns a ``RowProgram``, or None when an equation has no row
form here (the plan then runs as library kernels, as before): the lowering is
conservative, never wrong.
"""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..ops.indexing import _np_index, gather_p, scatter_add_p
from ..ops.linalg import einsum_p
from ..ops.pointwise import conj_p, stop_gradient_p
from ..ops.reductions import max_p, min_p, prod_p
from ..ops.shape import concat_p, flip_p
from ..ops.structural import astype_p, broadcast_to_p, reshape_p, sum_p, transpose_p
from . import rows as _rows
from . import fusion
from .fusion import _FUSABLE_DTYPES, expr_of
from .graph import host_value

# data movement: a new map of the same store (NOTE [row programs])
_MOVES = frozenset((reshape_p, transpose_p, broadcast_to_p, gather_p, flip_p))
# reductions: (combining operator, identity by dtype kind)
_REDUCE = {sum_p: ("+", 0), prod_p: ("*", 1), max_p: ("max", "lowest"), min_p: ("min", "highest")}
# constants this small are written into the kernel (folded by the compiler); larger
# ones are kernel arguments
EMBED_MAX = 1024
# a row's local arrays at their peak (codegen_rows reuses them), in bytes, above which
# the plan runs as library kernels: local memory beyond the registers lives in the L1
# cache (256 KB per SM on an H100, shared by up to 2,048 threads) and then in L2
LOCAL_MAX = 16 << 10


class Store:
    """Flat memory holding values of one dtype. ``kind``: "in" (a row of a row-carrying
    input), "arg" (a row-free array argument), "const" (a constant written into the
    kernel: ``values``), "local" (a row's local array), "out" (a row of a result)."""

    __slots__ = ("kind", "size", "dtype", "values", "index", "var")

    def __init__(self, kind, size, dtype, values=None, var=None):
        self.kind = kind
        self.size = int(size)
        self.dtype = np.dtype(dtype)
        self.values = values
        self.index = None  # position among the stores of its kind, set by ``RowProgram``
        self.var = var     # the graph var whose array it is (inputs and args)


class Nest:
    """One loop nest over ``outer`` (then ``inner``) axes: ``target`` ← ``expr``.

    ``expr``: a kernel expression in ``a0, a1, ...``, the operands, each a ``(store,
    map)`` with the map over ``outer + inner``. ``target``: ``(store, map)`` over
    ``outer``. With ``combine`` ("+", "*", "max", "min") the inner axes are reduced
    into an accumulator started at ``init`` (a literal); with ``update`` the target is
    combined with its own value (a scatter-add)."""

    __slots__ = ("outer", "inner", "target", "expr", "operands", "combine", "init",
                 "update", "dtype", "group", "prim", "pairwise")

    def __init__(self, outer, target, expr, operands, dtype, inner=(), combine=None,
                 init=None, update=False):
        self.outer = tuple(outer)
        self.inner = tuple(inner)
        self.target = target
        self.expr = expr
        self.operands = operands
        self.combine = combine
        self.init = init
        self.update = update
        self.dtype = np.dtype(dtype)
        self.group = None  # the fused group (fusion.partition) of its equation, if any
        self.prim = None   # the elementwise primitive (for constant folding)
        self.pairwise = False  # a sum in NumPy's pairwise order (NOTE [pairwise sums])


class RowProgram:
    """``nests`` run per row, in order. ``inputs``: "in" stores (graph input order);
    ``args``: "arg" stores; ``outputs``: per graph output, ``(store, map)``;
    ``prologue``: equations without rows, run before the kernel (their results are
    args)."""

    def __init__(self, n, nests, stores, outputs, prologue):
        self.n = n
        self.nests = nests
        self.outputs = outputs
        self.prologue = prologue
        by_kind = {}
        for s in stores:
            lst = by_kind.setdefault(s.kind, [])
            s.index = len(lst)
            lst.append(s)
        self.inputs = by_kind.get("in", [])
        self.args = by_kind.get("arg", [])
        self.consts = by_kind.get("const", [])
        self.outs = by_kind.get("out", [])
        self.locals = by_kind.get("local", [])

    def flops_per_row(self):
        from ..kernel_costs import expression_flops
        total = 0
        for nest in self.nests:
            trips = int(np.prod(nest.outer + nest.inner, dtype=np.int64))
            total += trips * (expression_flops(nest.expr) + (1 if nest.combine or nest.update else 0))
        return total


class _NoRowForm(Exception):
    """An equation the row program cannot express; the plan keeps its library kernels."""


def lower(graph, r=None):
    """The ``RowProgram`` of ``graph`` over its ``r.n`` rows (``rows.analyze``), or None.
    Without ``r``, the whole graph as the program of one row (a call of an unbatched
    function, or of a batch of one): every value's per-row shape is its shape."""
    try:
        return _Lowering(graph, r).run()
    except _NoRowForm:
        return None


def _identity(shape):
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)


class _Lowering:
    def __init__(self, graph, r):
        self.g = graph
        self.r = r
        self.lead = 0 if r is None else 1  # the row axis each row value leads with
        self.n = 1 if r is None else r.n
        self.ids = r.ids if r is not None else frozenset(
            [v.id for v in graph.inputs] + [e.out.id for e in graph.eqns])
        self.refs = {}     # var id -> (store, map over the per-row shape)
        self.stores = []
        self.nests = []
        self.prologue = []
        self.cpu = get_backend("cpu")

    def store(self, kind, size, dtype, values=None, var=None):
        if np.dtype(dtype) not in _FUSABLE_DTYPES:
            raise _NoRowForm(f"dtype {dtype}")
        s = Store(kind, size, dtype, values, var)
        self.stores.append(s)
        return s

    def run(self):
        g, ids = self.g, self.ids
        for v in g.inputs:
            if v.id in ids:
                shape = v.shape[self.lead:]
                self.refs[v.id] = (self.store("in", np.prod(shape, dtype=np.int64), v.dtype, var=v),
                                   _identity(shape))
            else:
                self.refs[v.id] = (self.store("arg", np.prod(v.shape, dtype=np.int64), v.dtype, var=v),
                                   _identity(v.shape))
        # in the order of the jit's fused groups, so a group's nests are adjacent and
        # the renderer can run them as one loop (NOTE [row programs])
        order = []
        for step in fusion.partition(g):
            if isinstance(step, fusion.Group):
                order += [(e, step.id) for e in step.eqns]
            else:
                order.append((step, None))
        for e, group in order:
            if e.out.id in ids:
                first = len(self.nests)
                self.equation(e)
                for nest in self.nests[first:]:
                    nest.group = group
            else:
                self.prologue.append(e)  # row-free: a library call before the kernel
                s = self.store("arg", np.prod(e.out.shape, dtype=np.int64), e.out.dtype, var=e.out)
                self.refs[e.out.id] = (s, _identity(e.out.shape))
        outputs = []
        promoted = set()
        for o in g.outputs:
            if not hasattr(o, "id"):
                continue  # a constant result: the plan holds it
            vid = o.id
            store, m = self.ref(vid)
            shape = self.var(vid).shape[self.lead:]
            if store.kind == "local" and id(store) not in promoted and _permutation(m, store.size):
                # the equations making it write the result's rows, in the result's order
                # (a transposed result is written transposed, not copied)
                self.relabel(store, m)
                store.kind = "out"
                promoted.add(id(store))
                outputs.append((store, _identity(shape)))
                continue
            out = self.store("out", m.size, self.var(vid).dtype)
            self.nests.append(Nest(shape, (out, _identity(shape)), "a0", [(store, m)],
                                   out.dtype))
            outputs.append((out, _identity(shape)))
        return RowProgram(self.n, self.nests, self.stores, outputs, self.prologue)

    def relabel(self, store, m):
        """Lay ``store`` out in the order of ``m`` (a permutation of its offsets): every
        map into it is composed with the inverse permutation."""
        pos = np.empty(store.size, dtype=np.int64)
        pos[m.reshape(-1)] = np.arange(store.size)
        for nest in self.nests:
            if nest.target[0] is store:
                nest.target = (store, pos[nest.target[1]])
            nest.operands = [(st, pos[mm]) if st is store else (st, mm) for st, mm in nest.operands]
        self.refs = {k: (st, pos[mm]) if st is store else (st, mm) for k, (st, mm) in self.refs.items()}

    def var(self, vid):
        for v in self.g.inputs:
            if v.id == vid:
                return v
        return self._made[vid]

    @property
    def _made(self):
        made = getattr(self, "_made_cache", None)
        if made is None:
            made = self._made_cache = {e.out.id: e.out for e in self.g.eqns}
        return made

    def ref(self, vid):
        ref = self.refs.get(vid)
        if ref is None:
            c = self.g.consts[vid]
            h = np.asarray(host_value(c))  # (ascontiguousarray would make a 0-d array 1-d)
            if vid in self.ids:
                h = h[0]  # a constant of equal rows (rows.analyze): every row reads row 0
            kind = "const" if h.size <= EMBED_MAX else "arg"
            s = self.store(kind, h.size, h.dtype, h.reshape(-1).copy() if kind == "const" else None)
            if kind == "arg":
                s.var = ("const", vid)
            ref = self.refs[vid] = (s, _identity(h.shape))
        return ref

    def operand(self, v, shape, same_rank_rows):
        """``v``'s (store, map) broadcast to the per-row ``shape`` of an elementwise
        equation; ``same_rank_rows``: the output's rank, rows included."""
        store, m = self.ref(v.id)
        if self.lead and v.id not in self.ids and len(v.shape) == same_rank_rows:
            m = m.reshape(m.shape[1:])  # its axis 0 has size 1 and broadcasts over the rows
        try:
            return store, np.broadcast_to(m, shape)
        except ValueError:
            raise _NoRowForm(f"broadcast of {v} ({m.shape}) to {shape}") from None

    def local(self, v):
        shape = v.shape[self.lead:]
        s = self.store("local", np.prod(shape, dtype=np.int64), v.dtype)
        ref = (s, _identity(shape))
        self.refs[v.id] = ref
        return ref

    def equation(self, e):
        prim, out = e.prim, e.out
        shape = out.shape[self.lead:]
        if any(0 in v.shape for v in (*e.inputs, out)):
            raise _NoRowForm("empty")  # eager mode's library calls handle empty values
        if prim in _MOVES:
            return self.move(e)
        expr = expr_of(e)
        if expr is None and (prim is astype_p or prim is stop_gradient_p) or \
                (prim is conj_p and out.dtype.kind != "c"):
            expr = "a0"
        if expr is not None:
            ops = [self.operand(v, shape, len(out.shape)) for v in e.inputs]
            target = self.local(out)
            nest = Nest(shape, target, expr, ops, out.dtype)
            nest.prim = prim
            self.nests.append(nest)
            return
        if prim in _REDUCE:
            return self.reduction(e)
        if prim is einsum_p:
            return self.einsum(e)
        if prim is concat_p:
            return self.concat(e)
        if prim is scatter_add_p:
            return self.scatter(e)
        raise _NoRowForm(prim.name)

    def _consts_of(self, e):
        arrays = []
        for v in e.inputs[1:]:
            c = self.g.consts.get(v.id)
            if c is None:
                raise _NoRowForm("index arrays computed at run time")
            arrays.append(host_value(c))
        return arrays

    def _row_params(self, e):
        p = e.params
        if "shape" in p and self.lead:
            p = dict(p, shape=_rows.scale(p["shape"], self.n, 1))
        return p

    def move(self, e):
        x = e.inputs[0]
        store, m = self.ref(x.id)
        idx = self._consts_of(e) if e.prim in (gather_p,) else []
        if not self.lead:
            m2 = np.asarray(e.prim.impl(self.cpu, m, *idx, **e.params))
            if m2.shape != e.out.shape:
                raise _NoRowForm("moved shape")
            self.refs[e.out.id] = (store, m2)
            return
        if x.id not in self.ids:  # a row-free value broadcast over the rows
            m = m.reshape(m.shape[1:]) if len(x.shape) == len(e.out.shape) else m
        m2 = e.prim.impl(self.cpu, m[None], *idx, **self._row_params(e))
        m2 = np.asarray(m2)
        if m2.shape != (1,) + e.out.shape[1:]:
            raise _NoRowForm("moved shape")
        self.refs[e.out.id] = (store, m2[0])

    def reduction(self, e):
        x = e.inputs[0]
        op, ident = _REDUCE[e.prim]
        store, m = self.ref(x.id)
        nd = len(x.shape)
        axes = e.params["axes"]
        red = sorted({a % nd for a in (range(nd) if axes is None else axes)})
        if self.lead:
            if 0 in red:
                raise _NoRowForm("reduces the rows")
            red = [a - 1 for a in red]
        kept = [a for a in range(nd - self.lead) if a not in red]
        outer = tuple(m.shape[a] for a in kept)
        inner = tuple(m.shape[a] for a in red)
        target = self.local(e.out)
        tmap = target[1].reshape(outer)
        xm = np.transpose(m, kept + red)
        # NOTE [pairwise sums]: a sum over trailing axes adds in NumPy's order (pairwise
        # over the run of elements), so a cancelling sum is eager mode's to the bit
        pairwise = op == "+" and red == list(range(len(kept), m.ndim))
        if pairwise:
            inner = (int(np.prod(inner, dtype=np.int64)),)
            xm = xm.reshape(outer + inner)
        nest = Nest(outer, (target[0], tmap), "a0", [(store, xm)], e.out.dtype,
                    inner=inner, combine=op, init=_init(ident, e.out.dtype))
        nest.pairwise = pairwise
        self.nests.append(nest)

    def einsum(self, e):
        sub = e.params["subscripts"]
        if "..." in sub or "->" not in sub:
            raise _NoRowForm("einsum form")
        lhs, out_s = sub.split("->")
        terms = lhs.split(",")
        ids = self.ids
        row = out_s[0]
        sizes = {}
        maps = []
        for t, v in zip(terms, e.inputs):
            store, m = self.ref(v.id)
            if self.lead and v.id in ids:
                t = t[1:]  # the row letter: the row program's own row
            if len(t) != m.ndim:
                raise _NoRowForm("einsum operand rank")
            uniq = "".join(dict.fromkeys(t))
            if uniq != t:
                m = np.einsum(f"{t}->{uniq}", m)  # a repeated letter reads the diagonal
            for c, n in zip(uniq, m.shape):
                sizes[c] = n
            maps.append((store, uniq, m))
        outer_l = out_s[self.lead:]
        inner_l = "".join(c for c in dict.fromkeys(lhs.replace(",", "")) if c not in out_s)
        if self.lead and row in inner_l:
            raise _NoRowForm("einsum over rows")
        letters = outer_l + inner_l
        full = tuple(sizes[c] for c in letters)
        ops = []
        for store, uniq, m in maps:
            m = np.transpose(m, [uniq.index(c) for c in letters if c in uniq])
            shape = tuple(sizes[c] if c in uniq else 1 for c in letters)
            ops.append((store, np.broadcast_to(m.reshape(shape), full)))
        target = self.local(e.out)
        outer = tuple(sizes[c] for c in outer_l)
        expr = " * ".join(f"a{i}" for i in range(len(ops)))
        self.nests.append(Nest(outer, (target[0], target[1].reshape(outer)), expr, ops,
                               e.out.dtype, inner=tuple(sizes[c] for c in inner_l),
                               combine="+", init=_init(0, e.out.dtype)))

    def concat(self, e):
        axis = e.params["axis"] % len(e.out.shape)
        if axis == 0 and self.lead:
            raise _NoRowForm("concat over rows")
        target = self.local(e.out)
        store_t, tmap = target
        at = 0
        for v in e.inputs:
            store, m = self.ref(v.id)
            if self.lead and v.id not in self.ids:  # one row: its leading 1 is the row
                m = m.reshape(m.shape[1:])
            k = m.shape[axis - self.lead]
            sl = [slice(None)] * tmap.ndim
            sl[axis - self.lead] = slice(at, at + k)
            self.nests.append(Nest(m.shape, (store_t, tmap[tuple(sl)]), "a0", [(store, m)],
                                   e.out.dtype))
            at += k

    def scatter(self, e):
        x = e.inputs[0]
        idx = self._consts_of(e)
        p = self._row_params(e)
        store, m = self.ref(x.id)
        target = self.local(e.out)
        tmap = target[1][None] if self.lead else target[1]
        dst = np.asarray(tmap[_np_index(p["spec"], idx)])
        try:
            dst = np.broadcast_to(dst, (1,) + m.shape)[0] if self.lead else \
                np.broadcast_to(dst, m.shape)
        except ValueError:
            raise _NoRowForm("scatter broadcast") from None
        self.nests.append(Nest(target[1].shape, target, _init(0, e.out.dtype), [], e.out.dtype))
        self.nests.append(Nest(m.shape, (target[0], dst), "a0", [(store, m)], e.out.dtype,
                               update=True, combine="+"))


def _permutation(m, size):
    return m.size == size and np.array_equal(np.sort(m.reshape(-1)), np.arange(size))


def _init(ident, dtype):
    dt = np.dtype(dtype)
    if ident == "lowest":
        v = False if dt == np.bool_ else (np.iinfo(dt).min if dt.kind in "iu" else -np.inf)
    elif ident == "highest":
        v = True if dt == np.bool_ else (np.iinfo(dt).max if dt.kind in "iu" else np.inf)
    else:
        v = ident
    return literal(v, dt)


def literal(v, dtype):
    """``v`` as kernel source text of ``dtype`` (floats exact: repr round-trips)."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return "True" if v else "False"
    if dt.kind in "iu":
        return str(int(v))
    v = float(v)
    if v != v:
        return "math.nan"
    if v in (np.inf, -np.inf):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


__all__ = ["RowProgram", "Nest", "Store", "lower", "literal"]
