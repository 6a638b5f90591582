"""Row-separable plans: which values carry the batch rows, and the plan over a tile.

NOTE [row tiles]: a batched Jacobian is one small per-cell program run over a leading
axis of N cells. Run plainly, every step streams its (N, ...) intermediate through
main memory: at N = 100,000 a (N, 32) float64 value is 25 MB, and a hessian's plan
holds a gigabyte of them. When every step keeps the rows apart (no step mixes rows:
no sum, scan, gather or contraction over the row axis), the whole plan can run on
tiles of T rows instead, one tile after another: a tile's intermediates stay in the
caches, the same buffers serve every tile, and only the inputs and the results cross
main memory. This is what a GPU grid does with blocks of rows; the kernels are the
same ones (their batch extent is a run-time argument), only the sizes change.
Measured here (2-core Xeon, 2 MB of L2 per core), tiles of about 4k rows were fastest:
smaller ones pay more in per-step Python overhead than they save, and larger
ones spill L2 between steps. In one process, one thread per library, B = 100,000, the
tanh MLP's jacrev went from 69 to 37 ms and its Hessian from 138 to 77 ms (JAX's
jit: 43 and 89 ms in the same run).

``analyze(graph)`` proves separability from the graph, one rule per primitive, and
says which vars carry rows ("R": axis 0 is the row axis, of size N). Everything else
must not depend on the rows at all ("C": constants, and values computed only from
them, which broadcast over the rows). A primitive without a rule here, or a rule that
does not hold, makes the plan run untiled: the analysis is conservative, never wrong.
"""
from __future__ import annotations

import numpy as np

from ..ops.indexing import gather_p, scatter_add_p
from ..ops.linalg import cofactor_p, det_p, einsum_p, inv_p, solve_p
from ..ops.pointwise import astype_p, conj_p, stop_gradient_p
from ..ops.reductions import cumsum_p, max_p, min_p, prod_p, sum_p
from ..ops.shape import broadcast_to_p, concat_p, flip_p, reshape_p, transpose_p

# elementwise without a kernel expression (and broadcast_to, a view read elementwise)
_POINTWISE_LIKE = frozenset((astype_p, conj_p, stop_gradient_p))


class Rows:
    """The result of ``analyze``: ``n`` rows; ``ids`` the var ids that carry them."""

    __slots__ = ("n", "ids", "row_bytes")

    def __init__(self, n, ids, row_bytes):
        self.n = n
        self.ids = ids
        self.row_bytes = row_bytes  # bytes per row of every row-carrying var, summed


def analyze(graph):
    """``Rows`` when the graph runs row by row over its inputs' leading axis, else None."""
    # the rows are the longest leading axis among the inputs; inputs with another
    # leading size (weights passed as arguments) are row-free. A wrong guess is safe:
    # the rules below then find an equation that mixes rows, and nothing is tiled.
    n = max((v.shape[0] for v in graph.inputs if len(v.shape) >= 1), default=0)
    if n < 1:
        return None
    rows = {v.id for v in graph.inputs if v.shape and v.shape[0] == n}
    # a constant of n equal rows (a row-free value that vmap or a fold broadcast over
    # the rows, such as a padding column) may be read as a row value: each row reads
    # its own. Only where a rule needs it to (its leading axis meets the rows'), and
    # never also as a row-free value (a (3, 1) constant at n = 3 may broadcast along
    # another axis): one var is one or the other in a tiled or row program.
    equal = {vid for vid, c in graph.consts.items() if _same_rows(c, n)}
    as_rows, as_free = set(), set()
    row_bytes = 0
    for e in graph.eqns:
        verdict = _rule(e, rows, n, equal, as_rows)
        for v in e.inputs:
            if v.id in equal and v.id not in as_rows:
                as_free.add(v.id)
        if verdict is None or as_rows & as_free:
            return None
        if verdict:
            rows.add(e.out.id)
            row_bytes += _nbytes(e.out) // n
    for o in graph.outputs:
        # a result with no rows would be a constant of the plan (see _compile), but one
        # computed from the rows' absence is still fine only if it has none of them
        if hasattr(o, "id") and o.id not in rows:
            return None
    return Rows(n, frozenset(rows), row_bytes)


def _same_rows(c, n):
    # (one row: a constant's leading 1 is as likely a broadcast axis of its own)
    if n < 2 or getattr(c, "ndim", 0) < 1 or c.shape[0] != n:
        return False
    from .graph import host_value
    h = host_value(c)
    return bool(np.array_equal(h, np.broadcast_to(h[:1], h.shape),
                               equal_nan=h.dtype.kind in "fc"))


def _nbytes(v):
    size = v.dtype.itemsize
    for s in v.shape:
        size *= s
    return size


def _leads(v, n):
    return len(v.shape) >= 1 and v.shape[0] == n


