"""NumPy's protocols on gpuad tensors (API.md "NumPy protocols", docs/numpy.md).

A NumPy function or ufunc called on gpuad tensors (tracers included, mixed with NumPy
arrays and Python scalars) runs gpuad's own function: the result is a gpuad tensor on the
tensor's device, with NumPy's values and the derivative of the gpuad-written function under
every transform. What gpuad does not implement (functions, ufunc methods, ``out=``) raises
``GpuadTypeError`` naming it; nothing converts silently.
"""
import numpy as np
import pytest
import torch
import torch.func as tf

import gpuad as ad
from gpuad import numpy_dispatch
from gpuad.core import _state

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

RNG = np.random.default_rng(7)
A = np.array([[2.0, 0.5, 0.1], [0.25, 3.0, -0.4], [0.3, -0.2, 1.5]])
B = RNG.standard_normal((3, 3))
V = RNG.standard_normal(3)


def _np(t):
    assert isinstance(t, ad.Tensor), type(t)
    return t.detach().numpy()


# --------------------------------------------------------------------------------------
# values: each NumPy call on gpuad tensors equals the call on NumPy arrays
# --------------------------------------------------------------------------------------
CALLS = {
    "sin": lambda x, y, v: np.sin(x),
    "exp*2": lambda x, y, v: np.exp(x) * 2,
    "sum axis=0": lambda x, y, v: np.sum(x, axis=0),
    "sum keepdims": lambda x, y, v: np.sum(x, axis=(0, 1), keepdims=True),
    "mean": lambda x, y, v: np.mean(x),
    "mean axis=1": lambda x, y, v: np.mean(x, axis=1),
    "max": lambda x, y, v: np.max(x, axis=1),
    "var ddof=1": lambda x, y, v: np.var(x, axis=0, ddof=1),
    "std": lambda x, y, v: np.std(x),
    "prod": lambda x, y, v: np.prod(x, axis=0),
    "cumsum": lambda x, y, v: np.cumsum(x),
    "linalg.inv": lambda x, y, v: np.linalg.inv(x),
    "linalg.det": lambda x, y, v: np.linalg.det(x),
    "linalg.solve": lambda x, y, v: np.linalg.solve(x, v),
    "linalg.norm": lambda x, y, v: np.linalg.norm(x),
    "einsum": lambda x, y, v: np.einsum("ij,j->i", x, v),
    "einsum optimize": lambda x, y, v: np.einsum("ij,jk->ik", x, y, optimize=True),
    "where": lambda x, y, v: np.where(x > 0.2, x, 0.0),
    "maximum": lambda x, y, v: np.maximum(x, 0.0),
    "where xy": lambda x, y, v: np.where(v > 0, x, y),
    "maximum xy": lambda x, y, v: np.maximum(x, y),
    "minimum": lambda x, y, v: np.minimum(x, y),
    "dot matrix": lambda x, y, v: np.dot(x, y),
    "dot vector": lambda x, y, v: np.dot(x, v),
    "dot scalar": lambda x, y, v: np.dot(2.0, x),
    "matmul": lambda x, y, v: np.matmul(x, y),
    "@": lambda x, y, v: x @ y,
    "stack": lambda x, y, v: np.stack([x, y], axis=1),
    "concatenate": lambda x, y, v: np.concatenate([x, y], axis=0),
    "reshape": lambda x, y, v: np.reshape(x, (9,)),
    "reshape -1": lambda x, y, v: np.reshape(x, (-1, 3)),
    "transpose": lambda x, y, v: np.transpose(x),
    "clip": lambda x, y, v: np.clip(x, 0.0, 1.0),
    "abs": lambda x, y, v: np.abs(x),
    "sqrt": lambda x, y, v: np.sqrt(np.abs(x)),
    "power": lambda x, y, v: np.power(x, 3),
    "**": lambda x, y, v: np.abs(x) ** 1.5,
    "arctan2": lambda x, y, v: np.arctan2(x, y),
    "tanh": lambda x, y, v: np.tanh(x),
    "diagonal": lambda x, y, v: np.diagonal(x, 1),
    "trace": lambda x, y, v: np.trace(x),
    "diag": lambda x, y, v: np.diag(v),
    "outer": lambda x, y, v: np.outer(x, v),
    "tensordot": lambda x, y, v: np.tensordot(x, y, axes=1),
    "expand_dims": lambda x, y, v: np.expand_dims(x, 0),
    "flip": lambda x, y, v: np.flip(x, 0),
    "tile": lambda x, y, v: np.tile(v, 2),
    "swapaxes": lambda x, y, v: np.swapaxes(x, 0, 1),
    "take": lambda x, y, v: np.take(x, [0, 4]),
    "ravel": lambda x, y, v: np.ravel(x),
    "broadcast_to": lambda x, y, v: np.broadcast_to(v, (2, 3)),
    "zeros_like": lambda x, y, v: np.zeros_like(x),
    "less": lambda x, y, v: np.less(x, y),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_values_match_numpy(name):
    f = CALLS[name]
    want = f(A, B, V)
    got = f(ad.tensor(A), ad.tensor(B), ad.tensor(V))
    assert isinstance(got, ad.Tensor), type(got)
    assert got.shape == np.shape(want)
    assert got.dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["einsum", "where xy", "maximum xy", "minimum", "dot matrix", "matmul",
                                  "@", "stack", "concatenate", "arctan2", "linalg.solve", "less"])
