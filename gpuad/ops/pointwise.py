"""Pointwise primitives. Each one is a block: kernel expression (inputs ``a0, a1,
...``), derivative(s) in gpuad ops (giving both its JVP and its VJP), and the shared
broadcasting batching rule."""
from __future__ import annotations

import math

import numpy as np

from ..backends.cpu import erf as _np_erf, sigmoid as _np_sigmoid
from ..primitive import ELEMENTWISE, Primitive
from ..tensor import Tensor, TensorBase
from ._util import broadcast_shapes, coerce, constant, instantiate, known_scalar, to_tensor
from .shape import broadcast_to
from .structural import astype_p, batch_elementwise, unbroadcast

# ---------------------------------------------------------------------------------
# registrars


_BOOL = np.dtype(bool)


def _impl(p, out_bool=False):
    # inputs were coerced to one dtype by the public function, so the output dtype
    # is the first input's (bool for comparisons). The backend gets the primitive's
    # kernel expression and NumPy function (its name only for messages).
    if out_bool:
        def impl(be, *arrays):
            return be.elementwise(p.name, p.expr, arrays, _BOOL, p.numpy, p.quiet)
    else:
        def impl(be, *arrays):
            return be.elementwise(p.name, p.expr, arrays, arrays[0].dtype, p.numpy, p.quiet)
    return impl


def _bcast(t, shape):
    if tuple(t.shape) == tuple(shape):
        return t
    return broadcast_to(t, shape)


def defpointwise(name, expr, *derivs, differentiable=True, out_bool=False, numpy=None,
                 quiet=False):
    """Register an n-ary pointwise primitive from its expression and, per input, a
    partial derivative ``d(out, *inputs) -> tensor``; JVP and VJP both follow.
    ``numpy``: the NumPy function it maps to, which eager cpu calls run (None: the
    expression, compiled by Numba); ``quiet``: that function raises no floating-point
    warnings worth silencing (see ``Primitive``)."""
    p = Primitive(name, None, expr=expr, differentiable=differentiable and bool(derivs),
                  numpy=numpy, quiet=quiet)
    p.impl = _impl(p, out_bool)
    batch_elementwise(p)
    if not p.differentiable:
        return p

    def jvp(primals, tangents):
        out = p.bind(*primals)
        tout = None
        for i, t in enumerate(tangents):
            if t is None or derivs[i] is None:
                continue
            term = _scale(t, derivs[i](out, *primals))
            tout = term if tout is None else add(tout, term)
        if tout is not None:
            tout = _bcast(tout, out.shape)
        return out, tout

    def vjp(ct, out, *primals, needs=None):
        return tuple(None if d is None or (needs is not None and not n) else
                     unbroadcast(_scale(ct, d(out, *primals)), x.shape)
                     for d, x, n in zip(derivs, primals, needs or (True,) * len(primals)))

    p.jvp = jvp
    p.vjp = vjp
    p.vjp_takes_needs = True
    return p


ONE, MINUS_ONE = object(), object()  # derivative markers that need no multiply


def _scale(t, d):
    if d is ONE:
        return t
    if d is MINUS_ONE:
        return negative(t)
    return multiply(t, d)


def _c(x, v):
    """A constant of ``x``'s dtype and device (weakly typed scalar)."""
    return constant(v, x.dtype, x.device)


# ---------------------------------------------------------------------------------
# arithmetic (derivatives refer to the public functions defined further down)

add_p = defpointwise("add", "a0 + a1", lambda o, x, y: ONE, lambda o, x, y: ONE,
                     numpy=np.add, quiet=True)
sub_p = defpointwise("sub", "a0 - a1", lambda o, x, y: ONE, lambda o, x, y: MINUS_ONE,
                     numpy=np.subtract, quiet=True)
mul_p = defpointwise("mul", "a0 * a1", lambda o, x, y: y, lambda o, x, y: x,
                     numpy=np.multiply, quiet=True)
div_p = defpointwise("div", "a0 / a1", lambda o, x, y: reciprocal(y),
                     lambda o, x, y: negative(divide(o, y)), numpy=np.true_divide)
neg_p = defpointwise("neg", "-a0", lambda o, x: MINUS_ONE, numpy=np.negative, quiet=True)


