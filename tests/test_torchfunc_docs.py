"""Every example of the torch.func documentation pages, translated to gpuad.

The examples come from the docstrings of ``jacfwd``, ``jacrev``, ``hessian``, ``jvp`` and
``vjp`` (``torch/_functorch/eager_transforms.py``) and of ``vmap``, ``grad`` and
``grad_and_value`` (``torch/_functorch/apis.py``), torch 2.13. Each test runs the example
in torch.func and in gpuad on the same float64 data and compares the results; the doc's own
assertion is kept too, written against gpuad.

Where gpuad deliberately differs from torch.func (``no_grad`` inside the function under
``jacfwd``, see API.md "Details that tests rely on"), the test says so and checks both.
"""
import numpy as np
import pytest
import torch
import torch.func as tf

import gpuad as ad
from torch_compare import _np, assert_tree_close  # noqa: F401

# torch.func compiles a helper with torch.jit.script on first use, which warns in torch 2.13
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

RTOL = 1e-10
ATOL = 1e-12


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _pair(a, requires_grad=False):
    """The same float64 data as a gpuad tensor and a torch tensor."""
    t = torch.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(requires_grad)
    return ad.tensor(a, requires_grad=requires_grad), t




# --------------------------------------------------------------------------------------
# jacrev and jacfwd: the examples both pages share
# --------------------------------------------------------------------------------------
JAC = pytest.mark.parametrize("name", ["jacfwd", "jacrev"])


@JAC
def test_pointwise_unary_gives_diagonal(name):
    x, xt = _pair(_rand(5))
    jacobian = getattr(ad, name)(ad.sin)(x)
    expected = np.diag(np.cos(_np(x)))
    np.testing.assert_allclose(_np(jacobian), expected, rtol=RTOL, atol=ATOL)
    assert_tree_close(jacobian, getattr(tf, name)(torch.sin)(xt))


@JAC
def test_has_aux_returns_output(name):
    def f(x, m):
        return m.sin(x)

    def g(x, m):
        result = f(x, m)
        return result, result

    x, xt = _pair(_rand(5))
    jacobian_f, f_x = getattr(ad, name)(lambda x: g(x, ad), has_aux=True)(x)
    np.testing.assert_allclose(_np(f_x), _np(f(x, ad)), rtol=RTOL, atol=ATOL)
    want_j, want_aux = getattr(tf, name)(lambda x: g(x, torch), has_aux=True)(xt)
    assert_tree_close(jacobian_f, want_j)
    assert_tree_close(f_x, want_aux)


@JAC
def test_vmap_of_jacobian_is_batched(name):
    x, xt = _pair(_rand(64, 5))
    jacobian = ad.vmap(getattr(ad, name)(ad.sin))(x)
    assert jacobian.shape == (64, 5, 5)
    assert_tree_close(jacobian, tf.vmap(getattr(tf, name)(torch.sin))(xt))


@pytest.mark.parametrize("outer,inner", [("jacfwd", "jacrev"), ("jacrev", "jacrev"),
                                         ("jacfwd", "jacfwd"), ("jacrev", "jacfwd")])
def test_hessian_by_composition(outer, inner):
    x, xt = _pair(_rand(5))
    hess = getattr(ad, outer)(getattr(ad, inner)(lambda x: x.sin().sum()))(x)
    np.testing.assert_allclose(_np(hess), np.diag(-np.sin(_np(x))), rtol=RTOL, atol=ATOL)
    want = getattr(tf, outer)(getattr(tf, inner)(lambda x: x.sin().sum()))(xt)
    assert_tree_close(hess, want)


@JAC
def test_argnums_selects_argument(name):
    f = lambda x, y: x + y ** 2
    (x, xt), (y, yt) = _pair(_rand(5, seed=1)), _pair(_rand(5, seed=2))
    jacobian = getattr(ad, name)(f, argnums=1)(x, y)
    np.testing.assert_allclose(_np(jacobian), np.diag(2 * _np(y)), rtol=RTOL, atol=ATOL)
    assert_tree_close(jacobian, getattr(tf, name)(f, argnums=1)(xt, yt))


@JAC
def test_argnums_tuple_gives_tuple(name):
    f = lambda x, y: x + y ** 2
    (x, xt), (y, yt) = _pair(_rand(5, seed=1)), _pair(_rand(5, seed=2))
    jacobian = getattr(ad, name)(f, argnums=(0, 1))(x, y)
    assert isinstance(jacobian, tuple) and len(jacobian) == 2
    np.testing.assert_allclose(_np(jacobian[0]), np.eye(5), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(jacobian[1]), np.diag(2 * _np(y)), rtol=RTOL, atol=ATOL)
    assert_tree_close(jacobian, getattr(tf, name)(f, argnums=(0, 1))(xt, yt))


