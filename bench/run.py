"""The benchmark harness: every workload x method x mode x batch, all libraries in one process.

For each cell (workload, method, mode, B) the harness

1. builds the batched function in every library: ``vmap(T(f))`` with T in jacfwd / jacrev /
   hessian, wrapped in the library's ``jit`` for mode ``jit`` (torch.func has none: eager only);
2. calls each once (the first call: tracing and compiling for jit, Numba kernels for gpuad) and
   checks the result against the analytic NumPy reference (rtol 1e-8, float64); any library
   that disagrees stops the run (``AgreementError``) unless ``--keep-going``;
3. warms up, then times rounds: in each round every library runs once, always in the order
   gpuad, torch.func, JAX, NumPy, so slow drift of the machine hits all of them alike; the
   figure is the median over rounds;
4. counts gpuad's kernel launches for one call with ``ad.count_launches()``.

A check pass at a tiny batch runs over every cell before any timing, so a wrong Jacobian fails
in seconds rather than after minutes. Thread counts are pinned by ``bench.__main__`` before any
numerical library is imported (``bench.pin_threads``).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import statistics
import sys
import time
import traceback

import numpy as np

from . import pin_threads  # noqa: F401  (re-exported)
from . import timing
from .workloads import WORKLOADS

LIB_ORDER = ("gpuad", "torch.func", "jax", "numpy")
LIB_LABEL = {"gpuad": "gpuad", "torch.func": "torch.func", "jax": "JAX", "numpy": "NumPy analytic"}
MODES = ("eager", "jit")
FULL_BATCHES = (1_000, 100_000)
QUICK_BATCHES = (1_000,)
TINY_BATCHES = (8,)
CUDASIM_BATCHES = (8,)  # the simulator runs each GPU thread in Python
CHECK_BATCH = 5  # the check pass runs at min(timed batches, CHECK_BATCH_MAX), or 5 for big ones
CHECK_BATCH_MAX = 1_000
RTOL = 1e-8
ATOL = 1e-10  # relative to max |reference|

NA_JIT_GPUAD = "n/a (ad.jit not available)"
NA_JIT_TORCH = "eager only (torch.func has no jit)"
NA_JIT_NUMPY = "-"


class NotApplicable(Exception):
    """This library has no such mode; the message is what the table shows."""


class AgreementError(AssertionError):
    """Two implementations of the same Jacobian disagree."""


# --------------------------------------------------------------------------------------------
# libraries
# --------------------------------------------------------------------------------------------
class Lib:
    """One library: how to build a batched transform, move data in and out, and wait for it."""

    name = "?"
    missing: str | None = None  # why the library cannot run here (e.g. "not installed")
    version: str | None = None
    ran_on = "cpu"  # where its calls actually run: "cpu", "cuda", "cudasim", "cpu (no GPU build)"
    timer = timing.WallTimer()

    def build(self, wl, method: str, mode: str):
        raise NotImplementedError

    def put(self, X: np.ndarray):
        return X

    def get(self, out) -> np.ndarray:
        return np.asarray(out)

    def block(self, out) -> None:
        pass

    def compile_time(self, wl, method: str, x) -> float | None:
        """Seconds to compile the jit version for ``x``'s signature, where the library says so."""
        return None