def _safe_log(x):
    # log(where(x == 0, 1, x)): keeps the unselected branch finite so that second
    # derivatives through the where do not produce 0 * inf = nan.
    return log(where(equal(x, 0), _c(x, 1.0), x))


def _pow_d0(o, x, y):
    # y * x**(y-1), and exactly 0 where y == 0 (not 0 * inf at x == 0), as torch does
    yv = known_scalar(y) if type(y) is Tensor and y.ndim == 0 else None
    if yv is not None:  # a constant exponent: keep it a Python number (no device sync)
        if yv == 0:
            return _c(o, 0.0)
        return multiply(y, pow(x, yv - 1))
    return where(equal(y, 0), _c(o, 0.0), multiply(y, pow(x, subtract(y, 1))))


pow_p = defpointwise(
    "pow", "a0 ** a1",
    _pow_d0,
    lambda o, x, y: where(equal(x, 0), _c(o, 0.0), multiply(o, _safe_log(x))),
    numpy=np.power)


def _atan2_den(y, x):
    # x^2 + y^2, with 1 in place of 0: at (0, 0) both partials are 0 (torch's
    # subgradient), not 0/0, and the where keeps higher derivatives finite there
    d = add(square(x), square(y))
    return where(equal(d, 0), _c(d, 1.0), d)


atan2_p = defpointwise(
    "atan2", "math.atan2(a0, a1)",
    lambda o, y, x: divide(x, _atan2_den(y, x)),
    lambda o, y, x: negative(divide(y, _atan2_den(y, x))), numpy=np.arctan2)


def _max_d0(o, x, y):
    return add(astype(greater(x, y), o.dtype), multiply(_c(o, 0.5), astype(equal(x, y), o.dtype)))


def _max_d1(o, x, y):
    return add(astype(less(x, y), o.dtype), multiply(_c(o, 0.5), astype(equal(x, y), o.dtype)))


maximum_p = defpointwise("maximum", "max(a0, a1)", _max_d0, _max_d1, numpy=np.maximum,
                         quiet=True)
minimum_p = defpointwise("minimum", "min(a0, a1)", _max_d1, _max_d0, numpy=np.minimum,
                         quiet=True)

# ---------------------------------------------------------------------------------
# unary math: name -> (kernel expression, NumPy function, quiet, derivative(out, x));
# quiet: the NumPy function raises no floating-point warnings worth silencing

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_Q, _W = True, False  # quiet, or may warn (the cpu runs it under np.errstate)
UNARY = {
    "sin": ("math.sin(a0)", np.sin, _Q, lambda o, x: cos(x)),
    "cos": ("math.cos(a0)", np.cos, _Q, lambda o, x: negative(sin(x))),
    "tan": ("math.tan(a0)", np.tan, _W, lambda o, x: add(_c(o, 1.0), square(o))),
    "asin": ("math.asin(a0)", np.arcsin, _W, lambda o, x: rsqrt1m(x)),
    "acos": ("math.acos(a0)", np.arccos, _W, lambda o, x: negative(rsqrt1m(x))),
    "atan": ("math.atan(a0)", np.arctan, _Q,
             lambda o, x: reciprocal(add(_c(o, 1.0), square(x)))),
    "sinh": ("math.sinh(a0)", np.sinh, _W, lambda o, x: cosh(x)),
    "cosh": ("math.cosh(a0)", np.cosh, _W, lambda o, x: sinh(x)),
    "tanh": ("math.tanh(a0)", np.tanh, _Q, lambda o, x: subtract(_c(o, 1.0), square(o))),
    "asinh": ("math.asinh(a0)", np.arcsinh, _W,
              lambda o, x: reciprocal(sqrt(add(square(x), _c(o, 1.0))))),
    "acosh": ("math.acosh(a0)", np.arccosh, _W,
              lambda o, x: reciprocal(sqrt(subtract(square(x), _c(o, 1.0))))),
    "atanh": ("math.atanh(a0)", np.arctanh, _W,
              lambda o, x: reciprocal(subtract(_c(o, 1.0), square(x)))),
    "exp": ("math.exp(a0)", np.exp, _W, lambda o, x: o),
    "exp2": ("2.0 ** a0", np.exp2, _W, lambda o, x: multiply(o, _c(o, _LN2))),
    "expm1": ("math.expm1(a0)", np.expm1, _W, lambda o, x: add(o, _c(o, 1.0))),
    "log": ("math.log(a0)", np.log, _W, lambda o, x: reciprocal(x)),
    "log2": ("math.log2(a0)", np.log2, _W, lambda o, x: reciprocal(multiply(x, _c(o, _LN2)))),
    "log10": ("math.log10(a0)", np.log10, _W,
              lambda o, x: reciprocal(multiply(x, _c(o, _LN10)))),
    "log1p": ("math.log1p(a0)", np.log1p, _W, lambda o, x: reciprocal(add(x, _c(o, 1.0)))),
    "sqrt": ("math.sqrt(a0)", np.sqrt, _W, lambda o, x: divide(_c(o, 0.5), o)),
    "square": ("a0 * a0", np.square, _Q, lambda o, x: multiply(_c(o, 2.0), x)),
    "reciprocal": ("1.0 / a0", np.reciprocal, _W, lambda o, x: negative(square(o))),
    "abs": ("abs(a0)", np.abs, _Q, lambda o, x: sign(x)),
    "sigmoid": ("1.0 / (1.0 + math.exp(-a0))", _np_sigmoid, _Q,
                lambda o, x: multiply(o, subtract(_c(o, 1.0), o))),
    "erf": ("math.erf(a0)", _np_erf, _W,
            lambda o, x: multiply(_c(o, 2.0 / math.sqrt(math.pi)), exp(negative(square(x))))),
}
for _name, (_expr, _np_fn, _quiet, _d) in UNARY.items():
    globals()[_name + "_p"] = defpointwise(_name, _expr, _d, numpy=_np_fn, quiet=_quiet)



