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

``analyze(graph)`` proves separability from the graph with each primitive's row rule
(``Primitive.rows``, declared in its block under ``gpuad/ops``), and says which vars
carry rows ("R": axis 0 is the row axis, of size N). Everything else
must not depend on the rows at all ("C": constants, and values computed only from
them, which broadcast over the rows). A primitive without a row rule, or a rule that
does not hold, makes the plan run untiled: the analysis is conservative, never wrong.
"""
from __future__ import annotations

import numpy as np

from ..ops.shape import concat_p
from ..ops.structural import reshape_p, transpose_p
from ..primitive import BROADCAST, ELEMENTWISE


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
    kind = e.prim.rows
    if equal and (kind is ELEMENTWISE or e.prim is concat_p):
        for v in ins:
            if v.id in equal and len(v.shape) == len(e.out.shape):
                rows.add(v.id)
                as_rows.add(v.id)
    r = [v.id in rows for v in ins]
    out = e.out
    if not any(r):
        # a row-free value broadcast over the rows is a row value (of equal rows)
        return kind is BROADCAST and _leads(out, n) and \
            (len(ins[0].shape) < len(out.shape) or ins[0].shape[0] == 1)
    if not _leads(out, n):
        return None
    if kind is ELEMENTWISE or kind is BROADCAST:
        # elementwise with broadcasting: row inputs align with the output's axis 0, and a
        # row-free input of the same rank must broadcast over it (size 1 there)
        for v, is_row in zip(ins, r):
            if len(v.shape) == len(out.shape):
                if v.shape[0] != (n if is_row else 1):
                    return None
            elif is_row:
                return None
        return True
    if kind is None:
        return None
    return kind(tuple(tuple(v.shape) for v in ins), tuple(out.shape), r, n, e.params)


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
