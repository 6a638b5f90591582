"""The benchmark's own checks: every workload's gpuad Jacobian agrees with the analytic NumPy
reference (and the torch.func / JAX versions with both) at a small batch, and the CLI writes
the JSON it promises. Fast: tiny batches, one workload through the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bench.workloads import WORKLOADS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = 3
CASES = [(w, m) for w, mod in WORKLOADS.items() for m in mod.METHODS]


def _close(got, ref):
    got = np.asarray(got)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("workload,method", CASES)
def test_gpuad_matches_analytic(workload, method):
    ad = pytest.importorskip("gpuad")
    wl = WORKLOADS[workload]
    X = wl.make_input(B, seed=11)
    fn = ad.vmap(getattr(ad, method)(wl.gpuad_fn(ad, device="cpu")))
    out = fn(ad.tensor(X, device="cpu"))
    _close(out.numpy(), wl.numpy_reference(method, X))


# Numba compiles each jitted Jacobian (seconds apiece): one case in the fast suite, the rest slow
JIT_CASES = [pytest.param(w, m, marks=() if (w, m) == ("pointwise", "jacfwd") else pytest.mark.slow)
             for w, m in CASES]


@pytest.mark.parametrize("workload,method", JIT_CASES)
def test_gpuad_jit_matches_analytic(workload, method):
    ad = pytest.importorskip("gpuad")
    if not hasattr(ad, "jit"):
        pytest.skip("ad.jit not available")
    wl = WORKLOADS[workload]
    X = wl.make_input(B, seed=12)
    fn = ad.jit(ad.vmap(getattr(ad, method)(wl.gpuad_fn(ad, device="cpu"))))
    _close(fn(ad.tensor(X, device="cpu")).numpy(), wl.numpy_reference(method, X))


@pytest.mark.parametrize("workload,method", CASES)
def test_torch_matches_analytic(workload, method):
    torch = pytest.importorskip("torch")
    from torch import func as tf
    wl = WORKLOADS[workload]
    X = wl.make_input(B, seed=13)
    out = tf.vmap(getattr(tf, method)(wl.torch_fn(torch)))(torch.from_numpy(X))
    _close(out.numpy(), wl.numpy_reference(method, X))


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_jax_matches_analytic(workload):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    wl = WORKLOADS[workload]
    X = wl.make_input(B, seed=14)
    for method in wl.METHODS:  # one jit per method keeps this fast
        out = jax.jit(jax.vmap(getattr(jax, method)(wl.jax_fn(jnp))))(jnp.asarray(X))
        _close(out, wl.numpy_reference(method, X))


def test_cli_json_keys(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from bench.run import main
    path = tmp_path / "out.json"
    rc = main(["--tiny", "--workloads", "pointwise", "--methods", "jacfwd", "--no-progress",
               "--json", str(path)])
    assert rc in (0, 1)  # 1: a library raised; that is reported in the JSON, checked below
    data = json.loads(path.read_text())
    assert {"meta", "libraries", "workloads", "results", "errors"} <= set(data)
    assert {"machine", "device", "batches", "argv", "wall_s"} <= set(data["meta"])
    assert set(data["libraries"]) == {"gpuad", "torch.func", "JAX", "NumPy analytic"}
    rows = data["results"]
    assert {(r["mode"], r["B"]) for r in rows} == {("eager", 8), ("jit", 8)}
    for r in rows:
        assert r["workload"] == "pointwise" and r["method"] == "vmap(jacfwd)"
        assert {"libs", "launches", "ratio_gpuad_torch", "ratio_gpuad_jax"} <= set(r)
        assert set(r["libs"]) == {"gpuad", "torch.func", "jax", "numpy"}
        for e in r["libs"].values():
            assert {"status", "median_s", "times_s"} <= set(e)
    eager = next(r for r in rows if r["mode"] == "eager")
    jit = next(r for r in rows if r["mode"] == "jit")
    assert eager["libs"]["torch.func"]["median_s"] > 0
    assert eager["libs"]["numpy"]["median_s"] > 0
    assert jit["libs"]["jax"]["median_s"] > 0 and jit["libs"]["jax"]["compile_s"] > 0
    assert jit["libs"]["torch.func"]["status"].startswith("eager only")
    g = eager["libs"]["gpuad"]
    if g["status"] == "ok":
        assert eager["ratio_gpuad_torch"] > 0 and eager["launches"] is not None
    if data["libraries"]["gpuad"].startswith("ok") and "jit" not in dir(__import__("gpuad")):
        assert jit["libs"]["gpuad"]["status"] == "n/a (ad.jit not available)"


def test_cli_help_and_bad_workload():
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for flag in ("--quick", "--device", "--json", "--workloads", "--markdown"):
        assert flag in out.stdout
    from bench.run import main
    assert main(["--workloads", "nope", "--no-progress"]) == 2


def test_missing_peers_are_reported(monkeypatch):
    from bench.run import JaxLib, TorchLib
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    monkeypatch.setitem(sys.modules, "jax", None)
    assert TorchLib("cpu", 1).missing == "not installed"
    assert JaxLib("cpu").missing == "not installed"


def test_first_call_is_measured_cold_and_warm_in_new_processes():
    from bench import first_call
    (row,) = first_call.measure([("pointwise", "jacfwd")], 8, "cpu", 1)
    assert "error" not in row, row
    # the warm process loads every kernel from the disk cache the cold one wrote
    assert 0 < row["warm_s"] < row["cold_s"]


# --------------------------------------------------------------------------------------------
# timing: the wall timer, the CUDA-event timer (on fake events), and which library gets which
# --------------------------------------------------------------------------------------------
class FakeClock:
    """A host clock that only moves when told."""

    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class FakeGPU:
    """A device queue: work enqueued by the host runs later; events stamp the queue's time."""

    def __init__(self, clock):
        self.clock, self.queue_end = clock, 0.0

    def enqueue(self, seconds):
        self.queue_end = max(self.queue_end, self.clock.t) + seconds


