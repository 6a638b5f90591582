"""Whole-plan row kernels (NOTE [row programs] in gpuad/jit/rowplan.py).

A row-separable jitted plan on a GPU device is ONE kernel, a thread per row, every
intermediate in the thread's registers or local memory. The row program (the lowered
IR) is rendered for two targets from one body; the ``cpu`` rendering, compiled with
Numba here, checks the IR on many shapes quickly, and the ``cuda`` rendering runs on
the strict simulator for exact launch counts and results. Tiny shapes on cudasim.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpuad as ad
from gpuad.backends import get_backend
from gpuad.jit import codegen_rows, rowplan, rows
from gpuad.kernels import cache

SIM = "cudasim"


def _program(f, *args):
    g = ad.jit(f).lower(*args)
    r = rows.analyze(g)
    assert r is not None, "the plan should be row-separable"
    prog = rowplan.lower(g, r)
    assert prog is not None, "every equation should have a row form"
    return g, prog


def _run_cpu(g, prog, args):
    """The program's ``cpu`` rendering, compiled with Numba, on ``args`` (host arrays)."""
    src, _ = codegen_rows.source(prog, "cpu")
    fn = cache.load_source("rowstest", src).rowplan  # compiled by Numba (njit)
    env = {k: np.asarray(v) for k, v in g.consts.items()}
    env.update((v.id, a) for v, a in zip(g.inputs, args))
    be = get_backend("cpu")
    for e in prog.prologue:
        env[e.out.id] = e.prim.impl(be, *[env[v.id] for v in e.inputs], **e.params)
    xs = [np.ascontiguousarray(env[s.var.id]).reshape(prog.n, -1) for s in prog.inputs]
    as_ = [np.ascontiguousarray(env[s.var[1] if isinstance(s.var, tuple) else s.var.id]).reshape(-1)
           for s in prog.args]
    outs = [np.empty((prog.n, s.size), dtype=s.dtype) for s in prog.outs]
    fn(0, prog.n, 1, *xs, *as_, *outs)
    return [outs[store.index].reshape(o.shape) for o, (store, _) in zip(g.outputs, prog.outputs)]


def _check(f, *arrays, rtol=1e-12):
    tensors = [ad.tensor(a) for a in arrays]
    g, prog = _program(f, *tensors)
    got = _run_cpu(g, prog, arrays)
    want = f(*tensors)
    want = want if isinstance(want, (tuple, list)) else [want]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b.numpy(), rtol=rtol, atol=1e-14)
    return prog


RNG = np.random.default_rng(0)


def test_views_move_nothing():
    # transposes, reshapes, broadcasts and component reads are maps of one store
    def f(x):
        y = ad.transpose(x, (0, 2, 1)) * 2.0
        return ad.reshape(y, (x.shape[0], 12)) + x[:, 1:2, 0].sum(axis=1, keepdims=True)
    prog = _check(f, RNG.normal(size=(5, 3, 4)))
    assert len(prog.nests) <= 3  # the sum, the elementwise result (no copies)


def test_gather_with_an_index_table_and_flips():
    idx = np.array([2, 0, 1, 1, 3])
    prog = _check(ad.vmap(lambda x: x[idx] * ad.flip(x, 0)[idx]), RNG.normal(size=(4, 4)))
    src, _ = codegen_rows.source(prog, "cuda")
    assert "T0 = np.frombuffer" in src  # a non-affine map reads a constant table


@pytest.mark.parametrize("op", ["max", "min", "prod", "sum"])
def test_reductions_and_nan(op):
    x = RNG.normal(size=(4, 3, 5))
    x[1, 2, 3] = np.nan
    fn = getattr(ad, op)
    _check(lambda x: fn(x, axis=2) + fn(x, axis=(1, 2), keepdims=True)[:, :, 0], x)


def test_einsum_with_a_diagonal_and_a_constant():
    W = RNG.normal(size=(3, 2))
    _check(ad.vmap(lambda a: ad.einsum("ii->i", a)[:2] + ad.einsum("ij,jk->k", a, W)),
           RNG.normal(size=(4, 3, 3)))


def test_scatter_add_accumulates_repeated_indices():
    idx = np.array([0, 2, 2, 1, 0])
    _check(ad.vmap(ad.jacrev(lambda x: ad.sum(x[idx] ** 2))), RNG.normal(size=(3, 4)))


def test_concat_with_a_constant_column():
    def rhs(y):
        yp = ad.concat([y, ad.ones((1,), dtype=y.dtype)])
        return yp * ad.sum(yp)
    _check(ad.vmap(ad.jacfwd(rhs)), RNG.normal(size=(6, 3)))


def test_dtypes_where_and_casts():
    def f(x):
        m = x > 0.0
        i = ad.astype(x * 10.0, np.int64)
        return ad.where(m, x, -x) + ad.astype(i, x.dtype), ad.astype(m, np.float64)
    _check(f, RNG.normal(size=(5, 3)))
    _check(ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * x)), RNG.normal(size=(4, 3)).astype(np.float32),
           rtol=1e-6)


