"""Program generator for the differential fuzzer (tests/test_fuzz.py).

A fuzz program is a straight-line function ``f(x, s)`` of one array ``x`` (differentiated) and
one Python float ``s`` (passed through, traced by ``ad.jit``). It is kept as *source text* in
gpuad syntax, e.g.::

    def f(x, s):
        v0 = x
        v1 = ad.log(v0 * v0 + 0.3)
        v2 = ad.sum(v1, axis=(0,), keepdims=True)
        v3 = ad.maximum(v2, c[0])
        return v3

and the same text is run twice: once with ``ad`` bound to gpuad and once with ``ad`` bound to
``TorchAD``, a small shim that gives torch the array-API/NumPy signatures gpuad follows. The
torch run is the oracle (torch.func gives the reference derivatives). A failing example
prints the source and the constants, which is a ready-made gpuad repro.

Domains are handled with the *actual* values: the generator draws the inputs first (every
input the test will feed, all jit calls and all vmap rows), evaluates each candidate step in
float64 torch on all of them, and accepts it only if every value is finite and moderate and
every kink is at least ``KINK`` (relative) away (abs at 0, maximum ties, clip bounds, max/min
ties, std at zero variance, ...). A rejected candidate is retried with a smooth pre-map that
puts the op in its domain by construction (log(v*v + 0.3), asin(0.9*tanh(v)), ...), and as
a last resort replaced by tanh. So derivatives are always well defined, and no example is
thrown away.
"""
from __future__ import annotations

import math
import types

import numpy as np
import torch

import gpuad as ad

MAX_SIZE = 16  # elements per node (per vmap row): keeps Hessians small
KINK = 1e-3  # minimal relative distance of any value to a kink of the op it enters
BIG = 1e4  # values must stay below this in magnitude


# ---------------------------------------------------------------------------------------
# torch shim: gpuad's (array API / NumPy) signatures on top of torch
# ---------------------------------------------------------------------------------------
def _reduction(fn):
    """A NumPy-style reduction (``axis=None|int|tuple``, ``keepdims``) from torch's; an
    empty axis tuple reduces nothing, as in NumPy."""
    def reduce(x, axis=None, keepdims=False):
        d = _dims(x, axis)
        return fn(x, dim=d, keepdim=keepdims) if d else x
    return staticmethod(reduce)


def _dims(x, axis):
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, int):
        return (axis % max(x.ndim, 1),)
    return tuple(a % x.ndim for a in axis)


def _finish(r, x, dims, keepdims):
    """torch reductions with dim=() reduce everything; NumPy's axis=() reduces nothing."""
    return r


class _TorchLinalg:
    @staticmethod
    def det(a):
        # up to 3x3 by their polynomials, so that autograd gives exact cofactors at
        # singular matrices too; torch's det backward gave 0 for d det / d a11 at
        # [[0.17, 0], [0, 0]] (the answer is a00), and 0 for d det / d a20 of a 3x3 with
        # a zero row and column (the answer is that minor's determinant; both found by
        # the long fuzz run)
        n = a.shape[-1]

        def m(i, j):
            return a[..., i, j]
        if n == 1:
            return m(0, 0)
        if n == 2:
            return m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0)
        if n == 3:
            return (m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1))
                    - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0))
                    + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0)))
        return torch.linalg.det(a)
    inv = staticmethod(torch.linalg.inv)

    @staticmethod
    def solve(a, b):
        # the array API's rule (gpuad, NumPy 2): b is a vector only when 1-d, else a
        # (batch of) M x K matrices. torch also takes a b with one dim fewer than a as a
        # batch of vectors, so such a b is broadcast to a's rank first.
        if b.ndim == 1:
            return torch.linalg.solve(a, b)
        batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return torch.linalg.solve(a.expand(batch + a.shape[-2:]), b.expand(batch + b.shape[-2:]))

    @staticmethod
    def norm(x, ord=None, axis=None, keepdims=False):
        if axis is None:
            assert ord is None
            r = torch.linalg.vector_norm(x.reshape(-1), 2)
            return r.reshape((1,) * x.ndim) if keepdims else r
        return torch.linalg.vector_norm(x, 2 if ord is None else ord, dim=axis, keepdim=keepdims)

    @staticmethod
    def cross(a, b, axis=-1):
        a, b = torch.broadcast_tensors(a, b)
        return torch.linalg.cross(a, b, dim=axis)


