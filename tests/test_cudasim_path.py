"""The GPU code path on the strict simulator (``cudasim``: device arrays that refuse
implicit conversion to NumPy, as CuPy's do): the bench workloads, eager and jitted,
give the cpu's numbers with no host round-trip per call; scalar constants, ``pow``
exponents and chunked ``randomness="same"`` stay on the device."""
import numpy as np
import pytest

import gpuad as ad
from bench.workloads import WORKLOADS

pytestmark = pytest.mark.cudasim

TRANSFORMS = {"jacfwd": ad.jacfwd, "jacrev": ad.jacrev, "hessian": ad.hessian}
# every workload and form but the stoichiometric-power kinetics, whose (B, 20, 20, 60)
# tangents the simulator would run one Python thread per element for minutes
_SIM_SKIP = {"kinetics[power]"}
ROWS = [(name, method) for name, w in WORKLOADS.items() if name not in _SIM_SKIP
        for method in w.METHODS]
# The simulator takes seconds to minutes a row (kinetics[gather]'s jacfwd, eagerly, minutes):
# the quick profile runs every workload on it once, eagerly and jitted, with its cheapest
# method (kinetics[gather]: jacrev, jitted only); the other rows are slow.
_QUICK_ROWS = {("pointwise", "jacfwd"), ("kinetics", "jacfwd"), ("kinetics", "jacrev"),
               ("neohookean", "jacrev"), ("mlp_pinn", "hessian"), ("mlp_pinn[rowvec]", "jacrev"),
               ("neohookean[det]", "jacrev")}


def _row_params():
    out = []
    for name, method in ROWS:
        for jit in (False, True):
            quick = (name, method) in _QUICK_ROWS or (name, method, jit) == ("kinetics[gather]", "jacrev", True)
            out.append(pytest.param(name, method, jit, marks=() if quick else pytest.mark.slow,
                                    id=f"{name}-{method}-{'jit' if jit else 'eager'}"))
    return out


@pytest.mark.parametrize("name,method,jit", _row_params())
def test_workloads_match_cpu_without_host_round_trips(name, method, jit):
    w = WORKLOADS[name]
    X = w.make_input(3, 0)
    results = {}
    for dev in ("cpu", "cudasim"):
        f = ad.vmap(TRANSFORMS[method](w.gpuad_fn(ad, dev)))
        if jit:
            f = ad.jit(f)
        x = ad.tensor(X, device=dev)
        f(x)                                   # traces and compiles
        with ad.count_launches() as c:
            r = f(x)
        results[dev] = r
        if dev == "cudasim":
            assert r.device == "cudasim"
            assert c.transfers == 0, c.by_transfer
    np.testing.assert_allclose(results["cudasim"].numpy(), results["cpu"].numpy(),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results["cpu"].numpy(), w.numpy_reference(method, X),
                               rtol=1e-8, atol=1e-10)


def test_device_arrays_refuse_implicit_host_conversion():
    x = ad.ones(3, device="cudasim")
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x._data)
    with pytest.raises(TypeError, match="numpy.sin"):
        np.sin(x._data)
    with pytest.raises(TypeError, match="Unsupported type"):
        x._data + np.ones(3)
    assert x.numpy().tolist() == [1.0, 1.0, 1.0]     # the explicit copy works
    assert "data" in x._data.__cuda_array_interface__


def test_explicit_transfers_are_counted():
    with ad.count_launches() as c:
        x = ad.tensor(np.arange(4.0), device="cudasim")   # host -> device
        x.numpy()                                          # device -> host
        float(ad.sum(x))                                   # a sync
    assert c.transfers == 3
    assert c.by_transfer == {"asarray": 1, "get": 2}
    assert c.transfer_bytes == 4 * 8 * 2 + 8


def test_scalar_constants_and_pow_exponents_stay_on_the_device(rng):
    x = ad.tensor(rng.uniform(0.5, 1.5, size=(3, 4)), device="cudasim")
    f = ad.vmap(ad.jacfwd(lambda x: ad.sum(x ** 3.0) * x ** 2 + ad.sqrt(x) ** 1.5 - 2.0 * x))
    f(x)
    with ad.count_launches() as c:
        r = f(x)
    assert c.transfers == 0, c.by_transfer
    want = f(ad.tensor(x.numpy())).numpy()
    np.testing.assert_allclose(r.numpy(), want, rtol=1e-12)


def test_chunked_same_randomness_replays_one_draw_per_chunk():
    for dev in ("cpu", "cudasim"):
        x = ad.ones(6, 2, device=dev)
        f = lambda x: x * ad.randn(2, device=dev)  # noqa: E731
        ad.manual_seed(0)
        whole = ad.vmap(f, randomness="same")(x).numpy()
        ad.manual_seed(0)
        chunked = ad.vmap(f, randomness="same", chunk_size=2)(x).numpy()
        np.testing.assert_array_equal(chunked, whole)
        np.testing.assert_array_equal(whole, np.broadcast_to(whole[0], whole.shape))


def test_device_generators_cannot_be_rewound_by_assignment():
    from gpuad.backends import simcupy
    g = simcupy.random.default_rng(0)
    with pytest.raises(AttributeError):
        g.bit_generator.state = {}


# -- the transform and jit tables on the simulator ----------------------------------------
def _chain(x):
    return ad.sin(x) * ad.exp(-x ** 2) + x * ad.sum(x)


def _mixed(x):
    A = ad.tensor(np.arange(12.0).reshape(3, 4) / 10.0, device=x.device)
    y = A @ x[:4]
    return ad.logsumexp(y) + ad.max(x) * ad.mean(ad.square(x[[0, 2, 2]]))


TABLE = {
    "jacfwd": lambda f: ad.jacfwd(f),
    "jacrev": lambda f: ad.jacrev(f),
    "hessian": lambda f: ad.hessian(lambda x: ad.sum(f(x))),
    "vmap(jacfwd)": lambda f: ad.vmap(ad.jacfwd(f)),
    "vmap(jacrev)": lambda f: ad.vmap(ad.jacrev(f)),
    "vmap(hessian)": lambda f: ad.vmap(ad.hessian(lambda x: ad.sum(f(x)))),
    "vmap(jacrev, chunk_size=2)": lambda f: ad.vmap(ad.jacrev(f, chunk_size=2)),
}


# quick: each function with a first-order transform and once under vmap; the rest is slow
_QUICK_TABLE = {("jacfwd", "chain"), ("jacrev", "mixed"), ("vmap(jacrev)", "chain")}


@pytest.mark.parametrize("tname,fname,f", [
    pytest.param(t, n, f, marks=() if (t, n) in _QUICK_TABLE else pytest.mark.slow, id=f"{t}-{n}-{f.__name__}")
    for t in TABLE for n, f in [("chain", _chain), ("mixed", _mixed)]])
def test_transform_and_jit_tables_match_cpu(tname, fname, f, rng):
    g = TABLE[tname](f)
    xn = rng.normal(size=(2, 5) if tname.startswith("vmap") else (5,))
    want = g(ad.tensor(xn)).numpy()
    x = ad.tensor(xn, device="cudasim")
    np.testing.assert_allclose(g(x).numpy(), want, rtol=1e-11, atol=1e-12)
    jg = ad.jit(g)
    held = [jg(x) for _ in range(2)]
    with ad.count_launches() as c:
        held.append(jg(x))
    assert c.transfers == 0, c.by_transfer
    for r in held:
        assert r.device == "cudasim"
        np.testing.assert_allclose(r.numpy(), want, rtol=1e-11, atol=1e-12)
