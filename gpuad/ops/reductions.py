"""Reductions: sum, prod, max, min primitives (kernel template: identity, reduce)
and cumsum; mean, var, std, logsumexp are composites of them."""
from __future__ import annotations

import builtins

import numpy as np

from ..errors import GpuadValueError
from ..primitive import Primitive
from ._util import coerce, norm_axis, norm_one_axis
from .creation import ones
from .indexing import slice_axis
from .pointwise import (_c, abs, abs2, add, astype, divide, equal, exp, greater, less, log,
                        logical_not, multiply, safe_sqrt, stop_gradient, subtract, where)
from .shape import concat, flip, flip_p, permute_dims, reshape, squeeze
from .structural import batch_unary_axes, defreduction, sum_p, with_reduced_axes


# -- prod -----------------------------------------------------------------------
prod_p = defreduction("prod", np.prod)


def _excl_cumprod(x):
    """Exclusive cumulative product along the last axis (``[1, x0, x0 x1, ...]``) as a
    Hillis-Steele scan: log2(n) shifted products, all multiplies, so derivatives of
    every order are exact with zeros present."""
    n = x.shape[-1]
    ax = x.ndim - 1

    def shift(y, k):  # y moved k places along the last axis, ones in front
        pad = ones(tuple(y.shape[:-1]) + (builtins.min(k, n),), dtype=y.dtype, device=y.device)
        return concat([pad, slice_axis(y, ax, 0, n - k)], axis=-1) if k < n else pad

    y, k = shift(x, 1), 1
    while k < n - 1:
        y = multiply(y, shift(y, k))
        k *= 2
    return y


def _prod_grad(x, axes):
    """d prod / d x_i: the product of the other elements, as the exclusive prefix product
    times the exclusive suffix product (JAX's and torch's zero-safe rule; no division by
    x, so at zeros its own derivatives, the Hessian, are right too)."""
    if not x.size:
        return x
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    perm = rest + tuple(axes)
    xt = permute_dims(x, perm)
    lead = tuple(xt.shape[:len(rest)])
    n = _count(x, axes)
    xf = reshape(xt, lead + (n,))
    if n == 1:
        others = ones(tuple(xf.shape), dtype=xf.dtype, device=xf.device)
    elif n == 2:  # the other element of each pair (products of pairs: mass-action rates)
        others = flip(xf, -1)
    else:
        others = multiply(_excl_cumprod(xf), flip(_excl_cumprod(flip(xf, -1)), -1))
    return permute_dims(reshape(others, tuple(xt.shape)), tuple(int(i) for i in np.argsort(perm)))


def _prod_jvp(p, t, axes, keepdims):
    out = prod_p.bind(p[0], axes=axes, keepdims=keepdims)
    return out, sum_p.bind(multiply(t[0], _prod_grad(p[0], axes)), axes=axes, keepdims=keepdims)


def _prod_vjp(ct, out, x, axes, keepdims):
    return (multiply(with_reduced_axes(ct, x.shape, axes, keepdims), _prod_grad(x, axes)),)


prod_p.jvp = _prod_jvp
prod_p.vjp = _prod_vjp


# -- max / min: the derivative is shared evenly among tied extrema --------------
def _extremum(name, numpy):
    p = defreduction(name, numpy)

    def mask(out, x, axes, keepdims):
        m = astype(equal(x, with_reduced_axes(out, x.shape, axes, keepdims)), x.dtype)
        return divide(m, sum_p.bind(m, axes=axes, keepdims=True))

    def jvp(p_, t, axes, keepdims):
        out = p.bind(p_[0], axes=axes, keepdims=keepdims)
        return out, sum_p.bind(multiply(t[0], mask(out, p_[0], axes, keepdims)), axes=axes,
                               keepdims=keepdims)

    def vjp(ct, out, x, axes, keepdims):
        return (multiply(with_reduced_axes(ct, x.shape, axes, keepdims),
                         mask(out, x, axes, keepdims)),)

    p.jvp, p.vjp = jvp, vjp
    return p


max_p = _extremum("max", np.max)
min_p = _extremum("min", np.min)

# -- cumsum: linear, transpose is a reversed cumsum -------------------------------
cumsum_p = Primitive("cumsum", lambda be, x, axis: be.xp.cumsum(x, axis=axis))
cumsum_p.jvp = lambda p, t, axis: (cumsum_p.bind(p[0], axis=axis), cumsum_p.bind(t[0], axis=axis))


