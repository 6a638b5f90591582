"""jit on the cpu runs row-separable plans in tiles of rows (NOTE [row tiles]): the
analysis accepts per-row programs and refuses anything that mixes rows, and a tiled
plan gives the untiled numbers, results, launch counts and buffer lifetimes."""
import sys

import numba
import numpy as np
import pytest

import gpuad as ad
from bench.workloads import neohookean
from gpuad.jit import rows

jit_mod = sys.modules["gpuad.jit.plan"]  # where plans are lowered
TILE = 16
N = 3 * TILE + 5  # three full tiles and a short one


@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setattr(jit_mod, "_TILE_ROWS", (TILE, TILE))
    # these small calls would run as one cpu row program (NOTE [cpu row programs]);
    # here they stand in for large batches, which run in tiles
    monkeypatch.setattr(jit_mod, "_CPU_ROW_PROGRAMS", False)


energy = neohookean.gpuad_fn(ad)  # W(F) through 3x3 component reads


_rng = np.random.default_rng(3)
W1, b1, W2 = _rng.normal(size=(8, 2)), _rng.normal(size=8), _rng.normal(size=(8, 8))


def mlp(x):
    h = ad.tanh(ad.tensor(W1) @ x + ad.tensor(b1))
    return ad.sum(ad.tanh(ad.tensor(W2) @ h))


def pointwise(x):
    return ad.sin(x) * ad.exp(-(x * x)) + x * ad.sum(x)


def solve3(x):
    A = ad.reshape(x[:9], (3, 3)) + 3.0 * ad.eye(3)
    return ad.linalg.solve(A, x[9:12].reshape(3, 1)).reshape(3) * ad.linalg.det(A)


CASES = [
    ("energy-jacrev", ad.vmap(ad.jacrev(energy)), (3, 3)),
    ("energy-hessian", ad.vmap(ad.hessian(energy)), (3, 3)),
    ("mlp-jacrev", ad.vmap(ad.jacrev(mlp)), (2,)),
    ("mlp-hessian", ad.vmap(ad.hessian(mlp)), (2,)),
    ("pointwise-jacfwd", ad.vmap(ad.jacfwd(pointwise)), (4,)),   # ends in a transpose
    ("pointwise-jacrev", ad.vmap(ad.jacrev(pointwise)), (4,)),
    ("linalg-jacfwd", ad.vmap(ad.jacfwd(solve3)), (12,)),
    ("two-results", ad.vmap(lambda x: (ad.exp(x), ad.sum(x * x))), (5,)),
    ("value-and-grad", ad.vmap(ad.grad_and_value(mlp)), (2,)),
]


@pytest.mark.parametrize("name,g,cell", CASES, ids=[c[0] for c in CASES])
def test_tiled_plans_match_eager(name, g, cell, small_tiles, rng):
    x = ad.tensor(0.2 * rng.normal(size=(N,) + cell) + (np.eye(3) if cell == (3, 3) else 0))
    jg = ad.jit(g)
    jg(x)                                    # traces (and computes eagerly)
    assert jg.cache_info()[0]["tile_rows"] == TILE
    got, want = jg(x), g(x)
    as_tuple = lambda r: r if isinstance(r, tuple) else (r,)
    assert len(as_tuple(got)) == len(as_tuple(want))
    for a, b in zip(as_tuple(got), as_tuple(want)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-13)


def test_weights_passed_as_arguments_stay_whole(small_tiles, rng):
    def u(x, W):
        return ad.sum(ad.tanh(W @ x))
    g = ad.vmap(ad.jacrev(u), in_dims=(0, None))
    x, W = ad.tensor(rng.normal(size=(N, 3))), ad.tensor(rng.normal(size=(6, 3)))
    jg = ad.jit(g)
    jg(x, W)
    assert jg.cache_info()[0]["tile_rows"] == TILE
    np.testing.assert_allclose(jg(x, W).numpy(), g(x, W).numpy(), rtol=1e-13)


