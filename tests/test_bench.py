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
