"""More NumPy array manipulation: split, array_split, tril, triu, repeat, roll, pad, diff,
kron, rot90, sort, argsort, cumprod, meshgrid.

Most are compositions of differentiable primitives (slices, gathers, ``where``,
``concat``, products), so their derivatives, batching rules and kernels are those of
their parts. Two are primitives: ``argsort`` (integer valued: not differentiable) and
``cumprod``. ``sort`` gathers ``x`` at ``argsort(x)``: its derivative routes each
cotangent back to the element that landed there (ties: to the one the stable sort put
there, as torch's). Integer arguments that shape the result (``repeats``, ``shift``,
split points, ``pad_width``) must be concrete (Python numbers, NumPy arrays or
untraced tensors).
"""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from ..errors import GpuadTypeError, GpuadValueError
from ..primitive import Primitive
from ..tensor import TensorBase, Tracer
from ._util import coerce, constant, norm_one_axis
from .structural import batch_unary_axes

# -- argsort: integer valued, no derivative --------------------------------------------


def _argsort_impl(be, x, axis):
    if be.xp is np:
        return np.argsort(x, axis=axis, kind="stable")
    return be.xp.argsort(x, axis=axis)  # CuPy's sort is stable (its only kind)


argsort_p = Primitive("argsort", _argsort_impl, differentiable=False)
batch_unary_axes(argsort_p, ("axis",))

# -- cumprod ------------------------------------------------------------------------------
# NOTE [cumprod without division]: the derivative of y_k = x_0 ... x_k in x_i is the
# product of the others, which dividing y_k by x_i gets wrong at zeros. The rules here
# use multiplies only: the JVP runs a Hillis-Steele scan over (value, tangent) pairs, the
# product rule at each step; the VJP is (exclusive prefix product of x) times s, where
# s_i = ct_i + x_{i+1} s_{i+1} is a linear recurrence solved by a scan over affine maps.
# Both are gpuad ops, so derivatives of every order are exact with zeros present.
cumprod_p = Primitive("cumprod", lambda be, x, axis: be.xp.cumprod(x, axis=axis))
batch_unary_axes(cumprod_p, ("axis",))


def _shift(y, k, fill):
    """``y`` moved ``k`` places along its last axis, ``fill`` in front."""
    from .creation import full
    from .indexing import slice_axis
    from .shape import concat
    n = y.shape[-1]
    pad = full(tuple(y.shape[:-1]) + (builtins.min(k, n),), fill, dtype=y.dtype, device=y.device)
    if k >= n:
        return pad
    return concat([pad, slice_axis(y, y.ndim - 1, 0, n - k)], axis=-1)


def _cumprod_tangent(x, t):
    from .pointwise import add, multiply
    y, dy, k, n = x, t, 1, x.shape[-1]
    while k < n:
        ys, dys = _shift(y, k, 1), _shift(dy, k, 0)
        dy = add(multiply(dy, ys), multiply(y, dys))
        y = multiply(y, ys)
        k *= 2
    return dy


def _cumprod_cotangent(x, ct):
    from .pointwise import add, multiply
    from .reductions import _excl_cumprod
    from .shape import flip
    n = x.shape[-1]
    # reversed: s'_m = a_m s'_{m-1} + r_m with r = flip(ct), a_m = flip(x)_{m-1}
    a, b, k = _shift(flip(x, -1), 1, 0), flip(ct, -1), 1
    while k < n:
        b = add(b, multiply(a, _shift(b, k, 0)))
        a = multiply(a, _shift(a, k, 0))
        k *= 2
    return multiply(_excl_cumprod(x), flip(b, -1))


def _along_last(fn, axis, *xs):
    from .shape import moveaxis
    return moveaxis(fn(*[moveaxis(v, axis, -1) for v in xs]), -1, axis)


def _cumprod_jvp(primals, tangents, axis):
    (x,), (t,) = primals, tangents
    out = cumprod_p.bind(x, axis=axis)
    return out, _along_last(_cumprod_tangent, axis, x, t)


def _cumprod_vjp(ct, out, x, axis):
    return (_along_last(_cumprod_cotangent, axis, x, ct),)


cumprod_p.jvp, cumprod_p.vjp = _cumprod_jvp, _cumprod_vjp


# ---------------------------------------------------------------------------------------
# helpers