def test_local_arrays_are_reused():
    # a long chain of (n, n) values needs a few buffers, not one per value
    def f(x):
        for _ in range(12):
            x = ad.sin(x) + ad.transpose(x, (0, 2, 1))
        return x
    g, prog = _program(f, ad.tensor(RNG.normal(size=(3, 4, 4))))
    _, buffers = codegen_rows.source(prog, "cuda")
    assert len(prog.locals) >= 12 and len(buffers) <= 4


def test_a_plan_too_big_for_a_row_stays_library_kernels():
    from bench.workloads import WORKLOADS
    w = WORKLOADS["kinetics[power]"]
    f = ad.jit(ad.vmap(ad.jacfwd(w.gpuad_fn(ad, "cpu"))))
    g = f.lower(ad.tensor(w.make_input(2, 0)))
    prog = rowplan.lower(g, rows.analyze(g))
    _, buffers = codegen_rows.source(prog, "cuda")
    assert sum(size * dt.itemsize for _, size, dt in buffers) > rowplan.LOCAL_MAX
    from gpuad.jit import row_kernel
    assert row_kernel.build(prog, g, SIM) is None


# -- on the simulator: one launch, the cpu's numbers --------------------------------
def _steady(f):
    f()
    with ad.count_launches() as c:
        r = f()
    return c, r


@pytest.mark.cudasim
def test_small_function_is_one_kernel_on_cudasim():
    idx = np.array([1, 0, 0])

    def f(x):
        return ad.vmap(ad.jacfwd(lambda v: ad.tanh(v[idx]) * ad.sum(v)))(x)

    xn = RNG.normal(size=(3, 2))
    jf = ad.jit(f)
    x = ad.tensor(xn, device=SIM)
    c, got = _steady(lambda: jf(x))
    assert c.launches == 1 and c.transfers == 0
    assert list(c.by_op) == ["fused:rows"]
    np.testing.assert_allclose(got.numpy(), f(ad.tensor(xn)).numpy(), rtol=1e-12, atol=1e-14)
    assert jf.cache_info()[0]["kernels"] == 1


_FAST = ["pointwise", "kinetics", "neohookean", "mlp_pinn", "neohookean[det]",
         "mlp_pinn[rowvec]"]


