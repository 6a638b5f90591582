"""Random numbers. Under ``vmap`` they follow ``randomness``:

NOTE [randomness under vmap]: with "error" (the default) a random op inside a
vmapped function raises, because it is ambiguous whether batch members should
share draws. "different" draws an independent value per batch member (the batch
dims of every enclosing "different" vmap are part of the draw); "same" draws one
value shared by the whole batch.
"""
from __future__ import annotations

import threading

import numpy as np

from .. import core, launches
from ..backends import get_backend
from ..errors import GpuadRuntimeError
from ..tensor import Tensor
from .constants import _device, _shape

_lock = threading.Lock()
_seed = None
_generators = {}
_initial = {}  # a generator's state when it was created (for chunked "same" replays)


def manual_seed(seed):
    """Seed every device's generator (reproducible draws)."""
    global _seed
    with _lock:
        _seed = int(seed)
        _generators.clear()
        _initial.clear()


def _generator(device):
    # NOTE [generator state on the host]: every device's stream of draws is driven by
    # a NumPy generator, whose state is a plain value to save and restore (chunked
    # "same" replays one draw per chunk). The cpu draws from it directly; a GPU device
    # draws from a device generator seeded from it for each draw, so no state lives on
    # the device (CuPy's bit generators expose ``state`` as a method, not a settable
    # property, and cannot be rewound) and no random numbers cross the bus.
    g = _generators.get(device)
    if g is None:
        g = np.random.default_rng(_seed)
        _generators[device] = g
        _initial[device] = g.bit_generator.state
    return g


def _draw(fn, kind, shape, dtype, device):
    dev = _device(device, fn)
    dt = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)
    if any(t.freezes_randomness for t in core.state().stack):
        raise GpuadRuntimeError(
            f"{fn}: random ops inside ad.jit would be frozen into the compiled function; "
            "draw the random tensor outside and pass it as an argument")
    # each trace says how a draw under it is batched (Trace.random_batch): vmap's with
    # randomness="different" adds an axis of independent draws, "error" raises
    axes = [(t, t.random_batch(fn)) for t in core.state().stack]
    batched = [(t, n) for t, n in axes if n is not None]
    full = tuple(n for _, n in batched) + tuple(shape)
    g = _generator(dev)
    be = get_backend(dev)
    with _lock, be.activate():
        if be.xp is not np:  # NOTE [generator state on the host]
            g = be.xp.random.default_rng(int(g.integers(0, 2 ** 63 - 1)))
        if kind == "uniform":
            arr = g.random(full, dtype=dt) if dt.kind == "f" else g.random(full)
        else:
            arr = g.standard_normal(full, dtype=dt) if dt.kind == "f" else g.standard_normal(full)
    launches.record_dispatch(fn, dev)  # on a GPU the kernels count themselves
    out = Tensor._make(be.asarray(arr), dev)
    # wrap from the outermost trace inwards: each level's tracer holds the outer ones
    for t, _ in batched:
        out = t.wrap_random(out)
    return out


def rand(*shape, dtype=None, device=None):
    """Uniform samples on [0, 1)."""
    return _draw("rand", "uniform", _shape(shape, "rand"), dtype, device)


def randn(*shape, dtype=None, device=None):
    """Standard normal samples."""
    return _draw("randn", "normal", _shape(shape, "randn"), dtype, device)


def rand_like(x, dtype=None, device=None):
    return rand(*x.shape, dtype=dtype or x.dtype, device=device or x.device)


def randn_like(x, dtype=None, device=None):
    return randn(*x.shape, dtype=dtype or x.dtype, device=device or x.device)


def snapshot():
    """The generators' states (so chunked ``vmap(randomness="same")`` can replay one
    draw for every chunk; see NOTE [randomness under vmap])."""
    with _lock:
        return {d: g.bit_generator.state for d, g in _generators.items()}, _seed


def restore(snap):
    states, seed = snap
    with _lock:
        for d, g in _generators.items():
            if d not in states:  # created after the snapshot: rewind to its first state
                g.bit_generator.state = _initial[d]
        for d, st in states.items():
            g = _generators.get(d)
            if g is not None:
                g.bit_generator.state = st
