"""Dtype helpers. gpuad dtypes are NumPy dtypes; the default float is float64."""
from __future__ import annotations

import numpy as np

from .errors import GpuadTypeError

float32 = np.dtype("float32")
float64 = np.dtype("float64")
complex64 = np.dtype("complex64")
complex128 = np.dtype("complex128")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

default_float = float64


def as_dtype(dtype, fn="tensor"):
    if dtype is None:
        return None
    try:
        dt = np.dtype(getattr(dtype, "name", dtype) if not isinstance(dtype, (str, type, np.dtype)) else dtype)
    except TypeError:
        raise GpuadTypeError(f"{fn}: argument 'dtype' must be a NumPy dtype or its name, got {dtype!r}") from None
    if dt.kind not in "biufc":
        raise GpuadTypeError(f"{fn}: argument 'dtype' must be a bool, integer, float or complex dtype, got {dt}")
    return dt


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind in "fc"


def is_inexact(dtype) -> bool:
    return np.dtype(dtype).kind in "fc"


def result_type(*dtypes):
    return np.result_type(*dtypes)


def float_of(dtype):
    """The float dtype an op like ``sin`` returns for an input of ``dtype``."""
    dt = np.dtype(dtype)
    return dt if dt.kind in "fc" else default_float
