"""NumPy functions built from gpuad's ops (``gpuad/ops/compat.py``): values against
NumPy, derivatives against central differences (and torch.func where torch has the
function), under vmap and jit, the NumPy protocols, and their errors."""
import numpy as np
import pytest
import torch

import gpuad as ad

T = ad.tensor
RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 4))
V = RNG.normal(size=4)
M = RNG.normal(size=(4, 4)) + 4 * np.eye(4)
W = RNG.uniform(0.2, 1.0, size=4)
X = np.array([1.0, -0.0, 0.0, np.nan, np.inf, -np.inf, -2.0])
AN = A.copy()
AN[0, 1] = np.nan

VALUES = [
    ("atleast_1d", lambda: ad.atleast_1d(T(2.0)), lambda: np.atleast_1d(2.0)),
    ("atleast_2d", lambda: ad.atleast_2d(T(V)), lambda: np.atleast_2d(V)),
    ("atleast_3d-1d", lambda: ad.atleast_3d(T(V)), lambda: np.atleast_3d(V)),
    ("atleast_3d-2d", lambda: ad.atleast_3d(T(A)), lambda: np.atleast_3d(A)),
    ("vstack", lambda: ad.vstack([T(V), T(V)]), lambda: np.vstack([V, V])),
    ("hstack-1d", lambda: ad.hstack([T(V), T(V)]), lambda: np.hstack([V, V])),
    ("hstack", lambda: ad.hstack([T(A), T(A)]), lambda: np.hstack([A, A])),
    ("dstack", lambda: ad.dstack([T(A), T(A)]), lambda: np.dstack([A, A])),
    ("column_stack", lambda: ad.column_stack([T(V), T(A.T)]), lambda: np.column_stack([V, A.T])),
    ("flipud", lambda: ad.flipud(T(A)), lambda: np.flipud(A)),
    ("fliplr", lambda: ad.fliplr(T(A)), lambda: np.fliplr(A)),
    ("dot-mv", lambda: ad.dot(T(A), T(V)), lambda: np.dot(A, V)),
    ("dot-3d", lambda: ad.dot(T(A), T(RNG.normal(size=(2, 4, 5)) * 0 + 1)),
     lambda: np.dot(A, np.ones((2, 4, 5)))),
    ("inner", lambda: ad.inner(T(A), T(A)), lambda: np.inner(A, A)),
    ("cross-axes", lambda: ad.cross(T(A[:, :3].T), T(A[:, 1:].T), axisa=0, axisb=0),
     lambda: np.cross(A[:, :3].T, A[:, 1:].T, axisa=0, axisb=0)),
    ("isnan", lambda: ad.isnan(T(X)), lambda: np.isnan(X)),
    ("isinf", lambda: ad.isinf(T(X)), lambda: np.isinf(X)),
    ("isfinite", lambda: ad.isfinite(T(X)), lambda: np.isfinite(X)),
    ("isfinite-int", lambda: ad.isfinite(T(np.arange(3))), lambda: np.isfinite(np.arange(3))),
    ("signbit", lambda: ad.signbit(T(X[[0, 1, 2, 4, 5, 6]])), lambda: np.signbit(X[[0, 1, 2, 4, 5, 6]])),
    ("positive", lambda: ad.positive(T(A)), lambda: np.positive(A)),
    ("power", lambda: ad.power(T(np.abs(A)), 1.5), lambda: np.power(np.abs(A), 1.5)),
    ("float_power", lambda: ad.float_power(T(np.abs(A).astype(np.float32)), 2),
     lambda: np.float_power(np.abs(A).astype(np.float32), 2)),
    ("true_divide", lambda: ad.true_divide(T(A), 3.0), lambda: np.true_divide(A, 3.0)),
    ("floor_divide", lambda: ad.floor_divide(T(A), 0.3), lambda: np.floor_divide(A, 0.3)),
    ("floor_divide-int", lambda: ad.floor_divide(T(np.array([7, -7])), 2),
     lambda: np.floor_divide(np.array([7, -7]), 2)),
    ("conjugate", lambda: ad.conjugate(T(A + 1j * A)), lambda: np.conjugate(A + 1j * A)),
    ("cbrt", lambda: ad.cbrt(T(A)), lambda: np.cbrt(A)),
    ("copysign", lambda: ad.copysign(T(A), T(-A)), lambda: np.copysign(A, -A)),
    ("heaviside", lambda: ad.heaviside(T(X), 0.5), lambda: np.heaviside(X, 0.5)),
    ("logspace", lambda: ad.logspace(0, 2, 5), lambda: np.logspace(0, 2, 5)),
    ("logspace-base", lambda: ad.logspace(1, 3, 4, endpoint=False, base=2.0),
     lambda: np.logspace(1, 3, 4, endpoint=False, base=2.0)),
    ("identity", lambda: ad.identity(3), lambda: np.identity(3)),
    ("select", lambda: ad.select([T(A) > 0, T(A) < -1], [T(A), T(A) * 2], -5.0),
     lambda: np.select([A > 0, A < -1], [A, 2 * A], -5.0)),
    ("argmax", lambda: ad.argmax(T(A), axis=1), lambda: np.argmax(A, axis=1)),
    ("argmax-all", lambda: ad.argmax(T(A)), lambda: np.argmax(A)),
    ("argmax-nan", lambda: ad.argmax(T(X)), lambda: np.argmax(X)),
    ("argmin-keepdims", lambda: ad.argmin(T(A), axis=0, keepdims=True),
     lambda: np.argmin(A, axis=0, keepdims=True)),
    ("argmin-ties", lambda: ad.argmin(T(np.array([3.0, 1.0, 1.0]))), lambda: 1),
    ("nansum", lambda: ad.nansum(T(AN), axis=1), lambda: np.nansum(AN, axis=1)),
    ("nanmean", lambda: ad.nanmean(T(AN)), lambda: np.nanmean(AN)),
    ("average", lambda: ad.average(T(A)), lambda: np.average(A)),
    ("average-weights", lambda: ad.average(T(A), axis=1, weights=T(W)),
     lambda: np.average(A, axis=1, weights=W)),
    ("average-returned", lambda: ad.average(T(A), axis=0, returned=True)[1],
     lambda: np.average(A, axis=0, returned=True)[1]),
    ("median-even", lambda: ad.median(T(A), axis=1), lambda: np.median(A, axis=1)),
    ("median-odd", lambda: ad.median(T(A), axis=0), lambda: np.median(A, axis=0)),
    ("median-all", lambda: ad.median(T(A)), lambda: np.median(A)),
    ("median-keepdims", lambda: ad.median(T(A), axis=1, keepdims=True),
     lambda: np.median(A, axis=1, keepdims=True)),
    ("multi_dot", lambda: ad.linalg.multi_dot([T(V), T(M), T(M), T(V)]),
     lambda: np.linalg.multi_dot([V, M, M, V])),
    ("multi_dot-2d", lambda: ad.linalg.multi_dot([T(A), T(M), T(A.T)]),
     lambda: np.linalg.multi_dot([A, M, A.T])),
    ("matrix_rank", lambda: ad.linalg.matrix_rank(T(np.outer(V, V))),
     lambda: np.linalg.matrix_rank(np.outer(V, V))),
    ("matrix_rank-full", lambda: ad.linalg.matrix_rank(T(M)), lambda: np.linalg.matrix_rank(M)),
    ("cond", lambda: ad.linalg.cond(T(M)), lambda: np.linalg.cond(M)),
    ("cond-1", lambda: ad.linalg.cond(T(M), 1), lambda: np.linalg.cond(M, 1)),
    ("cond-fro", lambda: ad.linalg.cond(T(M), "fro"), lambda: np.linalg.cond(M, "fro")),
    ("tensorinv", lambda: ad.linalg.tensorinv(T(RNG.normal(size=(4, 6, 8, 3)) + 0), ind=2), None),
    ("tensorsolve-axes", lambda: ad.linalg.tensorsolve(T(_TS), T(_TB), axes=(0, 1)),
     lambda: np.linalg.tensorsolve(_TS, _TB, axes=(0, 1))),
]
_TS = RNG.normal(size=(3, 2, 6))
_TB = RNG.normal(size=6)


