"""ad.linalg decompositions and norms beyond the op-spec table (op_specs_decomp.py): complex
Hermitian inputs under gpuad's conjugation convention, NumPy's tuple results and edge
semantics, argument errors, NumPy dispatch, and the cudasim device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gpuad as ad
from gpuad.errors import GpuadTypeError, GpuadValueError

torch.set_default_dtype(torch.float64)


def T(a, device="cpu"):
    return ad.tensor(np.asarray(a), device=device)


def N(t):
    assert isinstance(t, ad.Tensor), type(t)
    return np.asarray(t.numpy())


def tt(a):
    return torch.as_tensor(np.asarray(a))


def _cplx(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


# --------------------------------------------------------------------------------------
# complex inputs: a real-valued function f of complex Z. gpuad's gradient is the
# conjugate of torch's (docs/transforms.md; JAX's convention), its JVP along D is the
# directional derivative, checked against central differences of the NumPy reference.
# --------------------------------------------------------------------------------------
def _herm(lib, x, pd):
    """x x^H + n I (positive definite) or x + x^H (Hermitian), in each library."""
    n = x.shape[-1]
    if lib == "ad":
        xh = ad.conj(ad.matrix_transpose(x))
        return x @ xh + n * ad.eye(n, dtype=x.dtype) if pd else x + xh
    if lib == "torch":
        xh = x.mH
        return x @ xh + n * torch.eye(n, dtype=x.dtype) if pd else x + xh
    xh = np.conj(np.swapaxes(x, -1, -2))
    return x @ xh + n * np.eye(n) if pd else x + xh


def _lib(lib):
    return {"ad": ad, "torch": torch, "np": np}[lib]


def _mT(lib, x):
    return ad.matrix_transpose(x) if lib == "ad" else x.mT if lib == "torch" else np.swapaxes(x, -1, -2)


def _la(lib):
    return {"ad": ad.linalg, "torch": torch.linalg, "np": np.linalg}[lib]


def _w(lib, w):
    return T(w) if lib == "ad" else tt(w) if lib == "torch" else w


def _re(lib, z):
    return ad.real(z) if lib == "ad" else z.real


def _abs2(lib, z):
    return _re(lib, z * _lib(lib).conj(z))


def _f_cholesky(lib, x, W):
    L = _la(lib).cholesky(_herm(lib, x, True))
    return _lib(lib).sum(_re(lib, L * W) + _abs2(lib, L) * _re(lib, W))


def _f_eigh(lib, x, W):
    w, v = _la(lib).eigh(_herm(lib, x, False))
    m = (v * _lib(lib).sin(w)[..., None, :]) @ _lib(lib).conj(_mT(lib, v))  # gauge-invariant
    return _lib(lib).sum(_re(lib, m * W)) + _lib(lib).sum(_abs2(lib, v) * _re(lib, W)) + \
        _lib(lib).sum(_lib(lib).cos(w))


def _f_eigvalsh(lib, x, W):
    return _lib(lib).sum(_lib(lib).sin(_la(lib).eigvalsh(_herm(lib, x, False))))


def _f_svd(lib, x, W):
    u, s, vh = _la(lib).svd(x, full_matrices=False)
    m = (u * _lib(lib).sin(s)[..., None, :]) @ vh
    return _lib(lib).sum(_re(lib, m * W)) + _lib(lib).sum(_abs2(lib, u) * _re(lib, W[..., :, :u.shape[-1]]))


def _f_svdvals(lib, x, W):
    s = _la(lib).svdvals(x) if lib != "np" else np.linalg.svd(x, compute_uv=False)
    return _lib(lib).sum(s ** 3)


def _f_qr(lib, x, W):
    q, r = _la(lib).qr(x)
    d = _lib(lib).diagonal(r, axis1=-2, axis2=-1) if lib != "torch" else torch.diagonal(r, dim1=-2, dim2=-1)
    ph = d / _lib(lib).abs(d)  # the phases of diag(R) divided out: gauge-free
    q2 = q * ph[..., None, :]
    r2 = r * _lib(lib).conj(ph)[..., :, None]
    return _lib(lib).sum(_re(lib, q2 * W)) + _lib(lib).sum(_re(lib, r2 * W[..., :r.shape[-2], :]))


def _f_slogdet(lib, x, W):
    sign, logabs = _la(lib).slogdet(x)
    return _lib(lib).sum(_re(lib, sign * W[..., 0, 0])) + _lib(lib).sum(logabs)


def _f_pinv(lib, x, W):
    return _lib(lib).sum(_re(lib, _la(lib).pinv(x) * _mT(lib, W)))


def _f_norms(lib, x, W):
    la = _la(lib)
    if lib == "np":
        nuc, fro, two = (np.linalg.norm(x, o, axis=(-2, -1)) for o in ("nuc", "fro", 2))
        vec = np.linalg.norm(x, 3, axis=-1)
    else:
        nuc, fro, two = (la.matrix_norm(x, ord=o) for o in ("nuc", "fro", 2))
        vec = la.vector_norm(x, ord=3, axis=-1)
    return _lib(lib).sum(nuc + fro * two) + _lib(lib).sum(vec)


COMPLEX = {"cholesky": (_f_cholesky, (2, 3, 3)), "eigh": (_f_eigh, (2, 3, 3)),
           "eigvalsh": (_f_eigvalsh, (3, 3)), "svd": (_f_svd, (2, 4, 3)), "svd_wide": (_f_svd, (3, 4)),
           "svdvals": (_f_svdvals, (3, 4)), "qr": (_f_qr, (2, 4, 3)), "slogdet": (_f_slogdet, (2, 3, 3)),
           "pinv": (_f_pinv, (4, 3)), "norms": (_f_norms, (2, 3, 3))}


@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_derivatives(name):
    import zlib
    f, shape = COMPLEX[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = _cplx(rng, shape)
    if name in ("slogdet",):
        x = x + 3 * np.eye(shape[-1])
    W = _cplx(rng, shape if name not in ("pinv",) else shape)
    D = _cplx(rng, shape)
    val = f("ad", T(x), T(W))
    np.testing.assert_allclose(N(val), f("np", x, W), rtol=1e-10)
    tg = torch.func.grad(lambda z: f("torch", z, tt(W)))(tt(x)).numpy()
    g = ad.grad(lambda z: f("ad", z, T(W)))(T(x))
    np.testing.assert_allclose(N(g), np.conj(tg), rtol=1e-8, atol=1e-9, err_msg="grad vs conj(torch)")
    eps = 1e-6
    fd = (f("np", x + eps * D, W) - f("np", x - eps * D, W)) / (2 * eps)
    _, jv = ad.jvp(lambda z: f("ad", z, T(W)), (T(x),), (T(D),))
    np.testing.assert_allclose(N(jv), fd, rtol=1e-6, atol=1e-7, err_msg="jvp vs finite differences")
    # the transposed rule and the JVP agree: <grad, D> (JAX's pairing, no conjugate) = JVP
    np.testing.assert_allclose(np.real(np.sum(N(g) * D)), N(jv), rtol=1e-8, atol=1e-9)


def test_complex_hermitian_values_match_numpy(rng):
    x = _cplx(rng, (2, 3, 3))
    h = x @ np.conj(np.swapaxes(x, -1, -2)) + 3 * np.eye(3)
    np.testing.assert_allclose(N(ad.linalg.cholesky(T(h))), np.linalg.cholesky(h), rtol=1e-12)
    w, v = ad.linalg.eigh(T(h))
    assert w.dtype == np.float64 and v.dtype == np.complex128
    np.testing.assert_allclose(N(w), np.linalg.eigvalsh(h), rtol=1e-12)
    vv = N(v)
    np.testing.assert_allclose(vv @ (N(w)[..., None] * np.conj(np.swapaxes(vv, -1, -2))), h, atol=1e-12)
    sign, logabs = ad.linalg.slogdet(T(x))
    s0, l0 = np.linalg.slogdet(x)
    np.testing.assert_allclose(N(sign), s0, rtol=1e-12)
    np.testing.assert_allclose(N(logabs), l0, rtol=1e-12)
    assert logabs.dtype == np.float64
    assert ad.linalg.svdvals(T(x)).dtype == np.float64
    np.testing.assert_allclose(N(ad.linalg.norm(T(x[0]), "nuc")), np.linalg.norm(x[0], "nuc"), rtol=1e-12)


# --------------------------------------------------------------------------------------
# NumPy semantics
# --------------------------------------------------------------------------------------
def test_norm_follows_numpy_on_matrices():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(ad.linalg.norm(T(a), ord=1).item()) == 6.0  # a column sum, not the flattened 1-norm
    for o in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        np.testing.assert_allclose(N(ad.linalg.norm(T(a), ord=o)), np.linalg.norm(a, ord=o), rtol=1e-12)
        np.testing.assert_allclose(N(ad.linalg.norm(T(a), ord=o, keepdims=True)),
                                   np.linalg.norm(a, ord=o, keepdims=True), rtol=1e-12)
    b = np.arange(24.0).reshape(2, 3, 4) - 11
    for o in ("fro", "nuc", 1, 2, np.inf):
        for ax in ((0, 2), (2, 1), (-1, 0)):
            np.testing.assert_allclose(N(ad.linalg.norm(T(b), ord=o, axis=ax)),
                                       np.linalg.norm(b, ord=o, axis=ax), rtol=1e-10)
    assert N(ad.linalg.norm(T(b), keepdims=True)).shape == (1, 1, 1)
    np.testing.assert_allclose(N(ad.linalg.norm(T(b))), np.linalg.norm(b), rtol=1e-12)


def test_tuple_results_and_shapes(rng):
    x = rng.standard_normal((2, 5, 3))
    u, s, vh = ad.linalg.svd(T(x))  # full_matrices=True by default, as NumPy
    assert (u.shape, s.shape, vh.shape) == ((2, 5, 5), (2, 3), (2, 3, 3))
    u0, s0, vh0 = np.linalg.svd(x)
    np.testing.assert_allclose(np.abs(N(u)), np.abs(u0), atol=1e-10)
    np.testing.assert_allclose(N(ad.linalg.svd(T(x), compute_uv=False)), s0, rtol=1e-12)
    q, r = ad.linalg.qr(T(x), mode="complete")
    assert q.shape == (2, 5, 5) and r.shape == (2, 5, 3)
    np.testing.assert_allclose(N(q) @ N(r), x, atol=1e-12)
    assert ad.linalg.qr(T(x), mode="r").shape == (2, 3, 3)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    got = ad.linalg.lstsq(T(a), T(b))
    want = np.linalg.lstsq(a, b)
    for g, w in zip(got, want):
        np.testing.assert_allclose(N(g), w, rtol=1e-10, atol=1e-12)
    assert got[2].dtype == np.int64 and got[2].shape == ()
    # rank-deficient: NumPy returns empty residuals (eager, the rank is known)
    a2 = np.c_[a[:, :2], a[:, :1] + a[:, 1:2]]
    got2, want2 = ad.linalg.lstsq(T(a2), T(b)), np.linalg.lstsq(a2, b)
    assert N(got2[1]).shape == want2[1].shape == (0,) and int(got2[2].item()) == want2[2] == 2
    np.testing.assert_allclose(N(got2[0]), want2[0], rtol=1e-8, atol=1e-10)
    # a 1-D b gives residuals of shape (1,)
    got3, want3 = ad.linalg.lstsq(T(a), T(b[:, 0])), np.linalg.lstsq(a, b[:, 0])
    np.testing.assert_allclose(N(got3[1]), want3[1], rtol=1e-10)


def test_matrix_power_zero_and_pinv_rtol(rng):
    x = rng.standard_normal((2, 3, 3))
    np.testing.assert_array_equal(N(ad.linalg.matrix_power(T(x), 0)), np.linalg.matrix_power(x, 0))
    j = ad.jacfwd(lambda t: ad.linalg.matrix_power(t, 0))(T(x[0]))
    np.testing.assert_array_equal(N(j), np.zeros((3, 3, 3, 3)))
    a = rng.standard_normal((4, 2)) @ rng.standard_normal((2, 3))  # rank 2
    for kw in ({}, {"rcond": 1e-8}, {"rtol": None}, {"rtol": 1e-6}):
        np.testing.assert_allclose(N(ad.linalg.pinv(T(a), **kw)), np.linalg.pinv(a, **kw), atol=1e-10)


def test_degenerate_spectra_keep_finite_value_derivatives():
    """eigvalsh, svdvals and pinv have rules that do not divide by eigen/singular gaps."""
    eye = np.eye(3)
    g = ad.grad(lambda a: ad.sum(ad.linalg.eigvalsh(a)))(T(eye))
    np.testing.assert_allclose(N(g), eye, atol=1e-12)  # d trace = I
    g = ad.grad(lambda a: ad.linalg.matrix_norm(a, ord="nuc"))(T(2 * eye))
    np.testing.assert_allclose(N(g), eye, atol=1e-12)
    g = ad.jacrev(lambda a: ad.linalg.pinv(a))(T(2 * eye))
    want = torch.func.jacrev(torch.linalg.pinv)(tt(2 * eye)).numpy()
    np.testing.assert_allclose(N(g), want, atol=1e-12)


def test_jacobian_modes_agree_with_torch_batched(rng):
    """vmap(jacrev) and jacfwd of an eigh / svd / qr composite against torch.func."""
    x = rng.standard_normal((2, 3, 3))

    def f(lib):
        def g(a):
            s = a + _mT(lib, a)
            w, v = _la(lib).eigh(s)
            q, r = _la(lib).qr(a)
            sv = _la(lib).svdvals(a)
            return _lib(lib).sum(v ** 2 * w[..., None, :], -1) + sv + _lib(lib).abs(
                _lib(lib).diagonal(r, axis1=-2, axis2=-1) if lib != "torch" else torch.diagonal(r))
        return g

    want = torch.func.vmap(torch.func.jacrev(f("torch")))(tt(x)).numpy()
    np.testing.assert_allclose(N(ad.vmap(ad.jacrev(f("ad")))(T(x))), want, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(N(ad.vmap(ad.jacfwd(f("ad")))(T(x))), want, rtol=1e-9, atol=1e-10)


def test_jit_runs_decompositions(rng):
    x = rng.standard_normal((2, 3, 3))
    f = lambda a: ad.linalg.slogdet(a)[1] + ad.sum(ad.linalg.eigvalsh(a + ad.matrix_transpose(a)), -1)  # noqa
    jf = ad.jit(ad.vmap(ad.grad(lambda a: ad.sum(f(a)))))
    want = ad.vmap(ad.grad(lambda a: ad.sum(f(a))))(T(x))
    np.testing.assert_allclose(N(jf(T(x))), N(want), rtol=1e-10)


# --------------------------------------------------------------------------------------
# errors name the function and the argument
# --------------------------------------------------------------------------------------
ERRORS = [
    (lambda: ad.linalg.cholesky(T(np.ones((2, 3)))), GpuadValueError, "linalg.cholesky: argument 'a'"),
    (lambda: ad.linalg.cholesky(T(-np.eye(2))), GpuadValueError, "linalg.cholesky: argument 'a'"),
    (lambda: ad.linalg.eigh(T(np.ones((2, 3)))), GpuadValueError, "linalg.eigh: argument 'a'"),
    (lambda: ad.linalg.eigh(T(np.eye(2)), UPLO="X"), GpuadValueError, "linalg.eigh: argument 'UPLO'"),
    (lambda: ad.linalg.eigvalsh(T(np.eye(2)), UPLO=1), GpuadValueError, "linalg.eigvalsh: argument 'UPLO'"),
    (lambda: ad.linalg.norm(T(np.eye(2)), ord="bad"), GpuadValueError, "linalg.norm: argument 'ord'"),
    (lambda: ad.linalg.norm(T(np.eye(2)), ord=3), GpuadValueError, "linalg.norm: argument 'ord'"),
    (lambda: ad.linalg.norm(T(np.ones(3)), ord="fro"), GpuadValueError, "linalg.norm: argument 'ord'"),
    (lambda: ad.linalg.norm(T(np.ones((2, 2, 2))), ord=1), GpuadValueError, "linalg.norm: argument 'ord'"),
    (lambda: ad.linalg.norm(T(np.ones((2, 2, 2))), axis=(0, 1, 2)), GpuadValueError,
     "linalg.norm: argument 'axis'"),
    (lambda: ad.linalg.matrix_norm(T(np.eye(2)), ord=3), GpuadValueError, "linalg.matrix_norm: argument 'ord'"),
    (lambda: ad.linalg.matrix_norm(T(np.ones(2))), GpuadValueError, "linalg.matrix_norm: argument 'x'"),
    (lambda: ad.linalg.vector_norm(T(np.ones(2)), ord="fro"), GpuadValueError,
     "linalg.vector_norm: argument 'ord'"),
    (lambda: ad.linalg.qr(T(np.eye(2)), mode="raw"), GpuadValueError, "linalg.qr: argument 'mode'"),
    (lambda: ad.linalg.svd(T(np.ones(3))), GpuadValueError, "linalg.svd: argument 'a'"),
    (lambda: ad.linalg.slogdet(T(np.ones((2, 3)))), GpuadValueError, "linalg.slogdet: argument 'a'"),
    (lambda: ad.linalg.matrix_power(T(np.eye(2)), 1.5), GpuadTypeError, "linalg.matrix_power: argument 'n'"),
    (lambda: ad.linalg.matrix_power(T(np.ones((2, 3))), 2), GpuadValueError, "linalg.matrix_power: argument 'a'"),
    (lambda: ad.linalg.pinv(T(np.eye(2)), rcond=1e-3, rtol=1e-3), GpuadValueError, "linalg.pinv"),
    (lambda: ad.linalg.lstsq(T(np.ones((2, 2, 2))), T(np.ones(2))), GpuadValueError,
     "linalg.lstsq: argument 'a'"),
    (lambda: ad.linalg.lstsq(T(np.eye(3)), T(np.ones(2))), GpuadValueError, "linalg.lstsq: argument 'b'"),
    # derivatives that are not defined raise instead of returning arbitrary numbers
    (lambda: ad.jacfwd(lambda a: ad.linalg.svd(a)[0])(T(np.ones((3, 2)) + np.eye(3, 2))), GpuadValueError,
     "linalg.svd: the derivative with argument 'full_matrices=True'"),
    (lambda: ad.jacrev(lambda a: ad.linalg.qr(a)[1])(T(np.ones((2, 3)) + np.eye(2, 3))), GpuadValueError,
     "linalg.qr: the derivative"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors(i):
    call, exc, msg = ERRORS[i]
    with pytest.raises(exc) as e:
        call()
    assert msg in str(e.value)


# --------------------------------------------------------------------------------------
# NumPy dispatch: np.linalg.X on gpuad tensors runs gpuad's X
# --------------------------------------------------------------------------------------
def test_numpy_dispatch(rng):
    x = rng.standard_normal((4, 3))
    sq = x[:3] @ x[:3].T + 3 * np.eye(3)
    t, tsq = T(x), T(sq)
    calls = [
        (lambda m: np.linalg.svd(m, full_matrices=False), t, x),
        (lambda m: np.linalg.svdvals(m), t, x),
        (lambda m: np.linalg.qr(m), t, x),
        (lambda m: np.linalg.pinv(m), t, x),
        (lambda m: np.linalg.norm(m, ord=1), t, x),
        (lambda m: np.linalg.norm(m, ord="nuc"), t, x),
        (lambda m: np.linalg.matrix_norm(m, ord=2), t, x),
        (lambda m: np.linalg.vector_norm(m, ord=3, axis=0), t, x),
        (lambda m: np.linalg.cholesky(m), tsq, sq),
        (lambda m: np.linalg.eigh(m), tsq, sq),
        (lambda m: np.linalg.eigvalsh(m, UPLO="U"), tsq, sq),
        (lambda m: np.linalg.slogdet(m), tsq, sq),
        (lambda m: np.linalg.matrix_power(m, 3), tsq, sq),
        (lambda m: np.linalg.lstsq(m, m[:, 0]), t, x),
    ]
    for call, arg, ref in calls:
        got, want = call(arg), call(ref)
        if isinstance(want, tuple):
            assert isinstance(got, tuple) and len(got) == len(want)
        else:
            got, want = (got,), (want,)
        for g, w in zip(got, want):
            assert isinstance(g, ad.Tensor), (call, type(g))
            np.testing.assert_allclose(np.abs(N(g)), np.abs(w), rtol=1e-10, atol=1e-12)
    # differentiable through the protocol
    g = ad.grad(lambda m: np.linalg.slogdet(m)[1])(tsq)
    np.testing.assert_allclose(N(g), np.linalg.inv(sq).T, rtol=1e-10)


# --------------------------------------------------------------------------------------
# cudasim: the device path (xp = the strict CuPy stand-in), tiny shapes, agrees with cpu
# --------------------------------------------------------------------------------------
SIM_FNS = {
    "cholesky": lambda a: ad.linalg.cholesky(a @ ad.matrix_transpose(a) + 2 * ad.eye(2, device=a.device)),
    "eigh": lambda a: ad.linalg.eigh(a + ad.matrix_transpose(a))[1] ** 2,
    "eigvalsh": lambda a: ad.linalg.eigvalsh(a + ad.matrix_transpose(a)),
    "svd": lambda a: ad.linalg.svd(a, full_matrices=False)[0] ** 2,
    "svdvals": lambda a: ad.linalg.svdvals(a),
    "qr": lambda a: ad.abs(ad.linalg.qr(a)[1]),
    "slogdet": lambda a: ad.linalg.slogdet(a + 3 * ad.eye(2, device=a.device))[1],
    "pinv": lambda a: ad.linalg.pinv(a),
    "norm nuc": lambda a: ad.linalg.norm(a, "nuc", axis=(-2, -1)),
    "matrix_power": lambda a: ad.linalg.matrix_power(a, 3),
}


@pytest.mark.cudasim
@pytest.mark.parametrize("name", sorted(SIM_FNS))
def test_cudasim_matches_cpu(name, rng):
    from gpuad import launches
    f = SIM_FNS[name]
    x = rng.standard_normal((2, 2, 2))
    v = rng.standard_normal(x.shape)
    outs = {}
    for dev in ("cpu", "cudasim"):
        xt, vt = T(x, dev), T(v, dev)
        ct = ad.ones((2, 2) if name in ("eigvalsh", "svdvals", "slogdet", "norm nuc") else (2, 2, 2),
                     device=dev)
        ct = ct[0] if name == "slogdet" or name == "norm nuc" else ct
        for _ in range(2):  # the first call copies the rules' Python scalars to the device, once
            with launches.count_launches() as c:
                out, jv = ad.jvp(f, (xt,), (vt,))
                _, pull = ad.vjp(f, xt)
                (g,) = pull(ct)
        assert out.device == dev and g.device == dev
        if dev == "cudasim":
            assert c.transfers == 0, f"{name}: host round-trips on cudasim {c.by_transfer}"
        outs[dev] = (N(out), N(jv), N(g))
    for a, b in zip(outs["cpu"], outs["cudasim"]):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------
# gpuad's Jacobi eigh kernel (one thread per matrix, real k <= 4) on cudasim
# --------------------------------------------------------------------------------------
@pytest.mark.cudasim
@pytest.mark.parametrize("k", (1, 2, 3, 4))
@pytest.mark.parametrize("dt", (np.float32, np.float64))
def test_eigh_kernel_matches_lapack(k, dt, rng):
    from gpuad import kernels
    x = rng.standard_normal((5, k, k))
    a = (x + np.swapaxes(x, -1, -2)).astype(dt)
    a[0] = np.tril(a[0])  # only the UPLO triangle is read
    tol = dict(rtol=1e-5, atol=1e-5) if dt == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for uplo in ("L", "U"):
        kernels.stats.reset()
        w, v = ad.linalg.eigh(T(a, "cudasim"), UPLO=uplo)
        assert kernels.stats.launches["eigh"] == 1 and kernels.stats.launches["linalg_library"] == 0
        assert w.dtype == dt and v.dtype == dt
        w0, v0 = np.linalg.eigh(a.astype(np.float64), UPLO=uplo)
        np.testing.assert_allclose(N(w), w0, **tol)
        vv = N(v).astype(np.float64)
        np.testing.assert_allclose(vv @ (N(w)[..., None] * np.swapaxes(vv, -1, -2)),
                                   v0 @ (w0[..., None] * np.swapaxes(v0, -1, -2)), **tol)
        np.testing.assert_allclose(np.swapaxes(vv, -1, -2) @ vv, np.broadcast_to(np.eye(k), vv.shape), **tol)
        np.testing.assert_allclose(np.abs(vv), np.abs(v0), **tol)  # the same vectors up to sign


@pytest.mark.cudasim
def test_eigh_kernel_repeated_and_diagonal_inputs():
    from gpuad import kernels
    a = np.stack([np.eye(3), np.diag([3.0, 1.0, 2.0]), np.zeros((3, 3)), np.full((3, 3), 1.0)])
    kernels.stats.reset()
    w, v = ad.linalg.eigh(T(a, "cudasim"))
    assert kernels.stats.launches["eigh"] == 1
    np.testing.assert_allclose(N(w), np.linalg.eigvalsh(a), atol=1e-14)
    vv = N(v)
    np.testing.assert_allclose(vv @ (N(w)[..., None] * np.swapaxes(vv, -1, -2)), a, atol=1e-14)


@pytest.mark.cudasim
def test_eigh_kernel_derivatives_and_fallbacks(rng):
    """Derivatives through the kernel agree with cpu; complex and k > 4 use the library."""
    from gpuad import kernels
    x = rng.standard_normal((3, 3, 3))
    f = lambda a: ad.sum(ad.linalg.eigh(a + ad.matrix_transpose(a))[1] ** 2 * ad.arange(3.0, device=a.device))  # noqa
    g_sim = ad.vmap(ad.grad(f))(T(x, "cudasim"))
    g_cpu = ad.vmap(ad.grad(f))(T(x))
    np.testing.assert_allclose(N(g_sim), N(g_cpu), rtol=1e-10, atol=1e-11)
    kernels.stats.reset()
    ad.linalg.eigh(T(x[0] + 1j * x[1], "cudasim"))
    ad.linalg.eigh(T(rng.standard_normal((2, 5, 5)), "cudasim"))
    assert kernels.stats.launches["eigh"] == 0
