"""Device indices: ``cuda:N`` / ``cudasim:N`` (NOTE [device names] in gpuad.backends).

The simulator has two devices (``simcupy.n_devices()``), each array knows its device,
and an operation on an array of a device that is not current raises as CuPy does
without peer access, so these tests check that arrays, results and kernel launches of a
``cudasim:1`` tensor all live on device 1. Shapes are tiny: the simulator is slow.
"""
import sys
import types

import numpy as np
import pytest

import gpuad as ad
from gpuad import backends
from gpuad.errors import DeviceUnavailableError, GpuadValueError

pytestmark = pytest.mark.cudasim

D1 = "cudasim:1"


def _dev(t):
    """The simulated device id of the array a tensor holds."""
    return t._data._dev


@pytest.fixture
def launch_devices(monkeypatch):
    """The current simulated device at every kernel launch, recorded where the
    simulator runs a kernel (its array arguments must live there: simcupy.device_memory)."""
    from gpuad.backends import simcupy
    from gpuad.kernels import target
    seen = []
    orig = target._SimKernel.__getitem__

    def getitem(self, config):
        run = orig(self, config)

        def launch(*args):
            seen.append(simcupy.current_device_id())
            return run(*args)
        return launch
    monkeypatch.setattr(target._SimKernel, "__getitem__", getitem)
    return seen


# -- names ------------------------------------------------------------------------------
def test_canonical_names():
    assert backends.check_name("cudasim") == "cudasim"
    assert backends.check_name("cudasim:0") == "cudasim"
    assert backends.check_name("cudasim:1") == "cudasim:1"
    assert backends.check_name("cuda:0") == "cuda"
    assert backends.check_name("cuda:1") == "cuda:1"  # no longer stripped to "cuda"
    assert backends.check_name("cpu") == "cpu"
    for bad in ("cpu:1", "cudasim:", "cudasim:x", "cudasim:-1", "gpu", "cuda:1:2", 1):
        with pytest.raises(GpuadValueError):
            backends.check_name(bad)
    assert ad.tensor([1.0], device="cudasim:0").device == "cudasim"


def test_devices_lists_every_index():
    usable = ad.devices()
    assert "cudasim" in usable and D1 in usable
    assert "cudasim:2" not in usable


def test_out_of_range_index_raises_naming_the_device():
    for make in (lambda: ad.tensor([1.0], device="cudasim:7"),
                 lambda: ad.zeros(2, device="cudasim:7"),
                 lambda: ad.tensor([1.0], device="cudasim").to("cudasim:7"),
                 lambda: backends.get_backend("cudasim:7")):
        with pytest.raises(DeviceUnavailableError, match=r"cudasim:7.*2 devices"):
            make()
    assert "2 devices" in backends.unavailable_reason("cudasim:7")


def test_one_backend_per_device():
    b0, b1 = backends.get_backend("cudasim"), backends.get_backend(D1)
    assert b0 is backends.get_backend("cudasim:0")
    assert b1 is not b0 and (b0.index, b1.index) == (0, 1)
    assert (b0.name, b1.name) == ("cudasim", D1)


# -- placement ------------------------------------------------------------------------------
def test_creation_on_device_1():
    from gpuad.backends import simcupy
    for t in (ad.tensor([1.0, 2.0], device=D1), ad.zeros(3, device=D1),
              ad.ones((2, 2), device=D1), ad.full(2, 3.0, device=D1), ad.eye(2, device=D1),
              ad.arange(3, device=D1), ad.linspace(0, 1, 3, device=D1),
              ad.rand(2, device=D1), ad.zeros_like(ad.zeros(2, device=D1))):
        assert t.device == D1 and _dev(t) == 1, t
    assert simcupy.current_device_id() == 0  # the context is left as it was


def test_eager_ops_run_on_device_1(launch_devices):
    x = ad.tensor([0.5, 1.0, 2.0], device=D1)
    y = (ad.sin(x) * 2.0 + x).sum()
    assert y.device == D1 and _dev(y) == 1
    np.testing.assert_allclose(y.numpy(), (np.sin([0.5, 1, 2]) * 2 + [0.5, 1, 2]).sum())
    assert launch_devices and set(launch_devices) == {1}


def test_transforms_on_device_1(launch_devices):
    def f(x):
        return ad.sin(x) * x

    x = ad.tensor([0.5, 1.0], device=D1)
    xs = ad.tensor([[0.5, 1.0], [1.5, 2.0]], device=D1)
    ref = ad.jacfwd(f)(ad.tensor([0.5, 1.0], device="cpu")).numpy()
    for out in (ad.vmap(f)(xs), ad.jacfwd(f)(x), ad.jacrev(f)(x)):
        assert out.device == D1 and _dev(out) == 1
    np.testing.assert_allclose(ad.jacrev(f)(x).numpy(), ref)
    assert set(launch_devices) == {1}