def _static(v, fn, arg):
    """A concrete integer NumPy array from an argument that shapes the result."""
    if isinstance(v, Tracer):
        raise GpuadTypeError(f"{fn}: argument '{arg}' must be concrete (it sets the result's "
                             f"shape), got a traced value")
    if isinstance(v, TensorBase):
        v = v.numpy()
    try:
        arr = np.asarray(v)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.size == 0 and arr.dtype.kind in "fO":
        arr = arr.astype(np.int64)  # an empty list
    if arr.dtype.kind not in "iu":
        raise GpuadTypeError(f"{fn}: argument '{arg}' must be an int or a sequence of ints, "
                             f"got {v!r}")
    return arr.astype(np.int64)


def _tensor(a, fn):
    (x,) = coerce(fn, a, names=["a" if fn not in ("pad",) else "array"])
    return x


def _slice(x, axis, start, stop):
    return x[(slice(None),) * axis + (slice(start, stop),)]


def _ravel(x):
    from .shape import reshape
    return reshape(x, (-1,))


# ---------------------------------------------------------------------------------------
# split

def array_split(ary, indices_or_sections, axis=0):
    """Split into sub-tensors along ``axis`` (NumPy's ``array_split``): ``N`` sections of
    sizes differing by at most one, or at the given split indices. Returns a list."""
    x = _tensor(ary, "array_split")
    axis = norm_one_axis(axis, x.ndim, "array_split")
    return _split(x, indices_or_sections, axis, "array_split")


def _split(x, ios, axis, fn):
    total = x.shape[axis]
    if isinstance(ios, numbers.Integral) and not isinstance(ios, bool) or (
            isinstance(ios, (np.ndarray, TensorBase)) and np.ndim(ios) == 0):
        n = int(_static(ios, fn, "indices_or_sections"))
        if n <= 0:
            raise GpuadValueError(f"{fn}: argument 'indices_or_sections' must be > 0 sections, got {n}")
        each, extras = divmod(total, n)
        sizes = [0] + extras * [each + 1] + (n - extras) * [each]
        points = np.cumsum(sizes).tolist()
    else:
        idx = _static(ios, fn, "indices_or_sections")
        if idx.ndim != 1:
            raise GpuadValueError(f"{fn}: argument 'indices_or_sections' must be an int or a 1-D "
                                  f"sequence of split indices, got {ios!r}")
        points = [0] + idx.tolist() + [total]
    return [_slice(x, axis, points[i], points[i + 1]) for i in range(len(points) - 1)]


def split(ary, indices_or_sections, axis=0):
    """Split into ``N`` equal sub-tensors along ``axis`` (an error when ``N`` does not
    divide its length), or at the given indices (NumPy's ``split``). Returns a list."""
    x = _tensor(ary, "split")
    axis = norm_one_axis(axis, x.ndim, "split")
    ios = indices_or_sections
    if isinstance(ios, numbers.Integral) and not isinstance(ios, bool):
        if ios > 0 and x.shape[axis] % ios:
            raise GpuadValueError(f"split: argument 'indices_or_sections' {ios} does not divide axis "
                                  f"{axis} of length {x.shape[axis]} into equal sections (use "
                                  f"array_split)")
    return _split(x, ios, axis, "split")


# ---------------------------------------------------------------------------------------
# triangles

def _tri_mask(m, k, fn, upper):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise GpuadTypeError(f"{fn}: argument 'k' must be an int, got {k!r}")
    x = _tensor(m, fn)
    if x.ndim == 0:
        raise GpuadValueError(f"{fn}: argument 'm' must have at least 1 dim, got a 0-d tensor")
    rows, cols = (x.shape[-1], x.shape[-1]) if x.ndim == 1 else tuple(x.shape[-2:])
    mask = np.tri(rows, cols, int(k) - 1 if upper else int(k), dtype=bool)
    if upper:
        mask = ~mask
    return x, constant(mask, np.bool_, x.device)


def tril(m, k=0):
    """Lower triangle of the last two axes: entries above diagonal ``k`` are exact zeros
    (NumPy's ``tril``; a 1-D ``m`` is broadcast to a square matrix first)."""
    from .pointwise import where
    x, mask = _tri_mask(m, k, "tril", False)
    return where(mask, x, 0)


def triu(m, k=0):
    """Upper triangle of the last two axes: entries below diagonal ``k`` are exact zeros
    (NumPy's ``triu``)."""
    from .pointwise import where
    x, mask = _tri_mask(m, k, "triu", True)
    return where(mask, x, 0)


# ---------------------------------------------------------------------------------------
# repeat, roll

