"""The GPU cost model (DESIGN.md "GPU cost model"): modelled H100 SXM and H200 time of a
gpuad bench row, from the kernels its plan actually launches.

No GPU is lent to these machines, so ``python -m bench --device cudasim`` runs each row on
the CUDA simulator at tiny batches and models the time at ``--model-batch`` (default
100,000 and 1,000,000):

1. **Records.** ``ad.count_launches()`` records every launch of one call (``c.records``):
   its name, the global bytes it reads and writes (the distinct bytes of its actual device
   arrays, ``gpuad.kernel_costs``) and its flops (weighted, ``gpuad.kernel_costs``).
2. **Scaling in B.** The simulator runs at tiny batches only, so each launch's bytes and
   flops are measured at two batches (``FIT_BATCHES``) and fitted as ``a + b·B``, then
   extrapolated. A third batch (the row's own B) checks the fit: the same launches in the
   same order, and every launch's bytes and flops predicted exactly (``linear``). A plan
   whose launches change with B, or whose bytes are not affine in B, is reported
   ``linear: False`` and not extrapolated.
3. **Device time**, per GPU: each kernel takes ``max(bytes / HBM bandwidth, flops / FP64
   peak)`` (a roofline: a kernel is bound by memory or by arithmetic, whichever is
   slower), plus :data:`LAUNCH_LATENCY_S` per launch. cuBLAS contractions
   (``cublas.*``) use the FP64 tensor-core peak (DGEMM runs on them on Hopper), everything
   else the FP64 vector peak.
4. **Host time**: the time of one call at the row's B on the simulator minus the time
   spent inside kernel bodies (``gpuad.launches.device_clock``: the simulated kernels and
   the simulated library calls). What remains is gpuad's Python: dispatch, the jit
   executor, argument preparation, allocation. It is measured in CPU time of the calling
   thread (``time.thread_time``), so that other processes on a shared machine do not
   inflate it (host work is single-threaded Python that never waits, so on an idle core
   its wall time is its CPU time; the wall-clock figure is kept in the JSON as
   ``host_wall_s``), the least of :data:`HOST_CALLS` calls, and taken as independent of
   B (a plan's host work depends on shapes, not on sizes).
5. **Modelled time = max(host, device)**. Launches are asynchronous: the host enqueues
   kernels on the stream and returns, the GPU runs them back to back while the host is
   ahead, and the call ends when both are done (the bench synchronizes). A host-bound call
   takes the host's time with the device idling between kernels; a device-bound call the
   device's. ``serial_s = host + device`` (no overlap at all) is kept in the JSON as the
   upper bound.
6. **Floor**: the batched Jacobian's input and output moved once through HBM,
   ``(input bytes + output bytes) / bandwidth``; the ratio modelled / floor is how far
   the plan is from the best a bandwidth-bound GPU could do.

The plan is assumed to be the same at the modelled B as at the tiny ones (the fit's check
sees only tiny batches): on ``cuda`` a reduction over few rows splits into two passes
where many rows take one (``kernels/reduction.py``), so such a row may run one launch
fewer at large B than modelled.

Not modelled: caches (every kernel streams its bytes from HBM; small constants read by
many threads are counted once), sector granularity of strided reads
(``gpuad.kernel_costs``), occupancy and tail effects of tiny grids, the host cost of
CuPy's and Numba's launch paths (the simulator's stand-ins are cheaper than CuPy's
allocator and Numba's dispatcher, so the host figure is a lower bound of gpuad's), and
library kernels launched inside one library call (one record per call, the floor of
``count_launches``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

FIT_BATCHES = (2, 4)  # the two tiny batches the per-launch lines a + b·B are fitted on
CHECK_BATCH = 6  # the third batch when the row's own B is one of FIT_BATCHES
MODEL_BATCHES = (100_000, 1_000_000)
HOST_CALLS = 5
#: per launch, on the device timeline: the gap between two dependent kernels on one stream
#: plus the launch's share of the driver. NVIDIA quotes kernel launch overhead as "a few
#: microseconds" (CUDA C++ Best Practices Guide, "Kernel launch overhead"; CUDA Graphs
#: blog, 2019: ~2-3 us host API + ~1-2 us GPU gap per launch): 4 us is assumed.
LAUNCH_LATENCY_S = 4e-6


@dataclass(frozen=True)
class GPU:
    """A GPU's data-sheet constants."""
    name: str
    hbm_bytes_per_s: float
    fp64_flops_per_s: float  # FP64 vector (non-tensor) peak
    fp64_tensor_flops_per_s: float  # FP64 tensor-core peak (DGEMM)
    source: str