# abs of a complex tensor is real (|z|, float32 for complex64). Like every rule here its
# derivatives follow JAX's convention, VJPs being transposes rather than adjoints (mul's
# VJP is ct * y, not ct * conj(y)): the JVP is real(t * conj(z) / |z|) and the VJP
# ct * conj(z) / |z|, both 0 at z = 0. So grad of abs(1j * z) equals grad of abs(z), and
# gpuad's gradient of a real function of z is the conjugate of torch's.
def _real_dtype(dt):
    return np.dtype(dt.char.lower()) if dt.kind == "c" else dt


def _abs_impl(be, x):
    return be.elementwise(abs_p.name, abs_p.expr, (x,), _real_dtype(x.dtype), abs_p.numpy,
                          abs_p.quiet)


def _abs_dir(x, out):
    """conj(x) / |x| for complex ``x``, 0 where x == 0."""
    return divide(conj(x), where(equal(out, 0), _c(out, 1.0), out))


_abs_jvp_real, _abs_vjp_real = abs_p.jvp, abs_p.vjp


def _abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    if x.dtype.kind != "c":
        return _abs_jvp_real(primals, tangents)
    out = abs_p.bind(x)
    return out, None if t is None else real(multiply(t, _abs_dir(x, out)))


def _abs_vjp(ct, out, x, needs=None):
    if x.dtype.kind != "c":
        return _abs_vjp_real(ct, out, x, needs=needs)
    return (multiply(ct, _abs_dir(x, out)),)


abs_p.impl, abs_p.jvp, abs_p.vjp = _abs_impl, _abs_jvp, _abs_vjp

# sign: derivative zero almost everywhere; kept differentiable (zero gradients rather
# than "does not require grad"), as torch does.
sign_p = defpointwise("sign", "(1.0 if a0 > 0 else (-1.0 if a0 < 0 else 0.0))",
                      lambda o, x: _c(o, 0.0), numpy=np.sign, quiet=True)

# comparisons and logic: bool results, no derivative
# (name -> kernel expression, NumPy function; all quiet)
_CMP = {"eq": ("a0 == a1", np.equal), "ne": ("a0 != a1", np.not_equal),
        "lt": ("a0 < a1", np.less), "le": ("a0 <= a1", np.less_equal),
        "gt": ("a0 > a1", np.greater), "ge": ("a0 >= a1", np.greater_equal),
        "logical_and": ("a0 and a1", np.logical_and), "logical_or": ("a0 or a1", np.logical_or)}
