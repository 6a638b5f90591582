"""Linear algebra. ``einsum`` (explicit subscripts) is the one contraction
primitive: matmul, vecdot, outer and tensordot lower to it, so one bilinear JVP,
one VJP and one batching rule (a fresh subscript letter) cover them all.
``det``, ``inv`` and ``solve`` are primitives batched over leading dims."""
from __future__ import annotations

import string

import numpy as np

from ..errors import GpuadTypeError, GpuadValueError
from ..primitive import Primitive
from .contract import as_matmul
from ._util import broadcast_shapes, coerce, norm_one_axis
from .structural import bdim_front_or_broadcast, batch_size, move_bdim_front

_LETTERS = string.ascii_letters


def _einsum_impl(be, *ops, subscripts):
    if len(ops) == 2 and be.xp is np and all(o.dtype.kind == "f" for o in ops):
        out = as_matmul(np, subscripts, *ops)
        if out is not None:
            return out
    # optimize=True routes other contractions through tensordot (BLAS)
    return be.xp.einsum(subscripts, *ops, optimize=True)


einsum_p = Primitive("einsum", _einsum_impl)


def _parse(subscripts):
    ins, out = subscripts.split("->")
    return ins.split(","), out


def _einsum_jvp(p, t, subscripts):
    from .pointwise import add
    out = einsum_p.bind(*p, subscripts=subscripts)
    tout = None
    for i, ti in enumerate(t):
        if ti is None:
            continue
        ops = list(p)
        ops[i] = ti
        term = einsum_p.bind(*ops, subscripts=subscripts)
        tout = term if tout is None else add(tout, term)
    return out, tout


def _einsum_vjp(ct, out, *ops, subscripts, needs=None):
    from .shape import broadcast_to, reshape
    ins, o = _parse(subscripts)
    res = []
    for i, x in enumerate(ops):
        if needs is not None and not needs[i]:
            res.append(None)
            continue
        others = [s for j, s in enumerate(ins) if j != i]
        avail = set(o).union(*others) if others else set(o)
        keep = "".join(c for c in ins[i] if c in avail)
        # letters only in operand i were summed out: the cotangent is constant along them
        sub = ",".join([o] + others) + "->" + keep
        g = einsum_p.bind(ct, *[x2 for j, x2 in enumerate(ops) if j != i], subscripts=sub)
        if keep != ins[i]:
            shape = tuple(x.shape[k] if c in keep else 1 for k, c in enumerate(ins[i]))
            g = broadcast_to(reshape(g, shape), tuple(x.shape))
        res.append(g)
    return tuple(res)


def _einsum_batch(vals, dims, subscripts):
    ins, o = _parse(subscripts)
    used = set(subscripts)
    b = next(c for c in _LETTERS if c not in used)
    new_ops, new_ins = [], []
    for v, d, s in zip(vals, dims, ins):
        if d is None:
            new_ops.append(v)
            new_ins.append(s)
        else:
            new_ops.append(move_bdim_front(v, d))
            new_ins.append(b + s)
    return einsum_p.bind(*new_ops, subscripts=",".join(new_ins) + "->" + b + o), 0


einsum_p.jvp, einsum_p.vjp, einsum_p.batch = _einsum_jvp, _einsum_vjp, _einsum_batch
einsum_p.vjp_takes_needs = True


def _einsum_rows(ins, out, r, n, params):
    # one subscript letter is the rows: first in every row input and in the result,
    # absent from the row-free inputs
    subscripts = params["subscripts"]
    if "..." in subscripts or "->" not in subscripts:
        return None
    lhs, res = subscripts.split("->")
    terms = lhs.split(",")
    if len(terms) != len(ins):
        return None
    letters = {t[0] for t, is_row in zip(terms, r) if is_row and t}
    if len(letters) != 1:
        return None
    (row,) = letters
    if not res or res[0] != row:
        return None
    for t, is_row in zip(terms, r):
        if is_row and (not t or t[0] != row or row in t[1:]):
            return None
        if not is_row and row in t:
            return None
    return True