def _fake_cupy(gpu):
    import types

    class Event:
        def __init__(self):
            self.stamp, self.done = None, False

        def record(self, stream=None):
            self.stamp = max(gpu.queue_end, gpu.clock.t)

        def synchronize(self):
            gpu.clock.t = max(gpu.clock.t, self.stamp)
            self.done = True

    def get_elapsed_time(start, stop):
        if not stop.done:  # CuPy raises cudaErrorNotReady: a timer must sync before reading
            raise RuntimeError("cudaErrorNotReady")
        return (stop.stamp - start.stamp) * 1e3

    return types.SimpleNamespace(cuda=types.SimpleNamespace(Event=Event,
                                                            get_elapsed_time=get_elapsed_time))


def test_wall_timer_times_the_call_and_the_wait():
    from bench.timing import WallTimer
    clock = FakeClock()
    waited = []

    def call():
        clock.t += 0.002            # 2 ms in Python
        return "out"

    def block(out):
        waited.append(out)
        clock.t += 0.005            # 5 ms until the result is ready

    out, s = WallTimer(clock).measure(call, block)
    assert out == "out" and waited == ["out"]
    assert s.wall_s == pytest.approx(0.007) and s.host_s == pytest.approx(0.002)
    assert s.device_s is None and WallTimer().figure(s) == s.wall_s


def test_cuda_event_timer_splits_device_and_host_time(monkeypatch):
    from bench import timing
    clock = FakeClock()
    gpu = FakeGPU(clock)
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(gpu))
    timer = timing.cupy_event_timer(clock)
    assert timer.kind == timing.CUDA_EVENTS

    def call():                      # 1 ms of host work enqueues 8 ms of kernels
        gpu.enqueue(0.008)
        clock.t += 0.001
        return "J"

    out, s = timer.measure(call, lambda o: None)
    assert out == "J"
    assert s.host_s == pytest.approx(0.001)        # the call alone: no sync inside
    assert s.device_s == pytest.approx(0.008)      # start event to stop event on the device
    assert s.wall_s == pytest.approx(0.008)        # the host waited for the stop event
    assert timer.figure(s) == s.device_s

    # a host-bound call: the device idles between short launches, so the events measure the
    # host's pace (4 ms), not the 0.4 ms of kernels
    def slow_host():
        for _ in range(4):
            gpu.enqueue(0.0001)
            clock.t += 0.001
        return "J"

    _, s = timer.measure(slow_host, lambda o: None)
    assert s.host_s == pytest.approx(0.004) and s.device_s == pytest.approx(0.004)



