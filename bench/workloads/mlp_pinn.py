"""``mlp_pinn``: a 2-32-32-1 tanh network u(x), per-point input Jacobian du/dx and Hessian.

    u(x) = w3 . tanh(W2 tanh(W1 x + b1) + b2) + b3,    x in R^2,

the inner loop of a physics-informed network: a residual such as u_xx + u_yy needs the
Hessian of u with respect to its input at every collocation point. The weights are fixed
(seeded, Glorot-normal) constants closed over by the function.

Analytic reference, with a1 = tanh(z1), a2 = tanh(z2), s = 1 - a^2, g2 = w3 * s2:
    du/dx      = W1^T (s1 * (W2^T g2))
    d2u/dx2    = W1^T [diag(-2 a1 s1 * (W2^T g2)) + diag(s1) W2^T diag(-2 a2 s2 w3) W2 diag(s1)] W1
"""
from __future__ import annotations

import numpy as np

NAME = "mlp_pinn"
TITLE = "2-32-32-1 tanh MLP u(x): input Jacobian and Hessian per point"
WIDTH = 32
SEED = 7
METHODS = ("jacfwd", "jacrev", "hessian")


def weights(seed: int = SEED):
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((WIDTH, 2)) * np.sqrt(2.0 / (2 + WIDTH))
    b1 = 0.1 * rng.standard_normal(WIDTH)
    W2 = rng.standard_normal((WIDTH, WIDTH)) * np.sqrt(2.0 / (2 * WIDTH))
    b2 = 0.1 * rng.standard_normal(WIDTH)
    w3 = rng.standard_normal(WIDTH) * np.sqrt(2.0 / (WIDTH + 1))
    b3 = 0.1
    return W1, b1, W2, b2, w3, b3


_W1, _B1, _W2, _B2, _W3, _B3 = weights()


def make_input(batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` collocation points in [-1, 1]^2, shape (batch, 2)."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(batch, 2))


# -- the same math, once per library -------------------------------------------------------
def gpuad_fn(ad, device=None):
    W1, b1, W2, b2, w3 = (ad.tensor(a, device=device) for a in (_W1, _B1, _W2, _B2, _W3))

    def u(x):
        h = ad.tanh(W1 @ x + b1)
        h = ad.tanh(W2 @ h + b2)
        return ad.sum(w3 * h) + _B3
    return u


def torch_fn(torch, device=None):
    W1, b1, W2, b2, w3 = (torch.tensor(a, dtype=torch.float64, device=device)
                          for a in (_W1, _B1, _W2, _B2, _W3))

    def u(x):
        h = torch.tanh(W1 @ x + b1)
        h = torch.tanh(W2 @ h + b2)
        return torch.sum(w3 * h) + _B3
    return u


def jax_fn(jnp):
    W1, b1, W2, b2, w3 = (jnp.asarray(a) for a in (_W1, _B1, _W2, _B2, _W3))

    def u(x):
        h = jnp.tanh(W1 @ x + b1)
        h = jnp.tanh(W2 @ h + b2)
        return jnp.sum(w3 * h) + _B3
    return u


# -- analytic reference ----------------------------------------------------------------------
def numpy_reference(method: str, X: np.ndarray) -> np.ndarray:
    a1 = np.tanh(X @ _W1.T + _B1)                 # (B, 32)
    s1 = 1.0 - a1 * a1
    a2 = np.tanh(a1 @ _W2.T + _B2)
    s2 = 1.0 - a2 * a2
    v = (_W3 * s2) @ _W2                           # W2^T g2, (B, 32)
    if method in ("jacfwd", "jacrev"):
        return (s1 * v) @ _W1                      # (B, 2)
    S1W1 = s1[:, :, None] * _W1                     # diag(s1) W1, (B, 32, 2)
    M = _W2 @ S1W1                                  # W2 diag(s1) W1, (B, 32, 2)
    c = -2.0 * a2 * s2 * _W3                        # (B, 32)
    H = np.swapaxes(M, 1, 2) @ (c[:, :, None] * M)  # second-layer curvature, (B, 2, 2)
    d = -2.0 * a1 * s1 * v                          # first-layer curvature, (B, 32)
    return H + _W1.T @ (d[:, :, None] * _W1)
