"""jit's graph rewrites and cpu code generation: static scatters become fusable
selects, loops are collapsed, basis vectors are folded into unrolled code, the parallel
driver agrees with the serial body, and reused buffers never alias results."""
import numba
import numpy as np
import pytest

import gpuad as ad
from gpuad.jit import codegen_cpu


def det3(F):
    return (F[0, 0] * (F[1, 1] * F[2, 2] - F[1, 2] * F[2, 1])
            - F[0, 1] * (F[1, 0] * F[2, 2] - F[1, 2] * F[2, 0])
            + F[0, 2] * (F[1, 0] * F[2, 1] - F[1, 1] * F[2, 0]))


def energy(F):
    lnJ = ad.log(det3(F))
    return 0.5 * (ad.sum(F * F) - 3.0) - lnJ + 0.7 * lnJ * lnJ


@pytest.fixture
def F(rng):
    return ad.tensor(np.eye(3) + 0.1 * rng.normal(size=(6, 3, 3)))


@pytest.mark.parametrize("transform", [ad.jacrev, ad.jacfwd, ad.hessian])
def test_component_indexing_jacobians_match_eager(transform, F):
    g = ad.vmap(transform(energy))
    np.testing.assert_allclose(ad.jit(g)(F).numpy(), g(F).numpy(), rtol=1e-12, atol=1e-12)


def test_static_scatters_are_rewritten_and_fused(F):
    jg = ad.jit(ad.vmap(ad.jacrev(energy)))
    graph = jg.lower(F)
    assert "scatter_add" not in {e.prim.name for e in graph.eqns}
    jg(F)
    with ad.count_launches() as c:
        jg(F)
    assert "scatter_add" not in c.by_op
    # the 9 component reads stay gathers; all the arithmetic is in three fused kernels
    assert sum(n for op, n in c.by_op.items() if op.startswith("fused:")) <= 3, c.by_op


def test_array_index_scatters_are_kept(rng):
    # an integer-array index may repeat: that scatter accumulates and is not a select
    f = lambda x: ad.sum(x[np.array([0, 2, 2])] ** 2)
    x = ad.tensor(rng.normal(size=4))
    jg = ad.jit(ad.grad(f))
    assert "scatter_add" in {e.prim.name for e in jg.lower(x).eqns}
    np.testing.assert_allclose(jg(x).numpy(), ad.grad(f)(x).numpy(), rtol=1e-14)


@pytest.mark.parametrize("shape,ins,loop,loop_ins", [
    ((7, 9, 1, 3, 3), [(7, 9, 1, 1, 1), (1, 1, 1, 3, 3)], (63, 9), [(63, 1), (1, 9)]),
    ((7, 9, 3), [(7, 1, 1), (1, 9, 3)], (7, 27), [(7, 1), (1, 27)]),
    ((5, 4), [(5, 4), (5, 4)], (20,), [(20,), (20,)]),
    ((5, 4, 3), [(4, 3), (5, 1, 1)], (5, 12), [(1, 12), (5, 1)]),
    ((1, 1), [(1,)], (1,), [(1,)]),
    ((), [()], (1,), [(1,)]),
])
def test_collapse_merges_axes_that_broadcast_alike(shape, ins, loop, loop_ins):
    assert codegen_cpu.collapse(shape, ins) == (loop, loop_ins)


def test_identity_basis_is_folded_into_the_kernel(rng):
    # jacfwd of a pointwise f: the basis is eye(n); folded, no kernel multiplies by it
    jg = ad.jit(ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * x)))
    x = ad.tensor(rng.normal(size=(10, 4)))
    np.testing.assert_allclose(jg(x).numpy(), ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * x))(x).numpy(),
                               rtol=1e-14)
    plan = next(iter(jg._cache.values()))[0]
    groups = [s[1] for s in plan.steps if s[0] == "group"]
    srcs = [open(st.module.__file__).read() for st in groups]
    assert any("q0[i0, 3, 3] = " in s for s in srcs)        # unrolled, one store per entry
    assert any("q0[i0, 0, 1] = 0.0" in s for s in srcs)     # an off-diagonal zero, folded


def test_structural_zeros_are_zero_under_jit(rng):
    # NOTE [jit folds constant zeros]: eager jacfwd multiplies the basis by an infinite
    # partial (0 * inf = nan off the diagonal); jit folds the zero, as a symbolic zero does
    x = ad.tensor(np.array([0.0, 1.0, 4.0]))
    f = lambda x: 2.0 * ad.sqrt(x) + x
    with np.errstate(invalid="ignore"):
        eager = ad.jacfwd(f)(x).numpy()
        jf = ad.jit(ad.jacfwd(f))
        jf(x)                     # the tracing call computes eagerly
        J = jf(x).numpy()
    assert np.isnan(eager[0, 1])
    np.testing.assert_array_equal(np.diag(J), [np.inf, 2.0, 1.5])
    assert (J[~np.eye(3, dtype=bool)] == 0).all()


def test_parallel_driver_matches_serial_body(rng, monkeypatch):
    jit_mod = __import__("sys").modules["gpuad.jit"]
    monkeypatch.setattr(jit_mod, "_PARALLEL_MIN", 1)
    g = ad.vmap(ad.jacfwd(lambda x: ad.tanh(x) * ad.exp(x) + x * ad.sum(x)))
    x = ad.tensor(rng.normal(size=(37, 5)))
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        out = ad.jit(g)(x)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_allclose(out.numpy(), g(x).numpy(), rtol=1e-13)


def test_reused_buffers_never_alias_results(rng):
    # intermediates are pooled between calls (NOTE [jit buffer pool]); outputs, and
    # views of intermediates that are returned, must survive the next call
    def f(x):
        y = ad.sin(x) * 2.0
        return y.reshape(-1), ad.exp(y) + 1.0
    jf = ad.jit(f)
    x1, x2 = (ad.tensor(rng.normal(size=(8, 3))) for _ in range(2))
    jf(x1)                      # traces
    r1 = jf(x1)                 # compiled, fills the pool
    a1, b1 = (t.numpy().copy() for t in r1)
    jf(x2)                      # reuses the pooled buffers
    np.testing.assert_array_equal(r1[0].numpy(), a1)
    np.testing.assert_array_equal(r1[1].numpy(), b1)
    jf.clear_cache()
    assert jf.cache_info() == []
