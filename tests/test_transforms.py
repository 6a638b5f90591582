"""gpuad's function transforms against torch.func, in float64.

Each test function is written once per library (``_funcs(m, T)`` with ``m`` the module,
``torch`` or ``gpuad``, and ``T`` its array constructor), composed with the same transforms
by name, and the results compared leaf by leaf with the tree structure checked too.
"""

import numpy as np
import pytest
import torch
import torch.func as tf

import gpuad as ad
from concurrency import run_concurrently
from torch_compare import _np, assert_tree_close  # noqa: F401

# torch.func compiles a helper with torch.jit.script on first use, which warns in torch 2.13
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

RTOL = 1e-10
ATOL = 1e-12


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _T(a):
    return torch.from_numpy(np.array(a, dtype=np.float64))




def _tree_map(fn, tree):
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_tree_map(fn, v) for v in tree)
    return fn(tree)


def _compose(lib, spec, f, **kw):
    """``_compose(ad, "vmap.jacfwd", f)`` is ``ad.vmap(ad.jacfwd(f))``; ``kw`` goes to the
    innermost transform."""
    names = spec.split(".")
    g = getattr(lib, names[-1])(f, **kw)
    for name in reversed(names[:-1]):
        g = getattr(lib, name)(g)
    return g


# --------------------------------------------------------------------------------------
# Test functions: pointwise, reductions, matmul, indexing, and a mix
# --------------------------------------------------------------------------------------
A_NP = _rand(4, 5, seed=10)
C_NP = np.linspace(-1.0, 1.3, 5)
IDX = np.array([0, 2, 2, 4, 1])


def _funcs(m, T):
    A, C, E = T(A_NP), T(C_NP), T(3.0 * np.eye(2))
    vec = {
        "pointwise": lambda x: m.sin(x) * m.exp(-x ** 2) + x * m.sum(x),
        "reduction": lambda x: m.tanh(x) * m.logsumexp(x, axis=0) + m.cumsum(x, axis=0) * m.mean(x ** 2),
        "matmul": lambda x: m.tanh(A @ x) * m.sqrt(1.0 + x[:4] ** 2),
        "indexing": lambda x: x[IDX] * m.sum(x[1:4]) + x[0] ** 3,
        "mixed": lambda x: m.where(x > 0, m.log1p(x ** 2), m.sigmoid(x)) * m.maximum(x, 0.3 * x[IDX]) / (2.0 + m.cos(x)),
        "linalg": lambda x: (lambda M: m.concat([m.linalg.solve(M, x[3:5]) * m.linalg.det(M),
                                                 m.reshape(m.linalg.inv(M), (4,)) * m.prod(x, axis=0)]))(
            m.reshape(x[:4], (2, 2)) + E),
        "shape": lambda x: m.sum(m.stack([x * x[0], m.cumsum(x, axis=0)], axis=1) ** 2, axis=1)
        + m.var(x, axis=0, correction=0) * m.einsum("ij,j->i", A.T, x[:4]),
    }
    scalar = {k: (lambda f: lambda x: m.sum(f(x) ** 2))(f) for k, f in vec.items()}
    scalar_of_scalar = {k: (lambda f: lambda s: m.sum(f(s * C)))(f) for k, f in vec.items()}
    return vec, scalar, scalar_of_scalar


_CACHE = {}


def funcs(lib):
    if lib not in _CACHE:
        _CACHE[lib] = _funcs(ad, ad.tensor) if lib == "ad" else _funcs(torch, _T)
    return _CACHE[lib]


# torch.func 2.13 is wrong for linalg.det and linalg.solve in two places, so the "linalg"
# function takes another reference there:
# - forward mode under two batch levels (vmap over jacfwd, jacfwd over jacfwd):
#   vmap(vmap(jvp(det))) returns -1548 where det(A) tr(A^-1 V) is -10.2. Its reverse mode is
#   right, so the reference runs every Jacobian in reverse mode;
# - third derivatives in reverse mode are NaN: JAX (jit, x64) is the reference there.
# gpuad agrees with JAX on all of them.
REVERSE_ONLY_REFERENCE = {"linalg"}
_DERIVATIVES = {"jacfwd": 1, "jacrev": 1, "grad": 1, "hessian": 2, "vmap": 0}


def reference(kind, spec, fname, x):
    """The expected result of ``spec`` applied to function ``fname`` at numpy ``x``."""
    if fname in REVERSE_ONLY_REFERENCE:
        if sum(_DERIVATIVES[n] for n in spec.split(".")) >= 3:
            jax = pytest.importorskip("jax")
            jax.config.update("jax_enable_x64", True)
            jf = _funcs(jax.numpy, lambda a: jax.numpy.asarray(a, dtype=np.float64))
            return _tree_map(torch.from_numpy, _tree_map(
                np.array, jax.jit(_compose(jax, spec, jf[kind][fname]))(np.asarray(x, dtype=np.float64))))
        spec = spec.replace("hessian", "jacrev.jacrev").replace("jacfwd", "jacrev")
    return _compose(tf, spec, funcs("torch")[kind][fname])(_T(x))


def _check_composition(kind, spec, fname, x, jit):
    """``spec`` of function ``fname`` agrees with the reference; with ``jit`` the same
    composition through ad.jit agrees on the traced call and on the compiled plan."""
    fn = _compose(ad, spec, funcs("ad")[kind][fname])
    want = reference(kind, spec, fname, x)
    if not jit:
        assert_tree_close(fn(ad.tensor(x)), want)
        return
    jf = ad.jit(fn)
    assert_tree_close(jf(ad.tensor(x)), want)
    assert_tree_close(jf(ad.tensor(x)), want)
    assert jf.trace_count == 1


FUNC_NAMES = ["pointwise", "reduction", "matmul", "indexing", "mixed", "linalg", "shape"]
X = _rand(5, seed=1)
XB = _rand(3, 5, seed=2)
XBB = _rand(2, 3, 5, seed=3)

VEC_COMPOSITIONS = [
    ("jacfwd", X), ("jacrev", X),
    ("vmap.jacfwd", XB), ("vmap.jacrev", XB),
    ("jacfwd.jacrev", X), ("jacrev.jacrev", X), ("jacfwd.jacfwd", X), ("jacrev.jacfwd", X),
    ("vmap.vmap", XBB), ("vmap.vmap.jacrev", XBB), ("vmap.jacfwd.jacrev", XB),
    ("jacrev.vmap", XB), ("jacfwd.vmap", XB), ("jacfwd.jacfwd.jacrev", X),
]


@pytest.mark.parametrize("fname", FUNC_NAMES)
@pytest.mark.parametrize("spec,x", VEC_COMPOSITIONS, ids=[c[0] for c in VEC_COMPOSITIONS])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_composition_vector_function(spec, x, fname, jit):
    _check_composition(0, spec, fname, x, jit)


SCALAR_COMPOSITIONS = [("grad", X), ("hessian", X), ("vmap.hessian", XB), ("vmap.grad", XB),
                       ("jacrev.grad", X), ("jacfwd.grad", X), ("vmap.jacfwd.grad", XB)]


@pytest.mark.parametrize("fname", FUNC_NAMES)
@pytest.mark.parametrize("spec,x", SCALAR_COMPOSITIONS, ids=[c[0] for c in SCALAR_COMPOSITIONS])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_composition_scalar_function(spec, x, fname, jit):
    _check_composition(1, spec, fname, x, jit)