class GpuadLib(Lib):
    name = "gpuad"

    def __init__(self, device: str):
        self.device = device
        try:
            import gpuad as ad
        except ImportError as e:
            self.missing = f"not installed ({e})"
            return
        except Exception as e:  # importable but broken: say so, do not hide it
            self.missing = f"import failed ({type(e).__name__}: {e})"
            return
        self.ad = ad
        self.version = getattr(ad, "__version__", "?")
        try:
            ad.set_default_device(device)
        except Exception as e:
            self.missing = f"device {device!r} unusable ({type(e).__name__}: {e})"
            return
        self.ran_on = device
        self._sync = None
        if device == "cuda":
            self._sync = getattr(ad, "synchronize", None)
            if self._sync is None:
                import cupy
                self._sync = cupy.cuda.runtime.deviceSynchronize
        self.timer = timing.select_timer(self.name, device, device)

    @property
    def has_jit(self) -> bool:
        return hasattr(self.ad, "jit")

    def build(self, wl, method, mode):
        ad = self.ad
        if mode == "jit" and not self.has_jit:
            raise NotApplicable(NA_JIT_GPUAD)
        fn = ad.vmap(getattr(ad, method)(wl.gpuad_fn(ad, device=self.device)))
        return ad.jit(fn) if mode == "jit" else fn

    def put(self, X):
        return self.ad.tensor(X, device=self.device)

    def get(self, out):
        return np.asarray(out.numpy())

    def block(self, out):
        if self._sync is not None:
            self._sync()

    def launches(self, fn, x) -> int | None:
        if not hasattr(self.ad, "count_launches"):
            return None
        with self.ad.count_launches() as c:
            out = fn(x)
            self.block(out)
        return int(c.launches)


class TorchLib(Lib):
    name = "torch.func"

    def __init__(self, device: str, threads: int):
        try:
            import torch
            import torch.func
        except ImportError:
            self.missing = "not installed"
            return
        self.torch = torch
        self.version = torch.__version__
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only settable before the first parallel region
            pass
        self.device = "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"
        self.ran_on = self.device
        if device == "cuda" and self.device == "cpu":
            # torch falls back to the CPU without a word: say so in every row
            self.ran_on = ("cpu (no GPU build)" if torch.version.cuda is None
                           else "cpu (CUDA build, no usable GPU)")
        self.timer = timing.select_timer(self.name, device, self.device, torch=torch)

    def build(self, wl, method, mode):
        if mode == "jit":
            raise NotApplicable(NA_JIT_TORCH)
        tf = self.torch.func
        return tf.vmap(getattr(tf, method)(wl.torch_fn(self.torch, device=self.device)))

    def put(self, X):
        return self.torch.from_numpy(X).to(self.device)

    def get(self, out):
        return out.detach().cpu().numpy()

    def block(self, out):
        if self.device == "cuda":
            self.torch.cuda.synchronize()


class JaxLib(Lib):
    name = "jax"

    def __init__(self, device: str):
        try:
            import jax
            jax.config.update("jax_enable_x64", True)
            import jax.numpy as jnp
        except ImportError:
            self.missing = "not installed"
            return
        self.jax, self.jnp = jax, jnp
        self.version = jax.__version__
        self.dev = jax.devices("cpu")[0]  # on cpu / cudasim runs, even where JAX has a GPU
        if device == "cuda":
            try:
                self.dev = jax.devices("gpu")[0]
            except RuntimeError:  # no GPU backend: JAX would silently run on the CPU
                self.dev = jax.devices()[0]
        self.ran_on = "cuda" if self.dev.platform == "gpu" else self.dev.platform
        if device == "cuda" and self.dev.platform != "gpu":
            self.ran_on = ("cpu (no GPU build)" if not _jax_gpu_plugin()
                           else "cpu (GPU build, no usable GPU)")
        self.timer = timing.select_timer(self.name, device, self.ran_on)

    def _batched(self, wl, method):
        jax = self.jax
        return jax.vmap(getattr(jax, method)(wl.jax_fn(self.jnp)))

    def build(self, wl, method, mode):
        fn = self._batched(wl, method)
        return self.jax.jit(fn) if mode == "jit" else fn

    def put(self, X):
        return self.jax.device_put(X, self.dev)

    def block(self, out):
        out.block_until_ready()

    def compile_time(self, wl, method, x):
        fresh = self.jax.jit(self._batched(wl, method))
        t0 = time.perf_counter()
        fresh.lower(x).compile()
        return time.perf_counter() - t0


