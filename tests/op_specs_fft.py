"""Op specs for ad.fft (the FFT family) and the complex parts (``real``, ``imag``,
``angle``); registered into ``op_specs`` by its ``register``.

The table's cases take and return real float arrays, so each transform is checked
through a real -> complex -> real composition: a real input (or a complex one built from
two real inputs ``re + 1j * im``) and the real and imaginary parts of the result stacked.
For real inputs and outputs gpuad's and torch's complex conventions agree, so torch.func
is the oracle for every derivative; tests/test_fft.py checks complex inputs and outputs
directly."""
from __future__ import annotations

import numpy as np
import torch

try:
    import gpuad as ad
except ImportError:  # pragma: no cover
    ad = None


def _ri(y):
    """gpuad: the real and imaginary parts of ``y`` stacked on a new leading axis."""
    return ad.stack([ad.real(y), ad.imag(y)])


def _ri_t(y):
    # imag as real(-1j * y): torch.func has no batching rule for the negative view that
    # y.imag of an ifft result is
    return torch.stack([y.real, (-1j * y).real])


def _ri_n(y):
    return np.stack([y.real, y.imag])


def _c(re, im):
    return re + 1j * im


def register(S):
    """Add this family's specs to the table ``S`` (the ``op_specs`` module)."""
    U, MIX, OpSpec = S.U, S.MIX, S.OpSpec

    def real_in(name, ad_f, t_f, np_f, shape, **kw):
        # a real input; the complex result's parts stacked
        S.add(OpSpec(f"fft.{name}", lambda x: _ri(ad_f(x)), lambda x: _ri_t(t_f(x)),
                     lambda x: _ri_n(np_f(x)), MIX(U(shape)), kind="linalg", **kw))

    def complex_in(name, ad_f, t_f, np_f, shape, parts=True, **kw):
        # a complex input re + 1j * im (both differentiated)
        wrap, wrap_t, wrap_n = (_ri, _ri_t, _ri_n) if parts else (lambda y: y,) * 3
        S.add(OpSpec(f"fft.{name}", lambda re, im: wrap(ad_f(_c(re, im))),
                     lambda re, im: wrap_t(t_f(torch.complex(re, im))),
                     lambda re, im: wrap_n(np_f(_c(re, im))), MIX(U(shape), U(shape)), diff=(0, 1),
                     kind="linalg", **kw))

    F, T, N = (lambda: ad.fft), torch.fft, np.fft
    # one-dimensional transforms of real input: n truncates / pads, norm scales
    real_in("fft[8]", lambda x: F().fft(x), T.fft, N.fft, (8,))
    real_in("fft[8]n=6", lambda x: F().fft(x, n=6), lambda x: T.fft(x, n=6), lambda x: N.fft(x, n=6), (8,))
    real_in("fft[5]n=9,ortho", lambda x: F().fft(x, 9, norm="ortho"), lambda x: T.fft(x, 9, norm="ortho"),
            lambda x: N.fft(x, 9, norm="ortho"), (5,))
    real_in("fft[3,4]axis=0", lambda x: F().fft(x, axis=0), lambda x: T.fft(x, dim=0),
            lambda x: N.fft(x, axis=0), (3, 4))
    real_in("ifft[7]forward", lambda x: F().ifft(x, norm="forward"), lambda x: T.ifft(x, norm="forward"),
            lambda x: N.ifft(x, norm="forward"), (7,))
    real_in("rfft[8]", lambda x: F().rfft(x), T.rfft, N.rfft, (8,))
    real_in("rfft[7]", lambda x: F().rfft(x), T.rfft, N.rfft, (7,))
    real_in("rfft[7]n=10", lambda x: F().rfft(x, n=10), lambda x: T.rfft(x, n=10),
            lambda x: N.rfft(x, n=10), (7,))
    real_in("rfft[9]n=4,ortho", lambda x: F().rfft(x, 4, norm="ortho"), lambda x: T.rfft(x, 4, norm="ortho"),
            lambda x: N.rfft(x, 4, norm="ortho"), (9,))
    real_in("rfft[3,5]axis=0,forward", lambda x: F().rfft(x, axis=0, norm="forward"),
            lambda x: T.rfft(x, dim=0, norm="forward"), lambda x: N.rfft(x, axis=0, norm="forward"), (3, 5))
    # several axes
    real_in("fft2[3,4]", lambda x: F().fft2(x), T.fft2, N.fft2, (3, 4))
    real_in("ifft2[3,4]s=(4,5),ortho", lambda x: F().ifft2(x, s=(4, 5), norm="ortho"),
            lambda x: T.ifft2(x, s=(4, 5), norm="ortho"), lambda x: N.ifft2(x, s=(4, 5), norm="ortho"), (3, 4))
    real_in("fftn[2,3,4]axes=(0,2),s=(3,3)", lambda x: F().fftn(x, s=(3, 3), axes=(0, 2)),
            lambda x: T.fftn(x, s=(3, 3), dim=(0, 2)), lambda x: N.fftn(x, s=(3, 3), axes=(0, 2)), (2, 3, 4))
    real_in("ifftn[2,3,2]", lambda x: F().ifftn(x), T.ifftn, N.ifftn, (2, 3, 2))
    real_in("rfftn[3,4]", lambda x: F().rfftn(x), T.rfftn, N.rfftn, (3, 4))
    real_in("rfftn[2,3,4]axes=(2,0),s=(3,5),forward", lambda x: F().rfftn(x, s=(3, 5), axes=(2, 0), norm="forward"),
            lambda x: T.rfftn(x, s=(3, 5), dim=(2, 0), norm="forward"),
            lambda x: N.rfftn(x, s=(3, 5), axes=(2, 0), norm="forward"), (2, 3, 4))
    real_in("rfft2[4,5]ortho", lambda x: F().rfft2(x, norm="ortho"), lambda x: T.rfft2(x, norm="ortho"),
            lambda x: N.rfft2(x, norm="ortho"), (4, 5))
    # complex input
    complex_in("fft(c)[6]", lambda z: F().fft(z), T.fft, N.fft, (6,))
    complex_in("ifft(c)[5]n=8,ortho", lambda z: F().ifft(z, 8, norm="ortho"), lambda z: T.ifft(z, 8, norm="ortho"),
               lambda z: N.ifft(z, 8, norm="ortho"), (5,))
    complex_in("fftn(c)[2,3]forward", lambda z: F().fftn(z, norm="forward"), lambda z: T.fftn(z, norm="forward"),
               lambda z: N.fftn(z, norm="forward"), (2, 3))
    # irfft: a complex half-spectrum to a real signal (even and odd n, truncated input)
    complex_in("irfft(c)[5]", lambda z: F().irfft(z), T.irfft, N.irfft, (5,), parts=False)
    complex_in("irfft(c)[5]n=9", lambda z: F().irfft(z, 9), lambda z: T.irfft(z, 9), lambda z: N.irfft(z, 9),
               (5,), parts=False)
    complex_in("irfft(c)[6]n=4,forward", lambda z: F().irfft(z, 4, norm="forward"),
               lambda z: T.irfft(z, 4, norm="forward"), lambda z: N.irfft(z, 4, norm="forward"), (6,), parts=False)
    complex_in("irfft(c)[3,4]axis=0,ortho", lambda z: F().irfft(z, axis=0, norm="ortho"),
               lambda z: T.irfft(z, dim=0, norm="ortho"), lambda z: N.irfft(z, axis=0, norm="ortho"), (3, 4),
               parts=False)
    # hfft/ihfft: torch's are lazy conjugate views that torch.func cannot batch, so the
    # oracle is their definition (an irfft of the conjugate, a conjugated rfft, at the
    # opposite normalization)
    S.add(OpSpec("fft.hfft(c)[5]n=9,forward", lambda re, im: F().hfft(_c(re, im), 9, norm="forward"),
                 lambda re, im: T.irfft(torch.complex(re, -im), 9), lambda re, im: N.hfft(_c(re, im), 9, norm="forward"),
                 MIX(U((5,)), U((5,))), diff=(0, 1), kind="linalg"))
    S.add(OpSpec("fft.ihfft[3,6]axis=0", lambda x: _ri(F().ihfft(x, axis=0)),
                 lambda x: (lambda y: torch.stack([y.real, (1j * y).real]))(T.rfft(x, dim=0, norm="forward")),
                 lambda x: _ri_n(N.ihfft(x, axis=0)), MIX(U((3, 6))), kind="linalg"))
    complex_in("irfftn(c)[3,4]", lambda z: F().irfftn(z), T.irfftn, N.irfftn, (3, 4), parts=False)
    complex_in("irfftn(c)[3,2,4]axes=(2,0),s=(3,5)", lambda z: F().irfftn(z, s=(3, 5), axes=(2, 0)),
               lambda z: T.irfftn(z, s=(3, 5), dim=(2, 0)), lambda z: N.irfftn(z, s=(3, 5), axes=(2, 0)),
               (3, 2, 4), parts=False)
    complex_in("irfft2(c)[4,3]ortho", lambda z: F().irfft2(z, norm="ortho"), lambda z: T.irfft2(z, norm="ortho"),
               lambda z: N.irfft2(z, norm="ortho"), (4, 3), parts=False)

    # compositions: a power spectrum, a circular convolution, a spectral filter
    S.add(
        OpSpec("fft.sum|fft|^2[8]", lambda x: ad.sum(ad.abs(ad.fft.fft(x)) ** 2),
               lambda x: torch.sum(torch.abs(torch.fft.fft(x)) ** 2),
               lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2), MIX(U((8,))), kind="linalg"),
        OpSpec("fft.real(ifft(fft(x)*k))[6]",
               lambda x, kr, ki: ad.real(ad.fft.ifft(ad.fft.fft(x) * _c(kr, ki))),
               lambda x, kr, ki: torch.fft.ifft(torch.fft.fft(x) * torch.complex(kr, ki)).real,
               lambda x, kr, ki: np.fft.ifft(np.fft.fft(x) * _c(kr, ki)).real,
               MIX(U((6,)), U((6,)), U((6,))), diff=(0, 1, 2), kind="linalg"),
        OpSpec("fft.irfft(rfft(x)*h)[2,8]", lambda x, h: ad.fft.irfft(ad.fft.rfft(x) * h, n=8),
               lambda x, h: torch.fft.irfft(torch.fft.rfft(x) * h, n=8),
               lambda x, h: np.fft.irfft(np.fft.rfft(x) * h, n=8), MIX(U((2, 8)), U((5,))), diff=(0, 1),
               kind="linalg"),
        OpSpec("fft.fftfreq(7,d)", lambda d: ad.fft.fftfreq(7, d), lambda d: torch.fft.fftfreq(7) / d,
               lambda d: np.fft.fftfreq(7, d), MIX(U((), 0.5, 2.0)), kind="linalg"),
        OpSpec("fft.rfftfreq(8,d)", lambda d: ad.fft.rfftfreq(8, d), lambda d: torch.fft.rfftfreq(8) / d,
               lambda d: np.fft.rfftfreq(8, d), MIX(U((), 0.5, 2.0)), kind="linalg"),
    )
    for name, fn, tfn, nfn, shape in (
            ("fftshift[5]", lambda x: ad.fft.fftshift(x), torch.fft.fftshift, np.fft.fftshift, (5,)),
            ("fftshift[4,5]axes=1", lambda x: ad.fft.fftshift(x, axes=1), lambda x: torch.fft.fftshift(x, dim=1),
             lambda x: np.fft.fftshift(x, axes=1), (4, 5)),
            ("ifftshift[4,5]", lambda x: ad.fft.ifftshift(x), torch.fft.ifftshift, np.fft.ifftshift, (4, 5)),
            ("ifftshift[3,5]axes=(-1,0)", lambda x: ad.fft.ifftshift(x, axes=(-1, 0)),
             lambda x: torch.fft.ifftshift(x, dim=(-1, 0)), lambda x: np.fft.ifftshift(x, axes=(-1, 0)), (3, 5))):
        S.add(OpSpec(f"fft.{name}", fn, tfn, nfn, MIX(U(shape)), kind="shape"))

    # the complex parts, of a complex tensor built from real ones (z away from 0)
    S.add(
        OpSpec("imag(c)[3,4]", lambda re, im: ad.imag(_c(re, im)) * re,
               lambda re, im: torch.imag(torch.complex(re, im)) * re, lambda re, im: np.imag(_c(re, im)) * re,
               MIX(U((3, 4)), U((3, 4))), diff=(0, 1)),
        OpSpec("real(c)[3,4]", lambda re, im: ad.real(_c(re, im) * _c(im, re)),
               lambda re, im: torch.real(torch.complex(re, im) * torch.complex(im, re)),
               lambda re, im: np.real(_c(re, im) * _c(im, re)), MIX(U((3, 4)), U((3, 4))), diff=(0, 1)),
        OpSpec("angle(c)[3,4]", lambda re, im: ad.angle(_c(re, im)),
               lambda re, im: torch.angle(torch.complex(re, im)), lambda re, im: np.angle(_c(re, im)),
               MIX(S.S((3, 4)), S.S((3, 4))), diff=(0, 1)),
        OpSpec("angle(c)[5]deg", lambda re, im: ad.angle(_c(re, im), deg=True),
               lambda re, im: torch.rad2deg(torch.angle(torch.complex(re, im))),
               lambda re, im: np.angle(_c(re, im), deg=True), MIX(S.S((5,)), S.S((5,))), diff=(0, 1)),
        OpSpec("angle[5]", lambda x: ad.angle(x), torch.angle, np.angle, MIX(S.S((5,)))),
        OpSpec("Tensor.imag(c)[4]", lambda re, im: _c(re, im).imag + _c(re, im).real ** 2,
               lambda re, im: torch.complex(re, im).imag + torch.complex(re, im).real ** 2,
               lambda re, im: _c(re, im).imag + _c(re, im).real ** 2, MIX(U((4,)), U((4,))), diff=(0, 1)),
    )
