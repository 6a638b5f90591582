"""Targets: one kernel source, two executors.

``"cuda"`` compiles a kernel function with ``numba.cuda.jit`` (cached on disk, see
:mod:`gpuad.kernels.cache`); ``"cudasim"`` wraps *the same function object* with
``numba.cuda.simulator.jit``, which runs every CUDA thread as a Python thread and, for the
duration of a launch, swaps the module global named ``cuda`` for a fake module. No
process-wide ``NUMBA_ENABLE_CUDASIM`` switch is involved, so both targets live in one process.

NOTE(simulator-shuffles): numba-cuda's simulator has no warp shuffles. The reduction
kernels call ``cuda.shfl_down_sync`` *uniformly* (every thread of the block, the same
number of times), so :func:`_sim_shfl_down_sync` can emulate a shuffle with block-wide
scratch buffers and one barrier. That keeps the simulator running the very code path the
GPU runs, rather than a shuffle-free variant.
"""
from __future__ import annotations

import os
import threading
from collections import Counter

from gpuad import launches as _launches

TARGETS = ("cudasim", "cuda")

# Threads per block. The simulator runs each thread in Python (about a second per
# 256-thread block with barriers), so it uses one warp per block unless told otherwise;
# 32 is also the smallest block the warp-shuffle reduction supports.
_CUDA_BLOCK = 256
_SIM_BLOCK = int(os.environ.get("GPUAD_CUDASIM_BLOCK", "32"))
# Grid caps: kernels are grid-stride loops, so any grid is correct. The simulator uses a
# tiny grid so that the grid-stride path is exercised and tests stay fast.
_CUDA_MAX_GRID = 65535
_SIM_MAX_GRID = 4


def block_size(target: str) -> int:
    if target == "cuda":
        return _CUDA_BLOCK
    if _SIM_BLOCK <= 0 or _SIM_BLOCK % 32:
        from gpuad.errors import GpuadValueError
        raise GpuadValueError(f"GPUAD_CUDASIM_BLOCK must be a positive multiple of 32 (the "
                              f"warp size), got {_SIM_BLOCK}")
    return _SIM_BLOCK


