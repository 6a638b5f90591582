"""Special-function primitives behind ``ad.special``: erfc, gammaln, the polygamma family
(digamma and its derivatives), erfinv, xlogy and xlog1py.

Each is one kernel expression, as every pointwise primitive is (erfinv: a short program
of statements, one kernel too, not fused by ``gpuad.jit``), so one formula runs
everywhere: the CUDA kernels (``math.erfc`` and ``math.lgamma`` are libdevice's), the CPU (the same expression compiled by Numba into a ufunc, ``backends/cpu_special.py``),
and ``gpuad.jit``'s fused kernels. Where neither NumPy nor CUDA's libm has the function
(digamma, trigamma, ..., erfinv) the expression is generated here from standard formulas
to float64 accuracy:

- polygamma ``psi^(n)``: the recurrence ``psi^(n)(z) = psi^(n)(z + N) - (-1)^n n!
  sum_{k<N} (z + k)^-(n+1)`` moves the argument to ``z + N >= N`` (N = 12), where the
  asymptotic (Stirling) series, Bernoulli terms to B_16, is accurate to about 1e-16;
  below 0 the reflection ``psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) P_n(cot(pi x))``
  applies, with P_0 = c, P_{k+1} = -(1 + c^2) P_k'(c) (so P_n(cot) is the n-th derivative of
  cot(pi x) over pi^n); cot is taken of the fractional part of x, which is exact. At the
  poles: +-inf at 0 (digamma(0) = -inf), nan at -1, -2, ... (scipy's and torch's values).
- erfinv: Giles' single-precision approximation ("Approximating the erfinv function",
  GPU Computing Gems, 2011), or beyond 1 - |y| = 1e-7 the asymptotic
  x^2 = L - log(x sqrt(pi)), L = -log(1 - |y|), refined by three Newton steps: on
  erf(x) - y for |y| <= 1/2, else on log(erfc(|x|)) - log(1 - |y|) (1 - |y| is exact, the
  tails keep their relative accuracy). It is a program of statements (one kernel), the
  steps reading each other. erfinv(+-1) = +-inf, nan outside [-1, 1].
"""
from __future__ import annotations

import math
from fractions import Fraction

from .pointwise import _c, add, defpointwise, divide, exp, log, log1p, multiply, negative, square

_SHIFT = 12
# Bernoulli numbers B_2, B_4, ..., B_16
_BERN = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66),
         Fraction(-691, 2730), Fraction(7, 6), Fraction(-3617, 510)]


def _lit(v):
    return repr(float(v))


def _horner(coeffs, var):
    """sum_k coeffs[k] * var**k as a Horner expression."""
    out = _lit(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        out = f"({_lit(c)} + {var} * {out})"
    return out


def _asymptotic(n, y):
    """psi^(n)(y) for large y by the asymptotic series (y is an expression)."""
    r = f"(1.0 / {y})"
    r2 = f"({r} * {r})"
    if n == 0:  # log y - 1/(2y) - sum B_2k / (2k y^2k)
        coeffs = [0] + [b / (2 * k) for k, b in enumerate(_BERN, 1)]
        return f"(math.log({y}) - 0.5 * {r} - {_horner(coeffs, r2)})"
    # (-1)^(n+1) [(n-1)!/y^n + n!/(2 y^(n+1)) + sum B_2k (2k+n-1)!/(2k)! / y^(2k+n)]
    coeffs = [0] + [b * Fraction(math.factorial(2 * k + n - 1), math.factorial(2 * k))
                    for k, b in enumerate(_BERN, 1)]
    head = f"({_lit(math.factorial(n - 1))} + {_lit(Fraction(math.factorial(n), 2))} * {r} + " \
           f"{_horner(coeffs, r2)})"
    sign = "" if n % 2 else "-"
    return f"({sign}{head} * {r} ** {n})"


def _shifted(n, z):
    """psi^(n)(z) for z > 0 (z an expression): recurrence up to z + N, then the series."""
    terms = " + ".join(f"1.0 / ({z} + {k}.0)" + (f" ** {n + 1}" if n else "") for k in range(_SHIFT))
    scale = math.factorial(n) * (-1) ** n
    return f"({_asymptotic(n, f'({z} + {_SHIFT}.0)')} - {_lit(scale)} * ({terms}))"


def _cot_poly(n):
    """Coefficients (in c) of P_n: P_0 = c, P_{k+1} = -(1 + c^2) P_k'(c)."""
    p = [0, 1]
    for _ in range(n):
        d = [i * p[i] for i in range(1, len(p))] or [0]
        q = [0] * (len(d) + 2)
        for i, v in enumerate(d):
            q[i] -= v
            q[i + 2] -= v
        p = q
    return p


_FLOOR = "(math.floor(a0) if abs(a0) < 4503599627370496.0 else a0)"  # NOTE [rounding in kernels]


def polygamma_expr(n):
    """The kernel expression of psi^(n)(a0) on the whole real line."""
    z = "(1.0 - a0 if a0 < 0.0 else a0)"
    main = _shifted(n, z)
    # cot(pi x) of the fractional part moved into [-1/2, 1/2] (both steps exact), where
    # sin(pi f) keeps its relative accuracy near the poles
    f0 = f"(a0 - {_FLOOR})"
    frac = f"({f0} - 1.0 if {f0} > 0.5 else {f0})"
    c = f"(math.cos({_lit(math.pi)} * {frac}) / math.sin({_lit(math.pi)} * {frac}))"
    refl = f"{_lit(math.pi ** (n + 1))} * {_horner(_cot_poly(n), c)}"
    sign = "" if n % 2 == 0 else "-"
    # at the negative poles (f0 == 0) nan, as scipy's and torch's
    return f"(({sign}{main} - {refl} if {f0} != 0.0 else math.nan) if a0 < 0.0 else {main})"


_polygamma = {}


def polygamma_p(n):
    """The primitive of psi^(n); its derivative is psi^(n+1), registered on first use."""
    p = _polygamma.get(n)
    if p is None:
        name = "digamma" if n == 0 else f"polygamma{n}"
        p = defpointwise(name, polygamma_expr(n), lambda o, x, n=n: polygamma_p(n + 1).bind(x))
        _polygamma[n] = p
    return p


for _n in range(3):  # digamma, trigamma, tetragamma: what second-order tests reach
    polygamma_p(_n)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

gammaln_p = defpointwise("gammaln", "math.lgamma(a0)", lambda o, x: polygamma_p(0).bind(x))
erfc_p = defpointwise("erfc", "math.erfc(a0)",
                      lambda o, x: multiply(_c(o, -_TWO_OVER_SQRT_PI), exp(negative(square(x)))))


# -- erfinv: a program of statements (each refinement step reads the previous one) -------
def _giles(w, y):
    lo = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
          -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]
    hi = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
          -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]
    p_lo = _horner(lo[::-1], f"({w} - 2.5)")
    p_hi = _horner(hi[::-1], f"(math.sqrt({w}) - 3.0)")
    return f"(({p_lo} if {w} < 5.0 else {p_hi}) * {y})"


