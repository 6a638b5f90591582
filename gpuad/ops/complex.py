"""Parts of complex tensors: ``imag`` (a primitive) and ``angle`` (atan2 of the parts);
``real`` and ``conj`` live in ``ops/pointwise.py``. Their rules follow the convention of
complex ``abs`` there (JAX's: VJPs are transposes under the pairing ``Re(sum(a * b))``),
so the transpose of ``imag`` is ``ct -> -1j * ct`` and that of ``real`` is
``ct -> ct + 0j``."""
from __future__ import annotations

import math

import numpy as np

from ..primitive import Primitive
from ._util import coerce, constant


def _imag_impl(be, x):
    return be.xp.imag(x).copy()  # a view in NumPy and CuPy: copied, as real's cast is


imag_p = Primitive("imag", _imag_impl)
imag_p.jvp = lambda p, t: (imag_p.bind(p[0]), None if t[0] is None else imag_p.bind(t[0]))


def _imag_vjp(ct, out, x):
    from .pointwise import multiply
    return (multiply(ct, constant(-1j, x.dtype, ct.device)),)


imag_p.vjp = _imag_vjp
imag_p.batch = lambda vals, dims: (imag_p.bind(vals[0]), dims[0])


def imag(val):
    """Imaginary part (NumPy's ``imag``): a real result (float32 for complex64); zeros
    for a real tensor. Differentiable in both modes."""
    (a,) = coerce("imag", val)
    if a.dtype.kind != "c":
        from .creation import zeros_like
        return zeros_like(a)
    return imag_p.bind(a)


def angle(z, deg=False):
    """The argument of ``z`` (NumPy's ``angle``): ``atan2(imag(z), real(z))`` in radians
    (degrees with ``deg=True``); 0 or pi for real input. Differentiable (the derivative
    is 0 at z = 0, as for ``atan2``)."""
    from .pointwise import _real_dtype, atan2, multiply, real
    (a,) = coerce("angle", z, floating=True)
    if a.dtype.kind == "c":
        r = atan2(imag_p.bind(a), real(a))
    else:
        from .creation import zeros_like
        r = atan2(zeros_like(a), a)
    if deg:
        r = multiply(r, constant(180.0 / math.pi, np.dtype(_real_dtype(a.dtype)), a.device))
    return r