class TorchAD:
    """The subset of ``gpuad``'s namespace the programs use, implemented with torch."""

    linalg = _TorchLinalg

    # pointwise
    sin, cos, tan = torch.sin, torch.cos, torch.tan
    asin, acos, atan = torch.asin, torch.acos, torch.atan
    sinh, cosh, tanh = torch.sinh, torch.cosh, torch.tanh
    asinh, acosh, atanh = torch.asinh, torch.acosh, torch.atanh
    exp, exp2, expm1 = torch.exp, torch.exp2, torch.expm1
    log, log2, log10, log1p = torch.log, torch.log2, torch.log10, torch.log1p
    sqrt, square, reciprocal = torch.sqrt, torch.square, torch.reciprocal
    abs, sign, sigmoid, erf = torch.abs, torch.sign, torch.sigmoid, torch.special.erf
    negative = torch.negative
    maximum, minimum = torch.maximum, torch.minimum
    floor, ceil, trunc = torch.floor, torch.ceil, torch.trunc
    hypot, logaddexp = torch.hypot, torch.logaddexp

    @staticmethod
    def round(x):
        return torch.round(x)

    @staticmethod
    def logaddexp2(a, b):
        return torch.logaddexp2(a, b)

    @staticmethod
    def atan2(a, b):
        return torch.atan2(torch.as_tensor(a, dtype=torch.float64) if not torch.is_tensor(a) else a,
                           torch.as_tensor(b, dtype=a.dtype if torch.is_tensor(a) else torch.float64)
                           if not torch.is_tensor(b) else b)

    @staticmethod
    def pow(a, b):
        return torch.pow(a, b)

    @staticmethod
    def where(c, a, b):
        return torch.where(c, a, b)

    @staticmethod
    def clip(x, min=None, max=None):
        return torch.clamp(x, min, max)

    # reductions
    sum = _reduction(torch.sum)
    mean = _reduction(torch.mean)
    max = _reduction(torch.amax)
    min = _reduction(torch.amin)

    @staticmethod
    def prod(x, axis=None, keepdims=False):
        d = _dims(x, axis)
        for a in sorted(d, reverse=True):
            x = torch.prod(x, dim=a, keepdim=True)
        return x if keepdims or not d else torch.squeeze(x, dim=d)

    @staticmethod
    def var(x, axis=None, correction=0, keepdims=False):
        d = _dims(x, axis)
        if not d:
            return torch.zeros_like(x.real if x.is_complex() else x)
        return torch.var(x, dim=d, correction=correction, keepdim=keepdims)

    @staticmethod
    def std(x, axis=None, correction=0, keepdims=False):
        d = _dims(x, axis)
        if not d:
            return torch.zeros_like(x.real if x.is_complex() else x)
        return torch.std(x, dim=d, correction=correction, keepdim=keepdims)

    @staticmethod
    def logsumexp(x, axis=None, keepdims=False):
        d = _dims(x, axis)
        return torch.logsumexp(x, dim=d, keepdim=keepdims) if d else x

    @staticmethod
    def cumsum(x, axis):
        return torch.cumsum(x, dim=axis)

    # shape
    reshape = staticmethod(torch.reshape)

    @staticmethod
    def permute_dims(x, axes):
        return torch.permute(x, axes)

    @staticmethod
    def expand_dims(x, axis):
        return torch.unsqueeze(x, axis)

    @staticmethod
    def squeeze(x, axis):
        return torch.squeeze(x, dim=axis)

    broadcast_to = staticmethod(torch.broadcast_to)

    @staticmethod
    def concat(xs, axis=0):
        return torch.cat(list(xs), dim=axis)

    @staticmethod
    def stack(xs, axis=0):
        return torch.stack(list(xs), dim=axis)

    @staticmethod
    def flip(x, axis=None):
        return torch.flip(x, _dims(x, axis))

    tile = staticmethod(torch.tile)

    @staticmethod
    def moveaxis(x, a, b):
        return torch.movedim(x, a, b)

    @staticmethod
    def swapaxes(x, a, b):
        return torch.swapaxes(x, a, b)

    @staticmethod
    def matrix_transpose(x):
        return x.mT

    @staticmethod
    def take(x, indices, axis=None):
        idx = torch.as_tensor(indices)
        if axis is None:
            return x.reshape(-1)[idx]
        return x[(slice(None),) * (axis % x.ndim) + (idx,)]

    # linear algebra
    matmul = staticmethod(torch.matmul)
    einsum = staticmethod(torch.einsum)

    @staticmethod
    def tensordot(a, b, axes=2):
        return torch.tensordot(a, b, dims=axes)

    @staticmethod
    def vecdot(a, b, axis=-1):
        return torch.linalg.vecdot(a, b, dim=axis)

    outer = staticmethod(torch.outer)

    @staticmethod
    def diag(x, k=0):
        return torch.diag(x, k)

    @staticmethod
    def diagonal(x, offset=0, axis1=-2, axis2=-1):
        return torch.diagonal(x, offset, axis1, axis2)

    @staticmethod
    def trace(x, offset=0, axis1=-2, axis2=-1):
        return torch.diagonal(x, offset, axis1, axis2).sum(-1)

    @staticmethod
    def linspace(start, stop, num, endpoint=True):
        dt = next((t.dtype for t in (start, stop) if torch.is_tensor(t)), torch.float64)
        start = start if torch.is_tensor(start) else torch.tensor(start, dtype=dt)
        stop = stop if torch.is_tensor(stop) else torch.tensor(stop, dtype=dt)
        if num == 1:
            return start.reshape(1) + 0 * stop
        k = torch.arange(num, dtype=start.dtype)
        return start + (stop - start) * k / (num - 1)


# custom rules: gpuad side and the torch reference of the same function
@ad.custom_jvp
def cj_softplus(x):
    return ad.log1p(ad.exp(x))


@cj_softplus.defjvp
def _cj_softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return cj_softplus(x), t * ad.sigmoid(x)


@ad.custom_vjp
def cv_cube(x):
    return x * x * x


def _cv_fwd(x):
    return cv_cube(x), x


def _cv_bwd(x, g):
    return (3.0 * x * x * g,)


cv_cube.defvjp(_cv_fwd, _cv_bwd)

