"""The ``cudasim`` backend: NumPy storage, gpuad's CUDA kernels run in Numba's CUDA simulator.

It exists so that machines without a GPU still exercise the GPU code path: kernel
selection, launch configuration, grids and the kernel bodies themselves are the ones the
``cuda`` backend runs (see ``gpuad.kernels``), only executed thread by thread in Python.
The simulator is slow (about a second per 256-thread block with barriers), so it uses
small blocks (``GPUAD_CUDASIM_BLOCK``, default 32) and is meant for tiny shapes.

:class:`KernelBackend` holds everything the two GPU backends share; ``cuda`` subclasses it.
"""
from __future__ import annotations

import ast
import importlib.util

import numpy as np

from . import counting, simcupy
from .base import CURRENT, Backend


class KernelBackend(Backend):
    """Dispatch pointwise, reduction and small linalg primitives to ``gpuad.kernels``.

    One instance per device (NOTE [device names] in ``gpuad.backends``): ``xp.cuda``
    (CuPy's, or the simulator's ``simcupy.cuda``) selects the device, so this code is the
    same for ``cuda`` and ``cudasim``."""

    target = "?"
    # count_launches counts device kernels here: gpuad's own where gpuad.kernels launches
    # them, the libraries' through the counting array module (gpuad.backends.counting)
    counts_kernels = True

    def __init__(self, index=0):
        self.index = index
        self.name = self.target if index == 0 else f"{self.target}:{index}"
        self._Device = self.xp.cuda.Device
        self._get_device = self.xp.cuda.runtime.getDevice

    @classmethod
    def device_count(cls):
        return cls.xp.cuda.runtime.getDeviceCount()

    # -- devices ------------------------------------------------------------------
    def activate(self):
        if self._get_device() == self.index:
            return CURRENT
        return self._Device(self.index)

    def asarray(self, data, dtype=None):
        """A device array on this device: host data is copied to it (one host transfer);
        a device array of another device of this kind is copied peer to peer (no host
        transfer); one of this device is taken as it is (cast if ``dtype`` says so)."""
        with self.activate():
            if self.is_native(data) and data.device.id != self.index:
                data = data.copy()  # CuPy (and simcupy) copy to the current device
            return self.xp.asarray(data, dtype=dtype)

    # -- kernels ------------------------------------------------------------------
    def elementwise(self, name, expr, arrays, out_dtype, fn=None, quiet=False):
        # (the kernel expression is the rule here: ``fn`` and ``quiet`` are the cpu's)
        from gpuad import kernels
        if expr is None:
            raise NotImplementedError(f"{self.name} backend: primitive {name!r} has no kernel "
                                      f"expression")
        arrays = [self.xp.asarray(a) for a in arrays]
        try:
            return kernels.run_elementwise(expr, arrays, out_dtype, self.target)
        except kernels.UnsupportedDtype:
            # Fallback: complex, float16 and other dtypes the Numba kernels do not compile
            # (math.* has no complex overloads) are evaluated with the array module's own
            # functions on the same device; counted in kernels.stats.fallbacks.
            kernels.stats.fallbacks["elementwise"] += 1
            out = _xp_eval(expr, arrays, self.xp)
            return self.xp.asarray(out).astype(out_dtype, copy=False)

    def fused_elementwise(self, name, stmts, outs, arrays, out_dtypes, shape):
        """A multi-output program (``gpuad.kernels.elementwise.program_source``) over
        ``arrays``, one kernel: a list of arrays of ``shape``, one per output."""
        from gpuad import kernels
        from gpuad.kernels import elementwise
        arrays = [self.xp.asarray(a) for a in arrays]
        try:
            return elementwise.run_program(stmts, outs, arrays, out_dtypes, self.target, shape)
        except kernels.UnsupportedDtype:
            # Fallback, as in elementwise: the statements one by one with the array module
            kernels.stats.fallbacks["elementwise"] += 1
            local = {}
            for target, expr in stmts:
                local[target] = _xp_eval(expr, arrays, self.xp, local)
            res = []
            for expr, dt in zip(outs, out_dtypes):
                out = self.xp.asarray(_xp_eval(expr, arrays, self.xp, local))
                res.append(self.xp.ascontiguousarray(  # 0-d stays 0-d (NumPy makes it 1-d)
                    self.xp.broadcast_to(out.astype(dt, copy=False), shape)).reshape(shape))
            return res

    def reduce(self, op, x, axes, keepdims, fn=None):
        from gpuad import kernels
        x = self.xp.asarray(x)
        try:
            return kernels.run_reduce(op, x, axes, keepdims, self.target)
        except kernels.UnsupportedDtype:
            # Fallback: bool, small-int and complex reductions (sum of a mask, any/all
            # patterns) go to the array module on the same device.
            kernels.stats.fallbacks["reduce"] += 1
            xp_fn = getattr(self.xp, op)  # the array module's sum, prod, max, min
            return self.xp.asarray(xp_fn(x, axis=axes, keepdims=keepdims))

    def small_linalg(self, name, *arrays):
        from gpuad import kernels
        run = {"det": kernels.run_det, "inv": kernels.run_inv, "solve": kernels.run_solve}
        if name not in run:
            from gpuad.errors import GpuadValueError
            raise GpuadValueError(f"{self.name} backend: small_linalg name must be one of "
                                  f"'det', 'inv', 'solve', got {name!r}")
        arrays = [self.xp.asarray(a) for a in arrays]
        try:
            return run[name](*arrays, target=self.target)
        except kernels.UnsupportedDtype:
            # Fallback: complex matrices use the array module's linalg on the same device.
            kernels.stats.fallbacks[name] += 1
            if name == "solve":
                a, b = arrays
                if b.ndim == 1:
                    return self.xp.linalg.solve(a, b[..., None])[..., 0] if a.ndim > 2 \
                        else self.xp.linalg.solve(a, b)
                return self.xp.linalg.solve(a, b)
            return getattr(self.xp.linalg, name)(arrays[0])

    def small_eigh(self, a, UPLO="L"):
        """Real symmetric k x k matrices, k <= ``kernels.EIGH_MAX_K``: gpuad's Jacobi kernel,
        one thread per matrix; complex or larger ones: the array module (cuSOLVER)."""
        from gpuad import kernels
        a = self.xp.asarray(a)
        if a.dtype.kind == "f" and 1 <= a.shape[-1] <= kernels.EIGH_MAX_K:
            return kernels.run_eigh(a, self.target, lower=UPLO == "L").astype(a.dtype, copy=False)
        return super().small_eigh(a, UPLO)


