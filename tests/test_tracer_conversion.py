"""A derivative is never silently dropped by a conversion to a concrete value (issue 11).

- A traced value converted to a NumPy array (``np.asarray``, ``tracer.numpy()``) raises
  ``TracerArrayConversionError`` (a ``GpuadTypeError``) naming the conversion and the
  transform, under every transform.
- A NumPy *function* on a traced value (``np.linalg.inv``, ``np.sin``) dispatches to gpuad's
  own function through the NumPy protocols (API.md, docs/numpy.md): it is differentiated, and
  its derivative is the one of the gpuad-written function (tests/test_numpy_protocols.py has
  the rest).
- As in torch.func, the value-dependent Python torch.func allows under differentiation
  (``if x > 0``, ``float(x)``, ``x.item()``) keeps working (tests/test_transforms.py,
  ``test_concrete_values_under_differentiation``); under vmap it raises.
- An eager tensor that requires grad converts to NumPy only under ``no_grad`` or after
  ``detach()``, as torch's "Can't call numpy() on Tensor that requires grad".
- ``%`` on a value that carries a derivative is never NumPy's ``%`` of its value.
- A container of Python numbers is not a differentiated pytree argument; a list of
  tensors is (its leaves are differentiated), and ops given a raw list of traced values
  raise rather than treat it as a constant.
"""
import numpy as np
import pytest

import gpuad as ad
from gpuad.core import _state

RTOL = 1e-10
X = np.random.default_rng(0).standard_normal(4)
M = np.array([[2.0, 0.5], [0.25, 3.0]])


def _np(t):
    assert isinstance(t, ad.Tensor), type(t)
    return t.detach().numpy()


def _raises(exc, fn, *words):
    with pytest.raises(exc) as info:
        fn()
    assert isinstance(info.value, ad.GpuadError), type(info.value).__mro__
    msg = str(info.value)
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not in {msg!r}"
    assert _state.stack == [], "a transform level was left on the stack"
    # the library still works
    np.testing.assert_allclose(_np(ad.grad(lambda v: (v * v).sum())(ad.tensor(X))), 2 * X, rtol=RTOL)
    return msg


def test_error_class_is_exported():
    assert issubclass(ad.TracerArrayConversionError, ad.GpuadTypeError)
    assert issubclass(ad.TracerArrayConversionError, TypeError)
    from gpuad.errors import TracerArrayConversionError
    assert TracerArrayConversionError is ad.TracerArrayConversionError


# --------------------------------------------------------------------------------------
# traced values given to NumPy
# --------------------------------------------------------------------------------------
# Each runs ``body`` (a function of one traced matrix returning a tensor) under a
# transform. ``body`` hands the tracer to NumPy.
TRANSFORMS = {
    "grad": lambda body, x: ad.grad(lambda v: ad.sum(body(v)))(x),
    "grad_and_value": lambda body, x: ad.grad_and_value(lambda v: ad.sum(body(v)))(x),
    "jacfwd": lambda body, x: ad.jacfwd(body)(x),
    "jacrev": lambda body, x: ad.jacrev(body)(x),
    "hessian": lambda body, x: ad.hessian(lambda v: ad.sum(body(v)))(x),
    "jvp": lambda body, x: ad.jvp(body, (x,), (ad.ones_like(x),)),
    "vjp": lambda body, x: ad.vjp(body, x),
    "vmap": lambda body, x: ad.vmap(body)(ad.stack([x, x])),
}
TO_NUMPY = {
    "np.asarray": (lambda v: ad.tensor(np.asarray(v) * 2.0), "np.asarray"),
    "numpy()": (lambda v: ad.tensor(v.numpy()), "numpy()"),
}
# NumPy functions on a traced value dispatch to gpuad's (the NumPy protocols): the NumPy-
# written body and the gpuad-written one give the same result under every transform
NUMPY_FUNCTIONS = {
    "np.linalg.inv": (lambda v: ad.tensor(np.linalg.inv(v)), lambda v: ad.linalg.inv(v)),
    "np.sin": (lambda v: ad.tensor(np.sin(v)), lambda v: ad.sin(v)),
}


def _leaves(result, x):
    """The tensors of a transform's result (a vjp's function applied to a cotangent)."""
    if callable(result):
        return _leaves(result(ad.tensor(np.cos(M) + 1.0)), x)
    if isinstance(result, (tuple, list)):
        return [leaf for r in result for leaf in _leaves(r, x)]
    assert isinstance(result, ad.Tensor), type(result)
    return [result]