@pytest.mark.parametrize("name,fn,ref", VALUES, ids=[v[0] for v in VALUES])
def test_values_match_numpy(name, fn, ref):
    got = fn()
    if ref is None:  # tensorinv: the defining identity
        Ti = RNG.normal(size=(4, 6, 8, 3))
        inv = ad.linalg.tensorinv(T(Ti), ind=2).numpy()
        np.testing.assert_allclose(np.tensordot(inv, Ti, axes=2).reshape(24, 24), np.eye(24),
                                   atol=1e-9)
        return
    r = np.asarray(ref())
    g = got.numpy()
    assert g.shape == r.shape, (g.shape, r.shape)
    assert g.dtype.kind == r.dtype.kind, (g.dtype, r.dtype)
    np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, equal_nan=True)


def _fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


GRADS = [
    ("median", lambda t: ad.sum(ad.median(t ** 2, axis=1)), lambda a: np.median(a ** 2, axis=1).sum()),
    ("average", lambda t: ad.sum(ad.average(t, axis=1, weights=T(W))),
     lambda a: np.average(a, axis=1, weights=W).sum()),
    ("average-of-weights", lambda t: ad.sum(ad.average(T(A), axis=1, weights=ad.exp(t[0]))),
     lambda a: np.average(A, axis=1, weights=np.exp(a[0])).sum()),
    ("cbrt", lambda t: ad.sum(ad.cbrt(t)), lambda a: np.cbrt(a).sum()),
    ("cond", lambda t: ad.linalg.cond(t[:, :3].T @ t[:, :3] + 3 * ad.eye(3)),
     lambda a: np.linalg.cond(a[:, :3].T @ a[:, :3] + 3 * np.eye(3))),
    ("multi_dot", lambda t: ad.sum(ad.linalg.multi_dot([t, t.T, t])),
     lambda a: np.linalg.multi_dot([a, a.T, a]).sum()),
    ("nanmean", lambda t: ad.nanmean(ad.where(T(np.isnan(AN)), np.nan, t)),
     lambda a: np.nanmean(np.where(np.isnan(AN), np.nan, a))),
    ("inner", lambda t: ad.sum(ad.inner(t, t)), lambda a: np.inner(a, a).sum()),
    ("copysign", lambda t: ad.sum(ad.copysign(t, -1.0)), lambda a: np.copysign(a, -1.0).sum()),
    ("dot", lambda t: ad.sum(ad.dot(t, T(M)) ** 2), lambda a: (np.dot(a, M) ** 2).sum()),
    ("vstack", lambda t: ad.sum(ad.vstack([t, ad.sin(t)]) ** 2),
     lambda a: (np.vstack([a, np.sin(a)]) ** 2).sum()),
    ("select", lambda t: ad.sum(ad.select([t > 0.5, t < -0.5], [t ** 2, ad.sin(t)], 0.0)),
     lambda a: np.select([a > 0.5, a < -0.5], [a ** 2, np.sin(a)], 0.0).sum()),
    ("heaviside", lambda t: ad.sum(ad.heaviside(T(np.array([0.0, 1.0, 0.0, -1.0])), t[0])),
     lambda a: np.heaviside(np.array([0.0, 1.0, 0.0, -1.0]), a[0]).sum()),
    ("tensorsolve", lambda t: ad.sum(ad.linalg.tensorsolve(
        ad.reshape(t[:, :2].T @ t[:, :2] + 2 * ad.eye(2), (2, 2)), T(np.array([1.0, 2.0])))),
     lambda a: np.linalg.solve(a[:, :2].T @ a[:, :2] + 2 * np.eye(2), [1.0, 2.0]).sum()),
]


