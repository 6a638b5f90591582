"""Constant folding of pointwise statements while a kernel is generated.

Jacobians multiply by basis vectors: jacfwd pushes the columns of an identity through
the program and jacrev pulls its rows back, and the VJP of component indexing
(``F[0, 1]``) places each value with a one-hot mask. Inside a fused kernel whose
trailing loops are unrolled (``codegen_cpu``), these are literal 0s, 1s and booleans,
and folding them removes most of the arithmetic of a Jacobian entry.

NOTE [jit folds constant zeros]: in an unrolled kernel, a product with a literal zero
(or a quotient with a zero numerator) folds to zero, as a symbolic zero tangent does
in forward mode. So where eager mode computes ``0 * inf = nan`` for a non-finite
partial derivative, a jitted Jacobian entry that is structurally zero can be 0
instead (it is where the kernel is unrolled: per-cell shapes of up to 1024 entries).
``x + 0`` folds to ``x`` (XLA's simplifier does the same). These are the only
departures from IEEE evaluation; for finite values the numbers are eager mode's.
(The first call of a signature traces on concrete values, so it computes as eager mode.)
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..ops.pointwise import add_p, div_p, mul_p, sub_p, where_p


class Lit:
    """A compile-time value of a known dtype."""

    __slots__ = ("v", "dtype")

    def __init__(self, v, dtype):
        self.dtype = np.dtype(dtype)
        if self.dtype == np.bool_:
            v = bool(v)
        elif self.dtype.kind in "iu":
            v = int(v)
        else:
            v = float(v)
        self.v = v

    @property
    def src(self):
        v = self.v
        if isinstance(v, bool) or isinstance(v, int):
            return repr(v)
        if v != v:
            s = "math.nan"
        elif v in (math.inf, -math.inf):
            s = "math.inf" if v > 0 else "(-math.inf)"
        else:
            s = repr(v)
        return f"numba.float32({s})" if self.dtype == np.float32 else s

    def __repr__(self):
        return f"Lit({self.v!r}, {self.dtype})"


_EXACT = (np.dtype(np.float64), np.dtype(np.bool_), np.dtype(np.int64))


def _is(x, value):
    return isinstance(x, Lit) and not isinstance(x.v, bool) and x.v == value


def fold(prim, expr, args, dtypes, out_dtype):
    """Fold one statement of primitive ``prim``. ``args``: operands, each a ``Lit`` or
    a local name; ``dtypes``: their dtypes. Returns a ``Lit``, the name of an operand
    the result equals, or None when the statement must be computed."""
    out_dtype = np.dtype(out_dtype)

    def same(i):  # operand i, if the result can simply be it
        return args[i] if np.dtype(dtypes[i]) == out_dtype else None

    if prim is where_p and isinstance(args[0], Lit):
        return same(1 if args[0].v else 2)
    if prim is add_p:
        if _is(args[1], 0):
            return same(0)
        if _is(args[0], 0):
            return same(1)
    elif prim is sub_p and _is(args[1], 0):
        return same(0)
    elif prim is mul_p:
        if _is(args[0], 0) or _is(args[1], 0):
            return Lit(0, out_dtype)
        if _is(args[1], 1):
            return same(0)
        if _is(args[0], 1):
            return same(1)
    elif prim is div_p:
        if _is(args[0], 0):
            return Lit(0, out_dtype)
        if _is(args[1], 1):
            return same(0)
    if all(isinstance(a, Lit) and a.dtype in _EXACT for a in args) and out_dtype in _EXACT:
        # Python evaluates these expressions as Numba does in float64 / bool / int64;
        # a division by zero or a domain error is left to run time
        try:
            v = eval(substitute(expr, [a.src for a in args]), {"math": math, "numba": None})
        except (ArithmeticError, ValueError, TypeError):
            return None
        return Lit(v, out_dtype)
    return None


_ARG = re.compile(r"\ba(\d+)\b")


def substitute(expr, names):
    """A kernel expression with its operands a0, a1, ... replaced by ``names``."""
    return _ARG.sub(lambda m: names[int(m.group(1))], expr)