def grid_size(target: str, work_items: int, block: int) -> int:
    cap = _CUDA_MAX_GRID if target == "cuda" else _SIM_MAX_GRID
    return max(1, min(cap, -(-work_items // block)))


def check_target(target: str) -> None:
    if target not in TARGETS:
        from gpuad.errors import GpuadValueError
        raise GpuadValueError(
            f"gpuad.kernels: target must be one of {TARGETS}, got {target!r}")


class KernelStats:
    """Per-kind launch counts of the kernel layer (``gpuad.kernels.stats``).

    ``launches[kind]`` counts kernels launched (a two-pass reduction counts two);
    ``compiles[kind]`` counts kernels built (memoization misses); ``fallbacks[kind]`` counts
    calls that the kernels could not handle and that went to the array module instead.
    """

    def __init__(self):
        self.launches = Counter()
        self.compiles = Counter()
        self.fallbacks = Counter()

    def reset(self) -> None:
        self.launches.clear()
        self.compiles.clear()
        self.fallbacks.clear()

    @property
    def total_launches(self) -> int:
        return sum(self.launches.values())

    def __repr__(self):
        return (f"KernelStats(launches={dict(self.launches)}, compiles={dict(self.compiles)}, "
                f"fallbacks={dict(self.fallbacks)})")


stats = KernelStats()


def jit(pyfn, target: str, cache: bool = True):
    """Compile ``pyfn`` (a kernel function defined in a real module file) for ``target``."""
    if target == "cuda":
        from numba import cuda

        from .cache import robust
        return robust(cuda.jit(cache=cache)(pyfn))  # a damaged cache entry is a miss
    from numba.cuda import simulator
    _install_sim_shims()
    return _SimKernel(simulator.jit(pyfn))


# -- simulator launches ---------------------------------------------------------------------
# NOTE(simulator-math): in the simulator, ``math.log(-1.0)`` raises ValueError and
# ``math.exp(1000.0)`` OverflowError, where a GPU returns nan / inf. For the duration of a
# simulated launch the kernel module's ``math`` global is swapped for :class:`_IEEEMath`
# (NumPy's functions, which follow IEEE semantics), the same trick the simulator plays with
# ``cuda``. NumPy's RuntimeWarnings for those values are silenced like a GPU would be. The
# simulator runs one kernel at a time (it asserts so), so launches are serialized by a lock,
# which makes the cudasim backend safe to use from several threads. (A first ``cuda``
# compile of the same kernel module running in another thread during a simulated launch
# would see the swapped globals; the simulator's own ``cuda`` swap has the same caveat.)
_sim_launch_lock = threading.RLock()


def _ieee_lgamma(x):
    # Python's lgamma raises at the poles (0, -1, ...) where a GPU's returns inf
    import math
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf if x == x else x


# The one table of ``math`` functions (as kernel expressions call them) and the array
# function of the same meaning, by its name in NumPy's API, which CuPy and simcupy share.
# Two places evaluate a kernel expression with array functions: a simulated launch
# (:class:`_IEEEMath`, NumPy's) and the GPU backends' dtype fallback (``_XpMath`` in
# ``gpuad.backends.cudasim``, the device's array module's). ``lgamma`` and ``erf`` are no
# array functions: each place supplies its own.
MATH_TO_ARRAY = {
    "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin", "acos": "arccos",
    "atan": "arctan", "atan2": "arctan2", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "exp": "exp",
    "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2", "log10": "log10",
    "log1p": "log1p", "sqrt": "sqrt", "pow": "power", "fabs": "fabs", "hypot": "hypot",
    "fmod": "fmod", "floor": "floor", "ceil": "ceil", "trunc": "trunc",
    "copysign": "copysign", "isnan": "isnan", "isinf": "isinf", "isfinite": "isfinite",
}


class _IEEEMath:
    def __init__(self):
        import math

        import numpy as np
        self._math = math
        for name, array_name in MATH_TO_ARRAY.items():
            setattr(self, name, getattr(np, array_name))
        self.lgamma = _ieee_lgamma

    def __getattr__(self, name):  # constants (pi, inf, nan) and total functions (erf)
        return getattr(self._math, name)


_ieee_math = None


class _SimKernel:
    """A simulator kernel with IEEE math and serialized launches (see NOTE(simulator-math))."""

    def __init__(self, fake):
        self.fake = fake
        self.py_func = fake.fn

    def __getitem__(self, config):
        def launch(*args):
            global _ieee_math
            import warnings
            if _ieee_math is None:
                _ieee_math = _IEEEMath()
            g = self.py_func.__globals__
            with _sim_launch_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                orig = g.get("math")
                g["math"] = _ieee_math
                try:
                    return self.fake[config](*args)
                finally:
                    g["math"] = orig
        return launch


# -- simulator shims ----------------------------------------------------------------------
_shim_lock = threading.Lock()
_shims_installed = False


def _sim_shfl_down_sync(self, mask, value, delta):
    # See NOTE(simulator-shuffles): valid only when every thread of the block calls it.
    # Two scratch buffers used alternately need one barrier per shuffle: a thread can only
    # overwrite a buffer after the *next* barrier, which every reader reaches after reading.
    th = threading.current_thread()
    mgr = th._manager
    with _shim_lock:
        bufs = getattr(mgr, "_gpuad_shfl", None)
        if bufs is None:
            bufs = mgr._gpuad_shfl = ({}, {})
    phase = getattr(th, "_gpuad_shfl_phase", 0)
    th._gpuad_shfl_phase = phase ^ 1
    buf = bufs[phase]
    tid = th.thread_id
    buf[tid] = value
    th.syncthreads()
    lane = tid % 32
    return buf.get(tid + delta, value) if lane + delta < 32 else value


def _install_sim_shims() -> None:
    global _shims_installed
    if _shims_installed:
        return
    from numba.cuda.simulator.kernelapi import FakeCUDAModule
    if not hasattr(FakeCUDAModule, "shfl_down_sync"):
        FakeCUDAModule.shfl_down_sync = _sim_shfl_down_sync
    _shims_installed = True


def array_module(target: str):
    """The device array module of ``target``: CuPy on ``cuda``, its strict stand-in
    (``gpuad.backends.simcupy``) on ``cudasim``, each behind the proxy that counts the
    kernels its calls launch (``gpuad.backends.counting``)."""
    from gpuad.backends.counting import wrap
    if target == "cuda":
        import cupy
        return wrap(cupy)
    from gpuad.backends import simcupy
    return wrap(simcupy)


def read_only(arr, target: str):
    """Mark a kernel input as read-only for the launch.

    The simulator copies every NumPy argument back after a launch unless it is wrapped in
    ``In``; that copy fails for read-only inputs (broadcast views) and wastes time. On
    ``cuda`` the arrays are CuPy device arrays and are passed as they are.
    """
    if target == "cudasim":
        from numba.cuda.simulator import In

        from gpuad.backends.simcupy import device_memory
        return In(device_memory(arr))
    return arr


# -- launching ------------------------------------------------------------------------------
# NOTE(cuda-streams): Numba, handed a CuPy array, imports it through
# __cuda_array_interface__ and by default *synchronizes the host with the array's stream*
# before every launch (CUDA_ARRAY_INTERFACE_SYNC). That would make every gpuad op
# blocking. Instead the arrays are imported with sync=False and the kernel is launched on
# CuPy's current stream of the current device, which orders it after the work that
# produced its inputs and before the work that consumes its output, with no host
# synchronization. The caller (the backend of the tensors' device, see
# ``Backend.activate``) has made their device current, so the arrays, the launch and the
# stream all belong to it. Stream pointers are per device (the null stream is 0 on every
# device), so the cache of Numba stream objects is keyed by (device id, pointer).
_streams: dict[tuple[int, int], object] = {}


def _numba_stream():
    import cupy
    from numba import cuda
    dev = cupy.cuda.runtime.getDevice()
    ptr = cupy.cuda.get_current_stream().ptr
    s = _streams.get((dev, ptr))
    if s is None:
        # ptr 0 is CuPy's null stream, the legacy default stream, which is also Numba's
        # default stream (of the current context: the device's primary context, which
        # CuPy made current).
        s = cuda.default_stream() if ptr == 0 else cuda.external_stream(ptr)
        _streams[(dev, ptr)] = s
    return s


def launch(kern, grid: int, block: int, args, target: str) -> None:
    """Launch ``kern`` on ``target``'s current device (see NOTE(cuda-streams) for
    ``cuda``). On ``cudasim``, an argument of another device raises ValueError, as a
    launch reading another GPU's memory would fail without peer access."""
    if target != "cuda":
        from gpuad.backends.simcupy import device_memory
        run = kern[grid, block]
        args = [device_memory(a) for a in args]
        if _launches._clocks:  # the simulated kernel's run is device time, not host time
            _launches.timed_device_call(run, *args)
        else:
            run(*args)
        return
    import cupy
    from numba import cuda
    dev_args = [cuda.from_cuda_array_interface(a.__cuda_array_interface__, owner=a, sync=False)
                if isinstance(a, cupy.ndarray) else a for a in args]
    kern[grid, block, _numba_stream()](*dev_args)
