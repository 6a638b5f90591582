"""Derivative rules at the edges the op-spec table keeps its samples away from (issue 11):
complex inputs, zeros of prod, traced linspace endpoints, diag of infinities, singular
determinants of any size, logsumexp of empty and infinite inputs, integer casts, and the
subgradients torch picks at singular points. Each is checked against torch.func (float64)
or a closed form, in forward and reverse mode, and under vmap where it makes sense.

Complex convention: gpuad's VJPs are transposes, as JAX's (the VJP of ``z * w`` is
``ct * w``), while torch's are adjoints; for a real function of complex ``z`` gpuad's
gradient is therefore the conjugate of torch's. JVPs agree with torch's directly.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gpuad as ad

torch.set_default_dtype(torch.float64)


def T(a, dtype=None):
    return ad.tensor(np.asarray(a, dtype=dtype))


def N(t):
    assert isinstance(t, ad.Tensor), f"expected an ad.Tensor, got {type(t).__name__}"
    return np.asarray(t.numpy())


def tt(a):
    return torch.as_tensor(np.asarray(a))


def close(got, want, rtol=1e-12, atol=1e-12, what=""):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol, err_msg=what)


def same(got, want, what=""):
    """Equal including the inf / nan pattern (and exact zeros)."""
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=what)


RNG = np.random.default_rng(11)
Z = RNG.standard_normal((2, 5)) + 1j * RNG.standard_normal((2, 5))
Z[0, 2] = 0.0  # a zero entry: abs has the subgradient 0 there


# ---------------------------------------------------------------------------------------
# 3. complex abs / norm / var / std: real results, JAX's conjugation convention
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cdt,rdt", [(np.complex128, np.float64), (np.complex64, np.float32)])
def test_complex_abs_is_real(cdt, rdt):
    z = T(Z, cdt)
    for out in (ad.abs(z), abs(z), z.abs()):
        assert out.dtype == rdt
        close(N(out), np.abs(Z.astype(cdt)), 1e-6 if rdt == np.float32 else 1e-15)
    # its derivatives keep the dtypes: a complex cotangent for a complex input
    g = ad.grad(lambda z: ad.sum(ad.abs(z)))(z)
    assert g.dtype == cdt
    _, tj = ad.jvp(ad.abs, (z,), (z,))
    assert tj.dtype == rdt


COMPLEX_FNS = {
    # name: (gpuad f, torch f) -> real
    "abs": (lambda z: ad.abs(z), lambda z: torch.abs(z)),
    "abs(1j*z)": (lambda z: ad.abs(1j * z), lambda z: torch.abs(1j * z)),
    "abs*w": (lambda z: ad.abs(z) * ad.tensor(np.arange(5.0)), lambda z: torch.abs(z) * torch.arange(5.0)),
    "norm": (lambda z: ad.linalg.norm(z[1]), lambda z: torch.linalg.norm(z[1])),
    "norm_axis": (lambda z: ad.linalg.norm(z, axis=-1), lambda z: torch.linalg.vector_norm(z, dim=-1)),
    "norm_ord1": (lambda z: ad.linalg.norm(z[1], ord=1), lambda z: torch.linalg.vector_norm(z[1], ord=1)),
    "norm_ord3": (lambda z: ad.linalg.norm(z, ord=3, axis=1), lambda z: torch.linalg.vector_norm(z, ord=3, dim=1)),
    "norm_inf": (lambda z: ad.linalg.norm(z[1], ord=np.inf), lambda z: torch.linalg.vector_norm(z[1], ord=np.inf)),
    "norm_fro": (lambda z: ad.linalg.norm(z, axis=(0, 1)), lambda z: torch.linalg.matrix_norm(z)),
    "var": (lambda z: ad.var(z), lambda z: torch.var(z, correction=0)),
    "var_axis": (lambda z: ad.var(z, axis=1, correction=1), lambda z: torch.var(z, dim=1, correction=1)),
    "std": (lambda z: ad.std(z), lambda z: torch.std(z, correction=0)),
    "std_axis0": (lambda z: ad.std(z, axis=0), lambda z: torch.std(z, dim=0, correction=0)),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_FNS))
def test_complex_to_real_vs_torch(name):
    f, tf = COMPLEX_FNS[name]
    z, tz = T(Z), tt(Z)
    out, tout = f(z), tf(tz)
    assert out.dtype == np.float64, f"{name} of complex128 gives {out.dtype}"
    close(N(out), tout.numpy(), what="value")
    # reverse: gpuad's cotangent is the conjugate of torch's
    ct = RNG.standard_normal(tuple(out.shape))
    (g,) = ad.vjp(f, z)[1](T(ct))
    (tg,) = torch.func.vjp(tf, tz)[1](tt(ct))
    assert g.dtype == np.complex128
    close(N(g), np.conj(tg.numpy()), what="vjp = conj(torch's)")
    # forward: the same as torch's
    v = RNG.standard_normal(Z.shape) + 1j * RNG.standard_normal(Z.shape)
    _, tj = ad.jvp(f, (z,), (T(v),))
    _, tref = torch.func.jvp(tf, (tz,), (tt(v),))
    assert tj.dtype == np.float64
    close(N(tj), tref.numpy(), what="jvp")
    # Jacobians: jacrev (the VJPs of the output basis) has the complex input's dtype and
    # holds the whole linear map, jvp(v) = real(J_rev v); jacfwd (the JVPs of the real
    # input basis) is its real part
    jf, jr = ad.jacfwd(f)(z), ad.jacrev(f)(z)
    # (torch.func.jacrev rejects complex inputs: its rows from torch.func.vjp)
    m = int(np.prod(out.shape, dtype=int))
    tvjp = torch.func.vjp(tf, tz)[1]
    tjr = np.stack([tvjp(tt(e.reshape(out.shape)))[0].numpy() for e in np.eye(m)])
    close(N(jr), np.conj(tjr).reshape(tuple(out.shape) + Z.shape), what="jacrev")
    assert jf.dtype == np.float64
    close(N(jf), N(jr).real, what="jacfwd = real(jacrev)")
    close(N(tj).reshape(-1), (N(jr).reshape(-1, Z.size) @ v.reshape(-1)).real, what="jvp = real(J_rev v)")


def test_complex_abs_follows_the_mul_conj_rules():
    """abs's rules agree with the ones gpuad derives from mul, conj and sqrt (the
    convention every other complex rule follows): |z| = sqrt(real(z conj(z)))."""
    z = T(Z[1])  # no zero entry: sqrt is differentiable there
    from gpuad.ops.pointwise import real
    ref = lambda z: ad.sqrt(real(z * ad.conj(z)))  # noqa: E731
    ct = RNG.standard_normal(5)
    close(N(ad.vjp(ad.abs, z)[1](T(ct))[0]), N(ad.vjp(ref, z)[1](T(ct))[0]), what="vjp")
    v = T(RNG.standard_normal(5) + 1j * RNG.standard_normal(5))
    close(N(ad.jvp(ad.abs, (z,), (v,))[1]), N(ad.jvp(ref, (z,), (v,))[1]), what="jvp")
    # second order through the same rules: the Jacobian of the gradient
    h = ad.jacfwd(ad.grad(lambda z: ad.sum(ad.abs(z))))(z)
    h_ref = ad.jacfwd(ad.grad(lambda z: ad.sum(ref(z))))(z)
    close(N(h), N(h_ref), what="jacfwd(grad)")


def test_complex_var_std_value_and_vmap():
    z = T(Z)
    for f, npf in [(ad.var, np.var), (ad.std, np.std)]:
        out = f(z, axis=1)
        assert out.dtype == np.float64
        close(N(out), npf(Z, axis=1))
        close(N(ad.vmap(f)(z)), npf(Z, axis=1), what="vmap")
        g = ad.vmap(ad.grad(lambda r: f(r)))(z)
        tg = torch.func.vmap(torch.func.grad(lambda r: (torch.var if f is ad.var else torch.std)(r, correction=0)))(tt(Z))
        close(N(g), np.conj(tg.numpy()), what="vmap(grad)")
    # the example: var of a complex vector is real and equals NumPy's
    w = np.array([1 + 2j, -0.5 + 0.3j, 2 - 1j])
    close(N(ad.var(T(w))), np.var(w))
    assert ad.var(T(w, np.complex64)).dtype == np.float32


def test_complex_abs_vmap():
    z = T(Z)
    close(N(ad.vmap(ad.abs)(z)), np.abs(Z))
    g = ad.vmap(ad.grad(lambda r: ad.sum(ad.abs(r))))(z)
    tg = torch.func.vmap(torch.func.grad(lambda r: torch.abs(r).sum()))(tt(Z))
    close(N(g), np.conj(tg.numpy()))


# ---------------------------------------------------------------------------------------
# 4. prod: second derivatives at zeros, every mode, along an axis, under vmap
# ---------------------------------------------------------------------------------------
PROD_POINTS = [[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [2.0, -1.0, 0.5],
               [1.5, 0.0, -2.0, 0.7, 3.0, 0.0, 1.1], [0.0], [0.0, 4.0]]
MODES = {
    "hessian": ad.hessian,
    "jacfwd(jacrev)": lambda f: ad.jacfwd(ad.jacrev(f)),
    "jacrev(jacrev)": lambda f: ad.jacrev(ad.jacrev(f)),
    "jacfwd(jacfwd)": lambda f: ad.jacfwd(ad.jacfwd(f)),
    "jacrev(jacfwd)": lambda f: ad.jacrev(ad.jacfwd(f)),
}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("x", PROD_POINTS, ids=str)
def test_prod_hessian_at_zeros(x, mode):
    want = torch.func.hessian(torch.prod)(tt(x)).numpy()
    close(N(MODES[mode](ad.prod)(T(x))), want)


def test_prod_hessian_closed_form():
    # the examples: the Hessian of x0 x1 x2 is [[0, x2, x1], [x2, 0, x0], [x1, x0, 0]]
    same(N(ad.hessian(ad.prod)(T([0.0, 2.0, 3.0]))), [[0, 3, 2], [3, 0, 0], [2, 0, 0]])
    same(N(ad.hessian(ad.prod)(T([0.0, 0.0, 3.0]))), [[0, 3, 0], [3, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("mode", sorted(MODES))
def test_prod_axis_hessian_at_zeros(mode):
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [1.0, -2.0, 0.5]])
    f = lambda t: ad.prod(t, axis=1)  # noqa: E731
    want = torch.func.jacfwd(torch.func.jacrev(lambda t: torch.prod(t, 1)))(tt(x)).numpy()
    close(N(MODES[mode](f)(T(x))), want)
    # axis 0, keepdims, and a tuple of axes
    x3 = np.array([[[0.0, 2.0], [3.0, 0.0]], [[1.5, 0.0], [0.0, 0.0]], [[1.0, 2.0], [3.0, 4.0]]])
    for fa, tfa in [(lambda t: ad.prod(t, axis=0, keepdims=True), lambda t: torch.prod(t, 0, keepdim=True)),
                    (lambda t: ad.prod(t, axis=(1, 2)), lambda t: torch.prod(t.reshape(3, 4), 1))]:
        want = torch.func.jacfwd(torch.func.jacrev(tfa))(tt(x3)).numpy()
        close(N(MODES[mode](fa)(T(x3))), want)


def test_prod_hessian_under_vmap():
    xs = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0], [2.0, 3.0, 4.0]])
    want = torch.func.vmap(torch.func.hessian(torch.prod))(tt(xs)).numpy()
    close(N(ad.vmap(ad.hessian(ad.prod))(T(xs))), want)
    close(N(ad.vmap(ad.jacrev(ad.jacrev(ad.prod)))(T(xs))), want)
    # first order and third order too
    close(N(ad.vmap(ad.grad(ad.prod))(T(xs))), torch.func.vmap(torch.func.grad(torch.prod))(tt(xs)).numpy())
    # third order against the closed form: d3 prod / dx_i dx_j dx_k is the product of the
    # remaining elements for distinct i, j, k, else 0 (torch.func gets the entries whose
    # remaining product is nonzero wrong at two zeros: 0 where x3 = 2 is right)
    x = np.array([0.0, 0.0, 3.0, 2.0])
    w3 = np.zeros((4, 4, 4))
    for i in range(4):
        for j in range(4):
            for k in range(4):
                if len({i, j, k}) == 3:
                    w3[i, j, k] = np.prod(np.delete(x, [i, j, k]))
    for mode in (lambda f: ad.jacfwd(ad.jacfwd(ad.grad(f))), lambda f: ad.jacrev(ad.jacrev(ad.grad(f))),
                 lambda f: ad.jacrev(ad.jacfwd(ad.jacfwd(f)))):
        close(N(mode(ad.prod)(T(x))), w3)


def test_prod_gradient_at_zeros_eager_tape():
    x = ad.tensor([0.0, 2.0, 0.0, 5.0], requires_grad=True)
    ad.prod(x).backward()
    same(N(x.grad), [0.0, 0.0, 0.0, 0.0])
    y = ad.tensor([0.0, 2.0, 3.0, 5.0], requires_grad=True)
    ad.prod(y).backward()
    same(N(y.grad), [30.0, 0.0, 0.0, 0.0])


# ---------------------------------------------------------------------------------------
# 5. linspace with traced endpoints
# ---------------------------------------------------------------------------------------
def test_linspace_traced_start_and_stop():
    k = np.arange(5) / 4.0
    for jac in (ad.jacrev, ad.jacfwd):
        close(N(jac(lambda a: ad.linspace(a, 3.4, 5))(1.2)), 1.0 - k, what=f"{jac.__name__} start")
        close(N(jac(lambda b: ad.linspace(1.2, b, 5))(3.4)), k, what=f"{jac.__name__} stop")
        ja, jb = jac(lambda a, b: ad.linspace(a, b, 5), argnums=(0, 1))(1.2, 3.4)
        close(N(ja), 1.0 - k)
        close(N(jb), k)
    # endpoint=False: step (stop - start) / num
    k6 = np.arange(6) / 6.0
    close(N(ad.jacrev(lambda a: ad.linspace(a, 2.0, 6, endpoint=False))(0.5)), 1.0 - k6)
    close(N(ad.jacfwd(lambda b: ad.linspace(0.5, b, 6, endpoint=False))(2.0)), k6)
    # second derivative is zero (linear in the endpoints)
    same(N(ad.hessian(lambda a: ad.sum(ad.linspace(a, 3.0, 4) ** 2) * 0.0)(1.0)), 0.0)
    close(N(ad.grad(lambda a: ad.sum(ad.linspace(a, 3.0, 4) ** 2))(1.0)),
          np.sum(2 * np.linspace(1.0, 3.0, 4) * (1.0 - np.arange(4) / 3.0)))


def test_linspace_tensor_endpoints_values():
    for args, kw in [((1.2, 3.4, 5), {}), ((1.2, 3.4, 5), {"endpoint": False}), ((1.2, 3.4, 1), {}),
                     ((1.2, 3.4, 0), {}), ((-1.0, 1.0, 2), {}), ((0.1, 0.7, 257), {})]:
        a, b, n = args
        want = np.linspace(a, b, n, **kw)
        for s, e in [(T(a), b), (a, T(b)), (T(a), T(b))]:
            out = ad.linspace(s, e, n, **kw)
            assert out.shape == want.shape and out.dtype == np.float64
            same(N(out), want)  # bit for bit, last value exactly stop
    # array endpoints: shape (num, *S), as NumPy's
    s, e = np.array([0.0, 1.0, -2.0]), np.array([1.0, 3.0, 2.0])
    close(N(ad.linspace(T(s), T(e), 4)), np.linspace(s, e, 4), 1e-15, 1e-15)
    assert ad.linspace(T(s, np.float32), 1.0, 3).dtype == np.float32
    assert ad.linspace(T(1.0), 2.0, 3, dtype=np.float32).dtype == np.float32


def test_linspace_vmap_and_tape():
    starts = np.array([0.0, 1.0, -2.0])
    out = ad.vmap(lambda a: ad.linspace(a, 4.0, 5))(T(starts))
    close(N(out), np.stack([np.linspace(a, 4.0, 5) for a in starts]), 1e-15, 1e-15)
    g = ad.vmap(ad.grad(lambda a: ad.sum(ad.linspace(a, 4.0, 5) * ad.arange(5.0))))(T(starts))
    close(N(g), np.full(3, np.sum((1.0 - np.arange(5) / 4.0) * np.arange(5.0))))
    a = ad.tensor(1.0, requires_grad=True)
    ad.sum(ad.linspace(a, 2.0, 3)).backward()
    close(N(a.grad), 1.5)


# ---------------------------------------------------------------------------------------
# 6. diag is a placement: exact zeros off the diagonal, linear derivative rules
# ---------------------------------------------------------------------------------------
def test_diag_of_infinities_has_exact_zeros():
    same(N(ad.diag(T([np.inf, 1.0]))), [[np.inf, 0.0], [0.0, 1.0]])
    same(N(ad.diag(T([np.nan, -np.inf]))), [[np.nan, 0.0], [0.0, -np.inf]])
    same(N(ad.diag(T([np.inf, 2.0]), k=1)), np.diag([np.inf, 2.0], 1))


@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag_derivatives_do_not_mix_infinities(k):
    # the off-diagonal zeros of diag(x) do not depend on x: sqrt's infinite slope there
    # must not reach the gradient (a product with the identity gave inf * 0 = nan)
    x = np.array([0.5, 1.0, 4.0])
    f = lambda t: ad.sum(ad.sqrt(ad.diag(t, k)))  # noqa: E731
    same(N(ad.grad(f)(T(x))), 0.5 / np.sqrt(x))
    want = np.diag(-0.25 * x ** -1.5)
    # (forward-over-forward differentiates sqrt at the zeros along a zero tangent,
    # 0 * inf in sqrt's own rule, as in torch; the modes with a reverse pass are exact)
    for mode in ("hessian", "jacfwd(jacrev)", "jacrev(jacrev)", "jacrev(jacfwd)"):
        close(N(MODES[mode](f)(T(x))), want, 1e-14, 0, what=mode)
    # and the same Hessian as without diag
    g = lambda t: ad.sum(t ** 3 + ad.sqrt(t + 1.0))  # noqa: E731
    for mode, H in MODES.items():
        same(N(H(lambda t: ad.sum(ad.diag(t ** 3 + ad.sqrt(t + 1.0), k)))(T(x))), N(H(g)(T(x))))


@pytest.mark.parametrize("k", [0, 1, -1, 2])
def test_diag_vs_torch(k):
    x = RNG.standard_normal(4)
    A = RNG.standard_normal((4, 5))
    for v, f, tf in [(x, lambda t: ad.diag(t, k), lambda t: torch.diag(t, k)),
                     (A, lambda t: ad.diag(t, k), lambda t: torch.diag(t, k)),
                     (A, lambda t: ad.diagonal(t, k), lambda t: torch.diagonal(t, k)),
                     (A, lambda t: ad.trace(t, k), lambda t: torch.diagonal(t, k).sum())]:
        close(N(f(T(v))), tf(tt(v)).numpy())
        close(N(ad.jacrev(f)(T(v))), torch.func.jacrev(tf)(tt(v)).numpy())
        close(N(ad.jacfwd(f)(T(v))), torch.func.jacfwd(tf)(tt(v)).numpy())
        vb = RNG.standard_normal((3,) + v.shape)
        close(N(ad.vmap(f)(T(vb))), torch.func.vmap(tf)(tt(vb)).numpy())
        close(N(ad.vmap(ad.jacrev(f))(T(vb))), torch.func.vmap(torch.func.jacrev(tf))(tt(vb)).numpy())


def test_diag_rules_are_linear():
    x = RNG.standard_normal(3)
    t = np.array([np.inf, -1.5, np.nan])
    _, tj = ad.jvp(ad.diag, (T(x),), (T(t),))
    same(N(tj), np.diag(t))  # diag of the tangent, exact zeros elsewhere
    _, tj = ad.jvp(lambda v: ad.diag(v, -1), (T(x),), (T(t),))
    same(N(tj), np.diag(t, -1))
    ct = RNG.standard_normal((3, 3))
    ct[0, 1], ct[2, 0] = np.inf, np.nan
    same(N(ad.vjp(ad.diag, T(x))[1](T(ct))[0]), np.diag(ct))  # the cotangent's diagonal
    ct4 = np.full((4, 4), np.inf)
    ct4[np.arange(3), np.arange(3) + 1] = [1.0, 2.0, 3.0]
    same(N(ad.vjp(lambda v: ad.diag(v, 1), T(x))[1](T(ct4))[0]), [1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------------------
# 11. det: the gradient at singular matrices of any size is the cofactor matrix
# ---------------------------------------------------------------------------------------
def _singular(n, kind, seed=0):
    rng = np.random.default_rng(seed + n)
    if kind == "int_dup":  # two equal rows of small integers: exactly singular
        A = rng.integers(-3, 4, (n, n)).astype(float)
        A[1] = A[0]
    elif kind == "zero_row":
        A = rng.standard_normal((n, n))
        A[-1] = 0.0
    elif kind == "zero_col":
        A = rng.standard_normal((n, n))
        A[:, -1] = 0.0
    elif kind == "rank_n-2":  # the cofactor matrix is 0
        A = rng.integers(-3, 4, (n, n)).astype(float)
        A[1] = A[0]
        A[3] = 2 * A[2]
    elif kind == "zeros":
        A = np.zeros((n, n))
    elif kind == "normal":
        A = rng.standard_normal((n, n)) + 2 * np.eye(n)
    return A


def _cofactor_scale(A):
    """The scale rounding in A's cofactors is measured at: its largest possible cofactor
    (the product of the n-1 largest singular values), or, where that is ~0 (rank n-2),
    an O(eps |A|) perturbation of it (|A| times the size of the (n-2)-minors)."""
    s = np.linalg.svd(A, compute_uv=False)
    return max(1.0, float(np.prod(s[:-1])), float(s[0] * np.prod(s[:-2])))


def _exact_cofactor(A):
    import sympy
    return np.array(sympy.Matrix(A.astype(int).tolist()).adjugate().T, dtype=float)


DET_CASES = [(n, kind) for n in (2, 4, 5, 6, 7) for kind in
             ("int_dup", "zero_row", "zero_col", "rank_n-2", "zeros", "normal") if not (n < 4 and kind == "rank_n-2")]


@pytest.mark.parametrize("n,kind", DET_CASES, ids=[f"{n}-{k}" for n, k in DET_CASES])
def test_det_gradient_at_singular_matrices(n, kind):
    A = _singular(n, kind)
    want = torch.func.grad(torch.linalg.det)(tt(A)).numpy()
    atol = 1e-13 * _cofactor_scale(A)
    if kind in ("int_dup", "rank_n-2", "zeros"):  # integer matrices: the exact cofactors too
        close(want, _exact_cofactor(A), 0, atol, what="torch vs exact")
    g = ad.grad(ad.linalg.det)(T(A))
    close(N(g), want, 1e-12, atol, what="grad")
    close(N(ad.jacrev(ad.linalg.det)(T(A))), want, 1e-12, atol, what="jacrev")
    close(N(ad.jacfwd(ad.linalg.det)(T(A))), want, 1e-12, atol, what="jacfwd")
    # the JVP is <cofactor, tangent> (torch.func's forward rule gives 0 at singular
    # matrices, so its own jvp is not the reference here)
    v = np.random.default_rng(5).standard_normal((n, n))
    _, tj = ad.jvp(ad.linalg.det, (T(A),), (T(v),))
    close(N(tj), np.sum(want * v), 1e-12, atol * n, what="jvp")


@pytest.mark.parametrize("n", [5, 6])
def test_det_gradient_singular_batched_and_vmap(n):
    As = np.stack([_singular(n, k) for k in ("int_dup", "zero_row", "rank_n-2", "normal")])
    want = torch.func.vmap(torch.func.grad(torch.linalg.det))(tt(As)).numpy()
    scale = max(_cofactor_scale(A) for A in As)
    close(N(ad.vmap(ad.grad(ad.linalg.det))(T(As))), want, 1e-12, 1e-13 * scale, what="vmap(grad)")
    # the det primitive batched over leading dims
    ct = np.arange(1.0, 5.0)
    close(N(ad.vjp(ad.linalg.det, T(As))[1](T(ct))[0]), want * ct[:, None, None], 1e-12, 1e-12 * scale)


@pytest.mark.parametrize("n,kind", [(5, "int_dup"), (6, "zero_row"), (6, "rank_n-2"), (5, "normal"),
                                    (7, "int_dup")])
def test_det_hessian_at_singular_matrices(n, kind):
    A = _singular(n, kind)
    want = torch.func.hessian(torch.linalg.det)(tt(A)).numpy()
    scale = max(1.0, np.abs(want).max())
    for mode in ("hessian", "jacrev(jacrev)", "jacfwd(jacfwd)"):
        close(N(MODES[mode](ad.linalg.det)(T(A))), want, 1e-11, 1e-12 * scale, what=mode)


def test_det_gradient_of_non_finite_matrices_is_nan():
    # (the SVD behind the k > 4 cofactors would not converge: no error, nan; torch raises
    # "linalg.svd: ... non-finite values" here)
    A = np.random.default_rng(4).standard_normal((3, 6, 6))
    A[1, 2, 2], A[2, 0, 5] = np.nan, np.inf
    with np.errstate(all="ignore"):
        g = N(ad.vmap(ad.grad(ad.linalg.det))(T(A)))
    assert np.isnan(g[1:]).all()
    close(g[0], torch.func.grad(torch.linalg.det)(tt(A[0])).numpy(), 1e-12, 1e-12)


def test_det_gradient_complex_large():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))
    A[4] = A[1] * (1 - 2j)
    # holomorphic: the VJP of 1 is the cofactor matrix itself (no conjugate, as JAX)
    want = torch.func.vjp(torch.linalg.det, tt(A))[1](torch.tensor(1.0 + 0j))[0].numpy().conj()
    got = N(ad.vjp(ad.linalg.det, T(A))[1](T(1.0 + 0j))[0])
    close(got, want, 1e-11, 1e-12 * np.abs(want).max())


# ---------------------------------------------------------------------------------------
# 12. logsumexp of empty and infinite inputs
# ---------------------------------------------------------------------------------------
INF = np.inf
LSE_POINTS = [[INF, 1.0], [-INF, -INF], [-INF, 1.0], [INF, INF], [-INF, INF], [1.0, 2.0], [np.nan, 1.0],
              [-1000.0, -1000.5], [800.0, 799.0]]


@pytest.mark.parametrize("x", LSE_POINTS, ids=str)
def test_logsumexp_edges_vs_torch(x):
    want = torch.logsumexp(tt(x), 0).numpy()
    same(N(ad.logsumexp(T(x))), want)
    # derivatives: the same values as torch's, nan where torch's are nan
    with np.errstate(all="ignore"):
        g = N(ad.grad(ad.logsumexp)(T(x)))
        j = N(ad.jvp(ad.logsumexp, (T(x),), (T(np.ones(len(x))),))[1])
    tg = torch.func.grad(lambda t: torch.logsumexp(t, 0))(tt(x)).numpy()
    tj = torch.func.jvp(lambda t: torch.logsumexp(t, 0), (tt(x),), (torch.ones(len(x)),))[1].numpy()
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-12)  # nan where torch has nan
    np.testing.assert_allclose(j, tj, rtol=1e-12, atol=1e-12)


def test_logsumexp_empty():
    same(N(ad.logsumexp(ad.zeros(0))), -INF)
    same(N(ad.logsumexp(ad.zeros((0, 3)), axis=0)), np.full(3, -INF))
    same(N(ad.logsumexp(ad.zeros((0, 3)), axis=0, keepdims=True)), np.full((1, 3), -INF))
    same(N(ad.logsumexp(ad.zeros((3, 0)), axis=1)), torch.logsumexp(torch.zeros(3, 0), 1).numpy())
    same(N(ad.logsumexp(ad.zeros((3, 0)), axis=0)), np.zeros(0))
    g = ad.grad(ad.logsumexp)(ad.zeros(0))
    assert g.shape == (0,)
    j = ad.jacrev(lambda t: ad.logsumexp(t, axis=1))(ad.zeros((3, 0)))
    assert j.shape == (3, 3, 0)


def test_logsumexp_rows_with_infinities_vmap_and_axis():
    x = np.array([[INF, 1.0, 0.0], [-INF, -INF, -INF], [0.5, -INF, 2.0], [1.0, 2.0, 3.0]])
    want = torch.logsumexp(tt(x), 1).numpy()
    same(N(ad.logsumexp(T(x), axis=1)), want)
    same(N(ad.vmap(ad.logsumexp)(T(x))), want)
    same(N(ad.logsumexp(T(x), axis=-1, keepdims=True)), want[:, None])
    # the finite rows keep exact derivatives (vs torch) next to the infinite ones
    with np.errstate(all="ignore"):
        g = N(ad.vmap(ad.grad(ad.logsumexp))(T(x)))
    tg = torch.func.vmap(torch.func.grad(lambda t: torch.logsumexp(t, 0)))(tt(x)).numpy()
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-12)
    h = N(ad.hessian(ad.logsumexp)(T(x[3])))
    close(h, torch.func.hessian(lambda t: torch.logsumexp(t, 0))(tt(x[3])).numpy())


# ---------------------------------------------------------------------------------------
# 13. integer casts; subgradients at singular points (torch's)
# ---------------------------------------------------------------------------------------
def test_integer_cast_jacfwd_is_integer_zeros_like_torch():
    x = np.array([1.5, 2.5, -0.5])
    want = torch.func.jacfwd(lambda t: t.to(torch.int64))(tt(x))
    for f in (lambda t: ad.astype(t, np.int64), lambda t: t.astype(int), lambda t: ad.astype(t, np.int32)):
        j = ad.jacfwd(f)(T(x))
        assert j.dtype.kind == "i"
        same(N(j), want.numpy())
        _, tj = ad.jvp(f, (T(x),), (T(np.ones(3)),))
        same(N(tj), np.zeros(3))


@pytest.mark.parametrize("case", ["jacrev", "vjp", "jacrev_sum", "jacrev_pair", "vmap_jacrev", "tape"])
def test_integer_cast_reverse_mode_raises_like_torch(case):
    # torch.func.vjp / jacrev raise for integer outputs (checked here, so that a change in
    # torch shows up); gpuad raises GpuadTypeError naming the function and the argument
    with pytest.raises(RuntimeError, match="floating-point or complex"):
        torch.func.jacrev(lambda t: t.to(torch.int64))(tt([1.5, 2.5]))
    x = T([1.5, 2.5])
    run = {
        "jacrev": lambda: ad.jacrev(lambda t: ad.astype(t, np.int64))(x),
        "vjp": lambda: ad.vjp(lambda t: t.astype(int), x)[1](ad.ones(2, dtype=np.int64)),
        "jacrev_sum": lambda: ad.jacrev(lambda t: ad.sum(ad.astype(t, np.int64) * 2))(x),
        "jacrev_pair": lambda: ad.jacrev(lambda t: (ad.astype(t, np.int64), t * 2.0))(x),
        "vmap_jacrev": lambda: ad.vmap(ad.jacrev(lambda t: ad.astype(t, np.int64)))(T([[1.5], [2.5]])),
        "tape": lambda: ad.astype(ad.tensor([1.5, 2.5], requires_grad=True), np.int64).backward(np.ones(2, np.int64)),
    }[case]
    with pytest.raises(ad.GpuadTypeError, match=r"(?s)vjp.*astype.*'dtype'"):
        run()
    assert isinstance(ad.GpuadTypeError("x"), TypeError)
    # nothing left behind: transforms work afterwards
    close(N(ad.jacrev(ad.sin)(x)), np.diag(np.cos([1.5, 2.5])))


def test_integer_cast_inside_float_function_matches_torch():
    x = np.array([1.5, 2.5, -0.5])
    f = lambda t: ad.astype(t, np.int64) * t  # noqa: E731
    tf = lambda t: t.to(torch.int64) * t  # noqa: E731
    want = torch.func.jacrev(tf)(tt(x)).numpy()
    close(N(ad.jacrev(f)(T(x))), want)
    close(N(ad.jacfwd(f)(T(x))), want)
    close(N(ad.grad(lambda t: ad.sum(f(t)))(T(x))), torch.func.grad(lambda t: tf(t).sum())(tt(x)).numpy())
    # the float <-> complex casts keep their derivative
    close(N(ad.grad(lambda t: ad.sum(ad.abs(ad.astype(t, np.complex128))))(T(x))), np.sign(x))


NORM_ORDS = [3.0, 0.5, -1.0, 1.5, 2.5, 4.0, 1.0, 2.0, INF, -INF]
NORM_POINTS = [[0.0, 0.0, 0.0], [0.0, 1.0, -2.0], [3.0, -1.0, 2.0]]


@pytest.mark.parametrize("p", NORM_ORDS, ids=str)
@pytest.mark.parametrize("x", NORM_POINTS, ids=str)
def test_vector_norm_subgradients_vs_torch(p, x):
    f = lambda t: ad.linalg.norm(t, ord=p)  # noqa: E731
    tf = lambda t: torch.linalg.vector_norm(t, ord=p)  # noqa: E731
    close(N(f(T(x))), tf(tt(x)).numpy())
    want = torch.func.grad(tf)(tt(x)).numpy()
    close(N(ad.grad(f)(T(x))), want, what="grad")
    close(N(ad.jacfwd(f)(T(x))), want, what="jacfwd")
    v = np.array([1.0, 0.5, 0.25])
    close(N(ad.jvp(f, (T(x),), (T(v),))[1]), np.dot(want, v), what="jvp")
    if 0.0 not in x:
        close(N(ad.hessian(f)(T(x))), torch.func.hessian(tf)(tt(x)).numpy(), 1e-10, 1e-10, what="hessian")


def test_norm_ord3_at_zero_rows_under_vmap():
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [0.0, 3.0, 0.0]])
    want = torch.func.vmap(torch.func.grad(lambda t: torch.linalg.vector_norm(t, ord=3)))(tt(x)).numpy()
    close(N(ad.vmap(ad.grad(lambda t: ad.linalg.norm(t, ord=3)))(T(x))), want)
    close(N(ad.grad(lambda t: ad.sum(ad.linalg.norm(t, ord=3, axis=1)))(T(x))), want)


def test_atan2_at_origin():
    y0, x0 = T(0.0), T(0.0)
    want = torch.func.grad(torch.atan2, argnums=(0, 1))(torch.tensor(0.0), torch.tensor(0.0))
    got = ad.grad(ad.atan2, argnums=(0, 1))(y0, x0)
    for g, w in zip(got, want):
        same(N(g), w.numpy())
    # the JVP agrees with that gradient (torch's forward rule gives nan here)
    _, tj = ad.jvp(ad.atan2, (y0, x0), (T(1.0), T(1.0)))
    same(N(tj), 0.0)
    # elsewhere unchanged; a vector with an origin entry, forward and reverse, vmap
    y, x = np.array([0.0, 1.0, -2.0]), np.array([0.0, 0.5, 3.0])
    wy, wx = torch.func.jacrev(torch.atan2, argnums=(0, 1))(tt(y), tt(x))
    for jac in (ad.jacrev, ad.jacfwd):
        jy, jx = jac(ad.atan2, argnums=(0, 1))(T(y), T(x))
        close(N(jy), wy.numpy())
        close(N(jx), wx.numpy())
    gy = ad.vmap(ad.grad(ad.atan2))(T(y), T(x))
    close(N(gy), np.diag(wy.numpy()))


def test_clip_at_nan():
    x = np.array([np.nan, 0.5, -1.0, 2.0, 0.0, 1.0])
    for kw, tkw in [({"min": 0.0, "max": 1.0}, {"min": 0.0, "max": 1.0}), ({"min": 0.0}, {"min": 0.0}),
                    ({"max": 1.0}, {"max": 1.0})]:
        f = lambda t: ad.sum(ad.clip(t, **kw))  # noqa: E731
        tf = lambda t: torch.clip(t, **tkw).sum()  # noqa: E731
        same(N(ad.clip(T(x), **kw)), torch.clip(tt(x), **tkw).numpy())
        want = torch.func.grad(tf)(tt(x)).numpy()
        same(N(ad.grad(f)(T(x))), want)
        same(N(ad.jacfwd(lambda t: ad.clip(t, **kw))(T(x))),
             torch.func.jacfwd(lambda t: torch.clip(t, **tkw))(tt(x)).numpy())
        same(N(ad.vmap(ad.grad(lambda t: ad.clip(t, **kw)))(T(x))), want)
    # tensor bounds: no gradient to them from a nan either
    lo, hi = T(np.zeros(6)), T(np.ones(6))
    gx, glo, ghi = ad.grad(lambda t, a, b: ad.sum(ad.clip(t, a, b)), argnums=(0, 1, 2))(T(x), lo, hi)
    same(N(gx), [0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    same(N(glo), [0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    same(N(ghi), [0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    # integer tensors are untouched
    same(N(ad.clip(ad.tensor([1, 5, -3]), 0, 2)), [1, 2, 0])


def test_new_arguments_are_checked():
    with pytest.raises(ad.GpuadTypeError, match="diag: argument 'k'"):
        ad.diag(T([1.0, 2.0]), k=1.5)
    with pytest.raises(ad.GpuadTypeError, match="diagonal: argument 'offset'"):
        ad.diagonal(T(np.ones((2, 2))), offset="1")
    with pytest.raises(ad.GpuadTypeError, match="linspace: argument 'num'"):
        ad.linspace(T(0.0), 1.0, 2.5)
    with pytest.raises(ad.GpuadValueError, match="linspace: argument 'num'"):
        ad.linspace(T(0.0), 1.0, -1)
