"""NumPy functions that are compositions of gpuad's primitives, with NumPy's signatures:
the stacking and flipping helpers, ``dot``/``inner``, masks (``isnan``...), NaN-aware and
weighted means, ``select``, ``argmax``/``argmin``, ``median``, and a few aliases.
Each one is differentiable wherever its result is floating and batchable, because it is
built only from differentiable, batchable ops; there are no rules of its own to get
wrong. Integer and boolean results (``argmax``, ``isnan``) carry no derivative, as in
NumPy-autodiff libraries.
"""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from ..errors import GpuadAxisError, GpuadTypeError, GpuadValueError
from ._util import is_tensor, to_tensor


def _t(x, fn, arg="a"):
    return to_tensor(x, fn, arg)


def _axis(axis, ndim, fn):
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise GpuadTypeError(f"{fn}: argument 'axis' must be an int or None, got {axis!r}")
    if not -ndim <= axis < builtins.max(ndim, 1):
        raise GpuadAxisError(f"{fn}: argument 'axis' {axis} is out of bounds for a "
                             f"{ndim}-d array")
    return axis % builtins.max(ndim, 1)


# -- shapes -------------------------------------------------------------------------
def _atleast(fn, nd, arys):
    from .shape import reshape
    out = []
    for k, a in enumerate(arys):
        x = _t(a, fn, f"arys[{k}]")
        if x.ndim < nd:
            if nd == 3 and x.ndim == 2:
                shape = tuple(x.shape) + (1,)
            elif nd == 3 and x.ndim == 1:
                shape = (1,) + tuple(x.shape) + (1,)
            else:
                shape = (1,) * (nd - x.ndim) + tuple(x.shape)
            x = reshape(x, shape)
        out.append(x)
    return out[0] if len(out) == 1 else out


def atleast_1d(*arys):
    """``np.atleast_1d``: each input viewed with at least one dimension."""
    return _atleast("atleast_1d", 1, arys)


def atleast_2d(*arys):
    """``np.atleast_2d``: 1-d inputs become rows (1, n)."""
    return _atleast("atleast_2d", 2, arys)


def atleast_3d(*arys):
    """``np.atleast_3d``: (n,) becomes (1, n, 1) and (m, n) becomes (m, n, 1)."""
    return _atleast("atleast_3d", 3, arys)


def _seq(tup, fn):
    if is_tensor(tup) or isinstance(tup, np.ndarray) or not hasattr(tup, "__iter__"):
        raise GpuadTypeError(f"{fn}: argument 'tup' must be a sequence of arrays, got "
                             f"{type(tup).__name__}")
    arrs = list(tup)
    if not arrs:
        raise GpuadValueError(f"{fn}: argument 'tup' needs at least one array")
    return arrs


def vstack(tup):
    """``np.vstack``: concatenate along the first axis after ``atleast_2d``."""
    from .shape import concat
    arrs = _seq(tup, "vstack")
    return concat([atleast_2d(a) for a in arrs], axis=0)


def hstack(tup):
    """``np.hstack``: along the second axis, or the first for 1-d inputs."""
    from .shape import concat
    arrs = [atleast_1d(a) for a in _seq(tup, "hstack")]
    return concat(arrs, axis=0 if arrs[0].ndim == 1 else 1)


def dstack(tup):
    """``np.dstack``: along the third axis after ``atleast_3d``."""
    from .shape import concat
    return concat([atleast_3d(a) for a in _seq(tup, "dstack")], axis=2)


def column_stack(tup):
    """``np.column_stack``: 1-d inputs become columns, then ``hstack``."""
    from .shape import concat, reshape
    cols = []
    for k, a in enumerate(_seq(tup, "column_stack")):
        x = _t(a, "column_stack", f"tup[{k}]")
        cols.append(reshape(x, (x.shape[0], 1)) if x.ndim < 2 else x)
    return concat([atleast_2d(c) for c in cols], axis=1)