def _jax_gpu_plugin() -> bool:
    """Whether a JAX GPU build is installed (the CUDA plugin of jax[cuda12] / jax[cuda13])."""
    import importlib.util
    for m in ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_plugins.xla_cuda12",
              "jax_plugins.xla_cuda13"):
        try:
            if importlib.util.find_spec(m) is not None:
                return True
        except (ImportError, ValueError):  # parent package missing
            continue
    return False


class NumpyLib(Lib):
    name = "numpy"

    def __init__(self):
        self.version = np.__version__

    def build(self, wl, method, mode):
        if mode == "jit":
            raise NotApplicable(NA_JIT_NUMPY)
        return lambda X: wl.numpy_reference(method, X)


def make_libs(device: str, threads: int) -> dict:
    libs = [GpuadLib(device), TorchLib(device, threads), JaxLib(device), NumpyLib()]
    return {lib.name: lib for lib in libs}


# --------------------------------------------------------------------------------------------
# one cell
# --------------------------------------------------------------------------------------------
def max_rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| / max |ref|: the error in units of the result's scale."""
    return float(np.max(np.abs(got - ref)) / max(1e-300, float(np.max(np.abs(ref)))))


def agrees(got: np.ndarray, ref: np.ndarray) -> bool:
    return got.shape == ref.shape and bool(
        np.allclose(got, ref, rtol=RTOL, atol=ATOL * max(1.0, float(np.max(np.abs(ref))))))


