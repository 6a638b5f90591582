"""More NumPy arithmetic: rounding, ``remainder`` (the ``%`` operator), ``hypot``,
``logaddexp``/``logaddexp2``, ``sinc``, ``fmax``/``fmin``, ``nan_to_num``, angle units.

Each pointwise primitive is a block as in ``pointwise.py``: its kernel expression (one
Python expression over ``a0, a1``, compiled by Numba for the CUDA kernels and the CPU
``jit``; NumPy's ufunc runs it eagerly on the CPU) and its partial derivatives in gpuad
ops. Rounding is piecewise constant: its derivative is zero (not undefined), as torch's.

NOTE [rounding in kernels]: Numba's ``math.floor`` (also ``ceil``, ``trunc``) returns an
int64 on the CPU, where C's returns a float: on nan, inf or a magnitude beyond 2**52 the
conversion is undefined. Every float there is already an integer, so the expressions
return the argument unchanged beyond that bound (nan fails ``abs(a0) < 2**52``) and round
only below it, where the int64 is exact. On CUDA ``math.floor`` is C's (a float); the
bound costs one compare.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import GpuadTypeError
from .pointwise import (_binary, _c, _float_binary, _unary, add, astype, defpointwise,
                        divide, equal, exp, exp2, less, multiply, negative, not_equal, square,
                        subtract, where, _max_d0, _max_d1)
from ._util import coerce

_BIG = "4503599627370496.0"  # 2**52: every float of larger magnitude is an integer


def _guarded(fn):
    return f"(math.{fn}(a0) if abs(a0) < {_BIG} else a0)"


def _zero(o, *args):
    return _c(o, 0.0)


# -- rounding: zero derivatives (NOTE [rounding in kernels]) -----------------------------
floor_p = defpointwise("floor", _guarded("floor"), _zero, numpy=np.floor)
ceil_p = defpointwise("ceil", _guarded("ceil"), _zero, numpy=np.ceil)
trunc_p = defpointwise("trunc", _guarded("trunc"), _zero, numpy=np.trunc)
# round half to even (NumPy's rint): floor, then up when the rest is above one half, or
# exactly one half and the floor is odd (F - 2 floor(F / 2): exact for integer-valued F,
# and written with floor alone, which Numba, CUDA and NumPy all have; Numba has no fmod)
_F = _guarded("floor")
rint_p = defpointwise(
    "rint", f"({_F} + 1.0 if (a0 - {_F} > 0.5 or (a0 - {_F} == 0.5 and "
            f"{_F} - 2.0 * math.floor({_F} * 0.5) != 0.0)) else {_F})", _zero, numpy=np.rint)

# -- remainder: NumPy's (and Python's) sign convention, the sign of the divisor. The
# derivative is 1 in x1 and -floor(x1 / x2) in x2 (torch's and JAX's rule).
remainder_p = defpointwise("remainder", "a0 % a1", lambda o, x, y: _c(o, 1.0),
                           lambda o, x, y: negative(floor(divide(x, y))), numpy=np.remainder)


def _hypot_den(o):
    # 1 in place of 0: at the origin both partials are 0 (not 0/0), as atan2's
    return where(equal(o, 0), _c(o, 1.0), o)


hypot_p = defpointwise("hypot", "math.hypot(a0, a1)",
                       lambda o, x, y: divide(x, _hypot_den(o)),
                       lambda o, x, y: divide(y, _hypot_den(o)), numpy=np.hypot)

# logaddexp: NumPy's branches (equal arguments give x + log 2, so -inf and inf stay
# themselves); the partials are exp(x - out) and exp(y - out), softmax weights
_LN2 = math.log(2.0)
logaddexp_p = defpointwise(
    "logaddexp",
    f"(a0 + {_LN2!r} if a0 == a1 else (a0 + math.log1p(math.exp(a1 - a0)) if a0 > a1 else "
    f"(a1 + math.log1p(math.exp(a0 - a1)) if a0 < a1 else a0 - a1)))",
    lambda o, x, y: exp(subtract(x, o)), lambda o, x, y: exp(subtract(y, o)),
    numpy=np.logaddexp)
logaddexp2_p = defpointwise(
    "logaddexp2",
    f"(a0 + 1.0 if a0 == a1 else (a0 + math.log1p(2.0 ** (a1 - a0)) / {_LN2!r} if a0 > a1 else "
    f"(a1 + math.log1p(2.0 ** (a0 - a1)) / {_LN2!r} if a0 < a1 else a0 - a1)))",
    lambda o, x, y: exp2(subtract(x, o)), lambda o, x, y: exp2(subtract(y, o)),
    numpy=np.logaddexp2)

# sinc(x) = sin(pi x) / (pi x), 1 at 0. Its derivative (cos(pi x) - sinc(x)) / x cancels
# near 0, so below |x| = 0.01 the Taylor series -pi^2 x/3 + pi^4 x^3/30 - pi^6 x^5/840 is
# used (both within about 1e-13 there); it also makes the derivatives at 0 exact to every
# order (torch's sinc has a zero second derivative at 0, JAX's is exact)
_PI = repr(math.pi)
_SINC_TAYLOR = (-math.pi ** 2 / 3, math.pi ** 4 / 30, -math.pi ** 6 / 840)


def _sinc_d(o, x):
    from .pointwise import abs as _abs, cos
    small = less(_abs(x), 0.01)
    xs = where(small, _c(x, 1.0), x)  # the unselected branch stays finite (no 0/0)
    direct = divide(subtract(cos(multiply(xs, _c(x, math.pi))), o), xs)
    x2 = square(x)
    c1, c3, c5 = (_c(x, v) for v in _SINC_TAYLOR)
    taylor = multiply(x, add(c1, multiply(x2, add(c3, multiply(x2, c5)))))
    return where(small, taylor, direct)


sinc_p = defpointwise("sinc", f"(1.0 if a0 == 0.0 else math.sin({_PI} * a0) / ({_PI} * a0))",
                      _sinc_d, numpy=np.sinc)


# fmax / fmin: NaN-ignoring maximum / minimum (NumPy's); where one argument is NaN the
# other is the result and takes the whole derivative; ties share it as maximum's do
def _nan(x):
    return astype(not_equal(x, x), x.dtype)


def _fext_d(own, first):
    """fmax / fmin's partial in its first (``first``) or second operand, from
    maximum's or minimum's ``own``."""
    def d(o, x, y):
        mine, other = (_nan(x), _nan(y)) if first else (_nan(y), _nan(x))
        # this operand is NaN: 0; the other is NaN (this one is not): 1; else own's partial
        return multiply(subtract(_c(o, 1.0), mine),
                        add(other, multiply(subtract(_c(o, 1.0), other), own(o, x, y))))
    return d


fmax_p = defpointwise("fmax", "(a1 if a0 != a0 else (a0 if a1 != a1 else max(a0, a1)))",
                      _fext_d(_max_d0, True), _fext_d(_max_d1, False), numpy=np.fmax)
fmin_p = defpointwise("fmin", "(a1 if a0 != a0 else (a0 if a1 != a1 else min(a0, a1)))",
                      _fext_d(_max_d1, True), _fext_d(_max_d0, False), numpy=np.fmin)


# ---------------------------------------------------------------------------------------
# public functions

def _rounding(prim, fn):
    def f(x):
        (a,) = coerce(fn, x)
        if a.dtype.kind in "biu":  # NumPy 2: integers are already rounded (dtype kept)
            return a
        return prim.bind(a)
    f.__name__ = f.__qualname__ = fn
    f.__doc__ = (f"Elementwise ``{fn}`` (NumPy's); integer tensors are returned as they are. "
                 f"Piecewise constant: its derivative is zero.")
    return f


floor = _rounding(floor_p, "floor")
ceil = _rounding(ceil_p, "ceil")
trunc = _rounding(trunc_p, "trunc")
_rint = _rounding(rint_p, "rint")


def round(a, decimals=0):
    """Round to ``decimals`` decimals, halves to even, as NumPy's ``round``: for
    ``decimals != 0`` it rounds ``a * 10**decimals`` (``a / 10**-decimals``) and scales
    back, with NumPy's floating point results. Zero derivative."""
    if isinstance(decimals, bool) or not isinstance(decimals, numbers.Integral):
        raise GpuadTypeError(f"round: argument 'decimals' must be an int, got {decimals!r}")
    (a,) = coerce("round", a)
    if a.dtype.kind in "biu":
        if decimals >= 0:
            return a
        f = 10 ** (-int(decimals))  # NumPy: integer rounding to tens, hundreds, ...
        return multiply(astype(_rint(divide(a, float(f))), a.dtype), f)
    if decimals == 0:
        return rint_p.bind(a)
    if decimals > 0:
        f = 10.0 ** int(decimals)
        return divide(rint_p.bind(multiply(a, f)), f)
    f = 10.0 ** (-int(decimals))
    return multiply(rint_p.bind(divide(a, f)), f)


