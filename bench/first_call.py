"""Cold and warm first calls of ``ad.jit``, each in a new process.

The first call of a jitted batched Jacobian traces, compiles and runs it. *Cold*: a
new process with empty kernel caches (``GPUAD_CACHE_DIR`` and ``NUMBA_CACHE_DIR`` in
a fresh folder), so every kernel is compiled. *Warm*: a second new process on the
same folders, so every kernel is loaded from Numba's disk cache; what remains is the
trace, loading the kernels and the run. JAX's figure to compare is its compile time
for the same shape (``jax.jit(f).lower(x).compile()``).

``python -m bench.first_call`` measures it on its own (every jit row of the bench, or
``--rows``), with each call's split: ``build`` (optimise the traced graph, build the
plan: kernels compiled or loaded) and the rest of the first call (the trace, which runs
the function eagerly, and the call's own overhead). The figure is the first call
itself; importing gpuad (0.3-0.4 s) comes before it and is not counted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time
import numpy as np
import gpuad as ad
from gpuad.jit import function as _fn
from gpuad.kernels import cache as _cache
from bench.workloads import WORKLOADS
wl = WORKLOADS[sys.argv[1]]
method, B, device = sys.argv[2], int(sys.argv[3]), sys.argv[4]
ad.set_default_device(device)
_build, build_s = _fn._build, [0.0]
def _timed_build(*a, **k):
    t = time.perf_counter()
    try:
        return _build(*a, **k)
    finally:
        build_s[0] += time.perf_counter() - t
_fn._build = _timed_build
f = ad.jit(ad.vmap(getattr(ad, method)(wl.gpuad_fn(ad, device=device))))
x = ad.tensor(wl.make_input(B), device=device)
t0 = time.perf_counter()
np.asarray(f(x).numpy())
first = time.perf_counter() - t0
t0 = time.perf_counter()
f(x).numpy()
second = time.perf_counter() - t0
stats = getattr(_cache, "_light_stats", {})
print(json.dumps({"first_s": first, "second_s": second, "build_s": build_s[0],
                  "light_loads": stats.get("light"), "refresh_loads": stats.get("refresh")}))
"""


def _child(args, env, root):
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], env=env, cwd=root,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else
                           f"exit status {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(cells, B, device, threads, warm_repeats=1, details=False):
    """[{workload, method, B, cold_s, warm_s}] for each (workload name, method).

    ``warm_s`` is the median (the lower middle) of ``warm_repeats`` warm processes; with ``details``, each
    row also has ``cold`` and ``warm`` (every warm process's) child reports."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for name, method in cells:
        with tempfile.TemporaryDirectory(prefix="gpuad-first-call-") as tmp:
            env = dict(os.environ, GPUAD_CACHE_DIR=tmp, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"),
                       NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                       OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            row = {"workload": name, "method": f"vmap({method})", "B": B}
            try:
                args = [name, method, str(B), device]
                cold = _child(args, env, root)
                warm = [_child(args, env, root) for _ in range(max(1, warm_repeats))]
                row["cold_s"] = cold["first_s"]
                row["warm_s"] = statistics.median_low(w["first_s"] for w in warm)
                if details:
                    row["cold"], row["warm"] = cold, warm
            except Exception as e:  # a failure is a result, reported in the table
                row["error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
    return rows


def _cells(rows_arg):
    from bench.workloads import WORKLOADS
    cells = [(name, m) for name, wl in WORKLOADS.items() for m in wl.METHODS]
    if rows_arg:
        want = [r.strip() for r in rows_arg.split(",") if r.strip()]
        cells = [c for c in cells if f"{c[0]}:{c[1]}" in want or c[0] in want]
    return cells


def _ms(x):
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.2f} s"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.first_call", description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", "-B", type=int, default=1000, help="batch size (default 1000, the bench's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rows", default="", help="comma-separated WORKLOAD or WORKLOAD:METHOD "
                   "(default: every jit row of the bench)")
    p.add_argument("--warm-repeats", type=int, default=1,
                   help="warm processes per row; the table shows their median (default 1)")
    p.add_argument("--json", help="also write the rows, with every process's split, here")
    args = p.parse_args(argv)
    rows = measure(_cells(args.rows), args.batch, args.device, args.threads,
                   args.warm_repeats, details=True)
    head = ("workload", "method", "cold first call", "of it build", "warm first call",
            "of it build", "kernels loaded light/refresh")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        if "error" in r:
            print(f"| {r['workload']} | {r['method']} | {r['error']} |" + " |" * (len(head) - 3))
            continue
        w = next(w for w in r["warm"] if w["first_s"] == r["warm_s"])
        print(f"| {r['workload']} | {r['method']} | {_ms(r['cold_s'])} | {_ms(r['cold']['build_s'])} "
              f"| {_ms(r['warm_s'])} | {_ms(w['build_s'])} | {w['light_loads']}/{w['refresh_loads']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    from bench import pin_threads
    _argv = sys.argv[1:]
    _t = next((_argv[i + 1] for i, a in enumerate(_argv[:-1]) if a == "--threads"), "1")
    pin_threads(int(_t))
    sys.exit(main())