def _rows():
    from bench.workloads import WORKLOADS
    out = []
    for name in _FAST + ["kinetics[gather]"]:
        for method in WORKLOADS[name].METHODS:
            slow = name == "kinetics[gather]" or method == "hessian"
            out.append(pytest.param(name, method, marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.cudasim
@pytest.mark.parametrize("name,method", _rows())
def test_bench_rows_are_one_kernel_at_every_batch(name, method):
    from bench.workloads import WORKLOADS
    w = WORKLOADS[name]
    T = {"jacfwd": ad.jacfwd, "jacrev": ad.jacrev, "hessian": ad.hessian}[method]
    f = ad.jit(ad.vmap(T(w.gpuad_fn(ad, SIM))))
    cpu = ad.jit(ad.vmap(T(w.gpuad_fn(ad, "cpu"))))
    for B in (2, 3):
        X = w.make_input(B, 0)
        x = ad.tensor(X, device=SIM)
        c, r = _steady(lambda: f(x))
        assert c.launches == 1 and c.transfers == 0, c.by_op
        np.testing.assert_allclose(r.numpy(), cpu(ad.tensor(X)).numpy(), rtol=1e-12, atol=1e-12)


# -- on the cpu: a small call is one compiled loop (NOTE [cpu row programs]) ----------
def _plan(jf):
    return jf._cache[next(iter(jf._cache))][0]


def test_unbatched_jacobian_is_one_row_program_on_cpu():
    W = RNG.normal(size=(3, 4))

    def f(x):  # reshapes, a transpose, a reduction over every axis, a constant matmul
        y = ad.reshape(ad.tanh(ad.tensor(W) @ x), (3, 1)) * ad.transpose(ad.reshape(x[:3], (3, 1)), (1, 0))
        return ad.sum(y, axis=0) + ad.max(x) + ad.prod(x[1:3])

    x = ad.tensor(RNG.normal(size=4))
    for T in (ad.jacfwd, ad.jacrev, ad.hessian):
        jf = ad.jit(T(f))
        jf(x)
        got = jf(x)
        assert type(_plan(jf).row_kernel).__name__ == "CpuRowKernel"
        np.testing.assert_allclose(got.numpy(), T(f)(x).numpy(), rtol=1e-12, atol=1e-14)


def test_batch_of_one_and_constant_results():
    from bench.workloads import WORKLOADS
    w = WORKLOADS["neohookean"]
    X = w.make_input(1, 0)
    for method in w.METHODS:
        T = {"jacfwd": ad.jacfwd, "jacrev": ad.jacrev, "hessian": ad.hessian}[method]
        jf = ad.jit(ad.vmap(T(w.gpuad_fn(ad, "cpu"))))
        jf(ad.tensor(X))
        np.testing.assert_allclose(jf(ad.tensor(X)).numpy(), w.numpy_reference(method, X),
                                   rtol=1e-10, atol=1e-12)
        assert _plan(jf).row_kernel is not None
    c = ad.tensor(np.arange(3.0))
    jg = ad.jit(lambda x: (ad.sin(x) * 2.0, c))
    x = ad.tensor(RNG.normal(size=3))
    jg(x)
    a, b = jg(x)
    np.testing.assert_allclose(a.numpy(), 2.0 * np.sin(x.numpy()), rtol=1e-14)
    np.testing.assert_array_equal(b.numpy(), np.arange(3.0))


def test_large_calls_keep_the_steps_on_cpu():
    # the row program's naive loops lose to matrix products at scale: over the budget,
    # the plan keeps its fused kernels and library calls
    from bench.workloads import WORKLOADS
    w = WORKLOADS["kinetics"]
    jf = ad.jit(ad.vmap(ad.jacfwd(w.gpuad_fn(ad, "cpu"))))
    jf(ad.tensor(w.make_input(64, 0)))
    assert _plan(jf).row_kernel is None


@pytest.mark.cudasim
@pytest.mark.parametrize("n", [3, 5])
def test_launches_do_not_depend_on_the_problem_size(n):
    # one kernel at every n and B: the row program's loops take the sizes
    W = ad.tensor(RNG.normal(size=(n, n)), device=SIM)

    def f(x):
        return ad.tanh(W @ x) * ad.sum(x) + ad.flip(x, 0) ** 2

    for T in (ad.jacfwd, ad.jacrev):
        jf = ad.jit(ad.vmap(T(f)))
        for B in (2, 3):
            xn = RNG.normal(size=(B, n))
            x = ad.tensor(xn, device=SIM)
            c, got = _steady(lambda: jf(x))
            assert c.launches == 1 and c.transfers == 0, c.by_op
            Wc = ad.tensor(W.numpy())
            ref = ad.vmap(T(lambda v: ad.tanh(Wc @ v) * ad.sum(v) + ad.flip(v, 0) ** 2))(ad.tensor(xn))
            np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-12, atol=1e-14)


def test_light_rows_run_as_a_row_program_at_any_batch(monkeypatch):
    import numba
    from bench.workloads import WORKLOADS
    from gpuad.jit import row_kernel
    w = WORKLOADS["neohookean"]
    X = w.make_input(300, 0)
    jf = ad.jit(ad.vmap(ad.jacrev(w.gpuad_fn(ad, "cpu"))))
    jf(ad.tensor(X))
    assert type(_plan(jf).row_kernel).__name__ == "CpuRowKernel"
    want = w.numpy_reference("jacrev", X)
    np.testing.assert_allclose(jf(ad.tensor(X)).numpy(), want, rtol=1e-10, atol=1e-12)
    # row ranges on two threads give the same numbers
    monkeypatch.setattr(row_kernel, "_PARALLEL_FLOPS", 1)
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        np.testing.assert_allclose(jf(ad.tensor(X)).numpy(), want, rtol=1e-10, atol=1e-12)
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("shape,axis", [((3, 4), None), ((5, 40), 1), ((2, 300), 1),
                                        ((4, 3, 9), (1, 2)), ((3, 129), -1), ((7,), None)])
def test_sums_are_numpys_to_the_bit(shape, axis):
    # NOTE [pairwise sums]: a cancelling sum (values of mixed magnitude) shows the order
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape) * 10.0 ** rng.integers(-3, 8, size=shape)
    f = ad.jit(lambda v: ad.sum(v, axis=axis) * 3.0)
    f(ad.tensor(x))
    got = f(ad.tensor(x)).numpy()
    assert _plan(f).row_kernel is not None
    np.testing.assert_array_equal(got, np.sum(x, axis=axis) * 3.0)


@pytest.mark.cudasim
def test_float32_masks_and_casts_on_cudasim():
    def f(x):
        m = x > 0.0
        return (ad.where(m, ad.sin(x), -x) * ad.sum(x, axis=-1, keepdims=True),
                ad.astype(m, np.float32))

    xn = RNG.normal(size=(3, 4)).astype(np.float32)
    jf = ad.jit(f)
    x = ad.tensor(xn, device=SIM)
    c, (a, b) = _steady(lambda: jf(x))
    assert c.launches == 1 and a.dtype == np.float32 and b.dtype == np.float32
    ea, eb = f(ad.tensor(xn))
    np.testing.assert_allclose(a.numpy(), ea.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(b.numpy(), eb.numpy())