@pytest.mark.parametrize("f", [
    lambda x: x - ad.mean(x, axis=0),            # a sum over the rows
    lambda x: x.T @ x,                            # a contraction over the rows
    lambda x: ad.cumsum(x, axis=0),               # a scan along the rows
    lambda x: ad.flip(x, axis=0) * x,             # rows reordered
    lambda x: x[np.array([2, 0, 1])] * 2.0,       # rows gathered
    lambda x: ad.reshape(x, (-1,)) * 2.0,         # rows merged into one axis
    lambda x: ad.transpose(x) * 1.0,              # rows moved off axis 0
], ids=["mean0", "gram", "cumsum0", "flip0", "take0", "flatten", "transpose"])
def test_programs_that_mix_rows_are_not_tiled(f, small_tiles, rng):
    x = ad.tensor(rng.normal(size=(N, 4)))
    jf = ad.jit(f)
    jf(x)
    assert jf.cache_info()[0]["tile_rows"] is None
    assert rows.analyze(jf.lower(x)) is None
    np.testing.assert_allclose(jf(x).numpy(), f(x).numpy(), rtol=1e-13)


def test_per_row_programs_are_recognized(rng):
    x = ad.tensor(rng.normal(size=(N, 3, 3)) + np.eye(3))
    graph = ad.jit(ad.vmap(ad.hessian(energy))).lower(x)
    r = rows.analyze(graph)
    assert r is not None and r.n == N and r.row_bytes > 0
    assert graph.inputs[0].id in r.ids


def test_small_batches_run_untiled(small_tiles, rng):
    jf = ad.jit(ad.vmap(ad.jacrev(mlp)))
    x = ad.tensor(rng.normal(size=(TILE + 3, 2)))   # fewer than two tiles
    jf(x)
    with ad.count_launches() as c:
        out = jf(x)
    np.testing.assert_allclose(out.numpy(), ad.vmap(ad.jacrev(mlp))(x).numpy(), rtol=1e-13)
    assert c.launches > 0


def test_tiles_count_launches_once_per_kernel(small_tiles, monkeypatch, rng):
    g = ad.vmap(ad.hessian(energy))
    x = ad.tensor(np.eye(3) + 0.1 * rng.normal(size=(N, 3, 3)))
    tiled = ad.jit(g)
    tiled(x)
    with ad.count_launches() as c_tiled:
        tiled(x)
    monkeypatch.setattr(jit_mod, "_TILE_ROWS", (10 * N, 10 * N))
    untiled = ad.jit(g)
    untiled(x)
    assert untiled.cache_info()[0]["tile_rows"] is not None  # tiles of more rows than N...
    with ad.count_launches() as c_untiled:
        untiled(x)                                  # ...so it runs untiled
    assert c_tiled.by_op == c_untiled.by_op


def test_tiled_results_survive_the_next_call(small_tiles, rng, monkeypatch):
    # results this small would be plain np.empty arrays (NOTE [small buffers]), whose
    # address after a free is malloc's choice; the pool's reuse is what is checked here
    from gpuad.jit import buffers
    monkeypatch.setattr(buffers, "_SMALL", 0)
    jf = ad.jit(ad.vmap(ad.jacfwd(pointwise)))
    x1, x2 = (ad.tensor(rng.normal(size=(N, 4))) for _ in range(2))
    jf(x1)
    r1 = jf(x1)
    keep = r1.numpy().copy()
    r2 = jf(x2)
    np.testing.assert_array_equal(r1.numpy(), keep)
    np.testing.assert_allclose(r2.numpy(), ad.vmap(ad.jacfwd(pointwise))(x2).numpy(), rtol=1e-13)
    ptr = r1.numpy().__array_interface__["data"][0]
    del r1
    r3 = jf(x1)                                   # r1's buffer comes back once dropped
    assert r3.numpy().__array_interface__["data"][0] == ptr
    np.testing.assert_array_equal(r3.numpy(), keep)


def test_tiles_on_two_threads_match_one(small_tiles, rng):
    g = ad.vmap(ad.hessian(mlp))
    x = ad.tensor(rng.normal(size=(5 * TILE + 7, 2)))
    jg = ad.jit(g)
    jg(x)                                         # traces (computes eagerly)
    one = jg(x).numpy()                           # compiled, one thread
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        for _ in range(3):
            np.testing.assert_allclose(jg(x).numpy(), one, rtol=1e-14)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_allclose(one, g(x).numpy(), rtol=1e-12)