S = np.array(0.7)
SB = np.array([0.7, -0.2, 1.1])


@pytest.mark.parametrize("fname", FUNC_NAMES)
@pytest.mark.parametrize("spec,x", [("grad.grad", S), ("grad.grad.grad", S), ("vmap.grad.grad", SB),
                                    ("jacfwd.grad", S), ("jacrev.jacfwd", S)],
                         ids=["grad.grad", "grad.grad.grad", "vmap.grad.grad", "jacfwd.grad", "jacrev.jacfwd"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_composition_scalar_of_scalar(spec, x, fname, jit):
    _check_composition(2, spec, fname, x, jit)


# --------------------------------------------------------------------------------------
# edge cases: constant outputs, unused arguments, 4th order, matrices in and out
# --------------------------------------------------------------------------------------
def _edge_cases(m, lib, T):
    x, s, mat = T(X[:3]), T(np.array(0.7)), T(XB[:, :3])
    ones = T(np.ones(2))
    return {
        "jacfwd const": lambda: lib.jacfwd(lambda v: ones * 3.0)(x),
        "jacrev const": lambda: lib.jacrev(lambda v: ones * 3.0)(x),
        "hessian const": lambda: lib.hessian(lambda v: ones * 3.0)(x),
        "jacrev identity": lambda: lib.jacrev(lambda v: v)(x),
        "hessian identity": lambda: lib.hessian(lambda v: v)(x),
        "jacfwd unused argnum": lambda: lib.jacfwd(lambda v, w: v * 2.0, argnums=(0, 1))(x, x),
        "jacrev unused argnum": lambda: lib.jacrev(lambda v, w: v * 2.0, argnums=(0, 1))(x, x),
        "vmap const": lambda: lib.vmap(lambda v: ones)(mat),
        "vmap batch of one": lambda: lib.vmap(lib.jacrev(m.sin))(mat[:1]),
        "grad^4": lambda: lib.grad(lib.grad(lib.grad(lib.grad(m.sin))))(s),
        "jacfwd^4": lambda: lib.jacfwd(lib.jacfwd(lib.jacfwd(lib.jacfwd(m.sin))))(s),
        "rev.fwd.rev.fwd": lambda: lib.jacrev(lib.jacfwd(lib.jacrev(lib.jacfwd(lambda v: m.sin(v) * v.sum()))))(x),
        "jacfwd matrix": lambda: lib.jacfwd(lambda a: a.T @ a)(mat),
        "jacrev matrix": lambda: lib.jacrev(lambda a: a @ a.T)(mat),
        "jacrev scalar to vector": lambda: lib.jacrev(lambda t: m.stack([t, t * t]))(s),
        "vmap.vmap.jacrev in_dims": lambda: lib.vmap(lib.vmap(lib.jacrev(lambda a, b: a * b.sum()), in_dims=(0, None)),
                                                     in_dims=(None, 1))(mat, mat.T * 1.0),
        "vmap out_dims (1, None)": lambda: lib.vmap(lambda v: (v, ones), out_dims=(1, None))(mat),
        "jvp zero tangent": lambda: lib.jvp(m.sin, (x,), (x * 0.0,)),
    }


EDGE = list(_edge_cases(np, np, np.asarray))


@pytest.mark.parametrize("case", EDGE)
def test_edge_cases(case):
    got = _edge_cases(ad, ad, ad.tensor)[case]()
    want = _edge_cases(torch, tf, _T)[case]()
    assert_tree_close(got, want)


# --------------------------------------------------------------------------------------
# argnums
# --------------------------------------------------------------------------------------
def _two_args(m):
    return lambda x, y: m.sin(x) * y ** 2 + m.sum(x * y) * y


ARGNUMS = [0, 1, -1, -2, (0, 1), (1, 0), (-1, 0), (1,)]


def _positive(argnums, nargs=2):
    """The reference uses non-negative argnums: torch.func 2.13's jacfwd (and so hessian)
    returns zeros for a negative argnum, where gpuad (API.md) counts from the end."""
    if isinstance(argnums, int):
        return argnums % nargs
    return tuple(a % nargs for a in argnums)


@pytest.mark.parametrize("argnums", ARGNUMS, ids=str)
@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_argnums_jacobian(name, argnums):
    x, y = _rand(3, seed=1), _rand(3, seed=2)
    got = getattr(ad, name)(_two_args(ad), argnums=argnums)(ad.tensor(x), ad.tensor(y))
    want = getattr(tf, name)(_two_args(torch), argnums=_positive(argnums))(_T(x), _T(y))
    assert_tree_close(got, want)


@pytest.mark.parametrize("argnums", ARGNUMS, ids=str)
@pytest.mark.parametrize("name", ["grad", "hessian"])
def test_argnums_scalar(name, argnums):
    x, y = _rand(3, seed=1), _rand(3, seed=2)
    f_ad = lambda x, y: ad.sum(_two_args(ad)(x, y) ** 2)
    f_t = lambda x, y: torch.sum(_two_args(torch)(x, y) ** 2)
    got = getattr(ad, name)(f_ad, argnums=argnums)(ad.tensor(x), ad.tensor(y))
    want = getattr(tf, name)(f_t, argnums=_positive(argnums))(_T(x), _T(y))
    assert_tree_close(got, want)


def test_argnums_with_three_arguments_and_float():
    x, y = _rand(3, seed=1), _rand(3, seed=2)
    f = lambda a, s, b: a * s + b ** 2 * s
    got = ad.jacrev(f, argnums=(2, 0))(ad.tensor(x), 1.5, ad.tensor(y))
    want = tf.jacrev(f, argnums=(2, 0))(_T(x), 1.5, _T(y))
    assert_tree_close(got, want)


# --------------------------------------------------------------------------------------
# pytrees as arguments and as outputs
# --------------------------------------------------------------------------------------
PARAMS = {"W1": _rand(2, 4, seed=1), "b1": _rand(4, seed=2), "W2": _rand(4, 3, seed=3), "b2": _rand(3, seed=4)}
P = _rand(2, seed=5)
PB = _rand(6, 2, seed=6)


def _mlp(m):
    def mlp(params, x):
        h = m.tanh(x @ params["W1"] + params["b1"])
        return h @ params["W2"] + params["b2"]
    return mlp


def _loss(m):
    return lambda params, x: m.sum(_mlp(m)(params, x) ** 2)


def _both(tree):
    return _tree_map(ad.tensor, tree), _tree_map(_T, tree)


@pytest.mark.parametrize("spec", ["jacfwd", "jacrev", "jacfwd.jacrev"])
def test_dict_of_params_argument(spec):
    (pa, pt), (xa, xt) = _both(PARAMS), _both(P)
    got = _compose(ad, spec, _mlp(ad))(pa, xa)
    want = _compose(tf, spec, _mlp(torch))(pt, xt)
    assert isinstance(got, dict)
    if spec != "jacfwd.jacrev":
        assert got["W1"].shape == (3, 2, 4)
    assert_tree_close(got, want)


def test_grad_of_dict_params_and_per_sample_gradients():
    (pa, pt), (xa, xt) = _both(PARAMS), _both(PB)
    assert_tree_close(ad.grad(_loss(ad))(pa, xa[0]), tf.grad(_loss(torch))(pt, xt[0]))
    got = ad.vmap(ad.grad(_loss(ad)), in_dims=(None, 0))(pa, xa)
    want = tf.vmap(tf.grad(_loss(torch)), in_dims=(None, 0))(pt, xt)
    assert got["W1"].shape == (6, 2, 4)
    assert_tree_close(got, want)


def test_per_point_input_jacobian_and_hessian_of_mlp():
    (pa, pt), (xa, xt) = _both(PARAMS), _both(PB)
    got = ad.vmap(ad.jacrev(_mlp(ad), argnums=1), in_dims=(None, 0))(pa, xa)
    assert got.shape == (6, 3, 2)
    assert_tree_close(got, tf.vmap(tf.jacrev(_mlp(torch), argnums=1), in_dims=(None, 0))(pt, xt))
    got = ad.vmap(ad.hessian(_mlp(ad), argnums=1), in_dims=(None, 0))(pa, xa)
    assert got.shape == (6, 3, 2, 2)
    assert_tree_close(got, tf.vmap(tf.hessian(_mlp(torch), argnums=1), in_dims=(None, 0))(pt, xt))


@pytest.mark.parametrize("kind", ["tuple", "list", "nested"])
@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_tuple_list_nested_arguments(kind, name):
    a, b = _rand(3, seed=1), _rand(2, seed=2)
    if kind == "tuple":
        tree, f = (a, b), (lambda t: t[0] * t[1].sum() + t[0] ** 2)
    elif kind == "list":
        tree, f = [a, b], (lambda t: t[0] * t[1].sum() + t[0] ** 2)
    else:
        tree, f = {"p": (a, [b])}, (lambda t: t["p"][0] * t["p"][1][0].sum() + t["p"][0] ** 2)
    ta, tt = _both(tree)
    assert_tree_close(getattr(ad, name)(f)(ta), getattr(tf, name)(f)(tt))


def _tree_out(m):
    return lambda x, y: (m.sin(x), {"s": m.sum(x * y), "l": [x * y, y ** 3]})


@pytest.mark.parametrize("argnums", [0, (0, 1)], ids=str)
@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_pytree_output_then_argnums_tuple(name, argnums):
    x, y = _rand(3, seed=1), _rand(3, seed=2)
    got = getattr(ad, name)(_tree_out(ad), argnums=argnums)(ad.tensor(x), ad.tensor(y))
    want = getattr(tf, name)(_tree_out(torch), argnums=argnums)(_T(x), _T(y))
    assert_tree_close(got, want)
    if argnums == (0, 1):  # the output tree, then the argnums tuple inside it
        assert isinstance(got[1]["l"][0], tuple) and got[1]["l"][0][1].shape == (3, 3)


def test_vmap_pytree_outputs():
    x = _rand(4, 3)
    got = ad.vmap(lambda x: _tree_out(ad)(x, x))(ad.tensor(x))
    assert_tree_close(got, tf.vmap(lambda x: _tree_out(torch)(x, x))(_T(x)))


@pytest.mark.parametrize("has_aux", [False, True])
def test_jvp_vjp_with_pytrees_and_aux(has_aux):
    def make(m):
        def f(d, x):
            out = {"a": m.sin(d["u"]) * x, "b": [m.sum(d["v"] ** 2) * x]}
            return (out, m.cos(x)) if has_aux else out
        return f
    d = {"u": _rand(3, seed=1), "v": _rand(2, seed=2)}
    x = _rand(3, seed=3)
    td, tx = {"u": _rand(3, seed=4), "v": _rand(2, seed=5)}, _rand(3, seed=6)
    (da, dt), (xa, xt) = _both(d), _both(x)
    got = ad.jvp(make(ad), (da, xa), (_tree_map(ad.tensor, td), ad.tensor(tx)), has_aux=has_aux)
    want = tf.jvp(make(torch), (dt, xt), (_tree_map(_T, td), _T(tx)), has_aux=has_aux)
    assert_tree_close(tuple(got), tuple(want))
    got = ad.vjp(make(ad), da, xa, has_aux=has_aux)
    want = tf.vjp(make(torch), dt, xt, has_aux=has_aux)
    assert_tree_close(got[0], want[0])
    if has_aux:
        assert_tree_close(got[2], want[2])
    ct = {"a": _rand(3, seed=7), "b": [_rand(3, seed=8)]}
    assert_tree_close(got[1](_tree_map(ad.tensor, ct)), want[1](_tree_map(_T, ct)))


def _vjp_compositions(m, lib, T):
    A = T(np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]))
    f = lambda v: m.sin(A @ v) * v[:2]
    x, ct, e0 = T(X[:3]), T(np.array([0.7, -1.1])), T(np.array([1.0, 0.0, 0.0]))
    xs, cts = T(np.stack([X[:3], 2 * X[:3]])), T(np.stack([np.stack([[0.7, -1.1]] * 2), np.stack([[0.7, 1.1]] * 2)]))
    vjp_fn = lib.vjp(f, x)[1]
    return {
        "jacfwd of vjp_fn": lambda: lib.jacfwd(lambda c: vjp_fn(c)[0])(ct),
        "jacrev of vjp_fn": lambda: lib.jacrev(lambda c: vjp_fn(c)[0])(ct),
        "jacrev through vjp": lambda: lib.jacrev(lambda v: lib.vjp(f, v)[1](ct)[0])(x),
        "jacfwd through vjp": lambda: lib.jacfwd(lambda v: lib.vjp(f, v)[1](ct)[0])(x),
        "vjp of jvp": lambda: lib.vjp(lambda v: lib.jvp(f, (v,), (e0,))[1], x)[1](ct),
        "jvp of grad": lambda: lib.jvp(lib.grad(lambda v: (f(v) ** 2).sum()), (x,), (e0,)),
        "vmap of vjp_fn of vmap": lambda: lib.vmap(lambda c: lib.vjp(lib.vmap(f), xs)[1](c)[0])(cts),
    }