def repeat(a, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (the flattened tensor when
    None); ``repeats`` is an int or one count per element. A gather: its VJP sums the
    copies."""
    from .indexing import take
    x = _tensor(a, "repeat")
    if axis is None:
        x, axis = _ravel(x), 0
    axis = norm_one_axis(axis, x.ndim, "repeat")
    r = _static(repeats, "repeat", "repeats")
    n = x.shape[axis]
    if r.ndim > 1 or (r.ndim == 1 and r.size not in (1, n)):
        raise GpuadValueError(f"repeat: argument 'repeats' must be an int or {n} counts (one per "
                              f"element along axis {axis}), got shape {r.shape}")
    if np.any(r < 0):
        raise GpuadValueError(f"repeat: argument 'repeats' must be non-negative, got {repeats!r}")
    idx = np.repeat(np.arange(n), np.broadcast_to(r.reshape(-1), (n,)) if r.size else r)
    return take(x, idx, axis=axis)


def roll(a, shift, axis=None):
    """Roll elements along ``axis`` (NumPy's ``roll``; the flattened tensor when None):
    ``shift`` and ``axis`` may be tuples. A gather with wrapped indices."""
    from .indexing import take
    from .shape import reshape
    x = _tensor(a, "roll")
    if axis is None:
        return reshape(roll(_ravel(x), shift, 0), x.shape)
    s = _static(shift, "roll", "shift")
    ax = np.asarray(axis)
    if ax.dtype.kind not in "iu":
        raise GpuadTypeError(f"roll: argument 'axis' must be None, an int or a tuple of ints, got {axis!r}")
    try:
        s, ax = np.broadcast_arrays(s, ax)
    except ValueError:
        raise GpuadValueError(f"roll: arguments 'shift' {shift!r} and 'axis' {axis!r} do not "
                              f"broadcast together") from None
    total = {}
    for si, ai in zip(s.reshape(-1).tolist(), ax.reshape(-1).tolist()):
        k = norm_one_axis(ai, x.ndim, "roll")
        total[k] = total.get(k, 0) + si
    for k, si in sorted(total.items()):
        n = x.shape[k]
        if n and si % n:
            x = take(x, (np.arange(n) - si) % n, axis=k)
    return x


# ---------------------------------------------------------------------------------------
# pad

_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _as_pairs(v, ndim, fn, arg, integral):
    if integral:
        arr = _static(v, fn, arg)
    else:
        try:
            arr = np.asarray(v.numpy() if isinstance(v, TensorBase) and not isinstance(v, Tracer)
                             else v, dtype=np.float64)
        except (TypeError, ValueError):
            raise GpuadTypeError(f"{fn}: argument '{arg}' must be a number or pairs of numbers, "
                                 f"got {v!r}") from None
    try:
        arr = np.broadcast_to(arr, (ndim, 2))
    except ValueError:
        raise GpuadValueError(f"{fn}: argument '{arg}' {v!r} cannot be broadcast to ({ndim}, 2) "
                              f"(before, after) pairs") from None
    if integral and np.any(arr < 0):
        raise GpuadValueError(f"{fn}: argument '{arg}' must be non-negative, got {v!r}")
    return arr.tolist()


def pad(array, pad_width, mode="constant", **kwargs):
    """Pad with NumPy's ``pad_width`` forms (an int, ``(before, after)``, or one pair per
    axis) and modes ``'constant'`` (``constant_values=``, default 0), ``'edge'``,
    ``'reflect'``, ``'symmetric'`` and ``'wrap'``. Constant padding concatenates constant
    blocks; the other modes gather the input at NumPy's padded indices, so their VJP
    sums the copies back."""
    from .creation import full
    from .indexing import take
    from .shape import concat
    x = _tensor(array, "pad")
    if not isinstance(mode, str) or mode not in _PAD_MODES:
        raise GpuadValueError(f"pad: argument 'mode' must be one of {_PAD_MODES}, got {mode!r}")
    allowed = {"constant": ("constant_values",)}.get(mode, ())
    for k in kwargs:
        if k not in allowed and not (k == "reflect_type" and mode in ("reflect", "symmetric")
                                     and kwargs[k] == "even"):
            raise GpuadTypeError(f"pad: argument {k!r} is not supported with mode={mode!r}")
    widths = _as_pairs(pad_width, x.ndim, "pad", "pad_width", True)
    if mode == "constant":
        values = _as_pairs(kwargs.get("constant_values", 0), x.ndim, "pad", "constant_values", False)
        for ax, ((b, e), (vb, ve)) in enumerate(zip(widths, values)):
            if not b and not e:
                continue
            parts = []
            for w, v in ((b, vb), (None, None), (e, ve)):
                if w is None:
                    parts.append(x)
                elif w:
                    shape = tuple(w if i == ax else s for i, s in enumerate(x.shape))
                    parts.append(full(shape, v, dtype=x.dtype, device=x.device))
            x = concat(parts, axis=ax)
        return x
    for ax, (b, e) in enumerate(widths):
        if not b and not e:
            continue
        n = x.shape[ax]
        if n == 0:
            raise GpuadValueError(f"pad: cannot pad axis {ax} of length 0 with mode={mode!r}")
        x = take(x, np.pad(np.arange(n), (b, e), mode=mode), axis=ax)
    return x


# ---------------------------------------------------------------------------------------
# diff, kron, rot90

def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``axis`` (NumPy's ``diff``), after joining
    ``prepend`` and ``append`` (scalars are broadcast) to ``a``."""
    from .pointwise import not_equal, subtract
    from .shape import broadcast_to, concat
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise GpuadTypeError(f"diff: argument 'n' must be an int, got {n!r}")
    if n < 0:
        raise GpuadValueError(f"diff: argument 'n' must be non-negative, got {n}")
    x = _tensor(a, "diff")
    if x.ndim == 0:
        raise GpuadValueError("diff: argument 'a' must have at least 1 dim, got a 0-d tensor")
    axis = norm_one_axis(axis, x.ndim, "diff")
    if n == 0:
        return x
    parts = []
    for name, v in (("prepend", prepend), (None, x), ("append", append)):
        if v is None:
            continue
        if name is not None:
            v = coerce("diff", x, v, names=["a", name])[1]  # a Python scalar takes a's dtype
            if v.ndim == 0:
                v = broadcast_to(v, tuple(1 if i == axis else s for i, s in enumerate(x.shape)))
            elif v.ndim != x.ndim or any(p != q for i, (p, q) in enumerate(zip(v.shape, x.shape))
                                         if i != axis):
                raise GpuadValueError(f"diff: argument '{name}' of shape {v.shape} does not match "
                                      f"'a' of shape {x.shape} outside axis {axis}")
        parts.append(v)
    if len(parts) > 1:
        x = concat(coerce("diff", *parts, names=[f"part {i}" for i in range(len(parts))]), axis=axis)
    op = not_equal if x.dtype == np.bool_ else subtract
    for _ in range(n):
        x = op(_slice(x, axis, 1, None), _slice(x, axis, None, -1))
    return x


def kron(a, b):
    """Kronecker product (NumPy's ``kron``): blocks ``a[i, j] * b``, over any number of
    axes (the shorter shape is padded with leading ones)."""
    from .pointwise import multiply
    from .shape import reshape
    x, y = coerce("kron", a, b, names=["a", "b"])
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    nd = builtins.max(x.ndim, y.ndim)
    sa = (1,) * (nd - x.ndim) + tuple(x.shape)
    sb = (1,) * (nd - y.ndim) + tuple(y.shape)
    xa = reshape(x, tuple(v for s in sa for v in (s, 1)))
    yb = reshape(y, tuple(v for s in sb for v in (1, s)))
    return reshape(multiply(xa, yb), tuple(p * q for p, q in zip(sa, sb)))


def rot90(m, k=1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, from the first axis
    towards the second (NumPy's ``rot90``): flips and a transpose."""
    from .shape import flip, permute_dims
    x = _tensor(m, "rot90")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise GpuadTypeError(f"rot90: argument 'k' must be an int, got {k!r}")
    try:
        axes = tuple(axes)
    except TypeError:
        raise GpuadTypeError(f"rot90: argument 'axes' must be a pair of ints, got {axes!r}") from None
    if len(axes) != 2:
        raise GpuadValueError(f"rot90: argument 'axes' must have length 2, got {axes!r}")
    if x.ndim < 2:
        raise GpuadValueError(f"rot90: argument 'm' must have at least 2 dims, got shape {x.shape}")
    a0 = norm_one_axis(axes[0], x.ndim, "rot90", "axes")
    a1 = norm_one_axis(axes[1], x.ndim, "rot90", "axes")
    if a0 == a1:
        raise GpuadValueError(f"rot90: argument 'axes' {axes!r} names one axis twice")
    k = int(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a0), a1)
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return permute_dims(flip(x, a1), tuple(perm))
    return flip(permute_dims(x, tuple(perm)), a1)


# ---------------------------------------------------------------------------------------
# sort, argsort, cumprod, meshgrid

def _sort_args(a, axis, kind, order, stable, fn):
    if order is not None:
        raise GpuadValueError(f"{fn}: argument 'order' (structured arrays) is not supported")
    if kind not in (None, "stable", "quicksort", "mergesort", "heapsort"):
        raise GpuadValueError(f"{fn}: argument 'kind' must be None, 'stable', 'quicksort', "
                              f"'mergesort' or 'heapsort', got {kind!r}")
    if stable not in (None, True, False):
        raise GpuadTypeError(f"{fn}: argument 'stable' must be None or a bool, got {stable!r}")
    x = _tensor(a, fn)
    if axis is None:
        x, axis = _ravel(x), 0
    if x.dtype.kind == "c":
        raise GpuadTypeError(f"{fn}: complex tensors are not supported (argument 'a')")
    return x, norm_one_axis(axis, x.ndim, fn)


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """Indices that sort ``a`` along ``axis`` (the flattened tensor when None), as int64;
    always a stable sort (every ``kind`` gives the same result; NaN sorts last). Not
    differentiable."""
    x, axis = _sort_args(a, axis, kind, order, stable, "argsort")
    return argsort_p.bind(x, axis=axis)


def take_along_axis(x, idx, axis):
    """``x`` gathered at integer tensor ``idx`` along ``axis`` (same ndim; the other axes
    broadcast)."""
    from .creation import arange
    from .shape import reshape
    index = []
    for d in range(x.ndim):
        if d == axis:
            index.append(idx)
        else:
            shape = tuple(x.shape[d] if i == d else 1 for i in range(x.ndim))
            index.append(reshape(arange(x.shape[d], dtype=np.int64, device=x.device), shape))
    return x[tuple(index)]


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``a`` sorted along ``axis`` (the flattened tensor when None): ``a`` gathered at
    ``argsort(a)``, so each cotangent flows back to the element sorted into its place."""
    x, axis = _sort_args(a, axis, kind, order, stable, "sort")
    return take_along_axis(x, argsort_p.bind(x, axis=axis), axis)


def cumprod(a, axis=None, dtype=None):
    """Cumulative product along ``axis`` (None: over the flattened tensor). Its
    derivatives use no division: exact at zeros, to every order (NOTE [cumprod without
    division])."""
    from .pointwise import astype
    x = _tensor(a, "cumprod")
    if dtype is not None:
        x = astype(x, dtype)
    elif x.dtype == np.bool_:
        x = astype(x, np.int64)
    if axis is None or x.ndim == 0:
        x = _ravel(x)
        axis = 0 if axis is None else axis
    axis = norm_one_axis(axis, x.ndim, "cumprod")
    return cumprod_p.bind(x, axis=axis)


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate grids from 1-D coordinate vectors (NumPy's ``meshgrid``), a tuple of
    broadcast views (``sparse=True``: of reshaped inputs); ``indexing`` is ``'xy'``
    (Cartesian: the first two outputs are swapped in shape) or ``'ij'`` (matrix)."""
    from .shape import broadcast_arrays, reshape
    if indexing not in ("xy", "ij"):
        raise GpuadValueError(f"meshgrid: argument 'indexing' must be 'xy' or 'ij', got {indexing!r}")
    if not xi:
        return ()
    xs = [_tensor(x, "meshgrid") for x in xi]  # each keeps its dtype, as NumPy's
    nd = len(xs)
    out = [reshape(x, (1,) * i + (-1,) + (1,) * (nd - i - 1)) for i, x in enumerate(xs)]
    if indexing == "xy" and nd > 1:
        out[0] = reshape(out[0], (1, -1) + (1,) * (nd - 2))
        out[1] = reshape(out[1], (-1, 1) + (1,) * (nd - 2))
    if not sparse:
        out = broadcast_arrays(*out)
    return tuple(out)


# Tensor methods as NumPy's ndarray has them (``x.cumprod(axis=0)``, ``x.argsort()``,
# ``x.repeat(2)``); not ``sort``, which sorts an ndarray in place
METHOD_NAMES = ("cumprod", "argsort", "repeat")

__all__ = ["split", "array_split", "tril", "triu", "repeat", "roll", "pad", "diff", "kron",
           "rot90", "sort", "argsort", "cumprod", "meshgrid"]
