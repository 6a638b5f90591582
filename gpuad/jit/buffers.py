"""Output buffers of the cpu kernels of ``jit``.

NOTE [aligned kernel buffers]: after a process has allocated and freed large arrays,
glibc serves new ones from its heap, back to back: a fused kernel's input and its
outputs then sit at addresses that differ by the array size plus 16 bytes. Their
loads and stores alias in the low address bits, and a vectorized loop over them ran
4-5x slower here (measured: 64 ms against 14 ms for a sin / cos / exp kernel over
1.6M values). Buffers that start on a page boundary, staggered by a few cache lines
per output, do not alias: every group output is allocated so.
"""
from __future__ import annotations

import sys

import numpy as np

_PAGE = 4096
_STAGGER = 128  # bytes between the starts of a kernel's outputs


def aligned_empty(shape, dtype, slot=0):
    """An uninitialized C-contiguous array starting ``slot * 128`` bytes after a page
    boundary (a view of a slightly larger byte buffer)."""
    dtype = np.dtype(dtype)
    n = 1
    for s in shape:
        n *= s
    nbytes = n * dtype.itemsize
    skew = (slot % (_PAGE // _STAGGER)) * _STAGGER
    buf = np.empty(nbytes + _PAGE + skew, dtype=np.uint8)
    start = (-buf.ctypes.data) % _PAGE + skew
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def unreferenced(arr):
    """True when nothing but ``arr`` itself refers to the memory it was allocated
    with (``aligned_empty``): every view handed out, and every view of those, holds
    a reference to the same owning byte buffer."""
    # references to the owner: arr's own, and getrefcount's argument
    return sys.getrefcount(arr.base) <= 2