def test_jit_on_device_1_and_plans_per_device(launch_devices):
    @ad.jit
    def f(x):
        return ad.exp(x) * x

    x0 = ad.tensor([0.5, 1.0], device="cudasim")
    x1 = ad.tensor([0.5, 1.0], device=D1)
    y1 = f(x1)
    assert y1.device == D1 and _dev(y1) == 1 and set(launch_devices) == {1}
    y1b = f(x1)  # cached plan, on device 1
    assert _dev(y1b) == 1 and f.trace_count == 1
    launch_devices.clear()
    y0 = f(x0)  # another device: its own plan
    assert f.trace_count == 2 and y0.device == "cudasim" and _dev(y0) == 0
    assert set(launch_devices) == {0}
    np.testing.assert_allclose(y0.numpy(), y1.numpy())
    np.testing.assert_allclose(ad.jit(ad.jacrev(lambda x: ad.sin(x) * x))(x1).numpy(),
                               ad.jacrev(lambda x: ad.sin(x) * x)(x0).numpy())


def test_backward_on_device_1():
    x = ad.tensor([0.5, 1.0], device=D1, requires_grad=True)
    (ad.sin(x) * x).sum().backward()
    assert x.grad.device == D1 and _dev(x.grad) == 1
    np.testing.assert_allclose(x.grad.numpy(), np.sin([0.5, 1.0]) + [0.5, 1.0] * np.cos([0.5, 1.0]))


def test_mixing_devices_raises_naming_both():
    a = ad.tensor([1.0, 2.0], device="cudasim")
    b = ad.tensor([1.0, 2.0], device=D1)
    for op in (lambda: a + b, lambda: b * a, lambda: ad.matmul(a, b),
               lambda: ad.jit(lambda u, v: u + v)(a, b)):
        with pytest.raises(GpuadValueError, match=r"'cudasim'.*'cudasim:1'|'cudasim:1'.*'cudasim'"):
            op()


# -- moving data ------------------------------------------------------------------------------
def test_to_copies_peer_to_peer():
    x = ad.tensor([1.0, 2.0, 3.0], device="cudasim")
    with ad.count_launches() as c:
        y = x.to(D1)
    assert y.device == D1 and _dev(y) == 1 and _dev(x) == 0
    assert c.transfers == 0  # device to device: no host round-trip
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0, 3.0])
    z = y.to("cudasim:0")
    assert z.device == "cudasim" and _dev(z) == 0
    assert y.to(D1) is y
    h = y.to("cpu")
    assert h.device == "cpu" and isinstance(h._data, np.ndarray)
    w = h.to(D1)  # host to device 1: a real device array
    assert _dev(w) == 1 and type(w._data).__name__ == "ndarray" and not isinstance(w._data, np.ndarray)


def test_strict_simulator_rejects_the_wrong_current_device():
    # what makes the tests above meaningful: without the device context, an op on a
    # device-1 array fails, as on CuPy without peer access
    from gpuad.backends import simcupy
    a = ad.tensor([1.0, 2.0], device=D1)._data
    with pytest.raises(ValueError, match="current device"):
        simcupy.sin(a)
    with pytest.raises(ValueError, match="current device"):
        a + 1.0
    with simcupy.cuda.Device(1):
        assert (a + 1.0)._dev == 1
        b = ad.tensor([1.0], device="cudasim")._data
        c = b.copy()  # peer copy to the current device
    assert c._dev == 1 and b._dev == 0


# -- streams (cuda) --------------------------------------------------------------------------
def test_stream_cache_is_keyed_by_device_and_pointer(monkeypatch):
    # CuPy's null stream is pointer 0 on every device: one Numba stream per device
    from gpuad.kernels import target
    state = {"dev": 0}
    stream = types.SimpleNamespace(ptr=0)
    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDevice=lambda: state["dev"]),
        get_current_stream=lambda: stream))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    from numba import cuda
    made = []
    monkeypatch.setattr(cuda, "default_stream", lambda: made.append(state["dev"]) or object(),
                        raising=False)
    monkeypatch.setattr(target, "_streams", {})
    s0 = target._numba_stream()
    state["dev"] = 1
    s1 = target._numba_stream()
    assert s0 is not s1 and made == [0, 1]
    assert target._numba_stream() is s1
    state["dev"] = 0
    assert target._numba_stream() is s0 and made == [0, 1]
