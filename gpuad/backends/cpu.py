"""CPU backend: NumPy storage; pointwise ops as NumPy ufuncs (eager) and Numba
kernels (fused, under ``gpuad.jit``)."""
from __future__ import annotations

import numpy as np

from .base import Backend

# Eager pointwise dispatch on the CPU calls the NumPy function each primitive declares
# (``Primitive.numpy``, handed over by its impl as ``fn``): for one op at a time NumPy's
# ufuncs are as fast as a compiled loop and need no compile step. Fused chains go
# through Numba (gpuad.jit). The two below are the NumPy functions of ``sigmoid`` and
# ``erf``, which NumPy lacks.


def sigmoid(x):
    # Split by sign so neither branch overflows exp.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def erf(x):
    from .cpu_special import erf

    return erf(x)


class CpuBackend(Backend):
    name = "cpu"
    xp = np

    def elementwise(self, name, expr, arrays, out_dtype, fn=None, quiet=False):
        if fn is None:  # no NumPy function: the kernel expression, compiled by Numba
            from .cpu_special import expr_ufunc
            fn = expr_ufunc(expr, len(arrays))
        if quiet:  # (np.errstate costs about 1 us)
            out = fn(*arrays)
        else:
            # log(-1), 1/0 and friends give nan/inf silently, as torch does
            with np.errstate(all="ignore"):
                out = fn(*arrays)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if out.dtype != out_dtype:
            out = out.astype(out_dtype)
        return out

    def reduce(self, op, x, axes, keepdims, fn=None):
        if fn is None:  # (a caller without the primitive's function: NumPy's of that name)
            fn = getattr(np, op)
        return np.asarray(fn(x, axis=axes, keepdims=keepdims))

    def small_linalg(self, name, *arrays):
        try:
            return self._small_linalg(name, *arrays)
        except np.linalg.LinAlgError as e:
            from ..errors import GpuadValueError
            raise GpuadValueError(f"linalg.{name}: argument 'x' is singular ({e})") from None

    def _small_linalg(self, name, *arrays):
        if name == "det":
            return _det(arrays[0])
        if name == "inv":
            return _inv(arrays[0])
        if name == "solve":
            return np.linalg.solve(*arrays)
        raise KeyError(name)


def _det(a):
    """``det`` over the last two axes: up to 3x3 the cofactor expansion, vectorised over
    the batch (LAPACK's LU costs microseconds per matrix; the expansion is exact at
    singular integer-valued matrices, too), above that ``np.linalg.det``."""
    n = a.shape[-1]
    if n > 3 or a.dtype.kind not in "fc" or 0 in a.shape:
        return np.linalg.det(a)

    def m(i, j):
        return a[..., i, j]

    def det2(r0, r1, c0, c1):
        return m(r0, c0) * m(r1, c1) - m(r0, c1) * m(r1, c0)
    if n == 1:
        return m(0, 0).copy()
    if n == 2:
        return det2(0, 1, 0, 1)
    return (m(0, 0) * det2(1, 2, 1, 2) - m(0, 1) * det2(1, 2, 0, 2)) + m(0, 2) * det2(1, 2, 0, 1)


def _inv(a):
    """``inv`` over the last two axes: up to 3x3 the adjugate over the determinant,
    vectorised over the batch (LAPACK's LU costs microseconds per matrix), above that,
    or when a matrix is singular (so that the error is LAPACK's), ``np.linalg.inv``."""
    n = a.shape[-1]
    if n > 3 or a.ndim < 2 or a.dtype.kind not in "fc" or 0 in a.shape:
        return np.linalg.inv(a)
    d = _det(a)
    if not np.all(d != 0):  # singular (or NaN, which LAPACK passes through): LAPACK decides
        return np.linalg.inv(a)

    def m(i, j):
        return a[..., i, j]
    out = np.empty_like(a)
    if n == 1:
        out[..., 0, 0] = 1.0 / m(0, 0)
        return out
    if n == 2:
        out[..., 0, 0], out[..., 0, 1] = m(1, 1) / d, -m(0, 1) / d
        out[..., 1, 0], out[..., 1, 1] = -m(1, 0) / d, m(0, 0) / d
        return out
    for i in range(3):
        for j in range(3):
            # entry (i, j) of the inverse: the cofactor of (j, i) over det
            r0, r1 = [k for k in range(3) if k != j]
            c0, c1 = [k for k in range(3) if k != i]
            cof = m(r0, c0) * m(r1, c1) - m(r0, c1) * m(r1, c0)
            out[..., i, j] = cof / d if (i + j) % 2 == 0 else -cof / d
    return out