@pytest.mark.parametrize("conv", list(TO_NUMPY))
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_tracer_to_numpy_raises(name, conv):
    body, word = TO_NUMPY[conv]
    _raises(ad.TracerArrayConversionError, lambda: TRANSFORMS[name](body, ad.tensor(M)), word, name)


@pytest.mark.parametrize("conv", list(NUMPY_FUNCTIONS))
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_numpy_function_on_tracer_is_differentiated(name, conv):
    # was: raised TracerArrayConversionError; now np.<fn> dispatches to gpuad's function
    np_body, ad_body = NUMPY_FUNCTIONS[conv]
    x = ad.tensor(M)
    got = _leaves(TRANSFORMS[name](np_body, x), x)
    want = _leaves(TRANSFORMS[name](ad_body, x), x)
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(_np(g), _np(w), rtol=RTOL, atol=1e-14)
    assert _state.stack == []


def test_issue_example_inverse_gradient_is_not_zero():
    # the issue: this returned zeros; it raised until the NumPy protocols, now it is the
    # derivative of sum(inv(A)): -(A^-T 1 A^-T)
    X2 = ad.tensor(M)
    Ai = np.linalg.inv(M)
    want = -(Ai.T @ np.ones((2, 2)) @ Ai.T)
    got = ad.grad(lambda A: ad.sum(ad.tensor(np.linalg.inv(A))))(X2)
    np.testing.assert_allclose(_np(got), want, rtol=1e-9)
    got = ad.grad(lambda A: np.sum(np.linalg.inv(A)))(X2)
    np.testing.assert_allclose(_np(got), want, rtol=1e-9)
    # the gpuad spelling is differentiated
    got = ad.grad(lambda A: ad.sum(ad.linalg.inv(A)))(X2)
    np.testing.assert_allclose(_np(got), want, rtol=1e-9)


def test_nested_tracer_names_the_innermost_transform():
    x = ad.tensor(X)
    msg = _raises(ad.TracerArrayConversionError,
                  lambda: ad.vmap(ad.jacrev(lambda v: ad.tensor(np.asarray(v))))(ad.stack([x, x])), "jacrev")
    assert "vmap" not in msg.split(":")[0]


def test_conversion_inside_no_grad_is_a_constant():
    """Inside ``no_grad`` a differentiated value is a constant by request, so NumPy may
    have it: the derivative through it is zero, as documented for no_grad."""
    x = ad.tensor(X)

    def f(v):
        with ad.no_grad():
            c = np.asarray(v) * 3.0
            n = v.numpy()
        np.testing.assert_allclose(n, X)
        return ad.sum(v * ad.tensor(c))

    # d/dv sum(v * 3 v_const) = 3 v
    np.testing.assert_allclose(_np(ad.grad(f)(x)), 3 * X, rtol=RTOL)
    np.testing.assert_allclose(_np(ad.jacfwd(f)(x)), 3 * X, rtol=RTOL)


def test_batched_value_under_no_grad_still_raises():
    # no_grad suspends derivatives, not batching: there is still no single value
    def f(v):
        with ad.no_grad():
            return ad.tensor(np.asarray(v))
    _raises(ad.TracerArrayConversionError, lambda: ad.vmap(f)(ad.ones(3, 2)), "vmap")


@pytest.mark.parametrize("how", ["float", "item", "int", "bool"])
def test_python_scalars_under_vmap_raise(how):
    conv = {"float": float, "item": lambda v: v.item(), "int": int, "bool": bool}[how]
    _raises(ad.GpuadTypeError, lambda: ad.vmap(lambda v: v * conv(v[0]))(ad.ones(3, 2)), "vmap")


# --------------------------------------------------------------------------------------
# eager tensors that require grad (torch: "Can't call numpy() on Tensor that requires grad")
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["np.asarray", "numpy()"])
@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "result"])
def test_requires_grad_tensor_to_numpy_raises(how, leaf):
    t = ad.tensor(M, requires_grad=True)
    if not leaf:
        t = t * 2.0
        assert t.requires_grad
    conv = {"np.asarray": np.asarray, "numpy()": lambda v: v.numpy()}[how]
    word = "numpy()" if how == "numpy()" else "np.asarray"
    _raises(ad.TracerArrayConversionError, lambda: conv(t), word, "requires grad", "detach")


