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

On a GPU device each launch also carries its cost (``c.records``: one :class:`KernelRecord`
per recorded launch, with the global bytes it read and wrote and its flops, see
``gpuad.kernel_costs``), and :class:`device_clock` measures how much of a call's wall time
the simulated device spent running kernels, so that the rest is the host's.
"""
from __future__ import annotations

import threading
import time
from typing import NamedTuple

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
    ``c.transfers == 0``.

    ``c.records`` lists every recorded launch in order as a :class:`KernelRecord` (name,
    kernels, bytes read and written in global memory, flops); on cpu, and for a GPU launch
    whose cost is unknown, the cost fields are None. ``c.read_bytes``, ``c.written_bytes``
    and ``c.flops`` are their sums over the records that know them."""

    def __init__(self):
        self.launches = 0
        self.by_op = {}
        self.transfers = 0
        self.transfer_bytes = 0
        self.by_transfer = {}
        self.records = []

    read_bytes = property(lambda self: sum(r.read_bytes or 0 for r in self.records))
    written_bytes = property(lambda self: sum(r.written_bytes or 0 for r in self.records))
    flops = property(lambda self: sum(r.flops or 0 for r in self.records))

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


class KernelRecord(NamedTuple):
    """``n`` device kernels launched together under ``name`` (a library call known to run
    several counts them as one record), reading ``read_bytes`` and writing
    ``written_bytes`` of global memory and computing ``flops`` (``gpuad.kernel_costs``);
    None where not known."""
    name: str
    n: int
    read_bytes: int | None
    written_bytes: int | None
    flops: int | None


_tls = threading.local()


def record(name, n=1, cost=None):
    """``n`` launches of ``name``; ``cost``: a function returning ``(read_bytes,
    written_bytes, flops)``, called only while a count is active."""
    if _active and not getattr(_tls, "paused", 0):
        rec = None
        if cost is not None:
            try:
                rec = KernelRecord(name, n, *cost())
            except Exception:  # an unforeseen argument: the launch still counts, cost unknown
                rec = None
        if rec is None:
            rec = KernelRecord(name, n, None, None, None)
        for c in list(_active):
            c.launches += n
            c.by_op[name] = c.by_op.get(name, 0) + n
            c.records.append(rec)


def launch_cost(reads, writes, flops=None):
    """A ``cost`` for :func:`record`: the distinct bytes of the arrays ``reads`` and
    ``writes`` (``gpuad.kernel_costs.total_bytes``) and ``flops``."""
    def cost():
        from .kernel_costs import total_bytes
        return total_bytes(reads), total_bytes(writes), flops
    return cost


def is_gpu(device):
    """Whether launches on ``device`` are counted as device kernels (not dispatches)."""
    return device is not None and str(device).split(":")[0] != "cpu"


def record_dispatch(name, device):
    """An op-level launch (a creation or random op): counted on cpu; on a GPU device the
    kernels it runs are counted where they launch instead."""
    if _active and not is_gpu(device):
        record(name)


def record_kernel(kind, n=1, cost=None):
    """``n`` of gpuad's own device kernels of ``kind`` (``"elementwise"``, ``"reduce"``,
    ``"det"``...), recorded under the current :class:`op_scope` name when there is one;
    ``cost`` as in :func:`record`."""
    if _active:
        record(getattr(_tls, "op", None) or "gpuad." + kind, n, cost)


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


# -- device time of the simulator ---------------------------------------------------------
_clocks = []


class device_clock:
    """``with device_clock() as clk: f(x)`` then ``clk.seconds``: the wall time spent
    inside kernel bodies on ``cudasim``, the part of a call a GPU would run: gpuad's kernels
    in Numba's simulator and the array-module calls that count as kernels (NumPy running
    them for ``simcupy``). The call's wall time minus ``clk.seconds`` is its host time:
    gpuad's Python, argument preparation, allocation and the proxies' bookkeeping. Only
    simulated devices add to it (a CUDA launch returns before its kernel runs).

    ``clk.cpu_seconds`` is the same in CPU time of the calling thread
    (``time.thread_time``): the call's thread CPU time minus it is the host's work, which
    other processes sharing the machine do not inflate as they do wall time."""

    def __init__(self):
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def __enter__(self):
        with _lock:
            _clocks.append(self)
        return self

    def __exit__(self, *exc):
        with _lock:
            _clocks.remove(self)
        return False


def add_device_time(seconds, cpu_seconds=0.0):
    """``seconds`` of simulated kernel work, ``cpu_seconds`` of it on the calling thread's
    CPU (see :class:`device_clock`)."""
    for clk in list(_clocks):
        clk.seconds += seconds
        clk.cpu_seconds += cpu_seconds


def timed_device_call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, its wall and thread CPU time added to the active
    :class:`device_clock`."""
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        return fn(*args, **kwargs)
    finally:
        add_device_time(time.perf_counter() - t0, time.thread_time() - c0)