GpuadFZ = types.SimpleNamespace(cj_softplus=cj_softplus, cv_cube=cv_cube)
TorchFZ = types.SimpleNamespace(cj_softplus=lambda x: torch.log1p(torch.exp(x)), cv_cube=lambda x: x * x * x)


# ---------------------------------------------------------------------------------------
# programs
# ---------------------------------------------------------------------------------------
class Program:
    def __init__(self, lines, consts, out_shape):
        self.lines = lines
        self.consts = consts  # NumPy arrays, already in the test's dtype (float or complex)
        self.out_shape = out_shape

    def source(self):
        body = "".join(f"    {ln}\n" for ln in self.lines)
        return f"def f(x, s):\n    v0 = x\n{body}    return v{len(self.lines)}\n"

    def repro(self):
        cs = "".join(f"    ad.tensor(np.array({a.tolist()!r}, dtype=np.{a.dtype})),\n" for a in self.consts)
        return "c = [\n" + cs + "]\n" + self.source()

    def gpuad_fn(self):
        c = [ad.tensor(a) for a in self.consts]
        ns = {"ad": ad, "fz": GpuadFZ, "c": c, "np": np}
        exec(self.source(), ns)
        return ns["f"]

    def torch_fn(self, dtype=torch.float64):
        c = [torch.as_tensor(a).to(dtype if not np.iscomplexobj(a) else
                                    (torch.complex128 if dtype == torch.float64 else torch.complex64))
             for a in self.consts]
        ns = {"ad": TorchAD, "fz": TorchFZ, "c": c, "np": np}
        exec(self.source(), ns)
        return ns["f"]


def _tc(a):
    return torch.as_tensor(np.asarray(a)).to(torch.complex128 if np.iscomplexobj(a) else torch.float64)


class Gen:
    """Builds a program step by step, checking each candidate step on all the inputs."""

    def __init__(self, draw, samples, dtype, reverse_only):
        self.draw = draw
        self.dtype = np.dtype(dtype)
        self.cdtype = np.dtype(np.complex64 if self.dtype == np.float32 else np.complex128)
        self.reverse_only = reverse_only
        # samples: list of (x ndarray, s float); every sample holds every node's value
        self.samples = [([_tc(x)], s) for x, s in samples]
        self.lines = []
        self.consts = []
        self.tconsts = []
        self.exclude = set()

    # -- helpers --------------------------------------------------------------------------
    def shape(self, i):
        return tuple(self.samples[0][0][i].shape)

    def vals(self, i):
        return [smp[0][i] for smp in self.samples]

    def amax(self, i):
        return max([float(v.abs().max()) if v.numel() else 0.0 for v in self.vals(i)])

    def amin(self, i):
        return min([float(v.min()) if v.numel() else math.inf for v in self.vals(i)])

    def const(self, arr, complex_=False):
        a = np.asarray(arr).astype(self.cdtype if complex_ else self.dtype)
        self.consts.append(a)
        self.tconsts.append(_tc(a))
        return f"c[{len(self.consts) - 1}]"

    def rng(self):
        return np.random.default_rng(self.draw(_seeds))

    def pick(self, seq):
        return self.draw(_sampled(tuple(seq)))

    def choose(self, f, names):
        """The op to build: ``f`` when forced, else a drawn one of ``names`` not excluded."""
        if f is not None:
            return f
        names = [n for n in names if n not in self.exclude] or [names[0]]
        return self.pick(names)

    def evaluate(self, expr, margins):
        """Torch values of ``expr`` on every sample, or None if a value or a margin is bad."""
        out = []
        for vals, s in self.samples:
            ns = {"ad": TorchAD, "fz": TorchFZ, "c": self.tconsts, "s": s, "torch": torch,
                  "math": math, "gap": _gap, "rel": _rel, "np": np, "TorchAD": TorchAD}
            ns.update({f"v{i}": v for i, v in enumerate(vals)})
            try:
                with torch.no_grad():
                    r = eval(expr, ns)
                    for m in margins:
                        mv = eval(m, ns)
                        if torch.is_tensor(mv) and mv.numel() and not bool(torch.all(mv >= KINK)):
                            return None
            except (RuntimeError, IndexError, ValueError, TypeError):
                return None
            if not torch.is_tensor(r) or r.is_complex() or r.dtype != torch.float64:
                return None
            if r.numel() > MAX_SIZE or (r.numel() and not bool(torch.all(torch.isfinite(r) & (r.abs() < BIG)))):
                return None
            out.append(r)
        shapes = {tuple(r.shape) for r in out}
        return out if len(shapes) == 1 else None

    def add(self, candidates):
        """Append the first acceptable candidate ``(expr, margins)``; tanh as the last resort."""
        n = len(self.lines) + 1
        for expr, margins in list(candidates) + [(f"ad.tanh({self.cur})", [])]:
            vals = self.evaluate(expr, margins)
            if vals is not None:
                self.lines.append(f"v{n} = {expr}")
                for (lst, _), v in zip(self.samples, vals):
                    lst.append(v)
                return
        raise AssertionError("tanh was rejected")  # pragma: no cover

    @property
    def cur(self):
        return f"v{len(self.lines)}"

    def other(self, shape_ok):
        """A previous node (not the current one) whose shape passes ``shape_ok``, or None."""
        ids = [i for i in range(len(self.lines)) if shape_ok(self.shape(i))]
        if not ids or not self.draw(_bools):
            return None
        return f"v{self.pick(ids)}"

    def bshape(self, shape):
        """A shape that broadcasts against ``shape``, result size within MAX_SIZE."""
        kind = self.pick(["same", "ones", "drop", "lead"])
        shape = list(shape)
        if kind == "ones":
            shape = [1 if self.draw(_bools) else d for d in shape]
        elif kind == "drop" and shape:
            shape = shape[self.draw(_st.integers(1, len(shape))):]
        elif kind == "lead" and 2 * int(np.prod(shape, dtype=int)) <= MAX_SIZE:
            shape = [2] + shape
        return tuple(shape)

    def operand(self, shape, lo=-2.0, hi=2.0, nonzero=False):
        """Second operand: a previous node (fan-out) or a constant, broadcasting with shape."""
        o = self.other(lambda s2: _broadcasts(shape, s2))
        if o is not None:
            return o
        bs = self.bshape(shape)
        r = self.rng()
        a = r.uniform(lo, hi, size=bs)
        if nonzero:
            a = np.where(np.abs(a) < 0.3, 0.3 * np.sign(a + 1e-9), a)
        return self.const(a)


