"""Benchmarks of gpuad against torch.func, JAX and analytic NumPy Jacobians.

Run ``python -m bench --help``. The workloads are in ``bench.workloads``, the harness in
``bench.run``, the timers (wall clock; CUDA events on ``--device cuda``) in ``bench.timing``,
the table, JSON, markdown and plot in ``bench.report``; ``bench/gpu_check.sh`` is the check
for a CUDA host (docs/kernels.md). Nothing here is imported
by gpuad itself: torch, JAX, tqdm and matplotlib are the optional ``bench`` extra.
"""
import os


def pin_threads(n: int) -> None:
    """Pin every library to ``n`` threads.

    Must run before numpy, torch, jax or numba are first imported: their thread pools read
    these variables once. ``bench.__main__`` calls it; torch's own count is set again with
    ``torch.set_num_threads`` when the harness loads it.
    """
    n = str(int(n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = n
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        eigen = "false" if n == "1" else "true"
        flags += f" --xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={n}"
    os.environ["XLA_FLAGS"] = flags.strip()


def limit_memory(gib: float) -> None:
    """Cap the address space of this process at ``gib`` GiB (0: no cap).

    A batched Jacobian that materialises a huge intermediate then raises ``MemoryError``,
    which the harness reports in that library's cell, instead of waking the kernel's OOM
    killer, which may pick any process on the machine. Only the CLI sets it: a test
    session importing the harness keeps its own limits.
    """
    if gib <= 0:
        return
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    cap = int(gib * 2**30)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def default_memory_gib() -> float:
    """60% of physical memory (0 when unknown)."""
    try:
        return 0.6 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0
