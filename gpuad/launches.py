"""Kernel launch counting (``ad.count_launches``).

A launch is one device kernel (or, on cpu, one compiled-kernel call or one NumPy /
library call) run by a gpuad op. Compiling and tracing are not launches. A jitted
plan that runs in row tiles on the cpu (NOTE [row tiles] in ``gpuad/jit/rows.py``)
counts each of its kernels once per call, as one GPU launch covers all its blocks.
"""
from __future__ import annotations

import threading

_active = []
_lock = threading.Lock()


class count_launches:
    """``with ad.count_launches() as c: ...`` then ``c.launches``; ``c.by_op`` maps
    primitive names to counts."""

    def __init__(self):
        self.launches = 0
        self.by_op = {}

    def __enter__(self):
        with _lock:
            _active.append(self)
        return self

    def __exit__(self, *exc):
        with _lock:
            _active.remove(self)
        return False

    def __repr__(self):
        return f"count_launches(launches={self.launches})"


def record(name, n=1):
    if _active:
        for c in list(_active):
            c.launches += n
            c.by_op[name] = c.by_op.get(name, 0) + n
