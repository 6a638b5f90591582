"""``ad.jit``: trace once per input signature, fuse pointwise chains, run compiled.

``jit(func)`` records the primitives ``func`` binds (see ``graph.py``), removes common
subexpressions and dead code, rewrites contractions and scatters for the shapes
Jacobians have (``rewrite.py``), fuses same-shape pointwise chains into single kernels
(``fusion.py``) and runs the resulting plan: fused groups as Numba loops on the cpu
(``codegen_cpu.py``, with ``fold.py`` and ``vmath.py``) or as gpuad's generated CUDA
kernels on cuda / cudasim, other primitives through their backend implementations,
with no per-op dispatch, writing into reused buffers (``buffers.py``).

Called with tracers of an enclosing transform (``vmap(jit(f))``), or with tensors that
require grad on the eager tape, the function is inlined instead, so the enclosing
transform sees every primitive; the numbers are the same either way.

The package: ``function.py`` (the API, signatures and the cache), ``graph.py`` (the
trace), ``passes.py`` with ``rewrite.py`` (the pass pipeline), ``plan.py`` (lowering to
steps: fusion, ``codegen_cpu.py``, and the row programs of ``rowplan.py`` rendered by
``codegen_rows.py``), and ``executor.py`` (running a plan).
"""
from __future__ import annotations

from .function import JitFunction, fused_programs, jit, row_programs

__all__ = ["jit", "JitFunction", "fused_programs", "row_programs"]
