"""``ad.fft``: discrete Fourier transforms with ``numpy.fft``'s signatures, differentiable
in both modes and batchable (rules in ``gpuad/ops/fft.py``; docs/fft.md). On cuda they run
cuFFT through ``cupy.fft``. ``np.fft.NAME(tensor)`` dispatches here."""
from .ops.fft import (fft, fft2, fftfreq, fftn, fftshift, hfft, ifft, ifft2, ifftn, ifftshift, ihfft, irfft,
                      irfft2, irfftn, rfft, rfft2, rfftfreq, rfftn)

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
           "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]
