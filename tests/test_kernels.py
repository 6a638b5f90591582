"""gpuad.kernels on Numba's CUDA simulator, compared with NumPy.

Sizes straddle warp and block edges (the simulator uses 32-thread blocks and a grid of at
most 4 blocks, so 257 elements also exercise the grid-stride loop). Shapes are tiny: the
simulator runs every CUDA thread as a Python thread. The same checks run on a real GPU
under ``pytest -m cuda`` (``test_cuda_*`` at the end).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from gpuad import kernels
from gpuad import ptx
from gpuad.kernels import elementwise, reduction, target

pytestmark = pytest.mark.cudasim

SIM = "cudasim"
SIZES = (1, 31, 32, 33, 257)
DTYPES = (np.float32, np.float64)


def _host(a):
    """A kernel result on the host: cudasim device arrays, like CuPy's, refuse implicit
    conversion to NumPy, so results are copied explicitly."""
    return a.get() if hasattr(a, "__cuda_array_interface__") else a


def assert_allclose(actual, desired, **kw):
    np.testing.assert_allclose(_host(actual), _host(desired), **kw)


def assert_array_equal(actual, desired, **kw):
    np.testing.assert_array_equal(_host(actual), _host(desired), **kw)


def tol(dt):
    return dict(rtol=2e-5, atol=2e-6) if dt == np.float32 else dict(rtol=1e-12, atol=1e-13)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _fresh_stats():
    kernels.stats.reset()
    yield


# -- elementwise ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dt", DTYPES)
def test_elementwise_sizes(n, dt, rng):
    x = rng.standard_normal((2, n)).astype(dt)
    y = rng.standard_normal(n).astype(dt)
    out = kernels.run_elementwise("math.sin(a0) * a1 + 1.0", [x, y], dt, SIM)
    assert out.shape == (2, n) and out.dtype == dt
    assert_allclose(out, np.sin(x) * y + 1.0, **tol(dt))
    assert kernels.stats.launches["elementwise"] == 1


# NumPy reference per registry expression (erf: math.erf elementwise).
_REF = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "atan2": np.arctan2, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh,
    "atanh": np.arctanh, "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1,
    "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
    "sqrt": np.sqrt, "square": np.square, "reciprocal": np.reciprocal,
    "abs": np.abs, "sign": np.sign, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "pow": np.power, "maximum": np.maximum,
    "minimum": np.minimum, "where": np.where, "clip": lambda x, lo, hi: np.minimum(
        np.maximum(x, lo), hi),
    "erf": None, "add": np.add, "sub": np.subtract, "mul": np.multiply,
    "div": np.true_divide, "neg": np.negative,
}
# Inputs adjusted into each function's domain, so the comparison checks values, not nans.
_ADJUST = {"acosh": lambda x: x + 1.95, "log": lambda x: np.abs(x) + 0.1,
           "log2": lambda x: np.abs(x) + 0.1, "log10": lambda x: np.abs(x) + 0.1,
           "log1p": np.abs, "sqrt": np.abs}


@pytest.mark.parametrize("name", sorted(ptx.POINTWISE))
def test_elementwise_registry_expressions(name, rng):
    expr, kinds = ptx.POINTWISE[name]
    n = 33
    args = []
    for j, k in enumerate(kinds):
        if k == "b":
            args.append(rng.random(n) > 0.5)
        else:
            args.append(rng.uniform(-0.9, 0.9, size=n))
    if name in _ADJUST:
        args[0] = _ADJUST[name](args[0])
    if name == "pow":
        args[0] = np.abs(args[0]) + 0.1
    if name == "clip":
        args[1], args[2] = np.full(n, -0.3), np.full(n, 0.4)
    if name == "reciprocal" or name == "div":
        args[-1] = np.where(np.abs(args[-1]) < 0.1, 0.5, args[-1])
    out = kernels.run_elementwise(expr, args, np.float64, SIM)
    if name == "erf":
        ref = np.array([math.erf(v) for v in args[0]])
    else:
        ref = _REF[name](*args)
    assert_allclose(out, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shapes", [
    [(3, 1, 4), (1, 5, 1)],      # both broadcast
    [(), (4,)],                  # 0-d with 1-d
    [(2, 3), (3,)],              # trailing broadcast
    [(5, 2, 3), (2, 3)],         # tangent batch: a leading dim the primal lacks
    [(5, 1, 3), (4, 1), ()],     # three inputs, stride-0 in several dims
])
def test_elementwise_broadcasting(shapes, rng):
    arrays = [rng.standard_normal(s) for s in shapes]
    expr = " + ".join(f"{j + 1}.0 * a{j}" for j in range(len(arrays)))
    out = kernels.run_elementwise(expr, arrays, np.float64, SIM)
    ref = sum((j + 1.0) * a for j, a in enumerate(arrays))
    assert out.shape == np.broadcast_shapes(*shapes)
    assert_allclose(out, ref, rtol=1e-13)


def test_elementwise_zero_d_and_empty():
    out = kernels.run_elementwise("math.exp(a0)", [np.array(0.5)], np.float64, SIM)
    assert out.shape == () and np.isclose(_host(out), np.exp(0.5))
    empty = kernels.run_elementwise("a0 * a1", [np.ones((0, 3)), np.ones(3)], np.float64, SIM)
    assert empty.shape == (0, 3)


def test_elementwise_where_bool_condition_and_bool_output(rng):
    c = rng.random((4, 1)) > 0.5
    x, y = rng.standard_normal((4, 3)), rng.standard_normal(3)
    out = kernels.run_elementwise("(a1 if a0 else a2)", [c, x, y], np.float64, SIM)
    assert_array_equal(out, np.where(c, x, y))
    lt = kernels.run_elementwise("a0 < a1", [x, y], np.bool_, SIM)
    assert lt.dtype == np.bool_
    assert_array_equal(lt, x < y)


def test_elementwise_ieee_special_values():
    # NOTE(simulator-math): nan/inf as on a GPU, not Python's math exceptions.
    x = np.array([-1.0, 0.0, 1000.0])
    out = _host(kernels.run_elementwise("math.log(a0) + math.exp(a0)", [x], np.float64, SIM))
    assert np.isnan(out[0]) and out[1] == -np.inf + 1 and out[2] == np.inf


def test_elementwise_float32_literals_stay_float32():
    src = elementwise.source("1.0 / (1.0 + math.exp(-a0))", ("f",), 1, "float32")
    assert "_ft(1.0)" in src and "numba.float32" in src


def test_layout_coalesces_contiguous_dims():
    shape, strides, kinds = elementwise.layout((4, 5, 6), [(4, 5, 6), (6,), ()])
    assert kinds == ("f", "b", "s")
    assert shape == (20, 6) and strides[1] == [0, 1]
    shape, _, kinds = elementwise.layout((4, 5, 6), [(4, 5, 6)])
    assert shape == (120,) and kinds == ("f",)


def test_elementwise_memoized_and_disk_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUAD_CACHE_DIR", str(tmp_path))
    expr = "a0 * 3.25 - 0.125"  # unique to this test: a new module file
    x = np.arange(5.0)
    kernels.run_elementwise(expr, [x], np.float64, SIM)
    kernels.run_elementwise(expr, [x + 1], np.float64, SIM)
    assert kernels.stats.compiles["elementwise"] == 1
    assert kernels.stats.launches["elementwise"] == 2
    files = list((tmp_path / "kernels").glob("gpuad_kernel_ew_*.py"))
    assert len(files) == 1 and expr in files[0].read_text()


def test_same_kernel_function_compiles_for_the_gpu_after_simulation():
    # cudasim and cuda in one process: the simulator swaps module globals only during a
    # launch, so the same function object then compiles for the GPU.
    from numba import cuda
    from numba import float64, int64
    kernels.run_elementwise("math.cos(a0)", [np.arange(3.0)], np.float64, SIM)
    fn = elementwise.kernel_function("math.cos(a0)", ("f",), 1, "float64")
    code, _ = cuda.compile_ptx(fn, (float64[::1], int64, float64[::1]), cc=(8, 0))
    assert ".entry" in code


def test_elementwise_rejects_complex():
    with pytest.raises(kernels.UnsupportedDtype):
        kernels.run_elementwise("a0 * a0", [np.ones(3, np.complex128)], np.complex128, SIM)


def test_elementwise_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="broadcast"):
        kernels.run_elementwise("a0 + a1", [np.ones(3), np.ones(4)], np.float64, SIM)


def test_bad_target():
    with pytest.raises(ValueError, match="target"):
        kernels.run_elementwise("a0", [np.ones(2)], np.float64, "gpu")


# -- reductions ----------------------------------------------------------------------------

@pytest.mark.parametrize("K", (1, 31, 32, 33, 255, 256, 257))
@pytest.mark.parametrize("op", ("sum", "prod", "max", "min"))
def test_reduce_row_lengths(op, K, rng):
    x = rng.uniform(0.9, 1.1, size=(2, K))
    out = kernels.run_reduce(op, x, (1,), False, SIM)
    assert_allclose(out, getattr(np, op)(x, axis=1), rtol=1e-12)
    assert kernels.stats.launches["reduce"] >= 1


# quick: every axis set in float64, float32 over all axes; the other float32 cases are slow
_AXIS_SETS = [None, (0,), (1,), (2,), (-1,), (0, 2), (1, 2), (0, 1, 2)]


@pytest.mark.parametrize("dt,axes", [
    pytest.param(dt, axes, marks=() if dt == np.float64 or axes is None else pytest.mark.slow,
                 id=f"{dt.__name__}-{'None' if axes is None else f'axes{i}'}")
    for dt in DTYPES for i, axes in enumerate(_AXIS_SETS)])
def test_reduce_axis_sets(axes, dt, rng):
    x = rng.uniform(0.5, 1.5, size=(2, 3, 4)).astype(dt)
    for op, keepdims in (("sum", False), ("max", True)):
        out = kernels.run_reduce(op, x, axes, keepdims, SIM)
        ref = getattr(np, op)(x, axis=axes, keepdims=keepdims)
        assert out.shape == ref.shape and out.dtype == ref.dtype
        assert_allclose(out, ref, **tol(dt))


@pytest.mark.parametrize("op", ("prod", "min"))
def test_reduce_other_ops_axis_pair(op, rng):
    x = rng.uniform(0.5, 1.5, size=(3, 2, 5))
    assert_allclose(kernels.run_reduce(op, x, (0, 2), False, SIM),
                               getattr(np, op)(x, axis=(0, 2)), rtol=1e-12)


def test_reduce_two_pass_for_long_rows(rng):
    x = rng.standard_normal(700)
    kernels.stats.reset()
    out = kernels.run_reduce("sum", x, None, False, SIM)
    assert_allclose(out, x.sum(), rtol=1e-12)
    assert kernels.stats.launches["reduce"] == 2  # partials, then the second pass


@pytest.mark.parametrize("shape,axes", [((5, 40), (0,)), ((3, 2, 33), (0, 1)),
                                        ((300, 32), (0,))])
def test_reduce_leading_axes_by_columns(shape, axes, rng):
    # Leading axes of a C-contiguous array: the column kernel, no transposing copy; K = 300
    # is split into chunks and needs a second pass.
    x = rng.uniform(0.9, 1.1, size=shape)
    x[0, 0] = np.nan
    for op in ("sum", "max", "min"):
        kernels.stats.reset()
        out = kernels.run_reduce(op, x, axes, False, SIM)
        assert_allclose(out, getattr(np, op)(x, axis=axes), rtol=1e-12)
        assert kernels.stats.launches["reduce"] == (2 if shape[0] == 300 else 1)
    assert ("reduce_columns", "sum", np.dtype("float64"), np.dtype("float64"), SIM) in \
        kernels.cache._memo


def test_reduce_two_warps_per_block(rng, monkeypatch):
    # 64-thread blocks: the cross-warp step (shared memory between two shuffle stages).
    monkeypatch.setattr(target, "_SIM_BLOCK", 64)
    x = rng.standard_normal((2, 100))
    for op in ("sum", "max", "min"):
        assert_allclose(kernels.run_reduce(op, x, (1,), False, SIM),
                                   getattr(np, op)(x, axis=1), rtol=1e-12)


def test_reduce_empty_and_nan():
    x = np.ones((3, 0))
    assert_array_equal(kernels.run_reduce("sum", x, (1,), False, SIM), np.zeros(3))
    assert_array_equal(kernels.run_reduce("prod", x, (1,), True, SIM), np.ones((3, 1)))
    for op in ("max", "min"):
        with pytest.raises(ValueError, match="empty"):
            kernels.run_reduce(op, x, (1,), False, SIM)
    y = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    out = _host(kernels.run_reduce("max", y, (1,), False, SIM))
    assert np.isnan(out[0]) and out[1] == 3.0


def test_reduce_int_widens_like_numpy():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    out = kernels.run_reduce("sum", x, (0,), False, SIM)
    assert out.dtype == np.sum(x, axis=0).dtype
    assert_array_equal(out, x.sum(axis=0))


def test_reduction_templates_have_both_variants():
    shfl = reduction.source("sum", np.float32, 256, shuffle=True)
    tree = reduction.source("sum", np.float32, 256, shuffle=False)
    assert "shfl_down_sync" in shfl and "shfl_down_sync" not in tree
    assert "cuda.shared.array(8," in shfl and "cuda.shared.array(256," in tree
    one_warp = reduction.source("sum", np.float32, 32, shuffle=True)
    assert "cuda.shared.array" not in one_warp and "syncthreads" not in one_warp


# -- small linear algebra ------------------------------------------------------------------

def _well_conditioned(rng, shape, dt):
    k = shape[-1]
    return (rng.standard_normal(shape) + 2 * k * np.eye(k)).astype(dt)


@pytest.mark.parametrize("k", (1, 2, 3, 4))
@pytest.mark.parametrize("dt", DTYPES)
def test_small_linalg(k, dt, rng):
    a = rng.standard_normal((6, k, k)).astype(dt)   # general: pivoting matters
    b = rng.standard_normal((6, k, 2)).astype(dt)
    t = dict(rtol=2e-3, atol=2e-4) if dt == np.float32 else dict(rtol=1e-9, atol=1e-10)
    det = kernels.run_det(a, SIM)
    assert det.shape == (6,) and det.dtype == dt
    assert_allclose(det, np.linalg.det(a.astype(np.float64)), **t)
    a = _well_conditioned(rng, (6, k, k), dt)
    assert_allclose(kernels.run_inv(a, SIM), np.linalg.inv(a), **t)
    assert_allclose(kernels.run_solve(a, b, SIM), np.linalg.solve(a, b), **t)
    assert kernels.stats.launches["det"] == kernels.stats.launches["inv"] == 1
    assert kernels.stats.launches["solve"] == 1


def test_small_linalg_shapes_and_pivoting(rng):
    a = _well_conditioned(rng, (2, 3, 3, 3), np.float64)
    assert kernels.run_det(a, SIM).shape == (2, 3)
    v = rng.standard_normal(3)
    assert_allclose(kernels.run_solve(a, v, SIM),
                               np.linalg.solve(a, v[:, None])[..., 0], rtol=1e-10)
    perm = np.array([[[0.0, 1.0], [1.0, 0.0]]])  # zero leading pivot
    assert_allclose(kernels.run_det(perm, SIM), [-1.0])
    assert_allclose(kernels.run_inv(perm, SIM), perm)
    sing = np.array([[[1.0, 2.0], [2.0, 4.0]]])
    assert kernels.run_det(sing, SIM)[0] == 0.0


def test_small_linalg_large_k_uses_library(rng):
    a = _well_conditioned(rng, (2, 9, 9), np.float64)
    assert_allclose(kernels.run_det(a, SIM), np.linalg.det(a), rtol=1e-10)
    assert kernels.stats.launches["linalg_library"] == 1 and kernels.stats.launches["det"] == 0


# -- the cudasim backend -------------------------------------------------------------------

def test_cudasim_backend_goes_through_kernels(rng):
    from gpuad.backends.cudasim import CudaSimBackend
    assert CudaSimBackend.unavailable_reason() is None
    be = CudaSimBackend()
    x = rng.standard_normal((3, 4))
    assert_allclose(be.elementwise("sin", "math.sin(a0)", [x], np.float64), np.sin(x))
    assert_allclose(be.reduce("sum", x, (0,), False), x.sum(0))
    a = _well_conditioned(rng, (2, 3, 3), np.float64)
    assert_allclose(be.small_linalg("inv", a), np.linalg.inv(a), rtol=1e-10)
    assert kernels.stats.launches["elementwise"] == 1
    assert kernels.stats.launches["reduce"] == 1
    assert kernels.stats.launches["inv"] == 1
    assert sum(kernels.stats.fallbacks.values()) == 0


def test_cudasim_backend_falls_back_for_complex_and_bool():
    from gpuad.backends.cudasim import CudaSimBackend
    be = CudaSimBackend()
    z = np.array([1 + 2j, -1j])
    assert_allclose(be.elementwise("mul", "a0 * a1", [z, z], np.complex128), z * z)
    assert_allclose(be.elementwise("sin", "math.sin(a0)", [z], np.complex128),
                               np.sin(z))
    assert be.reduce("sum", np.array([True, True, False]), (0,), False) == 2
    assert kernels.stats.fallbacks["elementwise"] == 2 and kernels.stats.fallbacks["reduce"] == 1


def test_cuda_backend_reason_without_gpu():
    from gpuad.backends.cuda import CudaBackend
    reason = CudaBackend.unavailable_reason()
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert reason == "CuPy is not installed (pip install gpuad[cuda12])"
    else:
        if reason is not None:
            assert "CUDA" in reason


# -- the same kernels on a real GPU (pytest -m cuda) ---------------------------------------

@pytest.mark.cuda
def test_cuda_kernels_match_numpy(rng):
    import cupy as cp
    for n in SIZES + (1000, 100_000):
        for dt in DTYPES:
            x = rng.standard_normal((3, n)).astype(dt)
            y = rng.standard_normal(n).astype(dt)
            out = kernels.run_elementwise("math.sin(a0) * a1", [cp.asarray(x), cp.asarray(y)],
                                          dt, "cuda")
            assert isinstance(out, cp.ndarray)
            assert_allclose(cp.asnumpy(out), np.sin(x) * y, **tol(dt))
            for op in ("sum", "prod", "max", "min"):
                for axes in (None, (0,), (1,)):
                    got = cp.asnumpy(kernels.run_reduce(op, cp.asarray(x), axes, False, "cuda"))
                    ref = getattr(np, op)(x.astype(np.float64), axis=axes)
                    if op == "prod":
                        continue  # products of 10^5 normals under/overflow differently
                    assert_allclose(got, ref, rtol=1e-3 if dt == np.float32 else 1e-9,
                                               atol=1e-3 * math.sqrt(n))
    for k in range(1, 9):
        a = _well_conditioned(rng, (100, k, k), np.float64)
        b = rng.standard_normal((100, k, 3))
        ga, gb = cp.asarray(a), cp.asarray(b)
        assert_allclose(cp.asnumpy(kernels.run_det(ga, "cuda")), np.linalg.det(a),
                                   rtol=1e-9)
        assert_allclose(cp.asnumpy(kernels.run_inv(ga, "cuda")), np.linalg.inv(a),
                                   rtol=1e-9, atol=1e-12)
        assert_allclose(cp.asnumpy(kernels.run_solve(ga, gb, "cuda")),
                                   np.linalg.solve(a, b), rtol=1e-9, atol=1e-12)
