"""Cold and warm first calls of ``ad.jit``, each in a new process.

The first call of a jitted batched Jacobian traces, compiles and runs it. *Cold*: a
new process with empty kernel caches (``GPUAD_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` in
a fresh folder), so every kernel is compiled. *Warm*: a second new process on the
same folders, so every kernel is loaded from Numba's disk cache; what remains is the
trace, Numba's own start-up in the process and the run. JAX's figure to compare is
its compile time for the same shape (``jax.jit(f).lower(x).compile()``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time
import numpy as np
import gpuad as ad
from bench.workloads import WORKLOADS
wl = WORKLOADS[sys.argv[1]]
method, B, device = sys.argv[2], int(sys.argv[3]), sys.argv[4]
ad.set_default_device(device)
f = ad.jit(ad.vmap(getattr(ad, method)(wl.gpuad_fn(ad, device=device))))
x = ad.tensor(wl.make_input(B), device=device)
t0 = time.perf_counter()
np.asarray(f(x).numpy())
first = time.perf_counter() - t0
t0 = time.perf_counter()
f(x).numpy()
print(json.dumps({"first_s": first, "second_s": time.perf_counter() - t0}))
"""


def _child(args, env, root):
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], env=env, cwd=root,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else
                           f"exit status {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(cells, B, device, threads):
    """[{workload, method, B, cold_s, warm_s}] for each (workload name, method)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for name, method in cells:
        with tempfile.TemporaryDirectory(prefix="gpuad-first-call-") as tmp:
            env = dict(os.environ, GPUAD_CACHE_DIR=tmp, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"),
                       NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
            row = {"workload": name, "method": f"vmap({method})", "B": B}
            try:
                args = [name, method, str(B), device]
                row["cold_s"] = _child(args, env, root)["first_s"]
                row["warm_s"] = _child(args, env, root)["first_s"]
            except Exception as e:  # a failure is a result, reported in the table
                row["error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
    return rows
