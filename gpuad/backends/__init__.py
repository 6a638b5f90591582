"""Device registry: names, availability, the default device."""
from __future__ import annotations

import os
import threading

from ..errors import DeviceUnavailableError, GpuadValueError

KNOWN = ("cpu", "cudasim", "cuda")
_instances = {}
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


def check_name(name, fn="device"):
    if not isinstance(name, str) or name.split(":")[0] not in KNOWN:
        raise GpuadValueError(
            f"{fn}: argument 'device' must be one of {', '.join(map(repr, KNOWN))}, got {name!r}")
    return name.split(":")[0]


def unavailable_reason(name):
    try:
        cls = _backend_class(name)
    except ImportError as e:  # the backend module itself needs a missing package
        return f"{name} backend cannot be imported: {e}"
    return cls.unavailable_reason()


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
            b = _backend_class(name)()
            _instances[name] = b
    return b


def devices():
    """Names of the devices usable on this machine."""
    return [n for n in KNOWN if unavailable_reason(n) is None]


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