#: NVIDIA H100 Tensor Core GPU data sheet (SXM5 80 GB): HBM3 3.35 TB/s, FP64 34 TFLOPS,
#: FP64 Tensor Core 67 TFLOPS.
H100_SXM = GPU("H100 SXM", 3.35e12, 34e12, 67e12,
               "NVIDIA H100 Tensor Core GPU data sheet, SXM5: HBM3 3.35 TB/s, FP64 34 "
               "TFLOPS, FP64 Tensor Core 67 TFLOPS")
#: NVIDIA H200 Tensor Core GPU data sheet (SXM, 141 GB): HBM3e 4.8 TB/s, FP64 34 TFLOPS,
#: FP64 Tensor Core 67 TFLOPS.
H200 = GPU("H200", 4.8e12, 34e12, 67e12,
           "NVIDIA H200 Tensor Core GPU data sheet, SXM: HBM3e 4.8 TB/s, FP64 34 TFLOPS, "
           "FP64 Tensor Core 67 TFLOPS")
GPUS = (H100_SXM, H200)


# -- one call's records -------------------------------------------------------------------
@dataclass
class Probe:
    """One call of a row at batch ``B``: its launch records (``KernelRecord``) and the
    bytes of the batched Jacobian's input and output."""
    B: int
    records: list
    in_bytes: int
    out_bytes: int


def probe(lib, fn, wl, B: int, seed: int = 0) -> Probe:
    """Run ``fn`` (a gpuad batched transform) once at batch ``B`` (after a first call that
    compiles) and record its launches."""
    X = wl.make_input(B, seed=seed)
    x = lib.put(X)
    lib.block(fn(x))
    with lib.ad.count_launches() as c:
        out = fn(x)
        lib.block(out)
    out_bytes = int(out.size) * np.dtype(out.dtype).itemsize
    return Probe(B, list(c.records), X.nbytes, out_bytes)


def host_seconds(lib, fn, x, calls: int = HOST_CALLS) -> dict:
    """One call's host time: the least over ``calls`` of its time minus its simulated
    device time (``gpuad.launches.device_clock``), in thread CPU time (``"cpu_s"``, what
    the model uses) and in wall time (``"wall_s"``, inflated when other processes share
    the machine)."""
    from gpuad import launches
    cpu, wall = [], []
    for _ in range(calls):
        with launches.device_clock() as clk:
            t0, c0 = time.perf_counter(), time.thread_time()
            out = fn(x)  # on cuda: returns once its kernels are enqueued
            t1, c1 = time.perf_counter(), time.thread_time()
        lib.block(out)
        wall.append(t1 - t0 - clk.seconds)
        cpu.append(c1 - c0 - clk.cpu_seconds)
    return {"cpu_s": min(cpu), "wall_s": min(wall)}


# -- scaling in B -----------------------------------------------------------------------------
_FIELDS = ("read_bytes", "written_bytes", "flops")


def _line(y1, y2, b1, b2):
    slope = (y2 - y1) / (b2 - b1)
    return y1 - slope * b1, slope


def fit(p1: Probe, p2: Probe) -> list:
    """Per launch of ``p1``/``p2`` (same names in the same order), ``(name, n, lines)``
    with ``lines[field] = (a, b)``: the field is ``a + b·B`` (None when unknown)."""
    if [(r.name, r.n) for r in p1.records] != [(r.name, r.n) for r in p2.records]:
        raise ValueError("the launches differ between batches "
                         f"{p1.B} and {p2.B}: {len(p1.records)} vs {len(p2.records)}")
    out = []
    for r1, r2 in zip(p1.records, p2.records):
        lines = {}
        for f in _FIELDS:
            y1, y2 = getattr(r1, f), getattr(r2, f)
            lines[f] = None if y1 is None or y2 is None else _line(y1, y2, p1.B, p2.B)
        out.append((r1.name, r1.n, lines))
    return out


def at(line, B):
    return None if line is None else line[0] + line[1] * B