def _broadcasts(a, b):
    try:
        return len(np.broadcast_shapes(a, b)) and int(np.prod(np.broadcast_shapes(a, b))) <= MAX_SIZE
    except ValueError:
        return False


def _rel(d, *xs):
    """Distances ``d`` relative to the magnitude of the operands."""
    scale = 1.0
    for x in xs:
        if torch.is_tensor(x) and x.numel():
            scale = max(scale, float(x.abs().max()))
    return d / scale


def _gap(x, dims):
    """Distance between the largest and second largest entries over ``dims`` (both ends)."""
    if not dims:
        return torch.tensor(math.inf)
    rest = [i for i in range(x.ndim) if i not in dims]
    y = x.permute(rest + list(dims)).reshape(*[x.shape[i] for i in rest], -1)
    if y.shape[-1] < 2:
        return torch.tensor(math.inf)
    s, _ = torch.sort(y, dim=-1)
    top = s[..., -1] - s[..., -2]
    bot = s[..., 1] - s[..., 0]
    return _rel(torch.minimum(top, bot), x)


from hypothesis import strategies as _st  # noqa: E402

_seeds = _st.integers(0, 2**32 - 1)
_bools = _st.booleans()


def _sampled(seq):
    return _st.sampled_from(seq)


# ---------------------------------------------------------------------------------------
# op builders: each appends one step (maybe with a pre-map) to the program
# ---------------------------------------------------------------------------------------
UNARY = {  # name: domain
    "sin": "R", "cos": "R", "atan": "R", "tanh": "R", "asinh": "R", "square": "R", "sigmoid": "R",
    "erf": "R", "negative": "R", "sinh": "B", "cosh": "B", "exp": "B", "exp2": "B", "expm1": "B",
    "tan": "T", "asin": "U", "acos": "U", "atanh": "U", "log": "P", "log2": "P", "log10": "P",
    "sqrt": "P", "acosh": "G1", "log1p": "L1", "reciprocal": "NZ", "abs": "NZ", "sign": "NZ",
}
EXTRA_UNARY = {"floor": "I", "ceil": "I", "trunc": "I", "round": "H"}  # used once gpuad has them


def b_unary(g, f=None):
    names = sorted(UNARY) + sorted(n for n in EXTRA_UNARY if hasattr(ad, n))
    f = g.choose(f, names)
    dom = UNARY.get(f) or EXTRA_UNARY[f]
    a = g.cur
    direct = f"ad.{f}({a})"
    if dom == "R":
        return g.add([(direct, [])])
    if dom == "B":
        return g.add([(direct, [f"rel(5 - {a}.abs(), {a}) + 1"]), (f"ad.{f}(3 * ad.tanh({a} / 3))", [])])
    if dom == "T":
        return g.add([(direct, [f"1.3 - {a}.abs()"]), (f"ad.tan(1.2 * ad.tanh({a}))", [])])
    if dom == "U":
        return g.add([(direct, [f"0.95 - {a}.abs()"]), (f"ad.{f}(0.9 * ad.tanh({a}))", [])])
    if dom == "P":
        return g.add([(direct, [f"rel({a}, {a}) * 20"]), (f"ad.{f}({a} * {a} + 0.3)", []),
                      (f"ad.{f}(ad.exp(ad.tanh({a})))", [])])
    if dom == "G1":
        return g.add([(direct, [f"({a} - 1) * 20"]), (f"ad.acosh({a} * {a} + 1.1)", [])])
    if dom == "L1":
        return g.add([(direct, [f"({a} + 1) * 10"]), (f"ad.log1p({a} * {a})", [])])
    if dom == "NZ":
        shift = round(g.amax(int(a[1:])) + 0.5, 2)
        return g.add([(direct, [f"rel({a}.abs(), {a}) * 10"]), (f"ad.{f}({a} - {shift})", []),
                      (f"ad.{f}({a} * {a} + 0.3)", [])])
    if dom in "IH":
        off = "0.5" if dom == "H" else "0"
        return g.add([(f"{direct} + {a}", [f"rel(({a} + {off} - torch.round({a} + {off})).abs(), {a}) * 10"]),
                      (f"ad.{f}(2 * ad.tanh({a}) + 0.25) + {a}", [])])


