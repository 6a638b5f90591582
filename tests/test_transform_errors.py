"""Misuse of the transforms raises a ``GpuadError`` that names the argument, and leaves the
library as it was: the next call works (no transform level left on the stack).

Also: exceptions from the user's function pass through unchanged, and transforms run in
several threads at once keep to their own thread.
"""
import sys
import threading

import numpy as np
import pytest

import gpuad as ad
from concurrency import run_concurrently

RTOL = 1e-10


def _np(t):
    assert isinstance(t, ad.Tensor), f"expected an ad.Tensor, got {type(t).__name__}"
    return np.asarray(t.numpy())


X = np.random.default_rng(0).standard_normal(4)
XB = np.random.default_rng(1).standard_normal((3, 4))


def assert_library_usable():
    """A few transforms, nested, give the right answers and an eager op is plain again."""
    x, xb = ad.tensor(X), ad.tensor(XB)
    np.testing.assert_allclose(_np(ad.jacfwd(ad.sin)(x)), np.diag(np.cos(X)), rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(_np(ad.jacrev(ad.jacrev(lambda v: ad.sin(v).sum()))(x)),
                               np.diag(-np.sin(X)), rtol=RTOL, atol=1e-14)
    want = np.stack([np.diag(np.cos(r)) for r in XB])
    np.testing.assert_allclose(_np(ad.vmap(ad.jacfwd(ad.sin))(xb)), want, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(_np(ad.grad(lambda v: (v * v).sum())(x)), 2 * X, rtol=RTOL)
    # an op outside any transform gives a plain tensor of the plain shape
    y = ad.sin(x)
    assert type(y) is type(ad.tensor(X)) and y.shape == (4,)
    # the tape still records
    t = ad.tensor(X, requires_grad=True)
    (t * t).sum().backward()
    np.testing.assert_allclose(_np(t.grad), 2 * X, rtol=RTOL)


def _raises(exc_type, fn, *words):
    """``fn()`` raises a GpuadError that is also ``exc_type``, naming each of ``words``."""
    with pytest.raises(exc_type) as info:
        fn()
    assert isinstance(info.value, ad.GpuadError), f"{type(info.value).__mro__} is not a GpuadError"
    msg = str(info.value)
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not in the message {msg!r}"
    assert_library_usable()
    return msg


f2 = lambda x, y: ad.sin(x) * y
s2 = lambda x, y: (ad.sin(x) * y).sum()
ARG_TRANSFORMS = {
    "jacfwd": lambda **kw: ad.jacfwd(f2, **kw),
    "jacrev": lambda **kw: ad.jacrev(f2, **kw),
    "grad": lambda **kw: ad.grad(s2, **kw),
    "grad_and_value": lambda **kw: ad.grad_and_value(s2, **kw),
    "hessian": lambda **kw: ad.hessian(s2, **kw),
}


# --------------------------------------------------------------------------------------
# argnums
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("argnums", [2, -3, (0, 2), (5,)], ids=str)
@pytest.mark.parametrize("name", list(ARG_TRANSFORMS))
def test_argnums_out_of_range(name, argnums):
    x = ad.tensor(X)
    _raises(ValueError, lambda: ARG_TRANSFORMS[name](argnums=argnums)(x, x), "argnums", name)


@pytest.mark.parametrize("argnums", [1.0, "0", [0, 1], (0, 1.0)], ids=repr)
@pytest.mark.parametrize("name", list(ARG_TRANSFORMS))
def test_argnums_not_int(name, argnums):
    x = ad.tensor(X)
    # at transform creation or at call time, both are fine
    _raises(TypeError, lambda: ARG_TRANSFORMS[name](argnums=argnums)(x, x), "argnums", name)


# --------------------------------------------------------------------------------------
# non-float inputs to a derivative
# --------------------------------------------------------------------------------------
NONFLOAT = {
    "int tensor": lambda: ad.tensor([1, 2, 3, 4]),
    "bool tensor": lambda: ad.tensor([True, False, True, True]),
    "int numpy": lambda: np.arange(4),
    "python int": lambda: 3,
}
DERIV = {
    "jacfwd": lambda x: ad.jacfwd(lambda v: v * 2.0)(x),
    "jacrev": lambda x: ad.jacrev(lambda v: v * 2.0)(x),
    "grad": lambda x: ad.grad(lambda v: (v * 2.0).sum())(x),
    "hessian": lambda x: ad.hessian(lambda v: (v * v).sum())(x),
    "jvp": lambda x: ad.jvp(lambda v: v * 2.0, (x,), (x,)),
    "vjp": lambda x: ad.vjp(lambda v: v * 2.0, x),
}


@pytest.mark.parametrize("kind", list(NONFLOAT))
@pytest.mark.parametrize("name", list(DERIV))
def test_non_float_input_to_derivative(name, kind):
    _raises(TypeError, lambda: DERIV[name](NONFLOAT[kind]()), name)


def test_non_float_input_names_the_argument_position():
    x = ad.tensor(X)
    msg = _raises(TypeError, lambda: ad.jacrev(f2, argnums=1)(x, ad.tensor([1, 2, 3, 4])), "jacrev")
    assert "1" in msg or "y" in msg, msg


def test_non_float_input_not_differentiated_is_fine():
    # integer arguments that are not in argnums are passed through
    x = ad.tensor(X)
    got = ad.jacfwd(lambda v, k, n: v[k] * n)(x, np.array([0, 2]), 2)
    want = np.zeros((2, 4))
    want[0, 0] = want[1, 2] = 2.0
    np.testing.assert_allclose(_np(got), want)


@pytest.mark.parametrize("name", list(ARG_TRANSFORMS))
def test_argnums_empty_or_repeated(name):
    x = ad.tensor(X)
    for argnums in [(), (0, 0)]:
        with pytest.raises(ad.GpuadError, match="argnums"):
            ARG_TRANSFORMS[name](argnums=argnums)(x, x)
        assert_library_usable()


# --------------------------------------------------------------------------------------
# jvp / vjp structure
# --------------------------------------------------------------------------------------
def test_jvp_tangents_that_do_not_fit():
    x = ad.tensor(X)
    _raises(ValueError, lambda: ad.jvp(ad.sin, (x,), (ad.ones(5),)), "jvp", "tangent")
    _raises(ValueError, lambda: ad.jvp(ad.sin, (x,), (x, x)), "jvp", "tangents")
    _raises(ValueError, lambda: ad.jvp(lambda a, b: a * b, (x, x), (x,)), "jvp", "tangents")
    _, vjp_fn = ad.vjp(ad.sin, x)
    _raises(ValueError, lambda: vjp_fn(ad.ones(5)), "cotangent")
    _, vjp_fn = ad.vjp(lambda v: (v, v * 2), x)
    _raises(ValueError, lambda: vjp_fn((ad.ones(4),)), "cotangent")
    np.testing.assert_allclose(_np(vjp_fn((ad.ones(4), ad.ones(4)))[0]), np.full(4, 3.0))


# --------------------------------------------------------------------------------------
# vmap in_dims
# --------------------------------------------------------------------------------------
def test_vmap_batch_sizes_disagree():
    msg = _raises(ValueError, lambda: ad.vmap(lambda a, b: a + b)(ad.ones((3, 2)), ad.ones((4, 2))), "vmap")
    assert "3" in msg and "4" in msg, msg
    _raises(ValueError, lambda: ad.vmap(lambda a, b: a + b, in_dims=(0, 1))(ad.ones((3, 2)), ad.ones((3, 2))),
            "vmap")
    _raises(ValueError, lambda: ad.vmap(lambda d: d["a"] + d["b"])({"a": ad.ones(3), "b": ad.ones(5)}), "vmap")


@pytest.mark.parametrize("in_dims", [0, -1, 1])
def test_vmap_over_zero_d_input(in_dims):
    _raises(ValueError, lambda: ad.vmap(lambda a: a * 2.0, in_dims=in_dims)(ad.tensor(1.0)), "vmap", "in_dims")


def test_vmap_in_dims_out_of_range_or_wrong_structure():
    _raises(ValueError, lambda: ad.vmap(lambda a: a, in_dims=2)(ad.ones((3, 2))), "vmap", "in_dims")
    _raises(ValueError, lambda: ad.vmap(lambda a: a, in_dims=-3)(ad.ones((3, 2))), "vmap", "in_dims")
    _raises(ValueError, lambda: ad.vmap(lambda a: a, in_dims=(0, 0))(ad.ones((3, 2))), "vmap", "in_dims")
    _raises(ValueError, lambda: ad.vmap(lambda d: d["a"], in_dims=({"b": 0},))({"a": ad.ones(3)}),
            "vmap", "in_dims")


def test_vmap_in_dims_out_dims_of_the_wrong_type_or_range():
    with pytest.raises(ad.GpuadError, match="in_dims"):
        ad.vmap(lambda a: a, in_dims=1.5)(ad.ones((3, 2)))
    assert_library_usable()
    with pytest.raises(ad.GpuadError, match="in_dims"):
        ad.vmap(lambda a: a, in_dims="0")(ad.ones((3, 2)))
    assert_library_usable()
    with pytest.raises(ad.GpuadError, match="out_dims"):
        ad.vmap(lambda a: (a, a), out_dims=(0, 0, 0))(ad.ones((3, 2)))
    assert_library_usable()


@pytest.mark.parametrize("out_dims", [2, 3, -3])
def test_vmap_out_dims_out_of_range(out_dims):
    # the batched output has 2 dims: out_dims must lie in [-2, 1] (torch.func: IndexError)
    with pytest.raises(ad.GpuadError, match="out_dims"):
        ad.vmap(lambda a: a * 2.0, out_dims=out_dims)(ad.ones((3, 2)))
    assert_library_usable()


def test_vmap_nested_error_leaves_outer_level_clean():
    # the inner vmap fails inside an outer jacfwd and an outer vmap: both levels unwind
    bad = lambda x: ad.vmap(lambda a, b: a * b)(x, ad.ones((7, 4)))
    _raises(ValueError, lambda: ad.jacfwd(bad)(ad.ones((3, 4))), "vmap")
    _raises(ValueError, lambda: ad.vmap(bad)(ad.ones((2, 3, 4))), "vmap")
    _raises(ValueError, lambda: ad.jacrev(lambda x: ad.grad(lambda v: v)(x))(ad.ones(3)), "grad")


# --------------------------------------------------------------------------------------
# grad of a non-scalar, has_aux, randomness, chunk_size
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["grad", "grad_and_value"])
def test_grad_of_non_scalar(name):
    _raises(ValueError, lambda: getattr(ad, name)(ad.sin)(ad.tensor(X)), name, "scalar")
    _raises(ValueError, lambda: getattr(ad, name)(lambda v: ad.sin(v)[None])(ad.tensor(1.0)), name, "scalar")


BAD_AUX = {  # none of these is an (output, aux) pair
    "scalar": lambda v: ad.sin(v).sum(),
    "vector": lambda v: ad.sin(v),
    "triple": lambda v: (ad.sin(v).sum(), v, v),
    "single": lambda v: (ad.sin(v).sum(),),
}
AUX_TRANSFORMS = {
    "jacfwd": lambda f, x: ad.jacfwd(f, has_aux=True)(x),
    "jacrev": lambda f, x: ad.jacrev(f, has_aux=True)(x),
    "grad": lambda f, x: ad.grad(f, has_aux=True)(x),
    "grad_and_value": lambda f, x: ad.grad_and_value(f, has_aux=True)(x),
    "vjp": lambda f, x: ad.vjp(f, x, has_aux=True),
    "jvp": lambda f, x: ad.jvp(f, (x,), (x,), has_aux=True),
}


@pytest.mark.parametrize("bad", list(BAD_AUX))
@pytest.mark.parametrize("name", list(AUX_TRANSFORMS))
def test_has_aux_not_a_pair(name, bad):
    if bad == "vector" and name.startswith("grad"):
        pytest.skip("a non-scalar output is a different error for grad")
    _raises(TypeError, lambda: AUX_TRANSFORMS[name](BAD_AUX[bad], ad.tensor(np.arange(3.0))), name, "aux")


@pytest.mark.parametrize("where", ["vmap", "jacfwd", "vmap.jacrev"])
def test_random_op_under_randomness_error(where):
    fn = lambda v: v * ad.rand(4)
    call = {"vmap": lambda: ad.vmap(fn)(ad.ones((3, 4))),
            "jacfwd": lambda: ad.jacfwd(fn)(ad.ones(4)),
            "vmap.jacrev": lambda: ad.vmap(ad.jacrev(fn))(ad.ones((3, 4)))}[where]
    _raises(RuntimeError, call, "random")


@pytest.mark.parametrize("make", [lambda: ad.jacrev(ad.sin, chunk_size=0), lambda: ad.jacfwd(ad.sin, chunk_size=-1),
                                  lambda: ad.vmap(ad.sin, chunk_size=0)], ids=["jacrev", "jacfwd", "vmap"])
def test_chunk_size_not_positive(make):
    _raises(ValueError, lambda: make()(ad.ones((3, 3))), "chunk_size")


def test_unknown_randomness_value():
    with pytest.raises(ad.GpuadError) as info:
        ad.vmap(lambda v: v * ad.rand(4), randomness="sometimes")(ad.ones((3, 4)))
    assert "randomness" in str(info.value)
    assert_library_usable()


# --------------------------------------------------------------------------------------
# the user's own exceptions
# --------------------------------------------------------------------------------------
class UserError(Exception):
    pass


def _user_fn(err):
    def f(x):
        y = ad.sin(x) * 2.0  # some ops on tracers first
        _ = y.sum()
        raise err
    return f


USER_CALLS = {
    "jvp": lambda f, x: ad.jvp(f, (x,), (x,)),
    "vjp": lambda f, x: ad.vjp(f, x),
    "grad": lambda f, x: ad.grad(f)(x),
    "jacfwd": lambda f, x: ad.jacfwd(f)(x),
    "jacrev": lambda f, x: ad.jacrev(f)(x),
    "hessian": lambda f, x: ad.hessian(f)(x),
    "vmap": lambda f, x: ad.vmap(f)(ad.ones((2, 4))),
    "vmap.jacrev": lambda f, x: ad.vmap(ad.jacrev(f))(ad.ones((2, 4))),
    "jacfwd.vmap": lambda f, x: ad.jacfwd(ad.vmap(f))(ad.ones((2, 4))),
    "jacfwd.jacrev.chunked": lambda f, x: ad.jacfwd(ad.jacrev(f, chunk_size=1), chunk_size=2)(x),
}


@pytest.mark.parametrize("name", list(USER_CALLS))
def test_user_exception_propagates_unchanged(name):
    err = UserError("boom")
    with pytest.raises(UserError) as info:
        USER_CALLS[name](_user_fn(err), ad.tensor(X))
    assert info.value is err
    assert str(info.value) == "boom"
    assert_library_usable()


def test_user_exception_in_vjp_fn_cotangent_and_custom_rules():
    # a KeyboardInterrupt-like BaseException also unwinds the levels
    class Stop(BaseException):
        pass

    def f(x):
        raise Stop()
    with pytest.raises(Stop):
        ad.jacfwd(ad.vmap(f))(ad.ones((2, 2)))
    assert_library_usable()

    @ad.custom_jvp
    def h(x):
        return ad.sin(x)

    def h_jvp(primals, tangents):
        raise UserError("in rule")
    h.defjvp(h_jvp)
    with pytest.raises(UserError, match="in rule"):
        ad.jacfwd(h)(ad.tensor(X))
    assert_library_usable()

    @ad.custom_vjp
    def k(x):
        return ad.sin(x)

    def k_fwd(x):
        return ad.sin(x), x

    def k_bwd(res, g):
        raise UserError("in bwd")
    k.defvjp(k_fwd, k_bwd)
    with pytest.raises(UserError, match="in bwd"):
        ad.jacrev(k)(ad.tensor(X))
    assert_library_usable()


def test_custom_vjp_under_forward_mode_error_names_it():
    @ad.custom_vjp
    def k(x):
        return ad.sin(x)
    k.defvjp(lambda x: (ad.sin(x), ad.cos(x)), lambda c, g: (c * g,))
    with pytest.raises(ad.GpuadError) as info:
        ad.jacfwd(k)(ad.tensor(X))
    assert "custom_vjp" in str(info.value)
    assert_library_usable()


# --------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------
def test_two_threads_different_transforms():
    f = lambda v: ad.sin(v) * ad.exp(-v * v) + v * v.sum()
    x, xb = ad.tensor(X), ad.tensor(XB)
    want_a = _np(ad.jacfwd(f)(x))
    want_b = _np(ad.vmap(ad.jacrev(f))(xb))
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, in the middle of transforms
    try:
        errors = run_concurrently([(lambda: ad.jacfwd(f)(x), want_a),
                                   (lambda: ad.vmap(ad.jacrev(f))(xb), want_b)],
                                  50, _np, RTOL, 1e-14)
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    assert_library_usable()


def test_thread_with_errors_beside_a_working_thread():
    f = lambda v: ad.sin(v).sum() * v
    x = ad.tensor(X)
    want = _np(ad.jacrev(f)(x))
    errors, barrier = [], threading.Barrier(2)

    def good():
        try:
            barrier.wait()
            for _ in range(30):
                np.testing.assert_allclose(_np(ad.jacrev(f)(x)), want, rtol=RTOL, atol=1e-14)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def bad():
        try:
            barrier.wait()
            for _ in range(30):
                try:
                    ad.vmap(ad.jacfwd(_user_fn(UserError("x"))))(ad.ones((2, 4)))
                except UserError:
                    pass
                try:
                    ad.vmap(lambda a, b: a + b)(ad.ones(3), ad.ones(4))
                except ValueError:
                    pass
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=good), threading.Thread(target=bad)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert_library_usable()