@pytest.mark.parametrize("name,f,nf", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_match_central_differences(name, f, nf):
    g = ad.grad(f)(T(A)).numpy()
    np.testing.assert_allclose(g, _fd(nf, A), rtol=1e-6, atol=1e-7)


def test_derivatives_match_torch_in_both_modes():
    cases = [(ad.cbrt, lambda x: torch.sign(x) * torch.abs(x) ** (1 / 3)),
             (lambda x: ad.median(x, axis=1), lambda x: torch.quantile(x, 0.5, dim=1)),
             (lambda x: ad.average(x, axis=0), lambda x: torch.mean(x, 0)),
             (lambda x: ad.inner(x, x), lambda x: torch.inner(x, x)),
             (lambda x: ad.linalg.cond(x[:, :3].T @ x[:, :3] + ad.eye(3)),
              lambda x: torch.linalg.cond(x[:, :3].T @ x[:, :3] + torch.eye(3, dtype=x.dtype)))]
    for f, tf in cases:
        ref = torch.func.jacrev(tf)(torch.tensor(A)).numpy()
        for jac in (ad.jacfwd, ad.jacrev):
            np.testing.assert_allclose(jac(f)(T(A)).numpy(), ref, rtol=1e-9, atol=1e-12)


def test_batched_and_jitted_like_eager():
    f = lambda r: ad.median(ad.sin(r)) + ad.nanmean(r) * ad.average(r, weights=T(W))
    g = ad.vmap(ad.jacrev(f))
    np.testing.assert_allclose(ad.jit(g)(T(A)).numpy(), g(T(A)).numpy(), rtol=1e-13)
    rows = np.stack([ad.jacrev(f)(T(r)).numpy() for r in A])
    np.testing.assert_allclose(g(T(A)).numpy(), rows, rtol=1e-13)
    np.testing.assert_array_equal(ad.vmap(lambda r: ad.argmax(r))(T(A)).numpy(), np.argmax(A, 1))


def test_numpy_calls_on_tensors_dispatch_here():
    t = T(A)
    for call in (lambda m: m.vstack([t, t]), lambda m: m.argmax(t, axis=0),
                 lambda m: m.median(t), lambda m: m.isnan(t), lambda m: m.cbrt(t),
                 lambda m: m.linalg.cond(T(M))):
        assert isinstance(call(np), ad.Tensor)
    g = ad.grad(lambda x: np.median(np.vstack([x, x]) ** 2))(t)
    assert isinstance(g, ad.Tensor) and g.shape == t.shape


@pytest.mark.cudasim
def test_on_cudasim_without_host_round_trips():
    x = ad.tensor(A, device="cudasim")
    for f, ref in ((lambda v: ad.median(v, axis=1), np.median(A, axis=1)),
                   (lambda v: ad.argmax(v, axis=1), np.argmax(A, axis=1)),
                   (lambda v: ad.vstack([v, v]), np.vstack([A, A])),
                   (lambda v: ad.average(v, axis=0), np.average(A, axis=0))):
        out = f(x)
        assert out.device == "cudasim"
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-13)