def _rule(e, rows, n, equal=frozenset(), as_rows=None):
    """True: the output carries rows; False: it has none (all inputs are row-free);
    None: the equation mixes rows, or is not known to keep them apart. ``equal``:
    constants of equal rows, read as rows (and added to ``rows`` and ``as_rows``) where
    they meet the rows in an elementwise equation or a concat."""
    ins = e.inputs
    prim = e.prim
    pointwise = prim.expr is not None or prim in _POINTWISE_LIKE
    if equal and (pointwise or prim is concat_p):
        for v in ins:
            if v.id in equal and len(v.shape) == len(e.out.shape):
                rows.add(v.id)
                as_rows.add(v.id)
    r = [v.id in rows for v in ins]
    out = e.out
    if not any(r):
        # a row-free value broadcast over the rows is a row value (of equal rows)
        return prim is broadcast_to_p and _leads(out, n) and \
            (len(ins[0].shape) < len(out.shape) or ins[0].shape[0] == 1)
    if not _leads(out, n):
        return None
    if pointwise or prim is broadcast_to_p:
        # elementwise with broadcasting: row inputs align with the output's axis 0, and a
        # row-free input of the same rank must broadcast over it (size 1 there)
        for v, is_row in zip(ins, r):
            if len(v.shape) == len(out.shape):
                if v.shape[0] != (n if is_row else 1):
                    return None
            elif is_row:
                return None
        return True
    rule = _RULES.get(prim)
    return None if rule is None else rule(e, r, n)


def _reduction_rule(e, r, n):
    nd = len(e.inputs[0].shape)
    return all(a % nd != 0 for a in e.params["axes"]) or None


def _concat_rule(e, r, n):
    # (one row: a row-free input of leading size 1 is that row's value)
    rowwise = all(is_row or (n == 1 and v.shape[0] == 1) for v, is_row in zip(e.inputs, r))
    return (rowwise and e.params["axis"] % len(e.out.shape) != 0) or None


def _batched_matrix_rule(e, r, n):  # det, inv, cofactor
    return len(e.inputs[0].shape) >= 3 or None


def _solve_rule(e, r, n):
    a, b = e.inputs
    return (all(r) and len(a.shape) >= 3 and len(b.shape) == len(a.shape)) or None


def _index_rule(e, r, n):
    # the row axis must be indexed by a full slice, every index array be row-free, and
    # advanced indices (if any) must stay in place, not move to the front
    if not r[0] or any(r[1:]):
        return None
    spec = e.params["spec"]
    if not spec or spec[0] != slice(None):
        return None
    from ..ops.indexing import _advanced_positions
    pos = _advanced_positions(spec)
    if pos and pos[-1] - pos[0] + 1 != len(pos):
        return None
    if any(s is Ellipsis for s in spec[1:]) and pos:
        return None
    if e.prim is scatter_add_p and e.params["shape"][0] != n:
        return None
    return True


def _einsum_rule(e, r, n):
    subscripts, ins = e.params["subscripts"], e.inputs
    if "..." in subscripts or "->" not in subscripts:
        return None
    lhs, out = subscripts.split("->")
    terms = lhs.split(",")
    if len(terms) != len(ins):
        return None
    letters = {t[0] for t, is_row in zip(terms, r) if is_row and t}
    if len(letters) != 1:
        return None
    (row,) = letters
    if not out or out[0] != row:
        return None
    for t, is_row in zip(terms, r):
        if is_row and (not t or t[0] != row or row in t[1:]):
            return None
        if not is_row and row in t:
            return None
    return True


# the row rule of each primitive that is not elementwise: ``rule(e, r, n)`` (``r``: which
# inputs carry rows) -> True / None as ``_rule`` says; a primitive not here mixes rows
_RULES = {
    reshape_p: lambda e, r, n: _leads(e.inputs[0], n),
    transpose_p: lambda e, r, n: e.params["perm"][0] == 0,
    sum_p: _reduction_rule, max_p: _reduction_rule, min_p: _reduction_rule,
    prod_p: _reduction_rule,
    cumsum_p: lambda e, r, n: e.params["axis"] % len(e.inputs[0].shape) != 0 or None,
    flip_p: lambda e, r, n: all(a % len(e.inputs[0].shape) != 0 for a in e.params["axes"]) or None,
    concat_p: _concat_rule,
    gather_p: _index_rule, scatter_add_p: _index_rule,
    einsum_p: _einsum_rule,
    det_p: _batched_matrix_rule, inv_p: _batched_matrix_rule, cofactor_p: _batched_matrix_rule,
    solve_p: _solve_rule,
}


def scale(shape, n, rows):
    """``shape`` of a row-carrying value at ``rows`` rows instead of ``n``: its axis 0
    (which may be the row axis merged with trailing axes) scaled."""
    return (shape[0] // n * rows,) + tuple(shape[1:])


def output_view(graph, vid, r):
    """How a tiled plan assembles result ``vid``: ``(root, chain)``, where the tiles
    write the rows of the var ``root`` into a full-size buffer and ``chain``
    (primitive, params) pairs are the views (transposes, reshapes) that turn that
    buffer into the result, so a result that is a transposed view is not copied twice.
    ``(None, None)`` for a result without rows (a constant)."""
    if vid not in r.ids:
        return None, None
    made = {e.out.id: e for e in graph.eqns}
    root = next((v for v in graph.inputs if v.id == vid), None)
    chain = []
    e = made.get(vid)
    while e is not None:
        root = e.out
        if (e.prim is not transpose_p and e.prim is not reshape_p) or e.inputs[0].id not in r.ids:
            break
        chain.append((e.prim, e.params))
        root = e.inputs[0]
        e = made.get(root.id)
    return root, chain[::-1]
