"""The backend interface. Code above this layer never asks which device it runs on.

A backend owns an array module (``xp``), turns host data into device arrays, and runs
the kernels the primitives ask for. Launch counting is done once per primitive
dispatch by the core (see ``gpuad.launches``), not here.
"""
from __future__ import annotations

import contextlib

import numpy as np

CURRENT = contextlib.nullcontext()  # activate() when the device is current already


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
        return CURRENT

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
    def elementwise(self, name: str, expr: str, arrays, out_dtype, fn=None, quiet=False):
        """Pointwise op over broadcast ``arrays``.

        The caller (a primitive's impl) hands over what the primitive declares: ``expr``,
        its scalar expression in inputs ``a0, a1, ...`` (e.g. ``"math.sin(a0)"``), which GPU
        backends compile into a kernel; ``fn``, the NumPy function it maps to (or None),
        which the CPU backend calls (the expression, compiled by Numba, where it is None);
        ``quiet``: ``fn`` raises no floating-point warnings worth silencing. ``name`` is
        the primitive's name, for messages only: a backend sits below the registry and
        never looks a rule up by name.
        """
        raise NotImplementedError

    def reduce(self, op: str, x, axes: tuple, keepdims: bool, fn=None):
        """Reduction ``op`` in {"sum", "prod", "max", "min"} (the kernel template's
        combining operator, and the array module's function of that name) over ``axes``;
        ``fn``: the NumPy function the primitive declares (``np.sum``, ...), which the CPU
        backend calls."""
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