@pytest.mark.parametrize("case", ["jacfwd of vjp_fn", "jacrev of vjp_fn", "jacrev through vjp",
                                  "jacfwd through vjp", "vjp of jvp", "jvp of grad", "vmap of vjp_fn of vmap"])
def test_transforms_of_vjp_and_jvp(case):
    got = _vjp_compositions(ad, ad, ad.tensor)[case]()
    want = _vjp_compositions(torch, tf, _T)[case]()
    assert_tree_close(got, want)


# --------------------------------------------------------------------------------------
# in_dims and out_dims
# --------------------------------------------------------------------------------------
def _f_in(m):
    return lambda x, y: m.sin(x) * y + m.sum(x)


INDIM_CASES = [
    ("int1", dict(in_dims=1), lambda: (_rand(5, 4, seed=1), _rand(5, 4, seed=2))),
    ("neg", dict(in_dims=-1), lambda: (_rand(5, 4, seed=1), _rand(5, 4, seed=2))),
    ("none", dict(in_dims=(0, None)), lambda: (_rand(4, 5, seed=1), _rand(5, seed=2))),
    ("mixed", dict(in_dims=(-1, 0)), lambda: (_rand(5, 4, seed=1), _rand(4, 5, seed=2))),
    ("out1", dict(out_dims=1), lambda: (_rand(4, 5, seed=1), _rand(4, 5, seed=2))),
    ("outneg", dict(in_dims=(None, 0), out_dims=-1), lambda: (_rand(5, seed=1), _rand(4, 5, seed=2))),
]