def test_no_grad_in_one_thread_does_not_reach_another():
    entered, release = threading.Event(), threading.Event()

    def hold_no_grad():
        with ad.no_grad():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold_no_grad)
    t.start()
    try:
        assert entered.wait(10)
        x = ad.tensor(X, requires_grad=True)
        y = (x * x).sum()
        assert y.requires_grad
        y.backward()
        np.testing.assert_allclose(_np(x.grad), 2 * X, rtol=RTOL)
        np.testing.assert_allclose(_np(ad.jacrev(lambda v: v * v)(ad.tensor(X))), np.diag(2 * X), rtol=RTOL)
    finally:
        release.set()
        t.join()


# --------------------------------------------------------------------------------------
# functions that return nothing to differentiate
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["jacfwd", "jacrev", "hessian", "vmap", "grad"])
@pytest.mark.parametrize("ret", [None, "text"], ids=["None", "str"])
def test_function_returning_no_tensor(name, ret):
    """Either an empty result (``None``, an empty pytree, as jacfwd gives) or a GpuadError;
    never a bare NumPy error from deep inside."""
    fn = getattr(ad, name)(lambda v: ret)
    try:
        out = fn(ad.tensor(X) if name != "vmap" else ad.tensor(XB))
    except ad.GpuadError:
        pass
    else:
        assert ret is None and out is None, (ret, out)
    assert_library_usable()


