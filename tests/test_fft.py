"""ad.fft and the complex parts (imag, angle, real) on complex inputs and outputs, which
the op-spec table (real in, real out: tests/op_specs_fft.py) cannot express.

The oracle is torch.func in float64. gpuad follows JAX's convention for complex
derivatives (VJPs are transposes under the pairing Re(sum(a * b))), torch the conjugate
one, so for every function: ``ad.jvp == torch.func.jvp`` and
``ad.vjp(ct) == conj(torch.func.vjp(conj(ct)))``; and against central finite differences,
``Re<ct, J v> == Re<vjp(ct), v>``. Each case also runs under vmap, on cudasim (tiny
shapes, no host round trip) and on cuda where a GPU is present (cuFFT through CuPy).
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import gpuad as ad
from gpuad.errors import GpuadAxisError, GpuadTypeError, GpuadValueError

torch.set_default_dtype(torch.float64)

DEVICES = ["cpu", pytest.param("cudasim", marks=pytest.mark.cudasim),
           pytest.param("cuda", marks=pytest.mark.cuda)]
EPS = 1e-6


def C(*shape):
    return lambda rng: rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)


def R(*shape):
    return lambda rng: rng.uniform(-1, 1, shape)


def away(*shape):  # complex values with |re|, |im| >= 0.3 (angle's derivative is smooth there)
    def gen(rng):
        s = lambda: rng.uniform(0.3, 1.0, shape) * rng.choice([-1.0, 1.0], shape)  # noqa: E731
        return s() + 1j * s()
    return gen


F, TF = (lambda: ad.fft), torch.fft
# name -> (gpuad function, torch function, input generator)
CASES = {
    "fft": (lambda z: F().fft(z), TF.fft, C(6)),
    "fft[5,3]n=8,axis=0,ortho": (lambda z: F().fft(z, 8, axis=0, norm="ortho"),
                                 lambda z: TF.fft(z, 8, dim=0, norm="ortho"), C(5, 3)),
    "fft(real)": (lambda x: F().fft(x), TF.fft, R(6)),
    "ifft[6]n=4,forward": (lambda z: F().ifft(z, 4, norm="forward"), lambda z: TF.ifft(z, 4, norm="forward"),
                           C(6)),
    "fft2": (lambda z: F().fft2(z), TF.fft2, C(3, 4)),
    "ifft2s=(2,5)": (lambda z: F().ifft2(z, s=(2, 5)), lambda z: TF.ifft2(z, s=(2, 5)), C(3, 4)),
    "fftn axes=(0,2)": (lambda z: F().fftn(z, axes=(0, 2)), lambda z: TF.fftn(z, dim=(0, 2)), C(2, 3, 4)),
    "ifftn ortho": (lambda z: F().ifftn(z, norm="ortho"), lambda z: TF.ifftn(z, norm="ortho"), C(2, 3, 2)),
    "rfft": (lambda x: F().rfft(x), TF.rfft, R(7)),
    "rfft[3,7]n=6,forward": (lambda x: F().rfft(x, 6, norm="forward"), lambda x: TF.rfft(x, 6, norm="forward"),
                             R(3, 7)),
    "rfftn axes=(1,0)": (lambda x: F().rfftn(x, axes=(1, 0)), lambda x: TF.rfftn(x, dim=(1, 0)), R(4, 5)),
    "rfft2 s=(3,6)": (lambda x: F().rfft2(x, s=(3, 6)), lambda x: TF.rfft2(x, s=(3, 6)), R(4, 5)),
    "irfft": (lambda z: F().irfft(z), TF.irfft, C(5)),
    "irfft[2,5]n=7,ortho": (lambda z: F().irfft(z, 7, norm="ortho"), lambda z: TF.irfft(z, 7, norm="ortho"),
                            C(2, 5)),
    "irfft(real)": (lambda x: F().irfft(x), lambda x: TF.irfft(x.to(torch.complex128)), R(5)),
    "irfftn": (lambda z: F().irfftn(z), TF.irfftn, C(3, 4)),
    "irfft2 s=(2,5),forward": (lambda z: F().irfft2(z, s=(2, 5), norm="forward"),
                               lambda z: TF.irfft2(z, s=(2, 5), norm="forward"), C(3, 4)),
    "hfft[5]n=7,ortho": (lambda z: F().hfft(z, 7, norm="ortho"), lambda z: TF.hfft(z, 7, norm="ortho"), C(5)),
    "hfft[3,4]axis=0": (lambda z: F().hfft(z, axis=0), lambda z: TF.hfft(z, dim=0), C(3, 4)),
    "ihfft[6]": (lambda x: F().ihfft(x), TF.ihfft, R(6)),
    "ihfft[7]n=5,forward": (lambda x: F().ihfft(x, 5, norm="forward"), lambda x: TF.ihfft(x, 5, norm="forward"),
                            R(7)),
    "fftshift": (lambda z: F().fftshift(z), TF.fftshift, C(5)),
    "ifftshift axes=0": (lambda z: F().ifftshift(z, axes=0), lambda z: TF.ifftshift(z, dim=0), C(3, 4)),
    "imag": (lambda z: ad.imag(z), torch.imag, C(4)),
    "real": (lambda z: ad.real(z), torch.real, C(4)),
    "angle": (lambda z: ad.angle(z), torch.angle, away(4)),
    "spectral filter": (lambda z: F().ifft(F().fft(z) * F().fftfreq(6)),
                        lambda z: TF.ifft(TF.fft(z) * TF.fftfreq(6)), C(6)),
}
SIM_CASES = ("fft", "fft(real)", "rfft", "irfft", "fftn axes=(0,2)", "irfft2 s=(2,5),forward", "fftshift",
             "imag", "angle")


def _draw(name, salt=0):
    rng = np.random.default_rng(zlib.crc32(f"{name}/{salt}".encode()))
    x = CASES[name][2](rng)
    t = CASES[name][2](rng)
    out = _tn(CASES[name][1](torch.as_tensor(x)))
    ct = rng.standard_normal(out.shape) + (1j * rng.standard_normal(out.shape) if np.iscomplexobj(out) else 0)
    return x, t, ct


def _tn(t):
    """A torch result as NumPy (torch's conj/neg results are lazy views numpy() refuses)."""
    return t.resolve_conj().resolve_neg().detach().numpy()


def _close(got, want, rtol=1e-10, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.iscomplexobj(got) == np.iscomplexobj(want), f"{what}: dtype {got.dtype} vs {want.dtype}"
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


def _params(names):
    out = []
    for n in names:
        for d in DEVICES:
            dev, marks = (d, ()) if isinstance(d, str) else (d.values[0], d.marks)
            if dev != "cpu" and n not in SIM_CASES:
                continue
            out.append(pytest.param(n, dev, marks=marks, id=f"{n}-{dev}"))
    return out


@pytest.mark.parametrize("name,device", _params(CASES))
def test_value_jvp_vjp_against_torch_and_finite_differences(name, device):
    f, tf, _ = CASES[name]
    x, t, ct = _draw(name)
    X = ad.tensor(x, device=device)
    out = f(X)
    want = _tn(tf(torch.as_tensor(x)))
    assert out.device == device and out.dtype == want.dtype
    _close(out.numpy(), want, what="value")
    # forward mode
    o, tout = ad.jvp(f, (X,), (ad.tensor(t, device=device),))
    _, tref = torch.func.jvp(tf, (torch.as_tensor(x),), (torch.as_tensor(t),))
    _close(o.numpy(), want, what="jvp primal")
    _close(tout.numpy(), _tn(tref), what="jvp vs torch.func.jvp")
    fd = (_tn(tf(torch.as_tensor(x + EPS * t))) - _tn(tf(torch.as_tensor(x - EPS * t)))) / (2 * EPS)
    _close(tout.numpy(), fd, 1e-6, what="jvp vs finite differences")
    # reverse mode: the transpose (JAX's convention) = conj(torch's vjp of conj(ct))
    o, vjp_fn = ad.vjp(f, X)
    (g,) = vjp_fn(ad.tensor(ct, device=device))
    assert g.shape == x.shape and g.dtype == x.dtype
    _, tvjp = torch.func.vjp(tf, torch.as_tensor(x))
    (gref,) = tvjp(torch.as_tensor(np.conj(ct)))
    _close(g.numpy(), np.conj(_tn(gref)), what="vjp vs conj(torch.func.vjp(conj(ct)))")
    lhs = np.real(np.sum(ct * fd))
    rhs = np.real(np.sum(g.numpy() * t))
    assert abs(lhs - rhs) <= 1e-6 * (1 + abs(lhs) + np.linalg.norm(ct) * np.linalg.norm(fd)), (lhs, rhs)
    if device != "cpu":
        _close(tout.numpy(), ad.jvp(f, (ad.tensor(x),), (ad.tensor(t),))[1].numpy(), 1e-12, what="jvp vs cpu")
        _close(g.numpy(), ad.vjp(f, ad.tensor(x))[1](ad.tensor(ct))[0].numpy(), 1e-12, what="vjp vs cpu")


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_matches_a_loop(name):
    f, tf, gen = CASES[name]
    rng = np.random.default_rng(3)
    xs = np.stack([gen(rng) for _ in range(3)])
    loop = np.stack([f(ad.tensor(x)).numpy() for x in xs])
    _close(ad.vmap(f)(ad.tensor(xs)).numpy(), loop, 1e-12, what="vmap")
    last = ad.vmap(f, in_dims=-1, out_dims=-1)(ad.tensor(np.moveaxis(xs, 0, -1)))
    _close(last.numpy(), np.moveaxis(loop, 0, -1), 1e-12, what="vmap in_dims=-1")
    # batched jvp and vjp (what jacfwd/jacrev run): a batch of tangents / cotangents
    x, t, ct = _draw(name)
    ts = np.stack([t, 2 * t, -t])
    got = ad.vmap(lambda v: ad.jvp(f, (ad.tensor(x),), (v,))[1])(ad.tensor(ts)).numpy()
    one = ad.jvp(f, (ad.tensor(x),), (ad.tensor(t),))[1].numpy()
    _close(got, np.stack([one, 2 * one, -one]), 1e-12, what="vmap(jvp)")
    _, vjp_fn = ad.vjp(f, ad.tensor(x))
    cts = np.stack([ct, 1j * ct if np.iscomplexobj(ct) else 3 * ct])
    got = ad.vmap(lambda c: vjp_fn(c)[0])(ad.tensor(cts)).numpy()
    _close(got, np.stack([vjp_fn(ad.tensor(c))[0].numpy() for c in cts]), 1e-12, what="vmap(vjp)")


@pytest.mark.parametrize("name", [n for n in CASES if np.isrealobj(CASES[n][2](np.random.default_rng(0)))])
def test_jacobians_of_real_inputs_against_torch(name):
    f, tf, gen = CASES[name]
    x = gen(np.random.default_rng(1))
    J = ad.jacfwd(f)(ad.tensor(x)).numpy()
    # torch.func.jacfwd refuses complex outputs: its Jacobian of the parts
    Jt = torch.func.jacfwd(lambda v: torch.stack([tf(v).real, (-1j * tf(v)).real]))(torch.as_tensor(x)).numpy()
    _close(J, Jt[0] + 1j * Jt[1] if np.iscomplexobj(J) else Jt[0], what="jacfwd")
    # reverse mode on the real and imaginary parts (real outputs)
    parts = lambda v: ad.stack([ad.real(f(v)), ad.imag(f(v))])  # noqa: E731
    Jr = ad.jacrev(parts)(ad.tensor(x)).numpy()
    _close(Jr, np.stack([J.real, J.imag]), what="jacrev of the parts vs jacfwd")
    _close(ad.jit(ad.vmap(ad.jacrev(parts)))(ad.tensor(np.stack([x, -x]))).numpy(),
           np.stack([Jr, Jr]), what="jit(vmap(jacrev))")


def test_gradients_of_real_functions_of_complex_inputs_are_conjugate_to_torch():
    z = C(2, 6)(np.random.default_rng(2))

    def f(z):  # a power spectrum, shifted and weighted, through the complex parts
        y = ad.fft.fftshift(ad.fft.fft2(z, norm="ortho"))
        return ad.sum(ad.abs(y) ** 2 * ad.fft.fftfreq(6) ** 2) + ad.sum(ad.angle(z + 3.0) * ad.imag(z))

    def tf(z):
        y = torch.fft.fftshift(torch.fft.fft2(z, norm="ortho"))
        return torch.sum(torch.abs(y) ** 2 * torch.fft.fftfreq(6) ** 2) + torch.sum(torch.angle(z + 3.0) * z.imag)

    g = ad.grad(f)(ad.tensor(z)).numpy()
    _close(g, np.conj(torch.func.grad(tf)(torch.as_tensor(z)).numpy()), what="grad")
    x = ad.tensor(z, requires_grad=True)
    f(x).backward()
    _close(x.grad.numpy(), g, 1e-12, what="eager tape")
    # Parseval: sum |fft(z, ortho)|^2 = sum |z|^2, so the gradient is 2 conj(z)
    g2 = ad.grad(lambda z: ad.sum(ad.abs(ad.fft.fftn(z, norm="ortho")) ** 2))(ad.tensor(z)).numpy()
    _close(g2, 2 * np.conj(z), what="Parseval gradient")


def test_second_order_through_complex_intermediates():
    x = R(6)(np.random.default_rng(4))
    k = C(4)(np.random.default_rng(5))

    def f(x):  # a filtered power: irfft(rfft(x) * k), then a nonlinearity
        y = ad.fft.irfft(ad.fft.rfft(x) * ad.tensor(k), n=6)
        return ad.sum(ad.sin(y) * y) + ad.sum(ad.abs(ad.fft.fft(x)) ** 3)

    def tf(x):
        y = torch.fft.irfft(torch.fft.rfft(x) * torch.as_tensor(k), n=6)
        return torch.sum(torch.sin(y) * y) + torch.sum(torch.abs(torch.fft.fft(x)) ** 3)

    H = ad.hessian(f)(ad.tensor(x)).numpy()
    _close(H, torch.func.hessian(tf)(torch.as_tensor(x)).numpy(), 1e-9, what="hessian")
    _close(ad.jacrev(ad.jacrev(f))(ad.tensor(x)).numpy(), H, 1e-9, what="jacrev(jacrev)")


@pytest.mark.cudasim
def test_cudasim_vjps_make_no_host_round_trip():
    x = ad.tensor(R(3, 8)(np.random.default_rng(6)), device="cudasim")
    z = ad.tensor(C(3, 5)(np.random.default_rng(7)), device="cudasim")

    def f(x, z):
        return ad.sum(ad.fft.irfft(ad.fft.rfft(x, norm="ortho") * z, n=8) ** 2) + ad.sum(ad.angle(z + 2.0))

    g = ad.jit(ad.grad(f, argnums=(0, 1)))
    for jitted in (ad.grad(f, argnums=(0, 1)), g):
        jitted(x, z)  # the bin weights are copied to the device once
        with ad.count_launches() as c:
            gx, gz = jitted(x, z)
        assert c.transfers == 0, c.by_transfer
        assert gx.device == gz.device == "cudasim"
        want = ad.grad(f, argnums=(0, 1))(ad.tensor(x.numpy()), ad.tensor(z.numpy()))
        _close(gx.numpy(), want[0].numpy(), 1e-12)
        _close(gz.numpy(), want[1].numpy(), 1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_dtypes_follow_numpy(device):
    x32 = ad.tensor(np.arange(6, dtype=np.float32), device=device)
    assert ad.fft.fft(x32).dtype == np.complex64
    assert ad.fft.rfft(x32).dtype == np.complex64
    assert ad.fft.irfft(ad.fft.rfft(x32)).dtype == np.float32
    assert ad.fft.fft(ad.tensor(np.arange(4), device=device)).dtype == np.complex128  # ints: float64
    assert ad.imag(ad.fft.fft(x32)).dtype == np.float32
    assert ad.angle(ad.tensor(np.ones(2, np.complex64), device=device)).dtype == np.float32
    np.testing.assert_allclose(ad.fft.irfft(ad.fft.rfft(x32), n=6).numpy(), np.arange(6), atol=1e-5)
    assert ad.fft.fftfreq(4, device=device).device == device
    np.testing.assert_array_equal(ad.fft.fftfreq(5, 0.1, device=device).numpy(), np.fft.fftfreq(5, 0.1))
    np.testing.assert_array_equal(ad.fft.rfftfreq(6, 2.0, device=device).numpy(), np.fft.rfftfreq(6, 2.0))
    assert ad.imag(x32).numpy().tolist() == [0.0] * 6 and ad.real(x32) is x32


@pytest.mark.parametrize("device,label", [("cpu", "fft"), pytest.param(
    "cudasim", "cufft.fft.rfftn", marks=pytest.mark.cudasim)])
def test_count_launches_counts_one_transform_per_call(device, label):
    x = ad.tensor(np.ones(8), device=device)
    with ad.count_launches() as c:
        ad.fft.rfftn(x)
    assert dict(c.by_op) == {label: 1}  # on a GPU device the cuFFT call counts itself


def test_tensor_real_and_imag_properties():
    z = ad.tensor(np.array([1 + 2j, -3 - 0.5j]))
    assert z.real.tolist() == [1.0, -3.0] and z.imag.tolist() == [2.0, -0.5]
    J = ad.jacfwd(lambda x: (x * (1 + 2j)).imag)(ad.tensor([1.0, 2.0])).numpy()
    np.testing.assert_array_equal(J, 2 * np.eye(2))
    # the imaginary part of a real tensor is a constant zero under transforms
    np.testing.assert_array_equal(ad.jacrev(lambda x: ad.imag(x) + x)(ad.tensor([1.0, 2.0])).numpy(), np.eye(2))
    np.testing.assert_array_equal(ad.vmap(ad.imag)(ad.ones(3, 2)).numpy(), np.zeros((3, 2)))


# ---------------------------------------------------------------------------------------
# NumPy dispatch: np.fft.NAME on a gpuad tensor runs ad.fft.NAME
# ---------------------------------------------------------------------------------------
def test_numpy_fft_dispatches_to_ad_fft():
    x = np.random.default_rng(8).standard_normal((3, 8))
    t = ad.tensor(x)
    for name, kw in [("fft", {}), ("fft", {"n": 5, "axis": 0, "norm": "ortho"}), ("ifft", {"norm": "forward"}),
                     ("rfft", {"n": 10}), ("rfftn", {"axes": (1, 0)}), ("fft2", {"s": (2, 4)}),
                     ("fftn", {}), ("ifftn", {"axes": [0]}), ("fftshift", {}), ("ifftshift", {"axes": 1})]:
        got = getattr(np.fft, name)(t, **kw)
        assert isinstance(got, ad.Tensor), name
        _close(got.numpy(), getattr(np.fft, name)(x, **kw), 1e-12, what=name)
    spec = np.fft.rfft(t)
    assert isinstance(np.fft.irfft(spec, n=8), ad.Tensor)
    _close(np.fft.irfft(spec, n=8).numpy(), x, 1e-12)
    _close(np.fft.irfftn(np.fft.rfftn(t)).numpy(), x, 1e-12)
    d = ad.tensor(0.5)
    assert isinstance(np.fft.fftfreq(8, d), ad.Tensor)
    _close(np.fft.fftfreq(8, d).numpy(), np.fft.fftfreq(8, 0.5))
    z = ad.tensor(x + 1j)
    assert np.real(z).tolist() == x.tolist() and isinstance(np.imag(z), ad.Tensor)
    _close(np.angle(z, deg=True).numpy(), np.angle(x + 1j, deg=True), 1e-12)
    _close(np.fft.hfft(np.fft.ihfft(t), n=8).numpy(), x, 1e-12)
    assert isinstance(np.fft.hfft(t, norm="forward"), ad.Tensor)


def test_numpy_written_spectral_function_under_transforms():
    """A function written for NumPy with np.fft, differentiated and batched unchanged."""
    k = np.fft.rfftfreq(8)

    def smooth_energy(u):
        spec = np.fft.rfft(u)
        filtered = np.fft.irfft(spec * np.exp(-4.0 * k ** 2), n=8)
        return np.sum(np.abs(np.fft.fft(filtered)) ** 2) / 8 + np.sum(np.sin(filtered))

    def torch_energy(u):
        kk = torch.as_tensor(k)
        filtered = torch.fft.irfft(torch.fft.rfft(u) * torch.exp(-4.0 * kk ** 2), n=8)
        return torch.sum(torch.abs(torch.fft.fft(filtered)) ** 2) / 8 + torch.sum(torch.sin(filtered))

    u = np.random.default_rng(9).standard_normal(8)
    _close(smooth_energy(ad.tensor(u)).numpy(), smooth_energy(u), 1e-12, what="value")
    want = torch.func.grad(torch_energy)(torch.as_tensor(u)).numpy()
    _close(ad.jacfwd(smooth_energy)(ad.tensor(u)).numpy(), want, what="jacfwd")
    _close(ad.jacrev(smooth_energy)(ad.tensor(u)).numpy(), want, what="jacrev")
    _close(ad.hessian(smooth_energy)(ad.tensor(u)).numpy(),
           torch.func.hessian(torch_energy)(torch.as_tensor(u)).numpy(), 1e-9, what="hessian")
    U = np.random.default_rng(10).standard_normal((4, 8))
    _close(ad.vmap(ad.jacfwd(smooth_energy))(ad.tensor(U)).numpy(),
           torch.func.vmap(torch.func.grad(torch_energy))(torch.as_tensor(U)).numpy(), what="vmap(jacfwd)")

    def field(u):  # a vector output: the spectrum's power, per bin
        return np.abs(np.fft.rfft(u, norm="ortho")) ** 2

    J = ad.jacfwd(field)(ad.tensor(u)).numpy()
    _close(J, torch.func.jacfwd(lambda u: torch.abs(torch.fft.rfft(u, norm="ortho")) ** 2)(
        torch.as_tensor(u)).numpy(), what="jacfwd of a vector output")
    _close(ad.jacrev(field)(ad.tensor(u)).numpy(), J, what="jacrev of a vector output")


# ---------------------------------------------------------------------------------------
# errors name the function and the argument
# ---------------------------------------------------------------------------------------
ERRORS = [
    (lambda x: ad.fft.fft(x, norm="unitary"), GpuadValueError, r"fft: argument 'norm'"),
    (lambda x: ad.fft.rfftn(x, norm=1), GpuadValueError, r"rfftn: argument 'norm'"),
    (lambda x: ad.fft.fft(x, n=0), GpuadValueError, r"fft: argument 'n' must be >= 1"),
    (lambda x: ad.fft.irfft(x, n=-2), GpuadValueError, r"irfft: argument 'n' must be >= 1"),
    (lambda x: ad.fft.ifft(x, n=2.5), GpuadTypeError, r"ifft: argument 'n' must be an int"),
    (lambda x: ad.fft.fft(x, axis=2), GpuadAxisError, r"fft: argument 'axis' 2 is out of range"),
    (lambda x: ad.fft.rfft(x, axis=-3), GpuadAxisError, r"rfft: argument 'axis' -3"),
    (lambda x: ad.fft.fftn(x, axes=(0, 5)), GpuadAxisError, r"fftn: argument 'axes' 5"),
    (lambda x: ad.fft.fft2(x, axes=(1, -1)), GpuadValueError, r"fft2: argument 'axes' repeats"),
    (lambda x: ad.fft.fftn(x, s=(2, 3), axes=(0,)), GpuadValueError, r"fftn: arguments 's' and 'axes'"),
    (lambda x: ad.fft.ifftn(x, s=(2, 0)), GpuadValueError, r"ifftn: transform length 0"),
    (lambda x: ad.fft.rfftn(x, s=(1, 2, 3)), GpuadValueError, r"rfftn: argument 's' has 3 entries"),
    (lambda x: ad.fft.rfft(x + 1j), GpuadTypeError, r"rfft: argument 'a' must be real"),
    (lambda x: ad.fft.irfft(x[:, :1]), GpuadValueError, r"irfft: transform length 0"),
    (lambda x: ad.fft.fftshift(x, axes=3), GpuadAxisError, r"fftshift: argument 'axes' 3"),
    (lambda x: ad.fft.hfft(x, norm="back"), GpuadValueError, r"hfft: argument 'norm'"),
    (lambda x: ad.fft.ihfft(x, n=0), GpuadValueError, r"ihfft: argument 'n' must be >= 1"),
    (lambda x: ad.fft.ihfft(x * 1j), GpuadTypeError, r"ihfft: argument 'a' must be real"),
    (lambda x: ad.fft.fftfreq(0), GpuadValueError, r"fftfreq: argument 'n' must be >= 1"),
    (lambda x: ad.fft.rfftfreq(4, d="a"), GpuadTypeError, r"rfftfreq: argument 'd'"),
    (lambda x: ad.fft.fft(ad.tensor(1.0)), GpuadAxisError, r"fft: argument 'axis'"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_misuse_raises_naming_function_and_argument(i):
    fn, exc, msg = ERRORS[i]
    with pytest.raises(exc, match=msg):
        fn(ad.ones(3, 4))
    # the same inside a transform, and the library state is as before (the fixture checks)
    with pytest.raises(exc, match=msg):
        ad.vmap(fn)(ad.ones(2, 3, 4))
