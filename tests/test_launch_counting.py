"""``ad.count_launches`` on a GPU device counts device kernels: gpuad's own (under the
primitive or fused group that launched them) and the libraries' (``cupy.*``,
``cublas.*``, ``cusolver.*``, ``cufft.*``, ``curand.*``): a copy counts, a view does not,
an allocation does not, and compiling or tracing is not a launch. On cpu it counts op
dispatches, as before. Exact numbers, on the simulator at tiny sizes."""
import numpy as np
import pytest

import gpuad as ad
from gpuad import kernels
from gpuad.backends import get_backend

pytestmark = pytest.mark.cudasim

LIBRARIES = ("cupy.", "cublas.", "cusolver.", "cufft.", "curand.")


def _count(f):
    with ad.count_launches() as c:
        f()
    return c


def _steady(f):
    f()  # compiles the kernels it needs
    return _count(f)


@pytest.fixture
def x():
    return ad.tensor(np.arange(12.0).reshape(3, 4) / 10.0, device="cudasim")


def test_views_launch_nothing(x):
    for view in (lambda: x.T, lambda: ad.transpose(x), lambda: x.reshape(4, 3),
                 lambda: x[1:, ::2], lambda: x[2], lambda: ad.broadcast_to(x[0], (5, 4))):
        c = _steady(view)
        assert (c.launches, c.by_op) == (0, {})


def test_a_copy_counts_and_a_view_does_not(x):
    # sin of a transposed (strided) input: the kernel reads it in place, with its strides
    c = _steady(lambda: ad.sin(x.T))
    assert c.by_op == {"sin": 1}
    np.testing.assert_array_equal(ad.sin(x.T).numpy(), np.sin(x.numpy().T))
    # one with a negative stride is read from a contiguous copy
    c = _steady(lambda: ad.sin(x[:, ::-1]))
    assert c.by_op == {"sin": 1, "cupy.ascontiguousarray": 1}
    np.testing.assert_array_equal(ad.sin(x[:, ::-1]).numpy(), np.sin(x.numpy()[:, ::-1]))
    c = _steady(lambda: ad.sin(x))
    assert c.by_op == {"sin": 1}
    xp = get_backend("cudasim").xp
    a = x._data
    assert _count(lambda: xp.ascontiguousarray(a)).by_op == {}
    assert _count(lambda: xp.ascontiguousarray(a.T)).by_op == {"cupy.ascontiguousarray": 1}
    assert _count(lambda: xp.reshape(a, (4, 3))).by_op == {}
    assert _count(lambda: xp.reshape(a.T, (12,))).by_op == {"cupy.reshape": 1}


def test_a_matmul_is_a_library_kernel(x):
    c = _steady(lambda: x @ x.T)
    assert (c.launches, c.by_op) == (1, {"cublas.einsum": 1})


def test_a_reduction_is_gpuads_kernel(x):
    before = kernels.stats.launches["reduce"]
    c = _steady(lambda: ad.sum(x, axis=1))
    assert (c.launches, c.by_op) == (1, {"reduce_sum": 1})
    assert kernels.stats.launches["reduce"] - before == 2  # the warm call's and the counted one


def test_allocation_is_not_a_kernel_and_a_fill_is():
    assert _count(lambda: ad.empty(3, 4, device="cudasim")).by_op == {}
    assert _count(lambda: ad.zeros(3, 4, device="cudasim")).by_op == {"cupy.full": 1}
    assert _count(lambda: ad.eye(3, device="cudasim")).by_op == {"cupy.eye": 2}
    assert _count(lambda: ad.randn(3, device="cudasim")).by_op == {"curand.standard_normal": 1}
    # on cpu: op dispatches, as before
    assert _count(lambda: ad.empty(3, 4)).by_op == {"empty": 1}
    assert _count(lambda: ad.zeros(3, 4)).by_op == {"zeros": 1}
    assert _count(lambda: ad.sin(ad.ones(3))).by_op == {"ones": 1, "sin": 1}


def test_the_array_module_table(x):
    xp = get_backend("cudasim").xp
    a, v = x._data, x._data[0]
    idx = xp.arange(3)
    cases = [
        (lambda: xp.empty((3,)), {}),
        (lambda: xp.zeros((3,)), {"cupy.zeros": 1}),
        (lambda: xp.full((3,), 2.0), {"cupy.full": 1}),
        (lambda: xp.broadcast_to(v, (5, 4)), {}),
        (lambda: xp.transpose(a), {}),
        (lambda: xp.asarray(a), {}),
        (lambda: xp.asarray(a, dtype=np.float32), {"cupy.asarray": 1}),
        (lambda: xp.concatenate([a, a]), {"cupy.concatenate": 1}),
        (lambda: xp.where(a > 0.5, a, 0.0), {"cupy.ndarray.__gt__": 1, "cupy.where": 1}),
        (lambda: xp.cumsum(a, axis=0), {"cupy.cumsum": 1}),
        (lambda: xp.take(v, idx), {"cupy.take": 1}),
        (lambda: xp.add.at(xp.zeros(4), idx, 1.0), {"cupy.zeros": 1, "cupy.add.at": 1}),
        (lambda: xp.sin(a), {"cupy.sin": 1}),
        (lambda: xp.matmul(a, a.T), {"cublas.matmul": 1}),
        (lambda: xp.linalg.solve(a[:, :3] + xp.eye(3), v[:3]),
         {"cupy.eye": 2, "cupy.ndarray.__add__": 1, "cusolver.linalg.solve": 1}),
        (lambda: xp.fft.fft(v), {"cufft.fft.fft": 1}),
        (lambda: xp.result_type(a, np.float32), {}),
    ]
    for f, want in cases:
        assert _count(f).by_op == want, want