def _error_text(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return f"error: {type(e).__name__}: {msg}"


def run_cell(wl, method, mode, B, libs, *, repeats, budget_s, keep_going=False, timed=True,
             errors=None, model_batches=()):
    """Check and (if ``timed``) time one cell. Returns its JSON record. On a GPU device
    (cudasim, cuda) with ``model_batches``, gpuad's row also gets its GPU cost model at
    those batches (``rec["gpu_model"]``, bench/gpu_model.py)."""
    X = wl.make_input(B, seed=B)
    ref = wl.numpy_reference(method, X)
    rec = {"workload": wl.NAME, "method": f"vmap({method})", "transform": method, "mode": mode,
           "B": B, "libs": {}, "launches": None}
    ready = {}
    mismatches = []
    for name in LIB_ORDER:
        lib = libs[name]
        e = rec["libs"][name] = {"status": "ok", "median_s": None, "times_s": [],
                                 "device": lib.ran_on, "timing": lib.timer.kind}
        if lib.missing:
            e["status"] = lib.missing
            continue
        try:
            fn = lib.build(wl, method, mode)
            x = lib.put(X)
            if mode == "jit" and timed:
                e["compile_s"] = lib.compile_time(wl, method, x)
            t0 = time.perf_counter()
            out = fn(x)
            lib.block(out)
            e["first_call_s"] = time.perf_counter() - t0
            got = lib.get(out)
        except NotApplicable as na:
            e["status"] = str(na)
            continue
        except (Exception, MemoryError) as ex:  # a library failing is a result, not a crash
            e["status"] = _error_text(ex)
            if errors is not None:
                errors.append({"workload": wl.NAME, "method": rec["method"], "mode": mode, "B": B,
                               "lib": name, "traceback": traceback.format_exc()})
            continue
        e["max_err_vs_analytic"] = max_rel_err(got, ref) if got.shape == ref.shape else None
        if not agrees(got, ref):
            msg = (f"{LIB_LABEL[name]} disagrees with the analytic reference on {wl.NAME} "
                   f"vmap({method}) {mode} B={B}: shape {got.shape} vs {ref.shape}, "
                   f"max |diff| = {np.max(np.abs(got - ref)) if got.shape == ref.shape else 'n/a'}")
            mismatches.append(msg)
            e["status"] = "MISMATCH"
            continue
        del out, got
        ready[name] = (fn, x)
    if mismatches and not keep_going:
        raise AgreementError("\n".join(mismatches))
    if not timed:
        return rec

    # warm-up, then rounds in a fixed order
    gc.collect()
    est = {}
    for name, (fn, x) in ready.items():
        try:
            t0 = time.perf_counter()
            libs[name].block(fn(x))
            est[name] = time.perf_counter() - t0
        except Exception as ex:
            rec["libs"][name]["status"] = _error_text(ex)
    ready = {k: v for k, v in ready.items() if k in est}
    round_s = sum(est.values()) or 1e-6
    n = int(max(repeats[0], min(repeats[1], budget_s / round_s)))
    # a library far slower than the rest gets fewer rounds (at least repeats[0]), so one slow
    # cell cannot eat the run; the others keep the full count
    lib_n = {k: min(n, max(repeats[0], int(2 * budget_s / max(t, 1e-9)))) for k, t in est.items()}
    samples = {name: [] for name in ready}
    for i in range(n):
        for name, (fn, x) in ready.items():
            if i >= lib_n[name]:
                continue
            lib = libs[name]
            out, sample = lib.timer.measure(lambda: fn(x), lib.block)
            samples[name].append(sample)
            del out
    for name in ready:
        record_times(rec["libs"][name], libs[name].timer, samples[name])
    if "gpuad" in ready:
        fn, x = ready["gpuad"]
        try:
            rec["launches"] = libs["gpuad"].launches(fn, x)
        except Exception as ex:
            rec["launches_error"] = _error_text(ex)
        if model_batches and libs["gpuad"].ran_on in ("cudasim", "cuda"):
            from . import gpu_model
            try:
                rec["gpu_model"] = gpu_model.model_row(libs["gpuad"], fn, wl, B, model_batches)
            except Exception as ex:
                rec["gpu_model"] = {"error": _error_text(ex)}
                if errors is not None:
                    errors.append({"workload": wl.NAME, "method": rec["method"], "mode": mode,
                                   "B": B, "lib": "gpuad (GPU cost model)",
                                   "traceback": traceback.format_exc()})
    return rec


def record_times(e: dict, timer, samples: list) -> None:
    """One library's samples into its entry: ``times_s`` and ``median_s`` are the timer's
    figure (wall time, or device time for CUDA events); wall, host and device medians beside."""
    e["timing"] = timer.kind
    e["times_s"] = [timer.figure(s) for s in samples]
    e["median_s"] = statistics.median(e["times_s"])
    e["repeats"] = len(samples)
    e["wall_median_s"] = statistics.median(s.wall_s for s in samples)
    e["host_median_s"] = statistics.median(s.host_s for s in samples)
    dev = [s.device_s for s in samples if s.device_s is not None]
    e["device_median_s"] = statistics.median(dev) if dev else None


def ratio(a: dict, b: dict):
    """a's time over b's, on the figure both report; wall time when their timings differ
    (CUDA-event device time against a peer timed by the wall clock)."""
    key = "median_s" if a.get("timing") == b.get("timing") else "wall_median_s"
    x, y = a.get(key), b.get(key)
    return x / y if x and y else None


def add_ratios(results: list) -> None:
    """gpuad / peer for each row; jit rows compare with torch.func eager, its only mode."""
    eager = {(r["workload"], r["method"], r["B"]): r for r in results if r["mode"] == "eager"}
    for r in results:
        g = r["libs"]["gpuad"]
        t_row = eager.get((r["workload"], r["method"], r["B"]), r)
        r["ratio_gpuad_torch"] = ratio(g, t_row["libs"]["torch.func"])
        r["ratio_gpuad_jax"] = ratio(g, r["libs"]["jax"])


# --------------------------------------------------------------------------------------------
# profile
# --------------------------------------------------------------------------------------------
def profile_slowest(results, libs, top=5, seconds=2.0) -> dict:
    """cProfile the slowest gpuad method of each workload (largest B, eager or jit)."""
    out = {}
    lib = libs["gpuad"]
    if lib.missing:
        return out
    for wname in dict.fromkeys(r["workload"] for r in results):
        rows = [r for r in results if r["workload"] == wname]
        bmax = max(r["B"] for r in rows)
        ok = [r for r in rows if r["libs"]["gpuad"]["median_s"]]
        if not ok:
            continue
        # a method that failed at the largest B counts as the slowest: profile it at the
        # largest B where it ran
        failed = [r for r in rows if r["B"] == bmax and r["libs"]["gpuad"]["status"].startswith("error")]
        cands = [r for f in failed for r in ok if (r["transform"], r["mode"]) == (f["transform"], f["mode"])]
        if cands:
            row = max(cands, key=lambda r: (r["B"], r["libs"]["gpuad"]["median_s"]))
        else:
            row = max((r for r in ok if r["B"] == max(q["B"] for q in ok)),
                      key=lambda r: r["libs"]["gpuad"]["median_s"])
        wl = WORKLOADS[wname]
        fn = lib.build(wl, row["transform"], row["mode"])
        x = lib.put(wl.make_input(row["B"], seed=row["B"]))
        lib.block(fn(x))
        calls = int(max(1, min(50, seconds / row["libs"]["gpuad"]["median_s"])))
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls):
            lib.block(fn(x))
        prof.disable()
        st = pstats.Stats(prof, stream=io.StringIO())
        total = st.total_tt
        funcs = []
        for (path, line, func), (cc, nc, tt, ct, _) in sorted(
                st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]:
            short = path.split("site-packages/")[-1].split("/work/main/")[-1]
            funcs.append({"function": f"{short}:{line}({func})", "ncalls_per_call": nc / calls,
                          "tottime_s_per_call": tt / calls, "cumtime_s_per_call": ct / calls,
                          "share": tt / total if total else None})
        out[wname] = {"method": row["method"], "mode": row["mode"], "B": row["B"],
                      "why": ("fails at B = %d; profiled at the largest B where it ran" % bmax
                              if cands else "slowest gpuad method at the largest B"),
                      "calls": calls, "total_s_per_call": total / calls, "top": funcs}
    return out