@pytest.mark.parametrize("how", ["np.linalg.inv", "np.sin"])
@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "result"])
def test_numpy_function_on_requires_grad_tensor_is_recorded(how, leaf):
    # was: raised; now the NumPy function is gpuad's, recorded on the tape
    t0 = ad.tensor(M, requires_grad=True)
    t = t0 if leaf else t0 * 2.0
    s = 1.0 if leaf else 2.0
    y = {"np.linalg.inv": np.linalg.inv, "np.sin": np.sin}[how](t)
    assert isinstance(y, ad.Tensor) and y.requires_grad
    ct = np.cos(M) + 1.0
    y.backward(ad.tensor(ct))
    if how == "np.sin":
        want = s * np.cos(s * M) * ct
    else:
        Ai = np.linalg.inv(s * M)
        want = -s * (Ai.T @ ct @ Ai.T)
    np.testing.assert_allclose(_np(t0.grad), want, rtol=1e-9)


def test_requires_grad_tensor_converts_when_asked():
    t = ad.tensor(M, requires_grad=True)
    np.testing.assert_array_equal(t.detach().numpy(), M)
    np.testing.assert_array_equal(np.asarray(t.detach()), M)
    with ad.no_grad():
        np.testing.assert_array_equal(t.numpy(), M)
        inv = np.linalg.inv(t)  # dispatches to ad.linalg.inv (the NumPy protocols)
        assert isinstance(inv, ad.Tensor) and not inv.requires_grad
        np.testing.assert_array_equal(inv.numpy(), np.linalg.inv(M))
    # Python numbers, as torch allows
    assert t[0, 0].item() == 2.0 and float(t[0, 1]) == 0.5
    assert t.tolist() == M.tolist()
    assert "requires_grad=True" in repr(t)
    # the tape still works
    (t * t).sum().backward()
    np.testing.assert_allclose(_np(t.grad), 2 * M)


def test_plain_tensors_keep_converting():
    assert np.asarray(ad.ones(3)).tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(np.linalg.inv(ad.tensor(M)), np.linalg.inv(M))
    np.testing.assert_allclose(np.sin(ad.tensor(X)), np.sin(X))
    assert ad.tensor(X).numpy().shape == (4,)
    t = ad.tensor(X, requires_grad=True)
    np.testing.assert_allclose(np.asarray(t.grad if t.grad is not None else ad.zeros(4)), 0.0)


# --------------------------------------------------------------------------------------
# the % operator
# --------------------------------------------------------------------------------------
MODS = {
    "tracer % ndarray": lambda v: v % np.array(0.3),
    "tracer % float": lambda v: v % 0.3,
    "ndarray % tracer": lambda v: np.array(5.0) % v,
}


@pytest.mark.parametrize("name", ["grad", "jacfwd", "jacrev", "vmap"])
@pytest.mark.parametrize("how", list(MODS))
def test_mod_of_traced_value_is_never_numpys(how, name):
    x = ad.tensor([0.7, 1.9])
    run = lambda: TRANSFORMS[name](MODS[how], x)  # noqa: E731
    if getattr(ad, "remainder", None) is None:
        _raises(ad.GpuadTypeError, run, "%", name)
        return
    # once gpuad has a remainder op, % is it, and it is differentiated
    got = run()
    if name == "jacfwd" and how != "ndarray % tracer":
        np.testing.assert_allclose(_np(got), np.eye(2), rtol=RTOL)


def test_mod_of_requires_grad_tensor():
    t = ad.tensor([0.7, 1.9], requires_grad=True)
    if getattr(ad, "remainder", None) is None:
        _raises(ad.GpuadTypeError, lambda: t % np.array(0.3), "%", "requires grad")
        _raises(ad.GpuadTypeError, lambda: np.array(5.0) % t, "%")
        with ad.no_grad():
            np.testing.assert_allclose(np.asarray(t % np.array(0.5)), [0.2, 0.4], rtol=1e-12)
    else:
        (t % 0.5).sum().backward()
        np.testing.assert_allclose(_np(t.grad), [1.0, 1.0])