einsum_p.rows = _einsum_rows


def _fresh(n, avoid=""):
    letters = [c for c in _LETTERS if c not in avoid]
    return "".join(letters[:n])


def einsum(subscripts, *operands):
    """Einstein summation (NumPy's notation, ``...`` included). Repeated letters
    within one operand take its diagonal."""
    ops = coerce("einsum", *operands, names=[f"operands[{i}]" for i in range(len(operands))])
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
        explicit = True
    else:
        ins, out, explicit = subscripts, None, False
    ins = ins.split(",")
    if len(ins) != len(ops):
        raise GpuadValueError(f"einsum: argument 'subscripts' names {len(ins)} operands, got {len(ops)}")
    # expand ellipses into fresh letters (right-aligned broadcasting of the batch dims)
    used = set(subscripts)
    ell_n = 0
    for s, x in zip(ins, ops):
        if "..." in s:
            ell_n = max(ell_n, x.ndim - (len(s) - 3))
    ell = _fresh(ell_n, used)
    new_ins = []
    for i, (s, x) in enumerate(zip(ins, ops)):
        if "..." in s:
            k = x.ndim - (len(s) - 3)
            s = s.replace("...", ell[ell_n - k:])
        if len(s) != x.ndim:
            raise GpuadValueError(f"einsum: subscripts {s!r} do not match operand {i} of shape {x.shape}")
        new_ins.append(s)
    # size-1 broadcasting of shared letters: broadcast operands explicitly
    sizes = {}
    for s, x in zip(new_ins, ops):
        for c, n in zip(s, x.shape):
            if n != 1:
                if sizes.get(c, n) != n:
                    raise GpuadValueError(f"einsum: size mismatch for subscript {c!r}: {sizes[c]} vs {n}")
                sizes[c] = n
    from .shape import broadcast_to
    ops = [broadcast_to(x, tuple(sizes.get(c, 1) for c in s)) if any(
        n == 1 and sizes.get(c, 1) != 1 for c, n in zip(s, x.shape)) else x for s, x in zip(new_ins, ops)]
    if not explicit:
        counts = {}
        for s in new_ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    # repeated letters inside one operand: take the diagonal first
    for i, s in enumerate(new_ins):
        while len(set(s)) != len(s):
            c = next(ch for ch in s if s.count(ch) > 1)
            a1 = s.index(c)
            a2 = s.index(c, a1 + 1)
            ops[i] = _diagonal(ops[i], a1, a2)
            s = s[:a1] + s[a1 + 1:a2] + s[a2 + 1:] + c
        new_ins[i] = s
    return einsum_p.bind(*ops, subscripts=",".join(new_ins) + "->" + out)


def _diag_index(n_rows, n_cols, k, device):
    """(rows, cols, length) of the k-th diagonal of an n_rows x n_cols matrix."""
    from .creation import arange
    r0, c0 = max(-k, 0), max(k, 0)
    n = max(0, min(n_rows - r0, n_cols - c0))
    r = arange(n, dtype=np.int64, device=device)
    return (r + r0 if r0 else r), (r + c0 if c0 else r), n


def _diagonal(x, a1, a2, offset=0):
    """Diagonal ``offset`` over axes a1 < a2, placed last (gather with two arange
    indices)."""
    from .indexing import ArrayRef, gather_p
    from .shape import moveaxis
    y = moveaxis(moveaxis(x, a1, -1), a2 - 1 if a2 > a1 else a2, -1)
    rows, cols, _ = _diag_index(y.shape[-2], y.shape[-1], offset, x.device)
    spec = (slice(None),) * (y.ndim - 2) + (ArrayRef(0), ArrayRef(1))
    return gather_p.bind(y, rows, cols, spec=spec)