for _name, (_expr, _np_fn) in _CMP.items():
    globals()[_name + "_p"] = defpointwise(_name, _expr, out_bool=True, numpy=_np_fn, quiet=True)
logical_not_p = defpointwise("logical_not", "not a0", out_bool=True, numpy=np.logical_not,
                             quiet=True)


# where(cond, x, y): cond is not differentiated
def _where_impl(be, c, x, y):
    return be.elementwise(where_p.name, where_p.expr, (c, x, y),
                          np.result_type(x.dtype, y.dtype), where_p.numpy, where_p.quiet)


where_p = Primitive("where", _where_impl, expr="(a1 if a0 else a2)", nondiff_args=(0,),
                    numpy=np.where, quiet=True)
batch_elementwise(where_p)


def _where_jvp(primals, tangents):
    c, x, y = primals
    out = where_p.bind(c, x, y)
    _, tx, ty = tangents
    if tx is None and ty is None:
        return out, None
    tout = where_p.bind(c, instantiate(tx, x), instantiate(ty, y))
    return out, _bcast(tout, out.shape)


def _where_vjp(ct, out, c, x, y):
    z = _c(ct, 0.0)
    return (None, unbroadcast(where(c, ct, z), x.shape), unbroadcast(where(c, z, ct), y.shape))


where_p.jvp = _where_jvp
where_p.vjp = _where_vjp


# stop_gradient: identity whose derivative is zero (Tensor.detach on tracers)
stop_gradient_p = Primitive("stop_gradient", lambda be, x: x, differentiable=False, kernel=False)
stop_gradient_p.batch = lambda vals, dims: (stop_gradient_p.bind(vals[0]), dims[0])
stop_gradient_p.rows = ELEMENTWISE


# ---------------------------------------------------------------------------------
# public functions

def _binary(prim, fn):
    def f(x1, x2):
        # fast path: two concrete tensors of one dtype, device and shape
        if type(x1) is Tensor and type(x2) is Tensor:
            d1, d2 = x1._data, x2._data
            if d1.dtype == d2.dtype and x1._device == x2._device and d1.shape == d2.shape:
                return prim.bind(x1, x2)
        a, b = coerce(fn, x1, x2)
        if a.shape != b.shape:
            broadcast_shapes(fn, a.shape, b.shape)
        return prim.bind(a, b)
    f.__name__ = fn
    f.__qualname__ = fn
    f.__doc__ = f"Elementwise ``{fn}(x1, x2)`` with NumPy broadcasting."
    return f


def _float_binary(prim, fn):
    def f(x1, x2):
        if type(x1) is Tensor and type(x2) is Tensor:
            d1, d2 = x1._data, x2._data
            if (d1.dtype == d2.dtype and d1.dtype.kind in "fc" and x1._device == x2._device
                    and d1.shape == d2.shape):
                return prim.bind(x1, x2)
        a, b = coerce(fn, x1, x2, floating=True)
        broadcast_shapes(fn, a.shape, b.shape)
        return prim.bind(a, b)
    f.__name__ = fn
    f.__qualname__ = fn
    return f


add = _binary(add_p, "add")
subtract = _binary(sub_p, "subtract")
multiply = _binary(mul_p, "multiply")
divide = _float_binary(div_p, "divide")
atan2 = _float_binary(atan2_p, "atan2")
maximum = _binary(maximum_p, "maximum")
minimum = _binary(minimum_p, "minimum")
equal = _binary(eq_p, "equal")
not_equal = _binary(ne_p, "not_equal")
less = _binary(lt_p, "less")
less_equal = _binary(le_p, "less_equal")
greater = _binary(gt_p, "greater")
greater_equal = _binary(ge_p, "greater_equal")
logical_and = _binary(logical_and_p, "logical_and")
logical_or = _binary(logical_or_p, "logical_or")


def pow(x1, x2):
    """``x1 ** x2`` elementwise. Integer tensors to integer powers stay integer."""
    if isinstance(x2, (int, float)) and not isinstance(x2, bool) and isinstance(x1, TensorBase):
        # exact special cases that keep derivatives of x**2 free of pow calls
        if x2 == 2:
            return square(x1)
        if x2 == 1:
            return x1
    a, b = coerce("pow", x1, x2)
    broadcast_shapes("pow", a.shape, b.shape)
    return pow_p.bind(a, b)


