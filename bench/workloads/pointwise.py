"""``pointwise``: f(x) = sin(x) * exp(-x^2) + x * sum(x), x in R^16.

The Jacobian is a diagonal plus a rank-one term,
    J = diag(cos(x) e^{-x^2} - 2 x sin(x) e^{-x^2} + sum(x)) + x 1^T,
so the analytic NumPy version below is what the hardware can do with no AD at all.
"""
from __future__ import annotations

import numpy as np

NAME = "pointwise"
TITLE = "f(x) = sin(x) exp(-x^2) + x sum(x), n = 16"
N = 16
METHODS = ("jacfwd", "jacrev")


def make_input(batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` points of R^16, float64, shape (batch, 16)."""
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(batch, N))


# -- the same math, once per library -------------------------------------------------------
def gpuad_fn(ad, device=None):
    def f(x):
        return ad.sin(x) * ad.exp(-(x * x)) + x * ad.sum(x)
    return f


def torch_fn(torch, device=None):
    def f(x):
        return torch.sin(x) * torch.exp(-(x * x)) + x * torch.sum(x)
    return f


def jax_fn(jnp):
    def f(x):
        return jnp.sin(x) * jnp.exp(-(x * x)) + x * jnp.sum(x)
    return f


# -- analytic reference ----------------------------------------------------------------------
def numpy_reference(method: str, X: np.ndarray) -> np.ndarray:
    """Batched analytic Jacobian, shape (B, 16, 16); the same for jacfwd and jacrev."""
    g = np.exp(-X * X)
    d = np.cos(X) * g - 2.0 * X * np.sin(X) * g + X.sum(axis=1, keepdims=True)
    J = np.repeat(X[:, :, None], N, axis=2)  # x 1^T
    idx = np.arange(N)
    J[:, idx, idx] += d
    return J
