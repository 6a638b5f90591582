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


# -- kernel expressions as ufuncs -------------------------------------------------------
# A pointwise primitive that NumPy has no ufunc for (gammaln, digamma, erfinv, ...) runs
# on the CPU as its own kernel expression (or statement program), compiled by Numba into
# a ufunc once per process: the formula the GPU kernels run, in float64 arithmetic for
# float32 too (literals are float64). Division by zero gives inf/nan as NumPy's does.
_ufuncs = {}


def program_ufunc(stmts, out, nin):
    """A Numba ufunc of ``nin`` float arguments ``a0, a1, ...`` running the statements
    ``stmts`` (pairs ``(name, expression)``) and returning expression ``out``."""
    key = (tuple(stmts), out, nin)
    fn = _ufuncs.get(key)
    if fn is None:
        args = ", ".join(f"a{i}" for i in range(nin))
        body = "".join(f"    {t} = {e}\n" for t, e in stmts)
        ns = {"math": math}
        exec(f"def kernel({args}):\n{body}    return {out}\n", ns)
        # float32 first: a ufunc runs the first loop its inputs cast to safely
        sigs = [f"{t}({', '.join([t] * nin)})" for t in ("float32", "float64")]
        uf = numba.vectorize(sigs)(ns["kernel"])

        def fn(*arrays, _uf=uf):
            arrays = [a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
                      for a in map(np.asarray, arrays)]
            with np.errstate(all="ignore"):  # poles and logs of 0 give inf/nan quietly
                return _uf(*arrays)
        _ufuncs[key] = fn
    return fn


def expr_ufunc(expr, nin):
    """:func:`program_ufunc` of one expression."""
    return program_ufunc((), expr, nin)