def test_device_array_methods_and_operators(x):
    # counted on cudasim (simcupy.ndarray); CuPy's ndarray cannot be hooked, so on cuda
    # these are the entries a count of the same code lacks (docs/kernels.md)
    xp = get_backend("cudasim").xp
    a = x._data
    idx = xp.asarray(np.array([0, 2]))
    cases = [
        (lambda: a + a, {"cupy.ndarray.__add__": 1}),
        (lambda: -a, {"cupy.ndarray.__neg__": 1}),
        (lambda: a[1:], {}),
        (lambda: a[1, 2], {}),
        (lambda: a[idx], {"cupy.ndarray.__getitem__": 1}),
        (lambda: a.reshape(12), {}),
        (lambda: a.T.reshape(12), {"cupy.ndarray.reshape": 1}),
        (lambda: a.astype(np.float32), {"cupy.ndarray.astype": 1}),
        (lambda: a.astype(a.dtype, copy=False), {}),
        (lambda: a.copy(), {"cupy.ndarray.copy": 1}),
        (lambda: a.sum(axis=0), {"cupy.ndarray.sum": 1}),
    ]
    for f, want in cases:
        assert _count(f).by_op == want, want
    b = xp.zeros((3, 4))
    assert _count(lambda: b.__setitem__((slice(None), 0), 1.0)).by_op == {
        "cupy.ndarray.__setitem__": 1}
    assert _count(lambda: b.fill(2.0)).by_op == {"cupy.ndarray.fill": 1}


def test_gpu_counts_are_device_kernels_not_dispatches(x):
    # gpuad's kernels in count_launches are exactly the kernel layer's launches
    f = ad.vmap(ad.jacrev(lambda v: ad.sum(ad.sin(v) * v)))
    f(x)
    before = kernels.stats.total_launches
    c = _count(lambda: f(x))
    ours = sum(n for op, n in c.by_op.items() if not op.startswith(LIBRARIES))
    assert ours == kernels.stats.total_launches - before > 0
    # a primitive that launches nothing on the device (a reshape, a basic gather) is not
    # counted there, though it is a dispatch on cpu
    assert _steady(lambda: ad.reshape(x, (12,))).by_op == {}
    assert _steady(lambda: ad.reshape(ad.tensor(np.ones((3, 4))), (12,))).by_op == {}
    assert _steady(lambda: x[0]).by_op == {}
    assert _steady(lambda: ad.tensor(np.ones((3, 4)))[0]).by_op == {"gather": 1}


def test_compiling_and_tracing_are_not_launches(x):
    def f(v):
        c = ad.tensor(np.linspace(0.5, 1.5, 4), device="cudasim")
        return ad.exp(v) * ad.sum(ad.cos(c) * 1.75) - v * 0.3125  # a constant subgraph
    eager = _count(lambda: f(x))
    assert eager.launches > 0
    jf = ad.jit(f)
    first = _count(lambda: jf(x))  # traces (running f eagerly), then compiles: constant
    assert jf.trace_count == 1     # folding and uploads at compile time are not launches
    assert first.by_op == eager.by_op
    compiles = sum(kernels.stats.compiles.values())
    second = _count(lambda: jf(x))  # the first run of the plan compiles its fused kernel
    third = _count(lambda: jf(x))
    assert (second.launches, second.by_op) == (third.launches, third.by_op)
    assert sum(kernels.stats.compiles.values()) >= compiles
    assert third.launches < eager.launches


def test_jit_neohookean_hessian_counts_its_copies():
    from bench.workloads import neohookean as w
    X = w.make_input(3, 0)
    x = ad.tensor(X, device="cudasim")
    f = ad.jit(ad.vmap(ad.hessian(w.gpuad_fn(ad, "cudasim"))))
    f(x)
    before = kernels.stats.total_launches
    with ad.count_launches() as c:
        r = f(x)
    ours = {op: n for op, n in c.by_op.items() if not op.startswith(LIBRARIES)}
    # the whole plan is one row kernel (NOTE [row programs] in gpuad/jit/rowplan.py; it
    # was one kernel per fused group: 5, and before that one per output: 38)
    assert sum(ours.values()) == kernels.stats.total_launches - before == 1
    assert all(op.startswith("fused:") for op in ours)
    # the kernels read the strided component views (F[:, i, j]) of the batch in place:
    # no copies (it was 594 ascontiguousarray copies per call, 632 launches in all)
    assert {op: n for op, n in c.by_op.items() if op.startswith(LIBRARIES)} == {}
    assert c.launches == 1 and c.transfers == 0
    np.testing.assert_allclose(r.numpy(), w.numpy_reference("hessian", X), rtol=1e-8,
                               atol=1e-10)
