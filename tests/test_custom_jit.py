"""custom_jvp / custom_vjp functions under ``ad.jit`` composed with every transform
(issue 11, item 10): results equal eager ones and closed forms, each jitted function
is called three times on different inputs with all results held (a later call must
not overwrite an earlier result), and it traces once.

The rules are deliberately *not* the derivative of the function's own ops (a factor
``_K`` on top), so a result that matches the closed form proves the user's rule was
applied, not autodiff of ``fun``."""
import numpy as np
import pytest

import gpuad as ad
from gpuad.core import Trace
from gpuad.jit.graph import JitTrace
from gpuad.pytree import tree_flatten

_K = 3.0  # the rules' factor: derivative = _K * the true one


@ad.custom_jvp
def f(x):
    return ad.sin(x) * x


@f.defjvp
def _f_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return f(x), _K * (ad.cos(x) * x + ad.sin(x)) * t


def _df(x):  # closed form of the rule, elementwise
    return _K * (np.cos(x) * x + np.sin(x))


def _d2f(x):
    return _K * (2 * np.cos(x) - x * np.sin(x))


@ad.custom_vjp
def g(x):
    return ad.exp(x) * 2.0


def _g_fwd(x):
    y = ad.exp(x) * 2.0
    return y, (y,)


def _g_bwd(res, ct):
    (y,) = res
    return (_K * y * ct,)


g.defvjp(_g_fwd, _g_bwd)


# two inputs, a tuple output: one node per output, cotangents zero on the other
@ad.custom_jvp
def h(x, y):
    return x * y, ad.sin(x)


@h.defjvp
def _h_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    return h(x, y), (_K * (tx * y + x * ty), _K * ad.cos(x) * tx)


def _inputs(shape, seed):
    rng = np.random.default_rng(seed)
    return [ad.tensor(rng.uniform(-1.5, 1.5, shape)) for _ in range(3)]


def _three_calls(transformed, xs, closed=None):
    """The jitted function called on three inputs, results held, then checked against
    eager and the closed form."""
    jf = ad.jit(transformed)
    held, copies = [], []
    for x in xs + xs[:1]:  # a fourth call, on the first input again
        held.append(jf(x))
        copies.append([a.copy() for a in _leaves(held[-1])])
    # no later call wrote into a result handed out before
    for r, c in zip(held, copies):
        for a, b in zip(_leaves(r), c):
            np.testing.assert_array_equal(a, b)
    for x, r in zip(xs, held):
        got, want = _leaves(r), _leaves(transformed(x))
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
        if closed is not None:
            np.testing.assert_allclose(got[0], closed(x.numpy()), rtol=1e-12, atol=1e-13)
    assert jf.trace_count == 1
    return held


def _leaves(tree):
    return [t.numpy() for t in tree_flatten(tree)[0]]


def _diag(d):
    return np.eye(d.shape[-1]) * d[..., None, :]


# -- custom_jvp ------------------------------------------------------------------------
def test_jit_custom_jvp_primal():
    _three_calls(f, _inputs((5,), 0), lambda x: np.sin(x) * x)


def test_jit_grad_custom_jvp():
    _three_calls(ad.grad(lambda x: f(x).sum()), _inputs((5,), 1), _df)


def test_jit_jacfwd_and_jacrev_custom_jvp():
    _three_calls(ad.jacfwd(f), _inputs((4,), 2), lambda x: _diag(_df(x)))
    _three_calls(ad.jacrev(f), _inputs((4,), 3), lambda x: _diag(_df(x)))


def test_jit_vmap_jacfwd_custom_jvp():
    _three_calls(ad.vmap(ad.jacfwd(f)), _inputs((6, 3), 4), lambda x: _diag(_df(x)))


def test_jit_vmap_jacrev_custom_jvp():
    _three_calls(ad.vmap(ad.jacrev(f)), _inputs((6, 3), 5), lambda x: _diag(_df(x)))


def test_jit_hessian_custom_jvp():
    # jacfwd(jacrev): the reverse pass transposes the rule, forward mode differentiates
    # that transposed rule's ops
    _three_calls(ad.hessian(lambda x: f(x).sum()), _inputs((4,), 6), lambda x: _diag(_d2f(x)))


def test_jit_vmap_hessian_custom_jvp():
    _three_calls(ad.vmap(ad.hessian(lambda x: f(x).sum())), _inputs((5, 3), 7),
                 lambda x: _diag(_d2f(x)))


