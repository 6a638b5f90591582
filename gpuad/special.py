"""``ad.special``: special functions with scipy.special's names and conventions,
differentiable in both modes and batchable.

>>> import gpuad as ad
>>> float(ad.special.gammaln(ad.tensor(5.0)))  # log(4!)
3.1780538303479458
>>> print(f"{float(ad.grad(ad.special.gammaln)(ad.tensor(1.0))):.12f}")  # digamma(1)
-0.577215664902

``erfc``, ``erfinv``, ``gammaln``, ``digamma``, ``xlogy`` and ``xlog1py`` are primitives
(``gpuad/ops/special.py`` says how each is computed, to float64 accuracy on every
device); the derivative of ``digamma`` is the trigamma function, and so on up the
polygamma family, so derivatives of every order exist. ``logit``, ``expit`` and
``softplus`` are compositions (``expit`` is ``ad.sigmoid``, ``softplus(x)`` is
``ad.logaddexp(x, 0)``).

``xlogy(x, y)`` is ``x * log(y)`` and exactly 0 where ``x == 0`` (unless ``y`` is NaN);
its partial derivatives are JAX's: ``log(y)`` in ``x`` and ``x / y`` in ``y``, also at
``x == 0`` (so ``d/dx xlogy(0, y) = log(y)``; torch gives 0 there). ``xlog1py`` likewise,
with ``log1p(y)`` and ``x / (1 + y)``.
"""
from __future__ import annotations

from .ops import special as _S
from .ops._util import coerce as _coerce
from .ops.arith import logaddexp as _logaddexp
from .ops.pointwise import _float_binary, divide as _divide, log as _log, sigmoid as _sigmoid
from .ops.pointwise import subtract as _subtract


def _unary(prim, name, doc):
    def f(x):
        (a,) = _coerce(name, x, floating=True)
        return prim.bind(a)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


erfc = _unary(_S.erfc_p, "erfc",
              "Complementary error function ``1 - erf(x)``, accurate where erf(x) is near 1.")
erfinv = _unary(_S.erfinv_p, "erfinv",
                "Inverse error function on [-1, 1] (+-inf at +-1, nan beyond); its derivative is "
                "``sqrt(pi) / 2 * exp(erfinv(y)**2)``.")
gammaln = _unary(_S.gammaln_p, "gammaln",
                 "``log |Gamma(x)|`` (scipy's ``gammaln``; inf at 0, -1, -2, ...); its derivative is "
                 "``digamma``.")
digamma = _unary(_S.polygamma_p(0), "digamma",
                 "The digamma function ``psi(x) = Gamma'(x) / Gamma(x)`` on the whole real line "
                 "(-inf at 0, nan at -1, -2, ...); its derivative is the trigamma function.")
xlogy = _float_binary(_S.xlogy_p, "xlogy")
xlogy.__doc__ = "``x * log(y)``, 0 where ``x == 0`` (JAX's derivatives; see the module docstring)."
xlog1py = _float_binary(_S.xlog1py_p, "xlog1py")
xlog1py.__doc__ = "``x * log1p(y)``, 0 where ``x == 0`` (JAX's derivatives; see the module docstring)."


def logit(x):
    """``log(x / (1 - x))``, the inverse of ``expit``; derivative ``1 / (x (1 - x))``."""
    (a,) = _coerce("logit", x, floating=True)
    return _log(_divide(a, _subtract(1.0, a)))


def expit(x):
    """The logistic function ``1 / (1 + exp(-x))`` (``ad.sigmoid``)."""
    return _sigmoid(x)


def softplus(x):
    """``log(1 + exp(x))`` computed stably (``ad.logaddexp(x, 0)``); derivative
    ``expit(x)``."""
    (a,) = _coerce("softplus", x, floating=True)
    return _logaddexp(a, 0.0)


__all__ = ["erfc", "erfinv", "gammaln", "digamma", "xlogy", "xlog1py", "logit", "expit", "softplus"]