class CudaSimBackend(KernelBackend):
    name = "cudasim"
    xp = counting.wrap(simcupy)  # simcupy, counting the kernels its calls would launch
    target = "cudasim"

    @classmethod
    def unavailable_reason(cls):
        try:
            if importlib.util.find_spec("numba") is None:
                return "Numba is not installed (pip install gpuad[cudasim])"
            from numba.cuda import simulator  # noqa: F401
        except Exception as e:  # ImportError, or numba-cuda built for another Numba
            return (f"numba-cuda's CUDA simulator cannot be imported ({type(e).__name__}: {e}); "
                    f"pip install gpuad[cudasim]")
        return None

    def to_numpy(self, arr):
        return simcupy.asnumpy(arr)

    def is_native(self, arr):
        return type(arr) is simcupy.ndarray


# -- array-module evaluation of a kernel expression (the dtype fallback) --------------------

class _XpMath:
    def __init__(self, xp):
        # math function -> array function: the kernels' one table (gpuad.kernels.target),
        # but fabs as abs, which complex values (this fallback's main case) have
        from gpuad.kernels.target import MATH_TO_ARRAY
        self._names = dict(MATH_TO_ARRAY, fabs="abs")
        self._xp = xp
        self._mod = getattr(xp, "module", xp)  # the array module under a counting proxy

    def erf(self, x):
        if self._mod is np:
            from .cpu_special import erf
            return erf(x)
        if self._mod is simcupy:
            from .cpu_special import erf
            return counting.counted_call(simcupy.device_function(erf, "special.erf"),
                                         "cupy.special.erf")(x)  # cupyx.scipy.special's
        from cupyx.scipy.special import erf
        return counting.counted_call(erf, "cupy.special.erf")(x)

    def erfc(self, x):
        return self._special("erfc", "math.erfc(a0)", x)

    def lgamma(self, x):
        return self._special("gammaln", "math.lgamma(a0)", x)

    def _special(self, name, expr, x):
        # erf's pattern: the CPU ufunc on host and simulated arrays, cupyx on CUDA
        from .cpu_special import expr_ufunc
        if self._mod is np:
            return expr_ufunc(expr, 1)(x)
        if self._mod is simcupy:
            return counting.counted_call(simcupy.device_function(expr_ufunc(expr, 1), f"special.{name}"),
                                         f"cupy.special.{name}")(x)
        import cupyx.scipy.special as sp
        return counting.counted_call(getattr(sp, name), f"cupy.special.{name}")(x)

    def __getattr__(self, name):
        if name in ("pi", "e", "inf", "nan", "tau"):
            import math
            return getattr(math, name)
        return getattr(self._xp, self._names.get(name, name))


class _Vectorize(ast.NodeTransformer):
    # Scalar Python -> array expressions: conditionals become where, and/or/not the
    # logical ufuncs, min/max the elementwise minimum/maximum.
    def visit_IfExp(self, node):
        self.generic_visit(node)
        return ast.Call(ast.Attribute(ast.Name("xp", ast.Load()), "where", ast.Load()),
                        [node.test, node.body, node.orelse], [])

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        fn = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
        out = node.values[0]
        for v in node.values[1:]:
            out = ast.Call(ast.Attribute(ast.Name("xp", ast.Load()), fn, ast.Load()), [out, v], [])
        return out

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return ast.Call(ast.Attribute(ast.Name("xp", ast.Load()), "logical_not", ast.Load()),
                            [node.operand], [])
        return node


def _xp_eval(expr, arrays, xp, local=None):
    tree = ast.fix_missing_locations(_Vectorize().visit(ast.parse(expr, mode="eval")))
    env = {"xp": xp, "math": _XpMath(xp), "abs": xp.abs, "min": xp.minimum,
           "max": xp.maximum}
    env.update({f"a{j}": a for j, a in enumerate(arrays)})
    env.update(local or {})
    with np.errstate(all="ignore"):
        return eval(compile(tree, "<gpuad-expr>", "eval"), env)
