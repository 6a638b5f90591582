"""The ``cuda`` backend: CuPy storage, gpuad's CUDA kernels (Numba-CUDA) for pointwise ops,
reductions and small batched linear algebra; CuPy's libraries (cuBLAS, cuSOLVER) for the
rest. Data stays on the device: no op makes a hidden host copy.

CuPy is imported lazily. Importing this module never fails: on a machine without CuPy, a
driver or a device, :meth:`CudaBackend.unavailable_reason` says which is missing and the
device registry reports it.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util

from .cudasim import KernelBackend

_INSTALL = "pip install gpuad[cuda12]"


class _LazyCupy:
    """``xp`` for the class: resolves to the cupy module on first attribute access."""

    def __getattr__(self, name):
        import cupy
        return getattr(cupy, name)


@functools.lru_cache(maxsize=None)
def _reason():
    if importlib.util.find_spec("cupy") is None:
        return f"CuPy is not installed ({_INSTALL})"
    try:
        import cupy
    except Exception as e:  # installed for another CUDA version, broken wheel, ...
        return f"CuPy failed to import ({type(e).__name__}: {e}); reinstall it ({_INSTALL})"
    try:
        from numba import cuda as _nc  # noqa: F401
    except Exception as e:
        return f"numba-cuda is not installed or broken ({type(e).__name__}: {e}; {_INSTALL})"
    # CuPy imports without a driver but can neither allocate nor compile there.
    for lib in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            ctypes.CDLL(lib)
            break
        except OSError:
            continue
    else:
        return "no CUDA driver (libcuda could not be loaded; install the NVIDIA driver)"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        status = getattr(e, "status", None)
        if status == 100:  # cudaErrorNoDevice
            return "no CUDA device (the driver found no GPU)"
        if status == 35:  # cudaErrorInsufficientDriver
            return ("no CUDA driver recent enough for CuPy's CUDA toolkit "
                    f"(cudaErrorInsufficientDriver: {e})")
        return f"no usable CUDA driver ({type(e).__name__}: {e})"
    if n == 0:
        return "no CUDA device (the driver found no GPU)"
    return None


class CudaBackend(KernelBackend):
    name = "cuda"
    xp = _LazyCupy()
    target = "cuda"

    def __init__(self, index=0):
        import cupy
        from .counting import wrap
        self.xp = wrap(cupy)  # the module from here on, counting the kernels its calls launch
        super().__init__(index)  # devices: cupy.cuda.Device, as the simulator's (cudasim.py)

    @classmethod
    def unavailable_reason(cls):
        return _reason()

    # asarray (KernelBackend's): host data (lists, NumPy) is copied to the device once;
    # CuPy arrays of this device are taken without a copy when the dtype matches, those
    # of another device copied peer to peer.

    def to_numpy(self, arr):
        return self.xp.asnumpy(arr)

    def is_native(self, arr):
        return isinstance(arr, self.xp.ndarray)


__all__ = ["CudaBackend"]
