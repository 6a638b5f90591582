"""Hypothesis property tests over random small shapes (up to 3 dims, up to 5 per dim).

Shapes come from hypothesis; values come from a seeded NumPy generator (a drawn seed), which
keeps each example cheap while still shrinking to a readable failing shape.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import gpuad as ad

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
DEVICE = "cpu"

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)
bshapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=5)
seeds = st.integers(0, 2**32 - 1)


def T(a):
    return ad.tensor(np.asarray(a), device=DEVICE)


def N(t):
    assert isinstance(t, ad.Tensor), type(t)
    return np.asarray(t.numpy())


def arr(seed, shape, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape)


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "maximum": (lambda a, b: ad.maximum(a, b), np.maximum),
    "atan2": (lambda a, b: ad.atan2(a, b), np.arctan2),
    "pow": (lambda a, b: ad.pow(a, b), np.power),
}


@pytest.mark.parametrize("op", sorted(BINARY))
@SETTINGS
@given(bs=bshapes, seed=seeds)
def test_broadcasting_binary_matches_numpy(op, bs, seed):
    sa, sb = bs.input_shapes
    a = arr(seed, sa, 0.5, 2.0)  # positive: pow's base, and keeps / away from 0
    b = arr(seed + 1, sb, 0.5, 2.0)
    f, npf = BINARY[op]
    out = f(T(a), T(b))
    want = npf(a, b)
    assert out.shape == want.shape == bs.result_shape
    np.testing.assert_allclose(N(out), want, rtol=1e-12, atol=1e-12)


@st.composite
def shape_and_axes(draw):
    shape = draw(shapes)
    nd = len(shape)
    if nd == 0:
        axis = draw(st.sampled_from([None, ()]))
    else:
        kind = draw(st.sampled_from(["none", "int", "tuple"]))
        if kind == "none":
            axis = None
        elif kind == "int":
            axis = draw(st.integers(-nd, nd - 1))
        else:
            picked = draw(st.lists(st.integers(0, nd - 1), unique=True, max_size=nd))
            signs = draw(st.lists(st.booleans(), min_size=len(picked), max_size=len(picked)))
            axis = tuple(p - nd if neg else p for p, neg in zip(picked, signs))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean", "max", "prod"])
@SETTINGS
@given(sak=shape_and_axes(), seed=seeds)
def test_reduction_axis_subsets(name, sak, seed):
    shape, axis, keepdims = sak
    x = arr(seed, shape, 0.5, 1.5)
    out = getattr(ad, name)(T(x), axis=axis, keepdims=keepdims)
    want = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(N(out), want, rtol=1e-12)
    # the VJP of the reduction has the input's shape
    _, vjp_fn = ad.vjp(lambda t: getattr(ad, name)(t, axis=axis, keepdims=keepdims), T(x))
    (g,) = vjp_fn(ad.ones_like(out))
    assert g.shape == x.shape
    if name == "sum":
        np.testing.assert_allclose(N(g), np.ones(shape))


@SETTINGS
@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape_transpose_round_trip(shape, seed, data):
    x = arr(seed, shape)
    t = T(x)
    flat = ad.reshape(t, (-1,))
    assert flat.shape == (x.size,)
    back = ad.reshape(flat, shape)
    np.testing.assert_array_equal(N(back), x)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    inv = tuple(np.argsort(perm))
    p = ad.permute_dims(t, perm)
    assert p.shape == tuple(shape[i] for i in perm)
    np.testing.assert_array_equal(N(p), np.transpose(x, perm))
    np.testing.assert_array_equal(N(ad.permute_dims(p, inv)), x)
    # and the derivative of the round trip is the identity
    _, vjp_fn = ad.vjp(lambda u: ad.permute_dims(ad.reshape(ad.reshape(u, (-1,)), shape), perm), t)
    ct = np.random.default_rng(seed).standard_normal(p.shape)
    (g,) = vjp_fn(T(ct))
    np.testing.assert_array_equal(N(g), np.transpose(ct, inv))


@pytest.mark.parametrize("op", ["add", "mul"])
@SETTINGS
@given(bs=bshapes, seed=seeds)
def test_broadcast_vjp_reduces_to_input_shape(op, bs, seed):
    sa, sb = bs.input_shapes
    a, b = arr(seed, sa), arr(seed + 1, sb)
    f = (lambda u, v: u + v) if op == "add" else (lambda u, v: u * v)
    out, vjp_fn = ad.vjp(f, T(a), T(b))
    ct = np.random.default_rng(seed + 2).standard_normal(out.shape)
    ga, gb = vjp_fn(T(ct))
    assert ga.shape == a.shape and gb.shape == b.shape
    # reference: sum the broadcast cotangent over the broadcast axes
    def unbroadcast(g, shape):
        g = np.asarray(g)
        while g.ndim > len(shape):
            g = g.sum(axis=0)
        for ax, n in enumerate(shape):
            if n == 1 and g.shape[ax] != 1:
                g = g.sum(axis=ax, keepdims=True)
        return g
    da = ct if op == "add" else ct * np.broadcast_to(b, ct.shape)
    db = ct if op == "add" else ct * np.broadcast_to(a, ct.shape)
    np.testing.assert_allclose(N(ga), unbroadcast(da, a.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(N(gb), unbroadcast(db, b.shape), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(shape=shapes, seed=seeds)
def test_grad_of_sum_of_squares(shape, seed):
    x = arr(seed, shape)
    g = ad.grad(lambda t: ad.sum(t * t))(T(x))
    assert g.shape == x.shape
    np.testing.assert_allclose(N(g), 2 * x, rtol=1e-14)
    # and on the eager tape
    leaf = ad.tensor(x, device=DEVICE, requires_grad=True)
    ad.sum(leaf * leaf).backward()
    np.testing.assert_allclose(N(leaf.grad), 2 * x, rtol=1e-14)


F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum"])
@pytest.mark.parametrize("da,db", [(F32, F32), (F32, F64), (F64, F32), (F32, None), (None, F32), (F64, None)],
                         ids=["f32,f32", "f32,f64", "f64,f32", "f32,pyfloat", "pyfloat,f32", "f64,pyfloat"])
@settings(max_examples=5, deadline=None, derandomize=True)
@given(bs=bshapes, seed=seeds)
def test_dtype_promotion_and_cotangent_dtypes(op, da, db, bs, seed):
    """Array API promotion: f32 with f64 gives f64; a Python float is weak (f32 stays f32).
    The cotangent of each input has that input's dtype."""
    sa, sb = bs.input_shapes
    a = arr(seed, sa, 0.5, 2.0).astype(da) if da is not None else 1.25
    b = arr(seed + 1, sb, 0.5, 2.0).astype(db) if db is not None else 1.25
    want_dtype = np.result_type(*(d for d in (da, db) if d is not None))
    f = BINARY[op][0]
    args = [T(v) if isinstance(v, np.ndarray) else v for v in (a, b)]
    out = f(*args)
    assert out.dtype == want_dtype, f"{op}({da}, {db}) gave {out.dtype}"
    np.testing.assert_allclose(N(out), BINARY[op][1](np.float64(a) if np.ndim(a) == 0 else a.astype(F64),
                                                   np.float64(b) if np.ndim(b) == 0 else b.astype(F64)),
                               rtol=1e-6 if want_dtype == F32 else 1e-12)
    tensors = [i for i, v in enumerate(args) if isinstance(v, ad.Tensor)]

    def g(*ts):
        full = list(args)
        for i, t in zip(tensors, ts):
            full[i] = t
        return f(*full)

    _, vjp_fn = ad.vjp(g, *(args[i] for i in tensors))
    cts = vjp_fn(ad.ones_like(out))
    for i, c in zip(tensors, cts):
        assert c.dtype == args[i].dtype, f"cotangent of a {args[i].dtype} input is {c.dtype}"
        assert c.shape == args[i].shape


