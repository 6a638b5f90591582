"""Error types. Every misuse raises a subclass of ``GpuadError`` that also derives
from the matching built-in, so ``except ValueError`` keeps working for callers."""


class GpuadError(Exception):
    """Base class of every error gpuad raises on misuse."""


class GpuadTypeError(GpuadError, TypeError):
    pass


class GpuadValueError(GpuadError, ValueError):
    pass


class GpuadRuntimeError(GpuadError, RuntimeError):
    pass


class GpuadIndexError(GpuadError, IndexError):
    pass


class DeviceUnavailableError(GpuadRuntimeError):
    """A device gpuad knows about that cannot be used on this machine."""


class TracerBoolConversionError(GpuadTypeError):
    """Python control flow asked for the concrete value of a traced tensor."""


class TracerArrayConversionError(GpuadTypeError):
    """A value that carries a derivative (a tracer, or an eager tensor that requires
    grad) was converted to a concrete array (``np.asarray``, ``numpy()``, a NumPy
    function), which would silently drop the derivative. JAX calls this
    TracerArrayConversionError."""


class GpuadAxisError(GpuadValueError, IndexError):
    """An axis out of range: a ValueError and an IndexError, like NumPy's AxisError."""