@pytest.mark.parametrize("case", INDIM_CASES, ids=[c[0] for c in INDIM_CASES])
def test_vmap_in_dims_out_dims(case):
    _, kw, make = case
    x, y = make()
    got = ad.vmap(_f_in(ad), **kw)(ad.tensor(x), ad.tensor(y))
    assert_tree_close(got, tf.vmap(_f_in(torch), **kw)(_T(x), _T(y)))


def test_vmap_in_dims_pytree():
    x, a, b = _rand(5, 4, seed=1), _rand(4, 5, seed=2), _rand(2, seed=3)
    f = lambda x, d: x * d["a"] + d["b"].sum()
    in_dims = (1, {"a": 0, "b": None})
    got = ad.vmap(f, in_dims=in_dims)(ad.tensor(x), {"a": ad.tensor(a), "b": ad.tensor(b)})
    want = tf.vmap(f, in_dims=in_dims)(_T(x), {"a": _T(a), "b": _T(b)})
    assert_tree_close(got, want)
    # a tuple argument with one in_dim for the whole tuple, and one per leaf
    g = lambda t: t[0] * t[1]
    for dims in [0, ((0, None),)]:
        tb = (_rand(3, 2, seed=4), _rand(3, 2, seed=5) if dims == 0 else _rand(2, seed=5))
        got = ad.vmap(g, in_dims=dims)(_tree_map(ad.tensor, tb))
        want = tf.vmap(g, in_dims=dims)(_tree_map(_T, tb))
        assert_tree_close(got, want)


def test_vmap_out_dims_none_and_tuple():
    x, c = _rand(4, 3, seed=1), _rand(3, seed=2)
    f = lambda x, c: (x * c, c * 2.0, x.sum())
    kw = dict(in_dims=(0, None), out_dims=(1, None, 0))
    got = ad.vmap(f, **kw)(ad.tensor(x), ad.tensor(c))
    want = tf.vmap(f, **kw)(_T(x), _T(c))
    assert got[1].shape == (3,)
    assert_tree_close(got, want)


def test_vmap_nested_with_in_dims():
    x, y = _rand(3, 4, 5, seed=1), _rand(4, 5, seed=2)
    f = lambda a, b: a * b
    got = ad.vmap(ad.vmap(f, in_dims=(1, 1)), in_dims=(0, None))(ad.tensor(x), ad.tensor(y))
    want = tf.vmap(tf.vmap(f, in_dims=(1, 1)), in_dims=(0, None))(_T(x), _T(y))
    assert_tree_close(got, want)


# --------------------------------------------------------------------------------------
# chunk_size
# --------------------------------------------------------------------------------------
def _close_exact(a, b):
    """Chunking changes how many basis vectors run at once, not the arithmetic."""
    assert_tree_close(a, b, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 100])
@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_chunk_size_jacobians(name, chunk_size):
    f = funcs("ad")[0]["matmul"]
    x = ad.tensor(X)
    _close_exact(getattr(ad, name)(f, chunk_size=chunk_size)(x), getattr(ad, name)(f)(x))
    # with argnums and pytree outputs too
    g = _tree_out(ad)
    y = ad.tensor(_rand(5, seed=7))
    _close_exact(getattr(ad, name)(g, argnums=(0, 1), chunk_size=chunk_size)(x, y),
                 getattr(ad, name)(g, argnums=(0, 1))(x, y))


@pytest.mark.parametrize("chunk_size", [1, 2, 4])
def test_chunk_size_nested_jacobians(chunk_size):
    f = funcs("ad")[1]["mixed"]
    x = ad.tensor(X)
    k = chunk_size
    _close_exact(ad.jacfwd(ad.jacrev(f, chunk_size=k), chunk_size=k)(x), ad.hessian(f)(x))
    _close_exact(ad.jacfwd(ad.jacrev(f), chunk_size=k)(x), ad.hessian(f)(x))
    _close_exact(ad.vmap(ad.jacrev(ad.jacrev(f, chunk_size=k)), chunk_size=k)(ad.tensor(XB)),
                 ad.vmap(ad.hessian(f))(ad.tensor(XB)))


@pytest.mark.parametrize("chunk_size", [1, 2, 4])
def test_chunk_size_hessian(chunk_size):
    # issue 3 asks for chunk_size on hessian too (API.md's signature lists only argnums)
    f = funcs("ad")[1]["mixed"]
    x = ad.tensor(X)
    _close_exact(ad.hessian(f, chunk_size=chunk_size)(x), ad.hessian(f)(x))


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 10])
def test_chunk_size_vmap(chunk_size):
    f = funcs("ad")[0]["reduction"]
    xb = ad.tensor(_rand(7, 5))
    _close_exact(ad.vmap(f, chunk_size=chunk_size)(xb), ad.vmap(f)(xb))
    _close_exact(ad.vmap(ad.jacrev(f), chunk_size=chunk_size)(xb), ad.vmap(ad.jacrev(f))(xb))
    g = lambda x, c: (x * c, x.sum())
    _close_exact(ad.vmap(g, in_dims=(1, None), out_dims=(1, 0), chunk_size=chunk_size)(xb, ad.tensor(C_NP[:1])),
                 ad.vmap(g, in_dims=(1, None), out_dims=(1, 0))(xb, ad.tensor(C_NP[:1])))


# --------------------------------------------------------------------------------------
# randomness
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["rand", "randn", "rand_like", "randn_like"])
def test_randomness_error_is_default(op):
    fn = (lambda x: x + getattr(ad, op)(3)) if op in ("rand", "randn") else (lambda x: x + getattr(ad, op)(x))
    with pytest.raises(RuntimeError):
        ad.vmap(fn)(ad.zeros((4, 3)))
    with pytest.raises(ad.GpuadError):
        ad.vmap(fn, randomness="error")(ad.zeros((4, 3)))


@pytest.mark.parametrize("op", ["rand", "randn", "rand_like", "randn_like"])
def test_randomness_different_and_same(op):
    fn = (lambda x: x + getattr(ad, op)(3)) if op in ("rand", "randn") else (lambda x: x + getattr(ad, op)(x))
    zeros = ad.zeros((5, 3))
    diff = _np(ad.vmap(fn, randomness="different")(zeros))
    assert diff.shape == (5, 3)
    assert all(not np.array_equal(diff[0], diff[i]) for i in range(1, 5))
    same = _np(ad.vmap(fn, randomness="same")(zeros))
    assert same.shape == (5, 3)
    assert all(np.array_equal(same[0], same[i]) for i in range(1, 5))
    assert len(np.unique(same[0])) == 3
    if op in ("rand", "rand_like"):
        assert ((diff >= 0) & (diff < 1)).all() and ((same >= 0) & (same < 1)).all()


@pytest.mark.parametrize("randomness", ["same", "different"])
def test_randomness_with_chunk_size(randomness):
    # chunking does not change the meaning: "same" is one draw for the whole batch
    # (torch.func: one unique row), "different" one per example
    out = _np(ad.vmap(lambda v: v + ad.rand(3), randomness=randomness, chunk_size=2)(ad.zeros((5, 3))))
    assert len(np.unique(out, axis=0)) == (1 if randomness == "same" else 5)


