"""The branch-free exp and tanh that jit's cpu kernels inline (gpuad/jit/vmath.py):
accuracy against NumPy's libm over wide ranges, and every special value."""
import numba
import numpy as np
import pytest

from gpuad.jit import vmath


def _loop(f):
    @numba.njit(error_model="numpy")
    def run(a, out):
        for i in range(a.shape[0]):
            out[i] = f(a[i])
    return run


SPECIAL = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-310, 1e-300, np.inf, -np.inf, np.nan,
                    0.5, 0.625, -0.625, 0.6249999999999999, 1.0, 19.0, 20.0, 40.0, 41.0,
                    709.78, 709.79, 710.0, -708.4, -740.0, -745.1, -745.2, -746.0, -1e300, 1e300])


@pytest.mark.parametrize("name,ulps", [("exp", 1), ("tanh", 2)])
@pytest.mark.parametrize("lo,hi", [(-1e-6, 1e-6), (-1, 1), (-40, 40), (-745, 709)])
def test_accuracy_in_ulps(name, ulps, lo, hi):
    a = np.random.default_rng(0).uniform(lo, hi, 200_000)
    out = np.empty_like(a)
    _loop(getattr(vmath, name))(a, out)
    ref = getattr(np, name)(a)
    err = np.abs(out - ref) / np.spacing(np.abs(ref))
    assert err.max() <= ulps, (name, a[np.argmax(err)], err.max())


@pytest.mark.parametrize("name", ["exp", "tanh"])
def test_special_values_match_libm_with_sign(name):
    out = np.empty_like(SPECIAL)
    _loop(getattr(vmath, name))(SPECIAL, out)
    with np.errstate(over="ignore"):
        ref = getattr(np, name)(SPECIAL)
    np.testing.assert_array_max_ulp(out, ref, maxulp=2)
    assert (np.isnan(out) == np.isnan(ref)).all()
    ok = ~np.isnan(ref)
    assert (np.signbit(out[ok]) == np.signbit(ref[ok])).all()


def test_float32_arguments_round_once():
    a = np.random.default_rng(1).uniform(-5, 5, 10_000).astype(np.float32)
    out = np.empty_like(a)
    _loop(vmath.tanh)(a, out)
    np.testing.assert_array_max_ulp(out, np.tanh(a), maxulp=1)


def test_the_loop_vectorizes():
    # the point of the module: no libm call left in the loop, so LLVM emits vector code
    run = _loop(vmath.tanh)
    a = np.linspace(-3, 3, 64)
    run(a, np.empty_like(a))
    ir = run.inspect_llvm(run.signatures[0])
    assert "x double>" in ir