def negative(x):
    (a,) = coerce("negative", x)
    return neg_p.bind(a)


def logical_not(x):
    (a,) = coerce("logical_not", x)
    return logical_not_p.bind(a)


def _unary(prim, fn):
    keep_int = fn in ("abs", "square", "sign")

    def f(x):
        if type(x) is Tensor and (keep_int or x._data.dtype.kind in "fc"):
            return prim.bind(x)
        (a,) = coerce(fn, x, floating=not keep_int)
        return prim.bind(a)
    f.__name__ = fn
    f.__qualname__ = fn
    f.__doc__ = f"Elementwise ``{fn}``; differentiable in forward and reverse mode."
    return f


UNARY_NAMES = tuple(n for n in UNARY if n not in ("sigmoid", "erf")) + ("sign",)
for _name in tuple(UNARY) + ("sign",):
    globals()[_name] = _unary(globals()[_name + "_p"], _name)

# array API spellings
asin, acos, atan = globals()["asin"], globals()["acos"], globals()["atan"]
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
absolute = globals()["abs"]
abs = globals()["abs"]


def rsqrt1m(x):
    """1 / sqrt(1 - x^2), the derivative of asin."""
    return reciprocal(sqrt(subtract(_c(x, 1.0), square(x))))


def where(condition, x1, x2):
    """Elementwise ``x1 if condition else x2``; ``condition`` is not differentiated."""
    a, b = coerce("where", x1, x2, names=["x1", "x2"])
    c = to_tensor(condition, "where", "condition", device=a.device)
    if c.dtype != np.bool_:
        c = astype(c, np.bool_)
    broadcast_shapes("where", c.shape, a.shape, b.shape)
    return where_p.bind(c, a, b)


def clip(x, min=None, max=None):
    """Clamp ``x`` to [min, max]; the gradient is 1 on the closed interval (bounds
    included, as torch does) and 0 outside, and 0 at nan (whose value stays nan):
    torch's mask ``min <= x <= max`` is false there."""
    (x,) = coerce("clip", x)
    a = x
    if min is not None:
        a = where(less(a, min), min, a)
    if max is not None:
        a = where(greater(a, max), max, a)
    if a is not x and x.dtype.kind in "fc":
        a = where(not_equal(x, x), stop_gradient(x), a)
    return a


def astype(x, dtype, copy=True):
    from ..dtypes import as_dtype
    x = to_tensor(x, "astype", "x")
    dt = as_dtype(dtype, "astype")
    if x.dtype == dt:
        return x
    return astype_p.bind(x, dtype=dt)


def stop_gradient(x):
    """``x`` as a constant for every differentiating transform (``detach``)."""
    return stop_gradient_p.bind(x)


def _copy_to(t, data, device):
    return Tensor._make(data, device)


def conj(x):
    """Complex conjugate (identity on real tensors)."""
    (a,) = coerce("conj", x)
    if a.dtype.kind != "c":
        return a
    return conj_p.bind(a)


conj_p = Primitive("conj", lambda be, x: be.xp.conj(x))
conj_p.jvp = lambda p, t: (conj_p.bind(p[0]), conj_p.bind(t[0]))
conj_p.vjp = lambda ct, out, x: (conj_p.bind(ct),)
conj_p.batch = lambda vals, dims: (conj_p.bind(vals[0]), dims[0])
conj_p.rows = ELEMENTWISE


def real(x):
    """Real part (identity on real tensors); real result dtype."""
    (a,) = coerce("real", x)
    if a.dtype.kind != "c":
        return a
    return astype_p.bind(a, dtype=_real_dtype(a.dtype))


def abs2(x):
    """|x|^2 as a smooth function: square(x), or real(x * conj(x)) for complex ``x``
    (a real result; used by var and the 2-norms)."""
    if x.dtype.kind != "c":
        return square(x)
    return real(multiply(x, conj(x)))


def safe_sqrt(x):
    """sqrt with a zero (not infinite) derivative at 0, like torch's norm and std:
    the double ``where`` keeps the unselected branch finite."""
    z = equal(x, 0)
    return where(z, _c(x, 0.0), sqrt(where(z, _c(x, 1.0), x)))