def _cumsum_vjp(ct, out, x, axis):
    return (flip_p.bind(cumsum_p.bind(flip_p.bind(ct, axes=(axis,)), axis=axis), axes=(axis,)),)


cumsum_p.vjp = _cumsum_vjp
cumsum_p.rows = lambda ins, out, r, n, params: params["axis"] % len(ins[0]) != 0 or None
batch_unary_axes(cumsum_p, ("axis",))


# ---------------------------------------------------------------------------------
# public functions

def _prep(fn, x, axis, float_out=False):
    (x,) = coerce(fn, x, floating=float_out)
    return x, norm_axis(axis, x.ndim, fn)


def sum(x, axis=None, keepdims=False, dtype=None):
    """Sum over ``axis`` (None: all axes)."""
    x, axes = _prep("sum", x, axis)
    if x.dtype == np.bool_:
        x = astype(x, np.int64)
    if dtype is not None:
        x = astype(x, dtype)
    return sum_p.bind(x, axes=axes, keepdims=bool(keepdims))


def prod(x, axis=None, keepdims=False):
    x, axes = _prep("prod", x, axis)
    return prod_p.bind(x, axes=axes, keepdims=bool(keepdims))


def _ext(p, fn):
    def f(x, axis=None, keepdims=False):
        x, axes = _prep(fn, x, axis)
        for a in axes:
            if x.shape[a] == 0:
                raise GpuadValueError(f"{fn}: zero-size axis {a} has no {fn}imum (argument 'x' shape {x.shape})")
        return p.bind(x, axes=axes, keepdims=bool(keepdims))
    f.__name__ = fn
    f.__doc__ = f"{fn.capitalize()} over ``axis``; ties share the gradient evenly."
    return f


max = _ext(max_p, "max")
min = _ext(min_p, "min")
amax, amin = max, min


def _count(x, axes):
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``."""
    x, axes = _prep("mean", x, axis, float_out=True)
    return divide(sum_p.bind(x, axes=axes, keepdims=bool(keepdims)), float(_count(x, axes)))


def var(x, axis=None, *, correction=0, keepdims=False):
    """Variance with ``correction`` (0 by default, as the array API does). Of complex
    input it is the mean of ``|x - m|^2``, real, as NumPy's."""
    x, axes = _prep("var", x, axis, float_out=True)
    m = divide(sum_p.bind(x, axes=axes, keepdims=True), float(_count(x, axes)))
    d = abs2(subtract(x, m))
    n = _count(x, axes) - correction
    return divide(sum_p.bind(d, axes=axes, keepdims=bool(keepdims)), float(n))


def std(x, axis=None, *, correction=0, keepdims=False):
    """Standard deviation; its gradient is 0 (not nan) where the variance is 0."""
    return safe_sqrt(var(x, axis, correction=correction, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably; the shift by max(x) is a constant. As torch:
    -inf over an empty axis or all -inf entries, inf with an inf entry."""
    x, axes = _prep("logsumexp", x, axis, float_out=True)
    if _count(x, axes) == 0:  # log(0): a constant, and the (empty) input gets no gradient
        return add(sum(x, axis=axes, keepdims=keepdims), _c(x, -np.inf))
    m = stop_gradient(max_p.bind(x, axes=axes, keepdims=True))
    # a shift of +-inf would give inf - inf = nan: shift by 0 there (sum(exp) is then
    # inf or 0, and log of it the right inf or -inf)
    m = where(less(abs(m), _c(m, np.inf)), m, _c(m, 0.0))
    s = sum_p.bind(exp(subtract(x, m)), axes=axes, keepdims=True)
    out = add(log(s), m)
    if not keepdims:
        out = squeeze(out, axes) if axes else out
    return out


def cumsum(x, axis=None, dtype=None):
    """Cumulative sum along ``axis`` (None: over the flattened tensor)."""
    (x,) = coerce("cumsum", x)
    if x.ndim == 0:
        x = reshape(x, (1,))
    if axis is None:
        if x.ndim != 1:
            x = reshape(x, (-1,))
        axis = 0
    axis = norm_one_axis(axis, x.ndim, "cumsum")
    return cumsum_p.bind(x, axis=axis)


def any(x, axis=None, keepdims=False):
    return greater(sum(astype(x, np.int64), axis, keepdims), 0)


def all(x, axis=None, keepdims=False):
    return logical_not(any(logical_not(astype(x, np.bool_)), axis, keepdims))


METHOD_NAMES = ("sum", "prod", "max", "min", "mean", "var", "std", "logsumexp", "cumsum",
                "any", "all")
