"""Shape primitives: reshape, transpose, broadcast_to, concat, flip (plus the
composites built on them). Views launch nothing; concat copies."""
from __future__ import annotations

import numbers

from ..errors import GpuadTypeError, GpuadValueError
from ..primitive import Primitive
from ._util import broadcast_shapes, coerce_list, norm_axis, norm_one_axis, to_tensor
from .constants import zeros
from .indexing import slice_axis
from .structural import (bdim_front_or_broadcast, batch_size, broadcast_to_p, move_bdim_front,
                         reshape_p, transpose_p)

# -- concat ---------------------------------------------------------------------
concat_p = Primitive("concat", lambda be, *xs, axis: be.xp.concatenate(xs, axis=axis))
concat_p.jvp = lambda p, t, axis: (
    concat_p.bind(*p, axis=axis),
    concat_p.bind(*[ti if ti is not None else _zeros_of(pi) for pi, ti in zip(p, t)], axis=axis))


def _zeros_of(x):
    return zeros(x.shape, dtype=x.dtype, device=x.device)


def _concat_vjp(ct, out, *xs, axis):
    outs, start = [], 0
    for x in xs:
        n = x.shape[axis]
        outs.append(slice_axis(ct, axis, start, start + n))
        start += n
    return tuple(outs)


concat_p.vjp = _concat_vjp


def _concat_batch(vals, dims, axis):
    n = batch_size(vals, dims)
    vs = [bdim_front_or_broadcast(v, d, n) for v, d in zip(vals, dims)]
    return concat_p.bind(*vs, axis=axis + 1), 0


concat_p.batch = _concat_batch


def _concat_rows(ins, out, r, n, params):
    # (one row: a row-free input of leading size 1 is that row's value)
    rowwise = all(is_row or (n == 1 and s[0] == 1) for s, is_row in zip(ins, r))
    return (rowwise and params["axis"] % len(out) != 0) or None


concat_p.rows = _concat_rows

# -- flip -----------------------------------------------------------------------
flip_p = Primitive("flip", lambda be, x, axes: be.xp.flip(x, axis=axes), kernel=False)
flip_p.jvp = lambda p, t, axes: (flip_p.bind(p[0], axes=axes), flip_p.bind(t[0], axes=axes))
flip_p.vjp = lambda ct, out, x, axes: (flip_p.bind(ct, axes=axes),)


def _flip_batch(vals, dims, axes):
    v = move_bdim_front(vals[0], dims[0])
    return flip_p.bind(v, axes=tuple(a + 1 for a in axes)), 0


flip_p.batch = _flip_batch
flip_p.rows = lambda ins, out, r, n, params: all(a % len(ins[0]) != 0 for a in params["axes"]) or None


# ---------------------------------------------------------------------------------
# public functions

def _shape_arg(shape, fn):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise GpuadTypeError(f"{fn}: argument 'shape' must be an int or a tuple of ints, got {shape!r}") from None
    return shape


def reshape(x, shape, copy=None):
    """Reshape to ``shape`` (one entry may be -1)."""
    x = to_tensor(x, "reshape", "x")
    shape = _shape_arg(shape, "reshape")
    size = x.size
    if shape.count(-1) > 1:
        raise GpuadValueError(f"reshape: argument 'shape' {shape} has more than one -1")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or size % known:
            raise GpuadValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != size or any(s < 0 for s in shape):
        raise GpuadValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}")
    if shape == tuple(x.shape):
        return x
    return reshape_p.bind(x, shape=shape)