# --------------------------------------------------------------------------------------
# issue 11 / 13: a function returning None, a func that is not callable, grad of a
# non-real-floating output. torch.func raises for each (RuntimeError "Expected f to be a
# function that has non-empty output", TypeError "'int' object is not callable" at call
# time, RuntimeError "grad can be implicitly created only for real scalar outputs");
# gpuad raises a GpuadTypeError naming the transform and the argument, at creation time
# for a non-callable.
# --------------------------------------------------------------------------------------
NONE_OUT = {
    "jvp": lambda f: ad.jvp(f, (ad.tensor(X),), (ad.tensor(X),)),
    "vjp": lambda f: ad.vjp(f, ad.tensor(X)),
    "grad": lambda f: ad.grad(f)(ad.tensor(X)),
    "grad_and_value": lambda f: ad.grad_and_value(f)(ad.tensor(X)),
    "jacfwd": lambda f: ad.jacfwd(f)(ad.tensor(X)),
    "jacrev": lambda f: ad.jacrev(f)(ad.tensor(X)),
    "hessian": lambda f: ad.hessian(f)(ad.tensor(X)),
}


@pytest.mark.parametrize("name", list(NONE_OUT))
def test_function_returning_none_raises(name):
    _raises(TypeError, lambda: NONE_OUT[name](lambda v: None), name, "None", "tensor")
    from gpuad.core import _state
    assert _state.stack == []