COMPARISONS = {
    "lt": (lambda a, b: a < b, np.less), "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater), "ge": (lambda a, b: a >= b, np.greater_equal),
    "eq": (lambda a, b: a == b, np.equal), "ne": (lambda a, b: a != b, np.not_equal),
}


@pytest.mark.parametrize("op", sorted(COMPARISONS))
@settings(max_examples=10, deadline=None, derandomize=True)
@given(bs=bshapes, seed=seeds)
def test_comparisons_are_bool_and_broadcast(op, bs, seed):
    sa, sb = bs.input_shapes
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, size=sa).astype(np.float64)  # small integers: equal values happen
    b = rng.integers(0, 3, size=sb).astype(np.float64)
    f, npf = COMPARISONS[op]
    out = f(T(a), T(b))
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(N(out), npf(a, b))
    # inside a transform a comparison is a constant: it selects, it is not differentiated
    t = T(a)
    _, tan = ad.jvp(lambda u: ad.where(f(u, T(b)), u, 2.0 * u), (t,), (ad.ones_like(t),))
    np.testing.assert_array_equal(N(tan), np.broadcast_to(np.where(npf(a, b), 1.0, 2.0), tan.shape))


@SETTINGS
@given(bs=bshapes, seed=seeds)
def test_numpy_array_on_the_left_stays_differentiable(bs, seed):
    """``ndarray * tensor`` defers to the tensor (a traced tensor must not be turned into a
    NumPy constant)."""
    sa, sb = bs.input_shapes
    a, b = arr(seed, sa), arr(seed + 1, sb)
    out, tan = ad.jvp(lambda u: a * u + a, (T(b),), (T(np.ones(sb)),))
    assert isinstance(out, ad.Tensor)
    np.testing.assert_allclose(N(out), a * b + a, rtol=1e-14)
    np.testing.assert_allclose(N(tan), np.broadcast_to(a, tan.shape), rtol=1e-14)