def _diag_embed(x, k=0):
    """The matrix with ``x`` (last axis) on diagonal ``k`` and exact zeros elsewhere: a
    placement (scatter into zeros), not a product with the identity (inf * 0 = nan). Its
    derivative rules are linear: the JVP places the tangent, the VJP gathers the
    cotangent's diagonal."""
    from .indexing import ArrayRef, scatter_add_p
    n = x.shape[-1]
    m = n + abs(k)
    rows, cols, _ = _diag_index(m, m, k, x.device)
    spec = (slice(None),) * (x.ndim - 1) + (ArrayRef(0), ArrayRef(1))
    return scatter_add_p.bind(x, rows, cols, spec=spec, shape=tuple(x.shape[:-1]) + (m, m))



def diagonal(x, offset=0, axis1=-2, axis2=-1):
    """The diagonal ``offset`` (above the main one when positive) over ``axis1`` and
    ``axis2``, placed last."""
    (x,) = coerce("diagonal", x)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise GpuadTypeError(f"diagonal: argument 'offset' must be an int, got {offset!r}")
    a1 = norm_one_axis(axis1, x.ndim, "diagonal", "axis1")
    a2 = norm_one_axis(axis2, x.ndim, "diagonal", "axis2")
    if a1 == a2:
        raise GpuadValueError("diagonal: arguments 'axis1' and 'axis2' must differ")
    if a1 > a2:  # the diagonal of the transpose: offset counts from axis1's side
        a1, a2, offset = a2, a1, -offset
    return _diagonal(x, a1, a2, int(offset))


def matmul(x1, x2):
    """Matrix product with NumPy semantics (1-D operands, broadcast batch dims)."""
    a, b = coerce("matmul", x1, x2)
    sa, sb = a.shape, b.shape  # read once: each .shape / .ndim of a tensor is a call
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise GpuadValueError("matmul: arguments must have at least 1 dim; use multiply for scalars")
    ka = sa[-1]
    kb = sb[-2] if nb >= 2 else sb[0]
    if ka != kb:
        raise GpuadValueError(f"matmul: shapes {sa} and {sb} are not aligned "
                              f"(contracted dims {ka} != {kb})")
    if na == 1 and nb == 1:
        return einsum_p.bind(a, b, subscripts="i,i->")
    if nb == 1:
        bt = _fresh(na - 2, "ijk")
        return einsum_p.bind(a, b, subscripts=f"{bt}ik,k->{bt}i")
    if na == 1:
        bt = _fresh(nb - 2, "ijk")
        return einsum_p.bind(a, b, subscripts=f"k,{bt}kj->{bt}j")
    batch = broadcast_shapes("matmul", sa[:-2], sb[:-2])
    from .shape import broadcast_to
    if tuple(sa[:-2]) != batch:
        a = broadcast_to(a, batch + tuple(sa[-2:]))
    if tuple(sb[:-2]) != batch:
        b = broadcast_to(b, batch + tuple(sb[-2:]))
    bt = _fresh(len(batch), "ijk")
    return einsum_p.bind(a, b, subscripts=f"{bt}ik,{bt}kj->{bt}ij")


def vecdot(x1, x2, axis=-1):
    """Dot product along ``axis`` with broadcasting (conjugating ``x1``)."""
    from .pointwise import multiply
    from .reductions import sum
    a, b = coerce("vecdot", x1, x2)
    shape = broadcast_shapes("vecdot", a.shape, b.shape)
    if not shape:
        raise GpuadValueError("vecdot: arguments must have at least 1 dim")
    ax = norm_one_axis(axis, len(shape), "vecdot")
    if a.dtype.kind == "c":
        from .pointwise import conj
        a = conj(a)
    return sum(multiply(a, b), axis=ax)


def outer(x1, x2):
    a, b = coerce("outer", x1, x2)
    if a.ndim != 1 or b.ndim != 1:
        raise GpuadValueError(f"outer: arguments must be 1-D, got shapes {a.shape} and {b.shape}")
    return einsum_p.bind(a, b, subscripts="i,j->ij")