def b_binary(g, f=None):
    a = g.cur
    sh = g.shape(int(a[1:]))
    op = g.choose(f, ["+", "-", "*", "/", "**", "maximum", "minimum", "atan2", "where", "clip"]
                + [n for n in ("hypot", "logaddexp") if hasattr(ad, n)])
    swap = g.draw(_bools)
    if op in "+-*":
        b = g.operand(sh)
        x, y = (b, a) if swap else (a, b)
        return g.add([(f"{x} {op} {y}", [])])
    if op == "/":
        b = g.operand(sh, nonzero=True)
        x, y = (b, a) if swap else (a, b)
        return g.add([(f"{x} / {y}", [f"rel({y}.abs(), {y}) * 10"]), (f"{x} / ({y} * {y} + 0.5)", [])])
    if op == "**":
        if g.draw(_bools):
            k = g.pick([2, 3, 0.5, -1.5])
            if k in (2, 3):
                return g.add([(f"{a} ** {k}", [])])
            return g.add([(f"{a} ** {k}", [f"rel({a}, {a}) * 20"]), (f"({a} * {a} + 0.3) ** {k}", [])])
        b = g.operand(sh)
        return g.add([(f"ad.pow({a}, 2 * ad.tanh({b}))", [f"rel({a}, {a}) * 20"]),
                      (f"ad.pow({a} * {a} + 0.3, 2 * ad.tanh({b}))", [])])
    # a constant second operand straddles a's values, so both sides get picked
    ai = int(a[1:])
    lo, hi = (min(g.amin(ai), 0.0), max(g.amax(ai), 0.1)) if op in ("maximum", "minimum", "where") else (-2.0, 2.0)
    b = g.operand(sh, lo=max(lo, -2.0), hi=min(hi, 2.0))
    x, y = (b, a) if swap else (a, b)
    if op in ("maximum", "minimum"):
        return g.add([(f"ad.{op}({x}, {y})", [f"rel(({x} - {y}).abs(), {x}, {y}) * 10"])])
    if op == "atan2":
        m = f"rel(torch.where({y} > 0, torch.hypot({x}, {y}), {x}.abs()), {x}, {y}) * 10"
        return g.add([(f"ad.atan2({x}, {y})", [m]), (f"ad.atan2({x}, {y} * {y} + 0.5)", [])])
    if op == "hypot":
        return g.add([(f"ad.hypot({x}, {y})", [f"rel(torch.hypot({x}, {y}), {x}, {y}) * 10"])])
    if op == "logaddexp":
        return g.add([(f"ad.logaddexp({x}, {y})", [])])
    if op == "where":
        cond = g.pick([a, b, "other"])
        if cond == "other":
            cond = g.operand(sh)
        return g.add([(f"ad.where({cond} > 0.25, {x}, {y})", [f"rel(({cond} - 0.25).abs(), {cond}) * 10"])])
    if op == "clip":
        r = g.rng()
        vals = torch.cat([v.reshape(-1) for v in g.vals(int(a[1:]))]).numpy()
        if vals.size:  # bounds inside a's values, so the clip is active somewhere
            lo, hi = sorted(float(round(q, 3)) for q in np.quantile(vals, r.uniform(0, 1, size=2)))
        else:
            lo, hi = sorted(float(q) for q in np.round(r.uniform(-1.5, 1.5, size=2), 3))
        if hi - lo < 0.2:
            hi = lo + 0.5
        kind = g.pick(["both", "min", "max"])
        args = {"both": f"{lo!r}, {hi!r}", "min": f"min={lo!r}", "max": f"max={hi!r}"}[kind]
        m = f"rel(torch.minimum(({a} - {lo!r}).abs(), ({a} - {hi!r}).abs()), {a}) * 10"
        return g.add([(f"ad.clip({a}, {args})", [m])])


def _axis(g, nd):
    kind = g.pick(["none", "int", "tuple"]) if nd else g.pick(["none", "empty"])
    if kind == "none":
        return None
    if kind == "empty":
        return ()
    if kind == "int":
        return g.draw(_st.integers(-nd, nd - 1))
    picked = g.draw(_st.lists(_st.integers(0, nd - 1), unique=True, max_size=nd))
    return tuple(p - nd if g.draw(_bools) else p for p in picked)


def b_reduce(g, f=None):
    a = g.cur
    sh = g.shape(int(a[1:]))
    nd = len(sh)
    f = g.choose(f, ["sum", "mean", "prod", "max", "min", "var", "std", "logsumexp", "cumsum", "prod_zeros"])
    if f == "cumsum":
        if not nd:
            f = "sum"
        else:
            return g.add([(f"ad.cumsum({a}, axis={g.draw(_st.integers(-nd, nd - 1))})", [])])
    axis = _axis(g, nd)
    keep = g.draw(_bools)
    dims = tuple(range(nd)) if axis is None else ((axis % nd,) if isinstance(axis, int) else tuple(x % nd for x in axis))
    count = int(np.prod([sh[d] for d in dims], dtype=int))
    kw = f"axis={axis!r}, keepdims={keep}"
    if f == "prod_zeros":  # exact zeros in the product, one or more per slice
        mask = (g.rng().random(sh) < 0.6).astype(float)
        return g.add([(f"ad.prod({a} * {g.const(mask)}, {kw})", [])])
    if f in ("mean", "max", "min", "var", "std", "logsumexp") and count == 0:
        f = "sum"  # NaN / -inf / an error on an empty reduction: out of the smooth domain
    if f in ("max", "min"):
        return g.add([(f"ad.{f}({a}, {kw})", [f"gap({a}, {dims!r}) * 10"])])
    if f in ("var", "std"):
        corr = g.pick([0, 1]) if count > 1 else 0
        ckw = f", correction={corr}" if corr else ""
        ms = [f"rel(TorchAD.var({a}, {axis!r}), {a} * {a}) * 100"] if f == "std" else []
        return g.add([(f"ad.{f}({a}, {kw}{ckw})", ms)])
    return g.add([(f"ad.{f}({a}, {kw})", [])])


