"""Graph rewrites that turn non-pointwise equations into pointwise ones, so fusion
can take them into kernels.

``scatter_add`` with a static index (ints, full slices, ``None``) is the VJP of
component indexing such as ``F[0, 1]``: hand-written determinants, invariants and
stencils use dozens of them, and reverse mode turns each into a zero-filled array of
the full shape with one slot written. With only ints and full slices the result is
pointwise in the update: ``where(mask, upd, 0)``, ``mask`` a constant that is true at
the indexed positions and broadcast over the sliced axes. The scatters then fuse with
the ``add`` that accumulates them (one kernel instead of one zero-fill, one strided
write and one full-size add per component).
"""
from __future__ import annotations

import numpy as np

from .graph import Eqn


def _static_layout(spec, shape, upd_shape):
    """For a scatter index of ints / full slices / None into ``shape``: the update's
    shape with a 1 at every int axis, and {axis: position} of the ints; None when the
    index has anything else (arrays, partial slices)."""
    from ..ops.indexing import ArrayRef
    padded, ints = [], {}
    k = 0
    for s in spec:
        if s is None:
            continue
        if isinstance(s, ArrayRef) or k >= len(shape):
            return None
        n = shape[k]
        if isinstance(s, int):
            ints[k] = s % n
            padded.append(1)
        elif isinstance(s, slice) and s.indices(n) == (0, n, 1):
            padded.append(n)
        else:
            return None
        k += 1
    padded.extend(shape[k:])
    if int(np.prod(padded)) != int(np.prod(upd_shape)):  # pragma: no cover - shapes agree
        return None
    return tuple(padded), ints


def scatters_to_selects(graph):
    """Rewrite static-index ``scatter_add`` equations as reshape + ``where``."""
    from ..ops.indexing import scatter_add_p
    from ..ops.pointwise import where_p
    from ..ops.shape import reshape_p
    eqns, masks, zeros = [], {}, {}
    for e in graph.eqns:
        layout = None
        if e.prim is scatter_add_p and len(e.inputs) == 1 and e.out.dtype.kind in "fiu":
            layout = _static_layout(e.params["spec"], e.out.shape, e.inputs[0].shape)
        if layout is None:
            eqns.append(e)
            continue
        padded, ints = layout
        upd = e.inputs[0]
        if padded != upd.shape:
            r = graph.new_var(padded, upd.dtype)
            eqns.append(Eqn(reshape_p, [upd], {"shape": padded}, r))
            upd = r
        mshape = tuple(e.out.shape[k] if k in ints else 1 for k in range(len(e.out.shape)))
        mkey = (mshape, tuple(sorted(ints.items())))
        m = masks.get(mkey)
        if m is None:
            arr = np.zeros(mshape, dtype=np.bool_)
            arr[tuple(ints.get(k, 0) for k in range(len(mshape)))] = True
            m = masks[mkey] = graph.new_var(mshape, arr.dtype)
            graph.consts[m.id] = arr
        z = zeros.get(e.out.dtype)
        if z is None:
            z = zeros[e.out.dtype] = graph.new_var((), e.out.dtype)
            graph.consts[z.id] = np.zeros((), dtype=e.out.dtype)
        eqns.append(Eqn(where_p, [m, upd, z], {}, e.out))
    graph.eqns = eqns
    return graph