def tensordot(x1, x2, axes=2):
    a, b = coerce("tensordot", x1, x2)
    if isinstance(axes, int):
        ax_a = list(range(a.ndim - axes, a.ndim))
        ax_b = list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, int) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, int) else list(ax_b)
        ax_a = [norm_one_axis(i, a.ndim, "tensordot", "axes") for i in ax_a]
        ax_b = [norm_one_axis(i, b.ndim, "tensordot", "axes") for i in ax_b]
    if len(ax_a) != len(ax_b) or any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise GpuadValueError(f"tensordot: contracted axes of shapes {a.shape} and {b.shape} do not match")
    la = list(_LETTERS[:a.ndim])
    lb = list(_LETTERS[a.ndim:a.ndim + b.ndim])
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = "".join(c for k, c in enumerate(la) if k not in ax_a) + \
          "".join(c for k, c in enumerate(lb) if k not in ax_b)
    return einsum_p.bind(a, b, subscripts="".join(la) + "," + "".join(lb) + "->" + out)


def diag(x, k=0):
    """1-D -> the matrix with ``x`` on diagonal ``k`` (zeros elsewhere, exactly);
    2-D -> its diagonal ``k``."""
    (x,) = coerce("diag", x)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise GpuadTypeError(f"diag: argument 'k' must be an int, got {k!r}")
    if x.ndim == 1:
        return _diag_embed(x, int(k))
    if x.ndim == 2:
        return _diagonal(x, 0, 1, int(k))
    raise GpuadValueError(f"diag: argument 'x' must be 1-D or 2-D, got shape {x.shape}")


def trace(x, offset=0, axis1=-2, axis2=-1):
    """Sum of the diagonal over the last two axes (batched over leading ones)."""
    from .reductions import sum
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


# -- det / inv / solve ---------------------------------------------------------------
def _batch_leading(prim):
    def rule(vals, dims, **params):
        n = batch_size(vals, dims)
        vs = [bdim_front_or_broadcast(v, d, n) for v, d in zip(vals, dims)]
        return prim.bind(*vs, **params), 0
    prim.batch = rule


det_p = Primitive("det", lambda be, a: be.small_linalg("det", a))
inv_p = Primitive("inv", lambda be, a: be.small_linalg("inv", a))
solve_p = Primitive("solve", lambda be, a, b: be.small_linalg("solve", a, b))
for _p in (det_p, inv_p, solve_p):
    _batch_leading(_p)


def _matrices_rows(ins, out, r, n, params):  # a batch of matrices: the rows lead it
    return len(ins[0]) >= 3 or None


det_p.rows = inv_p.rows = _matrices_rows
solve_p.rows = lambda ins, out, r, n, params: (
    all(r) and len(ins[0]) >= 3 and len(ins[1]) == len(ins[0])) or None


def _mT(x):
    from .shape import matrix_transpose
    return matrix_transpose(x)


_COFACTOR_MAX_K = 4


# The index and sign constants of det's rules, one device array per (kind, k, device,
# dtype): device arrays are never written in place, so after the first call a rule
# makes no host-to-device copy (the strict simulator counts every one)
_consts = {}
_CONSTS_MAX = 256


def _const(kind, k, device, dtype, make):
    from ..backends import get_backend
    from ..tensor import Tensor
    key = (kind, k, device, np.dtype(dtype).str)
    arr = _consts.get(key)
    if arr is None:
        be = get_backend(device)
        with be.activate():
            arr = be.asarray(np.asarray(make(), dtype=dtype))
        if len(_consts) >= _CONSTS_MAX:
            _consts.clear()
        _consts[key] = arr
    return Tensor._make(arr, device)


def _minor_index(k):
    return np.array([[r for r in range(k) if r != i] for i in range(k)], dtype=np.int64)


