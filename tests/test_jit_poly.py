"""NOTE [row-polymorphic plans]: ``ad.jit`` of a ``vmap`` over a large batch traces the
function at a probe of a few rows and runs the plan on every row of the call. The
results must equal eager mode's, for tiled plans and row kernels alike; and whatever
does not qualify (another transform on top, other in/out dims, chunking, a graph that
could depend on the batch) is traced as before, at the call's rows."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import gpuad as ad
from gpuad.jit import function as jf

PROBE = 11
MIN_ROWS = 40


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(jf, "_POLY_MIN_ROWS", MIN_ROWS)
    monkeypatch.setattr(jf, "_PROBE_ROWS", PROBE)


def _plan(J):
    (entry,) = J._cache.values()
    return entry[0]


def _pointwise(x):  # n = 5
    return ad.sin(x) * ad.exp(-x * x) + x * ad.sum(x)


def _energy(F):  # neo-Hookean, a (3, 3) per row: light rows, a row kernel on the cpu
    C = F.T @ F
    J = ad.linalg.det(F)
    return 0.5 * (ad.trace(C) - 3.0) - ad.log(J) + 0.25 * (J - 1.0) ** 2


_W1 = np.random.default_rng(3).normal(size=(6, 2))
_W2 = np.random.default_rng(4).normal(size=(1, 6))


def _mlp(x):  # weights from the closure
    h = ad.tanh(ad.tensor(_W1) @ x + 0.1)
    return (ad.tensor(_W2) @ h)[0]


def _padded_prod(y):  # a constant of equal rows after vmap: a padding species of 1
    yp = ad.concat([y, ad.ones((1,), dtype=y.dtype)])
    idx = np.array([[0, 1], [2, 4], [3, 3], [1, 4]])
    return ad.prod(yp[idx], axis=-1) * ad.tensor([1.0, 2.0, 3.0, 4.0])


def _input(name, B, seed=0):
    rng = np.random.default_rng(seed)
    if name == "energy":
        return np.eye(3) + 0.1 * rng.normal(size=(B, 3, 3))
    if name == "mlp":
        return rng.normal(size=(B, 2))
    if name == "padded_prod":
        return rng.uniform(0.5, 2.0, size=(B, 4))
    return rng.normal(size=(B, 5))


CASES = [("pointwise", _pointwise, ad.jacfwd), ("pointwise", _pointwise, ad.jacrev),
         ("energy", _energy, ad.grad), ("energy", _energy, ad.hessian),
         ("mlp", _mlp, ad.jacrev), ("mlp", _mlp, ad.hessian),
         ("padded_prod", _padded_prod, ad.jacfwd), ("padded_prod", _padded_prod, ad.jacrev)]


@pytest.mark.parametrize("name,f,transform", CASES,
                         ids=[f"{c[0]}-{c[2].__name__}" for c in CASES])
def test_a_probe_traced_plan_runs_every_row(name, f, transform):
    B = 103  # not a multiple of the probe nor of a tile
    x = _input(name, B)
    J = ad.jit(ad.vmap(transform(f)))
    got = J(ad.tensor(x)).numpy()
    want = ad.vmap(transform(f))(ad.tensor(x)).numpy()
    plan = _plan(J)
    assert plan.poly and plan.graph.inputs[0].shape[0] == PROBE
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    x2 = _input(name, B, seed=1)  # a second call (the fast path) on new values
    np.testing.assert_allclose(J(ad.tensor(x2)).numpy(),
                               ad.vmap(transform(f))(ad.tensor(x2)).numpy(), rtol=1e-12, atol=1e-13)
    assert J.trace_count == 1


def test_each_batch_size_gets_its_own_probe_plan():
    J = ad.jit(ad.vmap(ad.jacfwd(_pointwise)))
    for B in (MIN_ROWS, 4 * MIN_ROWS + 3):
        x = _input("pointwise", B, seed=B)
        np.testing.assert_allclose(J(ad.tensor(x)).numpy(),
                                   ad.vmap(ad.jacfwd(_pointwise))(ad.tensor(x)).numpy(), rtol=1e-12)
    assert J.trace_count == 2
    assert all(e[0].poly for e in J._cache.values())


def test_large_row_tiles_cover_the_call(monkeypatch):
    # a tiled plan whose tiles hold more rows than the probe: the equal-rows constant
    # and every row of the results are still right
    from gpuad.jit import plan as jp
    monkeypatch.setattr(jp, "_ROW_KERNELS", False)
    B = 1000
    x = _input("padded_prod", B)
    J = ad.jit(ad.vmap(ad.jacrev(_padded_prod)))
    got = J(ad.tensor(x)).numpy()
    plan = _plan(J)
    assert plan.poly and plan.row_kernel is None and plan.tile > PROBE
    np.testing.assert_allclose(got, ad.vmap(ad.jacrev(_padded_prod))(ad.tensor(x)).numpy(),
                               rtol=1e-12)


def _traced_at(J):
    return _plan(J).graph.inputs[0].shape[0]


def _sum_sin(x):
    return ad.sum(ad.sin(x))


def _wrapping(v):
    @functools.wraps(v)  # copies vmap's mark onto a function that may do anything
    def outer(x):
        return v(x[::-1])
    return outer


_X = _input("pointwise", 2 * MIN_ROWS)
NOT_QUALIFYING = {
    "jacfwd-of-vmap": (lambda: ad.jacfwd(ad.vmap(_sum_sin)), _X[:, :2]),
    "in_dims": (lambda: ad.vmap(ad.sin, in_dims=1), _X.T.copy()),
    "out_dims": (lambda: ad.vmap(ad.sin, out_dims=1), _X),
    "chunked": (lambda: ad.vmap(ad.sin, chunk_size=16), _X),
    "wrapped": (lambda: _wrapping(ad.vmap(ad.sin)), _X),
    "lambda": (lambda: (lambda x: ad.vmap(ad.sin)(x)), _X),
}


@pytest.mark.parametrize("case", list(NOT_QUALIFYING))
def test_what_does_not_qualify_is_traced_at_the_call_rows(case):
    make, x = NOT_QUALIFYING[case]
    fn = make()
    want = fn(ad.tensor(x)).numpy()
    J = ad.jit(fn)
    np.testing.assert_allclose(J(ad.tensor(x)).numpy(), want, rtol=1e-12)
    assert not _plan(J).poly and _traced_at(J) != PROBE


def test_in_dims_other_than_zero_trace_as_before():
    B = 2 * MIN_ROWS
    x = _input("pointwise", B)
    w = np.arange(5.0)
    J = ad.jit(ad.vmap(lambda a, b: a * b, in_dims=(0, None)))
    np.testing.assert_allclose(J(ad.tensor(x), ad.tensor(w)).numpy(), x * w)
    assert not _plan(J).poly


def test_small_batches_and_background_compiles_trace_as_before():
    x = _input("pointwise", MIN_ROWS - 1)
    J = ad.jit(ad.vmap(ad.jacfwd(_pointwise)))
    J(ad.tensor(x))
    assert not _plan(J).poly and _traced_at(J) == MIN_ROWS - 1
    Jb = ad.jit(ad.vmap(ad.jacfwd(_pointwise)), compile="background")
    xb = _input("pointwise", 2 * MIN_ROWS)
    first = Jb(ad.tensor(xb)).numpy()  # eager values while the plan compiles
    Jb.wait()
    np.testing.assert_allclose(first, ad.vmap(ad.jacfwd(_pointwise))(ad.tensor(xb)).numpy(),
                               rtol=1e-12)


def test_batched_indices_stay_correct():
    # a gather whose indices are batched: its batching rule builds batch-sized index
    # arrays, which a probe-sized plan must not reuse at the call's rows
    B = 2 * MIN_ROWS + 1
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, 6))
    i = rng.integers(0, 6, size=(B, 3))
    f = ad.vmap(lambda a, k: ad.sin(a[k]) * a[0])
    J = ad.jit(f)
    np.testing.assert_allclose(J(ad.tensor(x), ad.tensor(i)).numpy(),
                               f(ad.tensor(x), ad.tensor(i)).numpy(), rtol=1e-12)
    g = ad.jit(ad.vmap(ad.jacrev(lambda a, k: ad.sin(a[k]) * a[0])))
    np.testing.assert_allclose(g(ad.tensor(x), ad.tensor(i)).numpy(),
                               ad.vmap(ad.jacrev(lambda a, k: ad.sin(a[k]) * a[0]))(
                                   ad.tensor(x), ad.tensor(i)).numpy(), rtol=1e-12)


def test_an_error_is_the_one_the_call_rows_give():
    def bad(x):
        return x @ ad.ones((7,))  # x has 5 entries per row
    x = ad.tensor(_input("pointwise", 2 * MIN_ROWS))
    with pytest.raises(ad.GpuadValueError, match="matmul"):
        ad.jit(ad.vmap(bad))(x)


@pytest.mark.cudasim
def test_cudasim_row_kernel_serves_the_call_rows(monkeypatch):
    monkeypatch.setattr(jf, "_POLY_MIN_ROWS", 6)
    monkeypatch.setattr(jf, "_PROBE_ROWS", 5)  # not 3: the rows hold 3 x 3 matrices
    B = 8
    x = _input("energy", B)
    J = ad.jit(ad.vmap(ad.grad(_energy)))
    first = J(ad.tensor(x, device="cudasim"))  # traced at the probe's rows, then run
    plan = _plan(J)
    assert plan.poly and plan.row_kernel is not None
    with ad.count_launches() as c:
        got = J(ad.tensor(x, device="cudasim"))
    assert c.launches == 1
    np.testing.assert_allclose(first.numpy(), got.numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(got.numpy(), ad.vmap(ad.grad(_energy))(ad.tensor(x)).numpy(),
                               rtol=1e-12)
