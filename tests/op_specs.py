"""The table of op specs the op tests are driven from.

One ``OpSpec`` per case of every array function of API.md ("Array functions"), plus the
operators. Each spec carries the gpuad callable, the torch callable used as the oracle
(torch.func gives the reference derivatives), a NumPy reference for the forward value, an
input generator that respects the op's domain (and keeps kinks, ties and singular points
far from the sample, so central differences and the oracle agree), and the indices of the
differentiable arguments.

The callables take every array argument positionally, in the order ``make`` returns them;
non-array parameters (axes, shapes, index arrays) are closed over. ``make(rng)`` returns
float64 NumPy arrays for the floating arguments (the float32 tests cast them) and bool or
integer arrays for the others.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

try:  # gpuad is resolved at call time, so the table can be imported (and self-checked
    import gpuad as ad  # against torch) before the library exists.
except ImportError:  # pragma: no cover
    ad = None

torch.set_default_dtype(torch.float64)

SIZES = (1, 31, 32, 33, 255, 256, 257)  # straddle the warp edge and a 256-thread block edge
SIM_MAX = 33  # cudasim runs each GPU thread in Python: keep its cases tiny


@dataclass
class OpSpec:
    name: str
    fn: Callable  # gpuad: fn(*tensors) -> Tensor
    torch_fn: Callable  # oracle: torch_fn(*torch_tensors) -> torch.Tensor
    np_fn: Callable  # forward reference: np_fn(*ndarrays) -> ndarray
    make: Callable[[np.random.Generator], list]  # rng -> list of ndarrays
    diff: tuple = (0,)  # indices of the differentiable arguments
    kind: str = "pointwise"  # pointwise | reduction | shape | linalg | index | operator
    sim: bool = False  # also run on cudasim (tiny pointwise/reduction cases only)
    hess: bool = False  # second-order check against torch.func.hessian
    vmap: bool = True
    rtol32: float = 2e-4  # float32 tolerance (relative to the output's scale)
    tags: tuple = field(default_factory=tuple)

    def __repr__(self):  # pytest ids
        return self.name


# ---------------------------------------------------------------------------------------
# input generators
# ---------------------------------------------------------------------------------------
def U(shape, lo=-2.0, hi=2.0):
    """Uniform floats on (lo, hi)."""
    return lambda rng: rng.uniform(lo, hi, size=shape)


def S(shape, lo=0.3, hi=2.0):
    """Magnitude on (lo, hi), random sign: keeps away from 0 (abs, sign, 1/x, ...)."""
    return lambda rng: rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def D(shape, lo=-2.0, hi=2.0):
    """Distinct values (gap >= (hi - lo) / (2 n)), so max/min/... are differentiable."""

    def gen(rng):
        n = int(np.prod(shape, dtype=int))
        slots = rng.permutation(n) + 0.5 + rng.uniform(-0.25, 0.25, size=n)
        return (lo + (hi - lo) * slots / max(n, 1)).reshape(shape)

    return gen


def WC(shape):
    """Well-conditioned square matrices (batched over leading dims)."""

    def gen(rng):
        n = shape[-1]
        return 0.3 * rng.standard_normal(shape) + 1.5 * np.eye(n) * rng.choice([-1.0, 1.0], size=shape[:-2] + (1, 1))

    return gen


def MIX(*gens):
    return lambda rng: [g(rng) for g in gens]


def separated(sx, sy, gap=0.05, lo=-2.0, hi=2.0):
    """A pair x, y whose broadcast elements differ by at least ``gap`` (maximum/minimum)."""

    def gen(rng):
        for _ in range(1000):
            x = rng.uniform(lo, hi, size=sx)
            y = rng.uniform(lo, hi, size=sy)
            if np.min(np.abs(x - y)) > gap:
                return [x, y]
        raise AssertionError("no separated pair drawn")

    return gen


def away(shape, points, gap=0.05, lo=-1.0, hi=1.0):
    """Uniform on (lo, hi), then moved at least ``gap`` away from each of ``points`` (clip)."""

    def gen(rng):
        x = rng.uniform(lo, hi, size=shape)
        for p in points:
            close = np.abs(x - p) < gap
            x = np.where(close, p + np.sign(x - p + 1e-300) * (gap + rng.uniform(0, gap, size=shape)), x)
        return x

    return gen


def BOOL(shape):
    return lambda rng: rng.random(shape) > 0.5


# ---------------------------------------------------------------------------------------
# helpers for the oracles
# ---------------------------------------------------------------------------------------
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis % ndim,)
    return tuple(a % ndim for a in axis)


def _np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _t_prod(x, axis, keepdims):
    axes = sorted(_axes(axis, x.ndim), reverse=True)
    for a in axes:
        x = torch.prod(x, dim=a, keepdim=True)
    return x if keepdims else torch.squeeze(x, dim=tuple(axes)) if axes else x


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    r = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    if not keepdims:
        r = np.squeeze(r, axis=_axes(axis, np.ndim(x)))
    return r


def _ix(idx):
    """Convert a NumPy index expression to torch (integer arrays -> tensors)."""
    if isinstance(idx, tuple):
        return tuple(_ix(i) for i in idx)
    if isinstance(idx, np.ndarray):
        return torch.as_tensor(idx)
    return idx


SPECS: list[OpSpec] = []


def add(*specs):
    SPECS.extend(specs)


def _sim_ok(make):
    sizes = [np.size(a) for a in make(np.random.default_rng(0))]
    return max(sizes) <= SIM_MAX


# ---------------------------------------------------------------------------------------
# pointwise unary: name, numpy, torch, domain generator (shape -> gen)
# ---------------------------------------------------------------------------------------
UNARY = [
    ("sin", np.sin, torch.sin, lambda s: U(s)),
    ("cos", np.cos, torch.cos, lambda s: U(s)),
    ("tan", np.tan, torch.tan, lambda s: U(s, -1.2, 1.2)),
    ("asin", np.arcsin, torch.asin, lambda s: U(s, -0.9, 0.9)),
    ("acos", np.arccos, torch.acos, lambda s: U(s, -0.9, 0.9)),
    ("atan", np.arctan, torch.atan, lambda s: U(s, -3, 3)),
    ("sinh", np.sinh, torch.sinh, lambda s: U(s)),
    ("cosh", np.cosh, torch.cosh, lambda s: U(s)),
    ("tanh", np.tanh, torch.tanh, lambda s: U(s)),
    ("asinh", np.arcsinh, torch.asinh, lambda s: U(s, -3, 3)),
    ("acosh", np.arccosh, torch.acosh, lambda s: U(s, 1.1, 3)),
    ("atanh", np.arctanh, torch.atanh, lambda s: U(s, -0.9, 0.9)),
    ("exp", np.exp, torch.exp, lambda s: U(s)),
    ("exp2", np.exp2, torch.exp2, lambda s: U(s)),
    ("expm1", np.expm1, torch.expm1, lambda s: U(s)),
    ("log", np.log, torch.log, lambda s: U(s, 0.1, 3)),
    ("log2", np.log2, torch.log2, lambda s: U(s, 0.1, 3)),
    ("log10", np.log10, torch.log10, lambda s: U(s, 0.1, 3)),
    ("log1p", np.log1p, torch.log1p, lambda s: U(s, -0.5, 3)),
    ("sqrt", np.sqrt, torch.sqrt, lambda s: U(s, 0.1, 3)),
    ("square", np.square, torch.square, lambda s: U(s)),
    ("reciprocal", np.reciprocal, torch.reciprocal, lambda s: S(s)),
    ("abs", np.abs, torch.abs, lambda s: S(s, 0.1, 2)),
    ("sign", np.sign, torch.sign, lambda s: S(s, 0.1, 2)),
    ("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), torch.sigmoid, lambda s: U(s, -3, 3)),
    ("erf", _np_erf, torch.erf, lambda s: U(s)),
]

_MAIN_SHAPES = [(3, 4), (5,), (2, 3, 2), (7,), (12,)]  # <= 33 elements: also on cudasim

for _i, (_n, _np, _t, _dom) in enumerate(UNARY):
    _shape = _MAIN_SHAPES[_i % len(_MAIN_SHAPES)]
    add(OpSpec(f"{_n}[{','.join(map(str, _shape))}]", (lambda n: lambda x: getattr(ad, n)(x))(_n), _t, _np,
               MIX(_dom(_shape)), sim=True, hess=True))
    # the method form of API.md ("the namespace's unary math functions ... as methods")
    add(OpSpec(f"{_n}.method(4,)", (lambda n: lambda x: getattr(x, n)())(_n), _t, _np,
               MIX(_dom((4,)))))

# sizes around the warp and block edges
for _n in SIZES:
    add(OpSpec(f"sin[{_n}]", lambda x: ad.sin(x), torch.sin, np.sin, MIX(U((_n,))),
               sim=_n <= SIM_MAX))
    add(OpSpec(f"exp[{_n}]", lambda x: ad.exp(x), torch.exp, np.exp, MIX(U((_n,))),
               vmap=False))
    add(OpSpec(f"mul[{_n}]", lambda x, y: x * y,
               torch.mul, np.multiply, MIX(U((_n,)), U((_n,))), diff=(0, 1), sim=_n <= SIM_MAX))
add(OpSpec("sin[15,17]", lambda x: ad.sin(x), torch.sin, np.sin, MIX(U((15, 17)))))
add(OpSpec("tanh[0d]", lambda x: ad.tanh(x), torch.tanh, np.tanh, MIX(U(())), sim=True, hess=True))

# ---------------------------------------------------------------------------------------
# pointwise binary / ternary functions, with broadcasting
# ---------------------------------------------------------------------------------------
add(
    OpSpec("atan2[3,4]", lambda y, x: ad.atan2(y, x), torch.atan2, np.arctan2,
           MIX(U((3, 4)), S((3, 4))), diff=(0, 1), sim=True, hess=True),
    OpSpec("atan2[3,1|1,4]", lambda y, x: ad.atan2(y, x), torch.atan2, np.arctan2,
           MIX(U((3, 1)), S((1, 4))), diff=(0, 1), sim=True),
    OpSpec("pow[3,4]", lambda x, y: ad.pow(x, y), torch.pow, np.power,
           MIX(U((3, 4), 0.5, 2), U((3, 4))), diff=(0, 1), sim=True, hess=True),
    OpSpec("pow[3,1|1,4]", lambda x, y: ad.pow(x, y), torch.pow, np.power,
           MIX(U((3, 1), 0.5, 2), U((1, 4))), diff=(0, 1), sim=True),
    OpSpec("pow[5|0d]", lambda x, y: ad.pow(x, y), torch.pow, np.power,
           MIX(U((5,), 0.5, 2), U((), 1, 3)), diff=(0, 1), sim=True),
    OpSpec("maximum[3,4]", lambda x, y: ad.maximum(x, y), torch.maximum, np.maximum,
           separated((3, 4), (3, 4)), diff=(0, 1), sim=True, hess=True),
    OpSpec("minimum[3,4]", lambda x, y: ad.minimum(x, y), torch.minimum, np.minimum,
           separated((3, 4), (3, 4)), diff=(0, 1), sim=True, hess=True),
    OpSpec("maximum[3,1|1,4]", lambda x, y: ad.maximum(x, y), torch.maximum, np.maximum,
           separated((3, 1), (1, 4)), diff=(0, 1), sim=True),
    OpSpec("minimum[4|2,4]", lambda x, y: ad.minimum(x, y), torch.minimum, np.minimum,
           separated((4,), (2, 4)), diff=(0, 1), sim=True),
    OpSpec("where[3,4]", lambda c, x, y: ad.where(c, x, y), torch.where, np.where,
           MIX(BOOL((3, 4)), U((3, 4)), U((3, 4))), diff=(1, 2), sim=True, hess=True),
    OpSpec("where[3,1|1,4|3,4]", lambda c, x, y: ad.where(c, x, y), torch.where, np.where,
           MIX(BOOL((3, 1)), U((1, 4)), U((3, 4))), diff=(1, 2), sim=True),
    OpSpec("clip[3,4]", lambda x: ad.clip(x, -0.5, 0.5), lambda x: torch.clip(x, -0.5, 0.5),
           lambda x: np.clip(x, -0.5, 0.5), MIX(away((3, 4), (-0.5, 0.5))), sim=True, hess=True),
    OpSpec("clip[8]min_only", lambda x: ad.clip(x, min=0.0), lambda x: torch.clip(x, min=0.0),
           lambda x: np.clip(x, 0.0, None), MIX(away((8,), (0.0,))), sim=True),
)

# ---------------------------------------------------------------------------------------
# operators (+ - * / ** @, unary -, abs) with broadcasting and Python scalars
# ---------------------------------------------------------------------------------------
_BIN = [
    ("add", lambda a, b: a + b, U, U),
    ("sub", lambda a, b: a - b, U, U),
    ("mul", lambda a, b: a * b, U, U),
    ("truediv", lambda a, b: a / b, U, S),
    ("pow", lambda a, b: a ** b, lambda s: U(s, 0.5, 2), U),
]
for _n, _f, _ga, _gb in _BIN:
    for _sa, _sb in [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((), (5,)), ((2, 3, 4), (4,))]:
        _tag = f"{_n}[{','.join(map(str, _sa))}|{','.join(map(str, _sb))}]"
        add(OpSpec(f"op_{_tag}", _f, _f, _f, MIX(_ga(_sa), _gb(_sb)), diff=(0, 1), kind="operator",
                   sim=_sa in ((3, 4), (3, 1)), hess=(_sa == (3, 4) and _sb == (3, 4))))

add(
    OpSpec("op_neg", lambda x: -x, lambda x: -x, lambda x: -x, MIX(U((3, 4))), kind="operator",
           sim=True, hess=True),
    OpSpec("op_abs", lambda x: abs(x), lambda x: abs(x), np.abs, MIX(S((3, 4), 0.1, 2)), kind="operator",
           sim=True, hess=True),
    OpSpec("op_scalar_radd", lambda x: 1.5 + x, lambda x: 1.5 + x, lambda x: 1.5 + x, MIX(U((5,))),
           kind="operator", sim=False),
    OpSpec("op_scalar_add", lambda x: x + 1.5, lambda x: x + 1.5, lambda x: x + 1.5, MIX(U((5,))),
           kind="operator", sim=False),
    OpSpec("op_scalar_rsub", lambda x: 1.0 - x, lambda x: 1.0 - x, lambda x: 1.0 - x, MIX(U((5,))),
           kind="operator", sim=False),
    OpSpec("op_scalar_rmul", lambda x: 2.5 * x, lambda x: 2.5 * x, lambda x: 2.5 * x, MIX(U((5,))),
           kind="operator", sim=False),
    OpSpec("op_scalar_rdiv", lambda x: 3.0 / x, lambda x: 3.0 / x, lambda x: 3.0 / x, MIX(S((5,))),
           kind="operator", sim=True, hess=True),
    OpSpec("op_scalar_div", lambda x: x / 2.0, lambda x: x / 2.0, lambda x: x / 2.0, MIX(U((5,))),
           kind="operator", sim=False),
    OpSpec("op_pow_int2", lambda x: x ** 2, lambda x: x ** 2, lambda x: x ** 2, MIX(U((5,))),
           kind="operator", sim=True, hess=True),
    OpSpec("op_pow_3.0", lambda x: x ** 3.0, lambda x: x ** 3.0, lambda x: x ** 3.0, MIX(U((5,))),
           kind="operator", sim=False, hess=True),
    OpSpec("op_pow_0.5", lambda x: x ** 0.5, lambda x: x ** 0.5, lambda x: x ** 0.5, MIX(U((5,), 0.2, 3)),
           kind="operator", sim=False),
    OpSpec("op_rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, lambda x: 2.0 ** x, MIX(U((5,))),
           kind="operator", sim=True, hess=True),
    OpSpec("op_chain", lambda x, y: (x * y - x / y) ** 2 + abs(-x),
           lambda x, y: (x * y - x / y) ** 2 + abs(-x),
           lambda x, y: (x * y - x / y) ** 2 + abs(-x), MIX(S((3, 4)), S((4,))), diff=(0, 1),
           kind="operator", sim=True, hess=True),
)

# ---------------------------------------------------------------------------------------
# reductions: axis None / int / negative / tuple, keepdims
# ---------------------------------------------------------------------------------------
_RED_CASES = [  # (shape, axis, keepdims)
    ((3, 4), None, False),
    ((3, 4), 0, False),
    ((2, 3, 4), -1, True),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (-1, 0), True),
    ((2, 3, 4), None, True),
]


def _red(name, np_f, t_f, dom, cases=_RED_CASES, **kw):
    for shape, axis, kd in cases:
        ax = "all" if axis is None else axis
        add(OpSpec(
            f"{name}[{','.join(map(str, shape))}]axis={ax}{',kd' if kd else ''}",
            (lambda a, k: lambda x: getattr(ad, name)(x, axis=a, keepdims=k))(axis, kd),
            (lambda a, k: lambda x: t_f(x, a, k))(axis, kd),
            (lambda a, k: lambda x: np_f(x, a, k))(axis, kd),
            MIX(dom(shape)), kind="reduction", sim=(axis is None and not kd) or axis == (0, 2),
            hess=True, **kw))


_red("sum", lambda x, a, k: np.sum(x, axis=a, keepdims=k),
     lambda x, a, k: torch.sum(x, dim=_axes(a, x.ndim), keepdim=k), U)
_red("mean", lambda x, a, k: np.mean(x, axis=a, keepdims=k),
     lambda x, a, k: torch.mean(x, dim=_axes(a, x.ndim), keepdim=k), U)
_red("prod", lambda x, a, k: np.prod(x, axis=a, keepdims=k), _t_prod, lambda s: S(s, 0.5, 1.5))
_red("max", lambda x, a, k: np.max(x, axis=a, keepdims=k),
     lambda x, a, k: torch.amax(x, dim=_axes(a, x.ndim), keepdim=k), D)
_red("min", lambda x, a, k: np.min(x, axis=a, keepdims=k),
     lambda x, a, k: torch.amin(x, dim=_axes(a, x.ndim), keepdim=k), D)
_red("var", lambda x, a, k: np.var(x, axis=a, keepdims=k),
     lambda x, a, k: torch.var(x, dim=_axes(a, x.ndim), correction=0, keepdim=k), U)
_red("std", lambda x, a, k: np.std(x, axis=a, keepdims=k),
     lambda x, a, k: torch.std(x, dim=_axes(a, x.ndim), correction=0, keepdim=k), U)
_red("logsumexp", _np_logsumexp,
     lambda x, a, k: torch.logsumexp(x, dim=_axes(a, x.ndim), keepdim=k), U)

add(
    OpSpec("var[4,5]axis=0,correction=1", lambda x: ad.var(x, axis=0, correction=1),
           lambda x: torch.var(x, dim=0, correction=1), lambda x: np.var(x, axis=0, ddof=1),
           MIX(U((4, 5))), kind="reduction", sim=True),
    OpSpec("std[6]correction=1", lambda x: ad.std(x, correction=1),
           lambda x: torch.std(x, correction=1), lambda x: np.std(x, ddof=1),
           MIX(U((6,))), kind="reduction", sim=False),
    OpSpec("sum[0d]", lambda x: ad.sum(x), lambda x: torch.sum(x), lambda x: np.sum(x), MIX(U(())),
           kind="reduction", sim=True),
    OpSpec("sum[3,4]axis=()", lambda x: ad.sum(x, axis=()), lambda x: x.clone(),
           lambda x: np.sum(x, axis=()), MIX(U((3, 4))), kind="reduction", sim=False),
    # the method forms
    OpSpec("x.sum(axis=0)", lambda x: x.sum(axis=0), lambda x: x.sum(dim=0), lambda x: x.sum(axis=0),
           MIX(U((3, 4))), kind="reduction", sim=True),
    OpSpec("x.mean()", lambda x: x.mean(), lambda x: x.mean(), lambda x: x.mean(), MIX(U((3, 4))),
           kind="reduction", sim=False),
    OpSpec("x.max(axis=-1,keepdims)", lambda x: x.max(axis=-1, keepdims=True),
           lambda x: x.amax(dim=-1, keepdim=True), lambda x: x.max(axis=-1, keepdims=True),
           MIX(D((3, 4))), kind="reduction", sim=True),
    OpSpec("x.prod(axis=1)", lambda x: x.prod(axis=1), lambda x: x.prod(dim=1), lambda x: x.prod(axis=1),
           MIX(S((3, 4), 0.5, 1.5)), kind="reduction", sim=False),
)
for _n in SIZES:
    add(OpSpec(f"sum[{_n}]", lambda x: ad.sum(x), torch.sum, np.sum, MIX(U((_n,))), kind="reduction",
               sim=_n <= SIM_MAX))
    add(OpSpec(f"max[{_n}]", lambda x: ad.max(x), torch.amax, np.max, MIX(D((_n,))), kind="reduction",
               sim=_n <= SIM_MAX))
    add(OpSpec(f"logsumexp[{_n}]", lambda x: ad.logsumexp(x), lambda x: torch.logsumexp(x, 0),
               _np_logsumexp, MIX(U((_n,))), kind="reduction", vmap=False))
    add(OpSpec(f"sum[{_n},3]axis=0", lambda x: ad.sum(x, axis=0), lambda x: torch.sum(x, 0),
               lambda x: np.sum(x, 0), MIX(U((_n, 3))), kind="reduction",
               vmap=False))
add(OpSpec("sum[33,9]axis=1", lambda x: ad.sum(x, axis=1), lambda x: torch.sum(x, 1),
           lambda x: np.sum(x, 1), MIX(U((33, 9)))), )
add(OpSpec("mean[257,2]axis=0", lambda x: ad.mean(x, axis=0), lambda x: torch.mean(x, 0),
           lambda x: np.mean(x, 0), MIX(U((257, 2)))))
# cumsum
for _n in SIZES:
    add(OpSpec(f"cumsum[{_n}]", lambda x: ad.cumsum(x, axis=0), lambda x: torch.cumsum(x, 0),
               lambda x: np.cumsum(x, 0), MIX(U((_n,))), kind="reduction", sim=_n in (1, 33),
               vmap=_n <= 33))
add(
    OpSpec("cumsum[3,4]axis=-1", lambda x: ad.cumsum(x, axis=-1), lambda x: torch.cumsum(x, -1),
           lambda x: np.cumsum(x, -1), MIX(U((3, 4))), kind="reduction", sim=True, hess=True),
    OpSpec("cumsum[3,4,2]axis=1", lambda x: ad.cumsum(x, axis=1), lambda x: torch.cumsum(x, 1),
           lambda x: np.cumsum(x, 1), MIX(U((3, 4, 2))), kind="reduction", sim=True),
)
# ---------------------------------------------------------------------------------------
# shape ops
# ---------------------------------------------------------------------------------------
def _shape(name, fn, tfn, npfn, make, diff=(0,)):
    add(OpSpec(name, fn, tfn, npfn, make, diff=diff, kind="shape"))


_shape("reshape[3,4->2,6]", lambda x: ad.reshape(x, (2, 6)), lambda x: torch.reshape(x, (2, 6)),
       lambda x: np.reshape(x, (2, 6)), MIX(U((3, 4))))
_shape("reshape[2,3,4->-1,4]", lambda x: ad.reshape(x, (-1, 4)), lambda x: torch.reshape(x, (-1, 4)),
       lambda x: np.reshape(x, (-1, 4)), MIX(U((2, 3, 4))))
_shape("reshape[5->1,5,1]", lambda x: ad.reshape(x, (1, 5, 1)), lambda x: torch.reshape(x, (1, 5, 1)),
       lambda x: np.reshape(x, (1, 5, 1)), MIX(U((5,))))
_shape("x.reshape(4,3)", lambda x: x.reshape((4, 3)), lambda x: x.reshape((4, 3)),
       lambda x: x.reshape((4, 3)), MIX(U((3, 4))))
_shape("transpose[3,4]", lambda x: ad.transpose(x), lambda x: x.T, np.transpose, MIX(U((3, 4))))
_shape("transpose[2,3,4]axes", lambda x: ad.transpose(x, (1, 2, 0)), lambda x: x.permute(1, 2, 0),
       lambda x: np.transpose(x, (1, 2, 0)), MIX(U((2, 3, 4))))
_shape("x.T[3,4]", lambda x: x.T, lambda x: x.T, lambda x: x.T, MIX(U((3, 4))))
_shape("x.mT[2,3,4]", lambda x: x.mT, lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), MIX(U((2, 3, 4))))
_shape("permute_dims[2,3,4]", lambda x: ad.permute_dims(x, (2, 0, 1)), lambda x: x.permute(2, 0, 1),
       lambda x: np.transpose(x, (2, 0, 1)), MIX(U((2, 3, 4))))
_shape("expand_dims[3,4]axis=1", lambda x: ad.expand_dims(x, axis=1), lambda x: x.unsqueeze(1),
       lambda x: np.expand_dims(x, 1), MIX(U((3, 4))))
_shape("expand_dims[3,4]axis=-1", lambda x: ad.expand_dims(x, axis=-1), lambda x: x.unsqueeze(-1),
       lambda x: np.expand_dims(x, -1), MIX(U((3, 4))))
_shape("squeeze[3,1,4]axis=1", lambda x: ad.squeeze(x, axis=1), lambda x: x.squeeze(1),
       lambda x: np.squeeze(x, 1), MIX(U((3, 1, 4))))
_shape("squeeze[1,3,1]axis=(0,2)", lambda x: ad.squeeze(x, axis=(0, 2)), lambda x: x.squeeze((0, 2)),
       lambda x: np.squeeze(x, (0, 2)), MIX(U((1, 3, 1))))
_shape("broadcast_to[3,1->2,3,4]", lambda x: ad.broadcast_to(x, (2, 3, 4)),
       lambda x: torch.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)), MIX(U((3, 1))))
_shape("broadcast_to[0d->3]", lambda x: ad.broadcast_to(x, (3,)),
       lambda x: torch.broadcast_to(x, (3,)), lambda x: np.broadcast_to(x, (3,)), MIX(U(())))
_shape("concat[2,3|4,3]axis=0", lambda a, b: ad.concat([a, b], axis=0), lambda a, b: torch.cat([a, b], 0),
       lambda a, b: np.concatenate([a, b], 0), MIX(U((2, 3)), U((4, 3))), diff=(0, 1))
_shape("concat[2,3|2,1|2,2]axis=-1", lambda a, b, c: ad.concat((a, b, c), axis=-1),
       lambda a, b, c: torch.cat([a, b, c], -1), lambda a, b, c: np.concatenate([a, b, c], -1),
       MIX(U((2, 3)), U((2, 1)), U((2, 2))), diff=(0, 1, 2))
_shape("concat[3|33]", lambda a, b: ad.concat([a, b]), lambda a, b: torch.cat([a, b]),
       lambda a, b: np.concatenate([a, b]), MIX(U((3,)), U((33,))), diff=(0, 1))
_shape("concat[2,3|4]axis=None", lambda a, b: ad.concat([a, b], axis=None),
       lambda a, b: torch.cat([a.reshape(-1), b.reshape(-1)]), lambda a, b: np.concatenate([a, b], axis=None),
       MIX(U((2, 3)), U((4,))), diff=(0, 1))
_shape("stack[3,4]x3axis=0", lambda a, b, c: ad.stack([a, b, c]), lambda a, b, c: torch.stack([a, b, c]),
       lambda a, b, c: np.stack([a, b, c]), MIX(U((3, 4)), U((3, 4)), U((3, 4))), diff=(0, 1, 2))
_shape("stack[3,4]x2axis=-1", lambda a, b: ad.stack((a, b), axis=-1), lambda a, b: torch.stack([a, b], -1),
       lambda a, b: np.stack([a, b], -1), MIX(U((3, 4)), U((3, 4))), diff=(0, 1))
_shape("stack[0d]x2", lambda a, b: ad.stack([a, b]), lambda a, b: torch.stack([a, b]),
       lambda a, b: np.stack([a, b]), MIX(U(()), U(())), diff=(0, 1))
_shape("flip[2,3,4]", lambda x: ad.flip(x), lambda x: torch.flip(x, (0, 1, 2)), np.flip, MIX(U((2, 3, 4))))
_shape("flip[3,4]axis=1", lambda x: ad.flip(x, axis=1), lambda x: torch.flip(x, (1,)),
       lambda x: np.flip(x, 1), MIX(U((3, 4))))
_shape("flip[2,3,4]axis=(0,-1)", lambda x: ad.flip(x, axis=(0, -1)), lambda x: torch.flip(x, (0, 2)),
       lambda x: np.flip(x, (0, -1)), MIX(U((2, 3, 4))))
_shape("tile[2,3]reps=(2,1)", lambda x: ad.tile(x, (2, 1)), lambda x: torch.tile(x, (2, 1)),
       lambda x: np.tile(x, (2, 1)), MIX(U((2, 3))))
_shape("tile[3]reps=(2,2)", lambda x: ad.tile(x, (2, 2)), lambda x: torch.tile(x, (2, 2)),
       lambda x: np.tile(x, (2, 2)), MIX(U((3,))))
_shape("tile[2,3]reps=(3,)", lambda x: ad.tile(x, (3,)), lambda x: torch.tile(x, (3,)),
       lambda x: np.tile(x, (3,)), MIX(U((2, 3))))


# ---------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------
def _la(name, fn, tfn, npfn, make, diff=(0, 1), hess=False, rtol32=2e-4):
    add(OpSpec(name, fn, tfn, npfn, make, diff=diff, kind="linalg", hess=hess, rtol32=rtol32))


for _sa, _sb in [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (4, 5)),
                 ((3, 4), (4,)), ((4,), (4,)), ((1, 1), (1, 33)), ((33, 32), (32, 2))]:
    _tag = f"[{','.join(map(str, _sa))}@{','.join(map(str, _sb))}]"
    _la(f"matmul{_tag}", lambda a, b: ad.matmul(a, b), torch.matmul, np.matmul, MIX(U(_sa), U(_sb)),
        hess=(_sa == (3, 4) and _sb == (4,)))
    if len(_sa) == len(_sb) == 2 or _sa == (2, 3, 4):
        _la(f"op_matmul{_tag}", lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: a @ b,
            MIX(U(_sa), U(_sb)))

_la("vecdot[3,4|3,4]", lambda a, b: ad.vecdot(a, b), lambda a, b: torch.linalg.vecdot(a, b),
    lambda a, b: np.sum(a * b, -1), MIX(U((3, 4)), U((3, 4))), hess=True)
_la("vecdot[2,3,4|4]", lambda a, b: ad.vecdot(a, b), lambda a, b: torch.linalg.vecdot(a, b),
    lambda a, b: np.sum(a * b, -1), MIX(U((2, 3, 4)), U((4,))))
_la("vecdot[4,3|4,3]axis=0", lambda a, b: ad.vecdot(a, b, axis=0),
    lambda a, b: torch.linalg.vecdot(a, b, dim=0), lambda a, b: np.sum(a * b, 0), MIX(U((4, 3)), U((4, 3))))
_la("outer[3|4]", lambda a, b: ad.outer(a, b), torch.outer, np.outer, MIX(U((3,)), U((4,))), hess=True)
_la("outer[1|33]", lambda a, b: ad.outer(a, b), torch.outer, np.outer, MIX(U((1,)), U((33,))))
_la("tensordot[3,4,5|4,5,2]axes=2", lambda a, b: ad.tensordot(a, b, axes=2),
    lambda a, b: torch.tensordot(a, b, dims=2), lambda a, b: np.tensordot(a, b, axes=2),
    MIX(U((3, 4, 5)), U((4, 5, 2))))
_la("tensordot[3,4|4,5]axes=1", lambda a, b: ad.tensordot(a, b, axes=1),
    lambda a, b: torch.tensordot(a, b, dims=1), lambda a, b: np.tensordot(a, b, axes=1),
    MIX(U((3, 4)), U((4, 5))))
_la("tensordot[3,4,5|5,3,2]axes=pairs", lambda a, b: ad.tensordot(a, b, axes=((0, 2), (1, 0))),
    lambda a, b: torch.tensordot(a, b, dims=([0, 2], [1, 0])),
    lambda a, b: np.tensordot(a, b, axes=((0, 2), (1, 0))), MIX(U((3, 4, 5)), U((5, 3, 2))))
_la("tensordot[2,3|4]axes=0", lambda a, b: ad.tensordot(a, b, axes=0),
    lambda a, b: torch.tensordot(a, b, dims=0), lambda a, b: np.tensordot(a, b, axes=0),
    MIX(U((2, 3)), U((4,))))
for _eq, _shapes in [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
                     ("i,i->", [(5,), (5,)]), ("i,j->ij", [(3,), (4,)]), ("ijk,k->ij", [(2, 3, 4), (4,)]),
                     ("ij->ji", [(3, 4)]), ("ij->j", [(3, 4)]), ("ii->i", [(4, 4)]), ("ii->", [(4, 4)]),
                     ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)])]:
    _la(f"einsum[{_eq}]", (lambda e: lambda *a: ad.einsum(e, *a))(_eq),
        (lambda e: lambda *a: torch.einsum(e, *a))(_eq), (lambda e: lambda *a: np.einsum(e, *a))(_eq),
        MIX(*[U(s) for s in _shapes]), diff=tuple(range(len(_shapes))), hess=_eq == "ij,jk->ik")
_la("diag[4]", lambda x: ad.diag(x), torch.diag, np.diag, MIX(U((4,))), diff=(0,))
_la("diag[4,4]", lambda x: ad.diag(x), torch.diag, np.diag, MIX(U((4, 4))), diff=(0,))
_la("diag[3,5]", lambda x: ad.diag(x), torch.diag, np.diag, MIX(U((3, 5))), diff=(0,))
_la("trace[4,4]", lambda x: ad.trace(x), torch.trace, np.trace, MIX(U((4, 4))), diff=(0,))
_la("trace[2,3,3]batched", lambda x: ad.trace(x),
    lambda x: torch.diagonal(x, dim1=-2, dim2=-1).sum(-1), lambda x: np.trace(x, axis1=-2, axis2=-1),
    MIX(U((2, 3, 3))), diff=(0,))
for _s in [(3, 3), (2, 4, 4), (1, 1), (2, 1, 2, 2)]:
    _tag = ",".join(map(str, _s))
    _la(f"linalg.det[{_tag}]", lambda x: ad.linalg.det(x), torch.linalg.det, np.linalg.det, MIX(WC(_s)),
        diff=(0,), hess=_s == (3, 3), rtol32=1e-3)
    _la(f"linalg.inv[{_tag}]", lambda x: ad.linalg.inv(x), torch.linalg.inv, np.linalg.inv, MIX(WC(_s)),
        diff=(0,), hess=_s == (3, 3), rtol32=1e-3)
for _sa, _sb in [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 4)), ((2, 3, 3), (3,)),
                 ((2, 3, 3), (3, 1)), ((1, 1), (1,))]:
    _tag = f"[{','.join(map(str, _sa))}|{','.join(map(str, _sb))}]"
    _la(f"linalg.solve{_tag}", lambda a, b: ad.linalg.solve(a, b), torch.linalg.solve, np.linalg.solve,
        MIX(WC(_sa), U(_sb)), hess=_tag == "[3,3|3]", rtol32=1e-3)
_la("linalg.norm[5]", lambda x: ad.linalg.norm(x), torch.linalg.norm, np.linalg.norm, MIX(S((5,))),
    diff=(0,), hess=True)
_la("linalg.norm[3,4]", lambda x: ad.linalg.norm(x), torch.linalg.norm, np.linalg.norm, MIX(S((3, 4))),
    diff=(0,))
_la("linalg.norm[3,4]axis=-1", lambda x: ad.linalg.norm(x, axis=-1), lambda x: torch.linalg.norm(x, dim=-1),
    lambda x: np.linalg.norm(x, axis=-1), MIX(S((3, 4))), diff=(0,))
_la("linalg.norm[3,4]axis=0,kd", lambda x: ad.linalg.norm(x, axis=0, keepdims=True),
    lambda x: torch.linalg.norm(x, dim=0, keepdim=True), lambda x: np.linalg.norm(x, axis=0, keepdims=True),
    MIX(S((3, 4))), diff=(0,))
_la("linalg.cross[3|3]", lambda a, b: ad.linalg.cross(a, b), torch.linalg.cross, np.cross,
    MIX(U((3,)), U((3,))), hess=True)
_la("linalg.cross[4,3|4,3]", lambda a, b: ad.linalg.cross(a, b), torch.linalg.cross, np.cross,
    MIX(U((4, 3)), U((4, 3))))
_la("linalg.cross[2,3|3]", lambda a, b: ad.linalg.cross(a, b),
    lambda a, b: torch.linalg.cross(*torch.broadcast_tensors(a, b)), np.cross,
    MIX(U((2, 3)), U((3,))))


# ---------------------------------------------------------------------------------------
# indexing: take and __getitem__ (the reverse rule scatter-adds: repeated indices)
# ---------------------------------------------------------------------------------------
def _index(name, fn, tfn, npfn, make, hess=False):
    add(OpSpec(name, fn, tfn, npfn, make, diff=(0,), kind="index", hess=hess))


_I1 = np.array([0, 2, 2, 5, 0])
_I2 = np.array([[1, 0], [3, 3]])
_I3 = np.array([4, 0, 2, 2])
_index("take[6]idx_repeated", lambda x: ad.take(x, ad.tensor(_I1, device=x.device)),
       lambda x: x[torch.as_tensor(_I1)], lambda x: np.take(x, _I1), MIX(U((6,))), hess=True)
_index("take[3,5]axis=1", lambda x: ad.take(x, ad.tensor(_I3, device=x.device), axis=1),
       lambda x: torch.index_select(x, 1, torch.as_tensor(_I3)), lambda x: np.take(x, _I3, axis=1),
       MIX(U((3, 5))))
_index("take[4,3]axis=0", lambda x: ad.take(x, ad.tensor(np.array([3, 1, 3]), device=x.device), axis=0),
       lambda x: torch.index_select(x, 0, torch.as_tensor([3, 1, 3])),
       lambda x: np.take(x, [3, 1, 3], axis=0), MIX(U((4, 3))))
for _label, _idx in [
    ("[1]", 1), ("[-1]", -1), ("[1:4]", slice(1, 4)), ("[::2]", slice(None, None, 2)),
    ("[:,None]", (slice(None), None)), ("[...,1]", (Ellipsis, 1)), ("[None,1:,...]", (None, slice(1, None), Ellipsis)),
    ("[1,2]", (1, 2)), ("[idx]", _I1[:4] % 4), ("[:,idx]", (slice(None), _I1 % 5)), ("[idx2d]", _I2),
    ("[idx,idx]", (np.array([0, 2, 2]), np.array([1, 4, 4]))), ("[1:,[0,0,3]]", (slice(1, None), np.array([0, 0, 3]))),
]:
    _index(f"getitem[4,5]{_label}", (lambda i: lambda x: x[i])(_idx),
           (lambda i: lambda x: x[_ix(i)])(_idx),
           (lambda i: lambda x: x[i])(_idx), MIX(U((4, 5))), hess=_label == "[idx]")
_index("getitem[6]tensor_idx", lambda x: x[ad.tensor(_I1, device=x.device)], lambda x: x[torch.as_tensor(_I1)],
       lambda x: x[_I1], MIX(U((6,))))
_index("getitem[6][::-1]", lambda x: x[::-1], lambda x: torch.flip(x, (0,)), lambda x: x[::-1], MIX(U((6,))))
for _label, _sl in [("[::-2]", slice(None, None, -2)), ("[3:0:-1]", slice(3, 0, -1)), ("[-3:]", slice(-3, None)),
                    ("[5:1:-2]", slice(5, 1, -2)), ("[10:]empty", slice(10, None))]:
    _index(f"getitem[6]{_label}", (lambda sl: lambda x: x[sl])(_sl),
           (lambda sl: lambda x: x[torch.as_tensor(np.arange(6)[sl].copy(), dtype=torch.long)])(_sl),
           (lambda sl: lambda x: x[sl])(_sl), MIX(U((6,))))
_index("getitem[4,5][:,::-1]", lambda x: x[:, ::-1], lambda x: torch.flip(x, (1,)), lambda x: x[:, ::-1],
       MIX(U((4, 5))))
_index("getitem[4,5][np.int64]", lambda x: x[np.int64(2)], lambda x: x[2], lambda x: x[np.int64(2)], MIX(U((4, 5))))
_index("getitem[2,3,4][0,...,None,1:3]", lambda x: x[0, ..., None, 1:3], lambda x: x[0, ..., None, 1:3],
       lambda x: x[0, ..., None, 1:3], MIX(U((2, 3, 4))))


# ---------------------------------------------------------------------------------------
# more index forms: negative integer arrays (scatter-add with wrap-around), 0-d index tensors
# ---------------------------------------------------------------------------------------
_index("getitem[6][neg_idx]", lambda x: x[np.array([-1, 0, -1, -6])], lambda x: x[torch.as_tensor([-1, 0, -1, -6])],
       lambda x: x[np.array([-1, 0, -1, -6])], MIX(U((6,))))
_index("getitem[4,5][:,neg_idx]", lambda x: x[:, np.array([-2, 1, -2])], lambda x: x[:, torch.as_tensor([-2, 1, -2])],
       lambda x: x[:, np.array([-2, 1, -2])], MIX(U((4, 5))))
_index("getitem[4,5][0d_tensor]", lambda x: x[ad.tensor(np.array(2), device=x.device)],
       lambda x: x[torch.as_tensor(2)], lambda x: x[2], MIX(U((4, 5))))

# ---------------------------------------------------------------------------------------
# more method forms, batching and broadcasting corners of the linear algebra and shape ops
# ---------------------------------------------------------------------------------------
add(
    OpSpec("x.min(axis=0)", lambda x: x.min(axis=0), lambda x: x.amin(dim=0), lambda x: x.min(axis=0),
           MIX(D((3, 4))), kind="reduction", sim=True),
    OpSpec("x.var(axis=1)", lambda x: x.var(axis=1), lambda x: x.var(dim=1, correction=0),
           lambda x: x.var(axis=1), MIX(U((3, 4))), kind="reduction"),
    OpSpec("x.std()", lambda x: x.std(), lambda x: x.std(correction=0), lambda x: x.std(), MIX(U((3, 4))),
           kind="reduction"),
    OpSpec("x.logsumexp(axis=-1)", lambda x: x.logsumexp(axis=-1), lambda x: x.logsumexp(-1),
           lambda x: _np_logsumexp(x, -1), MIX(U((3, 4))), kind="reduction"),
    OpSpec("x.cumsum(axis=0)", lambda x: x.cumsum(axis=0), lambda x: x.cumsum(0), lambda x: x.cumsum(axis=0),
           MIX(U((3, 4))), kind="reduction"),
)
_la("matmul[4@2,4,5]", lambda a, b: a @ b, torch.matmul, np.matmul, MIX(U((4,)), U((2, 4, 5))))
_la("matmul[2,3,4@4]", lambda a, b: ad.matmul(a, b), torch.matmul, np.matmul, MIX(U((2, 3, 4)), U((4,))))
_la("einsum[...ij,...jk->...ik]broadcast", lambda a, b: ad.einsum("...ij,...jk->...ik", a, b),
    lambda a, b: torch.einsum("...ij,...jk->...ik", a, b), lambda a, b: np.einsum("...ij,...jk->...ik", a, b),
    MIX(U((2, 1, 3, 4)), U((5, 4, 2))))
_la("einsum[ij,jk]implicit", lambda a, b: ad.einsum("ij,jk", a, b), lambda a, b: torch.einsum("ij,jk", a, b),
    lambda a, b: np.einsum("ij,jk", a, b), MIX(U((3, 4)), U((4, 2))))
_la("linalg.solve[2,3,3|1,3,2]", lambda a, b: ad.linalg.solve(a, b), torch.linalg.solve, np.linalg.solve,
    MIX(WC((2, 3, 3)), U((1, 3, 2))), rtol32=1e-3)
_la("linalg.solve[3,3|2,3,2]", lambda a, b: ad.linalg.solve(a, b), torch.linalg.solve, np.linalg.solve,
    MIX(WC((3, 3)), U((2, 3, 2))), rtol32=1e-3)
_la("linalg.norm[2,3,4]axis=(-2,-1)", lambda x: ad.linalg.norm(x, axis=(-2, -1)),
    lambda x: torch.linalg.norm(x, dim=(-2, -1)), lambda x: np.linalg.norm(x, axis=(-2, -1)),
    MIX(S((2, 3, 4))), diff=(0,))
_la("linalg.cross[3,4|3,4]axis=0", lambda a, b: ad.linalg.cross(a, b, axis=0),
    lambda a, b: torch.linalg.cross(a, b, dim=0), lambda a, b: np.cross(a, b, axis=0), MIX(U((3, 4)), U((3, 4))))
_index("take[3,5]axis=-1", lambda x: ad.take(x, ad.tensor(_I3, device=x.device), axis=-1),
       lambda x: torch.index_select(x, 1, torch.as_tensor(_I3)), lambda x: np.take(x, _I3, axis=-1),
       MIX(U((3, 5))))
_shape("squeeze[3,4,1]axis=-1", lambda x: ad.squeeze(x, axis=-1), lambda x: x.squeeze(-1),
       lambda x: np.squeeze(x, -1), MIX(U((3, 4, 1))))


# ---------------------------------------------------------------------------------------
# comparisons inside traced code (bool results, non-differentiable) and clip with array bounds
# ---------------------------------------------------------------------------------------
add(
    OpSpec("where(x>0,x,0.1x)", lambda x: ad.where(x > 0.0, x, 0.1 * x),
           lambda x: torch.where(x > 0.0, x, 0.1 * x), lambda x: np.where(x > 0.0, x, 0.1 * x),
           MIX(S((3, 4))), sim=True),
    OpSpec("where(x<y,y-x,x*y)", lambda x, y: ad.where(x < y, y - x, x * y),
           lambda x, y: torch.where(x < y, y - x, x * y), lambda x, y: np.where(x < y, y - x, x * y),
           separated((3, 1), (1, 4)), diff=(0, 1), sim=True),
    OpSpec("x*(x>=0)", lambda x: x * (x >= 0.0), lambda x: x * (x >= 0.0), lambda x: x * (x >= 0.0),
           MIX(S((6,))), sim=True),
    OpSpec("clip[3,4]array_bounds", lambda x, lo, hi: ad.clip(x, lo, hi), lambda x, lo, hi: torch.clip(x, lo, hi),
           np.clip, MIX(away((3, 4), (-0.5, 0.5), lo=-1.5, hi=1.5), lambda r: np.full((1, 4), -0.5),
                        lambda r: np.full((3, 1), 0.5)), diff=(0, 1, 2), sim=True),
)


# ---------------------------------------------------------------------------------------
# zero-size arrays: every kernel must cope with an empty launch
# ---------------------------------------------------------------------------------------
add(
    OpSpec("sin[0]", lambda x: ad.sin(x), torch.sin, np.sin, MIX(U((0,))), sim=True),
    OpSpec("mul[0,3|3]", lambda x, y: x * y, torch.mul, np.multiply, MIX(U((0, 3)), U((3,))), diff=(0, 1),
           sim=True),
    OpSpec("sum[0]", lambda x: ad.sum(x), torch.sum, np.sum, MIX(U((0,))), kind="reduction", sim=True),
    OpSpec("sum[0,3]axis=0", lambda x: ad.sum(x, axis=0), lambda x: torch.sum(x, 0), lambda x: np.sum(x, 0),
           MIX(U((0, 3))), kind="reduction", sim=True),
    OpSpec("prod[0]", lambda x: ad.prod(x), torch.prod, np.prod, MIX(U((0,))), kind="reduction", sim=True),
    OpSpec("cumsum[0]", lambda x: ad.cumsum(x, axis=0), lambda x: torch.cumsum(x, 0), lambda x: np.cumsum(x, 0),
           MIX(U((0,))), kind="reduction", sim=True),
)
_la("matmul[3,0@0,4]", lambda a, b: a @ b, torch.matmul, np.matmul, MIX(U((3, 0)), U((0, 4))))
_shape("concat[2|0]", lambda a, b: ad.concat([a, b]), lambda a, b: torch.cat([a, b]),
       lambda a, b: np.concatenate([a, b]), MIX(U((2,)), U((0,))), diff=(0, 1))
_shape("reshape[0,3->3,0]", lambda x: ad.reshape(x, (3, 0)), lambda x: torch.reshape(x, (3, 0)),
       lambda x: np.reshape(x, (3, 0)), MIX(U((0, 3))))


# ---------------------------------------------------------------------------------------
# specs kept in their own modules (one per family): each has ``register(S)``, called with
# this module, that adds its specs with ``S.add``
# ---------------------------------------------------------------------------------------
def _register_families():
    import importlib
    import sys
    me = sys.modules[__name__]
    for name in ("op_specs_fft", "op_specs_decomp", "op_specs_numpy"):
        mod = importlib.import_module(("." if __package__ else "") + name, __package__ or None)
        mod.register(me)


_register_families()


# ---------------------------------------------------------------------------------------
# views over the table
# ---------------------------------------------------------------------------------------
def by_name(name: str) -> OpSpec:
    for s in SPECS:
        if s.name == name:
            return s
    raise KeyError(name)


def _check_unique():
    names = [s.name for s in SPECS]
    dup = {n for n in names if names.count(n) > 1}
    assert not dup, dup
    for s in SPECS:  # cudasim only for tiny pointwise/reduction cases
        if s.sim:
            assert s.kind in ("pointwise", "reduction", "operator") and _sim_ok(s.make), s.name


_check_unique()

ALL: Sequence[OpSpec] = tuple(SPECS)
# a handful of representatives for the cudasim runs of the float32, eager-tape and
# non-contiguous tests (test_forward/test_jvp/test_vjp run every SIM case there)
SIM32: Sequence[OpSpec] = tuple(by_name(n) for n in (
    "sin[3,4]", "exp2[7]", "pow[3,4]", "maximum[3,1|1,4]", "where[3,4]", "op_truediv[3,1|1,4]",
    "sum[2,3,4]axis=(0, 2)", "max[3,4]axis=all", "logsumexp[3,4]axis=all", "cumsum[33]", "erf[3,4]"))
SIM: Sequence[OpSpec] = tuple(s for s in SPECS if s.sim)


def _diff_size(s):
    args = s.make(np.random.default_rng(0))
    return sum(np.size(args[i]) for i in s.diff)


# second order: the flagged cases, and every other case small enough for a dense Hessian
HESS: Sequence[OpSpec] = tuple(s for s in SPECS if 0 < _diff_size(s) and (s.hess or _diff_size(s) <= 48))
VMAP: Sequence[OpSpec] = tuple(s for s in SPECS if s.vmap)