def _factor(g, n):
    """A random shape of size n (n > 0), up to 3 dims."""
    dims = []
    while n > 1 and len(dims) < 2:
        ds = [d for d in range(2, n + 1) if n % d == 0]
        d = g.pick(ds)
        dims.append(d)
        n //= d
    if n > 1:
        dims.append(n)
    if g.draw(_bools):
        dims.insert(g.draw(_st.integers(0, len(dims))), 1)
    return g.draw(_st.permutations(dims))


def b_shape(g, f=None):
    a = g.cur
    sh = g.shape(int(a[1:]))
    nd = len(sh)
    size = int(np.prod(sh, dtype=int))
    f = g.choose(f, ["reshape", "permute_dims", "expand_dims", "squeeze", "broadcast_to", "concat", "stack",
                "flip", "tile", "moveaxis", "swapaxes", "mT", "getitem", "take"])
    if f == "reshape":
        if size == 0:
            z = [i for i, d in enumerate(sh) if d == 0][0]
            new = (0, -1) if g.draw(_bools) else tuple(d for d in sh if d != 1) or (0,)
            return g.add([(f"ad.reshape({a}, {new!r})", [])])
        new = list(_factor(g, size))
        if new and g.draw(_bools):
            new[g.draw(_st.integers(0, len(new) - 1))] = -1
        return g.add([(f"ad.reshape({a}, {tuple(new)!r})", [])])
    if f == "permute_dims":
        return g.add([(f"ad.permute_dims({a}, {tuple(g.draw(_st.permutations(range(nd))))!r})", [])])
    if f == "expand_dims":
        return g.add([(f"ad.expand_dims({a}, axis={g.draw(_st.integers(-nd - 1, nd))})", [])])
    if f == "squeeze":
        ones = [i for i, d in enumerate(sh) if d == 1]
        if ones:
            return g.add([(f"ad.squeeze({a}, axis={g.pick(ones) - (nd if g.draw(_bools) else 0)})", [])])
        f = "broadcast_to"
    if f == "broadcast_to":
        new = [2 if (d == 1 and g.draw(_bools)) else d for d in sh]
        if g.draw(_bools):
            new = [g.pick([1, 2])] + new
        return g.add([(f"ad.broadcast_to({a}, {tuple(new)!r})", [])])
    if f in ("concat", "stack"):
        if f == "concat" and nd == 0:
            f = "stack"
        ax = g.draw(_st.integers(-nd, nd - 1)) if f == "concat" else g.draw(_st.integers(-nd - 1, nd))
        if f == "concat":
            k = g.pick([0, 1, 2])
            osh = tuple(k if i == ax % nd else d for i, d in enumerate(sh))
            o = g.other(lambda s2: s2 == osh)
            if o is None:
                o = g.const(g.rng().uniform(-2, 2, size=osh))
        else:
            o = g.other(lambda s2: s2 == sh)
            if o is None:
                o = g.const(g.rng().uniform(-2, 2, size=sh))
        parts = [a, o] if g.draw(_bools) else [o, a]
        return g.add([(f"ad.{f}([{', '.join(parts)}], axis={ax})", [])])
    if f == "flip":
        return g.add([(f"ad.flip({a}, axis={_axis(g, nd)!r})", [])])
    if f == "tile":
        reps = tuple(g.pick([1, 2]) for _ in range(g.draw(_st.integers(1, 3))))
        return g.add([(f"ad.tile({a}, {reps!r})", [])])
    if nd == 0:
        return g.add([(f"ad.expand_dims({a}, axis=0)", [])])
    if f == "moveaxis":
        return g.add([(f"ad.moveaxis({a}, {g.draw(_st.integers(-nd, nd - 1))}, {g.draw(_st.integers(-nd, nd - 1))})", [])])
    if f == "swapaxes":
        return g.add([(f"ad.swapaxes({a}, {g.draw(_st.integers(-nd, nd - 1))}, {g.draw(_st.integers(-nd, nd - 1))})", [])])
    if f == "mT":
        if nd >= 2:
            return g.add([(f"{a}.mT", [])])
        f = "getitem"
    if f == "take":
        ax = g.pick([None] + list(range(nd)))
        n = size if ax is None else sh[ax]
        if n == 0:
            return g.add([(f"{a}[..., None]", [])])
        idx = list(map(int, g.rng().integers(-n, n, size=g.draw(_st.integers(0, 4)))))
        idx = [i % n for i in idx]  # torch's take of a flattened view wants non-negative indices
        return g.add([(f"ad.take({a}, {idx!r}, axis={ax})", [])])
    # getitem: ints, slices, None, ..., integer arrays (repeated indices scatter-add)
    parts = []
    n_arr = 0
    alen = g.pick([1, 2, 3])
    for d in sh:
        kind = g.pick(["slice", "int", "none", "array", "full"])
        if kind == "int" and d > 0:
            parts.append(str(g.draw(_st.integers(-d, d - 1))))
        elif kind == "array" and d > 0 and n_arr < 2:
            n_arr += 1
            parts.append(repr(list(map(int, g.rng().integers(-d, d, size=alen)))))
        elif kind == "slice":
            lo = g.draw(_st.integers(0, max(d, 0)))
            step = g.pick([1, 2])
            parts.append(f"{lo}::{step}" if step != 1 else f"{lo}:")
        elif kind == "none":
            parts += ["None", ":"]
        else:
            parts.append(":")
    if g.draw(_bools):
        cut = g.draw(_st.integers(0, len(parts)))
        parts = parts[:cut] + ["..."]
    return g.add([(f"{a}[{', '.join(parts) or '...'}]", [])])