def test_randomness_is_reproducible_with_manual_seed():
    fn = lambda x: x + ad.randn(3)
    ad.manual_seed(123)
    a = _np(ad.vmap(fn, randomness="different")(ad.zeros((4, 3))))
    ad.manual_seed(123)
    b = _np(ad.vmap(fn, randomness="different")(ad.zeros((4, 3))))
    np.testing.assert_array_equal(a, b)


def test_randomness_nested_vmap():
    fn = lambda x: x + ad.rand(2)
    out = _np(ad.vmap(ad.vmap(fn, randomness="different"), randomness="different")(ad.zeros((3, 4, 2))))
    assert len(np.unique(out.reshape(-1, 2), axis=0)) == 12
    out = _np(ad.vmap(ad.vmap(fn, randomness="same"), randomness="same")(ad.zeros((3, 4, 2))))
    assert len(np.unique(out.reshape(-1, 2), axis=0)) == 1


def test_randomness_in_jacobians():
    x = ad.tensor(X[:3])
    with pytest.raises(RuntimeError):
        ad.jacfwd(lambda x: x * ad.rand(3))(x)
    j = _np(ad.jacfwd(lambda x: x * ad.rand(3), randomness="same")(x))
    np.testing.assert_array_equal(j - np.diag(np.diag(j)), 0)
    assert ((np.diag(j) >= 0) & (np.diag(j) < 1)).all()
    # jacrev runs f once, outside the basis vmap (as torch.func does): no randomness flag needed
    j = _np(ad.jacrev(lambda x: x * ad.rand(3))(x))
    np.testing.assert_array_equal(j - np.diag(np.diag(j)), 0)
    assert ((np.diag(j) >= 0) & (np.diag(j) < 1)).all()


# --------------------------------------------------------------------------------------
# perturbation confusion
# --------------------------------------------------------------------------------------
D = ["jacfwd", "jacrev", "grad"]


@pytest.mark.parametrize("outer", D)
@pytest.mark.parametrize("inner", D)
def test_no_perturbation_confusion_scalar(outer, inner):
    # d/dx [x * (d/dy (x + y))(1)] = 1; a confused implementation gives 2.
    Do, Di = getattr(ad, outer), getattr(ad, inner)
    f = lambda x: x * Di(lambda y: x + y)(ad.tensor(1.0))
    np.testing.assert_allclose(_np(Do(f)(ad.tensor(2.0))), 1.0, rtol=RTOL)
    # d/dx [d/dy (x * y)](y = x) = d/dx x = 1
    g = lambda x: Di(lambda y: x * y)(x)
    np.testing.assert_allclose(_np(Do(g)(ad.tensor(2.0))), 1.0, rtol=RTOL)
    # d/dx [x * d/dy (x * y^2)](y = x) = d/dx [2 x^3] = 6 x^2
    h = lambda x: x * Di(lambda y: x * y ** 2)(x)
    np.testing.assert_allclose(_np(Do(h)(ad.tensor(2.0))), 24.0, rtol=RTOL)


@pytest.mark.parametrize("outer", ["jacfwd", "jacrev"])
@pytest.mark.parametrize("inner", ["jacfwd", "jacrev"])
def test_no_perturbation_confusion_vector(outer, inner):
    x = X[:4]
    got = getattr(ad, outer)(lambda x: getattr(ad, inner)(lambda y: x * y)(x))(ad.tensor(x))
    want = getattr(tf, outer)(lambda x: getattr(tf, inner)(lambda y: x * y)(x))(_T(x))
    assert_tree_close(got, want)
    expected = np.zeros((4, 4, 4))
    expected[np.arange(4), np.arange(4), np.arange(4)] = 1.0
    np.testing.assert_allclose(_np(got), expected, atol=ATOL)
    got = getattr(ad, outer)(lambda x: getattr(ad, inner)(lambda y: ad.sin(x * y).sum() * x)(x))(ad.tensor(x))
    want = getattr(tf, outer)(lambda x: getattr(tf, inner)(lambda y: torch.sin(x * y).sum() * x)(x))(_T(x))
    assert_tree_close(got, want)


@pytest.mark.parametrize("outer", ["jacfwd", "jacrev"])
def test_no_perturbation_confusion_with_vmap_and_jvp(outer):
    x, R = X[:3], _rand(4, 3, seed=9)
    got = getattr(ad, outer)(lambda x: ad.vmap(lambda r: r * x * ad.sum(r * x))(ad.tensor(R)))(ad.tensor(x))
    want = getattr(tf, outer)(lambda x: tf.vmap(lambda r: r * x * torch.sum(r * x))(_T(R)))(_T(x))
    assert_tree_close(got, want)

    def f(x):  # a jvp inside, with a closure over the outer tracer
        return ad.jvp(lambda y: x * y ** 2, (x,), (ad.ones_like(x),))[1]
    np.testing.assert_allclose(_np(getattr(ad, outer)(f)(ad.tensor(x))), np.diag(4 * x), rtol=RTOL)  # d(2 x^2)/dx


# --------------------------------------------------------------------------------------
# custom_jvp / custom_vjp
# --------------------------------------------------------------------------------------
def _custom_sin_jvp():
    @ad.custom_jvp
    def f(x):
        return ad.sin(x)

    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), ad.cos(x) * t * 3.0  # deliberately 3x the true derivative
    f.defjvp(f_jvp)
    return f


def test_custom_jvp_forward_reverse_and_vmap():
    f = _custom_sin_jvp()
    x = ad.tensor(X)
    xn = _np(x)
    want = np.diag(3 * np.cos(xn))
    np.testing.assert_allclose(_np(f(x)), np.sin(xn), rtol=RTOL)
    out, tan = ad.jvp(f, (x,), (ad.ones_like(x),))
    np.testing.assert_allclose(_np(out), np.sin(xn), rtol=RTOL)
    np.testing.assert_allclose(_np(tan), 3 * np.cos(xn), rtol=RTOL)
    np.testing.assert_allclose(_np(ad.jacfwd(f)(x)), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(ad.jacrev(f)(x)), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(ad.grad(lambda x: f(x).sum())(x)), 3 * np.cos(xn), rtol=RTOL)
    _, vjp_fn = ad.vjp(f, x)
    np.testing.assert_allclose(_np(vjp_fn(ad.ones_like(x))[0]), 3 * np.cos(xn), rtol=RTOL)
    xb = ad.tensor(XB)
    np.testing.assert_allclose(_np(ad.vmap(f)(xb)), np.sin(XB), rtol=RTOL)
    want_b = np.stack([np.diag(3 * np.cos(r)) for r in XB])
    np.testing.assert_allclose(_np(ad.vmap(ad.jacfwd(f))(xb)), want_b, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(ad.vmap(ad.jacrev(f))(xb)), want_b, rtol=RTOL, atol=ATOL)
    # the rule is written in gpuad ops, so it is differentiated for higher orders
    np.testing.assert_allclose(_np(ad.hessian(lambda x: f(x).sum())(x)), np.diag(-3 * np.sin(xn)),
                               rtol=RTOL, atol=ATOL)


