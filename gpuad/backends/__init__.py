"""Device registry: names, availability, the default device.

NOTE [device names]: a device is a kind (``cpu``, ``cudasim``, ``cuda``) and, for the GPU
kinds, an index. The canonical name, the one ``Tensor.device`` reports and the one device
checks compare, is the bare kind for device 0 (``"cuda"``, ``"cudasim"``) and ``"kind:N"``
for device N >= 1 (``"cuda:1"``); ``"cuda:0"`` is accepted and means ``"cuda"``. A bare
kind therefore always names device 0, never "whichever device is current": a tensor's
``device`` passed back to any function (``zeros(..., device=x.device)``) names the same
device whatever device CuPy has current at the time. ``cpu`` has no index.

Each device has its own backend instance (``get_backend("cudasim:1")``) whose
:meth:`~gpuad.backends.base.Backend.activate` makes its device current (``with
cupy.cuda.Device(n)``, or the simulator's ``simcupy.cuda.Device(n)``) for array creation,
array-module calls and kernel launches; the core enters it around every primitive it
evaluates. :func:`devices` lists the canonical names of every usable device.
"""
from __future__ import annotations

import os
import threading

from ..errors import DeviceUnavailableError, GpuadValueError

KNOWN = ("cpu", "cudasim", "cuda")
_INDEXED = ("cudasim", "cuda")
_instances = {}
_names = {}  # spelling -> canonical name (cache of check_name)
_lock = threading.Lock()
_default = None


def _backend_class(name):
    if name == "cpu":
        from .cpu import CpuBackend
        return CpuBackend
    if name == "cudasim":
        from .cudasim import CudaSimBackend
        return CudaSimBackend
    if name == "cuda":
        from .cuda import CudaBackend
        return CudaBackend
    raise GpuadValueError(f"device: unknown device {name!r}; expected one of {', '.join(KNOWN)}")


def split_name(name):
    """``(kind, index)`` of a canonical device name (``"cuda:1"`` -> ``("cuda", 1)``;
    ``"cpu"`` -> ``("cpu", 0)``)."""
    kind, _, idx = name.partition(":")
    return kind, int(idx) if idx else 0


def device_kind(name):
    """The kind of a device name: ``"cuda:1"`` -> ``"cuda"``."""
    return name.partition(":")[0]


def canonical(kind, index=0):
    return kind if index == 0 else f"{kind}:{index}"


def check_name(name, fn="device"):
    """The canonical spelling of device ``name`` (see NOTE [device names]); raises
    GpuadValueError for a malformed name. Whether the device exists is checked when its
    backend is first used (:func:`get_backend`)."""
    c = _names.get(name) if isinstance(name, str) else None
    if c is not None:
        return c
    if isinstance(name, str):
        kind, sep, idx = name.partition(":")
        if kind in KNOWN and not sep:
            _names[name] = name
            return name
        if kind in _INDEXED and sep and idx.isdigit() and idx.isascii():
            c = _names[name] = canonical(kind, int(idx))
            return c
    raise GpuadValueError(
        f"{fn}: argument 'device' must be one of {', '.join(map(repr, KNOWN))}, or "
        f"'cuda:N' / 'cudasim:N' for device N, got {name!r}")


def unavailable_reason(name):
    """None when device ``name`` (a kind, or a canonical name with an index) is usable
    here, else a sentence saying why not."""
    kind, index = split_name(check_name(name))
    try:
        cls = _backend_class(kind)
    except ImportError as e:  # the backend module itself needs a missing package
        return f"{kind} backend cannot be imported: {e}"
    reason = cls.unavailable_reason()
    if reason is None and index:
        n = cls.device_count()
        if index >= n:
            return (f"no such device: {kind} has {n} device"
                    f"{'s' if n != 1 else ''} here (indices 0 to {n - 1})")
    return reason


def get_backend(name):
    b = _instances.get(name)
    if b is not None:
        return b
    name = check_name(name)
    with _lock:
        b = _instances.get(name)
        if b is None:
            reason = unavailable_reason(name)
            if reason is not None:
                raise DeviceUnavailableError(f"device {name!r} is not usable here: {reason}")
            kind, index = split_name(name)
            cls = _backend_class(kind)
            b = cls() if kind == "cpu" else cls(index)
            _instances[name] = b
    return b


def devices():
    """Canonical names of the devices usable on this machine, every index of each GPU
    kind: e.g. ``["cpu", "cudasim", "cudasim:1"]``."""
    out = []
    for kind in KNOWN:
        if unavailable_reason(kind) is not None:
            continue
        n = 1 if kind == "cpu" else _backend_class(kind).device_count()
        out.extend(canonical(kind, i) for i in range(n))
    return out


def get_default_device():
    global _default
    if _default is None:
        env = os.environ.get("GPUAD_DEVICE")
        if env:
            _default = check_name(env, "GPUAD_DEVICE")
        else:
            _default = "cuda" if unavailable_reason("cuda") is None else "cpu"
    return _default


def set_default_device(name):
    global _default
    name = check_name(name, "set_default_device")
    get_backend(name)  # raises if not usable here
    _default = name
