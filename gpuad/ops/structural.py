"""The structural primitives every other rule is written with: reshape, transpose,
broadcast_to, astype and reduce_sum, the batching helpers that move and materialize a
batch dim, and ``unbroadcast`` (the VJP of NumPy broadcasting).

They sit under the other op families (docs/design.md, "Layers") because their rules
close over each other alone: a broadcast's VJP is a sum, a sum's VJP is a broadcast,
and every batching rule moves a dim with a transpose. The public functions built on
them (``reshape``, ``sum``, ``astype``, ...) live with their families above."""
from __future__ import annotations

import numpy as np

from ..errors import GpuadTypeError
from ..primitive import BROADCAST, ELEMENTWISE, Primitive


# -- batching helpers -------------------------------------------------------------------
def move_bdim_front(v, d):
    """Physical value with batch dim ``d`` -> same with the batch dim at 0."""
    if d is None or d == 0:
        return v
    perm = (d,) + tuple(i for i in range(v.ndim) if i != d)
    return transpose_p.bind(v, perm=perm)


def bdim_front_or_broadcast(v, d, size):
    """Batch dim at 0, materializing it (broadcast) when ``v`` is unbatched."""
    if d is None:
        return broadcast_to_p.bind(v, shape=(size,) + tuple(v.shape))
    return move_bdim_front(v, d)


def batch_size(vals, dims):
    for v, d in zip(vals, dims):
        if d is not None:
            return v.shape[d]
    raise AssertionError("no batched argument")


def batch_elementwise(prim):
    """Batching rule of an n-ary broadcasting pointwise primitive."""
    def rule(vals, dims, **params):
        rank = max((v.ndim - (d is not None)) for v, d in zip(vals, dims))
        new = []
        for v, d in zip(vals, dims):
            if d is None:
                new.append(v)
                continue
            v = move_bdim_front(v, d)
            lr = v.ndim - 1
            if lr < rank:
                v = reshape_p.bind(v, shape=(v.shape[0],) + (1,) * (rank - lr) + tuple(v.shape[1:]))
            new.append(v)
        return prim.bind(*new, **params), 0
    prim.batch = rule
    return prim


def batch_unary_axes(prim, axis_params):
    """Batching rule for a one-input primitive whose params name axes of the input."""
    def rule(vals, dims, **params):
        (v,), (d,) = vals, dims
        v = move_bdim_front(v, d)
        for name in axis_params:
            ax = params[name]
            if isinstance(ax, tuple):
                params[name] = tuple(a + 1 for a in ax)
            else:
                params[name] = ax + 1
        return prim.bind(v, **params), 0
    prim.batch = rule
    return prim


# -- reshape --------------------------------------------------------------------
reshape_p = Primitive("reshape", lambda be, x, shape: be.xp.reshape(x, shape), kernel=False)
reshape_p.jvp = lambda p, t, shape: (reshape_p.bind(p[0], shape=shape), reshape_p.bind(t[0], shape=shape))
reshape_p.vjp = lambda ct, out, x, shape: (reshape_p.bind(ct, shape=tuple(x.shape)),)


def _reshape_batch(vals, dims, shape):
    v = move_bdim_front(vals[0], dims[0])
    return reshape_p.bind(v, shape=(v.shape[0],) + shape), 0


reshape_p.batch = _reshape_batch
reshape_p.rows = lambda ins, out, r, n, params: len(ins[0]) >= 1 and ins[0][0] == n

# -- transpose ------------------------------------------------------------------
transpose_p = Primitive("transpose", lambda be, x, perm: be.xp.transpose(x, perm), kernel=False)
transpose_p.jvp = lambda p, t, perm: (transpose_p.bind(p[0], perm=perm), transpose_p.bind(t[0], perm=perm))
transpose_p.vjp = lambda ct, out, x, perm: (transpose_p.bind(ct, perm=tuple(np.argsort(perm))),)


def _transpose_batch(vals, dims, perm):
    v = move_bdim_front(vals[0], dims[0])
    return transpose_p.bind(v, perm=(0,) + tuple(p + 1 for p in perm)), 0


transpose_p.batch = _transpose_batch
transpose_p.rows = lambda ins, out, r, n, params: params["perm"][0] == 0

# -- broadcast_to ---------------------------------------------------------------
broadcast_to_p = Primitive("broadcast_to", lambda be, x, shape: be.xp.broadcast_to(x, shape),
                           kernel=False)
broadcast_to_p.jvp = lambda p, t, shape: (broadcast_to_p.bind(p[0], shape=shape),
                                          broadcast_to_p.bind(t[0], shape=shape))


def _broadcast_vjp(ct, out, x, shape):
    return (unbroadcast(ct, x.shape),)