def _newton(x):
    """One Newton step for erf(x) = a0 from x: on erf(x) - a0 for |a0| <= 1/2; beyond, on
    log(erfc(|x|)) - log(1 - |a0|) (1 - |a0| is exact there, and the log makes the tail
    nearly quadratic, so the step converges fast out to 1 - |a0| = 1e-16)."""
    k = _lit(_TWO_OVER_SQRT_PI)
    s = "(1.0 if a0 > 0.0 else -1.0)"
    xa = f"abs({x})"
    tail = (f"({s} * ({xa} + (math.log(math.erfc({xa})) - math.log(1.0 - abs(a0))) * "
            f"math.erfc({xa}) / ({k} * math.exp(-{xa} * {xa}))))")
    return f"({x} - (math.erf({x}) - a0) / ({k} * math.exp(-{x} * {x})) if abs(a0) <= 0.5 else {tail})"


# v0: w = -log(1 - y^2); v1: the first guess, Giles' polynomials up to w = 16 (1 - |y|
# about 1e-7) and beyond the asymptotic x^2 = L - log(x sqrt(pi)), L = -log(1 - |y|);
# v2..v4: Newton steps; v5: the limits at +-1 (nan beyond, from the logs)
_L = "(-math.log(1.0 - abs(a0)))"
ERFINV_PROGRAM = (
    ("v0", "-math.log((1.0 - a0) * (1.0 + a0))"),
    ("v1", f"({_giles('v0', 'a0')} if v0 < 16.0 else (1.0 if a0 > 0.0 else -1.0) * "
           f"math.sqrt({_L} - 0.5 * math.log({_lit(math.pi)} * {_L})))"),
    ("v2", _newton("v1")),
    ("v3", _newton("v2")),
    ("v4", _newton("v3")),
    ("v5", "((math.inf if a0 > 0.0 else -math.inf) if abs(a0) == 1.0 else v4)"),
)


def _erfinv_impl(be, y):
    if hasattr(be, "fused_elementwise"):  # the GPU kernels: one kernel runs the program
        return be.fused_elementwise("erfinv", ERFINV_PROGRAM, ("v5",), [y], [y.dtype],
                                    tuple(y.shape))[0]
    from ..backends.cpu_special import program_ufunc
    return program_ufunc(ERFINV_PROGRAM, "v5", 1)(y)


erfinv_p = defpointwise(
    "erfinv", None, lambda o, x: multiply(_c(o, math.sqrt(math.pi) / 2.0), exp(square(o))))
erfinv_p.impl = _erfinv_impl


# -- xlogy, xlog1py: 0 where x == 0 (unless y is nan); JAX's derivatives -----------------
xlogy_p = defpointwise(
    "xlogy", "(0.0 if a0 == 0.0 and a1 == a1 else a0 * math.log(a1))",
    lambda o, x, y: log(y), lambda o, x, y: divide(x, y))
xlog1py_p = defpointwise(
    "xlog1py", "(0.0 if a0 == 0.0 and a1 == a1 else a0 * math.log1p(a1))",
    lambda o, x, y: log1p(y), lambda o, x, y: divide(x, add(y, _c(y, 1.0))))
