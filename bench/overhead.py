"""``python -m bench --overhead``: the eager cost of one op on a tiny tensor, where the
arithmetic is nothing and the library's dispatch is everything: gpuad against torch (and
NumPy, the floor under gpuad's cpu backend), in one process, one thread.

Each op runs ``number`` times per timing; the figure is the median over ``repeats``
timings, in microseconds per call, with the best beside it (the machine's noise is the
gap)."""
from __future__ import annotations

import statistics
import timeit

import numpy as np

N = 16  # elements: small enough that the op's own arithmetic is a few nanoseconds


def _cases(lib, x, y):
    sin = np.sin if lib == "numpy" else lib.sin
    return {"sin": lambda: sin(x), "add": lambda: x + y, "mul": lambda: x * y,
            "sum": lambda: x.sum(), "matmul": lambda: x @ y}


def measure(number=20_000, repeats=15):
    """``{library: {op: (median_us, best_us)}}`` for gpuad, torch (when installed), NumPy."""
    import gpuad as ad
    a, b = np.linspace(0.1, 1.0, N), np.linspace(1.0, 2.0, N)
    libs = {"gpuad": (ad, ad.tensor(a), ad.tensor(b)), "numpy": ("numpy", a, b)}
    try:
        import torch
        libs["torch"] = (torch, torch.tensor(a), torch.tensor(b))
    except ImportError:
        pass
    out = {name: {} for name in libs}
    cases = {name: _cases(*v) for name, v in libs.items()}
    for op in cases["gpuad"]:
        runs = {name: [] for name in libs}
        for _ in range(repeats):  # interleaved, so a burst of load hits every library alike
            for name in libs:
                runs[name].append(timeit.timeit(cases[name][op], number=number) / number * 1e6)
        for name, r in runs.items():
            out[name][op] = (statistics.median(r), min(r))
    return out


def report(res) -> str:
    libs = list(res)
    lines = ["| op (16 elements, cpu) | " + " | ".join(f"{n} µs" for n in libs) + " | gpuad / torch |",
             "|---|" + "---|" * len(libs) + "---|"]
    for op in res["gpuad"]:
        cells = [f"{res[n][op][0]:.2f} (best {res[n][op][1]:.2f})" for n in libs]
        ratio = (f"{res['gpuad'][op][0] / res['torch'][op][0]:.2f}x" if "torch" in res else "-")
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main(args) -> int:
    res = measure(number=2_000 if args.tiny else 20_000, repeats=3 if args.tiny else 15)
    print(report(res))
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"overhead_us": {n: {op: {"median": m, "best": b} for op, (m, b) in r.items()}
                                       for n, r in res.items()}}, f, indent=1)
    return 0