def permute_dims(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    x = to_tensor(x, "permute_dims", "x")
    if axes is None:
        axes = tuple(range(x.ndim))[::-1]
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise GpuadValueError(f"permute_dims: argument 'axes' {axes} is not a permutation of the "
                              f"{x.ndim} axes of x")
    if axes == tuple(range(x.ndim)):
        return x
    return transpose_p.bind(x, perm=axes)


def transpose(x, axes=None):
    return permute_dims(x, axes)


def matrix_transpose(x):
    x = to_tensor(x, "matrix_transpose", "x")
    if x.ndim < 2:
        raise GpuadValueError(f"matrix_transpose: argument 'x' must have at least 2 dims, got shape {x.shape}")
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose_p.bind(x, perm=perm)


def moveaxis(x, source, destination):
    x = to_tensor(x, "moveaxis", "x")
    src = norm_one_axis(source, x.ndim, "moveaxis", "source")
    dst = norm_one_axis(destination, x.ndim, "moveaxis", "destination")
    order = [i for i in range(x.ndim) if i != src]
    order.insert(dst, src)
    return permute_dims(x, tuple(order))


def swapaxes(x, axis1, axis2):
    x = to_tensor(x, "swapaxes", "x")
    a = norm_one_axis(axis1, x.ndim, "swapaxes", "axis1")
    b = norm_one_axis(axis2, x.ndim, "swapaxes", "axis2")
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return permute_dims(x, tuple(perm))


def expand_dims(x, axis=0):
    """Insert size-1 axes at ``axis`` (an int or tuple, positions in the result)."""
    x = to_tensor(x, "expand_dims", "x")
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    nd = x.ndim + len(axes)
    axes = norm_axis(axes, nd, "expand_dims")
    it = iter(x.shape)
    shape = tuple(1 if i in axes else next(it) for i in range(nd))
    return reshape_p.bind(x, shape=shape)


def squeeze(x, axis=None):
    """Remove size-1 axes (all of them when ``axis`` is None)."""
    x = to_tensor(x, "squeeze", "x")
    if axis is None:
        axes = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        axes = norm_axis(axis, x.ndim, "squeeze")
        for a in axes:
            if x.shape[a] != 1:
                raise GpuadValueError(f"squeeze: argument 'axis' {a} has size {x.shape[a]}, expected 1")
    if not axes:
        return x
    return reshape_p.bind(x, shape=tuple(s for i, s in enumerate(x.shape) if i not in axes))


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` (a view); its VJP sums back to ``x.shape``."""
    x = to_tensor(x, "broadcast_to", "x")
    shape = _shape_arg(shape, "broadcast_to")
    if broadcast_shapes("broadcast_to", x.shape, shape) != shape:
        raise GpuadValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    if shape == tuple(x.shape):
        return x
    return broadcast_to_p.bind(x, shape=shape)


def broadcast_arrays(*xs):
    shape = broadcast_shapes("broadcast_arrays", *[x.shape for x in xs])
    return [broadcast_to(x, shape) for x in xs]


def concat(arrays, axis=0):
    """Join tensors along an existing axis (``axis=None`` flattens them first)."""
    xs = coerce_list("concat", arrays)
    if axis is None:
        xs = [reshape(x, (-1,)) for x in xs]
        axis = 0
    nd = xs[0].ndim
    if nd == 0:
        raise GpuadValueError("concat: zero-dimensional tensors cannot be concatenated")
    axis = norm_one_axis(axis, nd, "concat")
    for i, x in enumerate(xs):
        if x.ndim != nd or any(a != b for j, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if j != axis):
            raise GpuadValueError(f"concat: argument 'arrays'[{i}] has shape {x.shape}, which does not "
                                  f"match {xs[0].shape} outside axis {axis}")
    if len(xs) == 1:
        return xs[0]
    return concat_p.bind(*xs, axis=axis)


concatenate = concat


def stack(arrays, axis=0):
    """Join tensors along a new axis."""
    xs = coerce_list("stack", arrays)
    shape = xs[0].shape
    for i, x in enumerate(xs):
        if x.shape != shape:
            raise GpuadValueError(f"stack: argument 'arrays'[{i}] has shape {x.shape}, expected {shape}")
    axis = norm_one_axis(axis, len(shape) + 1, "stack")
    return concat([expand_dims(x, axis) for x in xs], axis=axis)


def flip(x, axis=None):
    x = to_tensor(x, "flip", "x")
    axes = norm_axis(axis, x.ndim, "flip")
    if not axes:
        return x
    return flip_p.bind(x, axes=axes)


def tile(x, repetitions):
    """Repeat ``x`` along each axis (NumPy's ``tile``), as a broadcast and a reshape."""
    x = to_tensor(x, "tile", "x")
    reps = _shape_arg(repetitions, "tile")
    nd = max(x.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    shape = (1,) * (nd - x.ndim) + tuple(x.shape)
    inter = []
    for r, s in zip(reps, shape):
        inter += [1, s]
    y = reshape(x, tuple(inter))
    target = []
    for r, s in zip(reps, shape):
        target += [r, s]
    y = broadcast_to(y, tuple(target))
    return reshape(y, tuple(r * s for r, s in zip(reps, shape)))


def ravel(x):
    return reshape(x, (-1,))