@pytest.mark.parametrize("name", ["jvp", "vjp", "grad", "jacfwd", "jacrev"])
def test_function_returning_none_with_aux_raises(name):
    call = {
        "jvp": lambda f: ad.jvp(f, (ad.tensor(X),), (ad.tensor(X),), has_aux=True),
        "vjp": lambda f: ad.vjp(f, ad.tensor(X), has_aux=True),
        "grad": lambda f: ad.grad(f, has_aux=True)(ad.tensor(X)),
        "jacfwd": lambda f: ad.jacfwd(f, has_aux=True)(ad.tensor(X)),
        "jacrev": lambda f: ad.jacrev(f, has_aux=True)(ad.tensor(X)),
    }[name]
    _raises(TypeError, lambda: call(lambda v: (None, v)), name, "None")


NOT_CALLABLE = {
    "vmap": lambda f: ad.vmap(f),
    "grad": lambda f: ad.grad(f),
    "grad_and_value": lambda f: ad.grad_and_value(f),
    "jacfwd": lambda f: ad.jacfwd(f),
    "jacrev": lambda f: ad.jacrev(f),
    "hessian": lambda f: ad.hessian(f),
    "jvp": lambda f: ad.jvp(f, (ad.tensor(X),), (ad.tensor(X),)),
    "vjp": lambda f: ad.vjp(f, ad.tensor(X)),
}