def test_jit_custom_jvp_two_inputs_tuple_output():
    y = ad.tensor(np.linspace(0.5, 2.0, 4))
    jac = ad.jacrev(lambda x, y: h(x, y), argnums=(0, 1))
    held = _three_calls(lambda x: jac(x, y), _inputs((4,), 8))
    x0 = _inputs((4,), 8)[0].numpy()
    (j0x, j0y), (j1x, j1y) = held[0]
    np.testing.assert_allclose(j0x.numpy(), _K * _diag(y.numpy()), rtol=1e-13)
    np.testing.assert_allclose(j0y.numpy(), _K * _diag(x0), rtol=1e-13)
    np.testing.assert_allclose(j1x.numpy(), _K * _diag(np.cos(x0)), rtol=1e-13)
    np.testing.assert_allclose(j1y.numpy(), np.zeros((4, 4)), atol=0)


# -- custom_vjp ------------------------------------------------------------------------
def test_jit_custom_vjp_primal_and_reverse_modes():
    _three_calls(g, _inputs((5,), 10), lambda x: 2 * np.exp(x))
    _three_calls(ad.grad(lambda x: g(x).sum()), _inputs((5,), 11), lambda x: _K * 2 * np.exp(x))
    _three_calls(ad.jacrev(g), _inputs((4,), 12), lambda x: _diag(_K * 2 * np.exp(x)))
    _three_calls(ad.vmap(ad.jacrev(g)), _inputs((6, 3), 13), lambda x: _diag(_K * 2 * np.exp(x)))
    _three_calls(ad.vmap(ad.grad(lambda x: g(x).sum())), _inputs((6, 3), 14),
                 lambda x: _K * 2 * np.exp(x))


def test_jit_hessian_custom_vjp_differentiates_the_bwd_rule():
    # hessian = jacfwd(jacrev): the reverse trace is on top at the call and applies the
    # rule; forward mode then differentiates fwd's and bwd's ops (as it does eagerly),
    # so the result is the derivative of the custom gradient _K * 2 exp(x)
    _three_calls(ad.hessian(lambda x: g(x).sum()), _inputs((4,), 15),
                 lambda x: _diag(_K * 2 * np.exp(x)))


@pytest.mark.parametrize("make", [lambda: ad.jacfwd(g), lambda: ad.vmap(ad.jacfwd(g)),
                                  lambda: (lambda x: ad.jvp(g, (x,), (x,))[1])])
def test_jit_custom_vjp_forward_mode_raises_as_eager(make):
    from gpuad.core import current_depth
    x = ad.tensor(np.linspace(-1, 1, 6).reshape(2, 3))
    for fn in (make(), ad.jit(make())):
        with pytest.raises(ad.GpuadError, match="custom_vjp"):
            fn(x)
        assert current_depth() == 0


# -- the rule reaches jit's trace only as a primal call ----------------------------------
def test_jit_trace_sees_only_primal_calls(monkeypatch):
    from gpuad.jit.graph import JitTracer
    seen = []
    base = Trace.process_custom_jvp_call

    def spy(self, fun, jvp, tracers):
        seen.append((fun, jvp, all(isinstance(t, JitTracer) for t in tracers)))
        return base(self, fun, jvp, tracers)

    monkeypatch.setattr(JitTrace, "process_custom_jvp_call", spy, raising=False)
    x = _inputs((4,), 20)[0]
    got = ad.jit(ad.grad(lambda x: f(x).sum()))(x)
    np.testing.assert_allclose(got.numpy(), _df(x.numpy()), rtol=1e-13)
    # the reverse trace, above jit's, applied the rule; jit's trace got the primal
    # function (from that trace, and from the rule's own ``f(x)``) on its own tracers
    assert seen and all(fn is f.fun and rule is _f_jvp and mine for fn, rule, mine in seen)


def test_differentiating_traces_define_custom_rules():
    # a differentiating trace that forgot them would drop the user's rule; the default
    # refuses, and the ones gpuad has all define both
    from gpuad.interpreters.batching import BatchTrace
    from gpuad.interpreters.jvp import JVPTrace
    from gpuad.interpreters.reverse import ReverseTrace
    for cls in (JVPTrace, ReverseTrace, BatchTrace):
        for m in ("process_custom_jvp_call", "process_custom_vjp_call"):
            assert getattr(cls, m) is not getattr(Trace, m), (cls, m)

    class Forgetful(Trace):
        differentiating = True
    with pytest.raises(ad.GpuadError, match="process_custom_jvp_call"):
        Forgetful().process_custom_jvp_call(f.fun, _f_jvp, [])
