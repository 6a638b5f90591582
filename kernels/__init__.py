"""gpuad's CUDA kernels (``gpuad.kernels``).

Kernel functions are written once with the ``numba.cuda`` API and run on two targets:
``"cuda"`` (``numba.cuda.jit``, real GPUs) and ``"cudasim"`` (``numba.cuda.simulator.jit``,
Numba's CUDA simulator, with no process-wide switch), so CI checks the very kernels the GPU
runs. Every kernel is generated from a template (:mod:`.elementwise`, :mod:`.reduction`,
:mod:`.small_linalg`), memoized by signature and cached on disk (:mod:`.cache`).

``python -m gpuad.ptx --ptx --arch sm_80,sm_90 --out DIR [--report]`` compiles every
kernel gpuad can emit to PTX without a GPU (``gpuad/ptx``, a tool above the package: this
folder imports only the registry and its own templates).
"""
from .elementwise import UnsupportedDtype, run_elementwise
from .reduction import run_reduce
from .small_linalg import EIGH_MAX_K, MAX_K, run_det, run_eigh, run_inv, run_solve
from .target import TARGETS, KernelStats, stats

__all__ = ["run_elementwise", "run_reduce", "run_det", "run_inv", "run_solve", "run_eigh", "stats",
           "KernelStats", "TARGETS", "MAX_K", "EIGH_MAX_K", "UnsupportedDtype"]
