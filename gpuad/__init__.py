"""gpuad: GPU-targeted automatic differentiation with torch.func semantics.

>>> import gpuad as ad
>>> J = ad.vmap(ad.jacfwd(ad.sin))(ad.ones(8, 3))
>>> J.shape
(8, 3, 3)
"""


def _kernels_from_checkout():
    """NOTE [kernels from a checkout]: the kernel templates live in the repository's
    top-level ``kernels/`` folder and are packaged as ``gpuad.kernels`` by pyproject's
    package-dir mapping, which only an install (a wheel, or ``pip install -e``'s finder)
    applies. From a plain checkout on ``sys.path`` nothing maps it, and ``import gpuad``
    would fail (jit imports gpuad.kernels). So when ``gpuad.kernels`` is not importable
    otherwise and a ``kernels/`` package sits next to this package's folder, a finder at
    the end of ``sys.meta_path`` resolves exactly ``gpuad.kernels`` to it (its submodules
    follow from its ``__path__``); no other name becomes importable, and an installed
    gpuad never gets the finder."""
    import importlib.util
    import os
    import sys

    if importlib.util.find_spec("gpuad.kernels") is not None:
        return  # a wheel's gpuad/kernels/, an editable install's finder, or ours already
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")
    init = os.path.join(folder, "__init__.py")
    if not os.path.isfile(init):
        return

    class CheckoutKernelsFinder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname != "gpuad.kernels":
                return None
            return importlib.util.spec_from_file_location(
                fullname, init, submodule_search_locations=[folder])

        @staticmethod
        def invalidate_caches():
            pass

    sys.meta_path.append(CheckoutKernelsFinder)


_kernels_from_checkout()
del _kernels_from_checkout
from .errors import (GpuadError, GpuadTypeError, GpuadValueError, GpuadRuntimeError,
                     GpuadIndexError, GpuadAxisError, DeviceUnavailableError, TracerBoolConversionError,
                     TracerArrayConversionError)
from .dtypes import (float32, float64, complex64, complex128, int32, int64, bool_)
from .backends import devices, get_default_device, set_default_device
from .core import no_grad, enable_grad, Tracer
from .tensor import Tensor
from . import eval as _eval  # the bottom trace (NOTE [the eval trace is installed from above])
from .ops import methods as _methods  # the operators and methods of Tensor and tracers
from .launches import count_launches
from .ops.creation import (tensor, asarray, zeros, ones, full, empty, zeros_like, ones_like,
                           full_like, empty_like, eye, arange, linspace)
from .ops.random import manual_seed, rand, randn, rand_like, randn_like
from .ops.pointwise import (sin, cos, tan, asin, acos, atan, atan2, sinh, cosh, tanh, asinh,
                            acosh, atanh, exp, exp2, expm1, log, log2, log10, log1p, sqrt,
                            square, reciprocal, abs, sign, sigmoid, pow, maximum, minimum,
                            where, clip, erf, add, subtract, multiply, divide, negative,
                            equal, not_equal, less, less_equal, greater, greater_equal,
                            logical_and, logical_or, logical_not, astype, stop_gradient,
                            conj, real, arcsin, arccos, arctan, arctan2, absolute)
from .ops.reductions import (sum, mean, prod, max, min, var, std, logsumexp, cumsum, any, all,
                             amax, amin)
from .ops.shape import (reshape, transpose, permute_dims, expand_dims, squeeze, broadcast_to,
                        broadcast_arrays, concat, concatenate, stack, flip, tile, moveaxis,
                        swapaxes, matrix_transpose, ravel)
from .ops.indexing import take
from .ops.arith import (floor, ceil, trunc, round, around, remainder, mod, hypot, logaddexp,
                        logaddexp2, sinc, deg2rad, rad2deg, fmax, fmin, nan_to_num)
from .ops.arrays import (split, array_split, tril, triu, repeat, roll, pad, diff, kron, rot90,
                         sort, argsort, cumprod, meshgrid)
from .ops.linalg import (matmul, vecdot, outer, tensordot, einsum, diag, diagonal, trace)
from . import linalg
from . import special
from .ops.complex import imag, angle
from . import fft
from .ops.compat import (atleast_1d, atleast_2d, atleast_3d, vstack, hstack, dstack, column_stack,
                         flipud, fliplr, dot, inner, cross, isnan, isinf, isfinite, signbit,
                         positive, power, float_power, true_divide, floor_divide, conjugate, cbrt,
                         copysign, heaviside, logspace, identity, select, argmax, argmin, nansum,
                         nanmean, average, median)
from .transforms import jvp, vjp, grad, grad_and_value, jacfwd, jacrev, hessian, vmap
from .custom import custom_jvp, custom_vjp
from .jit import jit
from .pytree import tree_flatten, tree_unflatten, tree_map
from . import numpy_dispatch as _numpy_dispatch  # NumPy's protocols on gpuad's values
from .interpreters import reverse as _reverse  # the eager tape's custom rules, Tensor.backward

_numpy_dispatch.install({"gpuad": __import__("sys").modules[__name__], "gpuad.linalg": linalg,
                         "gpuad.fft": fft})
del _eval, _methods, _numpy_dispatch, _reverse

__version__ = "0.1.0"