broadcast_to_p.vjp = _broadcast_vjp


def _broadcast_batch(vals, dims, shape):
    v = move_bdim_front(vals[0], dims[0])
    lr = v.ndim - 1
    if lr < len(shape):
        v = reshape_p.bind(v, shape=(v.shape[0],) + (1,) * (len(shape) - lr) + tuple(v.shape[1:]))
    return broadcast_to_p.bind(v, shape=(v.shape[0],) + tuple(shape)), 0


broadcast_to_p.batch = _broadcast_batch
broadcast_to_p.rows = BROADCAST

# -- astype ---------------------------------------------------------------------
# astype: between float and complex dtypes the derivative is a cast back (complex ->
# float is ``real``: its JVP takes the real part of the tangent, its VJP casts the
# cotangent to complex, as JAX's). A cast to an integer or bool dtype is piecewise
# constant: its JVP is zero (integer zeros under jacfwd, as torch.func gives), and in
# reverse mode an integer result cannot be differentiated: torch.func.vjp and jacrev
# raise for integer outputs, and so does gpuad (a cotangent only reaches such a cast
# from an integer output, since a cast back to float stops it).
def _astype_impl(be, x, dtype):
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        x = x.real  # NumPy's astype warns (ComplexWarning) when it drops the imaginary part
    return x.astype(dtype)


def _astype_jvp(primals, tangents, dtype):
    (x,), (t,) = primals, tangents
    out = astype_p.bind(x, dtype=dtype)
    if t is None or np.dtype(dtype).kind not in "fc":
        return out, None
    return out, astype_p.bind(t, dtype=dtype)


def _astype_vjp(ct, out, x, dtype):
    if x.dtype.kind not in "fc":
        return (None,)
    if np.dtype(dtype).kind not in "fc":
        raise GpuadTypeError(
            f"vjp/jacrev: the output depends on a differentiated input only through astype to "
            f"{np.dtype(dtype)} (argument 'dtype'); integer and bool outputs are not "
            f"differentiable in reverse mode (torch.func.vjp raises too); use jacfwd, or "
            f"differentiate a floating point output")
    return (astype_p.bind(ct, dtype=x.dtype),)


astype_p = Primitive("astype", _astype_impl)
astype_p.jvp, astype_p.vjp = _astype_jvp, _astype_vjp
astype_p.batch = lambda vals, dims, dtype: (astype_p.bind(vals[0], dtype=dtype), dims[0])
astype_p.rows = ELEMENTWISE


# -- reduce_sum ----------------------------------------------------------------
def with_reduced_axes(ct, x_shape, axes, keepdims):
    """Re-insert the reduced axes of ``ct`` as size 1 (undo keepdims=False)."""
    if keepdims:
        return ct
    shape = tuple(1 if i in axes else s for i, s in enumerate(x_shape))
    return reshape_p.bind(ct, shape=shape)


def _expand_back(ct, x_shape, axes, keepdims):
    c = with_reduced_axes(ct, x_shape, axes, keepdims)
    if tuple(c.shape) == tuple(x_shape):
        return c
    return broadcast_to_p.bind(c, shape=tuple(x_shape))


def defreduction(op, numpy):
    # ``op``: the kernel template's combining operator (and the array module's function
    # of that name); ``numpy``: the NumPy function eager cpu calls run
    def impl(be, x, axes, keepdims):
        return be.reduce(op, x, axes, keepdims, p.numpy)
    p = Primitive("reduce_" + op, impl, numpy=numpy)
    batch_unary_axes(p, ("axes",))
    p.rows = _reduction_rows
    return p


def _reduction_rows(ins, out, r, n, params):  # rows stay apart unless axis 0 is reduced
    return all(a % len(ins[0]) != 0 for a in params["axes"]) or None


# sum is linear
sum_p = defreduction("sum", np.sum)
sum_p.jvp = lambda p, t, axes, keepdims: (sum_p.bind(p[0], axes=axes, keepdims=keepdims),
                                          sum_p.bind(t[0], axes=axes, keepdims=keepdims))
sum_p.vjp = lambda ct, out, x, axes, keepdims: (_expand_back(ct, x.shape, axes, keepdims),)


def unbroadcast(ct, shape):
    """Sum ``ct`` down to ``shape`` (the VJP of NumPy broadcasting), shared by every
    broadcasting op."""
    shape = tuple(shape)
    if tuple(ct.shape) == shape:
        return ct
    lead = ct.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and ct.shape[lead + i] != 1)
    out = sum_p.bind(ct, axes=axes, keepdims=True) if axes else ct
    return out if tuple(out.shape) == shape else reshape_p.bind(out, shape=shape)
