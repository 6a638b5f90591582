"""Two-operand ``einsum`` as one matrix multiply in the layout of the result.

``np.einsum(optimize=True)`` reaches BLAS through ``tensordot``, whose result comes
out in the order (left free, right free) and is then transposed: for
``'ik,ak->ai'`` (a weight matrix applied to a batch of vectors) the result is a
strided view, and every consumer copies it. Here the operands are put in the order
(free, contracted) and (contracted, free) with views where possible,
the side whose free indices come first in the output goes left, and the product is
written C-contiguous in the output's order: BLAS reads transposed operands itself.
"""
from __future__ import annotations

import functools


def _prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


@functools.lru_cache(maxsize=4096)
def _recipe(subscripts, sha, shb):
    """How ``einsum(subscripts)`` of operands of shapes ``sha`` and ``shb`` is one 2-D
    matmul: (swap, transpose of a, of b, (nl, nc, nr), shape of the product in its own
    index order, transpose to the output order or None), or None. Worked out once per
    subscripts and shapes: an eager matmul of two small vectors spent most of its time
    parsing the subscripts."""
    ins, out = subscripts.split("->")
    sa, sb = ins.split(",")
    if len(set(sa)) != len(sa) or len(set(sb)) != len(sb) or len(set(out)) != len(out):
        return None
    batch = [c for c in out if c in sa and c in sb]
    contr = [c for c in sa if c in sb and c not in out]
    left = [c for c in out if c in sa and c not in sb]
    right = [c for c in out if c in sb and c not in sa]
    if set(sa) != set(batch + contr + left) or set(sb) != set(batch + contr + right):
        return None
    if batch:  # stacks of small products: einsum's own loops are as good
        return None
    size = dict(zip(sa, sha))
    for c, n in zip(sb, shb):
        if size.setdefault(c, n) != n:
            return None
    swap = bool(left and right and out.find("".join(right)) < out.find("".join(left)))
    if swap:  # free indices of b first
        sa, sb, left, right = sb, sa, right, left
    perm_a = tuple(sa.index(c) for c in left + contr)
    perm_b = tuple(sb.index(c) for c in contr + right)
    dims = tuple(_prod(size[c] for c in g) for g in (left, contr, right))
    order = left + right
    final = None if "".join(order) == out else tuple(order.index(c) for c in out)
    return swap, perm_a, perm_b, dims, tuple(size[c] for c in order), final


def as_matmul(xp, subscripts, a, b, into=None):
    """``einsum(subscripts, a, b)`` through one 2-D ``xp.matmul`` (into ``into``, a
    C-contiguous array of the result's shape, when given), or None when the
    subscripts are not a plain matrix product: repeated letters, a letter summed
    within one operand, a letter shared by both operands and the output (a stack of
    products), or a size-1 axis broadcast against a longer one."""
    r = _recipe(subscripts, tuple(a.shape), tuple(b.shape))
    if r is None:
        return None
    swap, perm_a, perm_b, (nl, nc, nr), shape, final = r
    if swap:
        a, b = b, a
    A = a.transpose(perm_a)
    B = b.transpose(perm_b)
    # 2-D operands: transposed views go to BLAS as they are
    A2 = A if A.shape == (nl, nc) else A.reshape(nl, nc)
    B2 = B if B.shape == (nc, nr) else B.reshape(nc, nr)
    if into is not None:  # written in place: only when no transpose follows
        if final is not None:
            return None
        xp.matmul(A2, B2, out=into.reshape(nl, nr))
        return into
    R = xp.matmul(A2, B2)
    R = R.reshape(shape)
    if final is not None:
        R = R.transpose(final)
    return R