@JAC
@pytest.mark.parametrize("chunk_size", [1, 2, 5, 7])
def test_chunk_size_matches_unchunked(name, chunk_size):
    # jacrev's page: "chunk_size=1 is equivalent to computing the jacobian row-by-row".
    # torch.func's jacfwd has no chunk_size; gpuad's has (API.md).
    f = lambda x: x.sin() * x.sum()
    x, xt = _pair(_rand(5))
    got = getattr(ad, name)(f, chunk_size=chunk_size)(x)
    np.testing.assert_allclose(_np(got), _np(getattr(ad, name)(f)(x)), rtol=1e-14, atol=1e-15)
    assert_tree_close(got, tf.jacrev(f, chunk_size=chunk_size)(xt))


# --------------------------------------------------------------------------------------
# The two no_grad cases of the jacrev / vjp / grad pages
# --------------------------------------------------------------------------------------
def _f_no_grad_inside(m):
    def f(x):
        with m.no_grad():
            c = x ** 2
        return x - c
    return f


def test_no_grad_inside_jacrev_is_respected():
    """Case 1: ``jacrev(f)(x)`` respects the inner ``no_grad``: ``c`` is a constant."""
    x, xt = _pair(_rand(4))
    got = ad.jacrev(_f_no_grad_inside(ad))(x)
    np.testing.assert_allclose(_np(got), np.eye(4), rtol=RTOL, atol=ATOL)
    assert_tree_close(got, tf.jacrev(_f_no_grad_inside(torch))(xt))


def test_no_grad_inside_jacfwd_is_respected_unlike_torch():
    """gpuad's jacfwd gives jacrev's answer (API.md: the block is a constant "in forward and
    reverse mode alike"). torch.func's jacfwd ignores no_grad and gives ``I - 2 diag(x)``."""
    x, xt = _pair(_rand(4))
    got = ad.jacfwd(_f_no_grad_inside(ad))(x)
    np.testing.assert_allclose(_np(got), np.eye(4), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(got), _np(ad.jacrev(_f_no_grad_inside(ad))(x)),
                               rtol=RTOL, atol=ATOL)
    # The documented difference from torch.func, kept visible:
    torch_fwd = tf.jacfwd(_f_no_grad_inside(torch))(xt)
    np.testing.assert_allclose(_np(torch_fwd), np.eye(4) - 2 * np.diag(_np(x)), rtol=RTOL)


@pytest.mark.parametrize("name", ["grad", "vjp", "jvp", "hessian"])
def test_no_grad_inside_other_transforms(name):
    def f(x):
        with ad.no_grad():
            c = x ** 2
        return (x - c).sum() * x[0]
    x = ad.tensor(_rand(3, seed=4))
    xn = _np(x)
    c = xn ** 2
    # d/dx [(sum(x) - sum(c)) * x0] with c constant
    want_grad = np.ones(3) * xn[0] + np.eye(3)[0] * (xn.sum() - c.sum())
    if name == "grad":
        np.testing.assert_allclose(_np(ad.grad(f)(x)), want_grad, rtol=RTOL)
    elif name == "vjp":
        _, vjp_fn = ad.vjp(f, x)
        np.testing.assert_allclose(_np(vjp_fn(ad.tensor(1.0))[0]), want_grad, rtol=RTOL)
    elif name == "jvp":
        t = np.array([0.5, -1.0, 2.0])
        _, tan = ad.jvp(f, (x,), (ad.tensor(t),))
        np.testing.assert_allclose(_np(tan), want_grad @ t, rtol=RTOL)
    else:
        want = np.zeros((3, 3))
        want[0, :] += 1
        want[:, 0] += 1
        np.testing.assert_allclose(_np(ad.hessian(f)(x)), want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["jacfwd", "jacrev", "hessian"])
def test_outer_no_grad_is_ignored_by_jacobians(name):
    """Case 2: a transform called under an outer ``no_grad`` still differentiates."""
    x, xt = _pair(_rand(5))
    f = lambda x: x.sin().sum() * x
    with ad.no_grad():
        got = getattr(ad, name)(f)(x)
    assert_tree_close(got, getattr(tf, name)(f)(xt))
    with ad.no_grad():  # and with the inner case too: the inner block stays constant
        got = ad.jacrev(_f_no_grad_inside(ad))(x)
    np.testing.assert_allclose(_np(got), np.eye(5), rtol=RTOL, atol=ATOL)


