"""Kernel launch counting (``ad.count_launches``).

A launch is one device kernel (or, on cpu, one compiled-kernel call or one NumPy /
library call) run by a gpuad op. Compiling and tracing are not launches. A jitted
plan that runs in row tiles on the cpu (NOTE [row tiles] in ``gpuad/jit/rows.py``)
counts each of its kernels once per call, as one GPU launch covers all its blocks.

One source of truth per device kind:

- cpu: the op dispatches (``eval_prim`` and jit's steps record the primitive name of
  every primitive that runs a kernel; ``record_dispatch`` for creation and random ops).
- GPU devices (``cuda``, ``cudasim``): the device kernels, recorded where they launch:
  gpuad's own in ``gpuad.kernels`` (``record_kernel``, under the name of the primitive
  or fused group that launched them, see :class:`op_scope`), the libraries' in the
  counting array module (``gpuad.backends.counting``: ``"cupy.zeros"``,
  ``"cublas.einsum"``, ...). Dispatch-level records are skipped there.
"""
from __future__ import annotations

import threading

_active = []
_lock = threading.Lock()


class count_launches:
    """``with ad.count_launches() as c: ...`` then ``c.launches``; ``c.by_op`` maps
    names to counts: primitive names on cpu; on a GPU device gpuad's kernels under the
    primitive (or jit fused group) that launched them and library kernels as
    ``"cupy.<fn>"``, ``"cublas.<fn>"``, ... (docs/kernels.md, "What count_launches
    counts"). ``c.transfers`` counts host<->device copies on a GPU
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


_tls = threading.local()


def record(name, n=1):
    if _active and not getattr(_tls, "paused", 0):
        for c in list(_active):
            c.launches += n
            c.by_op[name] = c.by_op.get(name, 0) + n


def is_gpu(device):
    """Whether launches on ``device`` are counted as device kernels (not dispatches)."""
    return device is not None and str(device).split(":")[0] != "cpu"


def record_dispatch(name, device):
    """An op-level launch (a creation or random op): counted on cpu; on a GPU device the
    kernels it runs are counted where they launch instead."""
    if _active and not is_gpu(device):
        record(name)


def record_kernel(kind, n=1):
    """``n`` of gpuad's own device kernels of ``kind`` (``"elementwise"``, ``"reduce"``,
    ``"det"``...), recorded under the current :class:`op_scope` name when there is one."""
    if _active:
        record(getattr(_tls, "op", None) or "gpuad." + kind, n)


class op_scope:
    """``with op_scope(name):`` gpuad kernels launched inside are recorded as ``name`` (a
    primitive, or a jit fused group ``"fused:..."``)."""

    __slots__ = ("name", "prev")

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.prev = getattr(_tls, "op", None)
        _tls.op = self.name
        return self

    def __exit__(self, *exc):
        _tls.op = self.prev
        return False


class paused:
    """``with paused():`` nothing is recorded as a launch in this thread (compiling:
    constant folding and uploads at jit compile time run kernels that are not part of a
    call). Transfers are still recorded."""

    def __enter__(self):
        _tls.paused = getattr(_tls, "paused", 0) + 1
        return self

    def __exit__(self, *exc):
        _tls.paused -= 1
        return False


def record_transfer(kind, nbytes):
    """One host<->device copy of ``nbytes`` (``kind``: what made it, e.g. ``"get"``)."""
    if _active:
        for c in list(_active):
            c.transfers += 1
            c.transfer_bytes += nbytes
            c.by_transfer[kind] = c.by_transfer.get(kind, 0) + 1
