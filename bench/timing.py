"""How the bench times one call: a wall-clock timer, and a CUDA-event timer for the GPU.

Every timer measures one call with :meth:`measure` and returns a :class:`Sample`:

- ``wall_s``: from before the call until the device has finished it (the call, then the
  library's wait: ``block``). On ``cpu`` and ``cudasim`` this is the figure the bench reports,
  as it always did.
- ``host_s``: the Python call alone, before any wait. On a GPU the call only enqueues work,
  so this is the host's share: launch overhead, dispatch, tracing caches.
- ``device_s``: the GPU's time between two CUDA events recorded on the current stream just
  before and just after the call (``cuda-events`` timers only). When the host is slower than
  the device this is close to ``host_s``: the GPU waits for launches.

``cuda-events`` timers report ``device_s`` as their figure; ``wall`` timers ``wall_s``. A
report names the timing of every library (``Timer.kind``), and ratios between two libraries
timed differently fall back to wall time (``bench.run.add_ratios``).

``select_timer`` picks the timer per library: on ``--device cuda``, gpuad gets CuPy's events
(``cupy.cuda.Event`` / ``cupy.cuda.get_elapsed_time``) and torch, when it really runs on the
GPU, torch's (``torch.cuda.Event``); JAX has no event API, so it keeps the wall timer (with
``block_until_ready``) and its host time; every other case is the wall timer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

WALL = "wall"
CUDA_EVENTS = "cuda-events"

DESCRIPTION = {
    WALL: "wall clock (time.perf_counter) of the call plus the wait for its result",
    CUDA_EVENTS: "CUDA events recorded on the current stream around the call (device time); "
                 "host time is the wall clock of the Python call without the final sync",
}


@dataclass
class Sample:
    wall_s: float
    host_s: float
    device_s: Optional[float] = None


class WallTimer:
    """The call, then ``block(out)``, on a host clock."""

    kind = WALL

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock

    def figure(self, s: Sample) -> float:
        return s.wall_s

    def measure(self, call, block):
        clock = self.clock
        t0 = clock()
        out = call()
        t1 = clock()
        block(out)
        t2 = clock()
        return out, Sample(wall_s=t2 - t0, host_s=t1 - t0)


class CudaEventTimer:
    """Two events on the current stream around the call; the host clock around the call.

    ``new_event()`` makes a timing-enabled event with ``record()`` and ``synchronize()``;
    ``elapsed_ms(start, stop)`` reads the time between two completed events in milliseconds
    (CuPy's ``get_elapsed_time``, torch's ``start.elapsed_time(stop)``).
    """

    kind = CUDA_EVENTS

    def __init__(self, new_event, elapsed_ms, clock: Callable[[], float] = time.perf_counter):
        self.new_event = new_event
        self.elapsed_ms = elapsed_ms
        self.clock = clock

    def figure(self, s: Sample) -> float:
        return s.device_s

    def measure(self, call, block):
        clock = self.clock
        start, stop = self.new_event(), self.new_event()
        t0 = clock()
        start.record()
        out = call()
        stop.record()
        t1 = clock()           # host time: the call and two event records, no wait
        stop.synchronize()     # the device reached ``stop``: everything the call enqueued ran
        block(out)             # and anything outside the current stream (a no-op normally)
        t2 = clock()
        device_s = self.elapsed_ms(start, stop) / 1e3
        return out, Sample(wall_s=t2 - t0, host_s=t1 - t0, device_s=device_s)


def cupy_event_timer(clock=time.perf_counter) -> CudaEventTimer:
    import cupy
    return CudaEventTimer(lambda: cupy.cuda.Event(), cupy.cuda.get_elapsed_time, clock)


def torch_event_timer(torch, clock=time.perf_counter) -> CudaEventTimer:
    return CudaEventTimer(lambda: torch.cuda.Event(enable_timing=True),
                          lambda a, b: a.elapsed_time(b), clock)


def select_timer(lib_name: str, bench_device: str, lib_device: str, *, torch=None):
    """The timer for one library: ``lib_device`` is where it actually runs (``"cuda"`` /
    ``"gpu"`` for a GPU; anything else is the host)."""
    on_gpu = lib_device in ("cuda", "gpu") or lib_device.startswith("cuda:")
    if bench_device != "cuda" or not on_gpu:
        return WallTimer()
    if lib_name == "gpuad":
        return cupy_event_timer()
    if lib_name == "torch.func":
        if torch is None:
            import torch
        return torch_event_timer(torch)
    return WallTimer()  # JAX: no event API; block_until_ready after the call