def test_custom_jvp_two_arguments():
    @ad.custom_jvp
    def mul(x, y):
        return x * y

    def mul_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return mul(x, y), tx * y + 2.0 * x * ty  # deliberately wrong in y
    mul.defjvp(mul_jvp)
    x, y = ad.tensor(X[:3]), ad.tensor(X[2:])
    for name in ["jacfwd", "jacrev"]:
        jx, jy = getattr(ad, name)(mul, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(_np(jx), np.diag(_np(y)), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(_np(jy), np.diag(2 * _np(x)), rtol=RTOL, atol=ATOL)
    # only y differentiated: x's tangent is zero, the rule still runs
    np.testing.assert_allclose(_np(ad.grad(lambda y: mul(x, y).sum())(y)), 2 * _np(x), rtol=RTOL)


def _custom_sin_vjp():
    @ad.custom_vjp
    def g(x):
        return ad.sin(x)

    def g_fwd(x):
        return ad.sin(x), (ad.cos(x),)

    def g_bwd(res, ct):
        (c,) = res
        return (c * ct * 3.0,)  # deliberately 3x the true derivative
    g.defvjp(g_fwd, g_bwd)
    return g


def test_custom_vjp_reverse_and_vmap():
    g = _custom_sin_vjp()
    x = ad.tensor(X)
    xn = _np(x)
    np.testing.assert_allclose(_np(g(x)), np.sin(xn), rtol=RTOL)
    np.testing.assert_allclose(_np(ad.grad(lambda x: g(x).sum())(x)), 3 * np.cos(xn), rtol=RTOL)
    np.testing.assert_allclose(_np(ad.jacrev(g)(x)), np.diag(3 * np.cos(xn)), rtol=RTOL, atol=ATOL)
    out, vjp_fn = ad.vjp(g, x)
    np.testing.assert_allclose(_np(out), np.sin(xn), rtol=RTOL)
    np.testing.assert_allclose(_np(vjp_fn(ad.ones_like(x))[0]), 3 * np.cos(xn), rtol=RTOL)
    xb = ad.tensor(XB)
    np.testing.assert_allclose(_np(ad.vmap(g)(xb)), np.sin(XB), rtol=RTOL)
    np.testing.assert_allclose(_np(ad.vmap(ad.grad(lambda x: g(x).sum()))(xb)), 3 * np.cos(XB), rtol=RTOL)
    want_b = np.stack([np.diag(3 * np.cos(r)) for r in XB])
    np.testing.assert_allclose(_np(ad.vmap(ad.jacrev(g))(xb)), want_b, rtol=RTOL, atol=ATOL)
    # the eager tape is reverse mode too
    xt = ad.tensor(X, requires_grad=True)
    g(xt).sum().backward()
    np.testing.assert_allclose(_np(xt.grad), 3 * np.cos(xn), rtol=RTOL)


@pytest.mark.parametrize("how", ["jvp", "jacfwd", "vmap.jacfwd"])
def test_custom_vjp_in_forward_mode_raises(how):
    g = _custom_sin_vjp()
    x = ad.tensor(X)
    with pytest.raises(ad.GpuadError):
        if how == "jvp":
            ad.jvp(g, (x,), (ad.ones_like(x),))
        elif how == "jacfwd":
            ad.jacfwd(g)(x)
        else:
            ad.vmap(ad.jacfwd(g))(ad.tensor(XB))
    # and the library is usable afterwards
    np.testing.assert_allclose(_np(ad.jacfwd(ad.sin)(x)), np.diag(np.cos(X)), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(ad.grad(lambda x: g(x).sum())(x)), 3 * np.cos(X), rtol=RTOL)


def test_custom_vjp_forward_over_reverse_differentiates_the_rules():
    # In hessian = jacfwd(jacrev(g)) forward mode never meets g itself: the reverse pass
    # runs the user's fwd and bwd, which are gpuad ops, and the outer jacfwd differentiates
    # those: d/dx (3 cos x) = -3 sin x. Same as reverse over reverse.
    g = _custom_sin_vjp()
    x = ad.tensor(X)
    s = lambda x: g(x).sum()
    want = np.diag(-3 * np.sin(X))
    np.testing.assert_allclose(_np(ad.hessian(s)(x)), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(ad.jacrev(ad.jacrev(s))(x)), want, rtol=RTOL, atol=ATOL)


def test_custom_jvp_pytree_output():
    @ad.custom_jvp
    def sincos(x):
        return ad.sin(x), ad.cos(x)

    def sincos_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return sincos(x), (ad.cos(x) * t * 2.0, -ad.sin(x) * t * 2.0)  # deliberately 2x
    sincos.defjvp(sincos_jvp)
    x = ad.tensor(X)
    want = (np.diag(2 * np.cos(X)), np.diag(-2 * np.sin(X)))
    for name in ["jacfwd", "jacrev"]:
        got = getattr(ad, name)(sincos)(x)
        assert isinstance(got, tuple) and len(got) == 2
        for g, w in zip(got, want):
            np.testing.assert_allclose(_np(g), w, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(ad.grad(lambda x: sincos(x)[0].sum() + sincos(x)[1].sum())(x)),
                               2 * np.cos(X) - 2 * np.sin(X), rtol=RTOL)


def test_custom_rules_with_python_numbers_and_nesting():
    @ad.custom_jvp
    def scale(v, s):
        return v * s
    scale.defjvp(lambda p, t: (scale(*p), t[0] * p[1] * 10.0))  # deliberately 10x
    x = ad.tensor(X)
    for name in ["jacfwd", "jacrev"]:
        np.testing.assert_allclose(_np(getattr(ad, name)(scale)(x, 2.0)), 20.0 * np.eye(5), rtol=RTOL)

    @ad.custom_jvp
    def cube(v):
        return v ** 3
    cube.defjvp(lambda p, t: (cube(p[0]), 3.0 * p[0] ** 2 * t[0]))
    # no perturbation confusion through a custom rule: d/da [a * 3 a^2] = 9 a^2
    got = ad.grad(lambda a: a * ad.grad(lambda b: cube(a + b))(ad.tensor(0.0)))(ad.tensor(2.0))
    np.testing.assert_allclose(_np(got), 36.0, rtol=RTOL)
    np.testing.assert_allclose(_np(ad.grad(ad.grad(cube))(ad.tensor(2.0))), 12.0, rtol=RTOL)

    @ad.custom_vjp
    def mul(a, b):
        return a * b
    mul.defvjp(lambda a, b: (a * b, (a, b)), lambda r, g: (g * r[1] * 3.0, g * r[0] * 5.0))
    ja, jb = ad.jacrev(mul, argnums=(0, 1))(x, 2 * x)
    np.testing.assert_allclose(_np(ja), np.diag(6 * X), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(jb), np.diag(5 * X), rtol=RTOL, atol=ATOL)
    got = ad.vmap(ad.grad(lambda a, b: mul(a, b).sum()), in_dims=(0, None))(ad.tensor(XB), x)
    np.testing.assert_allclose(_np(got), np.broadcast_to(3 * X, (3, 5)), rtol=RTOL)


# --------------------------------------------------------------------------------------
# no_grad inside nested transforms
# --------------------------------------------------------------------------------------
def _h_no_grad(v):
    with ad.no_grad():
        c = v ** 2
    return v * c


def test_no_grad_block_is_constant_under_nested_transforms():
    x = ad.tensor(X)
    want = np.stack([np.diag(r ** 2) for r in XB])
    np.testing.assert_allclose(_np(ad.vmap(ad.jacfwd(_h_no_grad))(ad.tensor(XB))), want, rtol=RTOL)
    np.testing.assert_allclose(_np(ad.vmap(ad.jacrev(_h_no_grad))(ad.tensor(XB))), want, rtol=RTOL)
    # c is a constant, so the second derivative of sum(v * c) is zero in every composition
    for spec in ["hessian", "jacfwd.jacrev", "jacrev.jacrev", "jacfwd.jacfwd", "jacrev.jacfwd"]:
        got = _compose(ad, spec, lambda v: _h_no_grad(v).sum())(x)
        np.testing.assert_allclose(_np(got), np.zeros((5, 5)), atol=ATOL, err_msg=spec)


def test_transform_started_inside_a_no_grad_block():
    # the inner jacrev runs normally (an outer no_grad does not reach into a transform),
    # and its result is a constant for the transforms started outside the block
    def f(v):
        with ad.no_grad():
            g = ad.jacrev(ad.sin)(v)
        return g @ v
    x = ad.tensor(X)
    np.testing.assert_allclose(_np(f(x)), np.cos(X) * X, rtol=RTOL)
    for name in ["jacfwd", "jacrev"]:
        np.testing.assert_allclose(_np(getattr(ad, name)(f)(x)), np.diag(np.cos(X)), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_chunked_jacobian_with_aux(name):
    f = lambda v: (ad.sin(v), {"twice": v * 2.0, "tag": "t"})
    x = ad.tensor(X)
    j, aux = getattr(ad, name)(f, has_aux=True, chunk_size=2)(x)
    np.testing.assert_allclose(_np(j), np.diag(np.cos(X)), rtol=RTOL, atol=ATOL)
    assert aux["tag"] == "t"
    np.testing.assert_allclose(_np(aux["twice"]), 2 * X, rtol=RTOL)


def test_hessian_of_dict_argument():
    f = lambda d: (d["a"] ** 2 * d["b"].sum()).sum()
    d = {"a": X[:3], "b": X[3:]}
    got = ad.hessian(f)(_tree_map(ad.tensor, d))
    want = tf.hessian(f)(_tree_map(_T, d))
    assert got["a"]["b"].shape == (3, 2)
    assert_tree_close(got, want)


def test_randomness_different_under_vmap_of_jacrev():
    j = _np(ad.vmap(ad.jacrev(lambda v: v * ad.rand(3)), randomness="different")(ad.ones((4, 3))))
    d = j.diagonal(axis1=1, axis2=2)
    assert len(np.unique(d, axis=0)) == 4
    np.testing.assert_array_equal(j - np.stack([np.diag(r) for r in d]), 0)


# --------------------------------------------------------------------------------------
# grad_and_value, pass-through arguments, NumPy and float inputs
# --------------------------------------------------------------------------------------
def test_grad_and_value_with_aux():
    def f(x):
        y = (x.sin() * x).sum()
        return y, {"note": "anything", "y2": y * 2}
    x = ad.tensor(X)
    g, (value, aux) = ad.grad_and_value(f, has_aux=True)(x)
    xt = _T(X)
    np.testing.assert_allclose(_np(g), _np(tf.grad(lambda x: (x.sin() * x).sum())(xt)), rtol=RTOL)
    np.testing.assert_allclose(_np(value), (np.sin(X) * X).sum(), rtol=RTOL)
    assert aux["note"] == "anything"
    assert isinstance(aux["y2"], ad.Tensor)
    np.testing.assert_allclose(_np(aux["y2"]), 2 * (np.sin(X) * X).sum(), rtol=RTOL)
    g2, v2 = ad.grad_and_value(lambda x: f(x)[0])(x)
    assert_tree_close((g2, v2), (g, value))
    (ga, gb), v3 = ad.grad_and_value(lambda a, b: (a * b).sum(), argnums=(0, 1))(x, x * 2)
    np.testing.assert_allclose(_np(ga), 2 * X, rtol=RTOL)
    np.testing.assert_allclose(_np(gb), X, rtol=RTOL)


@pytest.mark.parametrize("name", ["jacfwd", "jacrev", "hessian", "grad", "vmap"])
def test_non_differentiated_python_numbers_pass_through(name):
    seen = []

    def f(x, scale, power):
        seen.append((scale, power))
        return (x ** power * scale).sum()

    x = ad.tensor(X) if name != "vmap" else ad.tensor(XB)
    if name == "vmap":
        out = ad.vmap(f, in_dims=(0, None, None))(x, 2.5, 3)
        np.testing.assert_allclose(_np(out), (XB ** 3 * 2.5).sum(axis=1), rtol=RTOL)
    else:
        out = getattr(ad, name)(f)(x, 2.5, 3)
        if name in ("jacfwd", "jacrev", "grad"):
            np.testing.assert_allclose(_np(out), 7.5 * X ** 2, rtol=RTOL)
        else:
            np.testing.assert_allclose(_np(out), np.diag(15 * X), rtol=RTOL, atol=ATOL)
    assert seen
    for scale, power in seen:
        assert type(scale) is float and scale == 2.5
        assert type(power) is int and power == 3


def test_numpy_and_float_inputs():
    j = ad.jacfwd(ad.sin)(X)
    assert isinstance(j, ad.Tensor)
    np.testing.assert_allclose(_np(j), np.diag(np.cos(X)), rtol=RTOL, atol=ATOL)
    j = ad.jacrev(ad.sin)(X)
    assert isinstance(j, ad.Tensor)
    np.testing.assert_allclose(_np(j), np.diag(np.cos(X)), rtol=RTOL, atol=ATOL)
    g = ad.grad(lambda x: x * x)(3.0)
    assert isinstance(g, ad.Tensor)
    np.testing.assert_allclose(_np(g), 6.0, rtol=RTOL)
    np.testing.assert_allclose(_np(ad.hessian(lambda x: x ** 3)(2.0)), 12.0, rtol=RTOL)
    np.testing.assert_allclose(_np(ad.grad(ad.grad(ad.sin))(0.5)), -np.sin(0.5), rtol=RTOL)
    v = ad.vmap(ad.sin)(XB)
    assert isinstance(v, ad.Tensor)
    np.testing.assert_allclose(_np(v), np.sin(XB), rtol=RTOL)
    out, tan = ad.jvp(ad.sin, (X,), (np.ones(5),))
    assert isinstance(out, ad.Tensor) and isinstance(tan, ad.Tensor)
    np.testing.assert_allclose(_np(tan), np.cos(X), rtol=RTOL)
    out, vjp_fn = ad.vjp(ad.sin, X)
    np.testing.assert_allclose(_np(vjp_fn(np.ones(5))[0]), np.cos(X), rtol=RTOL)
    out, tan = ad.jvp(lambda s: s * s, (1.5,), (1.0,))
    np.testing.assert_allclose(_np(tan), 3.0, rtol=RTOL)
    jx, jy = ad.jacrev(lambda x, y: x * y, argnums=(0, 1))(X, 2.0)
    np.testing.assert_allclose(_np(jx), 2.0 * np.eye(5), rtol=RTOL)
    np.testing.assert_allclose(_np(jy), X, rtol=RTOL)


# --------------------------------------------------------------------------------------
# concrete values of tensors inside derivatives (torch.func semantics)
# --------------------------------------------------------------------------------------
CONCRETE = {
    "if": lambda v: ad.sin(v) if v.sum() > 0 else ad.cos(v),
    "float": lambda v: ad.sin(v) * float(v[0]),
    "item": lambda v: ad.sin(v) * v[0].item(),
}


@pytest.mark.parametrize("how", list(CONCRETE))
@pytest.mark.parametrize("name", ["jacfwd", "jacrev", "grad"])
def test_concrete_values_under_differentiation(name, how):
    """Under grad/jacfwd/jacrev the primal values are known, as in torch.func: Python
    control flow, ``float()`` and ``item()`` on them work; what they return is a constant."""
    x = ad.tensor(X)  # X.sum() > 0
    f = CONCRETE[how]
    scale = 1.0 if how == "if" else X[0]
    if name == "grad":
        got = ad.grad(lambda v: f(v).sum())(x)
        np.testing.assert_allclose(_np(got), scale * np.cos(X), rtol=RTOL)
    else:
        got = getattr(ad, name)(f)(x)
        np.testing.assert_allclose(_np(got), scale * np.diag(np.cos(X)), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("how", list(CONCRETE))
def test_concrete_values_under_vmap_raise(how):
    with pytest.raises(ad.GpuadError):
        ad.vmap(CONCRETE[how])(ad.tensor(XB))


# --------------------------------------------------------------------------------------
# eager tape
# --------------------------------------------------------------------------------------
def test_eager_tape_matches_torch_autograd():
    x = ad.tensor(X, requires_grad=True)
    xt = _T(X).requires_grad_()
    fa, ft = funcs("ad")[1]["matmul"], funcs("torch")[1]["matmul"]
    fa(x).backward()
    ft(xt).backward()
    assert_tree_close(x.grad, xt.grad)
    # accumulation until reset
    fa(x).backward()
    np.testing.assert_allclose(_np(x.grad), 2 * _np(xt.grad), rtol=RTOL)
    x.grad = None
    fa(x).backward()
    assert_tree_close(x.grad, xt.grad)


def test_eager_tape_backward_with_cotangent_and_two_leaves():
    a = ad.tensor(X[:3], requires_grad=True)
    b = ad.tensor(X[2:], requires_grad=True)
    y = ad.sin(a) * b
    assert y.requires_grad
    ct = np.array([1.0, -2.0, 0.5])
    y.backward(ct)  # an array
    np.testing.assert_allclose(_np(a.grad), np.cos(X[:3]) * X[2:] * ct, rtol=RTOL)
    np.testing.assert_allclose(_np(b.grad), np.sin(X[:3]) * ct, rtol=RTOL)
    a.grad = None
    (ad.sin(a) * b).backward(ad.tensor(ct))  # a tensor
    np.testing.assert_allclose(_np(a.grad), np.cos(X[:3]) * X[2:] * ct, rtol=RTOL)


def test_eager_tape_no_grad():
    x = ad.tensor(X, requires_grad=True)
    with ad.no_grad():
        c = x ** 2
        d = ad.sin(x)
    assert not c.requires_grad and not d.requires_grad
    y = (x * c).sum()  # c is a constant: dy/dx = c
    y.backward()
    np.testing.assert_allclose(_np(x.grad), X ** 2, rtol=RTOL)
    z = ad.tensor(X)  # no requires_grad: nothing recorded
    assert not (z * 2).requires_grad
    w = x.detach()
    assert not w.requires_grad
    np.testing.assert_array_equal(_np(w), X)


def test_eager_tape_inside_and_around_transforms():
    # a transform inside an eager computation: its result is differentiable by the tape
    x = ad.tensor(X, requires_grad=True)
    g = ad.grad(lambda x: (x.sin()).sum())(x)  # cos(x)
    g.sum().backward()
    np.testing.assert_allclose(_np(x.grad), -np.sin(X), rtol=RTOL)
    x.grad = None
    J = ad.jacfwd(lambda v: ad.sin(v) * v)(x)  # diag(cos x * x + sin x)
    J.sum().backward()
    np.testing.assert_allclose(_np(x.grad), -np.sin(X) * X + 2 * np.cos(X), rtol=RTOL)
    # a vmapped function closing over a tape-tracked tensor
    w = ad.tensor(X, requires_grad=True)
    ad.vmap(lambda r: (r * w).sum())(ad.tensor(XB)).sum().backward()
    np.testing.assert_allclose(_np(w.grad), XB.sum(axis=0), rtol=RTOL)


# --------------------------------------------------------------------------------------
# thread safety (also in test_transform_errors.py, with errors in the mix)
# --------------------------------------------------------------------------------------
def test_transforms_in_two_threads():
    f_fwd = funcs("ad")[0]["pointwise"]
    f_rev = funcs("ad")[0]["indexing"]
    x, xb = ad.tensor(X), ad.tensor(XB)
    want_fwd = _np(ad.jacfwd(f_fwd)(x))
    want_rev = _np(ad.vmap(ad.jacrev(f_rev))(xb))
    errors = run_concurrently([(lambda: ad.jacfwd(f_fwd)(x), want_fwd),
                               (lambda: ad.vmap(ad.jacrev(f_rev))(xb), want_rev)],
                              20, _np, RTOL, ATOL)
    assert not errors, errors


# --------------------------------------------------------------------------------------
# kernel launches do not grow with the basis size nor the batch size
# --------------------------------------------------------------------------------------
def _chain(x):  # five pointwise ops
    return ad.tanh(ad.exp(ad.sin(x) * 0.5) + x)


def _launches(fn, arg):
    fn(arg)  # warm: compiling is not a launch, but keep the measured call steady
    with ad.count_launches() as c:
        fn(arg)
    return c.launches


def _launch_counts(device, n_small, n_big, b_small, b_big):
    def t(shape, seed):
        return ad.tensor(_rand(*shape, seed=seed), device=device)
    out = {}
    for name in ["jacfwd", "jacrev"]:
        fn = getattr(ad, name)(_chain)
        out[name] = (_launches(fn, t((n_small,), 1)), _launches(fn, t((n_big,), 2)))
        fn = ad.vmap(getattr(ad, name)(_chain))
        out["vmap." + name] = (_launches(fn, t((b_small, 3), 3)), _launches(fn, t((b_big, 3), 4)))
    return out


def test_launches_do_not_depend_on_size_cpu():
    counts = _launch_counts("cpu", 4, 64, 10, 1000)
    for name, (small, big) in counts.items():
        assert small > 0, f"{name}: count_launches counted nothing"
        assert small == big, f"{name}: {small} launches at the small size, {big} at the big one"


@pytest.mark.cudasim
def test_launches_do_not_depend_on_size_cudasim():
    if "cudasim" not in ad.devices():
        pytest.skip("cudasim is not usable here")
    counts = _launch_counts("cudasim", 2, 4, 2, 3)
    for name, (small, big) in counts.items():
        assert small > 0, f"{name}: count_launches counted nothing"
        assert small == big, f"{name}: {small} launches at the small size, {big} at the big one"
    # and the results are right there too
    x = ad.tensor(X[:3], device="cudasim")
    j = ad.jacfwd(_chain)(x)
    assert j.device == "cudasim"
    np.testing.assert_allclose(_np(j), _np(ad.jacrev(_chain)(ad.tensor(X[:3]))), rtol=1e-12, atol=1e-14)
