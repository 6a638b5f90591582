"""Special functions for the CPU backend, compiled with Numba (NumPy has no erf)."""
import math

import numba
import numpy as np


@numba.vectorize(["float64(float64)", "float32(float32)"], cache=True)
def _erf_kernel(x):
    return math.erf(x)


def erf(x):
    x = np.asarray(x)
    if x.dtype.kind not in "f":
        x = x.astype(np.float64)
    return _erf_kernel(x)