def check_linear(lines: list, p3: Probe) -> tuple:
    """``(ok, worst relative error)``: does the fit predict every launch of ``p3``?"""
    if [(n, k) for n, k, _ in lines] != [(r.name, r.n) for r in p3.records]:
        return False, float("inf")
    worst = 0.0
    for (_, _, ln), r in zip(lines, p3.records):
        for f in _FIELDS:
            got = getattr(r, f)
            if ln[f] is None or got is None:
                continue
            pred = at(ln[f], p3.B)
            worst = max(worst, abs(pred - got) / max(abs(got), 1.0))
    return worst <= 1e-9, worst


# -- the model ------------------------------------------------------------------------------
def kernel_seconds(name: str, nbytes, flops, gpu: GPU) -> float:
    """A kernel's roofline time: bytes over HBM bandwidth or flops over FP64 peak."""
    peak = gpu.fp64_tensor_flops_per_s if name.startswith("cublas.") else gpu.fp64_flops_per_s
    return max((nbytes or 0) / gpu.hbm_bytes_per_s, (flops or 0) / peak)


def floor_seconds(in_bytes, out_bytes, gpu: GPU) -> float:
    """The batched Jacobian's input and output moved once through HBM."""
    return (in_bytes + out_bytes) / gpu.hbm_bytes_per_s


def model(lines: list, in_line, out_line, host_s: float, B: int, gpu: GPU) -> dict:
    """The modelled time of one call at batch ``B`` on ``gpu`` (module docstring)."""
    launches = sum(n for _, n, _ in lines)
    kernels_s = 0.0
    nbytes = flops = 0
    unknown = 0
    for name, _, ln in lines:
        b = (at(ln["read_bytes"], B) or 0) + (at(ln["written_bytes"], B) or 0)
        f = at(ln["flops"], B)
        unknown += ln["read_bytes"] is None or ln["flops"] is None
        nbytes += b
        flops += f or 0
        kernels_s += kernel_seconds(name, b, f, gpu)
    device_s = kernels_s + launches * LAUNCH_LATENCY_S
    floor_s = floor_seconds(at(in_line, B), at(out_line, B), gpu)
    modelled = max(host_s, device_s)
    return {"gpu": gpu.name, "B": B, "launches": launches, "bytes": nbytes, "flops": flops,
            "kernels_s": kernels_s, "device_s": device_s, "host_s": host_s,
            "modelled_s": modelled, "serial_s": host_s + device_s, "floor_s": floor_s,
            "ratio_to_floor": modelled / floor_s if floor_s else None,
            "unknown_cost_launches": unknown}


def model_row(lib, fn, wl, B_row: int, model_batches=MODEL_BATCHES) -> dict:
    """Model one gpuad bench row (``fn``: its batched transform) at ``model_batches``: the
    records at ``FIT_BATCHES`` fitted, checked at ``B_row`` (or :data:`CHECK_BATCH`), the
    host time measured at ``B_row``. Returns the JSON record of the row's model."""
    p1, p2 = (probe(lib, fn, wl, b) for b in FIT_BATCHES)
    B3 = B_row if B_row not in FIT_BATCHES else CHECK_BATCH
    p3 = probe(lib, fn, wl, B3)
    x = lib.put(wl.make_input(B_row, seed=B_row))
    lib.block(fn(x))
    host = host_seconds(lib, fn, x)
    host_s = host["cpu_s"]
    rec = {"fit_batches": list(FIT_BATCHES), "check_batch": B3, "host_s": host_s,
           "host_wall_s": host["wall_s"],
           "launch_latency_s": LAUNCH_LATENCY_S,
           "per_launch_at_check": [list(r) for r in p3.records]}
    try:
        lines = fit(p1, p2)
    except ValueError as e:
        rec.update(linear=False, why=str(e), models=[])
        return rec
    ok, worst = check_linear(lines, p3)
    rec.update(linear=ok, worst_rel_error=worst)
    if not ok:
        rec.update(why=f"the fit on B = {FIT_BATCHES} misses B = {B3} by {worst:.3g}",
                   models=[])
        return rec
    rec["per_launch"] = [{"name": name, "n": n, **{f: ln[f] for f in _FIELDS}}
                         for name, n, ln in lines]  # each field (a, b): a + b·B
    in_line = _line(p1.in_bytes, p2.in_bytes, p1.B, p2.B)
    out_line = _line(p1.out_bytes, p2.out_bytes, p1.B, p2.B)
    rec["models"] = [model(lines, in_line, out_line, host_s, B, gpu)
                     for B in model_batches for gpu in GPUS]
    return rec