def test_outer_no_grad_is_ignored_by_grad_vjp_jvp():
    x, xt = _pair(_rand(5))
    f = lambda x: (x.sin() * x).sum()
    with ad.no_grad():
        g = ad.grad(f)(x)
        out, vjp_fn = ad.vjp(f, x)
        (v,) = vjp_fn(ad.tensor(1.0))
        _, t = ad.jvp(f, (x,), (ad.ones(5),))
    want = tf.grad(f)(xt)
    assert_tree_close(g, want)
    assert_tree_close(v, want)
    np.testing.assert_allclose(_np(t), _np(want).sum(), rtol=RTOL)
    assert_tree_close(out, f(xt))


# --------------------------------------------------------------------------------------
# hessian page
# --------------------------------------------------------------------------------------
def test_hessian_doc_example():
    f = lambda x: x.sin().sum()
    x, xt = _pair(_rand(5))
    hess = ad.hessian(f)(x)  # equivalent to jacfwd(jacrev(f))(x)
    np.testing.assert_allclose(_np(hess), np.diag(-np.sin(_np(x))), rtol=RTOL, atol=ATOL)
    assert_tree_close(hess, tf.hessian(f)(xt))
    assert_tree_close(hess, ad.jacfwd(ad.jacrev(f))(x))


# --------------------------------------------------------------------------------------
# jvp page
# --------------------------------------------------------------------------------------
def test_jvp_scalar_to_vector():
    x, xt = _pair(_rand())
    f_ad = lambda x: x * ad.tensor([1.0, 2.0, 3])
    f_t = lambda x: x * torch.tensor([1.0, 2.0, 3], dtype=torch.float64)
    value, grad = ad.jvp(f_ad, (x,), (ad.tensor(1.0),))
    np.testing.assert_allclose(_np(value), _np(f_ad(x)), rtol=RTOL)
    np.testing.assert_allclose(_np(grad), [1.0, 2, 3], rtol=RTOL)
    assert_tree_close((value, grad), tf.jvp(f_t, (xt,), (torch.tensor(1.0, dtype=torch.float64),)))


def test_jvp_multiple_inputs():
    (x, xt), (y, yt) = _pair(_rand(5, seed=1)), _pair(_rand(5, seed=2))
    f = lambda x, y: x * y
    _, output = ad.jvp(f, (x, y), (ad.ones(5), ad.ones(5)))
    np.testing.assert_allclose(_np(output), _np(x) + _np(y), rtol=RTOL)
    ones = torch.ones(5, dtype=torch.float64)
    assert_tree_close(output, tf.jvp(f, (xt, yt), (ones, ones))[1])


# --------------------------------------------------------------------------------------
# vjp page
# --------------------------------------------------------------------------------------
def test_vjp_matches_grad():
    x, xt = _pair(_rand(5))
    f = lambda x: x.sin().sum()
    _, vjpfunc = ad.vjp(f, x)
    grad = vjpfunc(ad.tensor(1.0))[0]
    np.testing.assert_allclose(_np(grad), _np(ad.grad(f)(x)), rtol=RTOL)
    _, vjpt = tf.vjp(f, xt)
    assert_tree_close(grad, vjpt(torch.tensor(1.0, dtype=torch.float64))[0])


def test_vjp_multiple_outputs():
    x, xt = _pair(_rand(5))
    f = lambda x: (x.sin(), x.cos())
    _, vjpfunc = ad.vjp(f, x)
    vjps = vjpfunc((ad.ones(5), ad.ones(5)))
    assert isinstance(vjps, tuple) and len(vjps) == 1
    np.testing.assert_allclose(_np(vjps[0]), np.cos(_np(x)) - np.sin(_np(x)), rtol=RTOL)


def test_vjp_dict_outputs():
    x, xt = _pair(_rand(5))
    f = lambda x: {"first": x.sin(), "second": x.cos()}
    _, vjpfunc = ad.vjp(f, x)
    vjps = vjpfunc({"first": ad.ones(5), "second": ad.ones(5)})
    np.testing.assert_allclose(_np(vjps[0]), np.cos(_np(x)) - np.sin(_np(x)), rtol=RTOL)
    _, vjpt = tf.vjp(f, xt)
    ones = torch.ones(5, dtype=torch.float64)
    assert_tree_close(vjps, vjpt({"first": ones, "second": ones}))


