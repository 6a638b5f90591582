"""Indexing: ``x[idx]`` with ints, slices, None, ``...`` and integer arrays, and
``take``. The VJP scatter-adds (repeated indices accumulate).

An index is kept as a static *spec* (a tuple of ints, ``slice``, None, Ellipsis and
``ArrayRef(k)`` markers) plus the integer index tensors as primitive inputs, so
index tensors can themselves be batched under ``vmap``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import GpuadIndexError, GpuadTypeError
from ..primitive import Primitive
from ..tensor import TensorBase
from ._util import norm_one_axis, to_tensor
from .constants import arange
from .structural import (bdim_front_or_broadcast, batch_size, move_bdim_front, reshape_p,
                         transpose_p)


class ArrayRef:
    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k

    def __eq__(self, other):
        return isinstance(other, ArrayRef) and other.k == self.k

    def __hash__(self):
        return hash(("ArrayRef", self.k))

    def __repr__(self):
        return f"ArrayRef({self.k})"


def _np_index(spec, arrays):
    return tuple(arrays[s.k] if isinstance(s, ArrayRef) else s for s in spec)


def _has_arrays(spec):
    return any(isinstance(s, ArrayRef) for s in spec)


def _advanced_positions(spec):
    """Positions of the advanced indices (arrays, and ints when arrays are present)."""
    arr = _has_arrays(spec)
    return [i for i, s in enumerate(spec)
            if isinstance(s, ArrayRef) or (arr and isinstance(s, numbers.Integral))]


def _separated(spec):
    pos = _advanced_positions(spec)
    return bool(pos) and pos[-1] - pos[0] + 1 != len(pos)


# -- gather -------------------------------------------------------------------------
def _gather_impl(be, x, *arrays, spec):
    try:
        return x[_np_index(spec, arrays)]
    except IndexError as e:
        raise GpuadIndexError(f"__getitem__/take: argument 'index' is out of bounds: {e}") from None


gather_p = Primitive("gather", _gather_impl, nondiff_args=range(1, 64))


def _gather_jvp(p, t, spec):
    out = gather_p.bind(*p, spec=spec)
    return out, gather_p.bind(t[0], *p[1:], spec=spec)


def _gather_vjp(ct, out, x, *arrays, spec):
    return (scatter_add_p.bind(ct, *arrays, spec=spec, shape=tuple(x.shape)),) + (None,) * len(arrays)


gather_p.jvp = _gather_jvp
gather_p.vjp = _gather_vjp


def _index_shape(spec, arrays):
    shapes = [tuple(arrays[s.k].shape) for s in spec if isinstance(s, ArrayRef)]
    return np.broadcast_shapes(*shapes) if shapes else ()


def _batch_spec(vals, dims, spec, n_lead):
    """Rewrite (spec, index arrays) for a batch dim at 0 of the indexed operand.

    Returns (new_spec, new_arrays, out_bdim, leading) where ``leading`` says whether
    an explicit batch index array was added (then the batch dim of the result is 0).
    """
    arrays, adims = list(vals), list(dims)
    if all(d is None for d in adims):
        new_spec = (slice(None),) + tuple(spec)
        if _separated(new_spec):
            bdim = len(_index_shape(spec, arrays))
        else:
            bdim = 0
        return new_spec, arrays, bdim
    # Batched index arrays: index the batch dim with arange(B) broadcast against them.
    size = next(a.shape[d] for a, d in zip(arrays, adims) if d is not None)
    logical = [a.ndim - (d is not None) for a, d in zip(arrays, adims)]
    k = builtins_max(logical) if logical else 0
    new_arrays = []
    for a, d, lr in zip(arrays, adims, logical):
        if d is not None:
            a = move_bdim_front(a, d)
            if lr < k:
                a = reshape_p.bind(a, shape=(size,) + (1,) * (k - lr) + tuple(a.shape[1:]))
        new_arrays.append(a)
    dev = arrays[0].device
    b = arange(size, dtype=np.int64, device=dev)
    b = reshape_p.bind(b, shape=(size,) + (1,) * k)
    new_arrays.append(b)
    # ints next to arrays become part of the advanced group: keep them as they are
    new_spec = (ArrayRef(len(new_arrays) - 1),) + tuple(spec)
    return new_spec, new_arrays, 0


def _adv_perm(spec, k):
    """Batched index arrays put the batch index first, which makes the advanced group
    leading in the result; when the unbatched index kept that group in place (one
    contiguous group after some slices), move its k dims back behind those slices.
    Returns the permutation for the gather result, or None."""
    if _separated(spec):
        return None
    pos = _advanced_positions(spec)
    if not pos:
        return None
    pre = sum(1 for s in spec[:pos[0]] if isinstance(s, slice) or s is None)
    if pre == 0:
        return None
    rest = list(range(1 + k, 1 + k + pre))
    return (0,) + tuple(rest) + tuple(range(1, 1 + k))


def _index_rank(arrays, dims):
    logical = [a.ndim - (d is not None) for a, d in zip(arrays, dims)]
    return builtins_max(logical) if logical else 0


def builtins_max(xs):
    m = xs[0]
    for v in xs[1:]:
        if v > m:
            m = v
    return m


def _gather_batch(vals, dims, spec):
    x, xd = vals[0], dims[0]
    arrays, adims = vals[1:], dims[1:]
    if xd is None:
        x = bdim_front_or_broadcast(x, None, batch_size(arrays, adims))
    else:
        x = move_bdim_front(x, xd)
    new_spec, new_arrays, bdim = _batch_spec(arrays, adims, spec, 1)
    out = gather_p.bind(x, *new_arrays, spec=new_spec)
    if any(d is not None for d in adims):
        perm = _adv_perm(spec, _index_rank(arrays, adims))
        if perm is not None:
            perm = perm + tuple(range(len(perm), out.ndim))
            out = transpose_p.bind(out, perm=perm)
    return out, bdim


gather_p.batch = _gather_batch


def _gather_rows(ins, out, r, n, params):
    # the row axis must be indexed by a full slice, every index array be row-free, and
    # advanced indices (if any) must stay in place, not move to the front
    if not r[0] or any(r[1:]):
        return None
    spec = params["spec"]
    if not spec or spec[0] != slice(None):
        return None
    pos = _advanced_positions(spec)
    if pos and pos[-1] - pos[0] + 1 != len(pos):
        return None
    if any(s is Ellipsis for s in spec[1:]) and pos:
        return None
    return True


gather_p.rows = _gather_rows


# -- scatter_add: zeros(shape) with ``upd`` added at the index ------------------------
def _scatter_impl(be, upd, *arrays, spec, shape):
    xp = be.xp
    out = xp.zeros(shape, dtype=upd.dtype)
    idx = _np_index(spec, arrays)
    if _has_arrays(spec):
        if xp is np:
            np.add.at(out, idx, upd)
        else:  # CuPy: scatter_add accumulates repeated indices
            out.scatter_add(idx, upd) if hasattr(out, "scatter_add") else xp.add.at(out, idx, upd)
    else:
        out[idx] += upd
    return out


scatter_add_p = Primitive("scatter_add", _scatter_impl, nondiff_args=range(1, 64))
scatter_add_p.jvp = lambda p, t, spec, shape: (scatter_add_p.bind(*p, spec=spec, shape=shape),
                                                scatter_add_p.bind(t[0], *p[1:], spec=spec, shape=shape))
scatter_add_p.vjp = lambda ct, out, upd, *arrays, spec, shape: (
    (gather_p.bind(ct, *arrays, spec=spec),) + (None,) * len(arrays))


def _scatter_batch(vals, dims, spec, shape):
    upd, ud = vals[0], dims[0]
    arrays, adims = vals[1:], dims[1:]
    size = batch_size(vals, dims)
    new_spec, new_arrays, bdim = _batch_spec(arrays, adims, spec, 1)
    if ud is None:
        # the same update for each batch member: broadcast at the result's batch position
        u = bdim_front_or_broadcast(upd, None, size)
    else:
        u = move_bdim_front(upd, ud)
    if bdim != 0:
        perm = list(range(1, u.ndim))
        perm.insert(bdim, 0)
        u = transpose_p.bind(u, perm=tuple(perm))
    if any(d is not None for d in adims):
        perm = _adv_perm(spec, _index_rank(arrays, adims))
        if perm is not None:  # the update's layout to the batched gather's layout
            perm = perm + tuple(range(len(perm), u.ndim))
            inv = tuple(int(i) for i in np.argsort(perm))
            u = transpose_p.bind(u, perm=inv)
    return scatter_add_p.bind(u, *new_arrays, spec=new_spec, shape=(size,) + tuple(shape)), 0


scatter_add_p.batch = _scatter_batch
# as a gather's rows, into a result of the same rows
scatter_add_p.rows = lambda ins, out, r, n, params: (
    params["shape"][0] == n and _gather_rows(ins, out, r, n, params)) or None


# ---------------------------------------------------------------------------------
# public functions

def _normalize_index(x, idx):
    if not isinstance(idx, tuple):
        idx = (idx,)
    spec, arrays = [], []
    n_real = 0
    for s in idx:
        if s is None or s is Ellipsis:
            spec.append(s)
            continue
        if isinstance(s, bool) or (isinstance(s, TensorBase) and s.dtype == np.bool_) or \
                (isinstance(s, np.ndarray) and s.dtype == np.bool_):
            raise GpuadIndexError("__getitem__: boolean mask indexing has a data-dependent shape and "
                                  "is not supported; use ad.where(mask, x, 0) instead")
        if isinstance(s, numbers.Integral):
            spec.append(int(s))
            n_real += 1
        elif isinstance(s, slice):
            spec.append(s)
            n_real += 1
        elif isinstance(s, (TensorBase, np.ndarray, list)):
            a = s if isinstance(s, TensorBase) else to_tensor(np.asarray(s), "__getitem__", "index",
                                                            device=x.device)
            if a.dtype.kind not in "iu":
                raise GpuadIndexError(f"__getitem__: index arrays must be integer, got dtype {a.dtype}")
            spec.append(ArrayRef(len(arrays)))
            arrays.append(a)
            n_real += 1
        else:
            raise GpuadIndexError(f"__getitem__: unsupported index {s!r}; expected an int, slice, None, "
                                  "..., or an integer array")
    if spec.count(Ellipsis) > 1:
        raise GpuadIndexError("__getitem__: an index can only have a single ellipsis ('...')")
    if n_real > x.ndim:
        raise GpuadIndexError(f"__getitem__: too many indices for a tensor with {x.ndim} dims")
    # make the ellipsis explicit so batching can prepend a slice safely
    if Ellipsis in spec:
        i = spec.index(Ellipsis)
        spec[i:i + 1] = [slice(None)] * (x.ndim - n_real)
    # bounds check ints against the static shape
    dim = 0
    for s in spec:
        if s is None:
            continue
        if isinstance(s, int):
            n = x.shape[dim]
            if not -n <= s < n:
                raise GpuadIndexError(f"__getitem__: index {s} is out of bounds for axis {dim} with size {n}")
        dim += 1
    return tuple(spec), arrays


def getitem(x, idx):
    """``x[idx]``; integer-array indices gather, and their VJP scatter-adds."""
    spec, arrays = _normalize_index(x, idx)
    if not arrays and all(isinstance(s, slice) and s == slice(None) for s in spec):
        return x
    return gather_p.bind(x, *arrays, spec=spec)


def take(x, indices, axis=None):
    """Elements of ``x`` at integer ``indices`` along ``axis`` (flattened when None)."""
    x = to_tensor(x, "take", "x")
    if axis is None:
        if x.ndim != 1:
            x = reshape_p.bind(x, shape=(x.size,))
        axis = 0
    axis = norm_one_axis(axis, x.ndim, "take")
    idx = indices if isinstance(indices, TensorBase) else to_tensor(
        np.asarray(indices), "take", "indices", device=x.device)
    if idx.dtype.kind not in "iu":
        raise GpuadTypeError(f"take: argument 'indices' must be an integer tensor, got dtype {idx.dtype}")
    spec = (slice(None),) * axis + (ArrayRef(0),)
    return gather_p.bind(x, idx, spec=spec)


def slice_axis(x, axis, start, stop):
    spec = (slice(None),) * axis + (slice(start, stop),)
    return gather_p.bind(x, spec=spec)
