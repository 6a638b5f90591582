"""Output buffers of the cpu kernels of ``jit``: a caching allocator per plan.

NOTE [jit buffer pool]: the buffers a plan's kernels write are reused between calls.
A fresh array of hundreds of MB costs as much in page faults as the kernel that fills
it; a reused one does not. Reuse must never write into memory the caller can still
reach: a returned result, any view of it, ``.numpy()``, ``__array__`` or a DLPack
export. Counting references to a buffer cannot prove that (a view made by NumPy, or a
result handed to the caller as the pooled array itself, refers to the memory through
objects the pool does not see). So every buffer is *leased*, as a caching allocator
does it: the array handed out is built on a small ``_Lease`` object that owns the
memory, every view of that array keeps the lease alive, and only when the last view
is gone does the lease's finalizer put the memory back on its free list. While
anything outside gpuad can reach the memory through Python objects, it stays out of
the pool. (A raw pointer taken without a reference, such as ``ctypes.data``, is the
taker's to keep alive, as with NumPy's and CuPy's own allocators.) Taking and
returning are single list operations, atomic under the GIL, so concurrent calls of
one plan share the pool safely.

NOTE [aligned kernel buffers]: after a process has allocated and freed large arrays,
glibc serves new ones from its heap, back to back: a fused kernel's input and its
outputs then sit at addresses that differ by the array size plus 16 bytes. Their
loads and stores alias in the low address bits, and a vectorized loop over them ran
4-5x slower here (measured: 64 ms against 14 ms for a sin / cos / exp kernel over
1.6M values). Buffers that start on a page boundary, staggered by a few cache lines
per output, do not alias: every pooled buffer is allocated so.
"""
from __future__ import annotations

import numpy as np

_PAGE = 4096
_STAGGER = 128  # bytes between the starts of a kernel's outputs
_SPARE = 2  # free buffers kept per key: a caller holding one result while computing the next
# NOTE [small buffers]: below this size an output is a plain ``np.empty``: malloc's own
# free lists serve it in a fraction of a microsecond, it faults no pages and a kernel
# over it is too short for address aliasing to matter, while a lease costs about 5 us
# (a third of a small Jacobian's call when a plan writes twenty outputs)
_SMALL = 32 << 10


def _aligned_raw(nbytes, slot):
    """A byte buffer and the address inside it ``slot * 128`` bytes after a page
    boundary, with ``nbytes`` after that address."""
    skew = (slot % (_PAGE // _STAGGER)) * _STAGGER
    raw = np.empty(nbytes + _PAGE + skew, dtype=np.uint8)
    return raw, raw.ctypes.data + (-raw.ctypes.data) % _PAGE + skew


def aligned_empty(shape, dtype, slot=0):
    """An uninitialized C-contiguous array starting ``slot * 128`` bytes after a page
    boundary (NOTE [aligned kernel buffers]); not pooled."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw, addr = _aligned_raw(nbytes, slot)
    start = addr - raw.ctypes.data
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _nbytes(shape, dtype):
    n = dtype.itemsize
    for d in shape:
        n *= d
    return n


class _Lease:
    """Owns one pooled allocation while any array on it is alive (NOTE [jit buffer
    pool]); NumPy takes it as the base of the array built on ``__array_interface__``."""

    __slots__ = ("__array_interface__", "raw", "free")

    def __del__(self):
        free = self.free
        if len(free) < _SPARE:
            free.append((self.raw, self.__array_interface__["data"][0]))


class Pool:
    """A plan's reusable kernel buffers, keyed by the step and output that writes them
    (NOTE [jit buffer pool])."""

    __slots__ = ("_free",)

    def __init__(self):
        self._free = {}

    def empty(self, key, shape, dtype, slot=0):
        """An uninitialized C-contiguous array of ``shape`` and ``dtype``: memory that
        nothing outside gpuad can reach, reused when a free one is at hand."""
        dtype = np.dtype(dtype)
        shape = tuple(shape)
        if _nbytes(shape, dtype) < _SMALL:  # NOTE [small buffers]
            return np.empty(shape, dtype)
        k = (key, shape, dtype.str)
        free = self._free.get(k)
        if free is None:
            free = self._free.setdefault(k, [])
        try:
            raw, addr = free.pop()
        except IndexError:
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            raw, addr = _aligned_raw(nbytes, slot)
        lease = _Lease()
        lease.raw = raw
        lease.free = free
        lease.__array_interface__ = {"version": 3, "shape": shape, "typestr": dtype.str,
                                     "data": (addr, False), "strides": None}
        return np.asarray(lease)

    def clear(self):
        self._free = {}

    def n_free(self):
        """Buffers waiting for reuse (for tests)."""
        return sum(len(f) for f in self._free.values())