def _minors(a):
    """(..., k, k, k-1, k-1): minor (i, j) of each matrix (row i and column j removed),
    and the row / column index arrays that gathered it."""
    from .indexing import ArrayRef, gather_p
    k = a.shape[-1]
    rows = _const("rows", k, a.device, np.int64,
                  lambda: _minor_index(k)[:, None, :, None])       # (k, 1, k-1, 1)
    cols = _const("cols", k, a.device, np.int64,
                  lambda: _minor_index(k)[None, :, None, :])       # (1, k, 1, k-1)
    spec = (slice(None),) * (a.ndim - 2) + (ArrayRef(0), ArrayRef(1))
    return gather_p.bind(a, rows, cols, spec=spec), rows, cols


def _checkerboard(k, a):
    return _const("sign", k, a.device, a.dtype,
                  lambda: (-1.0) ** np.add.outer(np.arange(k), np.arange(k)))


def _cofactor(a):
    """The cofactor matrix, d det(A) / dA, exact at singular matrices too (where
    det * inv^T is 0 * inf): for k <= 4 from the minors' determinants, above that the
    ``cofactor`` primitive (an SVD, no inverse)."""
    from .pointwise import multiply
    k = a.shape[-1]
    if k == 1:
        from .creation import ones
        return ones(a.shape, dtype=a.dtype, device=a.device)
    if k > _COFACTOR_MAX_K:
        return cofactor_p.bind(a)
    minors, _, _ = _minors(a)                                # (..., k, k, k-1, k-1)
    return multiply(_checkerboard(k, a), det_p.bind(minors))


