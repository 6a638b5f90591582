"""The backend interface. Code above this layer never asks which device it runs on.

A backend owns an array module (``xp``), turns host data into device arrays, and runs
the kernels the primitives ask for. Launch counting is done once per primitive
dispatch by the core (see ``gpuad.launches``), not here.
"""
from __future__ import annotations

import contextlib

import numpy as np

_CURRENT = contextlib.nullcontext()  # activate() when the device is current already


class Backend:
    name: str = "?"  # the canonical device name (NOTE [device names] in gpuad.backends)
    index: int = 0  # device index within its kind
    xp = np  # array module: numpy or cupy

    @classmethod
    def device_count(cls) -> int:
        """How many devices of this kind there are (cpu: one)."""
        return 1

    def activate(self):
        """A context manager that makes this backend's device current for array
        creation, array-module calls and kernel launches (cheap when it is already)."""
        return _CURRENT

    # -- availability -------------------------------------------------------------
    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when usable here, else a sentence saying what is missing."""
        return None

    # -- data ---------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, arr) -> np.ndarray:
        return np.asarray(arr)

    def is_native(self, arr) -> bool:
        return isinstance(arr, np.ndarray)

    # -- kernels ------------------------------------------------------------------
    def elementwise(self, name: str, expr: str, arrays, out_dtype):
        """Pointwise op over broadcast ``arrays``.

        ``name`` is the primitive name (the CPU backend maps it to a NumPy ufunc);
        ``expr`` is the scalar expression of the registry, in inputs ``a0, a1, ...``
        (e.g. ``"math.sin(a0)"``), which GPU backends compile into a kernel.
        """
        raise NotImplementedError

    def reduce(self, name: str, x, axes: tuple, keepdims: bool):
        """Reduction ``name`` in {"sum", "prod", "max", "min"} over ``axes``."""
        raise NotImplementedError

    def small_linalg(self, name: str, *arrays):
        """Batched ``det`` / ``inv`` / ``solve`` over leading dims of k x k matrices."""
        raise NotImplementedError

    def small_eigh(self, a, UPLO: str = "L"):
        """Batched Hermitian eigendecomposition over leading dims, packed as the ``eigh``
        primitive holds it: (..., k + 1, k), row 0 the ascending eigenvalues (in ``a``'s
        dtype), rows 1.. the eigenvectors (columns). Here the array module's
        ``linalg.eigh`` (LAPACK, cuSOLVER); GPU backends run their own kernel for small k."""
        xp = self.xp
        w, v = xp.linalg.eigh(a, UPLO=UPLO)
        return xp.concatenate([w.astype(v.dtype)[..., None, :], v], axis=-2)
