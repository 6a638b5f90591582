"""The branch-free exp, tanh, sin and cos that jit's cpu kernels inline
(gpuad/jit/vmath.py): accuracy against NumPy's libm over wide ranges, every special
value, and the libm fallback for sin / cos arguments beyond the exact range."""
import os
import platform
import re
import subprocess
import sys

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


@pytest.mark.parametrize("name,ulps", [("exp", 1), ("tanh", 3), ("sin", 1), ("cos", 1)])
@pytest.mark.parametrize("lo,hi", [(-1e-6, 1e-6), (-1, 1), (-40, 40), (-745, 709)])
def test_accuracy_in_ulps(name, ulps, lo, hi):
    a = np.random.default_rng(0).uniform(lo, hi, 200_000)
    out = np.empty_like(a)
    _loop(getattr(vmath, name))(a, out)
    ref = getattr(np, name)(a)
    err = np.abs(out - ref) / np.spacing(np.abs(ref))
    assert err.max() <= ulps, (name, a[np.argmax(err)], err.max())


@pytest.mark.parametrize("lo,hi", [(-1e6, 1e6), (1e5, 1e6)])
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_exact_up_to_the_guard(name, lo, hi):
    a = np.random.default_rng(2).uniform(lo, hi, 200_000)
    out = np.empty_like(a)
    _loop(getattr(vmath, name))(a, out)
    ref = getattr(np, name)(a)
    # absolute error against the result's scale: near a zero of sin, relative ulps of
    # the tiny result are not what the reduction controls
    assert np.max(np.abs(out - ref)) <= 2 * np.spacing(1.0)


@pytest.mark.parametrize("name", ["exp", "tanh", "sin", "cos"])
def test_special_values_match_libm_with_sign(name):
    vals = SPECIAL if name in ("exp", "tanh") else SPECIAL[np.abs(np.nan_to_num(SPECIAL)) <= vmath.SIN_COS_MAX]
    out = np.empty_like(vals)
    _loop(getattr(vmath, name))(vals, out)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = getattr(np, name)(vals)
    np.testing.assert_array_max_ulp(out, ref, maxulp=3)
    assert (np.isnan(out) == np.isnan(ref)).all()
    ok = ~np.isnan(ref)
    assert (np.signbit(out[ok]) == np.signbit(ref[ok])).all()


def test_float32_arguments_round_once():
    a = np.random.default_rng(1).uniform(-5, 5, 10_000).astype(np.float32)
    out = np.empty_like(a)
    _loop(vmath.tanh)(a, out)
    np.testing.assert_array_max_ulp(out, np.tanh(a), maxulp=1)


def _widest_double_vector(ir):
    return max((int(w) for w in re.findall(r"<(\d+) x double>", ir)), default=1)


def _host_has(feature):
    import llvmlite.binding as llvm
    return platform.machine().lower() in ("x86_64", "amd64") and \
        bool(llvm.get_host_cpu_features().get(feature, False))


@pytest.mark.parametrize("name", ["exp", "tanh", "sin", "cos"])
def test_the_loop_vectorizes(name):
    # the point of the module: no libm call left in the loop, so LLVM emits vector code.
    # The width depends on the CPU, so it is only checked where there are vector units
    # for doubles (x86 with AVX2), against the width LLVM gives a trivial loop here.
    if not _host_has("avx2"):
        pytest.skip("vector width is checked on x86 hosts with AVX2 only")
    run = _loop(getattr(vmath, name))
    a = np.linspace(-3, 3, 64)
    run(a, np.empty_like(a))
    ref = _loop(numba.njit(lambda x: x * 2.0 + 1.0))
    ref(a, np.empty_like(a))
    expected = _widest_double_vector(ref.inspect_llvm(ref.signatures[0]))
    assert expected >= 4
    assert _widest_double_vector(run.inspect_llvm(run.signatures[0])) == expected


_CROSS = """
import re, sys, numba
from numba import types
from gpuad.jit import vmath


def compiled(f):
    def run(a, o):
        for i in range(a.shape[0]):
            o[i] = f(a[i])
    return numba.njit((types.float64[::1], types.float64[::1]), error_model="numpy")(run)


out = []
for name in ("exp", "tanh", "sin", "cos"):
    run = compiled(getattr(vmath, name))
    ir = run.inspect_llvm(run.signatures[0])
    out.append(max((int(w) for w in re.findall(r"<(\\d+) x double>", ir)), default=1))
print(out)
"""


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 targets")
@pytest.mark.parametrize("cpu,features,width", [  # a compile each: quick, one AVX2 and the AVX-512 one
    ("haswell", "", 4), pytest.param("znver2", "", 4, marks=pytest.mark.slow),
    pytest.param("skylake-avx512", "", 4, marks=pytest.mark.slow), ("znver4", "", 8)])
def test_vectorizes_for_other_x86_targets(tmp_path, cpu, features, width):
    # compiled (not run) for another CPU in a child process, so the check does not depend
    # on this machine: sin and cos once stayed scalar on AVX2, whose missing
    # double <-> int64 vector conversions (AVX-512DQ) made the vector loop look too dear
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features,
               NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _CROSS], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert eval(out.stdout.strip().splitlines()[-1]) == [width] * 4


@pytest.mark.parametrize("scale", [1.0, 1e7, 1e300])
def test_jit_kernels_fall_back_to_libm_beyond_the_exact_range(scale):
    import gpuad as ad
    x = ad.tensor(np.linspace(-3, 3, 64).reshape(8, 8) * scale)
    f = lambda x: ad.sin(x) * ad.cos(x) + x
    jf = ad.jit(f)
    jf(x)
    got = jf(x).numpy()
    xs = x.numpy()
    np.testing.assert_allclose(got, np.sin(xs) * np.cos(xs) + xs, rtol=1e-15, atol=1e-15)