def test_cuda_event_timer_in_a_bench_row(monkeypatch):
    """A cell timed with (fake) CUDA events for gpuad and a peer that fell back to the CPU:
    the row records device, host and wall medians, the ratio uses wall time for both, and the
    table says which timing each library used and where the peer really ran."""
    import time as _time

    from bench import report, run, timing
    import types

    class Event:  # the "device" is the host here: an event completes when recorded
        def record(self, stream=None):
            self.stamp = _time.perf_counter()

        def synchronize(self):
            pass

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(
        Event=Event, get_elapsed_time=lambda a, b: (b.stamp - a.stamp) * 1e3))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    libs = run.make_libs("cpu", 1)
    libs["gpuad"].timer = timing.cupy_event_timer()
    libs["gpuad"].ran_on = "cuda"
    libs["torch.func"].ran_on = "cpu (no GPU build)"
    rec = run.run_cell(WORKLOADS["pointwise"], "jacfwd", "eager", 4, libs, repeats=(3, 3),
                       budget_s=0.01)
    g, t = rec["libs"]["gpuad"], rec["libs"]["torch.func"]
    assert g["timing"] == "cuda-events" and g["device"] == "cuda" and g["repeats"] == 3
    assert g["median_s"] == g["device_median_s"] > 0
    assert 0 < g["host_median_s"] <= g["wall_median_s"]
    assert t["timing"] == "wall" and t["median_s"] == t["wall_median_s"]
    run.add_ratios([rec])
    assert rec["ratio_gpuad_torch"] == pytest.approx(g["wall_median_s"] / t["wall_median_s"])
    data = {"meta": {"device": "cuda", "machine": run.machine_info(libs, 1)},
            "libraries": {run.LIB_LABEL[k]: "ok" for k in libs},
            "devices": {run.LIB_LABEL[k]: lib.ran_on for k, lib in libs.items()},
            "timing": {run.LIB_LABEL[k]: lib.timer.kind for k, lib in libs.items()},
            "results": [rec]}
    text = report.format_table(data)
    head = text.splitlines()[0]
    assert "gpuad host" in head and "gpuad wall" in head
    row = text.splitlines()[2]
    assert "[cpu (no GPU build)]" in row
    assert "timing of gpuad: cuda-events" in text
    assert "ratios between two libraries timed differently use wall time" in text
    assert "torch.func: ok on cpu (no GPU build)" in text
    assert "| gpuad host | gpuad wall |" in report.markdown_table(data)


def test_timer_selection(monkeypatch):
    import types

    from bench.timing import CudaEventTimer, WallTimer, select_timer
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(FakeGPU(FakeClock())))
    made = []
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(
        Event=lambda enable_timing: made.append(enable_timing) or "event"))
    for device in ("cpu", "cudasim"):  # the wall clock off the GPU, for every library
        for name in ("gpuad", "torch.func", "jax", "numpy"):
            assert type(select_timer(name, device, device, torch=fake_torch)) is WallTimer
    assert type(select_timer("gpuad", "cuda", "cuda")) is CudaEventTimer
    tt = select_timer("torch.func", "cuda", "cuda", torch=fake_torch)
    assert type(tt) is CudaEventTimer and tt.new_event() == "event" and made == [True]
    # a peer that fell back to the CPU, JAX (no event API), NumPy: the wall clock
    assert type(select_timer("torch.func", "cuda", "cpu (no GPU build)", torch=fake_torch)) is WallTimer
    assert type(select_timer("jax", "cuda", "cuda")) is WallTimer
    assert type(select_timer("numpy", "cuda", "cpu")) is WallTimer


def test_peers_say_where_they_ran(monkeypatch):
    torch = pytest.importorskip("torch")
    from bench.run import JaxLib, TorchLib
    assert TorchLib("cpu", 1).ran_on == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    lib = TorchLib("cuda", 1)
    assert lib.device == "cpu" and lib.ran_on == "cpu (no GPU build)" and lib.timer.kind == "wall"
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert TorchLib("cuda", 1).ran_on == "cpu (CUDA build, no usable GPU)"
    if pytest.importorskip("jax").devices()[0].platform == "cpu":
        assert JaxLib("cpu").ran_on == "cpu"
        lib = JaxLib("cuda")
        assert lib.ran_on == "cpu (no GPU build)" and lib.dev.platform == "cpu"


def test_overhead_bench_times_each_op_of_each_library(tmp_path):
    import json
    out = subprocess.run([sys.executable, "-m", "bench", "--overhead", "--tiny", "--json",
                          str(tmp_path / "o.json")], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "| sin |" in out.stdout and "gpuad / torch" in out.stdout
    res = json.loads((tmp_path / "o.json").read_text())["overhead_us"]
    assert set(res) == {"gpuad", "numpy", "torch"}
    for lib in res.values():
        assert set(lib) == {"sin", "add", "mul", "sum", "matmul"}
        assert all(0 < v["best"] <= v["median"] < 1e4 for v in lib.values())
