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
    primitive names to counts. ``c.transfers`` counts host<->device copies on a GPU
    device (``cudasim`` records each explicit transfer, ``c.by_transfer`` by kind, and
    ``c.transfer_bytes`` their size): a call that should stay on the device asserts
    ``c.transfers == 0``."""

    def __init__(self):
        self.launches = 0
        self.by_op = {}
        self.transfers = 0
        self.transfer_bytes = 0
        self.by_transfer = {}

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


def record_transfer(kind, nbytes):
    """One host<->device copy of ``nbytes`` (``kind``: what made it, e.g. ``"get"``)."""
    if _active:
        for c in list(_active):
            c.transfers += 1
            c.transfer_bytes += nbytes
            c.by_transfer[kind] = c.by_transfer.get(kind, 0) + 1