@pytest.mark.parametrize("func", [3, None, "sin", ad.tensor(X)], ids=["int", "None", "str", "tensor"])
@pytest.mark.parametrize("name", list(NOT_CALLABLE))
def test_non_callable_func_raises_at_creation(name, func):
    # vmap(3) etc. raise when the transform is made, not when it is called
    _raises(TypeError, lambda: NOT_CALLABLE[name](func), name, "func", "callable")


@pytest.mark.parametrize("kind", ["complex", "bool", "int"])
@pytest.mark.parametrize("name", ["grad", "grad_and_value"])
def test_grad_of_non_real_floating_output_raises(name, kind):
    """As JAX: grad needs a real floating scalar output (torch.func raises for complex;
    for bool/int outputs it returns zeros, which hides a mistake)."""
    out = {"complex": lambda v: ad.sum(v) * 1j,
           "bool": lambda v: ad.sum(v) > 0,
           "int": lambda v: ad.astype(ad.sum(v), np.int64)}[kind]
    fn = getattr(ad, name)(out)
    msg = _raises(TypeError, lambda: fn(ad.tensor(X)), name, "real floating", "dtype")
    assert {"complex": "complex", "bool": "bool", "int": "int"}[kind] in msg


def test_grad_of_float32_output_is_fine():
    g = ad.grad(lambda v: ad.sum(ad.astype(v, np.float32)))(ad.tensor(X))
    np.testing.assert_allclose(_np(g), np.ones(4))


def test_vmap_of_a_function_returning_none_raises_value_error():
    with pytest.raises(ad.GpuadValueError, match="vmap: the function returned None"):
        ad.vmap(lambda x: None)(ad.ones(3))
    assert not ad.core._state.stack


@pytest.mark.parametrize("f", [lambda x: x > 1, lambda x: ad.astype(x, "int64"),
                               lambda x: (ad.sin(x), x > 0)])
def test_reverse_mode_of_integer_or_bool_outputs_raises_as_torch(f):
    # torch.func: "vjp(f, ...): All outputs of f must be floating-point or complex Tensors"
    with pytest.raises(ad.GpuadTypeError, match="jacrev"):
        ad.jacrev(f)(ad.ones(2))
    assert not ad.core._state.stack


def test_vjp_of_a_comparison_raises_at_once():
    with pytest.raises(ad.GpuadTypeError, match="vjp: every output .* got dtype bool"):
        ad.vjp(lambda x: x > 1, ad.ones(2))
    assert not ad.core._state.stack