def test_mixed_ndarray_and_tensor_arguments(name):
    f = CALLS[name]
    want = f(A, B, V)
    for args in [(ad.tensor(A), B, V), (A, ad.tensor(B), ad.tensor(V))]:
        got = f(*args)
        assert isinstance(got, ad.Tensor), (name, type(got))
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)


def test_ndarray_operators_defer_to_the_tensor():
    t = ad.tensor(A)
    for got, want in [(B + t, B + A), (B - t, B - A), (B * t, B * A), (B / t, B / A),
                      (B @ t, B @ A), (np.abs(B) ** t, np.abs(B) ** A), (B < t, B < A),
                      (np.float64(2.0) * t, 2.0 * A), (-t + B, B - A)]:
        assert isinstance(got, ad.Tensor), type(got)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


# --------------------------------------------------------------------------------------
# derivatives: a NumPy-written function has the Jacobian of the gpuad-written one
# --------------------------------------------------------------------------------------
def rhs(xp, lin, const=lambda a: a):
    """A right-hand side written against a NumPy-like namespace ``xp`` (``lin``: its linalg;
    ``const``: how its constants are made, NumPy arrays unless the namespace is torch)."""
    def f(y):
        k = xp.einsum("ij,j->i", const(A), y)
        r = xp.sin(y) * xp.exp(-y ** 2) + xp.maximum(y, const(np.zeros(3))) * 0.5 - xp.sqrt(xp.abs(y) + 1.0)
        m = xp.stack([y, k, const(np.ones(3))]) + const(np.eye(3)) * 3.0
        d = lin.det(m)
        return xp.where(y > 0, r, xp.tanh(y)) + xp.sum(lin.inv(m) @ y, axis=0) * d + xp.clip(k, -1.0, 1.0)
    return f


F_NP = rhs(np, np.linalg)
F_AD = rhs(ad, ad.linalg)
F_TORCH = rhs(torch, torch.linalg, lambda a: torch.from_numpy(np.array(a)))
Y = np.array([0.3, -0.7, 1.1])

TRANSFORMS = {
    "jacfwd": ad.jacfwd,
    "jacrev": ad.jacrev,
    "hessian": lambda f: ad.hessian(lambda y: ad.sum(f(y) ** 2)),
    "jit": ad.jit,
    "jit(jacrev)": lambda f: ad.jit(ad.jacrev(f)),
    "vmap": lambda f: (lambda y: ad.vmap(f)(ad.stack([y, y * 0.5, -y]))),
    "vmap(jacfwd)": lambda f: (lambda y: ad.vmap(ad.jacfwd(f))(ad.stack([y, y * 0.5, -y]))),
    "grad": lambda f: ad.grad(lambda y: ad.sum(f(y))),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_numpy_written_function_differentiates_as_gpuad_written(name):
    T = TRANSFORMS[name]
    got = T(F_NP)(ad.tensor(Y))
    want = T(F_AD)(ad.tensor(Y))
    assert isinstance(got, ad.Tensor) and got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-13)
    assert _state.stack == []


