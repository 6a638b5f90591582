"""On cudasim every pointwise and reduction primitive, its JVP and its VJP run through
gpuad's CUDA kernels (in Numba's simulator), never through NumPy, and agree with cpu."""
import numpy as np
import pytest

import gpuad as ad
from gpuad import kernels

pytestmark = pytest.mark.cudasim

UNARY = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
         "acosh", "atanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
         "square", "reciprocal", "abs", "sign", "sigmoid", "erf", "negative"]
BINARY = ["add", "subtract", "multiply", "divide", "pow", "atan2", "maximum", "minimum"]
REDUCTIONS = ["sum", "prod", "max", "min", "mean", "var", "std", "logsumexp"]


def _x(name, rng, shape=(2, 3)):
    if name == "acosh":
        return rng.uniform(1.2, 2.0, shape)
    if name in ("asin", "acos", "atanh"):
        return rng.uniform(-0.8, 0.8, shape)
    if name in ("log", "log2", "log10", "log1p", "sqrt", "reciprocal", "pow", "divide"):
        return rng.uniform(0.5, 2.0, shape)
    return rng.uniform(-1.5, 1.5, shape) + 0.05


def _check(f, args, rng):
    """f's value, JVP and VJP on cudasim vs cpu, with the kernel layer doing the work."""
    t = [rng.standard_normal(a.shape) for a in args]
    sim = [ad.tensor(a, device="cudasim") for a in args]
    cpu = [ad.tensor(a) for a in args]
    kernels.stats.reset()
    out_s, jt_s = ad.jvp(f, tuple(sim), tuple(ad.tensor(v, device="cudasim") for v in t))
    _, pull = ad.vjp(f, *sim)
    ct = rng.standard_normal(out_s.shape)
    vj_s = pull(ad.tensor(ct, device="cudasim"))
    launched = dict(kernels.stats.launches)
    assert sum(kernels.stats.fallbacks.values()) == 0, kernels.stats.fallbacks
    assert launched.get("elementwise", 0) + launched.get("reduce", 0) > 0
    out_c, jt_c = ad.jvp(f, tuple(cpu), tuple(ad.tensor(v) for v in t))
    _, pull_c = ad.vjp(f, *cpu)
    vj_c = pull_c(ad.tensor(ct))
    assert out_s.device == "cudasim"
    np.testing.assert_allclose(out_s.numpy(), out_c.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jt_s.numpy(), jt_c.numpy(), rtol=1e-11, atol=1e-12)
    for a, b in zip(vj_s, vj_c):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-11, atol=1e-12)
    return launched


@pytest.mark.parametrize("name", UNARY)
def test_unary_through_kernels(name, rng):
    launched = _check(getattr(ad, name), [_x(name, rng)], rng)
    assert launched.get("elementwise", 0) >= 2  # the value and at least one derivative op


@pytest.mark.parametrize("name", BINARY)
def test_binary_through_kernels(name, rng):
    x, y = _x(name, rng), _x(name, rng, (3,))  # broadcasting (2, 3) with (3,)
    launched = _check(getattr(ad, name), [x, y], rng)
    assert launched.get("elementwise", 0) >= 1


def test_where_through_kernels(rng):
    c = rng.random((2, 3)) > 0.5
    _check(lambda x, y: ad.where(ad.tensor(c, device=x.device), x, y),
           [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))], rng)


# the simulator runs a thread per element (seconds a case): the quick profile reduces over
# all axes with every op and over one axis with sum; the other one-axis cases are slow
@pytest.mark.parametrize("name,axis", [
    pytest.param(n, a, marks=() if a is None or n == "sum" else pytest.mark.slow, id=f"{a}-{n}")
    for a in (None, 0, 1) for n in REDUCTIONS])
def test_reductions_through_kernels(name, axis, rng):
    x = rng.standard_normal((3, 4))
    launched = _check(lambda v: getattr(ad, name)(v, axis=axis), [x], rng)
    assert launched.get("reduce", 0) >= 1