def test_vjp_of_matmul_has_one_entry_per_primal():
    (x, xt), (y, yt) = _pair(_rand(5, 4, seed=1)), _pair(_rand(4, 5, seed=2))
    c, ct = _pair(_rand(5, 5, seed=3))
    _, vjpfunc = ad.vjp(ad.matmul, x, y)
    vjps = vjpfunc(c)
    assert len(vjps) == 2
    np.testing.assert_allclose(_np(vjps[0]), _np(c) @ _np(y).T, rtol=RTOL)
    np.testing.assert_allclose(_np(vjps[1]), _np(x).T @ _np(c), rtol=RTOL)
    _, vjpt = tf.vjp(torch.matmul, xt, yt)
    assert_tree_close(vjps, vjpt(ct))


def test_vjp_kwargs_use_defaults():
    x, xt = _pair(_rand(5))

    def f(x, scale=4.):
        return x * scale

    _, vjpfunc = ad.vjp(f, x)
    vjps = vjpfunc(ad.ones_like(x))
    np.testing.assert_allclose(_np(vjps[0]), np.full(x.shape, 4.0), rtol=RTOL)


# --------------------------------------------------------------------------------------
# grad and grad_and_value pages
# --------------------------------------------------------------------------------------
def test_grad_first_and_second_order():
    x, xt = _pair(_rand())
    cos_x = ad.grad(lambda x: ad.sin(x))(x)
    np.testing.assert_allclose(_np(cos_x), np.cos(_np(x)), rtol=RTOL)
    neg_sin_x = ad.grad(ad.grad(lambda x: ad.sin(x)))(x)
    np.testing.assert_allclose(_np(neg_sin_x), -np.sin(_np(x)), rtol=RTOL)
    assert_tree_close(neg_sin_x, tf.grad(tf.grad(torch.sin))(xt))


def test_per_sample_gradients():
    batch_size, feature_size = 3, 5

    def make(m, relu):
        def model(weights, feature_vec):
            assert feature_vec.ndim == 1
            return relu(feature_vec @ weights)

        def compute_loss(weights, example, target):
            y = model(weights, example)
            return ((y - target) ** 2).mean()
        return compute_loss

    w, wt = _pair(_rand(feature_size, seed=1), requires_grad=True)  # as in the doc
    e, et = _pair(_rand(batch_size, feature_size, seed=2))
    t, tt = _pair(_rand(batch_size, seed=3))
    loss_ad = make(ad, lambda v: ad.maximum(v, 0.0))
    loss_t = make(torch, torch.relu)
    got = ad.vmap(ad.grad(loss_ad), in_dims=(None, 0, 0))(w, e, t)
    assert got.shape == (batch_size, feature_size)
    assert_tree_close(got, tf.vmap(tf.grad(loss_t), in_dims=(None, 0, 0))(wt, et, tt))


def _my_loss_func(y, y_pred):
    loss_per_sample = (0.5 * y_pred - y) ** 2
    loss = loss_per_sample.mean()
    return loss, (y_pred, loss_per_sample)


def test_grad_has_aux_and_argnums():
    y, yt = _pair(np.random.default_rng(1).random(4))
    p, pt = _pair(np.random.default_rng(2).random(4), requires_grad=True)  # as in the doc
    out = ad.grad(_my_loss_func, argnums=(0, 1), has_aux=True)(y, p)
    # output is ((grads w.r.t y_true, grads w.r.t y_preds), (y_pred, loss_per_sample))
    assert_tree_close(out, tf.grad(_my_loss_func, argnums=(0, 1), has_aux=True)(yt, pt))


def test_grad_and_value_has_aux():
    (y, yt), (p, pt) = _pair(np.random.default_rng(1).random(4)), _pair(np.random.default_rng(2).random(4))
    out = ad.grad_and_value(_my_loss_func, argnums=1, has_aux=True)(y, p)
    want = tf.grad_and_value(_my_loss_func, argnums=1, has_aux=True)(yt, pt)
    assert_tree_close(out, want)  # (grad, (value, (y_pred, loss_per_sample)))
    g, v = ad.grad_and_value(lambda p: _my_loss_func(y, p)[0])(p)
    assert_tree_close((g, v), tf.grad_and_value(lambda p: _my_loss_func(yt, p)[0])(pt))


