"""The first call of ``ad.jit`` in a new process (NOTE [light cache load] in
kernels/cache.py): a kernel in the disk cache loads without Numba's target refresh, and
gives the same results; anything unusual takes Numba's own path."""
import json
import os
import subprocess
import sys

import pytest

from gpuad.kernels import cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import json, os, sys
import numpy as np
from gpuad.kernels import cache
if os.environ.get("FIRST_CALL_TEST_UNRESOLVED"):
    cache._resolves = lambda name, engine: False  # as if a symbol did not resolve
import gpuad as ad

def f(x):
    return ad.sin(x) * ad.exp(-x * x) + ad.tanh(x) * ad.sum(x)

from gpuad.jit import plan
x = ad.tensor(np.random.default_rng(0).normal(size=(6000, 4)))
eager = ad.vmap(ad.jacfwd(f))(x).numpy()
res, errs, kinds = [], [], []
for row_programs in (True, False):  # a plan's row kernel (lazy compile), then fused kernels
    plan._CPU_ROW_PROGRAMS = row_programs
    jf = ad.jit(ad.vmap(ad.jacfwd(f)))
    first = jf(x).numpy()            # trace + build: kernels compiled or loaded
    if row_programs:
        after_first = "numba.np.arraymath" in sys.modules
    second = jf(x).numpy()           # the plan runs
    (p, *_), = jf._cache.values()
    kinds.append("rows" if p.row_kernel is not None else f"{p.n_kernels} kernels")
    errs += [float(np.abs(first - eager).max()), float(np.abs(second - eager).max())]
from numba.core.runtime import nrt
print(json.dumps({"light": cache._light_stats["light"], "refresh": cache._light_stats["refresh"],
                  "registries_loaded": after_first, "kinds": kinds, "err": max(errs),
                  "nrt_compiled": nrt.rtsys._init}))
"""


def _run(tmp_path, **env):
    e = dict(os.environ, GPUAD_CACHE_DIR=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "numba"),
             OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **env)
    if "GPUAD_LIGHT_CACHE_LOAD" not in env:
        e.pop("GPUAD_LIGHT_CACHE_LOAD", None)
    out = subprocess.run([sys.executable, "-c", _CHILD], env=e, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check(r):
    assert r["kinds"][0] == "rows" and r["kinds"][1] != "0 kernels", r
    assert r["err"] < 1e-12, r


def test_a_warm_process_loads_kernels_without_numbas_refresh(tmp_path):
    cold = _run(tmp_path)
    _check(cold)
    assert cold["light"] == 0 and cold["registries_loaded"]  # compiled: Numba refreshed
    warm = _run(tmp_path)
    _check(warm)
    assert warm["light"] >= 2 and warm["refresh"] == 0, warm
    # nothing refreshed Numba's target context, whose registries import numba.np.arraymath,
    # nor compiled the runtime's LLVM module: the kernels ran with its C functions alone
    assert not warm["registries_loaded"] and not warm["nrt_compiled"], warm


def test_unresolved_symbols_and_the_switch_take_numbas_own_path(tmp_path):
    _check(_run(tmp_path))
    # a symbol that would not resolve: Numba's path (refresh, then load), same results
    r = _run(tmp_path, FIRST_CALL_TEST_UNRESOLVED="1")
    _check(r)
    assert r["light"] == 0 and r["refresh"] >= 1 and r["registries_loaded"], r
    off = _run(tmp_path, GPUAD_LIGHT_CACHE_LOAD="0")
    _check(off)
    assert off["light"] == 0 and off["registries_loaded"], off


def test_a_damaged_data_file_is_a_miss_on_the_light_path(tmp_path):
    _check(_run(tmp_path))
    nbc = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "numba") for f in fs
           if f.endswith(".nbc") and "gpuad_kernel_" in f]
    assert nbc
    for p in nbc:
        with open(p, "r+b") as f:
            f.truncate(os.path.getsize(p) // 2)
    r = _run(tmp_path)  # moved aside, compiled again (NOTE [damaged cache]), same results
    _check(r)
    again = _run(tmp_path)  # and saved afresh: loads light again
    _check(again)
    assert again["light"] >= 2 and again["refresh"] == 0, again


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x7fELF\x02\x01" + b"\0" * 10,
                                  b"\x7fELF\x01\x01" + b"\0" * 80])
def test_elf_reader_says_none_for_what_it_cannot_read(data):
    assert cache._elf_undefined(data) is None


def test_bench_first_call_measures_cold_and_warm():
    from bench import first_call
    rows = first_call.measure([("kinetics[gather]", "jacfwd")], 10, "cpu", 1, details=True)
    assert len(rows) == 1 and "error" not in rows[0], rows
    r = rows[0]
    assert r["cold_s"] > 0 and r["warm_s"] > 0 and r["warm"][0]["build_s"] <= r["warm_s"]
