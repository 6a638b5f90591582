"""Discrete Fourier transforms (``ad.fft``, NumPy's ``numpy.fft`` signatures).

One primitive, ``fft``, covers the four transforms (``kind``: ``"fft"``, ``"ifft"``,
``"rfft"``, ``"irfft"``) over a tuple of axes with a ``norm``; it runs NumPy's
``numpy.fft`` on cpu and CuPy's ``cupy.fft`` (cuFFT) on cuda. Padding and truncation to
``n``/``s`` happen before it, in differentiable ops, so the primitive always transforms
whole axes. ``fftshift``/``ifftshift`` are a second primitive, ``fft_roll``. The rules
follow JAX's (``jax/_src/lax/fft.py``), written for gpuad's conventions:

- every transform is linear, so its JVP is the same transform of the tangent;
- VJPs are transposes, not adjoints (the convention of complex ``abs`` in
  ``ops/pointwise.py``, JAX's: the pairing is ``Re(sum(a * b))``, no conjugate). The DFT
  matrix is symmetric, so fft's transpose is fft itself, with the same ``norm`` (ifft's
  likewise); a real input's cotangent is the real part;
- rfft keeps the first ``n//2 + 1`` bins of a real input's fft; its transpose is
  ``real(fft(zero-pad(ct)))``, which equals an irfft of ``conj(ct)`` with the interior
  bins halved (irfft counts each of them twice, as the bin and its mirror), at the
  swapped normalization (``backward`` <-> ``forward``, ``ortho`` stays);
- irfft reads a Hermitian half-spectrum; its transpose is ``conj(w * rfft(ct))`` with
  ``w`` = 1 at the zero (and, for even n, the Nyquist) bin and 2 in between, again at
  the swapped normalization.
The rules are written in gpuad ops, so they are differentiable and batchable in turn.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..backends import get_backend
from ..errors import GpuadTypeError, GpuadValueError
from ..primitive import Primitive
from ..tensor import Tensor
from ._util import norm_one_axis, to_tensor
from .structural import batch_unary_axes

_NORMS = ("backward", "ortho", "forward")
# the normalization of a transform's transpose when it is computed by the opposite
# transform (rfft <-> irfft): n * irfft_backward = irfft_forward, and so on
_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}
_COMPLEX = {np.dtype(np.float32): np.dtype(np.complex64), np.dtype(np.float64): np.dtype(np.complex128),
            np.dtype(np.complex64): np.dtype(np.complex64), np.dtype(np.complex128): np.dtype(np.complex128)}


def _fft_impl(be, x, kind, axes, n, norm):
    s = [x.shape[a] for a in axes]
    if kind == "irfft":
        s[-1] = n
    return getattr(be.xp.fft, kind + "n")(x, s=s, axes=axes, norm=norm)


fft_p = Primitive("fft", _fft_impl)


def _fft_jvp(primals, tangents, **params):
    (x,), (t,) = primals, tangents
    return fft_p.bind(x, **params), None if t is None else fft_p.bind(t, **params)


def _fft_vjp(ct, out, x, kind, axes, n, norm):
    from .pointwise import conj, multiply, real
    last = axes[-1]
    if kind == "rfft":
        nin = x.shape[last]
        h = _bins(ct, "half", nin, last)
        return (fft_p.bind(multiply(conj(ct), h), kind="irfft", axes=axes, n=nin, norm=_SWAP[norm]),)
    if kind == "irfft":
        r = fft_p.bind(ct, kind="rfft", axes=axes, n=None, norm=_SWAP[norm])
        g = conj(multiply(r, _bins(r, "double", n, last)))
    else:  # fft, ifft: the DFT matrix is symmetric
        g = fft_p.bind(ct, kind=kind, axes=axes, n=None, norm=norm)
    return (g if x.dtype.kind == "c" else real(g),)


fft_p.jvp, fft_p.vjp = _fft_jvp, _fft_vjp
batch_unary_axes(fft_p, ("axes",))

# The bin weights of the rfft/irfft transposes, placed on axis ``axis`` of ``like``:
# "double" = (1, 2, ..., 2[, 1 if n is even]) and "half" its reciprocal, for a real axis
# of length n (n // 2 + 1 bins). Device arrays are never written in place, so one per
# (device, dtype, kind, n) serves every call: one host-to-device copy, then none.
_bins_cache = {}
_BINS_MAX = 256


def _bins(like, kind, n, axis):
    dt = _COMPLEX[np.dtype(like.dtype)]
    key = (like.device, dt.str, kind, n)
    arr = _bins_cache.get(key)
    if arr is None:
        w = np.full(n // 2 + 1, 2.0)
        w[0] = 1.0
        if n % 2 == 0:
            w[-1] = 1.0
        if kind == "half":
            w = 1.0 / w
        be = get_backend(like.device)
        with be.activate():
            arr = be.asarray(w.astype(dt))
        if len(_bins_cache) >= _BINS_MAX:
            _bins_cache.clear()
        _bins_cache[key] = arr
    t = Tensor._make(arr, like.device)
    shape = [1] * like.ndim
    shape[axis] = n // 2 + 1
    from .shape import reshape
    return reshape(t, tuple(shape))


# fftshift / ifftshift: a roll by half of each axis (``shift`` per axis); its transpose
# rolls back
def _roll_impl(be, x, shift, axes):
    return be.xp.roll(x, shift, axes)


roll_p = Primitive("fft_roll", _roll_impl)
roll_p.jvp = lambda p, t, **k: (roll_p.bind(p[0], **k), None if t[0] is None else roll_p.bind(t[0], **k))
roll_p.vjp = lambda ct, out, x, shift, axes: (roll_p.bind(ct, shift=tuple(-s for s in shift), axes=axes),)
batch_unary_axes(roll_p, ("axes",))


# ---------------------------------------------------------------------------------
# argument checks


def _check_norm(norm, fn):
    if norm is None:
        return "backward"
    if isinstance(norm, str) and norm in _NORMS:
        return norm
    raise GpuadValueError(f"{fn}: argument 'norm' must be None, 'backward', 'ortho' or 'forward', "
                          f"got {norm!r}")


def _check_len(n, fn, arg):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise GpuadTypeError(f"{fn}: argument '{arg}' must be an int, got {n!r}")
    if n < 1:
        raise GpuadValueError(f"{fn}: argument '{arg}' must be >= 1 (a transform length), got {n}")
    return int(n)


def _input(a, fn, real=False):
    from .pointwise import astype
    x = to_tensor(a, fn, "a")
    k = x.dtype.kind
    if k in "biu":
        x = astype(x, np.float64)
    elif k == "c" and real:
        raise GpuadTypeError(f"{fn}: argument 'a' must be real, got {x.dtype} (use fft/fftn for "
                             f"complex input)")
    elif k not in "fc":
        raise GpuadTypeError(f"{fn}: argument 'a' must be a numeric tensor, got {x.dtype}")
    elif x.dtype not in _COMPLEX:  # float16
        x = astype(x, np.float32 if k == "f" else np.complex64)
    return x


def _axes_and_lengths(x, s, axes, fn, kind):
    """Normalized (axes, lengths): axes in the caller's order (for rfftn/irfftn the last
    one is the halved axis), lengths the transform length on each (for irfft the
    output length)."""
    nd = x.ndim
    if axes is None:
        if s is None:
            axes = tuple(range(nd))
        else:
            s = _as_tuple(s, fn, "s")
            if len(s) > nd:
                raise GpuadValueError(f"{fn}: argument 's' has {len(s)} entries for a tensor with "
                                      f"{nd} dims")
            axes = tuple(range(nd - len(s), nd))
    else:
        axes = tuple(norm_one_axis(a, nd, fn, "axes") for a in _as_tuple(axes, fn, "axes"))
        if len(set(axes)) != len(axes):
            raise GpuadValueError(f"{fn}: argument 'axes' repeats an axis: {axes}")
    if not axes:
        raise GpuadValueError(f"{fn}: no axis to transform (argument 'axes' is empty or the "
                              f"tensor is 0-d)")
    if s is None:
        s = [x.shape[a] for a in axes]
        if kind == "irfft":
            s[-1] = 2 * (s[-1] - 1)
    else:
        s = list(_as_tuple(s, fn, "s"))
        if len(s) != len(axes):
            raise GpuadValueError(f"{fn}: arguments 's' and 'axes' must have one entry per "
                                  f"transformed axis, got {len(s)} and {len(axes)}")
        for i, (a, n) in enumerate(zip(axes, s)):
            if isinstance(n, numbers.Integral) and not isinstance(n, bool) and n == -1:
                s[i] = x.shape[a] if kind != "irfft" or i < len(s) - 1 else 2 * (x.shape[a] - 1)
    for a, n in zip(axes, s):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise GpuadTypeError(f"{fn}: argument 's' must contain ints, got {n!r}")
        if n < 1:
            raise GpuadValueError(f"{fn}: transform length {n} along axis {a} must be >= 1 "
                                  f"(argument 's' or the input's shape)")
    return axes, tuple(int(n) for n in s)


def _as_tuple(v, fn, arg):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (int(v),)
    if isinstance(v, (tuple, list)):
        return tuple(v)
    raise GpuadTypeError(f"{fn}: argument '{arg}' must be a sequence of ints, got {v!r}")


def _resize(x, axis, n):
    """``x`` truncated or zero-padded to length ``n`` along ``axis`` (NumPy's ``n``/``s``)."""
    m = x.shape[axis]
    if m == n:
        return x
    if m > n:
        return x[(slice(None),) * axis + (slice(0, n),)]
    from .creation import zeros
    from .shape import concat
    shape = list(x.shape)
    shape[axis] = n - m
    return concat([x, zeros(tuple(shape), dtype=x.dtype, device=x.device)], axis=axis)


def _transform(kind, fn, a, s, axes, norm, one_axis=False):
    norm = _check_norm(norm, fn)
    x = _input(a, fn, real=kind == "rfft")
    if one_axis:  # fft/ifft/rfft/irfft(a, n, axis): s and axes of one entry
        axes = (norm_one_axis(axes, x.ndim, fn, "axis"),)
        n = s
        if n is None:
            n = x.shape[axes[0]] if kind != "irfft" else 2 * (x.shape[axes[0]] - 1)
            if n < 1:
                raise GpuadValueError(f"{fn}: transform length {n} along axis {axes[0]} must be "
                                      f">= 1 (give argument 'n')")
        s = (_check_len(n, fn, "n"),)
    else:
        axes, s = _axes_and_lengths(x, s, axes, fn, kind)
    for i, (ax, n) in enumerate(zip(axes, s)):
        last_irfft = kind == "irfft" and i == len(axes) - 1
        x = _resize(x, ax, n // 2 + 1 if last_irfft else n)
    return fft_p.bind(x, kind=kind, axes=axes, n=s[-1] if kind == "irfft" else None, norm=norm)


# ---------------------------------------------------------------------------------
# public functions (numpy.fft's signatures)


def fft(a, n=None, axis=-1, norm=None):
    """One-dimensional discrete Fourier transform along ``axis`` (``numpy.fft.fft``):
    ``n`` truncates or zero-pads the axis first; ``norm`` is ``"backward"`` (default, no
    scaling), ``"ortho"`` (1/sqrt(n)) or ``"forward"`` (1/n). Real input gives a complex
    result (complex64 for float32). Differentiable in both modes (linear; its VJP is the
    transpose, as JAX's) and batchable.

    >>> import gpuad as ad
    >>> ad.fft.fft(ad.tensor([1.0, 0.0, 0.0, 0.0])).tolist()
    [(1+0j), (1+0j), (1+0j), (1+0j)]
    """
    return _transform("fft", "fft", a, n, axis, norm, one_axis=True)


def ifft(a, n=None, axis=-1, norm=None):
    """Inverse of :func:`fft` (``numpy.fft.ifft``): ``ifft(fft(a)) == a``; ``"backward"``
    scales by 1/n."""
    return _transform("ifft", "ifft", a, n, axis, norm, one_axis=True)


def rfft(a, n=None, axis=-1, norm=None):
    """FFT of real input (``numpy.fft.rfft``): the ``n // 2 + 1`` non-negative frequency
    bins. Complex ``a`` raises ``GpuadTypeError``."""
    return _transform("rfft", "rfft", a, n, axis, norm, one_axis=True)


def irfft(a, n=None, axis=-1, norm=None):
    """Inverse of :func:`rfft` (``numpy.fft.irfft``): a real result of length ``n``
    (default ``2 * (m - 1)`` for ``m`` input bins), reading ``n // 2 + 1`` bins of a
    Hermitian spectrum (the imaginary parts of the zero and Nyquist bins are ignored, so
    their derivative is zero)."""
    return _transform("irfft", "irfft", a, n, axis, norm, one_axis=True)


def hfft(a, n=None, axis=-1, norm=None):
    """FFT of a signal with Hermitian symmetry given by its first half (``numpy.fft.hfft``):
    ``irfft(conj(a), n)`` at the opposite normalization, a real result of length ``n``
    (default ``2 * (m - 1)``)."""
    from .pointwise import conj
    norm = _SWAP[_check_norm(norm, "hfft")]
    return _transform("irfft", "hfft", conj(_input(a, "hfft")), n, axis, norm, one_axis=True)


def ihfft(a, n=None, axis=-1, norm=None):
    """Inverse of :func:`hfft` (``numpy.fft.ihfft``): ``conj(rfft(a, n))`` at the opposite
    normalization, for real ``a``."""
    from .pointwise import conj
    norm = _SWAP[_check_norm(norm, "ihfft")]
    return conj(_transform("rfft", "ihfft", a, n, axis, norm, one_axis=True))


def fftn(a, s=None, axes=None, norm=None):
    """N-dimensional FFT (``numpy.fft.fftn``) over ``axes`` (default: the last ``len(s)``,
    or all), each truncated or zero-padded to ``s``."""
    return _transform("fft", "fftn", a, s, axes, norm)


def ifftn(a, s=None, axes=None, norm=None):
    """Inverse of :func:`fftn` (``numpy.fft.ifftn``)."""
    return _transform("ifft", "ifftn", a, s, axes, norm)


def rfftn(a, s=None, axes=None, norm=None):
    """N-dimensional FFT of real input (``numpy.fft.rfftn``): the last of ``axes`` keeps
    its ``s[-1] // 2 + 1`` non-negative bins."""
    return _transform("rfft", "rfftn", a, s, axes, norm)


def irfftn(a, s=None, axes=None, norm=None):
    """Inverse of :func:`rfftn` (``numpy.fft.irfftn``): ``s[-1]`` is the output length of
    the last axis (default ``2 * (m - 1)``)."""
    return _transform("irfft", "irfftn", a, s, axes, norm)


def fft2(a, s=None, axes=(-2, -1), norm=None):
    """Two-dimensional FFT (``numpy.fft.fft2``): :func:`fftn` over the last two axes."""
    return _transform("fft", "fft2", a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    """Inverse of :func:`fft2` (``numpy.fft.ifft2``)."""
    return _transform("ifft", "ifft2", a, s, axes, norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    """:func:`rfftn` over the last two axes (``numpy.fft.rfft2``)."""
    return _transform("rfft", "rfft2", a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    """:func:`irfftn` over the last two axes (``numpy.fft.irfft2``)."""
    return _transform("irfft", "irfft2", a, s, axes, norm)


def _freq(fn, n, d, device, half):
    from .constants import _device
    from .pointwise import divide
    from .. import launches
    n = _check_len(n, fn, "n")
    if isinstance(d, (numbers.Real, np.generic)) and not isinstance(d, bool):
        dev = _device(device, fn)
        be = get_backend(dev)
        with be.activate():  # computed on the device, as arange is
            arr = (be.xp.fft.rfftfreq if half else be.xp.fft.fftfreq)(n, float(d))
        launches.record_dispatch(fn, dev)  # on a GPU the kernels count themselves
        return Tensor._make(arr, dev)
    dt = to_tensor(d, fn, "d", device=device)
    if dt.dtype.kind not in "f":
        raise GpuadTypeError(f"{fn}: argument 'd' must be a real number or floating tensor, got {dt.dtype}")
    from .creation import tensor
    base = np.fft.rfftfreq(n) if half else np.fft.fftfreq(n)  # integers / n, exact
    # a tensor spacing: frequencies base / d, differentiable in d (broadcast as NumPy's)
    return divide(tensor(base.astype(dt.dtype), device=dt.device), dt)


def fftfreq(n, d=1.0, device=None):
    """The sample frequencies of an ``n``-point FFT with spacing ``d``
    (``numpy.fft.fftfreq``): ``[0, 1, ..., (n-1)//2, -(n//2), ..., -1] / (d * n)``, float64
    on ``device``. A tensor ``d`` gives a result differentiable in ``d``."""
    return _freq("fftfreq", n, d, device, half=False)


def rfftfreq(n, d=1.0, device=None):
    """The sample frequencies of :func:`rfft` (``numpy.fft.rfftfreq``):
    ``[0, 1, ..., n//2] / (d * n)``."""
    return _freq("rfftfreq", n, d, device, half=True)


def _shift(fn, x, axes, inverse):
    x = to_tensor(x, fn, "x")
    nd = x.ndim
    if axes is None:
        axes = tuple(range(nd))
    else:
        axes = tuple(norm_one_axis(a, nd, fn, "axes") for a in _as_tuple(axes, fn, "axes"))
    shift = tuple(-(x.shape[a] // 2) if inverse else x.shape[a] // 2 for a in axes)
    if not axes or not any(shift):
        return x
    return roll_p.bind(x, shift=shift, axes=axes)


def fftshift(x, axes=None):
    """Move the zero-frequency bin to the centre (``numpy.fft.fftshift``): a roll by
    ``n // 2`` along each of ``axes`` (default all). Differentiable (a permutation)."""
    return _shift("fftshift", x, axes, inverse=False)


def ifftshift(x, axes=None):
    """Inverse of :func:`fftshift` (``numpy.fft.ifftshift``): a roll by ``-(n // 2)``."""
    return _shift("ifftshift", x, axes, inverse=True)