def flipud(m):
    """``np.flipud``: reverse the first axis."""
    from .shape import flip
    x = _t(m, "flipud", "m")
    if x.ndim < 1:
        raise GpuadValueError("flipud: argument 'm' must be at least 1-d")
    return flip(x, 0)


def fliplr(m):
    """``np.fliplr``: reverse the second axis."""
    from .shape import flip
    x = _t(m, "fliplr", "m")
    if x.ndim < 2:
        raise GpuadValueError("fliplr: argument 'm' must be at least 2-d")
    return flip(x, 1)


# -- products ---------------------------------------------------------------------------
def dot(a, b):
    """``np.dot``: a product for scalars, ``matmul`` up to a 2-d right operand, else the
    sum over the last axis of ``a`` and the second-to-last of ``b``."""
    from .linalg import matmul, tensordot
    from .pointwise import multiply
    x, y = _t(a, "dot", "a"), _t(b, "dot", "b")
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if y.ndim <= 2:
        return matmul(x, y)
    return tensordot(x, y, axes=([x.ndim - 1], [y.ndim - 2]))


def inner(a, b):
    """``np.inner``: the sum over the last axes of ``a`` and ``b`` (no conjugation)."""
    from .linalg import tensordot
    from .pointwise import multiply
    x, y = _t(a, "inner", "a"), _t(b, "inner", "b")
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if x.shape[-1] != y.shape[-1]:
        raise GpuadValueError(f"inner: the last axes of 'a' {tuple(x.shape)} and 'b' "
                              f"{tuple(y.shape)} must have one length")
    return tensordot(x, y, axes=([x.ndim - 1], [y.ndim - 1]))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross`` of 3-vectors (``ad.linalg.cross``) along any axes."""
    from .linalg import cross as _cross
    from .shape import moveaxis
    x, y = _t(a, "cross", "a"), _t(b, "cross", "b")
    if axis is not None:
        axisa = axisb = axisc = axis
    x = moveaxis(x, _axis(axisa, x.ndim, "cross"), -1)
    y = moveaxis(y, _axis(axisb, y.ndim, "cross"), -1)
    out = _cross(x, y)
    return moveaxis(out, -1, _axis(axisc, out.ndim, "cross"))


def multi_dot(arrays):
    """``np.linalg.multi_dot``: the chain product; a 1-d first (last) operand is a row
    (column) vector, dropped from the result as NumPy does."""
    from .linalg import matmul
    from .shape import reshape
    arrs = [_t(a, "linalg.multi_dot", f"arrays[{k}]") for k, a in enumerate(_seq(arrays,
                                                                              "linalg.multi_dot"))]
    if len(arrs) < 2:
        raise GpuadValueError("linalg.multi_dot: argument 'arrays' needs at least two arrays")
    first, last = arrs[0].ndim == 1, arrs[-1].ndim == 1
    if first:
        arrs[0] = reshape(arrs[0], (1, arrs[0].shape[0]))
    if last:
        arrs[-1] = reshape(arrs[-1], (arrs[-1].shape[0], 1))
    if any(a.ndim != 2 for a in arrs):
        raise GpuadValueError("linalg.multi_dot: every array but the first and last must be 2-d")
    out = arrs[0]
    for a in arrs[1:]:
        out = matmul(out, a)
    if first and last:
        return reshape(out, ())
    if first:
        return reshape(out, (out.shape[1],))
    if last:
        return reshape(out, (out.shape[0],))
    return out


# -- masks (boolean, no derivative) ----------------------------------------------------
def isnan(x):
    """``np.isnan`` (bool)."""
    from .pointwise import not_equal
    t = _t(x, "isnan", "x")
    return not_equal(t, t)


def isinf(x):
    """``np.isinf`` (bool)."""
    from .pointwise import abs as _abs, equal
    t = _t(x, "isinf", "x")
    if t.dtype.kind in "biu":
        return _full_bool(t, False)
    return equal(_abs(t), np.inf)


def isfinite(x):
    """``np.isfinite`` (bool)."""
    from .pointwise import logical_not, logical_or
    t = _t(x, "isfinite", "x")
    if t.dtype.kind in "biu":
        return _full_bool(t, True)
    return logical_not(logical_or(isnan(t), isinf(t)))


def _full_bool(t, value):
    from .creation import full
    return full(tuple(t.shape), value, dtype=np.bool_, device=t.device)


def signbit(x):
    """``np.signbit`` (bool): true where the value is negative, -0.0 included (a NaN
    counts as positive whatever its sign bit)."""
    from .pointwise import equal, less, logical_and, logical_or, reciprocal
    t = _t(x, "signbit", "x")
    if t.dtype.kind in "biu":
        return less(t, 0)
    with np.errstate(divide="ignore"):  # 1 / -0.0 = -inf tells -0.0 from 0.0
        return logical_or(less(t, 0.0), logical_and(equal(t, 0.0), less(reciprocal(t), 0.0)))


# -- arithmetic aliases and small compositions -----------------------------------------
def positive(x):
    """``np.positive``: ``+x`` (a copy)."""
    from .pointwise import multiply
    t = _t(x, "positive", "x")
    return multiply(t, 1) if t.dtype.kind != "b" else t


def power(x1, x2):
    """``np.power``: ``x1 ** x2``."""
    from .pointwise import pow
    return pow(x1, x2)


def float_power(x1, x2):
    """``np.float_power``: ``x1 ** x2`` in float64 (complex128 for complex input)."""
    from .pointwise import astype, pow
    a, b = _t(x1, "float_power", "x1"), _t(x2, "float_power", "x2")
    dt = np.complex128 if np.dtype(np.result_type(a.dtype, b.dtype)).kind == "c" else np.float64
    return pow(astype(a, dt), astype(b, dt))


def true_divide(x1, x2):
    """``np.true_divide``: ``x1 / x2``."""
    from .pointwise import divide
    return divide(x1, x2)


def floor_divide(x1, x2):
    """``np.floor_divide``: ``floor(x1 / x2)``, piecewise constant (zero derivative).
    Integer inputs give integers, as NumPy does."""
    from .arith import floor
    from .pointwise import astype, divide
    a, b = _t(x1, "floor_divide", "x1"), _t(x2, "floor_divide", "x2")
    dt = np.result_type(a.dtype, b.dtype)
    q = floor(divide(a, b))
    return astype(q, dt) if dt.kind in "iu" else q


def conjugate(x):
    """``np.conjugate``: ``conj``."""
    from .pointwise import conj
    return conj(x)


def cbrt(x):
    """``np.cbrt``: the real cube root, negative for negative ``x``; its derivative
    ``1 / (3 cbrt(x)^2)`` is infinite at 0, as in JAX."""
    from .pointwise import abs as _abs, multiply, pow, sign
    t = _t(x, "cbrt", "x")
    if t.dtype.kind not in "f":
        raise GpuadTypeError(f"cbrt: argument 'x' must be real floating, got {t.dtype}")
    return multiply(sign(t), pow(_abs(t), 1.0 / 3.0))


def copysign(x1, x2):
    """``np.copysign``: ``|x1|`` with the sign bit of ``x2`` (differentiable in ``x1``)."""
    from .pointwise import abs as _abs, where
    a = _t(x1, "copysign", "x1")
    m = _abs(a)
    from .pointwise import negative
    return where(signbit(x2), negative(m), m)


def heaviside(x1, x2):
    """``np.heaviside``: 0 for ``x1 < 0``, ``x2`` at 0, 1 for ``x1 > 0``; the derivative
    is zero in ``x1`` and the indicator of ``x1 == 0`` in ``x2``."""
    from .pointwise import astype, equal, greater, where
    a, b = _t(x1, "heaviside", "x1"), _t(x2, "heaviside", "x2")
    dt = np.result_type(a.dtype, b.dtype, np.float16)
    step = where(equal(a, 0), astype(b, dt), astype(greater(a, 0), dt))
    return where(isnan(a), astype(a, dt), step) if a.dtype.kind == "f" else step


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0, device=None):
    """``np.logspace``: ``base ** linspace(start, stop, num)``."""
    from .creation import linspace
    from .pointwise import astype, pow
    if axis != 0:
        raise GpuadValueError("logspace: argument 'axis' other than 0 is not supported")
    out = pow(base, linspace(start, stop, num, endpoint=endpoint, device=device))
    return astype(out, dtype) if dtype is not None else out


def identity(n, dtype=None, device=None):
    """``np.identity``: the n x n identity."""
    from .creation import eye
    return eye(n, dtype=dtype, device=device)


# -- selection -----------------------------------------------------------------------------
def select(condlist, choicelist, default=0):
    """``np.select``: the first choice whose condition holds, else ``default``."""
    from .pointwise import where
    conds, choices = list(condlist), list(choicelist)
    if len(conds) != len(choices):
        raise GpuadValueError(f"select: argument 'condlist' has {len(conds)} entries and "
                              f"'choicelist' {len(choices)}; they must match")
    if not conds:
        raise GpuadValueError("select: argument 'condlist' needs at least one condition")
    out = default
    for c, v in zip(reversed(conds), reversed(choices)):
        ct = _t(c, "select", "condlist")
        if ct.dtype != np.bool_:
            raise GpuadTypeError(f"select: argument 'condlist' entries must be bool, got {ct.dtype}")
        out = where(ct, v, out)
    return out if is_tensor(out) else _t(out, "select", "default")


def _arg_extremum(fn, reduce, x, axis, keepdims):
    from .creation import arange
    from .pointwise import equal, logical_or, where
    from .reductions import min as _min
    from .shape import reshape
    t = _t(x, fn, "a")
    if axis is None:
        r = _arg_extremum(fn, reduce, reshape(t, (-1,)), 0, False)
        return reshape(r, (1,) * t.ndim) if keepdims else r
    ax = _axis(axis, t.ndim, fn)
    n = t.shape[ax]
    if n == 0:
        raise GpuadValueError(f"{fn}: argument 'a' is empty along the axis")
    hit = equal(t, reduce(t, axis=ax, keepdims=True))
    if t.dtype.kind in "fc":
        hit = logical_or(hit, isnan(t))  # NumPy: the first NaN wins
    shape = [1] * t.ndim
    shape[ax] = n
    idx = reshape(arange(n, dtype=np.int64, device=t.device), tuple(shape))
    return _min(where(hit, idx, n), axis=ax, keepdims=keepdims)


def argmax(a, axis=None, keepdims=False):
    """``np.argmax`` (int64, no derivative): the first index of the maximum."""
    from .reductions import max as _max
    return _arg_extremum("argmax", _max, a, axis, keepdims)


def argmin(a, axis=None, keepdims=False):
    """``np.argmin`` (int64, no derivative): the first index of the minimum."""
    from .reductions import min as _min
    return _arg_extremum("argmin", _min, a, axis, keepdims)


# -- NaN-aware and weighted means ---------------------------------------------------------
def nansum(a, axis=None, keepdims=False):
    """``np.nansum``: the sum with NaNs taken as zero (their derivative is zero)."""
    from .pointwise import where
    from .reductions import sum as _sum
    t = _t(a, "nansum")
    return _sum(where(isnan(t), 0, t), axis=axis, keepdims=keepdims)


def nanmean(a, axis=None, keepdims=False):
    """``np.nanmean``: the mean over the non-NaN entries."""
    from .pointwise import astype, divide, logical_not
    from .reductions import sum as _sum
    t = _t(a, "nanmean")
    count = _sum(astype(logical_not(isnan(t)), t.dtype), axis=axis, keepdims=keepdims)
    return divide(nansum(t, axis=axis, keepdims=keepdims), count)


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """``np.average``: the mean, or ``sum(a * w) / sum(w)`` with ``weights`` (the shape
    of ``a``, or 1-d along ``axis``)."""
    from .pointwise import divide, multiply
    from .reductions import mean, sum as _sum
    from .shape import broadcast_to, reshape
    t = _t(a, "average")
    if weights is None:
        out = mean(t, axis=axis, keepdims=keepdims)
        if not returned:
            return out
        from .creation import full
        n = t.size if axis is None else int(np.prod([t.shape[i] for i in np.atleast_1d(axis)]))
        return out, full(tuple(out.shape), float(n), dtype=out.dtype, device=t.device)
    w = _t(weights, "average", "weights")
    if w.shape != t.shape:
        if axis is None or not isinstance(axis, numbers.Integral) or w.ndim != 1:
            raise GpuadValueError(f"average: argument 'weights' of shape {tuple(w.shape)} must "
                                  f"have the shape of 'a' {tuple(t.shape)}, or be 1-d along "
                                  "an int 'axis'")
        ax = _axis(axis, t.ndim, "average")
        if w.shape[0] != t.shape[ax]:
            raise GpuadValueError(f"average: argument 'weights' has length {w.shape[0]}, axis "
                                  f"{axis} of 'a' has {t.shape[ax]}")
        shape = [1] * t.ndim
        shape[ax] = w.shape[0]
        w = broadcast_to(reshape(w, tuple(shape)), tuple(t.shape))
    scl = _sum(w, axis=axis, keepdims=keepdims)
    out = divide(_sum(multiply(t, w), axis=axis, keepdims=keepdims), scl)
    return (out, broadcast_to(scl, tuple(out.shape))) if returned else out


def median(a, axis=None, keepdims=False):
    """``np.median``: the middle of the sorted values (the mean of the two middle ones
    for an even count); its derivative goes to the element(s) taken, as sorting's does."""
    from .arrays import sort
    from .pointwise import add, multiply
    from .shape import reshape
    from .indexing import take
    t = _t(a, "median")
    if axis is None:
        r = median(reshape(t, (-1,)), axis=0)
        return reshape(r, (1,) * t.ndim) if keepdims else r
    ax = _axis(axis, t.ndim, "median")
    n = t.shape[ax]
    if n == 0:
        raise GpuadValueError("median: argument 'a' is empty along 'axis'")
    s = sort(t, axis=ax)
    if n % 2:
        out = take(s, np.array([n // 2]), axis=ax)
    else:
        out = multiply(add(take(s, np.array([n // 2 - 1]), axis=ax),
                           take(s, np.array([n // 2]), axis=ax)), 0.5)
    if keepdims:
        return out
    shape = tuple(k for i, k in enumerate(out.shape) if i != ax)
    return reshape(out, shape)


# -- linear algebra ----------------------------------------------------------------------
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """``np.linalg.matrix_rank`` (int64, no derivative): singular values above
    ``tol`` (default ``S.max() * max(M, N) * eps``)."""
    from .decomp import svdvals
    from .pointwise import astype, greater, multiply
    from .reductions import max as _max, sum as _sum
    from .pointwise import stop_gradient
    t = _t(A, "linalg.matrix_rank", "A")
    if t.ndim < 2:
        from .pointwise import not_equal
        from .reductions import any as _any
        return astype(_any(not_equal(t, 0)), np.int64)
    s = svdvals(stop_gradient(t))
    if tol is None:
        eps = np.finfo(s.dtype).eps
        r = rtol if rtol is not None else builtins.max(t.shape[-2:]) * eps
        tol = multiply(_max(s, axis=-1, keepdims=True), r)
    elif not isinstance(tol, numbers.Number):
        from .shape import expand_dims
        tol = expand_dims(_t(tol, "linalg.matrix_rank", "tol"), -1)
    return _sum(astype(greater(s, tol), np.int64), axis=-1)


def cond(x, p=None):
    """``np.linalg.cond``: ``S.max() / S.min()`` for ``p`` None, 2 or -2 (-2: the
    inverse ratio), else ``norm(x, p) * norm(inv(x), p)``."""
    from .decomp import norm, svdvals
    from .linalg import inv
    from .pointwise import divide, multiply
    from .reductions import max as _max, min as _min
    t = _t(x, "linalg.cond", "x")
    if t.ndim < 2 or t.shape[-1] != t.shape[-2] and p not in (None, 2, -2):
        raise GpuadValueError(f"linalg.cond: argument 'x' must be a (stack of) square "
                              f"matrices for p={p!r}, got shape {tuple(t.shape)}")
    if p in (None, 2, -2):
        s = svdvals(t)
        hi, lo = _max(s, axis=-1), _min(s, axis=-1)
        return divide(lo, hi) if p == -2 else divide(hi, lo)
    return multiply(norm(t, ord=p, axis=(-2, -1)), norm(inv(t), ord=p, axis=(-2, -1)))


def tensorinv(a, ind=2):
    """``np.linalg.tensorinv``: the inverse of ``a`` read as a matrix of its first
    ``ind`` axes against the rest."""
    from .linalg import inv
    from .shape import reshape
    t = _t(a, "linalg.tensorinv")
    if not isinstance(ind, numbers.Integral) or ind <= 0:
        raise GpuadValueError(f"linalg.tensorinv: argument 'ind' must be a positive int, got {ind!r}")
    rows, cols = tuple(t.shape[:ind]), tuple(t.shape[ind:])
    n, m = int(np.prod(rows)), int(np.prod(cols))
    if n != m:
        raise GpuadValueError(f"linalg.tensorinv: argument 'a' of shape {tuple(t.shape)} is not "
                              f"square for ind={ind} ({n} x {m})")
    return reshape(inv(reshape(t, (n, m))), cols + rows)


def tensorsolve(a, b, axes=None):
    """``np.linalg.tensorsolve``: ``x`` with ``tensordot(a, x, x.ndim) == b``; ``axes``
    of ``a`` are moved to the end first."""
    from .linalg import solve
    from .shape import permute_dims, reshape
    t, y = _t(a, "linalg.tensorsolve"), _t(b, "linalg.tensorsolve", "b")
    if axes is not None:
        moved = [_axis(int(i), t.ndim, "linalg.tensorsolve") for i in axes]
        t = permute_dims(t, tuple(i for i in range(t.ndim) if i not in moved) + tuple(moved))
    xshape = tuple(t.shape[y.ndim:])
    n, m = int(np.prod(y.shape)), int(np.prod(xshape))
    if n != m or int(np.prod(t.shape)) != n * m:
        raise GpuadValueError(f"linalg.tensorsolve: argument 'a' of shape {tuple(t.shape)} does "
                              f"not give a square system for 'b' of shape {tuple(y.shape)}")
    return reshape(solve(reshape(t, (n, m)), reshape(y, (n,))), xshape)


# -- ndarray methods -----------------------------------------------------------------------
def _method_diagonal(self, offset=0, axis1=0, axis2=1):
    """``ndarray.diagonal``: NumPy's method defaults to the first two axes."""
    from .linalg import diagonal
    return diagonal(self, offset=offset, axis1=axis1, axis2=axis2)


def _method_trace(self, offset=0, axis1=0, axis2=1):
    """``ndarray.trace``: over the first two axes by default, as NumPy's method."""
    from .linalg import trace
    return trace(self, offset=offset, axis1=axis1, axis2=axis2)


def _method_swapaxes(self, axis1, axis2):
    from .shape import swapaxes
    return swapaxes(self, axis1, axis2)


def _method_take(self, indices, axis=None):
    from .indexing import take
    return take(self, indices, axis=axis)


def _method_conj(self):
    from .pointwise import conj
    return conj(self)


# installed on tensors by ``gpuad.ops.methods``, with NumPy's signatures
METHODS = {
    "argmax": argmax, "argmin": argmin, "dot": dot, "conj": _method_conj,
    "conjugate": _method_conj, "diagonal": _method_diagonal, "trace": _method_trace,
    "swapaxes": _method_swapaxes, "take": _method_take,
}
