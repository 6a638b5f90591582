"""Branch-free ``exp`` and ``tanh`` for the CPU kernels of ``jit``.

LLVM vectorizes a loop only when its body has no calls, and Numba's ``math.sin`` or
``math.tanh`` is a call into libm (the SVML vector library needs an LLVM that the
llvmlite wheels are not built with). Written as polynomials with selects instead of
branches, these inline into a fused loop and run 4 or 8 lanes at a time: measured
3.5x faster than libm for ``tanh`` and 1.5x for ``exp``
on this machine (2M float64 values). XLA does the same on the CPU.

Accuracy, float64, checked in ``tests/test_vmath.py`` against NumPy:
* ``exp``: within 1 ulp, overflow, underflow to subnormals and 0, inf and nan as libm.
* ``tanh``: within 2 ulp; a rational approximation below 0.625 (Cephes), else
  ``1 - 2 / (exp(2|x|) + 1)``.

``sin`` and ``cos`` stay libm calls: a branch-free version (fdlibm kernels after a
Cody-Waite reduction) measured no faster here, and it cannot reduce huge arguments
(|x| > 1e15) without libm's Payne-Hanek step.

Float32 arguments are computed in float64 and rounded once on the way out.
"""
from __future__ import annotations

import math

import numba
from numba import types
from numba.extending import intrinsic


@intrinsic
def _f64_from_bits(typingctx, bits):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return sig, codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX = 709.782712893384

_inline = dict(inline="always", error_model="numpy", cache=True)


@numba.njit(**_inline)
def exp(x):
    x = float(x)
    xc = min(max(x, -745.2), 709.8)
    n = math.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO          # |r| <= ln2 / 2
    # Taylor polynomial of degree 13 (truncation < 2^-60 on |r| <= 0.347)
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    # 2^n in two factors, so results down to the subnormal range are not flushed
    ni = numba.int64(n)
    h = ni >> 1
    res = p * _f64_from_bits((h + 1023) << 52) * _f64_from_bits((ni - h + 1023) << 52)
    res = math.inf if x > _EXP_MAX else res
    return x if x != x else res


# tanh(x) = x + x z P(z) / Q(z), z = x^2, for |x| < 0.625 (Cephes tanh.c)
_TP0, _TP1, _TP2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_TQ0, _TQ1, _TQ2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3


@numba.njit(**_inline)
def tanh(x):
    x = float(x)
    ax = abs(x)
    z = ax * ax
    small = ax + ax * z * (((_TP0 * z + _TP1) * z + _TP2) / (((z + _TQ0) * z + _TQ1) * z + _TQ2))
    big = 1.0 - 2.0 / (exp(2.0 * min(ax, 40.0)) + 1.0)
    r = math.copysign(small if ax < 0.625 else big, x)
    return x if x != x else r


# expression rewrites for the CPU code generator: libm call -> this module
SUBSTITUTIONS = {"math.exp(": "vm_exp(", "math.tanh(": "vm_tanh("}
IMPORT = "from gpuad.jit.vmath import exp as vm_exp, tanh as vm_tanh"