around = round

_remainder = _binary(remainder_p, "remainder")


def remainder(x1, x2):
    """Elementwise remainder of ``x1 / x2`` with the sign of ``x2`` (NumPy's ``mod``,
    Python's ``%``; the ``%`` operator of tensors). Derivatives: 1 in ``x1`` and
    ``-floor(x1 / x2)`` in ``x2``."""
    return _remainder(x1, x2)


mod = remainder
hypot = _float_binary(hypot_p, "hypot")
hypot.__doc__ = "Elementwise ``sqrt(x1**2 + x2**2)`` without overflow; gradient 0 at the origin."
logaddexp = _float_binary(logaddexp_p, "logaddexp")
logaddexp.__doc__ = "Elementwise ``log(exp(x1) + exp(x2))``, computed stably."
logaddexp2 = _float_binary(logaddexp2_p, "logaddexp2")
logaddexp2.__doc__ = "Elementwise ``log2(2**x1 + 2**x2)``, computed stably."
fmax = _binary(fmax_p, "fmax")
fmax.__doc__ = "Elementwise maximum ignoring NaN (NumPy's ``fmax``); ties share the gradient."
fmin = _binary(fmin_p, "fmin")
fmin.__doc__ = "Elementwise minimum ignoring NaN (NumPy's ``fmin``); ties share the gradient."
_sinc = _unary(sinc_p, "sinc")