# -- cofactor: det(A) A^-T for k > 4, without inverting ------------------------------
def _cofactor_impl(be, a):
    """From A = U diag(s) V^H: cof(A) = det(U) det(V^H) conj(U diag(p) V^H), where
    p_i = prod_{j != i} s_j (exclusive products from both ends, no division). Exact in
    rank: a rank k-1 matrix gets its rank-1 cofactor matrix, lower ranks zero."""
    xp = be.xp
    # a matrix with inf or nan has a nan cofactor matrix (as det * inv^T gives); the SVD,
    # which would not converge, sees zeros instead (a mask, no host round-trip)
    finite = xp.isfinite(a).all(axis=(-2, -1))[..., None, None]
    u, s, vh = _svd(xp, xp.where(finite, a, xp.zeros((), dtype=a.dtype)))
    one = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    pre = xp.cumprod(xp.concatenate([one, s[..., :-1]], axis=-1), axis=-1)
    suf = xp.cumprod(xp.concatenate([one, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    out = xp.conj(xp.matmul(u * (pre * suf).astype(u.dtype)[..., None, :], vh))
    out = xp.where(finite, out * sign[..., None, None], xp.full((), np.nan, dtype=a.dtype))
    return out.astype(a.dtype, copy=False)


def _svd(xp, a):
    try:
        return xp.linalg.svd(a)
    except ValueError:  # a CuPy without batched SVD takes one matrix at a time
        if a.ndim <= 2 or xp is np:
            raise
        flat = a.reshape((-1,) + tuple(a.shape[-2:]))
        parts = [xp.linalg.svd(m) for m in flat]
        return tuple(xp.stack([p[i] for p in parts]).reshape(tuple(a.shape[:-2]) + p0.shape)
                     for i, p0 in enumerate(parts[0]))


cofactor_p = Primitive("cofactor", _cofactor_impl)
_batch_leading(cofactor_p)
cofactor_p.rows = _matrices_rows


def _det_hessian(a):
    """Q[..., i, j, r, c] = d cof(A)_ij / dA_rc = d^2 det / dA_ij dA_rc: the signed
    cofactors of minor (i, j) placed back at the rows and columns it kept (zero on row
    i and column j). Built from ``_cofactor`` of the minors, so it is exact at singular
    matrices and differentiable again; costs k^4, the size of the Hessian of det."""
    from .indexing import ArrayRef, scatter_add_p
    from .pointwise import multiply
    from .shape import reshape
    k = a.shape[-1]
    minors, rows, cols = _minors(a)
    sign = reshape(_checkerboard(k, a), (k, k, 1, 1))
    cm = multiply(sign, _cofactor(minors))                   # (..., k, k, k-1, k-1)
    ii = _const("ii", k, a.device, np.int64, lambda: np.arange(k)[:, None, None, None])
    jj = _const("jj", k, a.device, np.int64, lambda: np.arange(k)[None, :, None, None])
    spec = (slice(None),) * (a.ndim - 2) + tuple(ArrayRef(i) for i in range(4))
    return scatter_add_p.bind(cm, ii, jj, rows, cols, spec=spec,
                              shape=tuple(a.shape[:-2]) + (k, k, k, k))


def _cofactor_jvp(p, t):
    (a,), (ta,) = p, t
    return cofactor_p.bind(a), einsum("...ijrc,...rc->...ij", _det_hessian(a), ta)


def _cofactor_vjp(ct, out, a):
    return (einsum("...ij,...ijrc->...rc", ct, _det_hessian(a)),)


cofactor_p.jvp, cofactor_p.vjp = _cofactor_jvp, _cofactor_vjp


def _det_jvp(p, t):
    from .pointwise import multiply
    from .reductions import sum as _sum
    a, = p
    out = det_p.bind(a)
    return out, _sum(multiply(_cofactor(a), t[0]), axis=(-2, -1))


def _det_vjp(ct, out, a):
    from .pointwise import multiply
    from .shape import expand_dims
    return (multiply(expand_dims(expand_dims(ct, -1), -1), _cofactor(a)),)


det_p.jvp, det_p.vjp = _det_jvp, _det_vjp


def _inv_jvp(p, t):
    from .pointwise import negative
    a, = p
    out = inv_p.bind(a)
    return out, negative(matmul(matmul(out, t[0]), out))


def _inv_vjp(ct, out, a):
    from .pointwise import negative
    ot = _mT(out)
    return (negative(matmul(matmul(ot, ct), ot)),)


inv_p.jvp, inv_p.vjp = _inv_jvp, _inv_vjp


def _solve_jvp(p, t):
    from .pointwise import subtract
    a, b = p
    ta, tb = t
    x = solve_p.bind(a, b)
    rhs = tb
    if ta is not None:
        ax = matmul(ta, x)
        rhs = ax if rhs is None else subtract(rhs, ax)
        if rhs is ax:
            from .pointwise import negative
            rhs = negative(ax)
    return x, solve_p.bind(a, rhs)


def _solve_vjp(ct, out, a, b, needs=(True, True)):
    from .pointwise import negative
    from .structural import unbroadcast
    gb = solve_p.bind(_mT(a), ct)
    ga = negative(matmul(gb, _mT(out))) if needs[0] else None
    return (unbroadcast(ga, a.shape) if needs[0] else None,
            unbroadcast(gb, b.shape) if needs[1] else None)


solve_p.jvp, solve_p.vjp = _solve_jvp, _solve_vjp
solve_p.vjp_takes_needs = True


def _square(fn, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise GpuadValueError(f"{fn}: argument 'x' must be a (batch of) square matrices, got shape {a.shape}")


def det(x):
    """Determinant of each square matrix in the last two dims."""
    (a,) = coerce("linalg.det", x, floating=True)
    _square("linalg.det", a)
    return det_p.bind(a)


def inv(x):
    (a,) = coerce("linalg.inv", x, floating=True)
    _square("linalg.inv", a)
    return inv_p.bind(a)


def solve(x1, x2):
    """Solve ``x1 @ y = x2``. Array API shapes: ``x2`` of shape (M,) is one vector;
    otherwise (..., M, K) with batch dims broadcast against ``x1``'s."""
    from .shape import broadcast_to, expand_dims, squeeze
    a, b = coerce("linalg.solve", x1, x2, names=["x1", "x2"], floating=True)
    _square("linalg.solve", a)
    m = a.shape[-1]
    vector = b.ndim == 1
    if vector:
        if b.shape[0] != m:
            raise GpuadValueError(f"linalg.solve: argument 'x2' of shape {b.shape} does not match x1 {a.shape}")
        b = expand_dims(b, -1)
    elif b.shape[-2] != m:
        raise GpuadValueError(f"linalg.solve: argument 'x2' of shape {b.shape} does not match x1 {a.shape}")
    batch = broadcast_shapes("linalg.solve", a.shape[:-2], b.shape[:-2])
    a = broadcast_to(a, batch + (m, m))
    b = broadcast_to(b, batch + tuple(b.shape[-2:]))
    y = solve_p.bind(a, b)
    return squeeze(y, -1) if vector else y


def _vector_norm_axes(x, ord, ax_t, keepdims):
    """The vector norm of order ``ord`` over the axes ``ax_t`` (a tuple) of ``x``."""
    from . import pointwise as P
    from .reductions import max as amax, min as amin, sum
    if ord == 2:
        # zero gradient (not nan) at the zero vector, as torch gives
        return P.safe_sqrt(sum(P.abs2(x), axis=ax_t, keepdims=keepdims))
    if ord == np.inf:
        return amax(P.abs(x), axis=ax_t, keepdims=keepdims)
    if ord == -np.inf:
        return amin(P.abs(x), axis=ax_t, keepdims=keepdims)
    if ord == 1:
        return sum(P.abs(x), axis=ax_t, keepdims=keepdims)
    if ord == 0:
        return sum(P.astype(P.not_equal(x, 0), P._real_dtype(x.dtype)), axis=ax_t, keepdims=keepdims)
    return _pnorm(P.abs(x), float(ord), ax_t, keepdims)


def _pnorm(a, p, axes, keepdims):
    """(sum a^p)^(1/p) of ``a = |x|`` with torch's subgradients: 0 for the entries where
    a == 0 (a^p is a constant there: 0, or inf for p < 0) and 0 everywhere where the
    norm is 0 (the double where keeps d s^(1/p) = inf * 0 out of the derivative)."""
    from . import pointwise as P
    from .reductions import sum
    z = P.equal(a, 0)
    ap = P.where(z, P._c(a, 0.0 if p > 0 else np.inf), P.pow(P.where(z, P._c(a, 1.0), a), p))
    s = sum(ap, axis=axes, keepdims=keepdims)
    if p < 0:  # s >= the largest term > 0; s = inf (a zero entry) gives the norm 0
        return P.pow(s, 1.0 / p)
    zs = P.equal(s, 0)
    return P.where(zs, P._c(s, 0.0), P.pow(P.where(zs, P._c(s, 1.0), s), 1.0 / p))


def cross(x1, x2, axis=-1):
    """Cross product of 3-vectors along ``axis`` (broadcasting)."""
    from . import pointwise as P
    from .indexing import getitem
    from .shape import moveaxis, stack
    a, b = coerce("linalg.cross", x1, x2)
    shape = broadcast_shapes("linalg.cross", a.shape, b.shape)
    ax = norm_one_axis(axis, len(shape), "linalg.cross")
    if a.shape[ax - len(shape) + a.ndim if a.ndim else 0] != 3 or b.shape[ax - len(shape) + b.ndim] != 3:
        raise GpuadValueError(f"linalg.cross: argument sizes along axis {axis} must be 3, got shapes "
                              f"{a.shape} and {b.shape}")
    a = moveaxis(a, ax - len(shape) + a.ndim, -1)
    b = moveaxis(b, ax - len(shape) + b.ndim, -1)
    c = lambda t, i: getitem(t, (Ellipsis, i))
    r = stack([P.subtract(P.multiply(c(a, 1), c(b, 2)), P.multiply(c(a, 2), c(b, 1))),
               P.subtract(P.multiply(c(a, 2), c(b, 0)), P.multiply(c(a, 0), c(b, 2))),
               P.subtract(P.multiply(c(a, 0), c(b, 1)), P.multiply(c(a, 1), c(b, 0)))], axis=-1)
    return moveaxis(r, -1, ax)
