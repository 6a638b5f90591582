"""Branch-free ``exp``, ``tanh``, ``sin`` and ``cos`` for the CPU kernels of ``jit``.

LLVM vectorizes a loop only when its body has no calls, and Numba's ``math.sin`` or
``math.tanh`` is a call into libm (the SVML vector library needs an LLVM that the
llvmlite wheels are not built with). Written as polynomials with selects instead of
branches, these inline into a fused loop and run 4 or 8 lanes at a time: measured
5x faster than libm for ``tanh`` and 1.5x for ``exp``
on this machine (2M float64 values). XLA does the same on the CPU.

Accuracy, float64, checked in ``tests/test_vmath.py`` against NumPy:
* ``exp``: within 1 ulp, overflow, underflow to subnormals and 0, inf and nan as libm.
* ``tanh``: within 3 ulp, as ``m / (m + 2)`` with ``m = expm1(2|x|)``.

* ``sin``, ``cos``: within 1 ulp for |x| <= 1e6 (fdlibm's kernels after a three-part
  Cody-Waite reduction by pi/2), 4.7x faster than libm. Beyond 1e6 an exact
  reduction needs libm's Payne-Hanek step, so kernels count such arguments and
  run again with libm when they meet one (``codegen_cpu``): results are always
  libm-accurate.

Float32 arguments are computed in float64 and rounded once on the way out.

No double <-> int64 conversions: x86 has vector instructions for them only with
AVX-512DQ, and on AVX2 machines (Haswell .. Zen 3) the scalarized conversions made
LLVM keep ``sin`` scalar (libm speed) and slowed ``exp`` and ``tanh``. Floors stay
floats (:func:`_floor`) and powers of two are built from float bits (:func:`_pow2`);
``tests/test_vmath.py`` compiles for haswell, znver2, skylake-avx512 and znver4 and
checks the loops vectorize on each.
"""
from __future__ import annotations

import math

import numba
from numba import types
from numba.extending import intrinsic

from ..ops.pointwise import cos_p, sin_p


@intrinsic
def _floor(typingctx, x):
    """``llvm.floor.f64`` with a float result: ``math.floor`` returns an int64, and the
    double -> i64 -> double round trip it costs has no AVX2 vector instruction
    (vcvttpd2qq / vcvtqq2pd are AVX-512DQ), enough to stop LLVM vectorizing ``sin``
    on AVX2 machines."""
    sig = types.float64(types.float64)

    def codegen(context, builder, signature, args):
        from llvmlite import ir
        fn = builder.module.declare_intrinsic("llvm.floor", [ir.DoubleType()])
        return builder.call(fn, args)
    return sig, codegen


@intrinsic
def _pow2(typingctx, k):
    """2^k for an integral float -1022 <= k <= 1023, without a double -> int64
    conversion (none on AVX2): k + 1023 lands in the low mantissa bits of
    k + 1023 + 2^52, and a 64-bit shift (vpsllq, AVX2 has it) moves them to the
    exponent field."""
    sig = types.float64(types.float64)

    def codegen(context, builder, signature, args):
        from llvmlite import ir
        biased = builder.fadd(args[0], ir.Constant(ir.DoubleType(), 4503599627370496.0 + 1023.0))
        bits = builder.bitcast(biased, ir.IntType(64))
        return builder.bitcast(builder.shl(bits, ir.Constant(ir.IntType(64), 52)), ir.DoubleType())
    return sig, codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX = 709.782712893384

_inline = dict(inline="always", error_model="numpy", cache=True)


@numba.njit(**_inline)
def _expm1_poly(r):
    """expm1(r) for |r| <= ln2 / 2: the Taylor polynomial of degree 13 (truncation
    < 2^-60), written so the leading term is r (no cancellation near 0)."""
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
    return (p * r + 1.0) * r


@numba.njit(**_inline)
def exp(x):
    x = float(x)
    xc = min(max(x, -745.2), 709.8)
    n = _floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO          # |r| <= ln2 / 2
    p = _expm1_poly(r) + 1.0
    # 2^n in two factors, so results down to the subnormal range are not flushed
    h = _floor(n * 0.5)
    res = p * _pow2(h) * _pow2(n - h)
    res = math.inf if x > _EXP_MAX else res
    return x if x != x else res


@numba.njit(**_inline)
def tanh(x):
    # tanh|x| = m / (m + 2) with m = expm1(2|x|): one polynomial and one division for
    # every argument, accurate near 0 because expm1 is; |x| >= 40 gives exactly 1
    x = float(x)
    y = 2.0 * min(abs(x), 40.0)
    n = _floor(y * _LOG2E + 0.5)
    r = (y - n * _LN2_HI) - n * _LN2_LO
    s = _pow2(n)                                   # 0 <= n <= 116
    m = s * _expm1_poly(r) + (s - 1.0)
    return x if x != x else math.copysign(m / (m + 2.0), x)


# pi/2 in three pieces of 33 bits (fdlibm's pio2_1, pio2_2, pio2_2t): n * piece is exact
# while n < 2^20, so the reduction is exact for |x| < 1.6e6
_PIO2_A = 1.57079632673412561417e+00
_PIO2_B = 6.07710050630396597660e-11
_PIO2_C = 2.02226624879595063154e-21
_TWO_OVER_PI = 6.36619772367581382433e-01
# fdlibm's __kernel_sin and __kernel_cos on |r| <= pi/4
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11

#: sin and cos are exact up to here; a kernel counts larger arguments and is run
#: again with libm when there are any (codegen_cpu)
SIN_COS_MAX = 1.0e6


@numba.njit(**_inline)
def _sincos(x, shift):
    """sin(x + shift * pi/2) for |x| <= SIN_COS_MAX (shift 0: sin, 1: cos). The
    quadrant is kept as a float: integer selects stop LLVM from vectorizing."""
    n = _floor(x * _TWO_OVER_PI + 0.5)
    r = ((x - n * _PIO2_A) - n * _PIO2_B) - n * _PIO2_C
    z = r * r
    ks = r + z * r * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
    pc = z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    kc = w + (((1.0 - w) - hz) + z * pc)
    m = n + shift
    q = m - 4.0 * _floor(m * 0.25)            # quadrant 0..3
    v = kc if (q == 1.0 or q == 3.0) else ks
    return -v if q >= 2.0 else v


@numba.njit(**_inline)
def sin(x):
    x = float(x)
    # computed for every x, then selected: with the call under the branch LLVM
    # costs it as predicated and, on AVX2, finds the vector loop not worth it
    v = _sincos(x, 0.0)
    return x if x == 0.0 else v                 # keeps the sign of -0.0


@numba.njit(**_inline)
def cos(x):
    return _sincos(float(x), 1.0)


# expression rewrites for the CPU code generator: libm call -> this module
SUBSTITUTIONS = {"math.exp(": "vm_exp(", "math.tanh(": "vm_tanh("}
# ... and those valid up to SIN_COS_MAX, by primitive
GUARDED = {sin_p: ("math.sin(", "vm_sin("), cos_p: ("math.cos(", "vm_cos(")}
IMPORT = ("from gpuad.jit.vmath import exp as vm_exp, tanh as vm_tanh, sin as vm_sin, "
          "cos as vm_cos")