# --------------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------------
def machine_info(libs, threads) -> dict:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("numba", "torch", "jax", "jaxlib", "gpuad"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = "not installed"
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "load_avg_1_5_15": load,
            "platform": platform.platform(), "threads": threads, "versions": versions}


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=(
        "Batched Jacobians and Hessians of physics workloads: gpuad vs torch.func vs JAX vs an "
        "analytic NumPy Jacobian, in one process, with ratios and gpuad kernel launches."))
    p.add_argument("--quick", action="store_true", help="B = 1,000 only and fewer repeats (< 5 min)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cudasim", "cuda"),
                   help="gpuad device (peers run on the CPU, or on the GPU for cuda when they can; "
                        "on cuda gpuad and torch are timed by CUDA events, host time apart)")
    p.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    p.add_argument("--markdown", metavar="PATH",
                   help="write a markdown report here, with a PNG plot beside it")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of {','.join(WORKLOADS)}")
    p.add_argument("--methods", default=None, help="comma-separated subset of jacfwd,jacrev,hessian")
    p.add_argument("--modes", default="eager,jit", help="comma-separated subset of eager,jit")
    p.add_argument("--batches", default=None, help="comma-separated batch sizes (overrides the defaults)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for every library (default 1: fair and less noisy)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="address-space cap for the process (default 60%% of RAM; 0: none), so a "
                        "huge intermediate fails that cell with MemoryError instead of the machine")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the slowest gpuad method of each workload (top 5 functions)")
    p.add_argument("--keep-going", action="store_true",
                   help="report disagreeing results as MISMATCH instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-first-call", action="store_true",
                   help="skip the cold / warm first-call measurement of the jit rows "
                        "(new processes, B = 1,000)")
    p.add_argument("--dask", action="store_true",
                   help="instead: the kinetics Jacobian over Dask (gpuad.dask.map_batches) on 1 "
                        "and 2 worker processes against the single-process jit, and Dask's "
                        "overhead per chunk (bench/dask_bench.py)")
    p.add_argument("--dask-batch", type=int, default=1_000_000, help="--dask: batch size B")
    p.add_argument("--dask-chunks", type=int, default=8, help="--dask: chunks of the batch")
    p.add_argument("--dask-repeats", type=int, default=3, help="--dask: timed runs (best kept)")
    p.add_argument("--model-batch", default="100000,1000000", metavar="B[,B...]",
                   help="--device cudasim/cuda: the batches the GPU cost model of each gpuad "
                        "row extrapolates to, for an H100 SXM and an H200 (bench/gpu_model.py; "
                        "0: no model)")
    p.add_argument("--model-markdown", metavar="PATH",
                   help="write the GPU cost model table into the '## GPU cost model' section "
                        "of this markdown file (replacing it, or appended)")
    p.add_argument("--overhead", action="store_true",
                   help="only the eager cost of one op on a 16-element tensor: gpuad vs torch vs "
                        "NumPy (bench/overhead.py)")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # for tests
    return p