@pytest.mark.parametrize("call,match", [
    (lambda: ad.vstack(T(A)), "argument 'tup'"),
    (lambda: ad.hstack([]), "argument 'tup'"),
    (lambda: ad.flipud(T(2.0)), "argument 'm'"),
    (lambda: ad.fliplr(T(V)), "argument 'm'"),
    (lambda: ad.inner(T(A), T(V[:3])), "last axes"),
    (lambda: ad.select([T(A) > 0], [T(A), T(A)]), "'choicelist'"),
    (lambda: ad.select([T(A)], [T(A)]), "must be bool"),
    (lambda: ad.argmax(T(A), axis=2), "argument 'axis'"),
    (lambda: ad.argmax(T(np.zeros((0, 2))), axis=0), "empty"),
    (lambda: ad.average(T(A), axis=1, weights=T(W[:3])), "argument 'weights'"),
    (lambda: ad.median(T(np.zeros((2, 0))), axis=1), "empty"),
    (lambda: ad.linalg.multi_dot([T(M)]), "at least two"),
    (lambda: ad.linalg.tensorinv(T(A), ind=1), "not square"),
    (lambda: ad.linalg.tensorsolve(T(A), T(V)), "square system"),
    (lambda: ad.cbrt(T(np.arange(3))), "real floating"),
])
def test_bad_input_names_the_function_and_argument(call, match):
    with pytest.raises((ad.GpuadValueError, ad.GpuadTypeError), match=match):
        call()


def test_ndarray_methods_follow_numpy():
    B = RNG.normal(size=(3, 3, 2))
    t = T(B)
    np.testing.assert_array_equal(t.argmax().numpy(), B.argmax())
    np.testing.assert_array_equal(t.argmin(axis=1).numpy(), B.argmin(axis=1))
    np.testing.assert_allclose(T(A).dot(T(V)).numpy(), A.dot(V))
    np.testing.assert_allclose(t.diagonal().numpy(), B.diagonal())      # axes 0 and 1
    np.testing.assert_allclose(t.trace().numpy(), B.trace())
    np.testing.assert_allclose(t.trace(offset=1, axis1=1, axis2=2).numpy(),
                               B.trace(offset=1, axis1=1, axis2=2))
    np.testing.assert_allclose(t.swapaxes(0, 2).numpy(), B.swapaxes(0, 2))
    np.testing.assert_allclose(t.take([0, 2], axis=1).numpy(), B.take([0, 2], axis=1))
    z = T(A + 2j * A)
    np.testing.assert_allclose(z.conj().numpy(), (A + 2j * A).conj())
    np.testing.assert_allclose(z.conjugate().numpy(), (A + 2j * A).conjugate())
    g = ad.grad(lambda x: x.dot(x).trace() + x.diagonal().sum())(T(M))
    np.testing.assert_allclose(g.numpy(), 2 * M.T + np.eye(4), rtol=1e-12)