_LET = "abcdefgh"


def b_contract(g, f=None):
    a = g.cur
    sh = g.shape(int(a[1:]))
    nd = len(sh)
    f = g.choose(f, ["matmul", "einsum", "einsum_self", "tensordot", "vecdot", "outer", "diag", "diagonal", "trace", "cross"])
    r = g.rng()
    if f == "matmul":
        if nd == 0:
            f = "einsum"
        else:
            p = g.pick([1, 2, 3])
            if g.draw(_bools) or nd == 1:
                c = g.const(r.uniform(-1, 1, size=(sh[-1], p) if g.draw(_bools) else (sh[-1],)))
                return g.add([(f"{a} @ {c}", [])])
            c = g.const(r.uniform(-1, 1, size=(p, sh[-2])))
            return g.add([(f"{c} @ {a}", []), (f"ad.matmul({a}, ad.matrix_transpose({a}))", [])])
    if f == "einsum_self":
        la = _LET[:nd]
        keep = "".join(ch for ch in la if g.draw(_bools))
        return g.add([(f"ad.einsum({la + ',' + la + '->' + keep!r}, {a}, {a})", [])])
    if f == "einsum":
        la = _LET[:nd]
        lb = "".join(ch for ch in la if g.draw(_bools)) + ("x" if g.draw(_bools) else "")
        bsh = tuple(sh[la.index(ch)] if ch in la else 2 for ch in lb)
        out = "".join(ch for ch in dict.fromkeys(la + lb) if g.draw(_bools))
        c = g.const(r.uniform(-1, 1, size=bsh))
        return g.add([(f"ad.einsum({la + ',' + lb + '->' + out!r}, {a}, {c})", [])])
    if f == "tensordot":
        k = g.draw(_st.integers(0, nd))
        csh = sh[nd - k:] + (g.pick([1, 2]),)
        c = g.const(r.uniform(-1, 1, size=csh))
        return g.add([(f"ad.tensordot({a}, {c}, axes={k})", [])])
    if f == "vecdot" and nd:
        b = g.operand(sh)
        return g.add([(f"ad.vecdot({a}, {b}, axis=-1)", [])])
    if f == "outer" and nd == 1:
        b = g.other(lambda s2: len(s2) == 1) or g.const(r.uniform(-1, 1, size=(g.pick([1, 2, 3]),)))
        return g.add([(f"ad.outer({a}, {b})", [])])
    if f == "diag" and nd in (1, 2):
        return g.add([(f"ad.diag({a}, k={g.pick([0, 1, -1])})", [])])
    if f in ("diagonal", "trace") and nd >= 2:
        ax1, ax2 = g.draw(_st.permutations(range(nd)))[:2]
        return g.add([(f"ad.{f}({a}, offset={g.pick([0, 1, -1])}, axis1={ax1}, axis2={ax2})", [])])
    if f == "cross" and nd and sh[-1] == 3:  # NumPy's cross does not broadcast along the axis
        b = g.other(lambda s2: len(s2) >= 1 and s2[-1] == 3 and _broadcasts(sh, s2))
        b = b or g.const(r.uniform(-1, 1, size=g.pick([(3,), sh])))
        return g.add([(f"ad.linalg.cross({a}, {b})", [])])
    return g.add([(f"ad.tensordot({a}, {g.const(r.uniform(-1, 1, size=sh + (2,)))}, axes={nd})", [])])