def _progress(total, disable):
    try:
        from tqdm import tqdm
    except ImportError:  # a bare bar on stderr, so the run still shows it moves
        class tqdm:  # noqa: N801
            def __init__(self, total, **kw):
                self.n, self.total, self.off = 0, total, kw.get("disable")

            def set_description(self, s):
                self.desc = s

            def update(self, k=1):
                self.n += k
                if not self.off:
                    print(f"\r[{self.n}/{self.total}] {self.desc}", end="", file=sys.stderr)

            def close(self):
                if not self.off:
                    print(file=sys.stderr)
    return tqdm(total=total, file=sys.stderr, disable=disable, unit="cell", dynamic_ncols=True)


FIRST_CALL_BATCH = 1_000


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.dask:
        from . import dask_bench
        return dask_bench.main(args)
    if args.overhead:
        from . import overhead
        return overhead.main(args)
    t_start = time.perf_counter()
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        print(f"bench: unknown workload(s) {unknown}; choose from {list(WORKLOADS)}", file=sys.stderr)
        return 2
    if args.batches:
        batches = tuple(int(b) for b in args.batches.split(","))
    elif args.tiny:
        batches = TINY_BATCHES
    elif args.device == "cudasim":
        batches = CUDASIM_BATCHES
    elif args.quick:
        batches = QUICK_BATCHES
    else:
        batches = FULL_BATCHES
    if args.tiny:
        repeats, budget = (1, 2), 0.05
    elif args.quick:
        repeats, budget = (5, 20), 2.5
    else:
        repeats, budget = (5, 30), 12.0
    modes = [m for m in args.modes.split(",") if m in MODES]
    model_batches = tuple(int(b) for b in args.model_batch.split(",") if int(b) > 0) \
        if args.device in ("cudasim", "cuda") else ()
    only = set(args.methods.split(",")) if args.methods else None

    libs = make_libs(args.device, args.threads)
    machine = machine_info(libs, args.threads)  # load average before the run
    for lib in libs.values():
        if lib.missing:
            print(f"bench: {LIB_LABEL[lib.name]}: {lib.missing}", file=sys.stderr)
    if not libs["gpuad"].missing and not libs["gpuad"].has_jit:
        print(f"bench: gpuad jit rows: {NA_JIT_GPUAD}", file=sys.stderr)

    cells = [(WORKLOADS[w], m, mode) for w in names for m in WORKLOADS[w].METHODS
             if only is None or m in only for mode in modes]
    errors: list = []
    results: list = []
    check_b = min(batches) if min(batches) <= CHECK_BATCH_MAX else CHECK_BATCH
    bar = _progress(len(cells) * (len(batches) + 1), args.no_progress)
    try:
        for wl, m, mode in cells:  # check pass: every implementation agrees before any timing
            bar.set_description(f"check {wl.NAME} vmap({m}) {mode}")
            run_cell(wl, m, mode, check_b, libs, repeats=repeats, budget_s=budget,
                     keep_going=args.keep_going, timed=False, errors=errors)
            bar.update()
        for B in batches:
            for wl, m, mode in cells:
                bar.set_description(f"{wl.NAME} vmap({m}) {mode} B={B}")
                results.append(run_cell(wl, m, mode, B, libs, repeats=repeats, budget_s=budget,
                                        keep_going=args.keep_going, errors=errors,
                                        model_batches=model_batches))
                bar.update()
                gc.collect()
    except AgreementError as e:
        bar.close()
        print("\nbench: IMPLEMENTATIONS DISAGREE -- no timings reported\n" + str(e), file=sys.stderr)
        return 3
    bar.close()
    add_ratios(results)

    from . import report
    data = {
        "meta": {"argv": ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])],
                 "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                 "check_batch": check_b,
                 "device": args.device, "quick": args.quick, "batches": list(batches),
                 "model_batches": list(model_batches),
                 "modes": modes, "workloads": names, "repeats_min_max": list(repeats),
                 "budget_s_per_round_set": budget, "rtol": RTOL,
                 "gpuad_has_jit": (not libs["gpuad"].missing) and libs["gpuad"].has_jit,
                 "machine": machine},
        "libraries": {LIB_LABEL[k]: (lib.missing or f"ok ({lib.version})") for k, lib in libs.items()},
        "devices": {LIB_LABEL[k]: (None if lib.missing else lib.ran_on) for k, lib in libs.items()},
        "timing": {LIB_LABEL[k]: lib.timer.kind for k, lib in libs.items() if not lib.missing},
        "workloads": {w: WORKLOADS[w].TITLE for w in names},
        "results": results,
        "errors": errors,
    }
    if "jit" in modes and not (args.tiny or args.no_first_call or libs["gpuad"].missing):
        from . import first_call
        print("bench: cold and warm first calls of the jit rows (new processes)", file=sys.stderr)
        data["first_calls"] = first_call.measure(
            [(wl.NAME, m) for wl, m, mode in cells if mode == "jit"], FIRST_CALL_BATCH,
            args.device, args.threads)
    if args.profile:
        bar_msg = "bench: profiling the slowest gpuad method of each workload"
        print(bar_msg, file=sys.stderr)
        data["profiles"] = profile_slowest(results, libs)
    data["meta"]["wall_s"] = time.perf_counter() - t_start
    try:
        data["meta"]["load_avg_end_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass

    print(report.format_table(data))
    if any(r.get("gpu_model") for r in results):
        print("\n" + report.format_gpu_model(data))
    if data.get("first_calls"):
        print("\n" + report.format_first_calls(data))
    if args.profile:
        print(report.format_profiles(data))
    seen = set()
    for err in errors:
        key = (err["lib"], err["workload"], err["method"], err["mode"],
               err["traceback"].strip().splitlines()[-1])
        if key in seen:
            continue
        seen.add(key)
        print(f"\n--- {err['lib']} failed on {err['workload']} {err['method']} {err['mode']} "
              f"B={err['B']}:\n{err['traceback']}", file=sys.stderr)
    if args.json:
        report.write_json(data, args.json)
    if args.markdown:
        report.write_markdown(data, args.markdown)
    if args.model_markdown and any(r.get("gpu_model") for r in results):
        report.write_gpu_model_section(data, args.model_markdown)
    print(f"bench: {len(results)} cells in {data['meta']['wall_s']:.1f} s", file=sys.stderr)
    # gpuad unusable on the device asked for (no GPU, no CuPy): the run measured only peers
    return 1 if errors or libs["gpuad"].missing else 0
