"""The jit's one thread pool for row ranges (row tiles, fused kernels, cpu row
programs): compiled loops that release the GIL, run over ranges of rows in parallel. Numba's thread count (``NUMBA_NUM_THREADS``,
``numba.set_num_threads``) is the knob. A module of its own so that the row kernel
(``row_kernel.py``, built by ``plan.py``) need not import the executor, which imports
the plan."""
from __future__ import annotations

import threading

_threads = None
_threads_lock = threading.Lock()


def thread_pool(threads):
    """A shared pool of at least ``threads`` workers."""
    global _threads
    with _threads_lock:
        if _threads is None or _threads._max_workers < threads:
            from concurrent.futures import ThreadPoolExecutor
            _threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gpuad-jit")
        return _threads


def run_rows(fn, n, threads, arrays):
    """``fn(lo, hi, *arrays)`` over rows 0..n in ``threads`` ranges; the calling thread
    takes the first range. Returns the sum of what the calls return (NOTE [guarded sin
    and cos] in codegen_cpu: how many arguments were beyond the polynomials' range)."""
    pool = thread_pool(threads)
    step = -(-n // threads)
    futures = [pool.submit(fn, lo, min(n, lo + step), *arrays) for lo in range(step, n, step)]
    beyond = fn(0, min(n, step), *arrays)
    return beyond + sum(f.result() for f in futures)