def b_linalg(g, f=None):
    a = g.cur
    sh = g.shape(int(a[1:]))
    nd = len(sh)
    f = g.choose(f, ["det", "inv", "solve", "det_raw", "norm"])
    r = g.rng()
    if f == "norm":
        kind = g.pick(["all", "axis", "ord1", "ordinf"])
        if kind == "all" or nd == 0:
            return g.add([(f"ad.linalg.norm({a})", [f"rel(torch.linalg.vector_norm({a}.reshape(-1)), {a}) * 10"])])
        ax = g.draw(_st.integers(-nd, nd - 1))
        keep = g.draw(_bools)
        ordk = {"axis": "", "ord1": "ord=1, ", "ordinf": "ord=float('inf'), "}[kind]
        m = {"axis": f"rel(torch.linalg.vector_norm({a}, dim={ax}), {a}) * 10",
             "ord1": f"rel({a}.abs(), {a}) * 10", "ordinf": f"gap({a}.abs(), ({ax % nd},)) * 10"}[kind]
        return g.add([(f"ad.linalg.norm({a}, {ordk}axis={ax}, keepdims={keep})", [m])])
    square = nd >= 2 and sh[-1] == sh[-2] and 1 <= sh[-1] <= 3
    if f == "det_raw" and square:  # a polynomial: smooth even where singular
        return g.add([(f"ad.linalg.det({a})", [])])
    k = sh[-1] if square else g.pick([1, 2, 3])
    q, _ = np.linalg.qr(r.standard_normal((k, k)))
    base = g.const(1.5 * q)
    if square:
        A = f"({base} + {0.3 / k!r} * ad.tanh({a}))"
    else:
        n = max(int(np.prod(sh, dtype=int)), 1)
        W = g.const(r.standard_normal(sh + (k, k)) / n)
        A = f"({base} + {0.3 / k!r} * ad.tanh(ad.tensordot({a}, {W}, axes={nd})))"
    if f in ("det", "det_raw"):
        return g.add([(f"ad.linalg.det({A})", [])])
    if f == "inv":
        return g.add([(f"ad.linalg.inv({A})", [])])
    bshape = (k,) if (not square or nd == 2) and g.draw(_bools) else (k, g.pick([1, 2]))
    o = g.other(lambda s2: s2 == bshape)
    b = o if o is not None else g.const(r.uniform(-1, 1, size=bshape))
    return g.add([(f"ad.linalg.solve({A}, {b})", [])])


def b_misc(g, f=None):
    a = g.cur
    sh = g.shape(int(a[1:]))
    f = g.choose(f, ["scalar", "scalar_atan2", "complex_abs", "complex_var", "complex_std", "linspace",
                "custom_jvp", "custom_vjp"])
    r = g.rng()
    if f == "scalar":
        return g.add([(g.pick([f"{a} * s + {a}", f"{a} + s", f"(s - {a}) * {a}"]), [])])
    if f == "scalar_atan2":  # ±0.0 for s gives ±pi: catches a jit that confuses 0.0 and -0.0
        m = f"rel(torch.where({a} * s == 0, {a}.abs() + (s == 0) * 1.0, ({a} * s).abs()), {a}) * 10"
        return g.add([(f"{a} * ad.atan2({a} * s, -1.5 - {a} * {a})", [m])])
    if f.startswith("complex"):
        c1 = g.const((r.uniform(0.5, 1.5, size=sh) * np.exp(1j * r.uniform(0, 6.28, size=sh))), complex_=True)
        c2 = g.const(np.complex128(complex(*np.round(r.uniform(-1, 1, size=2), 3))), complex_=True)
        z = f"({a} * {c1} + {c2})"
        if f == "complex_abs":
            return g.add([(f"ad.abs({z})", [f"rel(({z}).abs(), {a}) * 10"])])
        nd = len(sh)
        axis = _axis(g, nd)
        ms = [f"rel(TorchAD.var({z}, {axis!r}), {a} * {a}) * 100"] if f == "complex_std" else []
        return g.add([(f"ad.{f[8:]}({z}, axis={axis!r})", ms)])
    if f == "linspace":
        x0 = a if sh == () else f"ad.sum({a})"
        num = g.pick([1, 2, 4])
        return g.add([(g.pick([f"ad.linspace({x0}, 2.0, {num})", f"ad.linspace(-1.0, {x0}, {num})",
                               f"ad.linspace({x0}, {x0} * {x0}, {num})"]), [])])
    if f == "custom_vjp" and g.reverse_only:
        return g.add([(f"fz.cv_cube({a})", [])])
    return g.add([(f"fz.cj_softplus({a})", [f"rel(5 - {a}.abs(), {a}) + 1"]),
                  (f"fz.cj_softplus(3 * ad.tanh({a} / 3))", [])])


BUILDERS = {"unary": b_unary, "binary": b_binary, "reduce": b_reduce, "shape": b_shape,
            "contract": b_contract, "linalg": b_linalg, "misc": b_misc}
KINDS = ("unary", "binary", "reduce", "shape", "contract", "linalg", "misc")


FOCUS = {  # name: (builder, ops): a step that every program of that focus contains
    "complex": (b_misc, ["complex_abs", "complex_var", "complex_std"]),
    "prod_zeros": (b_reduce, ["prod_zeros"]),
    "linspace": (b_misc, ["linspace"]),
    "det": (b_linalg, ["det_raw", "det"]),
    "logsumexp": (b_reduce, ["logsumexp"]),
    "scalar_sign": (b_misc, ["scalar_atan2"]),
    "custom": (b_misc, ["custom_jvp", "custom_vjp"]),
}


def build(draw, samples, dtype, n_ops, reverse_only=False, focus=None, exclude=()):
    """A program of ``n_ops`` steps; with ``focus`` one of them is that focus's op."""
    g = Gen(draw, samples, dtype, reverse_only)
    g.exclude = set(exclude)
    at = draw(_st.integers(0, n_ops - 1)) if focus in FOCUS else -1
    for i in range(n_ops):
        if i == at:
            builder, ops = FOCUS[focus]
            builder(g, draw(_sampled(tuple(ops))))
        else:
            BUILDERS[draw(_sampled(KINDS))](g)
    return Program(g.lines, g.consts, g.shape(len(g.lines)))