def test_numpy_written_jacobian_matches_torch_func():
    got = ad.jacfwd(F_NP)(ad.tensor(Y))
    want = tf.jacfwd(F_TORCH)(torch.from_numpy(Y.copy()))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-13)
    got = ad.jacrev(F_NP)(ad.tensor(Y))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-13)


def test_vjp_and_jvp_through_numpy_linalg():
    x = ad.tensor(A)
    out, vjp_fn = ad.vjp(lambda m: np.linalg.inv(m) * np.linalg.det(m), x)
    (g,) = vjp_fn(ad.tensor(B))
    torch_out, torch_vjp = tf.vjp(lambda m: torch.linalg.inv(m) * torch.linalg.det(m), torch.from_numpy(A.copy()))
    np.testing.assert_allclose(out.numpy(), torch_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), torch_vjp(torch.from_numpy(B.copy()))[0].numpy(), rtol=1e-10)
    _, t = ad.jvp(lambda m: np.sum(np.sin(m) * B), (x,), (ad.tensor(B),))
    np.testing.assert_allclose(t.numpy(), np.sum(np.cos(A) * B * B), rtol=1e-12)


def test_eager_tape_records_numpy_calls():
    t = ad.tensor(A, requires_grad=True)
    y = np.sum(np.sin(t) * B) + np.linalg.det(t)
    assert isinstance(y, ad.Tensor) and y.requires_grad
    y.backward()
    np.testing.assert_allclose(t.grad.numpy(), np.cos(A) * B + np.linalg.det(A) * np.linalg.inv(A).T,
                               rtol=1e-10)


def test_asarray_and_numpy_keep_their_rules():
    # a plain cpu tensor converts; a traced one raises (tests/test_tracer_conversion.py)
    np.testing.assert_array_equal(np.asarray(ad.tensor(A)), A)
    with pytest.raises(ad.TracerArrayConversionError, match="np.asarray"):
        ad.jacfwd(lambda y: ad.tensor(np.asarray(y)))(ad.tensor(Y))
    with pytest.raises(ad.TracerArrayConversionError, match="numpy"):
        ad.vmap(lambda y: ad.tensor(y.numpy()))(ad.tensor(A))
    assert _state.stack == []


# --------------------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------------------
@pytest.mark.cudasim
def test_device_preserved_on_cudasim():
    t = ad.tensor([0.5, -1.0], device="cudasim")
    for got, want in [(np.sin(t), np.sin([0.5, -1.0])),
                      (np.array([1.0, 2.0]) + t, [1.5, 1.0]),
                      (np.stack([t, np.ones(2)]), [[0.5, -1.0], [1.0, 1.0]]),
                      (np.sum(t, axis=0), -0.5),
                      (ad.jacfwd(lambda y: np.exp(y) * 2)(t), np.diag(2 * np.exp([0.5, -1.0])))]:
        assert isinstance(got, ad.Tensor) and got.device == "cudasim", got
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12)


# --------------------------------------------------------------------------------------
# what does not dispatch raises, naming it
# --------------------------------------------------------------------------------------
UNSUPPORTED = {
    "numpy.unique": lambda t: np.unique(t),
    "numpy.nonzero": lambda t: np.nonzero(t),
    "numpy.histogram": lambda t: np.histogram(t),
    "numpy.add.reduce": lambda t: np.add.reduce(t),
    "numpy.multiply.outer": lambda t: np.multiply.outer(t, t),
    "numpy.add.at": lambda t: np.add.at(t, [0], 1.0),
    "numpy.add.accumulate": lambda t: np.add.accumulate(t),
    "numpy.sin with out=": lambda t: np.sin(t, out=np.empty(3)),
    "numpy.sum with argument out=": lambda t: np.sum(t, out=np.empty(())),
    "numpy.mean with argument dtype=": lambda t: np.mean(t, dtype=np.float32),
    "numpy.sum with argument where=": lambda t: np.sum(t, where=np.array([True, False, True])),
    "numpy.reshape with argument order=": lambda t: np.reshape(t, (3, 1), order="F"),
    "numpy.add with argument casting=": lambda t: np.add(t, 1.0, casting="unsafe"),
}