# --------------------------------------------------------------------------------------
# vmap page
# --------------------------------------------------------------------------------------
def test_vmap_batched_dot():
    (x, xt), (y, yt) = _pair(_rand(2, 5, seed=1)), _pair(_rand(2, 5, seed=2))
    got = ad.vmap(ad.vecdot)(x, y)  # [N, D], [N, D] -> [N]
    assert_tree_close(got, tf.vmap(torch.dot)(xt, yt))


def test_vmap_hides_batch_dimension():
    batch_size, feature_size = 3, 5
    w, wt = _pair(_rand(feature_size, seed=1), requires_grad=True)  # as in the doc
    ex, ext = _pair(_rand(batch_size, feature_size, seed=2))
    result = ad.vmap(lambda v: ad.maximum(ad.vecdot(v, w), 0.0))(ex)
    want = tf.vmap(lambda v: v.dot(wt).relu())(ext)
    assert_tree_close(result, want)
    # weights requires grad: the batched result is on the tape
    result.sum().backward()
    want.sum().backward()
    assert_tree_close(w.grad, wt.grad)


def test_vmap_of_vjp_gives_jacobian():
    N = 5
    x, xt = _pair(_rand(N))
    f = lambda x: x ** 2
    _, vjp_fn = ad.vjp(f, x)
    I_N = ad.eye(N)
    (jacobian,) = ad.vmap(vjp_fn)(I_N)
    np.testing.assert_allclose(_np(jacobian), np.diag(2 * _np(x)), rtol=RTOL)
    # the "sequential approach" of the doc gives the same rows
    rows = [vjp_fn(I_N[i])[0] for i in range(N)]
    np.testing.assert_allclose(np.stack([_np(r) for r in rows]), _np(jacobian), rtol=RTOL)


def test_vmap_nested_dot():
    (x, xt), (y, yt) = _pair(_rand(2, 3, 5, seed=1)), _pair(_rand(2, 3, 5, seed=2))
    got = ad.vmap(ad.vmap(ad.vecdot))(x, y)  # [N1, N0, D], [N1, N0, D] -> [N1, N0]
    assert got.shape == (2, 3)
    assert_tree_close(got, tf.vmap(tf.vmap(torch.dot))(xt, yt))


def test_vmap_in_dims_one():
    (x, xt), (y, yt) = _pair(_rand(2, 5, seed=1)), _pair(_rand(2, 5, seed=2))
    got = ad.vmap(ad.vecdot, in_dims=1)(x, y)  # [N, D], [N, D] -> [D]
    assert got.shape == (5,)
    assert_tree_close(got, tf.vmap(torch.dot, in_dims=1)(xt, yt))


def test_vmap_in_dims_none_for_one_argument():
    (x, xt), (y, yt) = _pair(_rand(2, 5, seed=1)), _pair(_rand(5, seed=2))
    got = ad.vmap(ad.vecdot, in_dims=(0, None))(x, y)  # [N, D], [D] -> [N]
    assert_tree_close(got, tf.vmap(torch.dot, in_dims=(0, None))(xt, yt))


def test_vmap_in_dims_struct():
    (x, xt), (y, yt) = _pair(_rand(2, 5, seed=1)), _pair(_rand(5, seed=2))
    got = ad.vmap(lambda d: ad.vecdot(d["x"], d["y"]), in_dims=({"x": 0, "y": None},))({"x": x, "y": y})
    want = tf.vmap(lambda d: torch.dot(d["x"], d["y"]), in_dims=({"x": 0, "y": None},))({"x": xt, "y": yt})
    assert_tree_close(got, want)


def test_vmap_out_dims_one():
    x, xt = _pair(_rand(2, 5))
    got = ad.vmap(lambda x: x ** 2, out_dims=1)(x)  # [5, 2]
    assert got.shape == (5, 2)
    assert_tree_close(got, tf.vmap(lambda x: x ** 2, out_dims=1)(xt))


def test_vmap_kwargs_are_not_batched():
    x, xt = _pair(_rand(2, 5))

    def fn(x, scale=4.):
        return x * scale

    batched_pow = ad.vmap(fn)
    np.testing.assert_allclose(_np(batched_pow(x)), _np(x) * 4, rtol=RTOL)
    got = batched_pow(x, scale=x)  # scale is not batched, output has shape [2, 2, 5]
    assert got.shape == (2, 2, 5)
    assert_tree_close(got, tf.vmap(fn)(xt, scale=xt))