def sinc(x):
    """The normalized sinc, ``sin(pi x) / (pi x)`` and 1 at 0 (NumPy's ``sinc``)."""
    return _sinc(x)


def deg2rad(x):
    """Degrees to radians (``x * pi / 180``)."""
    (a,) = coerce("deg2rad", x, floating=True)
    return multiply(a, math.pi / 180.0)


def rad2deg(x):
    """Radians to degrees (``x * 180 / pi``)."""
    (a,) = coerce("rad2deg", x, floating=True)
    return multiply(a, 180.0 / math.pi)


def _fill(v, name, default):
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.generic)):
        raise GpuadTypeError(f"nan_to_num: argument '{name}' must be a number or None, got {v!r}")
    return float(v)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN to ``nan``, +inf to ``posinf`` (default: the largest finite value of the
    dtype), -inf to ``neginf`` (the most negative one); NumPy's ``nan_to_num``. The
    derivative is 1 at finite entries, 0 at replaced ones. Integer tensors pass."""
    (a,) = coerce("nan_to_num", x)
    if a.dtype.kind in "biu":
        return a
    if a.dtype.kind == "c":
        raise GpuadTypeError("nan_to_num: argument 'x' must be real, got a complex tensor")
    big = float(np.finfo(a.dtype).max)
    nan = _fill(nan, "nan", 0.0)
    posinf = _fill(posinf, "posinf", big)
    neginf = _fill(neginf, "neginf", -big)
    out = where(not_equal(a, a), nan, a)
    out = where(equal(a, math.inf), posinf, out)
    return where(equal(a, -math.inf), neginf, out)


# Tensor methods (``x.floor()``, ``x.round(2)``): the unary math functions, and NumPy's
# ndarray.round
METHOD_NAMES = ("floor", "ceil", "trunc", "round", "sinc", "deg2rad", "rad2deg")

__all__ = ["floor", "ceil", "trunc", "round", "around", "remainder", "mod", "hypot",
           "logaddexp", "logaddexp2", "sinc", "deg2rad", "rad2deg", "fmax", "fmin", "nan_to_num"]