# --------------------------------------------------------------------------------------
# lists as differentiated arguments
# --------------------------------------------------------------------------------------
def test_list_of_tensors_is_a_pytree_its_leaves_are_differentiated():
    l = [ad.tensor(1.0), ad.tensor(2.0)]
    g = ad.grad(lambda p: ad.sin(p[0]) + ad.sin(p[1]))(l)
    assert isinstance(g, list) and len(g) == 2
    np.testing.assert_allclose([_np(g[0]), _np(g[1])], np.cos([1.0, 2.0]), rtol=RTOL)
    # ad.tensor / ad.asarray / ad.stack of a list of traced values stack them differentiably
    for make in (ad.tensor, ad.asarray, ad.stack):
        g = ad.grad(lambda p: ad.sum(ad.sin(make(p))))(l)
        np.testing.assert_allclose([_np(g[0]), _np(g[1])], np.cos([1.0, 2.0]), rtol=RTOL)
        J = ad.jacfwd(lambda p: ad.sin(make(p)))(l)
        np.testing.assert_allclose(np.stack([_np(J[0]), _np(J[1])], 1), np.diag(np.cos([1.0, 2.0])),
                                   rtol=RTOL, atol=1e-15)
        J = ad.jacrev(lambda p: ad.sin(make(p)))(l)
        np.testing.assert_allclose(np.stack([_np(J[0]), _np(J[1])], 1), np.diag(np.cos([1.0, 2.0])),
                                   rtol=RTOL, atol=1e-15)


@pytest.mark.parametrize("name", ["grad", "jacfwd", "jacrev", "vmap"])
def test_op_given_a_raw_list_of_traced_values_raises(name):
    # the issue: ad.grad(lambda l: ad.sum(ad.sin(l)))([t1, t2]) returned [0, 0]
    l = [ad.tensor(1.0), ad.tensor(2.0)]
    if name == "vmap":
        run = lambda: ad.vmap(lambda p: ad.sin(p))([ad.ones(3), ad.ones(3)])  # noqa: E731
    else:
        run = lambda: TRANSFORMS[name](lambda p: ad.sin(p), l)  # noqa: E731
    _raises(ad.GpuadTypeError, run, name)


def test_op_given_a_list_of_requires_grad_tensors_raises():
    a, b = ad.tensor(1.0, requires_grad=True), ad.tensor(2.0, requires_grad=True)
    _raises(ad.GpuadTypeError, lambda: ad.sin([a, b]))
    # plain tensors in a list are constants, as before
    np.testing.assert_allclose(_np(ad.sin([ad.tensor(1.0), ad.tensor(2.0)])), np.sin([1.0, 2.0]))


NUMBER_TREES = {
    "list of floats": [1.0, 2.0],
    "tuple of floats": (1.0, 2.0),
    "dict of floats": {"a": 1.0, "b": 2.0},
    "tensor and float": (ad.tensor(1.0), 2.0),
    "list of np.float64": [np.float64(1.0), np.float64(2.0)],
}
NUMBER_TREE_CALLS = {
    "jacfwd": lambda a: ad.jacfwd(lambda p: p)(a),
    "jacrev": lambda a: ad.jacrev(lambda p: p)(a),
    "grad": lambda a: ad.grad(lambda p: ad.sum(ad.stack(list(p.values()) if isinstance(p, dict) else p)))(a),
    "hessian": lambda a: ad.hessian(lambda p: ad.sum(ad.stack(list(p.values()) if isinstance(p, dict) else p)))(a),
    "jvp": lambda a: ad.jvp(lambda p: p, (a,), (a,)),
    "vjp": lambda a: ad.vjp(lambda p: p, a),
}


@pytest.mark.parametrize("tree", list(NUMBER_TREES))
@pytest.mark.parametrize("name", list(NUMBER_TREE_CALLS))
def test_container_of_numbers_as_differentiated_argument_raises(name, tree):
    _raises(ad.GpuadTypeError, lambda: NUMBER_TREE_CALLS[name](NUMBER_TREES[tree]), name, "argument",
            "pytree of tensors")


def test_issue_example_jacfwd_of_list_of_floats():
    msg = _raises(ad.GpuadTypeError, lambda: ad.jacfwd(ad.sin)([1.0, 2.0]), "jacfwd", "argument 0")
    assert "list" in msg
    # the array spelling works
    np.testing.assert_allclose(_np(ad.jacfwd(ad.sin)(ad.tensor([1.0, 2.0]))), np.diag(np.cos([1.0, 2.0])),
                               atol=1e-15)
    # a Python float at top level is still a 0-d input (API.md)
    np.testing.assert_allclose(_np(ad.jacfwd(ad.sin)(1.0)), np.cos(1.0))


def test_container_of_numbers_not_differentiated_is_passed_through():
    got = ad.grad(lambda v, c: ad.sum(v * ad.tensor(c)))(ad.tensor([1.0, 1.0]), [2.0, 3.0])
    np.testing.assert_allclose(_np(got), [2.0, 3.0])