@pytest.mark.parametrize("what", list(UNSUPPORTED))
@pytest.mark.parametrize("how", ["plain", "jacfwd", "vmap", "requires_grad"])
def test_unsupported_raises_naming_it(what, how):
    run = UNSUPPORTED[what]
    if how == "plain":
        call = lambda: run(ad.tensor(Y))  # noqa: E731
    elif how == "requires_grad":
        call = lambda: run(ad.tensor(Y, requires_grad=True))  # noqa: E731
    elif how == "jacfwd":
        call = lambda: ad.jacfwd(lambda y: run(y))(ad.tensor(Y))  # noqa: E731
    else:
        call = lambda: ad.vmap(lambda y: run(y))(ad.tensor(np.stack([Y, Y])))  # noqa: E731
    with pytest.raises(ad.GpuadTypeError) as info:
        call()
    msg = str(info.value)
    assert what in msg, msg
    assert "ad." in msg and ".numpy()" in msg, msg
    if how in ("jacfwd", "vmap"):
        assert f"traced by {how}" in msg, msg
    assert _state.stack == []


def test_inplace_ndarray_operator_with_tensor_raises():
    a = np.ones(3)
    with pytest.raises(ad.GpuadTypeError, match="numpy.add with out="):
        a += ad.tensor(Y)
    np.testing.assert_array_equal(a, np.ones(3))  # untouched
    with pytest.raises(ad.GpuadTypeError, match="traced by jacrev"):
        ad.jacrev(lambda y: np.multiply(np.ones(3), y, out=np.ones(3)))(ad.tensor(Y))


def test_foreign_array_type_takes_over(monkeypatch):
    """NEP 18: with an unknown array type among the arguments gpuad returns NotImplemented,
    so the foreign type's __array_function__ answers."""
    class Foreign:
        def __array_function__(self, func, types, args, kwargs):
            return ("foreign", func.__name__)

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            return ("foreign", ufunc.__name__)

    t = ad.tensor(Y)
    assert np.concatenate([t, Foreign()]) == ("foreign", "concatenate")
    assert np.add(t, Foreign()) == ("foreign", "add")


def test_table_is_generated_from_gpuad_exports():
    ufuncs, funcs = numpy_dispatch.table()
    for name in ["sin", "exp", "absolute", "power", "maximum", "matmul", "add", "less", "arctan2"]:
        assert name in ufuncs
    for name in ["numpy.sum", "numpy.mean", "numpy.linalg.inv", "numpy.linalg.det", "numpy.einsum",
                 "numpy.where", "numpy.dot", "numpy.stack", "numpy.concatenate", "numpy.reshape",
                 "numpy.transpose", "numpy.clip"]:
        assert name in funcs
    # every entry runs a gpuad export (or a documented override over gpuad functions)
    exported = {id(getattr(m, n)) for m in (ad, ad.linalg, ad.fft) for n in dir(m) if not n.startswith("_")}
    for name, fn in ufuncs.items():
        assert id(fn) in exported, name
    for name, e in funcs.items():
        assert id(e.fn) in exported or e.fn in numpy_dispatch._OVERRIDES.values(), name
    # nothing gpuad lacks is in the table
    assert "numpy.unique" not in funcs and "gcd" not in ufuncs


def test_docs_list_only_what_dispatches():
    """docs/numpy.md lists, under "What dispatches", exactly what the table dispatches (its
    generated coverage table; tests/test_docs.py checks that it is current)."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / "docs" / "numpy.md").read_text()
    section = text.split("## What dispatches")[1].split("## What raises")[0]
    ufuncs, funcs = numpy_dispatch.table()
    prefixes = {"ufuncs": "numpy.", "functions `np.NAME`": "numpy.", "`np.linalg`": "numpy.linalg.",
                "`np.fft`": "numpy.fft."}
    listed = set()
    for line in section.splitlines():
        head = next((k for k in prefixes if line.startswith(f"- {k}")), None)
        if head is None:
            continue
        for n in re.findall(r"`([a-z_0-9]+)`", line.split(":", 1)[1]):
            key = prefixes[head] + n
            assert (n in ufuncs) if head == "ufuncs" else (key in funcs), key
            listed.add(n if head == "ufuncs" else key)
    assert len(listed) > 100
    assert set(ufuncs) | set(funcs) <= listed | {f"numpy.{u}" for u in ufuncs}, \
        sorted((set(ufuncs) | set(funcs)) - listed)
